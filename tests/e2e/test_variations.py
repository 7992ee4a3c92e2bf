"""Variations with real parts: "Render 4 variations" in the review room queues four takes with
different seeds as one group and one render request; the real worker renders them with the
animatic backend; the room shows them side by side and one click approves the chosen one."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from studio.models import ReviewDecision, Shot, Take, TakeStatus
from studio.services.render_rate import RateLimited
from studio.services.render_requests import take_request
from studio.services.shots import shot_create
from tests.studio.views_helpers import client_for

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT_S = 300


def test_four_variations_render_as_one_group_and_one_approval_chooses_one(routed_to_worker, project, alice, scene, cast,
                                                                         settings):
    settings.CONTINUITY_RENDER_RATE = "1/10m"  # one request allowed: the four variations are one
    project.width, project.height = 320, 180
    project.save()
    shot = shot_create(scene=scene, actor=alice, prompt="@mara looks out over the @deck", duration_s=1, code="7A")
    client = client_for(alice)

    response = client.post(reverse("shot_variations", args=[project.slug, shot.id]), {"count": "4", "guidance_sweep": "1"})
    assert response.status_code == 302
    takes = list(Take.objects.filter(shot=shot).order_by("number"))
    assert len(takes) == 4
    assert len({t.variation_group for t in takes}) == 1 and takes[0].variation_group is not None
    assert len({t.request["seed"] for t in takes}) == 4
    assert [t.request["extra"]["guidance_scale"] for t in takes] == [3.0, 5.0, 7.0, 9.0]
    assert len({t.request_batch for t in takes}) == 1
    with pytest.raises(RateLimited):  # the variations were the one request the window allows
        take_request(shot=shot, actor=alice, seed=12345)

    deadline = time.monotonic() + RENDER_TIMEOUT_S
    while Take.objects.filter(shot=shot).exclude(status__in=[TakeStatus.SUCCEEDED, TakeStatus.FAILED]).exists():
        assert time.monotonic() < deadline, "the variations did not finish"
        time.sleep(0.5)
    finished = list(Take.objects.filter(shot=shot).order_by("number"))
    assert [t.status for t in finished] == [TakeStatus.SUCCEEDED] * 4, [t.error for t in finished]
    assert all(t.frames == project.fps for t in finished)

    room = client.get(reverse("review", args=[project.slug, shot.id]) + f"?take={finished[0].id}").content.decode()
    assert room.count('data-variation="') == 4 and room.count("Choose this one") == 4

    chosen = finished[2]
    client.post(reverse("take_decide", args=[project.slug, chosen.id]), {"decision": "approved"})
    assert Shot.objects.get(pk=shot.pk).approved_take_id == chosen.id
    assert list(ReviewDecision.objects.filter(take__shot=shot).values_list("take_id", flat=True)) == [chosen.id]
    room = client.get(reverse("review", args=[project.slug, shot.id]) + f"?take={finished[0].id}").content.decode()
    assert room.count("Choose this one") == 3 and f'class="variation approved" data-variation="{chosen.id}"' in room
