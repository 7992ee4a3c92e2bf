"""Continuity and exact re-renders with real parts: a Celery worker process, Redis, ffmpeg and the
tiny Wan VACE pipeline (the real diffusers class with random weights)."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command

from studio.models import Take, TakeStatus
from studio.services.render_requests import take_request
from studio.services.reviews import review_decide
from studio.services.shots import shot_create

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT_S = 300


def finished(take: Take) -> Take:
    deadline = time.monotonic() + RENDER_TIMEOUT_S
    while time.monotonic() < deadline:
        take.refresh_from_db()
        if take.is_final:
            assert take.status == TakeStatus.SUCCEEDED, take.error
            return take
        time.sleep(0.3)
    raise AssertionError(f"take {take.id} still {take.status} after {RENDER_TIMEOUT_S} s")


def test_a_continuity_shot_on_wan_keeps_its_references_and_renders_again_exactly(routed_to_worker, project, alice,
                                                                                 scene, cast):
    first = shot_create(scene=scene, actor=alice, prompt="@mara looks out to sea", duration_s=1, backend="tiny", code="1A")
    second = shot_create(scene=scene, actor=alice, prompt="@mara turns to the camera", duration_s=1, backend="tiny",
                         code="1B", continue_from_previous=True)
    upstream = finished(take_request(shot=first, actor=alice).take)
    review_decide(take=upstream, actor=alice, decision="approved")

    continued = finished(take_request(shot=second, actor=alice).take)
    assert continued.continued_from_id == upstream.id
    provenance = continued.provenance
    assert provenance["pipeline"] == "WanVACEPipeline" and provenance["first_frame"] is True
    assert provenance["reference_handles"] == ["mara"]  # the cast rode along with the first frame
    assert provenance["prompt_sent"] == "@mara turns to the camera. Camera: medium shot, static camera, 35mm lens."

    out = io.StringIO()
    call_command("rerender_take", str(continued.id), "--wait", "--timeout", str(RENDER_TIMEOUT_S), stdout=out)
    again = Take.objects.get(rerender_of=continued)
    assert again.status == TakeStatus.SUCCEEDED and again.provenance["pipeline"] == "WanVACEPipeline"
    assert again.provenance["frames_sha256"] == continued.provenance["frames_sha256"]
    assert "frames identical" in out.getvalue()
