"""Bring back renders and exports that a lost message or a dead worker left behind, so none is lost.

Runs every minute (Celery beat -> the task named generation.tasks.reconcile_renders in
studio/tasks.py) or once with `manage.py reconcile_renders`. It decides from the liveness stamps
each take keeps, and reads the broker (once per run) only to ask whether old messages still wait:

- queued past the grace period with no publish receipt (`enqueued_at`, set by
  services/dispatch.py once the broker took the message): it was never published (the broker was
  down at commit, the web process died before sending), so it is sent;
- queued with a receipt older than the grace period whose message the broker no longer holds
  (services/dispatch.task_ids_in_broker: one read of the queue per run; Redis lost its data): it
  is sent again. A long queue whose messages are still waiting is never republished. A broker that
  cannot be read that way falls back to the receipt's age. Either way a message is sent at most
  once per take per reconcile interval (the receipt is renewed by each send);
- running with no heartbeat for the stale threshold: its worker died (a kill, a lost machine,
  an out-of-memory kill of the whole worker), so it is requeued and sent again, or failed once
  its attempts are used up;
- queued with its attempts used up: it kept crashing its workers, so it is failed.

Exports get the same three passes (an export is claimed, beats with its progress and is fenced by
its attempt number in services/exports.py), so an export whose worker died is retried or failed
within one interval after its heartbeat goes stale, instead of "running" forever.

Each change goes through studio.services.renders and is conditional on the row still being as it
was read (status, attempt, no newer heartbeat), so a worker that beats or a delivery that claims
at the same moment wins, and two reconcilers at once do no harm. A message sent twice is harmless
too: only one delivery can claim a queued take.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from studio.models import Export, ExportStatus, Take, TakeStatus
from studio.services import dispatch, exports, renders

logger = logging.getLogger(__name__)

BATCH = 500  # takes looked at per kind per run; a backlog larger than this drains over a few runs


@dataclass
class ReconcileReport:
    resent: list[int] = field(default_factory=list)  # queued takes whose message was sent again
    requeued: list[int] = field(default_factory=list)  # running takes of a dead worker, sent again
    failed: list[int] = field(default_factory=list)  # takes that used up their attempts
    exports_resent: list[int] = field(default_factory=list)
    exports_requeued: list[int] = field(default_factory=list)
    exports_failed: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.resent or self.requeued or self.failed or self.exports_resent or self.exports_requeued
                    or self.exports_failed)

    def __str__(self) -> str:
        parts = [_count("resent (message lost)", self.resent), _count("requeued (worker silent)", self.requeued),
                 _count("failed (attempts used up)", self.failed)]
        text = "Reconciled renders: " + "; ".join(parts) + "."
        if self.exports_resent or self.exports_requeued or self.exports_failed:
            parts = [_count("resent", self.exports_resent, "exports"), _count("requeued", self.exports_requeued, "exports"),
                     _count("failed", self.exports_failed, "exports")]
            text += " Exports: " + "; ".join(parts) + "."
        return text


def _count(what: str, ids: list[int], noun: str = "takes") -> str:
    return f"{what} {len(ids)}" + (f" [{noun} {', '.join(map(str, ids))}]" if ids else "")


@dataclass(frozen=True)
class _Job:
    """What the three passes need to know of one kind of queued work (a take's render, an export)."""

    model: type
    queued: str
    running: str
    what: str  # how the messages name it: "render", "export"
    queue: Callable[[], str]
    fail: Callable[..., bool]
    requeue: Callable[..., bool]
    resend: Callable[..., bool]
    report: tuple[str, str, str]  # the ReconcileReport lists: resent, requeued, failed
    silent_too: Q = Q(pk__in=[])  # more rows that count as silent (an export claimed before liveness)


RENDERS = _Job(
    Take, TakeStatus.QUEUED, TakeStatus.RUNNING, "render", lambda: settings.CONTINUITY_RENDER_QUEUE,
    fail=lambda row, **kw: renders.take_fail(take=row, **kw),
    requeue=lambda row, **kw: renders.take_requeue(take=row, **kw),
    resend=lambda row: renders.take_resend(take=row),
    report=("resent", "requeued", "failed"),
)
EXPORTS = _Job(
    Export, ExportStatus.QUEUED, ExportStatus.RUNNING, "export", lambda: settings.CELERY_TASK_DEFAULT_QUEUE,
    fail=lambda row, **kw: exports.export_fail(export=row, **kw),
    requeue=lambda row, **kw: exports.export_requeue(export=row, **kw),
    resend=lambda row: exports.export_resend(export=row),
    report=("exports_resent", "exports_requeued", "exports_failed"),
    silent_too=Q(heartbeat_at__isnull=True, started_at__isnull=True),  # with created_at, below
)


def reconcile(now: datetime | None = None) -> ReconcileReport:
    now = now or timezone.now()
    max_attempts = settings.CONTINUITY_MAX_RENDER_ATTEMPTS
    report = ReconcileReport()
    # Order matters: exhausted rows are failed before anything could resend them, and rows
    # requeued here are stamped as just sent, so the lost-message pass leaves them alone.
    for job in (RENDERS, EXPORTS):
        _fail_exhausted(job, max_attempts, report)
        _recover_silent(job, now, max_attempts, report)
        _resend_lost_messages(job, now, max_attempts, report)
    if report.changed:
        logger.warning("%s", report)
    return report


def _fail_exhausted(job: _Job, max_attempts: int, report: ReconcileReport) -> None:
    failed = getattr(report, job.report[2])
    for row in job.model.objects.filter(status=job.queued, attempts__gte=max_attempts).order_by("id")[:BATCH]:
        error = f"Gave up after {row.attempts} attempts; the {job.what} kept stopping its worker."
        if job.fail(row, error=error):
            failed.append(row.id)


def _recover_silent(job: _Job, now: datetime, max_attempts: int, report: ReconcileReport) -> None:
    stale_s = settings.CONTINUITY_STALE_HEARTBEAT_S
    stale_before = now - timedelta(seconds=stale_s)
    silent = job.model.objects.filter(status=job.running).filter(
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True, started_at__lt=stale_before)
        | (job.silent_too & Q(created_at__lt=stale_before))
    )
    requeued, failed = getattr(report, job.report[1]), getattr(report, job.report[2])
    for row in silent.order_by("id")[:BATCH]:
        silence = f"its worker sent no heartbeat for {_duration(stale_s)}"
        if row.attempts < max_attempts:
            if job.requeue(row, reason=f"Retrying: {silence}.", stale_before=stale_before):
                job.resend(row)
                requeued.append(row.id)
        else:
            error = f"Gave up after {row.attempts} attempts; on the last, {silence}."
            if job.fail(row, error=error, stale_before=stale_before):
                failed.append(row.id)


def _resend_lost_messages(job: _Job, now: datetime, max_attempts: int, report: ReconcileReport) -> None:
    resent, requeued = getattr(report, job.report[0]), getattr(report, job.report[1])
    queued = job.model.objects.filter(status=job.queued, attempts__lt=max_attempts).exclude(pk__in=requeued)
    for row in _lost(queued, now, [job.queue()]):
        if job.resend(row):
            resent.append(row.id)


def _lost(queued, now: datetime, queues: list[str]) -> list:
    """Queued rows whose message is lost: never published (no receipt) past the grace period, or
    published before it and no longer in the broker. The broker is read only when a row needs it."""
    grace_s = settings.CONTINUITY_LOST_MESSAGE_GRACE_S
    sent_before = now - timedelta(seconds=max(grace_s, settings.CONTINUITY_RECONCILE_INTERVAL_S))
    candidates = list(queued.filter(created_at__lt=now - timedelta(seconds=grace_s)).filter(
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=sent_before)
    ).order_by("id")[:BATCH])
    if not any(row.enqueued_at for row in candidates):
        return candidates
    waiting = dispatch.task_ids_in_broker(queues)  # None: this broker cannot say; trust the receipt's age
    return [row for row in candidates if row.enqueued_at is None or waiting is None or row.task_id not in waiting]


def _duration(seconds: int) -> str:
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} s"
