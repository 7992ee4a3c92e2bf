"""The one module that talks to the channel layer.

The database is the truth and events are hints: callers save first, then publish. Events are sent
after the transaction commits, each with a per-project sequence number, so a browser that sees a
gap (or reconnects) refetches the snapshot instead of trusting a partial stream.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F

from studio.models import Project

logger = logging.getLogger(__name__)


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


def publish(project_id: int, event_type: str, payload: dict[str, Any]) -> None:
    """Publish an event to everyone watching the project, once the current transaction commits."""
    transaction.on_commit(lambda: send_now(project_id, event_type, payload))


def send_now(project_id: int, event_type: str, payload: dict[str, Any]) -> int | None:
    """Number the event and send it. A lost send is logged, never raised: the DB already has it."""
    seq = next_sequence(project_id)
    message = {"type": "project.event", "event": {"type": event_type, "seq": seq, **payload}}
    try:
        async_to_sync(get_channel_layer().group_send)(project_group(project_id), message)
    except Exception:  # the channel layer is down: clients will see the gap and resync
        logger.warning("could not publish %s for project %s", event_type, project_id, exc_info=True)
    return seq


def next_sequence(project_id: int) -> int:
    with transaction.atomic():
        Project.objects.filter(pk=project_id).update(event_seq=F("event_seq") + 1)
        return Project.objects.filter(pk=project_id).values_list("event_seq", flat=True).get()


def current_sequence(project_id: int) -> int:
    return Project.objects.filter(pk=project_id).values_list("event_seq", flat=True).get()


def close_member_sockets(project_id: int, user_id: int) -> None:
    """Ask every open socket of this user on this project to close (membership removed)."""
    message = {"type": "member.removed", "user_id": user_id}
    transaction.on_commit(lambda: async_to_sync(get_channel_layer().group_send)(project_group(project_id), message))
