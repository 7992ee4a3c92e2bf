"""Bring back renders that a lost message or a dead worker left behind, so none is lost.

Runs every minute (Celery beat -> the task named generation.tasks.reconcile_renders in
studio/tasks.py) or once with `manage.py reconcile_renders`. It reads the takes table, never
the broker (which cannot be searched cheaply), and decides from the liveness stamps the take keeps:

- queued past the grace period and not sent in the last grace period: its message was lost
  (the broker was down at commit, the web process died before sending, Redis lost its data),
  so it is sent again;
- running with no heartbeat for the stale threshold: its worker died (a kill, a lost machine,
  an out-of-memory kill of the whole worker), so it is requeued and sent again, or failed once
  its attempts are used up;
- queued with its attempts used up: it kept crashing its workers, so it is failed.

Each change goes through studio.services.renders and is conditional on the row still being as it
was read (status, attempt, no newer heartbeat), so a worker that beats or a delivery that claims
at the same moment wins, and two reconcilers at once do no harm. A message sent twice is harmless
too: only one delivery can claim a queued take.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from studio.models import Take, TakeStatus
from studio.services import renders

logger = logging.getLogger(__name__)

BATCH = 500  # takes looked at per kind per run; a backlog larger than this drains over a few runs


@dataclass
class ReconcileReport:
    resent: list[int] = field(default_factory=list)  # queued takes whose message was sent again
    requeued: list[int] = field(default_factory=list)  # running takes of a dead worker, sent again
    failed: list[int] = field(default_factory=list)  # takes that used up their attempts

    @property
    def changed(self) -> bool:
        return bool(self.resent or self.requeued or self.failed)

    def __str__(self) -> str:
        parts = [_count("resent (message lost)", self.resent), _count("requeued (worker silent)", self.requeued),
                 _count("failed (attempts used up)", self.failed)]
        return "Reconciled renders: " + "; ".join(parts) + "."


def _count(what: str, ids: list[int]) -> str:
    return f"{what} {len(ids)}" + (f" [takes {', '.join(map(str, ids))}]" if ids else "")


def reconcile(now: datetime | None = None) -> ReconcileReport:
    now = now or timezone.now()
    max_attempts = settings.CONTINUITY_MAX_RENDER_ATTEMPTS
    report = ReconcileReport()
    # Order matters: exhausted takes are failed before anything could resend them, and takes
    # requeued here are stamped as just sent, so the lost-message pass leaves them alone.
    _fail_exhausted(max_attempts, report)
    _recover_silent_renders(now, max_attempts, report)
    _resend_lost_messages(now, max_attempts, report)
    if report.changed:
        logger.warning("%s", report)
    return report


def _fail_exhausted(max_attempts: int, report: ReconcileReport) -> None:
    for take in Take.objects.filter(status=TakeStatus.QUEUED, attempts__gte=max_attempts).order_by("id")[:BATCH]:
        error = f"Gave up after {take.attempts} attempts; the render kept stopping its worker."
        if renders.take_fail(take=take, error=error):
            report.failed.append(take.id)


def _recover_silent_renders(now: datetime, max_attempts: int, report: ReconcileReport) -> None:
    stale_s = settings.CONTINUITY_STALE_HEARTBEAT_S
    stale_before = now - timedelta(seconds=stale_s)
    silent = Take.objects.filter(status=TakeStatus.RUNNING).filter(
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True, started_at__lt=stale_before)
    )
    for take in silent.order_by("id")[:BATCH]:
        silence = f"its worker sent no heartbeat for {_duration(stale_s)}"
        if take.attempts < max_attempts:
            if renders.take_requeue(take=take, reason=f"Retrying: {silence}.", stale_before=stale_before):
                renders.take_resend(take=take)
                report.requeued.append(take.id)
        else:
            error = f"Gave up after {take.attempts} attempts; on the last, {silence}."
            if renders.take_fail(take=take, error=error, stale_before=stale_before):
                report.failed.append(take.id)


def _resend_lost_messages(now: datetime, max_attempts: int, report: ReconcileReport) -> None:
    sent_before = now - timedelta(seconds=settings.CONTINUITY_LOST_MESSAGE_GRACE_S)
    lost = Take.objects.filter(status=TakeStatus.QUEUED, attempts__lt=max_attempts, created_at__lt=sent_before).filter(
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=sent_before)
    ).exclude(pk__in=report.requeued)  # sent a moment ago
    for take in lost.order_by("id")[:BATCH]:
        if renders.take_resend(take=take):
            report.resent.append(take.id)


def _duration(seconds: int) -> str:
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} s"
