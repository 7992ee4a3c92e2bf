"""Cuts built the way editors think: a cut from approved takes (the demo project, a scene, a board
filter), "add to cut" from a shot card and the review room, removing several entries at once with
an undo instead of a confirm per entry, and moving a selection to the start or the end."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from studio import selectors
from studio.models import Cut, CutEntry, Decision, Project, Shot
from studio.services.common import StaleVersion
from studio.services.cuts import (
    cut_create, cut_create_from_approved, cut_entries_move, cut_entries_remove, cut_entries_restore, cut_entry_add,
)
from studio.services.reviews import review_decide
from tests.studio.views_helpers import client_for, finished_take

pytestmark = pytest.mark.django_db


def codes(cut: Cut) -> list[str]:
    return [row.entry.shot.code for row in selectors.cut_timeline(cut)]


@pytest.fixture
def demo(db):
    call_command("seed_demo")
    return Project.objects.get(slug="lighthouse-keeper")


def test_a_cut_from_approved_takes_of_the_demo_project_holds_exactly_the_approved_shots(demo):
    owner = demo.memberships.get(role="owner").user
    shots = list(selectors.shots_in_order(demo).filter(scene__omitted=False))
    assert len(shots) >= 4
    approved = []
    for i, shot in enumerate(shots):
        take = finished_take(shot, 1)
        if i < 3:  # three approved (one of them then sent back), the rest only rendered
            review_decide(take=take, actor=owner, decision=Decision.APPROVED)
            approved.append(shot.code)
    sent_back = Shot.objects.get(pk=shots[2].pk).approved_take
    review_decide(take=sent_back, actor=owner, decision=Decision.CHANGES_REQUESTED)
    approved.remove(shots[2].code)

    response = client_for(owner).post(reverse("cut_new_from_approved", args=[demo.slug]), {"name": "Approved"})
    assert response.status_code == 302
    cut = Cut.objects.get(project=demo, name="Approved")
    assert codes(cut) == approved  # exactly the approved shots, in board order
    assert all(row.take.id == row.entry.shot.approved_take_id for row in selectors.cut_timeline(cut))
    assert not selectors.cut_draft_report(cut).is_draft


def test_from_approved_takes_of_one_scene_or_a_board_filter_and_nothing_approved_is_refused(project, alice, scene):
    from studio.services.shots import scene_create, shot_create

    other = scene_create(project=project, actor=alice, heading="EXT. PIER - DAY")
    made = [shot_create(scene=s, actor=alice, prompt=f"beat {i}", code=f"{i}A") for i, s in enumerate([scene, scene, other], 1)]
    for shot in made:
        review_decide(take=finished_take(shot, 1), actor=alice, decision=Decision.APPROVED)
    assert codes(cut_create_from_approved(project=project, actor=alice, name="Deck", scene_ids=[scene.id])) == ["1A", "2A"]
    assert codes(cut_create_from_approved(project=project, actor=alice, name="Filtered", shot_ids=[made[2].id, made[0].id])) == ["1A", "3A"]
    with pytest.raises(ValidationError, match="No shot here has an approved take"):
        cut_create_from_approved(project=project, actor=alice, name="Empty", shot_ids=[])
    assert not Cut.objects.filter(name="Empty").exists()
    # The board's button keeps its ?scene= filter as hidden fields.
    page = client_for(alice).get(reverse("board", args=[project.slug]) + f"?scene={other.id}").content.decode()
    assert f'<input type="hidden" name="scene" value="{other.id}">' in page


def test_add_to_cut_from_a_shot_card_and_the_review_room(project, alice, users, shot):
    take = finished_take(shot, 1)
    cut = cut_create(project=project, actor=alice, name="Selects", from_board=False)
    client = client_for(users["bob"])
    menu = client.get(reverse("add_to_cut", args=[project.slug, shot.id]) + f"?take={take.id}", HTTP_HX_REQUEST="true")
    assert menu.status_code == 200 and f'<option value="{cut.id}">Selects</option>' in menu.content.decode()
    assert client.post(reverse("add_to_cut", args=[project.slug, shot.id]), {"cut": cut.id}, HTTP_HX_REQUEST="true").status_code == 204
    client.post(reverse("add_to_cut", args=[project.slug, shot.id]), {"cut": cut.id, "take": take.id}, HTTP_HX_REQUEST="true")
    assert list(CutEntry.objects.live().filter(cut=cut).values_list("take_id", flat=True)) == [None, take.id]
    # a viewer may not; nor may anyone add to a cut of another project
    assert client_for(users["dave"]).post(reverse("add_to_cut", args=[project.slug, shot.id]), {"cut": cut.id}).status_code == 403
    refused = client.post(reverse("add_to_cut", args=[project.slug, shot.id]), {"cut": "x"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422 and "Choose a cut" in refused.content.decode()
    refused = client.post(reverse("add_to_cut", args=[project.slug, shot.id]), {"cut": cut.id, "take": "x"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422
    # a plain form goes back where it came from, never to another site
    away = client.post(reverse("add_to_cut", args=[project.slug, shot.id]), {"cut": cut.id, "next": "https://evil.example/"})
    assert away.status_code == 302 and away.url == reverse("board", args=[project.slug])
    assert CutEntry.objects.live().filter(cut=cut).count() == 3


@pytest.fixture
def four(project, alice, scene):
    from studio.services.shots import shot_create

    for i in range(1, 5):
        shot_create(scene=scene, actor=alice, prompt=f"beat {i}", code=f"{i}A")
    return cut_create(project=project, actor=alice, name="Assembly")


def test_remove_several_entries_then_undo_brings_them_back_in_place(four, alice):
    ids = [row.entry.id for row in selectors.cut_timeline(four)]
    removed = cut_entries_remove(cut=four, actor=alice, entry_ids=[ids[1], ids[3]], expected_version=four.version)
    assert codes(four) == ["1A", "3A"] and sorted(removed) == sorted([ids[1], ids[3]])
    with pytest.raises(StaleVersion):
        cut_entries_restore(cut=four, actor=alice, entry_ids=removed, expected_version=four.version - 1)
    cut_entries_restore(cut=four, actor=alice, entry_ids=removed, expected_version=four.version)
    assert codes(four) == ["1A", "2A", "3A", "4A"]
    with pytest.raises(ValidationError, match="nothing to undo"):
        cut_entries_restore(cut=four, actor=alice, entry_ids=removed)


def test_move_a_selection_to_the_start_or_the_end(four, alice):
    ids = [row.entry.id for row in selectors.cut_timeline(four)]
    cut_entries_move(cut=four, actor=alice, entry_ids=[ids[3], ids[2]], to="start")
    assert codes(four) == ["3A", "4A", "1A", "2A"]
    cut_entries_move(cut=four, actor=alice, entry_ids=[ids[2]], to="end")
    assert codes(four) == ["4A", "1A", "2A", "3A"]
    with pytest.raises(ValidationError):
        cut_entries_move(cut=four, actor=alice, entry_ids=[999999], to="end")


def test_the_editor_removes_a_selection_without_a_confirm_and_offers_undo(four, project, users):
    client = client_for(users["bob"])
    ids = [row.entry.id for row in selectors.cut_timeline(four)]
    editor = client.get(reverse("cut_editor", args=[project.slug, four.id])).content.decode()
    assert "hx-confirm" not in editor and 'form="cut-selection"' in editor
    url = reverse("cut_entries_bulk", args=[project.slug, four.id])
    response = client.post(url, {"action": "remove", "ids": ids[:2], "version": four.version}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "Removed 2 entries from the cut." in html and 'id="undo-remove"' in html
    four.refresh_from_db()
    assert codes(four) == ["3A", "4A"]
    client.post(url, {"action": "undo", "ids": ids[:2], "version": four.version}, HTTP_HX_REQUEST="true")
    assert codes(four) == ["1A", "2A", "3A", "4A"]
    stale = client.post(url, {"action": "remove", "ids": ids[:1], "version": 1}, HTTP_HX_REQUEST="true")
    assert stale.status_code == 409
    assert client.post(url, {"action": "remove", "ids": ids[:1]}).status_code == 400  # no version: nothing changed
    assert codes(four) == ["1A", "2A", "3A", "4A"]
    # the cut list counts what is in the cut
    cut_entries_remove(cut=four, actor=users["bob"], entry_ids=ids[:1])
    assert selectors.project_cuts(project).get(pk=four.pk).entry_count == 3


def test_added_entries_can_still_be_added_after_a_removal(four, alice, scene):
    shot = Shot.objects.get(scene=scene, code="1A")
    ids = [row.entry.id for row in selectors.cut_timeline(four)]
    cut_entries_remove(cut=four, actor=alice, entry_ids=[ids[0]])
    cut_entry_add(cut=four, actor=alice, shot=shot)
    assert codes(four) == ["2A", "3A", "4A", "1A"]


def test_entries_removed_long_ago_are_purged_with_the_trash(four, alice):
    from datetime import timedelta

    from django.utils import timezone

    ids = [row.entry.id for row in selectors.cut_timeline(four)]
    cut_entries_remove(cut=four, actor=alice, entry_ids=ids[:2])
    CutEntry.objects.filter(pk=ids[0]).update(deleted_at=timezone.now() - timedelta(days=31))
    call_command("purge_trash", stdout=io.StringIO())
    assert sorted(CutEntry.objects.filter(cut=four).values_list("id", flat=True)) == sorted(ids[1:])
    cut_entries_restore(cut=four, actor=alice, entry_ids=[ids[1]])  # the recent one can still come back
    assert codes(four) == ["2A", "3A", "4A"]
