"""Hands work to the Celery workers, by task name.

Services send tasks by name rather than importing studio/tasks.py, because the tasks import the
services they run (one arrow, no cycle), and a web process never needs the task code. The names
are stable across releases: messages already queued on a running install must still route, so
they keep the engine-era "generation.tasks.*" spelling.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from studio.celery import app
from studio.models import Take

RENDER_TAKE = "generation.tasks.render_take"
EXPORT_CUT = "generation.tasks.export_cut"
RECONCILE_RENDERS = "generation.tasks.reconcile_renders"
DELIVER_WEBHOOK = "studio.tasks.deliver_webhook"
SCORE_TAKE_IDENTITY = "studio.tasks.score_take_identity"


def enqueue_render(take_id: int) -> None:
    result = _send(RENDER_TAKE, take_id, queue=settings.CONTINUITY_RENDER_QUEUE)
    Take.objects.filter(pk=take_id, task_id="").update(task_id=result.id or "")
    # Only after the broker took it: a take queued with no enqueued_at lost its message for sure.
    Take.objects.filter(pk=take_id).update(enqueued_at=timezone.now())


def enqueue_export(export_id: int) -> None:
    _send(EXPORT_CUT, export_id, queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def enqueue_webhook_delivery(delivery_id: int, *, countdown: float = 0) -> None:
    _send(DELIVER_WEBHOOK, delivery_id, queue=settings.CELERY_TASK_DEFAULT_QUEUE, countdown=countdown)


def enqueue_identity(take_id: int) -> None:
    """Identity scoring of a finished take, on its own queue: never behind a render, never on a GPU."""
    _send(SCORE_TAKE_IDENTITY, take_id, queue=settings.CONTINUITY_IDENTITY_QUEUE)


def _send(name: str, object_id: int, *, queue: str, countdown: float = 0):
    if app.conf.task_always_eager:  # CELERY_TASK_ALWAYS_EAGER: run it here and now, no worker
        app.loader.import_default_modules()  # what a worker does at start: autodiscover studio/tasks.py
        return app.tasks[name].apply_async(args=[object_id], queue=queue, countdown=countdown or None)
    return app.send_task(name, args=[object_id], queue=queue, countdown=countdown or None)
