"""Board filters in Chromium: two filters set in the form land in the URL, the board shows only
the matching shots, and opening that URL again (a reload, or a link someone shared) gives the
same view."""

from __future__ import annotations

import pytest

from studio.models import CastMember
from tests.browser.conftest import off_the_event_loop
from tests.studio.test_board_filters import ferry_board

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _visible_shot_ids(page) -> list[int]:
    return page.evaluate("""() => [...document.querySelectorAll('#board-scenes .shot')]
        .filter(card => card.offsetParent !== null).map(card => Number(card.dataset.id))""")


def test_two_filters_live_in_the_url_and_a_reload_keeps_the_view(browser_page, project, alice, users):
    shots = off_the_event_loop(ferry_board, project, alice)
    tomas = off_the_event_loop(lambda: CastMember.objects.get(project=project, handle="tomas").id)
    browser = browser_page(users["dave"])  # a viewer filters too
    page = browser.open(f"/p/{project.slug}/board/")
    assert sorted(_visible_shot_ids(page)) == sorted(shot.id for shot in shots.values())

    page.select_option("#filter-status", "needs_review")
    page.select_option("#filter-cast", str(tomas))
    page.click("text=Apply filters")
    page.wait_for_url("**/board/?*")
    query = page.url.split("?", 1)[1]
    assert "status=needs_review" in query and f"cast={tomas}" in query
    assert _visible_shot_ids(page) == [shots["3A"].id]
    assert page.input_value("#filter-status") == "needs_review"
    assert page.inner_text("#filter-summary") == "1 of 5 shots shown"

    page.reload()
    page.wait_for_selector("#live-status[data-state=live]", timeout=10_000)
    assert _visible_shot_ids(page) == [shots["3A"].id]
    assert page.input_value("#filter-cast") == str(tomas)

    shared = browser_page(users["bob"]).open(page.url.removeprefix(browser.server["url"]))  # a link someone shared
    assert _visible_shot_ids(shared) == [shots["3A"].id]

    page.click("text=Clear filters")
    page.wait_for_url("**/board/")
    assert len(_visible_shot_ids(page)) == 5
