"""The demo shows identity at work: seeded and rendered, every finished take has identity scores,
and the one shot that drifts on purpose (NINA drawn with ELSE's photograph, a stand-in) is a
mismatch for NINA while the others keep their characters' faces."""

from __future__ import annotations

import pytest

from studio.models import IdentityStatus, Shot, ShotCast
from studio.services import identity as identity_services
from studio.services.demo import DRIFTING_SHOT, demo_project_ensure
from studio.services.render_requests import take_request
from studio.services.renders import run_take

pytestmark = pytest.mark.django_db


def test_seeding_and_rendering_the_demo_scores_every_take_and_the_drifting_shot_is_a_mismatch(ffmpeg_available):
    project, created = demo_project_ensure()
    assert created
    shots = list(Shot.objects.alive().filter(scene__project=project).order_by("scene__order", "order"))
    scores = {}
    for shot in shots:
        take = take_request(shot=shot, actor=None).take
        run_take(take.id)
        take.refresh_from_db()
        assert take.status == "succeeded", take.error
        rows = identity_services.take_score_identity(take.id)
        assert rows, f"shot {shot.code} has no identity scores"
        scores[shot.scene.order] = {row.cast_member.handle: row for row in rows}

    drifting = scores[DRIFTING_SHOT["scene_order"]][DRIFTING_SHOT["handle"]]
    assert drifting.status == IdentityStatus.DRIFT
    assert drifting.verdict.startswith("drifted") and drifting.score > drifting.threshold
    # Every other character score is a match or an honest "no face"/"no reference", never a drift.
    for order, by_handle in scores.items():
        for handle, row in by_handle.items():
            if row.cast_member.kind == "character" and (order, handle) != (DRIFTING_SHOT["scene_order"], DRIFTING_SHOT["handle"]):
                assert row.status != IdentityStatus.DRIFT, (order, handle, row.verdict)
    # Without her stand-in, the same shot keeps NINA's face: the drift is the stand-in, not the shot.
    ShotCast.objects.filter(shot__scene__project=project, stand_in__isnull=False).update(stand_in=None)
    shot = next(s for s in shots if s.scene.order == DRIFTING_SHOT["scene_order"])
    take = take_request(shot=shot, actor=None).take
    run_take(take.id)
    again = {row.cast_member.handle: row for row in identity_services.take_score_identity(take.id)}
    assert again[DRIFTING_SHOT["handle"]].status == IdentityStatus.MATCH
