"""Hands work to the Celery workers, by task name, and tells the reconciler what the broker holds.

Services send tasks by name rather than importing studio/tasks.py, because the tasks import the
services they run (one arrow, no cycle), and a web process never needs the task code. The names
are stable across releases: messages already queued on a running install must still route, so
they keep the engine-era "generation.tasks.*" spelling.

Every message for one take (or export) carries the same task id, kept on the row, and the row's
`enqueued_at` is its publish receipt: set only once the broker accepted the message. So the
reconciler can tell "never published" (no receipt) from "published and still waiting" (its id is
in the broker) from "published and lost" (a receipt, but the broker no longer has it).
"""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.utils import timezone

from studio.celery import app
from studio.models import Export, Take

RENDER_TAKE = "generation.tasks.render_take"
EXPORT_CUT = "generation.tasks.export_cut"
RECONCILE_RENDERS = "generation.tasks.reconcile_renders"
DELIVER_WEBHOOK = "studio.tasks.deliver_webhook"
SCORE_TAKE_IDENTITY = "studio.tasks.score_take_identity"

# Where a render waits on the GPU queue. kombu's Redis transport keeps one list per priority step
# (settings.CELERY_BROKER_TRANSPORT_OPTIONS["priority_steps"]) and a worker reads them lowest number
# first, so an urgent take (0) starts before every normal one (6) already waiting, whatever the
# worker's -Q says. Measured against two queues gpu-urgent/gpu in bench/bench_gpu_priority.py:
# both put one urgent take next, but a burst of urgent takes is interleaved 1:1 with normal ones by
# the two queues (the transport round-robins between queues) and kept together by the steps.
RENDER_PRIORITY = {"urgent": 0, "normal": 6}

# kombu's Redis transport keeps a queue's priority levels in lists named "<queue>\x06\x16<level>".
_PRIORITY_SEPARATOR = "\x06\x16"


def enqueue_render(take_id: int) -> None:
    priority = Take.objects.filter(pk=take_id).values_list("priority", flat=True).first() or "normal"
    _publish(Take, RENDER_TAKE, take_id, queue=settings.CONTINUITY_RENDER_QUEUE, priority=RENDER_PRIORITY[priority])


def enqueue_export(export_id: int) -> None:
    _publish(Export, EXPORT_CUT, export_id, queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def enqueue_webhook_delivery(delivery_id: int, *, countdown: float = 0) -> None:
    _send(DELIVER_WEBHOOK, delivery_id, queue=settings.CELERY_TASK_DEFAULT_QUEUE, countdown=countdown)


def enqueue_identity(take_id: int) -> None:
    """Identity scoring of a finished take, on its own queue: never behind a render, never on a GPU."""
    _send(SCORE_TAKE_IDENTITY, take_id, queue=settings.CONTINUITY_IDENTITY_QUEUE)


def _publish(model, name: str, object_id: int, *, queue: str, priority: int | None = None) -> None:
    task_id = model.objects.filter(pk=object_id).values_list("task_id", flat=True).first() or str(uuid.uuid4())
    model.objects.filter(pk=object_id, task_id="").update(task_id=task_id)
    _send(name, object_id, queue=queue, task_id=task_id, priority=priority)
    # The receipt, only after the broker took it: a row with no enqueued_at lost its message for sure.
    model.objects.filter(pk=object_id).update(enqueued_at=timezone.now())


def _send(name: str, object_id: int, *, queue: str, task_id: str | None = None, countdown: float = 0,
          priority: int | None = None):
    options = {"queue": queue, "task_id": task_id, "countdown": countdown or None, "priority": priority}
    if app.conf.task_always_eager:  # CELERY_TASK_ALWAYS_EAGER: run it here and now, no worker
        app.loader.import_default_modules()  # what a worker does at start: autodiscover studio/tasks.py
        return app.tasks[name].apply_async(args=[object_id], **options)
    return app.send_task(name, args=[object_id], **options)


def task_ids_in_broker(queues: list[str]) -> set[str] | None:
    """The task ids of every message the broker still holds for these queues: waiting (each
    queue's lists, any priority level) or delivered to a worker and not yet acknowledged.

    None when the broker cannot be read this way (not Redis, or eager mode): the caller must then
    fall back to the receipt's age. One read per reconcile run, not one per take.
    """
    if app.conf.task_always_eager:
        return None
    with app.connection_for_read() as connection:
        if connection.transport.driver_type != "redis":
            return None
        channel = connection.default_channel
        client = channel.client
        raw = []
        for queue in queues:
            for key in client.scan_iter(match=_escape_glob(queue) + "*", count=1000):
                key = key.decode() if isinstance(key, bytes) else key
                if (key == queue or key.startswith(queue + _PRIORITY_SEPARATOR)) and client.type(key) in (b"list", "list"):
                    raw.extend(client.lrange(key, 0, -1))
        unacked = [json.loads(value)[0] for value in client.hvals(channel.unacked_key)]
    return {_message_id(json.loads(item)) for item in raw} | {_message_id(message) for message in unacked}


def _message_id(message: dict) -> str:
    return (message.get("headers") or {}).get("id") or (message.get("properties") or {}).get("correlation_id", "")


def _escape_glob(name: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in name)
