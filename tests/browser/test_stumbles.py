"""The stumbles a new user met in the browser (issue 16, item 8), each fixed and held here:
"Add to the cast" answers in place and never adds the same member twice; a guest sees a timecode
and comments at the frame showing; a guest link can be copied with one click."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from generation.timecode import timecode
from studio.models import CastMember, Comment, Take, TakeStatus
from tests.browser.conftest import has_ffmpeg, off_the_event_loop, wait_until
from tests.conftest import require

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]

FPS = 24
FRAMES = 48


def _stage(owner, *, with_video: bool = False) -> dict:
    from generation.media import ffmpeg_binary
    from studio.services.projects import project_create
    from studio.services.sharing import review_link_create
    from studio.services.shots import scene_create, shot_create

    project = project_create(owner=owner, name="Lamp Room", fps=FPS)
    stage = {"project": project}
    if with_video:
        scene = scene_create(project=project, actor=owner, heading="INT. LIGHTHOUSE - LAMP ROOM - NIGHT")
        shot = shot_create(scene=scene, actor=owner, prompt="the lamp turns", code="1A")
        base = f"projects/{project.id}/takes/{shot.id}"
        folder = Path(settings.MEDIA_ROOT) / base
        folder.mkdir(parents=True, exist_ok=True)
        # A real two-second H.264 clip: the player must be able to seek in it.
        subprocess.run([ffmpeg_binary(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=160x90:rate={FPS}",
                        "-frames:v", str(FRAMES), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(folder / "take1.mp4")], check=True)
        stage["take"] = Take.objects.create(
            shot=shot, number=1, backend="animatic", request={"prompt": shot.prompt, "seed": 1}, signature=f"sig-{shot.id}",
            status=TakeStatus.SUCCEEDED, progress=1.0, frames=FRAMES, duration_s=FRAMES / FPS, video=f"{base}/take1.mp4")
        stage["link"], stage["token"] = review_link_create(project=project, actor=owner, shot=shot, label="For the DP")
    return stage


def test_add_to_the_cast_is_a_button_that_shows_the_new_card_and_resets_the_form(browser_page, alice):
    stage = off_the_event_loop(_stage, alice)
    browser = browser_page(alice)
    page = browser.open(f"/p/{stage['project'].slug}/cast/")
    page.evaluate("window.stillTheSamePage = true")
    toggle = page.get_by_text("Add to the cast", exact=True)
    assert toggle.evaluate("el => el.tagName") == "BUTTON"
    toggle.click()
    page.fill("#id_name", "Tomas")
    page.fill("#id_description", "The ferryman")
    page.dblclick("#cast-new-form button[type=submit]")  # an impatient double click
    page.wait_for_selector("#cast-group-character .cast-card h3:text-is('Tomas')", timeout=10_000)
    page.wait_for_selector(".toast >> text=@tomas added to the cast.")
    assert page.evaluate("window.stillTheSamePage === true"), "the page reloaded"
    assert page.input_value("#id_name") == "" and page.input_value("#id_description") == ""
    assert page.get_by_role("button", name="Add to the cast").get_attribute("aria-expanded") == "false"
    assert list(CastMember.objects.alive().filter(project=stage["project"]).values_list("handle", flat=True)) == ["tomas"]


def test_the_same_cast_form_sent_twice_adds_one_member(browser_page, alice):
    stage = off_the_event_loop(_stage, alice)
    browser = browser_page(alice)
    page = browser.open(f"/p/{stage['project'].slug}/cast/")
    page.get_by_role("button", name="Add to the cast").click()
    page.fill("#id_name", "Ines")
    # Two sends of one filled form at once, as a resent request or a double submit without htmx would.
    statuses = page.evaluate("""async () => {
        const form = document.getElementById("cast-new-form");
        const send = () => fetch(form.action, {method: "POST", body: new FormData(form), redirect: "manual"}).then(r => r.status);
        return Promise.all([send(), send()]);
    }""")
    assert all(status in (0, 302) for status in statuses), statuses  # 0: the opaque redirect fetch reports
    assert list(CastMember.objects.alive().filter(project=stage["project"]).values_list("handle", flat=True)) == ["ines"]
    # A new form is a new member, even with the same name.
    page.reload()
    page.get_by_role("button", name="Add to the cast").click()
    page.fill("#id_name", "Ines")
    page.click("#cast-new-form button[type=submit]")
    page.wait_for_selector("#cast-group-character .cast-card >> text=@ines_2", timeout=10_000)


def test_a_guest_sees_the_timecode_and_comments_at_the_frame_showing(browser_page, alice):
    require(has_ffmpeg(), "ffmpeg")
    stage = off_the_event_loop(_stage, alice, with_video=True)
    browser = browser_page(alice)
    browser.context.clear_cookies()  # a guest: no account
    page = browser.open(f"/r/{stage['token']}/", live=False)
    readout = page.get_by_role("status", name="Timecode")
    assert readout.text_content() == "00:00:00:00"
    wait_until(page, "() => document.getElementById('guest-video').readyState >= 1")
    assert page.locator("#guest-comment-form input[name=frame]").get_attribute("type") == "hidden"  # nothing to type
    page.evaluate(f"() => {{ const v = document.getElementById('guest-video'); v.currentTime = (30 + 0.5) / {FPS}; }}")
    wait_until(page, "tc => document.getElementById('guest-timecode').textContent === tc", arg=timecode(30, FPS))
    assert page.text_content("#guest-at-timecode") == timecode(30, FPS)
    page.fill("#id_name", "Ana (DP)")
    page.fill("#id_body", "The beam flickers here.")
    page.click("#guest-comment-form button[type=submit]")
    page.wait_for_selector(".comment-body >> text=The beam flickers here.")
    comment = Comment.objects.get(take=stage["take"])
    assert comment.frame == 30
    assert page.text_content(".comment .badge") == timecode(30, FPS)


@pytest.mark.parametrize("clipboard_api", [True, False], ids=["clipboard-api", "copy-command-fallback"])
def test_a_guest_link_copies_with_one_click(browser_page, alice, clipboard_api):
    require(has_ffmpeg(), "ffmpeg")
    stage = off_the_event_loop(_stage, alice, with_video=True)
    browser = browser_page(alice)
    browser.context.grant_permissions(["clipboard-read", "clipboard-write"])
    if not clipboard_api:
        # A page served over plain http from another host has no Clipboard API.
        browser.context.add_init_script("Object.defineProperty(Navigator.prototype, 'clipboard', {get: () => undefined})")
    page = browser.open(f"/p/{stage['project'].slug}/links/")
    link = f"#link-url-{stage['link'].id}"
    expected = page.input_value(link)
    assert expected.endswith(f"/r/{stage['token']}/")
    page.get_by_role("button", name=f"Copy link {stage['link']}").click()
    page.wait_for_selector(".toast >> text=Link copied.")
    if clipboard_api:
        assert page.evaluate("navigator.clipboard.readText()") == expected
    else:
        assert page.evaluate("window.getSelection().toString() || document.activeElement.value") == expected
