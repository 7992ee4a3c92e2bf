"""Priority and retry (services/takes.py, services/dispatch.py), GPU seconds and worker reports
on the worker's side (services/renders.py, services/workers.py), the out-of-memory reason shown on
the take, and the edges: review room, board, API, Workers page."""

from __future__ import annotations

import json
import uuid

import diffusers
import pytest
import redis
import torch
from django.core.exceptions import ValidationError
from django.urls import reverse

from generation.pipeline_cache import reset_cache
from studio.models import Take, TakePriority, TakeStatus
from studio.services import dispatch, renders, usage, workers
from studio.services.projects import project_create
from studio.services.render_requests import take_request
from studio.services.shots import scene_create, shot_create
from studio.services.takes import take_retry, take_set_priority
from tests.studio.views_helpers import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture
def small_shot(alice, ffmpeg_available):
    project = project_create(owner=alice, name="Tiny frames", fps=12, width=160, height=90)
    scene = scene_create(project=project, actor=alice, heading="EXT. PIER - DAY")
    return shot_create(scene=scene, actor=alice, prompt="waves against the pier", duration_s=1)


@pytest.fixture
def scratch(settings):
    """A render queue and a worker-report prefix of this test's own, deleted afterwards."""
    suffix = uuid.uuid4().hex[:8]
    settings.CONTINUITY_RENDER_QUEUE = f"test-gpu-{suffix}"
    settings.CONTINUITY_WORKER_REPORT_PREFIX = f"test-worker-{suffix}:"
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    keys = list(client.scan_iter(match=f"*{suffix}*"))
    if keys:
        client.delete(*keys)


def failed_take(shot, alice) -> Take:
    take = take_request(shot=shot, actor=alice).take
    Take.objects.filter(pk=take.pk).update(status=TakeStatus.FAILED, error="worker exploded", gpu_seconds=7)
    take.refresh_from_db()
    return take


# --- Priority -----------------------------------------------------------------------------------

def test_an_urgent_render_is_sent_at_the_first_priority_step_and_a_normal_one_after(small_shot, alice, scratch, settings):
    normal = take_request(shot=small_shot, actor=alice).take
    urgent = take_request(shot=small_shot, actor=alice, prompt="a gull lands", priority=TakePriority.URGENT).take
    dispatch.enqueue_render(normal.id)
    dispatch.enqueue_render(urgent.id)
    queue = settings.CONTINUITY_RENDER_QUEUE
    first = [json.loads(m)["headers"]["id"] for m in scratch.lrange(queue, 0, -1)]  # the list a worker reads first
    later = [json.loads(m)["headers"]["id"] for m in scratch.lrange(f"{queue}\x06\x166", 0, -1)]
    normal.refresh_from_db()
    urgent.refresh_from_db()
    assert first == [urgent.task_id] and later == [normal.task_id]
    assert dispatch.task_ids_in_broker([queue]) == {urgent.task_id, normal.task_id}  # the reconciler sees both


def test_render_next_resends_a_queued_take_at_urgent_priority(small_shot, alice, users, scratch, settings,
                                                              django_capture_on_commit_callbacks):
    take = take_request(shot=small_shot, actor=alice).take
    with django_capture_on_commit_callbacks(execute=True):
        take_set_priority(take=take, actor=users["bob"], priority=TakePriority.URGENT)
    take.refresh_from_db()
    assert take.priority == TakePriority.URGENT and take.enqueued_at is not None
    assert [json.loads(m)["headers"]["id"] for m in scratch.lrange(settings.CONTINUITY_RENDER_QUEUE, 0, -1)] == [take.task_id]
    Take.objects.filter(pk=take.pk).update(status=TakeStatus.RUNNING)
    with pytest.raises(ValidationError, match="only a queued take"):
        take_set_priority(take=take, actor=alice, priority=TakePriority.NORMAL)
    with pytest.raises(ValidationError, match="Unknown priority"):
        take_request(shot=small_shot, actor=alice, prompt="x", priority="whenever")


# --- Retry --------------------------------------------------------------------------------------

def test_a_retry_is_a_new_take_with_the_same_request_and_the_failed_one_stays(small_shot, alice, users):
    failed = failed_take(small_shot, alice)
    small_shot.prompt = "the shot was edited since"
    small_shot.save(update_fields=["prompt"])
    result = take_retry(take=failed, actor=users["bob"])
    new = result.take
    assert result.dispatched and new.pk != failed.pk and new.number == failed.number + 1
    assert (new.request, new.backend, new.signature) == (failed.request, failed.backend, failed.signature)
    assert new.retry_of_id == failed.pk and new.status == TakeStatus.QUEUED and new.requested_by == users["bob"]
    failed.refresh_from_db()
    assert failed.status == TakeStatus.FAILED and failed.error == "worker exploded" and failed.gpu_seconds == 7
    again = take_retry(take=failed, actor=alice)  # the retry is already queued: it answers
    assert again.take.pk == new.pk and not again.dispatched


def test_only_failed_or_cancelled_takes_are_retried_and_the_budget_applies(small_shot, alice):
    queued = take_request(shot=small_shot, actor=alice).take
    with pytest.raises(ValidationError, match="only failed or cancelled"):
        take_retry(take=queued, actor=alice)
    failed = failed_take(small_shot, alice)
    Take.objects.filter(pk=queued.pk).update(status=TakeStatus.CANCELLED, signature="other")
    broken = failed_take(small_shot, alice)
    Take.objects.filter(pk=broken.pk).update(request={"seed": 1}, signature="broken")
    with pytest.raises(ValidationError, match="stored request cannot be read"):
        take_retry(take=broken, actor=alice)
    Take.objects.filter(pk=broken.pk).update(gpu_seconds=0)
    usage.budget_set(project=small_shot.scene.project, actor=alice, seconds=5)  # 7 spent
    with pytest.raises(usage.BudgetExceeded, match="alice 7.0 GPU s"):
        take_retry(take=failed, actor=alice)


def test_retry_and_render_next_from_the_review_room_board_and_api(small_shot, alice, users):
    project = small_shot.scene.project
    from studio.services.projects import membership_add
    from studio.models import Role

    for name, role in (("bob", Role.EDITOR), ("dave", Role.VIEWER)):
        membership_add(project=project, actor=alice, user=users[name], role=role)
    failed = failed_take(small_shot, alice)
    assert client_for(users["dave"]).post(reverse("take_retry", args=[project.slug, failed.id])).status_code == 403
    assert client_for(users["eve"]).post(reverse("take_retry", args=[project.slug, failed.id])).status_code == 404
    assert client_for(users["bob"]).post(reverse("take_retry", args=[project.slug, failed.id])).status_code == 302
    retried = Take.objects.get(retry_of=failed)
    response = client_for(users["bob"]).post(reverse("take_render_next", args=[project.slug, retried.id]))
    assert response.status_code == 302 and Take.objects.get(pk=retried.pk).priority == TakePriority.URGENT

    Take.objects.filter(pk=retried.pk).update(status=TakeStatus.CANCELLED)  # and from the board, on the card
    response = client_for(users["bob"]).post(reverse("shot_take_retry", args=[project.slug, small_shot.id, retried.id]),
                                             HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and Take.objects.filter(retry_of=retried).count() == 1

    from studio.services.api_tokens import api_token_create

    Take.objects.filter(retry_of=retried).update(status=TakeStatus.FAILED)
    third = Take.objects.get(retry_of=retried)
    _, secret = api_token_create(user=users["bob"], name="ci", scopes=["read", "render", "write"])
    api = client_for(None)
    answer = api.post(reverse("api_take_retry", args=[project.slug, third.id]), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 201, answer.content
    assert answer.json()["dispatched"] and answer.json()["take"]["id"] == Take.objects.get(retry_of=third).id
    done = Take.objects.filter(status=TakeStatus.SUCCEEDED).first() or third
    Take.objects.filter(pk=done.pk).update(status=TakeStatus.SUCCEEDED)
    refused = api.post(reverse("api_take_retry", args=[project.slug, done.id]), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert refused.status_code == 400 and "only failed or cancelled" in refused.json()["detail"]


# --- The worker's side: GPU seconds, phases, reports, out-of-memory ---------------------------

def test_a_render_records_gpu_and_wall_seconds_and_the_worker_reports(small_shot, alice, scratch, settings):
    take = take_request(shot=small_shot, actor=alice).take
    renders.run_take(take.id)
    take.refresh_from_db()
    assert take.status == TakeStatus.SUCCEEDED, take.error
    assert 0 < take.gpu_seconds < take.compute_seconds and take.phase == ""
    report = json.loads(scratch.get(workers.report_key(workers.worker_name())))
    assert report["state"] == "idle" and report["gpu_memory"] is None  # no CUDA here: the page says n/a


@pytest.fixture
def tiny_shot(small_shot, settings):
    settings.CONTINUITY_OFFER_TINY_BACKEND = True
    small_shot.backend = "tiny"
    small_shot.save(update_fields=["backend"])
    reset_cache()
    yield small_shot
    reset_cache()


def _fake_oom(monkeypatch, times: int) -> list[int]:
    calls = []
    original = diffusers.WanVACEPipeline.__call__

    def call(pipe, *args, **kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (fake)")
        return original(pipe, *args, **kwargs)

    monkeypatch.setattr(diffusers.WanVACEPipeline, "__call__", call)
    return calls


def test_a_take_whose_render_runs_out_of_memory_twice_fails_with_the_reason_shown(tiny_shot, alice, monkeypatch, scratch):
    calls = _fake_oom(monkeypatch, times=2)
    phases = []
    original = renders.take_record_phase
    monkeypatch.setattr(renders, "take_record_phase", lambda **kw: phases.append(kw["phase"]) or original(**kw))
    take = take_request(shot=tiny_shot, actor=alice).take
    renders.run_take(take.id)
    take.refresh_from_db()
    assert len(calls) == 2 and take.status == TakeStatus.FAILED
    assert take.error.startswith("Out of memory, twice") and "VAE tiling" in take.error
    assert take.gpu_seconds > 0  # the failed calls are paid for
    assert any(phase.startswith("loading model") and phase.endswith("%") for phase in phases)  # beats while loading
    assert any(phase.startswith("out of memory; retrying") for phase in phases)
    client = client_for(alice)
    page = client.get(reverse("review", args=[tiny_shot.scene.project.slug, tiny_shot.id]) + f"?take={take.id}")
    assert page.context["take"].error == take.error  # the room shows the take's error as it is


def test_a_take_that_runs_out_of_memory_once_succeeds_with_the_fallback(tiny_shot, alice, monkeypatch, scratch):
    calls = _fake_oom(monkeypatch, times=1)
    take = take_request(shot=tiny_shot, actor=alice).take
    renders.run_take(take.id)
    take.refresh_from_db()
    assert len(calls) == 2 and take.status == TakeStatus.SUCCEEDED, take.error
    assert "VAE tiling" in take.provenance["memory_fallback"]
    report = json.loads(scratch.get(workers.report_key(workers.worker_name())))
    assert report["state"] == "idle" and any("WanVACEPipeline" in name for name in report["loaded"]["pipelines"])


def test_the_workers_page_is_for_staff_and_lists_reports(alice, users, scratch):
    workers.worker_report(state="loading", phase="loading model… 40%", progress=0.4,
                          loaded={"model": "continuity--tiny-wan-vace"})
    assert client_for(alice).get(reverse("workers")).status_code == 302  # not staff: to the admin sign-in
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    rows = client_for(alice).get(reverse("workers")).context["workers"]
    assert [(r.name, r.state, r.phase, r.loaded, r.gpu_memory, r.silent) for r in rows] == [
        (workers.worker_name(), "loading", "loading model… 40%", ["continuity--tiny-wan-vace"], "n/a", False)]
