"""Presence people can see (issue 15): two browsers (two contexts, two people) on the same board,
the same shot form and the same review room show each other: avatars with initials, "<name> is
editing this shot" on the shot form, and where each reviewer is on the take's timeline.
Everything goes through the real server, the real channel layer and the presence hashes in Redis."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from studio.models import Role, Shot, Take
from studio.services.projects import membership_add
from studio.services.render_requests import take_request
from tests.browser.conftest import has_ffmpeg, off_the_event_loop, wait_for_take, wait_until
from tests.conftest import require

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def mina(demo, owner):
    user = get_user_model().objects.create_user("mina", "mina@example.com", "pw-mina", first_name="Mina", last_name="Ortiz")
    off_the_event_loop(membership_add, project=demo, actor=owner, user=user, role=Role.EDITOR)
    return user


def avatars(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(f"{selector} .avatar", "els => els.map(e => e.dataset.user)")


def test_two_people_see_each_other_on_the_board_the_shot_and_the_review_room(browser_page, demo, owner, mina):
    shot = Shot.objects.alive().filter(scene__project=demo).order_by("scene__order", "order").first()
    card = f"#shot-{shot.id}"
    first, second = browser_page(owner), browser_page(mina)
    a = first.open(f"/p/{demo.slug}/board/")
    b = second.open(f"/p/{demo.slug}/board/")

    # On the board: each sees the other's initials in the header, never themselves.
    a.wait_for_selector("#presence-here .avatar[data-user=mina]")
    b.wait_for_selector("#presence-here .avatar[data-user=demo]")
    assert a.inner_text("#presence-here .avatar[data-user=mina]") == "MO"
    assert avatars(a, "#presence-here") == ["mina"] and avatars(b, "#presence-here") == ["demo"]

    # Mina opens the shot's form: the other board shows her on that shot's card.
    b.click(f"{card} >> text=Edit")
    a.wait_for_selector(f"{card} .presence .avatar[data-user=mina]")
    # The owner opens the same shot: each form says who else is editing it.
    a.click(f"{card} >> text=Edit")
    a.wait_for_selector(f"{card} [data-editing-notice]:has-text('Mina Ortiz is editing this shot')")
    b.wait_for_selector(f"{card} [data-editing-notice]:has-text('demo is editing this shot')")
    first.screenshot("presence-editing-notice")
    # Mina cancels: the notice goes from the owner's form.
    b.click(f"{card} >> text=Cancel")
    a.wait_for_selector(f"{card} [data-editing-notice]", state="hidden")
    a.click(f"{card} >> text=Cancel")
    a.wait_for_selector(f"{card} .shot-head")

    # The review room of the shot: both there, each sees the other; the board's card shows it too.
    review = b.eval_on_selector(f"{card} a.shot-poster", "a => a.getAttribute('href')")
    second.open(review)
    third = browser_page(owner)
    c = third.open(review)
    c.wait_for_selector("#presence-here .avatar[data-user=mina]")
    b.wait_for_selector("#presence-here .avatar[data-user=demo]")
    a.wait_for_selector(f"{card} .presence .avatar[data-user=mina]")  # the first board still shows her on the shot

    # Mina leaves: everyone who saw her stops showing her.
    second.close()
    c.wait_for_selector("#presence-here .avatar[data-user=mina]", state="detached")
    a.wait_for_selector(f"{card} .presence .avatar[data-user=mina]", state="detached")


def test_each_reviewer_sees_where_the_other_is_on_the_take_s_timeline(browser_page, demo, owner, mina):
    require(has_ffmpeg(), "ffmpeg")
    shot = Shot.objects.alive().filter(scene__project=demo).order_by("scene__order", "order").first()
    requested = off_the_event_loop(take_request, shot=shot, actor=owner, force=True).take
    take = wait_for_take(lambda: Take.objects.filter(pk=requested.pk))
    url = f"/p/{demo.slug}/shots/{shot.id}/review/?take={take.id}"
    first, second = browser_page(owner), browser_page(mina)
    a, b = first.open(url), second.open(url)
    for page, other in ((a, "mina"), (b, "demo")):
        wait_until(page, "document.getElementById('video-main').readyState >= 2")
        page.wait_for_selector(f"#presence-here .avatar[data-user={other}]")

    # The owner steps twelve frames: Mina's timeline shows his avatar there, not at the start.
    a.locator("#player").focus()
    for _ in range(12):
        a.keyboard.press("ArrowRight")
    marker = b.wait_for_selector("#timeline-people .avatar.playhead[data-user=demo][data-frame='12']")
    assert marker.inner_text() == "DE"
    assert b.eval_on_selector("#timeline-people .avatar.playhead", "el => parseFloat(el.style.left)") > 0
    assert avatars(b, "#timeline-people") == ["demo"]  # never herself
    # Mina jumps to the end: the owner sees her there, and only her.
    b.locator("#player").focus()
    b.keyboard.press("End")
    a.wait_for_selector(f"#timeline-people .avatar.playhead[data-user=mina][data-frame='{take.frames - 1}']")
    assert avatars(a, "#timeline-people") == ["mina"]
    first.screenshot("review-playheads")
    # She leaves the room: her avatar leaves the owner's timeline.
    second.close()
    a.wait_for_selector("#timeline-people .avatar[data-user=mina]", state="detached")
