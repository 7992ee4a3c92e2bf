"""The one module that talks to the channel layer.

The database is the truth and events are hints: callers save first, then publish. Events are sent
after the transaction commits, each with a per-project sequence number, so a browser that sees a
gap (or reconnects) refetches the snapshot instead of trusting a partial stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
import time
import weakref
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection, transaction

from studio.models import Project

logger = logging.getLogger(__name__)


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


def publish(project_id: int, event_type: str, payload: dict[str, Any], *, progress_only: bool = False,
            coalesce: str | None = None) -> None:
    """Publish an event to everyone watching the project, once the current transaction commits.

    `progress_only`: the event only moves a progress bar, so pages cached under the project's
    content_seq stay valid (see Project.content_seq).
    `coalesce`: a key for the thing the event is about (e.g. "take:12"). Progress events with a key
    are coalesced: within CONTINUITY_PROGRESS_COALESCE_S of the last one sent for that key, only
    the latest value is kept and sent when the window ends. Any other event with the key (a final
    state, a new status) is sent at once, right after the tick still waiting: final states are
    never coalesced away, and no progress value follows them."""
    if coalesce is None:
        transaction.on_commit(lambda: send_now(project_id, event_type, payload, progress_only=progress_only))
    elif progress_only:
        transaction.on_commit(lambda: _coalescer.offer(coalesce, project_id, event_type, payload))
    else:
        transaction.on_commit(lambda: _coalescer.supersede_and_send(coalesce, project_id, event_type, payload))


def encoded(event: dict[str, Any]) -> str:
    """An event as its sockets receive it: compact JSON, encoded once by the sender and forwarded
    as it is by every socket (not once per socket)."""
    return json.dumps(event, separators=(",", ":"))


def send_now(project_id: int, event_type: str, payload: dict[str, Any], *, progress_only: bool = False) -> int | None:
    """Number the event and send it: one group send per event, whatever the number of sockets.
    A lost send is logged, never raised: the DB already has it."""
    seq = next_sequence(project_id, progress_only=progress_only)
    event = {"type": event_type, "seq": seq, **payload}
    message = {"type": "project.event", "event": event, "text": encoded(event)}
    try:
        _publisher.group_send(project_group(project_id), message)
    except Exception:  # the channel layer is down: clients will see the gap and resync
        logger.warning("could not publish %s for project %s", event_type, project_id, exc_info=True)
    return seq


class _Coalescer:
    """Latest progress value wins per key within a short window (leading edge sent at once, the
    latest of the rest when the window closes). Numbered when sent, so skipped values leave no
    gap in the sequence. The trailing sends run on one daemon thread per process."""

    def __init__(self):
        self._lock = threading.Condition()
        self._last_sent: dict[str, float] = {}
        self._pending: dict[str, tuple[float, int, str, dict[str, Any]]] = {}
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    @staticmethod
    def window() -> float:
        return float(getattr(settings, "CONTINUITY_PROGRESS_COALESCE_S", 0.1))

    def offer(self, key: str, project_id: int, event_type: str, payload: dict[str, Any]) -> None:
        window = self.window()
        with self._lock:
            now = time.monotonic()
            last = self._last_sent.get(key)
            if key not in self._pending and (last is None or now - last >= window or window <= 0):
                self._last_sent[key] = now
                self._forget_old(now, window)
                send = True
            else:
                due = self._pending[key][0] if key in self._pending else (last or now) + window
                self._pending[key] = (due, project_id, event_type, payload)
                self._ensure_thread()
                self._lock.notify()
                send = False
        if send:
            send_now(project_id, event_type, payload, progress_only=True)

    def supersede_and_send(self, key: str, project_id: int, event_type: str, payload: dict[str, Any]) -> None:
        """A state change: the tick still waiting goes first (the last progress is always sent, in
        order), then the change itself, at once."""
        with self._lock:
            waiting = self._pending.pop(key, None)
            self._last_sent.pop(key, None)
        if waiting is not None:
            _due, tick_project, tick_type, tick_payload = waiting
            send_now(tick_project, tick_type, tick_payload, progress_only=True)
        send_now(project_id, event_type, payload)

    def _forget_old(self, now: float, window: float) -> None:
        if len(self._last_sent) > 1000:
            self._last_sent = {k: t for k, t in self._last_sent.items() if now - t < window}

    def _ensure_thread(self) -> None:
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="continuity-coalesce", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._lock.wait()
                now = time.monotonic()
                due = [(k, v) for k, v in self._pending.items() if v[0] <= now]
                if not due:
                    self._lock.wait(min(v[0] for v in self._pending.values()) - now)
                    continue
                for key, _ in due:
                    del self._pending[key]
                    self._last_sent[key] = now
            close_old_connections()
            for _key, (_due, project_id, event_type, payload) in due:
                try:
                    send_now(project_id, event_type, payload, progress_only=True)
                except Exception:  # the database is the truth; a heartbeat or resync repairs it
                    logger.warning("could not send coalesced %s for project %s", event_type, project_id, exc_info=True)
            with self._lock:
                idle = not self._pending
            if idle:  # no connection left open while nothing waits (a test database can be dropped)
                connection.close()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until nothing is pending (for tests and benches)."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # the last one taken is being sent


_coalescer = _Coalescer()


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


# --- Presence: who is where. Ephemeral (kept in Redis by studio/presence.py), so not numbered. ---
# Deltas only: a join or a leave is one group send that every socket forwards as it is; nobody
# answers it. The full list travels in each socket's snapshot.

def connection_id(channel_name: str) -> str:
    """Clients see an opaque per-connection id, not our channel names."""
    return hashlib.sha256(channel_name.encode()).hexdigest()[:12]


async def join_project(project_id: int, channel_name: str) -> None:
    """Subscribe a socket to its project's events (before its snapshot, so nothing falls between)."""
    await get_channel_layer().group_add(project_group(project_id), channel_name)


async def leave_project(project_id: int, channel_name: str) -> None:
    await get_channel_layer().group_discard(project_group(project_id), channel_name)


async def presence_changed(project_id: int, op: str, entry: dict[str, Any]) -> None:
    """A join or a leave (`op`), batched: see _PresenceBatcher."""
    _presence_batcher.add(project_id, {"op": op, **entry})


PRESENCE_BATCH_S = 0.25


class _PresenceBatcher:
    """The joins and leaves a server process sees within PRESENCE_BATCH_S go out as one group send,
    {"type": "presence", "ops": [{"op", "c", "u", "n", "i", "r"}, ...]}. When 500 people open the
    board at once, one delta per join is 500 x 500 frames to write and parse; batched, a few dozen
    messages carry them all (BENCHMARKS.md, issue 15). Presence is a courtesy shown to people, so a
    quarter of a second is not noticed. A socket's own join may be in a batch it receives: clients
    know their own connection id from the snapshot. One buffer per event loop (a test's loop or a
    server's): a send is scheduled on the loop whose sockets caused it."""

    def __init__(self):
        self._pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, list]] = weakref.WeakKeyDictionary()

    def add(self, project_id: int, op: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        pending = self._pending.setdefault(loop, {})
        if project_id not in pending:
            pending[project_id] = []
            loop.call_later(PRESENCE_BATCH_S, lambda: loop.create_task(self._send(loop, project_id)))
        pending[project_id].append(op)

    async def _send(self, loop: asyncio.AbstractEventLoop, project_id: int) -> None:
        ops = self._pending.get(loop, {}).pop(project_id, [])
        if not ops:
            return
        event = {"type": "presence", "ops": ops}
        message = {"type": "presence.message", "event": event, "text": encoded(event)}
        try:
            await get_channel_layer().group_send(project_group(project_id), message)
        except Exception:  # presence is a courtesy; the next snapshot has the truth
            logger.info("presence of project %s dropped: the layer refused it", project_id, exc_info=True)


_presence_batcher = _PresenceBatcher()
