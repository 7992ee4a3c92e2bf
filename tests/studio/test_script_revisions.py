"""Script revisions: every import keeps one (who, when, file, text, colour); a revision's page
diffs it against the one before, scene by scene, names the shots it touched, and marks them for
re-render. Run on a real two-revision Fountain script (tests/fixtures/scripts/night_ferry_v*.fountain)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from studio import selectors
from studio.models import Scene, ScriptSource, Shot, Take, TakeStatus
from studio.models.script import revision_colour
from studio.script_diff import diff_scripts
from studio.services.script import script_import
from tests.studio.views_helpers import client_for, finished_take

pytestmark = pytest.mark.django_db

SCRIPTS = Path(__file__).resolve().parent.parent / "fixtures" / "scripts"
V1 = (SCRIPTS / "night_ferry_v1.fountain").read_bytes()
V2 = (SCRIPTS / "night_ferry_v2.fountain").read_bytes()
HARBOUR, TRUCK = "EXT. HARBOUR - NIGHT", "EXT. TOMAS'S TRUCK - MOVING"


def _two_revisions(project, users):
    script_import(project=project, actor=users["alice"], data=V1, filename="night_ferry.fountain")
    script_import(project=project, actor=users["bob"], data=V2, filename="night_ferry_v2.fountain")


def _shot_codes_of(project, *headings: str) -> list[str]:
    return list(Shot.objects.filter(scene__project=project, scene__heading__in=headings)
                .order_by("scene__order", "order").values_list("code", flat=True))


def test_every_import_keeps_a_revision_with_who_when_file_text_and_colour(project, users):
    _two_revisions(project, users)
    revisions = list(selectors.script_revisions(project))
    assert [(r.version, r.colour, r.imported_by.username, r.filename) for r in revisions] == [
        (2, "blue", "bob", "night_ferry_v2.fountain"), (1, "white", "alice", "night_ferry.fountain")]
    assert ScriptSource.objects.get(project=project, version=2).text == V2.decode()
    assert all(r.imported_at for r in revisions)


@pytest.mark.parametrize("version, colour", [
    (1, "white"), (2, "blue"), (3, "pink"), (4, "yellow"), (5, "green"), (6, "goldenrod"), (7, "buff"), (8, "salmon"),
    (9, "cherry"), (10, "double white"), (11, "double blue"), (19, "triple white"),
])
def test_revision_colours_follow_the_industry_order(version, colour):
    assert revision_colour(version) == colour


def test_the_diff_lists_the_scenes_added_removed_moved_and_changed(project, users):
    _two_revisions(project, users)
    diff = selectors.script_revision_diff(project, 2).diff
    assert [c.heading for c in diff.added] == ["EXT. CLIFF ROAD - DAWN"]
    assert [c.heading for c in diff.removed] == ["INT. HARBOUR OFFICE - DAY"]
    assert [c.heading for c in diff.moved] == ["THE LAMP ROOM"]
    assert [(c.heading, c.what) for c in diff.changed] == [(HARBOUR, ["dialogue"]), (TRUCK, ["action"])]
    assert diff.unchanged_count == 1  # the lamp room at night


def test_changed_lines_sit_side_by_side(project, users):
    _two_revisions(project, users)
    harbour = selectors.script_revision_diff(project, 2).diff.changed[0]
    changed = [(row.tag, row.old.text, row.new.text) for row in harbour.rows if row.tag != "equal"]
    assert changed == [("replace", "McKENZIE: You're late, Tomas.", "McKENZIE: You're late again, Tomas.")]
    truck = selectors.script_revision_diff(project, 2).diff.changed[1]
    [row] = [row for row in truck.rows if row.tag != "equal"]
    assert row.old.text.startswith("Tomas drives one-handed") and row.new.text.startswith("Tomas drives with both hands")


def test_the_diff_names_the_shots_the_change_touched(project, users):
    _two_revisions(project, users)
    found = selectors.script_revision_diff(project, 2)
    assert [s.code for s in found.touched_shots] == _shot_codes_of(project, HARBOUR, TRUCK)
    assert len(found.touched_shots) == 2
    removed = found.diff.removed[0]
    assert [s.code for s in removed.shots] == _shot_codes_of(project, "INT. HARBOUR OFFICE - DAY")  # kept, omitted


def test_a_revision_imported_before_scene_ids_were_kept_pairs_scenes_by_heading(project, users):
    _two_revisions(project, users)
    for source in ScriptSource.objects.filter(project=project):
        source.report.pop("scene_ids")
        source.save()
    found = selectors.script_revision_diff(project, 2)
    assert [(c.heading, c.what) for c in found.diff.changed] == [(HARBOUR, ["dialogue"]), (TRUCK, ["action"])]
    assert [c.heading for c in found.diff.moved] == ["THE LAMP ROOM"]
    assert [s.code for s in found.touched_shots] == _shot_codes_of(project, HARBOUR, TRUCK)


def test_the_first_revision_is_all_additions():
    diff = diff_scripts("", V1.decode())
    assert len(diff.added) == 5 and not diff.changed and not diff.removed


def test_the_import_report_counts_a_dialogue_change(project, users):
    _two_revisions(project, users)
    report = ScriptSource.objects.get(project=project, version=2).report
    assert {c["heading"]: sorted(c["changes"]) for c in report["scenes_changed"]}[HARBOUR] == ["dialogue"]


# --- Pages and the mark -----------------------------------------------------------------------------

def test_the_revision_page_shows_the_diff_to_members_only(project, users):
    _two_revisions(project, users)
    url = reverse("script_revision", args=[project.slug, 2])
    page = client_for(users["dave"]).get(url)  # a viewer reads it
    assert page.status_code == 200
    assert [c.heading for c in page.context["found"].diff.changed] == [HARBOUR, TRUCK]
    assert client_for(users["eve"]).get(url).status_code == 404
    assert client_for(users["dave"]).get(reverse("script_revision", args=[project.slug, 9])).status_code == 404
    script_page = client_for(users["dave"]).get(reverse("script", args=[project.slug]))
    assert [r.version for r in script_page.context["revisions"]] == [2, 1]


def test_marking_touched_shots_makes_them_stale_until_a_new_take_is_asked_for(project, users):
    _two_revisions(project, users)
    shots = {s.code: s for s in Shot.objects.filter(scene__project=project)}
    for shot in shots.values():
        finished_take(shot)
    touched = _shot_codes_of(project, HARBOUR, TRUCK)
    response = client_for(users["bob"]).post(reverse("script_revision_mark_touched", args=[project.slug, 2]))
    assert response.status_code == 302
    statuses = {shot.code: shot.board_status for scene in selectors.shot_board(project) for shot in scene.board_shots}
    assert sorted(code for code, status in statuses.items() if status == "stale") == sorted(touched)
    assert Shot.objects.get(code=touched[0], scene__project=project).rerender_reason.startswith("Script v2 (blue)")

    shot = shots[touched[0]]
    Take.objects.create(shot=shot, number=2, backend="animatic", request={}, signature="new", status=TakeStatus.QUEUED)
    statuses = {s.code: s.board_status for scene in selectors.shot_board(project) for s in scene.board_shots}
    assert statuses[touched[0]] == "rendering"
    Take.objects.filter(shot=shot, number=2).update(status=TakeStatus.SUCCEEDED, finished_at=timezone.now())
    statuses = {s.code: s.board_status for scene in selectors.shot_board(project) for s in scene.board_shots}
    assert statuses[touched[0]] == "needs_review" and statuses[touched[1]] == "stale"


@pytest.mark.parametrize("who, status", [("carol", 403), ("dave", 403), ("eve", 404)])
def test_only_editors_mark_shots(project, users, who, status):
    _two_revisions(project, users)
    response = client_for(users[who]).post(reverse("script_revision_mark_touched", args=[project.slug, 2]))
    assert response.status_code == status
    assert not Shot.objects.filter(scene__project=project, rerender_marked_at__isnull=False).exists()


def test_the_mark_ignores_shots_of_other_projects_and_the_trash(project, users):
    from studio.services.projects import project_create
    from studio.services.revisions import shots_mark_for_rerender

    _two_revisions(project, users)
    other = project_create(owner=users["alice"], name="Other")
    script_import(project=other, actor=users["alice"], data=V1)
    theirs = list(Shot.objects.filter(scene__project=other).values_list("id", flat=True))
    ours = Shot.objects.filter(scene__project=project).first()
    Shot.objects.filter(pk=ours.pk).update(deleted_at=timezone.now())
    marked = shots_mark_for_rerender(project=project, actor=users["alice"], shot_ids=[*theirs, ours.id], reason="x")
    assert marked == [] and not Shot.objects.filter(rerender_marked_at__isnull=False).exists()
    assert Scene.objects.filter(project=other).count() == 5
