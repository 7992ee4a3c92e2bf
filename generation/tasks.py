"""Thin Celery tasks: take ids, call the runner."""

from celery import shared_task

from generation import runner


@shared_task(bind=True, name="generation.tasks.render_take", acks_late=True, reject_on_worker_lost=True)
def render_take(self, take_id: int) -> None:
    delivery = self.request.delivery_info or {}
    runner.run_take(take_id, redelivered=bool(delivery.get("redelivered")))


@shared_task(name="generation.tasks.export_cut", acks_late=True, reject_on_worker_lost=True)
def export_cut(export_id: int) -> None:
    runner.run_export(export_id)


@shared_task(name="generation.tasks.reconcile_renders", ignore_result=True)
def reconcile_renders() -> str:
    """Beat's minute tick (settings.CELERY_BEAT_SCHEDULE); safe to run anywhere, any number of times."""
    from generation.reconcile import reconcile

    return str(reconcile())
