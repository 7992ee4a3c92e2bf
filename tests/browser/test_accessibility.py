"""axe-core (through axe-playwright-python, which bundles axe.min.js) on every page of the studio,
signed in and as a guest: no serious or critical violation anywhere. The demo project is given a
finished take with a real video, two guest links (one with a password), exports in every state, a
webhook, an API token and something in the trash, so each page shows its rows and controls."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from studio.models import Cut, Export, ExportFormat, ExportStatus, Shot, Take, TakeStatus
from tests.browser.conftest import has_ffmpeg, off_the_event_loop
from tests.conftest import require

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]

BLOCKING = {"serious", "critical"}


def _stage() -> dict:
    """The demo project with one of everything a page can list."""
    from django.contrib.auth import get_user_model

    from generation.media import ffmpeg_binary
    from studio.models import TokenScope, WebhookEvent
    from studio.services.api_tokens import api_token_create
    from studio.services.cast import cast_member_create, cast_member_trash
    from studio.services.cuts import cut_entry_add
    from studio.services.demo import demo_project_ensure
    from studio.services.reviews import comment_create
    from studio.services.sharing import review_link_create
    from studio.services.webhooks import endpoint_create

    project, _ = demo_project_ensure()
    owner = get_user_model().objects.get(username="demo")
    get_user_model().objects.filter(pk=owner.pk).update(is_staff=True)  # the workers page is for operators
    owner.refresh_from_db()
    shot = Shot.objects.alive().filter(scene__project=project).order_by("scene__order", "order").first()
    base = f"projects/{project.id}/takes/{shot.id}"
    folder = Path(settings.MEDIA_ROOT) / base
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_binary(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=160x90:rate={project.fps}",
                    "-frames:v", "24", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(folder / "take1.mp4")], check=True)
    take = Take.objects.create(shot=shot, number=1, backend="animatic", request={"prompt": shot.prompt, "seed": 1},
                               signature=f"sig-a11y-{shot.id}", status=TakeStatus.SUCCEEDED, progress=1.0, frames=24,
                               duration_s=1.0, video=f"{base}/take1.mp4")
    note = comment_create(take=take, author=owner, body="The lamp starts too bright @keeper", frame=6)
    comment_create(take=take, guest_name="Ana", body="Agreed.", parent=note)
    cut = Cut.objects.get(project=project, name="Assembly")
    if not cut.entries.filter(shot=shot).exists():
        cut_entry_add(cut=cut, actor=owner, shot=shot, take=take)
    for status, fmt in ((ExportStatus.QUEUED, ExportFormat.MP4), (ExportStatus.RUNNING, ExportFormat.OTIO),
                        (ExportStatus.SUCCEEDED, ExportFormat.EDL), (ExportStatus.FAILED, ExportFormat.ZIP)):
        Export.objects.create(cut=cut, format=fmt, status=status, progress=0.5 if status == ExportStatus.RUNNING else 0.0,
                              error="ffmpeg stopped" if status == ExportStatus.FAILED else "", requested_by=owner,
                              file=f"projects/{project.id}/exports/a11y.edl" if status == ExportStatus.SUCCEEDED else "")
    _, shot_token = review_link_create(project=project, actor=owner, shot=shot, label="For the DP")
    _, cut_token = review_link_create(project=project, actor=owner, cut=cut, label="For the producer")
    _, locked_token = review_link_create(project=project, actor=owner, cut=cut, password="lamp-room-key", label="Locked")
    endpoint_create(project=project, actor=owner, url="http://127.0.0.1:9/hook", events=[WebhookEvent.values[0]], description="Edit suite")
    api_token_create(user=owner, name="Edit suite", scopes=[TokenScope.values[0]])
    spare = cast_member_create(project=project, actor=owner, name="Spare lantern", kind="object")
    cast_member_trash(member=spare, actor=owner)
    return {"project": project, "owner": owner, "shot": shot, "take": take, "cut": cut,
            "guest": [shot_token, cut_token], "locked": locked_token}


def studio_pages(stage: dict) -> list[str]:
    p = f"/p/{stage['project'].slug}"
    shot, cut = stage["shot"], stage["cut"]
    return [
        "/", "/projects/new/", f"{p}/", f"{p}/board/", f"{p}/shots/{shot.id}/", f"{p}/shots/{shot.id}/edit/",
        f"{p}/shots/{shot.id}/review/", f"{p}/cast/", f"{p}/script/", f"{p}/cuts/", f"{p}/cuts/{cut.id}/",
        f"{p}/members/", f"{p}/links/", f"{p}/webhooks/", f"{p}/trash/", f"{p}/activity/",
        "/accounts/tokens/", "/accounts/password/",
        # Pages added beside the ones above: script revisions, usage and budget, notifications,
        # and the operators' workers page (the demo owner is made staff for it).
        f"{p}/script/revisions/1/", f"{p}/usage/", "/notifications/", "/workers/",
    ]


def guest_pages(stage: dict) -> list[str]:
    return [f"/r/{token}/" for token in stage["guest"]] + [f"/r/{stage['locked']}/", "/accounts/login/",
                                                             "/accounts/password/reset/", "/no-such-page/"]


def blocking_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING:
            targets = ", ".join(" ".join(map(str, node["target"])) for node in violation["nodes"][:5])
            found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {targets}")
    return found


def check_pages(browser, paths: list[str], *, live: bool) -> dict[str, list[str]]:
    report = {}
    for path in paths:
        response = browser.page.goto(path)
        assert response is not None and response.status in (200, 404), f"{path}: {response and response.status}"
        if live and path.startswith("/p/"):
            try:
                browser.page.wait_for_selector("#live-status[data-state=live]", timeout=10_000)
            except Exception as exc:  # noqa: BLE001  (reported with the page's path below)
                report[path] = [f"live updates never connected: {exc}"]
                continue
        browser.page.wait_for_load_state("networkidle")
        if found := blocking_violations(browser.page):
            report[path] = found
        if response.status == 404:  # the studio's 404 page, asked for on purpose: not a console error
            browser.errors[:] = [e for e in browser.errors if "status of 404" not in e]
    return report


def _format(report: dict[str, list[str]]) -> str:
    return "\n".join(f"{path}:\n  " + "\n  ".join(found) for path, found in report.items())


def test_axe_finds_nothing_serious_on_any_studio_page(browser_page, settings):
    require(has_ffmpeg(), "ffmpeg")
    settings.CONTINUITY_WEBHOOK_ALLOW_PRIVATE = True
    stage = off_the_event_loop(_stage)
    browser = browser_page(stage["owner"])
    report = check_pages(browser, studio_pages(stage), live=True)
    # The same pages with the add/edit panels open: their forms must be labelled too.
    page = browser.page
    p = f"/p/{stage['project'].slug}"
    opened = {
        "cast, new member form open": (f"{p}/cast/", lambda: page.get_by_role("button", name="Add to the cast").click()),
        "board, new scene form open": (f"{p}/board/", lambda: page.click("summary:text-is('New scene')")),
        "review room, reply open": (f"{p}/shots/{stage['shot'].id}/review/", lambda: page.click("summary:text-is('Reply')")),
    }
    for name, (path, open_it) in opened.items():
        page.goto(path)
        page.wait_for_selector("#live-status[data-state=live]", timeout=10_000)
        open_it()
        if found := blocking_violations(page):
            report[name] = found
    assert not report, "axe-core found serious or critical violations:\n" + _format(report)


def test_axe_finds_nothing_serious_on_guest_and_signed_out_pages(browser_page, settings):
    require(has_ffmpeg(), "ffmpeg")
    settings.CONTINUITY_WEBHOOK_ALLOW_PRIVATE = True
    stage = off_the_event_loop(_stage)
    browser = browser_page(stage["owner"])
    browser.context.clear_cookies()
    report = check_pages(browser, guest_pages(stage), live=False)
    assert not report, "axe-core found serious or critical violations:\n" + _format(report)


def test_the_check_reports_a_nameless_button_and_an_unlabelled_field(chromium):
    """A guard against a silent checker: the same check finds what it must find."""
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.set_content('<!doctype html><html lang="en"><title>t</title><main><button></button><input type="text"></main></html>')
        found = blocking_violations(page)
    finally:
        context.close()
    assert {line.split(" ")[0] for line in found} >= {"button-name", "label"}
