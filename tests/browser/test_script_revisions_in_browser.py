"""A script imported and revised through the browser: the forced cue keeps its spelling, one place
is one location however its headings name it, and the revision's page shows what changed and
marks the touched shots for re-render, which the board then shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.models import Shot
from tests.browser.conftest import off_the_event_loop
from tests.studio.views_helpers import finished_take

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]

SCRIPTS = Path(__file__).resolve().parent.parent / "fixtures" / "scripts"


def _import(page, slug: str, name: str) -> None:
    page.goto(f"/p/{slug}/script/")
    page.set_input_files("#id_file", str(SCRIPTS / name))
    page.click("button:has-text('Import')")
    page.wait_for_selector("text=/Script version \\d imported/")


def test_import_revise_and_mark_touched_shots_in_the_browser(browser_page, project, alice):
    browser = browser_page(alice)
    page = browser.open(f"/p/{project.slug}/script/")
    _import(page, project.slug, "night_ferry_v1.fountain")

    page.goto(f"/p/{project.slug}/cast/")
    names = page.locator(".cast-card h3").all_inner_texts()
    assert "McKenzie" in names and "Mckenzie" not in names
    assert names.count("Lighthouse - Lamp Room") == 1 and "The Lamp Room" not in names and "Lamp Room" not in names
    assert "Tomas's Truck" in names and not any("Moving" in name for name in names)

    off_the_event_loop(lambda: [finished_take(shot) for shot in Shot.objects.filter(scene__project=project)])
    _import(page, project.slug, "night_ferry_v2.fountain")
    page.click("a:has-text('v2 · Blue')")
    page.wait_for_selector("h1:has-text('Script v2')")
    changed = page.locator("section.scene-change[data-status=changed] h2").all_inner_texts()
    assert len(changed) == 2 and "EXT. HARBOUR - NIGHT" in changed[0] and "EXT. TOMAS'S TRUCK - MOVING" in changed[1]
    assert page.locator("section.scene-change[data-status=added]").count() == 1
    assert page.locator("section.scene-change[data-status=removed]").count() == 1
    assert page.locator("section.scene-change[data-status=moved]").count() == 1
    touched = page.locator("ul.touched-shots li a").all_inner_texts()
    assert touched == ["1A", "3A"]

    page.click("text=Mark touched shots for re-render")
    page.wait_for_selector("text=2 shots marked for re-render: 1A, 3A")
    page.goto(f"/p/{project.slug}/board/?status=stale")
    assert page.locator("#board-scenes .shot .shot-code").all_inner_texts() == ["1A", "3A"]
    assert page.locator("#board-scenes .stale-badge").count() == 2
