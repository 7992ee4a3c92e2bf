"""The cut editor's drift strip: per cast member, one cell per entry with the identity of the take
that entry plays (selectors.cut_drift_strips), gaps where the member is not in the shot or the take
is not scored yet."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studio import selectors
from studio.models import CastKind, CutEntry, IdentityScore, IdentityStatus, RightsStatus
from studio.services.cast import cast_member_create, cast_member_trash
from studio.services.cuts import cut_create
from studio.services.shots import shot_create
from tests.studio.views_helpers import client_for, finished_take

pytestmark = pytest.mark.django_db


def _score(take, member, status, score):
    return IdentityScore.objects.create(take=take, cast_member=member, status=status, score=score, threshold=0.6,
                                        verdict=f"{member.name} {status}", frames_sampled=5, frames_scored=5,
                                        model="dlib", model_version="test")


@pytest.fixture
def cut_world(project, scene, cast, shot, alice):
    """Three shots of @mara on the deck: 1A matches, 2A drifts, 3A is not scored yet; a fourth,
    4A, has only @ben; the cut plays them in the order 2A, 1A, 3A, 4A."""
    ben = cast_member_create(project=project, actor=alice, name="Ben", rights_status=RightsStatus.OWNED)
    second = shot_create(scene=scene, actor=alice, prompt="@mara again on the @deck", code="2A")
    third = shot_create(scene=scene, actor=alice, prompt="@mara a third time", code="3A")
    fourth = shot_create(scene=scene, actor=alice, prompt="@ben alone", code="4A")
    takes = {s.code: finished_take(s, frames=24 * (i + 1)) for i, s in enumerate((shot, second, third, fourth))}
    _score(takes["1A"], cast["mara"], IdentityStatus.MATCH, 0.41)
    _score(takes["2A"], cast["mara"], IdentityStatus.DRIFT, 0.72)
    _score(takes["4A"], ben, IdentityStatus.NO_FACE, None)
    cut = cut_create(project=project, actor=alice, name="Assembly", from_board=False)
    for order, s in enumerate((second, shot, third, fourth), start=1):
        CutEntry.objects.create(cut=cut, order=order, shot=s)
    return {"cut": cut, "ben": ben, "takes": takes, "shots": (shot, second, third, fourth)}


def _strips(cut):
    return {strip.member.handle: [cell.status for cell in strip.cells] for strip in selectors.cut_drift_strips(selectors.cut_timeline(cut))}


def test_each_member_gets_one_cell_per_entry_in_cut_order_with_gaps_where_absent_or_unscored(cut_world, cast):
    strips = _strips(cut_world["cut"])
    # 2A drifted, 1A matched, 3A not scored, 4A has no Mara.
    assert strips["mara"] == ["drift", "match", "unscored", "absent"]
    assert strips["ben"] == ["absent", "absent", "absent", "no_face"]
    # The deck is cast in 2A and 1A (their prompts name it), scored in neither.
    assert strips["deck"] == ["unscored", "unscored", "absent", "absent"]


def test_the_scenes_location_counts_as_in_every_shot_of_the_scene(cut_world, cast, scene, alice):
    from studio.services.shots import scene_update

    scene_update(scene=scene, actor=alice, location_cast=cast["deck"])
    assert _strips(cut_world["cut"])["deck"] == ["unscored"] * 4


def test_characters_come_first_and_drift_is_counted(cut_world):
    strips = selectors.cut_drift_strips(selectors.cut_timeline(cut_world["cut"]))
    kinds = [strip.member.kind for strip in strips]
    assert kinds == sorted(kinds, key=lambda kind: kind != CastKind.CHARACTER)
    by_handle = {strip.member.handle: strip for strip in strips}
    assert by_handle["mara"].drifted == 1
    assert by_handle["ben"].drifted == 1  # no face found is a warning too
    assert by_handle["deck"].drifted == 0


def test_cells_follow_the_take_the_entry_plays(cut_world, cast, alice):
    """Choosing another take of 2A in the cut swaps the drifted cell for that take's score."""
    _, second, _, _ = cut_world["shots"]
    better = finished_take(second, number=2)
    _score(better, cast["mara"], IdentityStatus.MATCH, 0.35)
    entry = CutEntry.objects.get(cut=cut_world["cut"], shot=second)
    entry.take = better
    entry.save()
    assert _strips(cut_world["cut"])["mara"][0] == "match"


def test_a_trashed_cast_member_has_no_strip(cut_world, alice):
    cast_member_trash(member=cut_world["ben"], actor=alice)
    assert "ben" not in _strips(cut_world["cut"])


def test_the_cut_editor_shows_the_strip_with_verdicts_and_links_to_the_review_room(cut_world, project, alice):
    cut = cut_world["cut"]
    response = client_for(alice).get(reverse("cut_editor", args=[project.slug, cut.id]))
    assert response.status_code == 200
    strips = {strip.member.handle: strip for strip in response.context["drift_strips"]}
    drifted = strips["mara"].cells[0]
    assert drifted.status == "drift" and "Mara drift" in drifted.title
    review = reverse("review", args=[project.slug, cut_world["shots"][1].id]) + f"?take={cut_world['takes']['2A'].id}#identity"
    assert review in response.content.decode()
