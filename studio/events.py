"""The one module that talks to the channel layer.

The database is the truth and events are hints: callers save first, then publish. Events are sent
after the transaction commits, each with a per-project sequence number, so a browser that sees a
gap (or reconnects) refetches the snapshot instead of trusting a partial stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.db import connection, transaction

from studio.models import Project

logger = logging.getLogger(__name__)


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


def publish(project_id: int, event_type: str, payload: dict[str, Any], *, progress_only: bool = False) -> None:
    """Publish an event to everyone watching the project, once the current transaction commits.

    `progress_only`: the event only moves a progress bar, so pages cached under the project's
    content_seq stay valid (see Project.content_seq)."""
    transaction.on_commit(lambda: send_now(project_id, event_type, payload, progress_only=progress_only))


def send_now(project_id: int, event_type: str, payload: dict[str, Any], *, progress_only: bool = False) -> int | None:
    """Number the event and send it. A lost send is logged, never raised: the DB already has it."""
    seq = next_sequence(project_id, progress_only=progress_only)
    message = {"type": "project.event", "event": {"type": event_type, "seq": seq, **payload}}
    try:
        _publisher.group_send(project_group(project_id), message)
    except Exception:  # the channel layer is down: clients will see the gap and resync
        logger.warning("could not publish %s for project %s", event_type, project_id, exc_info=True)
    return seq


def next_sequence(project_id: int, *, progress_only: bool = False) -> int:
    # One statement, so concurrent publishers (web and workers) never share a number.
    table = Project._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET event_seq = event_seq + 1, content_seq = content_seq + %s WHERE id = %s RETURNING event_seq",
            [0 if progress_only else 1, project_id],
        )
        return cursor.fetchone()[0]


class _Publisher:
    """Sends from synchronous code (views, services, Celery workers) on one long-lived event loop
    per process. async_to_sync would build a loop, a thread and a Redis connection per event,
    which is most of a progress event's latency. Started lazily, so a forked worker child gets
    its own."""

    SEND_TIMEOUT_S = 5

    def __init__(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def group_send(self, group: str, message: dict[str, Any]) -> None:
        future = asyncio.run_coroutine_threadsafe(get_channel_layer().group_send(group, message), self._running_loop())
        future.result(timeout=self.SEND_TIMEOUT_S)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop, self._pid = asyncio.new_event_loop(), os.getpid()
                threading.Thread(target=self._loop.run_forever, name="continuity-events", daemon=True).start()
            return self._loop


_publisher = _Publisher()


def current_sequence(project_id: int) -> int:
    return Project.objects.filter(pk=project_id).values_list("event_seq", flat=True).get()


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def notify_user(user_id: int, payload: dict[str, Any]) -> None:
    """A hint to every open socket of one person (their notifications), after commit. Not
    numbered: it is not part of any project's stream, and the bell refetches its count."""
    message = {"type": "project.event", "event": payload}

    def send() -> None:
        try:
            _publisher.group_send(user_group(user_id), message)
        except Exception:
            logger.warning("could not tell user %s about a notification", user_id, exc_info=True)

    transaction.on_commit(send)


async def join_user(user_id: int, channel_name: str) -> None:
    await get_channel_layer().group_add(user_group(user_id), channel_name)


async def leave_user(user_id: int, channel_name: str) -> None:
    await get_channel_layer().group_discard(user_group(user_id), channel_name)


def close_member_sockets(project_id: int, user_id: int) -> None:
    """Ask every open socket of this user on this project to close (membership removed)."""
    message = {"type": "member.removed", "user_id": user_id}
    transaction.on_commit(lambda: _publisher.group_send(project_group(project_id), message))


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
    """Tell a newcomer that this socket is here too. Presence is a courtesy: if the newcomer's
    queue is full (a crowd joining at once), the answer is dropped rather than the socket."""
    try:
        await get_channel_layer().send(reply_to, _presence("presence.here", channel_name, username))
    except ChannelFull:
        logger.info("presence answer dropped: %s is busy", reply_to)
