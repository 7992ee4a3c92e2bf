"""Thin Celery tasks: take ids, call one studio service.

The names keep their engine-era spelling ("generation.tasks.*", see services/dispatch.py) so that
messages queued before an upgrade still route to these functions.
"""

from celery import shared_task
from celery.signals import worker_process_init

from studio import events
from studio.services import dispatch, exports, identity, reconcile, renders, webhooks, workers


@shared_task(bind=True, name=dispatch.RENDER_TAKE, acks_late=True, reject_on_worker_lost=True)
def render_take(self, take_id: int) -> None:
    delivery = self.request.delivery_info or {}
    renders.run_take(take_id, redelivered=bool(delivery.get("redelivered")))


@shared_task(name=dispatch.EXPORT_CUT, acks_late=True, reject_on_worker_lost=True)
def export_cut(export_id: int) -> None:
    exports.export_run(export_id=export_id)


@shared_task(name=dispatch.RECONCILE_RENDERS, ignore_result=True)
def reconcile_renders() -> str:
    """Beat's minute tick (settings.CELERY_BEAT_SCHEDULE); safe to run anywhere, any number of times."""
    webhooks.deliveries_resend_overdue()  # lost webhook messages ride on the same tick
    return str(reconcile.reconcile())


@shared_task(name=dispatch.DELIVER_WEBHOOK, acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> None:
    """One attempt; the service schedules the next one itself (settings.CONTINUITY_WEBHOOK_RETRY_DELAYS)."""
    webhooks.delivery_attempt(delivery_id=delivery_id)


@shared_task(name=dispatch.SCORE_TAKE_IDENTITY, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def score_take_identity(take_id: int) -> None:
    """After a take succeeded (services/renders.py take_succeed): score it against its cast."""
    identity.take_score_identity(take_id)


@worker_process_init.connect
def report_worker_ready(**_kwargs) -> None:
    """Each worker process appears on the Workers page as soon as it can take work."""
    workers.worker_report(state="idle")


@worker_process_init.connect
def prepare_live_events(**_kwargs) -> None:
    """The first progress event of a worker process goes out as fast as the next ones."""
    events.prepare_publisher()
