"""The one module that talks to the channel layer.

The database is the truth and events are hints: callers save first, then publish. Events are sent
after the transaction commits, each with a per-project sequence number, so a browser that sees a
gap (or reconnects) refetches the snapshot instead of trusting a partial stream.
"""

from __future__ import annotations

import hashlib
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


# --- Presence: who has the project open. Ephemeral, so not numbered and never stored. -----------

def _presence(kind: str, channel_name: str, username: str) -> dict[str, Any]:
    # Clients see an opaque per-connection id, not our channel names.
    connection = hashlib.sha256(channel_name.encode()).hexdigest()[:12]
    return {"type": "presence.message", "event": {"type": kind, "connection": connection, "user": username}}


async def join_project(project_id: int, channel_name: str, username: str) -> None:
    """Subscribe a socket to its project's events and tell the others it arrived."""
    layer = get_channel_layer()
    await layer.group_add(project_group(project_id), channel_name)
    await layer.group_send(project_group(project_id), {**_presence("presence.join", channel_name, username), "reply_to": channel_name})


async def leave_project(project_id: int, channel_name: str, username: str) -> None:
    layer = get_channel_layer()
    await layer.group_discard(project_group(project_id), channel_name)
    await layer.group_send(project_group(project_id), _presence("presence.leave", channel_name, username))


async def answer_presence(reply_to: str, channel_name: str, username: str) -> None:
    """Tell a newcomer that this socket is here too."""
    await get_channel_layer().send(reply_to, _presence("presence.here", channel_name, username))
