"""Editing a cut the way editors do, in Chromium: "Add to cut" from a shot card's menu, then in the
cut editor tick two entries, remove them at once (no confirm dialog), and undo from the toast."""

from __future__ import annotations

import pytest

from studio import selectors
from studio.services.cuts import cut_create
from studio.services.shots import shot_create
from tests.browser.conftest import off_the_event_loop, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def codes(cut) -> list[str]:
    return [row.entry.shot.code for row in selectors.cut_timeline(cut)]


def test_add_from_the_board_then_remove_two_and_undo(browser_page, project, users, scene):
    alice, bob = users["alice"], users["bob"]
    for i in range(1, 4):
        off_the_event_loop(shot_create, scene=scene, actor=alice, prompt=f"beat {i}", code=f"{i}A")
    cut = off_the_event_loop(cut_create, project=project, actor=alice, name="Assembly")
    assert codes(cut) == ["1A", "2A", "3A"]
    editor = browser_page(bob)
    page = editor.page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    # Add to cut from the board: the menu loads when opened.
    editor.open(f"/p/{project.slug}/board/")
    card = page.locator(".shot", has_text="beat 2").first
    card.locator(".add-to-cut summary").click()
    card.locator(".add-to-cut-slot button[type=submit]").click()
    page.wait_for_selector(".toast >> text=Shot 2A added to Assembly.")
    assert codes(cut) == ["1A", "2A", "3A", "2A"]

    editor.open(f"/p/{project.slug}/cuts/{cut.id}/")
    page.locator(".entry-select").nth(0).check()
    page.locator(".entry-select").nth(2).check()
    page.click("#cut-selection button[value=remove]")
    page.wait_for_selector("#undo-remove")
    wait_until(page, "document.querySelectorAll('#cut-entries .entry').length === 2")
    assert codes(cut) == ["2A", "2A"]
    page.click("#undo-remove")
    wait_until(page, "document.querySelectorAll('#cut-entries .entry').length === 4")
    assert codes(cut) == ["1A", "2A", "3A", "2A"]
    assert dialogs == []  # no confirm per entry
