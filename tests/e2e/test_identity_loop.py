"""Identity scoring end to end: a real Celery worker renders a shot with the animatic backend, then
scores the take on its identity queue, and the browser's WebSocket hears "take.identity".

The character's reference is a real face (Grace Hopper, matplotlib's public-domain sample photo),
which the animatic stands in the shot as a framed card, so the face model finds her again."""

from __future__ import annotations

import io

import pytest
from asgiref.sync import sync_to_async
from matplotlib import cbook
from PIL import Image

from studio.models import IdentityScore, IdentityStatus, RightsStatus, TakeStatus
from studio.services.cast import cast_member_create, reference_image_add
from studio.services.projects import project_create
from studio.services.render_requests import take_request
from studio.services.shots import scene_create, shot_create
from tests.e2e.test_render_loop import _connect, _events_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("close_executor_connections")]

TIMEOUT_S = 300


def _hopper_png() -> bytes:
    out = io.BytesIO()
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as photo:
        photo.convert("RGB").save(out, format="PNG")
    return out.getvalue()


def _shot_of_grace(alice):
    project = project_create(owner=alice, name="Identity loop", fps=12, width=640, height=360)
    grace = cast_member_create(project=project, actor=alice, name="Grace", rights_status=RightsStatus.OWNED)
    reference_image_add(member=grace, actor=alice, data=_hopper_png())
    scene = scene_create(project=project, actor=alice, heading="INT. LAB - DAY")
    return shot_create(scene=scene, actor=alice, prompt="@grace looks at the console", duration_s=1, shot_size="MS")


async def test_a_rendered_take_is_scored_by_the_identity_worker(routed_to_worker, alice):
    shot = await sync_to_async(_shot_of_grace)(alice)
    communicator = await _connect(alice, await sync_to_async(lambda: shot.scene.project.slug)())
    await communicator.receive_from(timeout=10)  # the snapshot
    take_id = (await sync_to_async(take_request)(shot=shot, actor=alice)).take.id

    def scored(events):
        return any(e.get("type") == "take.identity" and e["take_id"] == take_id for e in events)

    events = await _events_until(communicator, scored, TIMEOUT_S)
    await communicator.disconnect()

    (event,) = [e for e in events if e.get("type") == "take.identity"]
    assert event["error"] == "", event["error"]
    rows = await sync_to_async(lambda: list(IdentityScore.objects.filter(take_id=take_id).select_related("take", "cast_member")))()
    assert [(r.cast_member.handle, r.status) for r in rows] == [("grace", IdentityStatus.MATCH)]
    assert rows[0].take.status == TakeStatus.SUCCEEDED
    (score,) = event["scores"]
    assert (score["handle"], score["status"], score["verdict"]) == ("grace", "match", "matches Grace's references")
    assert score["score"] == rows[0].score <= score["threshold"] == 0.6
