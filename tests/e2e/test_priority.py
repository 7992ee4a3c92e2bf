"""Priority on a real worker: an urgent take queued behind 50 normal takes starts next, and a queued
take moved to "render next" starts right after it (one real Celery worker process, concurrency 1,
prefetch 1, acks_late, real Redis with the transport's priority steps; animatic takes)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from studio.models import Project, Take, TakePriority, TakeStatus
from studio.services import dispatch
from studio.services.render_rate import RenderQuota
from studio.services.render_requests import take_request
from studio.services.takes import take_cancel, take_set_priority

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]

NORMALS = 50
TIMEOUT_S = 240


def _wait_for(condition, what: str, timeout: float = TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def normals_started_between(shot, after, before) -> int:
    return Take.objects.filter(shot=shot, priority=TakePriority.NORMAL, started_at__gt=after, started_at__lt=before).count()


def test_an_urgent_take_behind_fifty_normal_ones_starts_next(routed_to_worker, project, scene, cast, shot, alice):
    Project.objects.filter(pk=project.pk).update(width=160, height=90)  # small animatic renders
    shot.duration_s = 1
    shot.save(update_fields=["duration_s"])
    quota = RenderQuota()  # one request against the rate limit
    # A prompt each, so no take reuses another's files (each is real work for the worker)
    normals = [take_request(shot=shot, actor=alice, prompt=f"@mara waits, take {i}", quota=quota).take
               for i in range(NORMALS)]
    _wait_for(lambda: Take.objects.filter(pk=normals[0].pk, status__in=[TakeStatus.RUNNING, TakeStatus.SUCCEEDED]).exists(),
              "the first normal take to start")

    urgent = take_request(shot=shot, actor=alice, prompt="@mara runs", quota=quota, priority=TakePriority.URGENT).take
    render_next = take_set_priority(take=normals[-1], actor=alice, priority=TakePriority.URGENT)  # the last in line
    _wait_for(lambda: Take.objects.filter(pk=render_next.pk, started_at__isnull=False).exists(), "the moved take to start")
    urgent.refresh_from_db()
    render_next.refresh_from_db()

    # Between an urgent message's publish receipt and its start, no normal take starts, but for one
    # whose message the worker fetched a moment before the publish (prefetch 1, acks_late: it
    # fetches the next message only when a render ends). FIFO would start ~45 here.
    assert normals_started_between(shot, urgent.enqueued_at, urgent.started_at) <= 1
    assert normals_started_between(shot, render_next.enqueued_at, render_next.started_at) <= 1
    # ...while the queue was long: most normal takes had not started when both had.
    assert Take.objects.filter(shot=shot, started_at__isnull=True, priority=TakePriority.NORMAL).count() >= NORMALS // 2

    for take in Take.objects.filter(shot=shot, status=TakeStatus.QUEUED):  # the rest costs nothing
        try:
            take_cancel(take=take, actor=alice)
        except ValidationError:
            pass  # the worker finished it in the meantime
    _wait_for(lambda: not Take.objects.filter(shot=shot, status__in=[TakeStatus.QUEUED, TakeStatus.RUNNING]).exists(),
              "the worker to finish")
    assert Take.objects.get(pk=urgent.pk).status == TakeStatus.SUCCEEDED
    # The worker (shared by the session's e2e tests) still has the cancelled takes' messages and the
    # finished takes' identity scoring to get through; every task acks late, so an empty broker
    # means it is idle. Waiting keeps its row locks away from the next test's database flush.
    queues = [settings.CONTINUITY_RENDER_QUEUE, settings.CELERY_TASK_DEFAULT_QUEUE, settings.CONTINUITY_IDENTITY_QUEUE]
    _wait_for(lambda: dispatch.task_ids_in_broker(queues) == set(), "the worker to go idle")
