"""The reconciler on crafted takes: lost messages are sent again, silent renders requeued or
failed at the cap, exhausted takes failed; every change conditional, published, and idempotent."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from generation import render
from studio.services import renders
from studio.services.reconcile import ReconcileReport, reconcile
from studio.models import Take, TakeStatus
from studio.services.projects import project_create
from studio.services.shots import scene_create, shot_create
from studio.services.render_requests import take_request
from studio.services.renders import take_claim, take_fail, take_record_progress, take_requeue, take_succeed

pytestmark = pytest.mark.django_db

GRACE_S, STALE_S, CAP = 120, 300, 3


@pytest.fixture(autouse=True)
def thresholds(settings):
    settings.CONTINUITY_LOST_MESSAGE_GRACE_S = GRACE_S
    settings.CONTINUITY_STALE_HEARTBEAT_S = STALE_S
    settings.CONTINUITY_MAX_RENDER_ATTEMPTS = CAP


@pytest.fixture
def sent_to_broker(monkeypatch):
    """Take ids handed to Celery, in order; nothing reaches a broker. Stamps enqueued_at like the real one."""
    ids: list[int] = []

    def enqueue(take_id):
        ids.append(take_id)
        Take.objects.filter(pk=take_id).update(enqueued_at=timezone.now())

    monkeypatch.setattr("studio.services.dispatch.enqueue_render", enqueue)
    return ids


@pytest.fixture
def published(monkeypatch):
    """take.changed events handed to studio.events for browsers: (take id, status)."""
    events: list[tuple[int, str]] = []

    def publish(project_id, kind, payload, **_):
        if kind == "take.changed":
            events.append((payload["take"]["id"], payload["take"]["status"]))

    monkeypatch.setattr("studio.events.publish", publish)
    return events


@pytest.fixture
def make_take(alice, sent_to_broker, published):
    """A take of a fresh shot, then put into the state a test describes (ages in seconds ago)."""
    project = project_create(owner=alice, name="Harbour", fps=12, width=160, height=90)
    scene = scene_create(project=project, actor=alice, heading="EXT. HARBOUR - DAWN")

    def make(*, status=TakeStatus.QUEUED, attempts=0, created_ago=0, enqueued_ago=None, heartbeat_ago=None,
             started_ago=None) -> Take:
        shot = shot_create(scene=scene, actor=alice, prompt=f"gulls over the harbour {Take.objects.count()}", duration_s=1)
        take = take_request(shot=shot, actor=alice).take
        now = timezone.now()
        ago = lambda seconds: None if seconds is None else now - timedelta(seconds=seconds)  # noqa: E731
        Take.objects.filter(pk=take.pk).update(
            status=status, attempts=attempts, created_at=ago(created_ago), enqueued_at=ago(enqueued_ago),
            heartbeat_at=ago(heartbeat_ago), started_at=ago(started_ago),
        )
        sent_to_broker.clear()  # the request's own enqueue and event are not what these tests look at
        published.clear()
        return Take.objects.get(pk=take.pk)

    return make


def _status(take: Take) -> tuple[str, int]:
    take.refresh_from_db()
    return take.status, take.attempts


# --- Lost messages ------------------------------------------------------------------------------

def test_a_queued_take_never_sent_is_sent_again(make_take, sent_to_broker):
    take = make_take(created_ago=GRACE_S + 5, enqueued_ago=None)  # the web process died before enqueueing
    report = reconcile()
    assert report.resent == [take.id] and sent_to_broker == [take.id]
    assert _status(take) == (TakeStatus.QUEUED, 0)
    assert take.enqueued_at is not None


def test_a_queued_take_sent_long_ago_is_sent_again_once_per_grace_period(make_take, sent_to_broker):
    take = make_take(created_ago=3600, enqueued_ago=GRACE_S + 5)  # e.g. Redis restarted and lost it
    assert reconcile().resent == [take.id]
    assert reconcile().resent == []  # just sent: the next run leaves it alone
    assert reconcile(now=timezone.now() + timedelta(seconds=GRACE_S + 1)).resent == [take.id]
    assert sent_to_broker == [take.id, take.id]


def test_young_or_recently_sent_queued_takes_are_left_alone(make_take, sent_to_broker):
    make_take(created_ago=10, enqueued_ago=None)  # still being committed and sent
    make_take(created_ago=3600, enqueued_ago=GRACE_S - 10)  # waiting behind other renders, message known
    assert not reconcile().changed and sent_to_broker == []


# --- Silent workers ---------------------------------------------------------------------------

def test_a_running_take_whose_heartbeat_stopped_is_requeued_and_sent(make_take, sent_to_broker, published):
    take = make_take(status=TakeStatus.RUNNING, attempts=1, created_ago=900, enqueued_ago=900,
                     started_ago=700, heartbeat_ago=STALE_S + 5)
    report = reconcile()
    assert report.requeued == [take.id] and not report.resent and not report.failed
    assert _status(take) == (TakeStatus.QUEUED, 1)
    assert "no heartbeat for 5 minutes" in take.error
    assert sent_to_broker == [take.id]
    assert published == [(take.id, "queued")]
    assert not reconcile().changed  # sent just now: nothing more to do


def test_a_running_take_with_a_fresh_heartbeat_is_left_alone(make_take, sent_to_broker):
    take = make_take(status=TakeStatus.RUNNING, attempts=1, created_ago=3600, started_ago=3500, heartbeat_ago=STALE_S - 30)
    assert not reconcile().changed
    assert _status(take) == (TakeStatus.RUNNING, 1) and sent_to_broker == []


def test_a_running_take_without_any_heartbeat_is_judged_by_its_start(make_take):
    """Takes claimed before heartbeats existed: silent since they started."""
    old = make_take(status=TakeStatus.RUNNING, attempts=1, created_ago=900, started_ago=STALE_S + 5)
    young = make_take(status=TakeStatus.RUNNING, attempts=1, created_ago=900, started_ago=30)
    assert reconcile().requeued == [old.id]
    assert _status(young) == (TakeStatus.RUNNING, 1)


def test_a_silent_take_on_its_last_attempt_fails_with_a_clear_message(make_take, sent_to_broker, published):
    take = make_take(status=TakeStatus.RUNNING, attempts=CAP, created_ago=3600, started_ago=900, heartbeat_ago=STALE_S + 5)
    report = reconcile()
    assert report.failed == [take.id] and not report.requeued
    assert _status(take) == (TakeStatus.FAILED, CAP)
    assert take.error == f"Gave up after {CAP} attempts; on the last, its worker sent no heartbeat for 5 minutes."
    assert take.finished_at is not None and sent_to_broker == []
    assert published == [(take.id, "failed")]


def test_a_queued_take_with_its_attempts_used_up_is_failed_not_sent(make_take, sent_to_broker, published):
    take = make_take(attempts=CAP, created_ago=3600, enqueued_ago=3600)
    report = reconcile()
    assert report.failed == [take.id] and not report.resent
    assert _status(take) == (TakeStatus.FAILED, CAP) and "Gave up after 3 attempts" in take.error
    assert sent_to_broker == [] and published == [(take.id, "failed")]


def test_finished_takes_are_never_touched(make_take, sent_to_broker):
    for status in (TakeStatus.SUCCEEDED, TakeStatus.FAILED, TakeStatus.CANCELLED):
        make_take(status=status, attempts=CAP, created_ago=3600, enqueued_ago=3600, started_ago=3600, heartbeat_ago=3600)
    assert not reconcile().changed and sent_to_broker == []


# --- Conditional changes: whoever acts at the same moment wins over the reconciler ------------

def test_a_heartbeat_after_the_read_keeps_the_take_running(make_take):
    take = make_take(status=TakeStatus.RUNNING, attempts=1, created_ago=900, started_ago=900, heartbeat_ago=STALE_S + 5)
    stale_before = timezone.now() - timedelta(seconds=STALE_S)
    Take.objects.filter(pk=take.pk).update(heartbeat_at=timezone.now())  # the worker beat meanwhile
    assert take_requeue(take=take, reason="silent", stale_before=stale_before) is False
    assert take_fail(take=take, error="silent", stale_before=stale_before) is False
    assert _status(take) == (TakeStatus.RUNNING, 1)


def test_a_claim_after_the_read_is_not_failed_by_a_stale_view(make_take):
    take = make_take(attempts=1, created_ago=900)
    seen_by_reconciler = Take.objects.get(pk=take.pk)
    take_claim(take_id=take.id, worker="gpu-2:9", max_attempts=CAP)  # a delivery claims it first
    assert take_fail(take=seen_by_reconciler, error="x") is False
    assert _status(take) == (TakeStatus.RUNNING, 2)


def test_a_worker_presumed_dead_can_no_longer_change_the_take(make_take, sent_to_broker):
    """The reconciler requeued a slow render and another worker claimed it: the first worker's
    progress, success and failure are all refused, and it is told to stop."""
    take = make_take(created_ago=900)
    first = take_claim(take_id=take.id, worker="gpu-1:1", max_attempts=CAP)
    Take.objects.filter(pk=take.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=STALE_S + 5))
    assert reconcile().requeued == [take.id]
    assert take_record_progress(take=first, step=2, total=4, publish=False) is False  # stop rendering
    second = take_claim(take_id=take.id, worker="gpu-2:2", max_attempts=CAP)
    assert take_succeed(take=first, video="first.mp4", poster="", last_frame="", frames=1, duration_s=0.1,
                        compute_seconds=1, provenance={}) is False
    assert take_fail(take=first, error="Cancelled.", status=TakeStatus.CANCELLED) is False
    assert take_record_progress(take=second, step=1, total=4, publish=False) is True
    stored = Take.objects.get(pk=take.pk)
    assert (stored.status, stored.attempts, stored.worker, stored.video.name) == (TakeStatus.RUNNING, 2, "gpu-2:2", "")


def test_the_runner_stops_a_render_it_lost_and_the_retry_finishes_it(make_take, sent_to_broker, monkeypatch, settings,
                                                                        ffmpeg_available):
    """In the runner: the reconciler takes the render away mid-way; the runner stops without
    failing the retry, writes no file, and the resent message renders it to the end."""
    take = make_take(created_ago=900)
    real_build = render.build_backend

    class PresumedDeadHalfway:
        name = "animatic"

        def render(self, request, on_progress):
            inner = real_build("animatic")

            def progress(step, total):
                if step == total // 2:
                    later = timezone.now() + timedelta(seconds=STALE_S + 1)
                    assert reconcile(now=later).requeued == [take.id]
                on_progress(step, total)

            return inner.render(request, progress)

    monkeypatch.setattr(render, "build_backend", lambda name, **options: PresumedDeadHalfway())
    monkeypatch.setattr(renders.ProgressThrottle, "should_send", lambda self, step, total: True)
    renders.run_take(take.id)
    assert _status(take) == (TakeStatus.QUEUED, 1) and not take.video
    assert sent_to_broker == [take.id]
    assert not list(settings.MEDIA_ROOT.glob("projects/**/*.mp4"))

    monkeypatch.setattr(render, "build_backend", real_build)
    renders.run_take(take.id)
    assert _status(take) == (TakeStatus.SUCCEEDED, 2) and take.video and take.error == ""


def test_claim_and_progress_record_the_heartbeat(make_take):
    take = make_take(created_ago=900)
    before = timezone.now()
    running = take_claim(take_id=take.id, worker="w", max_attempts=CAP)
    assert running.heartbeat_at >= before
    Take.objects.filter(pk=take.pk).update(heartbeat_at=before - timedelta(hours=1))
    take_record_progress(take=running, step=1, total=2, publish=False)
    assert Take.objects.get(pk=take.pk).heartbeat_at >= before


# --- Running it -------------------------------------------------------------------------------

def test_the_report_reads_as_a_sentence():
    assert str(ReconcileReport()) == "Reconciled renders: resent (message lost) 0; requeued (worker silent) 0; failed (attempts used up) 0."
    assert "resent (message lost) 2 [takes 4, 7]" in str(ReconcileReport(resent=[4, 7]))


def test_the_command_runs_it_once_and_prints_the_report(make_take):
    take = make_take(attempts=CAP, created_ago=3600)
    out = StringIO()
    call_command("reconcile_renders", stdout=out)
    assert f"failed (attempts used up) 1 [takes {take.id}]" in out.getvalue()
    assert _status(take)[0] == TakeStatus.FAILED


def test_beat_runs_the_reconcile_task_every_minute_on_the_default_queue(settings, make_take):
    from studio.tasks import reconcile_renders
    from studio.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-renders"]
    assert entry["task"] == reconcile_renders.name and entry["task"] in app.tasks
    assert entry["schedule"] == 60.0 and entry["options"]["queue"] == settings.CELERY_TASK_DEFAULT_QUEUE
    take = make_take(attempts=CAP, created_ago=3600)
    assert "failed (attempts used up) 1" in reconcile_renders()
    assert _status(take)[0] == TakeStatus.FAILED


# --- Publish receipts on the real broker ------------------------------------------------------

@pytest.fixture
def broker_queues(settings):
    """Renders and exports go to queues of this test's own on the real Redis broker; returns a
    function counting the messages waiting in one of them (the Redis list kombu keeps)."""
    import uuid

    import redis

    from tests.conftest import _redis_answers, require

    require(_redis_answers(), "Redis")
    suffix = uuid.uuid4().hex[:8]
    settings.CONTINUITY_RENDER_QUEUE = f"test-gpu-{suffix}"
    settings.CELERY_TASK_DEFAULT_QUEUE = f"test-default-{suffix}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield lambda queue: sum(client.llen(key) for key in priority_lists(queue))
    client.delete(*priority_lists(settings.CONTINUITY_RENDER_QUEUE), *priority_lists(settings.CELERY_TASK_DEFAULT_QUEUE))


def priority_lists(queue: str) -> list[str]:
    """The Redis lists kombu keeps for one queue: one per priority step (a normal render waits in
    step 6, an urgent one in the queue's own list; settings.CELERY_BROKER_TRANSPORT_OPTIONS)."""
    return [queue] + [f"{queue}\x06\x16{step}" for step in (3, 6, 9)]


@pytest.fixture
def long_queued_takes(alice, broker_queues, settings):
    """100 takes published for real an hour ago (each message still waits behind other renders)."""
    from studio.services import dispatch

    settings.CONTINUITY_RENDER_RATE = "1000/10m"  # a batch this size, requested shot by shot
    project = project_create(owner=alice, name="Backlog", fps=12, width=160, height=90)
    scene = scene_create(project=project, actor=alice, heading="EXT. QUAY - NIGHT")
    takes = [take_request(shot=shot_create(scene=scene, actor=alice, prompt=f"lamp {n}", duration_s=1), actor=alice).take
             for n in range(100)]
    for take in takes:
        dispatch.enqueue_render(take.id)  # on_commit does not run inside a test transaction
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Take.objects.filter(pk__in=[t.id for t in takes]).update(created_at=an_hour_ago, enqueued_at=an_hour_ago)
    assert broker_queues(settings.CONTINUITY_RENDER_QUEUE) == 100
    return takes


def test_a_long_queue_still_in_the_broker_is_never_republished(long_queued_takes, broker_queues, settings):
    now = timezone.now()
    for tick in range(4):  # several runs within one interval, then runs past the grace period
        assert reconcile(now=now + timedelta(seconds=tick * 20)).resent == []
    assert reconcile(now=now + timedelta(seconds=GRACE_S * 3)).resent == []
    assert broker_queues(settings.CONTINUITY_RENDER_QUEUE) == 100


def test_messages_the_broker_lost_are_sent_again_once_each(long_queued_takes, broker_queues, settings):
    import redis

    redis.Redis.from_url(settings.REDIS_URL).delete(*priority_lists(settings.CONTINUITY_RENDER_QUEUE))  # Redis lost its data
    now = timezone.now()
    assert sorted(reconcile(now=now).resent) == sorted(t.id for t in long_queued_takes)
    for tick in range(1, 4):
        assert reconcile(now=now + timedelta(seconds=tick * 20)).resent == []
    assert reconcile(now=now + timedelta(seconds=GRACE_S * 3)).resent == []  # waiting again: not lost
    assert broker_queues(settings.CONTINUITY_RENDER_QUEUE) == 100


def test_every_message_of_a_take_carries_the_id_kept_on_the_take(make_take, broker_queues, settings, monkeypatch):
    import json

    import redis

    from studio.services import dispatch

    take = make_take(created_ago=3600)
    monkeypatch.undo()  # the real dispatch this time, not make_take's recording stand-in
    dispatch.enqueue_render(take.id)
    dispatch.enqueue_render(take.id)
    take.refresh_from_db()
    client = redis.Redis.from_url(settings.REDIS_URL)
    messages = [m for key in priority_lists(settings.CONTINUITY_RENDER_QUEUE) for m in client.lrange(key, 0, -1)]
    assert [json.loads(m)["headers"]["id"] for m in messages] == [take.task_id, take.task_id]
    assert dispatch.task_ids_in_broker([settings.CONTINUITY_RENDER_QUEUE]) >= {take.task_id}


# --- Exports ----------------------------------------------------------------------------------

@pytest.fixture
def make_export(alice, published):
    from studio.models import Export
    from studio.services.cuts import cut_create

    project = project_create(owner=alice, name="Quay", fps=12, width=160, height=90)
    cut = cut_create(project=project, actor=alice, name="Assembly", from_board=False)

    def make(*, status, attempts=1, heartbeat_ago=None, started_ago=None, created_ago=0, enqueued_ago=None) -> Export:
        now = timezone.now()
        ago = lambda seconds: None if seconds is None else now - timedelta(seconds=seconds)  # noqa: E731
        export = Export.objects.create(cut=cut, format="edl", status=status, attempts=attempts)
        Export.objects.filter(pk=export.pk).update(heartbeat_at=ago(heartbeat_ago), started_at=ago(started_ago),
                                                  created_at=ago(created_ago), enqueued_at=ago(enqueued_ago))
        return Export.objects.get(pk=export.pk)

    return make


def test_a_killed_export_is_requeued_and_sent_within_one_run(make_export, broker_queues, settings):
    from studio.models import ExportStatus

    export = make_export(status=ExportStatus.RUNNING, attempts=1, started_ago=900, heartbeat_ago=STALE_S + 30, created_ago=900)
    report = reconcile()
    assert report.exports_requeued == [export.id] and report.exports_resent == []
    export.refresh_from_db()
    assert export.status == ExportStatus.QUEUED and "no heartbeat for 5 minutes" in export.error
    assert broker_queues(settings.CELERY_TASK_DEFAULT_QUEUE) == 1 and export.enqueued_at is not None
    assert not reconcile().changed  # its message waits; nothing sent twice


def test_a_killed_export_on_its_last_attempt_fails_with_the_reason(make_export, published):
    from studio.models import ExportStatus

    export = make_export(status=ExportStatus.RUNNING, attempts=CAP, started_ago=900, heartbeat_ago=STALE_S + 30)
    assert reconcile().exports_failed == [export.id]
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED and export.finished_at is not None
    assert export.error == f"Gave up after {CAP} attempts; on the last, its worker sent no heartbeat for 5 minutes."


def test_a_running_export_with_a_fresh_heartbeat_is_left_alone(make_export):
    from studio.models import ExportStatus

    export = make_export(status=ExportStatus.RUNNING, started_ago=3600, heartbeat_ago=STALE_S - 30)
    assert not reconcile().changed
    export.refresh_from_db()
    assert export.status == ExportStatus.RUNNING


def test_a_queued_export_never_published_is_sent(make_export, broker_queues, settings):
    from studio.models import ExportStatus

    export = make_export(status=ExportStatus.QUEUED, attempts=0, created_ago=GRACE_S + 5)
    assert reconcile().exports_resent == [export.id]
    assert reconcile().exports_resent == []
    assert broker_queues(settings.CELERY_TASK_DEFAULT_QUEUE) == 1


def test_a_worker_presumed_dead_cannot_finish_the_requeued_export(make_export, broker_queues):
    from studio.models import ExportStatus
    from studio.services import exports

    export = make_export(status=ExportStatus.RUNNING, attempts=1, started_ago=900, heartbeat_ago=STALE_S + 30)
    stale_worker_view = type(export).objects.get(pk=export.pk)
    reconcile()
    exports._finish(stale_worker_view, ExportStatus.SUCCEEDED, file="late.edl")
    exports.ExportProgress(stale_worker_view)(1, 2)
    export.refresh_from_db()
    assert export.status == ExportStatus.QUEUED and export.file == "" and export.heartbeat_at < timezone.now() - timedelta(seconds=STALE_S)


def test_an_export_claim_counts_the_attempt_and_beats(make_export, monkeypatch):
    from studio.models import ExportStatus
    from studio.services import exports

    export = make_export(status=ExportStatus.QUEUED, attempts=1)
    monkeypatch.setattr(exports, "_write", lambda export, on_progress: (on_progress(1, 1), ("x.edl", []))[1])
    exports.export_run(export_id=export.id)
    export.refresh_from_db()
    assert (export.status, export.attempts, export.file) == (ExportStatus.SUCCEEDED, 2, "x.edl")
    assert export.started_at is not None and export.heartbeat_at >= export.started_at
