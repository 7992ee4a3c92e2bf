"""The one module that talks to the channel layer.

The database is the truth and events are hints: callers save first, then publish. Events are sent
after the transaction commits, each with a per-project sequence number, so a browser that sees a
gap (or reconnects) refetches the snapshot instead of trusting a partial stream. A progress tick
takes no number of its own: it carries the number of the last event before it (`"tick": true`),
so it can show a gap but never make one.
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

import redis
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash, decode_hosts
from django.conf import settings
from django.db import close_old_connections, connection, transaction

from studio import socket_frames
from studio.models import Project

logger = logging.getLogger(__name__)


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


def publish(project_id: int, event_type: str, payload: dict[str, Any], *, progress_only: bool = False,
            coalesce: str | None = None) -> None:
    """Publish an event to everyone watching the project, once the current transaction commits.

    `progress_only`: the event only moves a progress bar: a tick, sent without a number of its own
    (send_tick), so pages cached under the project's event_seq stay valid (Project.event_seq).
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
    A lost send is logged, never raised: the DB already has it. A progress tick
    (`progress_only`) goes as send_tick says.

    The number is taken and the event sent in one transaction, so the project row stays locked
    until the event is in Redis: the next publisher (another thread or process) waits for it and
    events reach the layer in the order of their numbers. Taken and sent apart, a worker's progress
    and an edit from the web process now and then crossed on the way; every socket saw a gap and
    asked for a snapshot at once, and 500 snapshots held up live events for seconds (issue 15)."""
    if progress_only:
        return send_tick(project_id, event_type, payload)
    with transaction.atomic():
        seq = next_sequence(project_id)
        if seq is None:  # the project is gone (deleted for good while a worker finished): nobody to tell
            logger.info("not publishing %s: project %s no longer exists", event_type, project_id)
            return None
        _send_to_project(project_id, {"type": event_type, "seq": seq, **payload})
    return seq


def send_tick(project_id: int, event_type: str, payload: dict[str, Any]) -> int | None:
    """Send a progress tick, which moves a bar and nothing else, without numbering it: it carries
    the number of the last event sent before it (`seq`) and `"tick": true`.

    Numbered like other events, every tick of every take locked the project's row from its number
    to the COMMIT after its PUBLISH: the project's render workers queued on that one row (32
    workers ticking every 100 ms: p99 107 ms a tick against 5.4 ms now, bench_tick_publishers.py),
    and each tick's COMMIT ran just as the servers wrote the tick to their sockets (BENCHMARKS.md,
    issue 15). A tick needs no number of its own: the next one supersedes it and the database has
    the truth.

    It still shows a gap: the number read is committed, and a numbered event is committed only
    once it is in Redis (send_now), so event `seq` reached the layer before this tick did. A client
    whose last number is below a tick's missed something and resyncs; a tick never makes a gap.
    Ticks of one take keep their order (the coalescer sends them, a final state after the last).
    Returns the number carried; None when the project is gone."""
    seq = last_sequence(project_id)
    if seq is None:
        logger.info("not publishing %s: project %s no longer exists", event_type, project_id)
        return None
    _send_to_project(project_id, {"type": event_type, "seq": seq, "tick": True, **payload})
    return seq


def _send_to_project(project_id: int, event: dict[str, Any]) -> None:
    # sent_at: when it was published (epoch seconds), so a client or a bench can tell how late it came.
    event["sent_at"] = round(time.time(), 6)
    message = {"type": "project.event", "project": project_id, "event": event, "text": encoded(event)}
    try:
        _publisher.group_send(project_group(project_id), message)
    except Exception:  # the channel layer is down: clients will see the gap and resync
        logger.warning("could not publish %s for project %s", event["type"], project_id, exc_info=True)


SENDING_WAIT_S = 10.0


class _Coalescer:
    """Latest progress value wins per key within a short window (leading edge sent at once, the
    latest of the rest when the window closes). Ticks take no number (send_tick), so skipped values
    leave no gap in the sequence. The trailing sends run on one daemon thread per process."""

    def __init__(self):
        self._lock = threading.Condition()
        self._last_sent: dict[str, float] = {}
        self._pending: dict[str, tuple[float, int, str, dict[str, Any]]] = {}
        # Keys whose trailing tick the thread has taken and is sending: a final state of that key
        # waits for it, or the tick could be numbered after the final state and undo it on screen.
        self._sending: set[str] = set()
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
                self._lock.notify_all()
                send = False
        if send:
            send_now(project_id, event_type, payload, progress_only=True)

    def supersede_and_send(self, key: str, project_id: int, event_type: str, payload: dict[str, Any]) -> None:
        """A state change: the tick still waiting goes first (the last progress is always sent, in
        order), then the change itself, at once."""
        with self._lock:
            waiting = self._pending.pop(key, None)
            self._last_sent.pop(key, None)
            # The thread's send holds no lock this caller holds (on_commit runs after the commit),
            # so it finishes; the timeout only guards against a send stuck on a dead Redis. A
            # forked child inherits the table but not the thread: nothing of it is being sent.
            if self._pid == os.getpid():
                self._lock.wait_for(lambda: key not in self._sending, timeout=SENDING_WAIT_S)
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
                    self._sending.add(key)
            for key, (_due, project_id, event_type, payload) in due:
                try:
                    close_old_connections()
                    send_now(project_id, event_type, payload, progress_only=True)
                except Exception:  # the database is the truth; a heartbeat or resync repairs it
                    logger.warning("could not send coalesced %s for project %s", event_type, project_id, exc_info=True)
                finally:
                    with self._lock:
                        self._sending.discard(key)
                        self._lock.notify_all()
            with self._lock:
                idle = not self._pending
            if idle:  # no connection left open while nothing waits (a test database can be dropped)
                connection.close()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until nothing is pending (for tests and benches)."""
        with self._lock:
            self._lock.wait_for(lambda: not self._pending and not self._sending, timeout=timeout)


_coalescer = _Coalescer()


def next_sequence(project_id: int) -> int | None:
    """The project's next event number; None when there is no such project (any more).
    One statement, so concurrent publishers (web and workers) never share a number."""
    table = Project._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET event_seq = event_seq + 1 WHERE id = %s RETURNING event_seq",
            [project_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def last_sequence(project_id: int) -> int | None:
    """The number of the project's last event, as committed, without locking anything; None when
    there is no such project (any more). Hand-written, as next_sequence: a worker reads it for
    every tick, and the ORM's query building cost more than the query."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT event_seq FROM {Project._meta.db_table} WHERE id = %s", [project_id])
        row = cursor.fetchone()
    return row[0] if row else None


class _DirectPubSub:
    """channels_redis' pub/sub group send, made from the calling thread with redis-py's synchronous
    client: the channel name, shard and serializer of the layer's own group_send
    (RedisPubSubLoopLayer.group_send), one PUBLISH, without handing the message to an event loop
    on another thread. That hand-over (a thread woken, the interpreter lock taken back, a few
    asyncio steps) was most of the time between an event's `sent_at` and its arrival in Redis: in a
    Celery worker, while 500 sockets were being written, 0.8 ms at the median and 4.4 ms at p90,
    where the PUBLISH itself is about 0.2 ms (BENCHMARKS.md, issue 15).

    Only for hosts given as an address (the studio's settings); a Sentinel or other setup keeps the
    layer's own send."""

    def __init__(self, layer, hosts: list[dict[str, Any]], send_timeout_s: float):
        self._layer = layer
        self._prefix = layer._kwargs.get("prefix", "asgi")
        self._clients = []
        for host in hosts:
            options = {k: v for k, v in host.items() if k not in ("address", "socket_timeout", "socket_connect_timeout")}
            self._clients.append(redis.Redis.from_url(host["address"], socket_timeout=send_timeout_s,
                                                      socket_connect_timeout=send_timeout_s, client_name=self.client_name(),
                                                      **options))

    @classmethod
    def for_layer(cls, layer, send_timeout_s: float) -> "_DirectPubSub | None":
        if type(layer) is not RedisPubSubChannelLayer or layer._args:
            return None
        hosts = decode_hosts(layer._kwargs.get("hosts"))
        if not all("address" in host for host in hosts):
            return None
        return cls(layer, hosts, send_timeout_s)

    @staticmethod
    def client_name() -> str:
        """How this process's connection shows in Redis' CLIENT LIST."""
        return f"continuity-events:{os.uname().nodename}:{os.getpid()}"

    def connect(self) -> None:
        for client in self._clients:
            client.ping()

    def group_send(self, group: str, message: dict[str, Any]) -> None:
        channel = f"{self._prefix}__group__{group}"  # as RedisPubSubLoopLayer._get_group_channel_name
        client = self._clients[_consistent_hash(channel, len(self._clients))]
        client.publish(channel, self._layer.serialize(message))


class _Publisher:
    """Sends from synchronous code (views, services, Celery workers). With the pub/sub layer, from
    the calling thread (_DirectPubSub); with another layer, on one long-lived event loop per
    process (async_to_sync would build a loop, a thread and a Redis connection per event, which
    was most of a progress event's latency). Both made lazily, so a forked worker child gets its
    own.

    A send that fails or hangs makes the next ones fail at once for RETRY_AFTER_S: send_now holds
    the project's row while it sends, so with Redis hanging every publisher of the project would
    otherwise wait its SEND_TIMEOUT_S in turn. Clients see the gap and resync once it is back."""

    SEND_TIMEOUT_S = 5
    RETRY_AFTER_S = 5

    def __init__(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None
        self._failed_at: float | None = None
        self._direct: tuple[Any, int, _DirectPubSub | None] | None = None  # (layer, pid, its direct sender)

    def group_send(self, group: str, message: dict[str, Any]) -> None:
        if self._failed_at is not None and time.monotonic() - self._failed_at < self.RETRY_AFTER_S:
            raise ConnectionError(f"the channel layer failed less than {self.RETRY_AFTER_S} s ago; not waiting on it again yet")
        layer = get_channel_layer()
        direct = self._direct_sender(layer)
        try:
            if direct is not None:
                direct.group_send(group, message)
            else:
                self._send_on_loop(layer, group, message)
        except BaseException:
            self._failed_at = time.monotonic()
            raise
        self._failed_at = None

    def forget_failures(self) -> None:
        """For tests: the next send tries the layer again."""
        self._failed_at = None

    def prepare(self) -> None:
        direct = self._direct_sender(get_channel_layer())
        if direct is not None:
            direct.connect()

    def _direct_sender(self, layer) -> _DirectPubSub | None:
        with self._lock:
            if self._direct is None or self._direct[0] is not layer or self._direct[1] != os.getpid():
                self._direct = (layer, os.getpid(), _DirectPubSub.for_layer(layer, self.SEND_TIMEOUT_S))
            return self._direct[2]

    def _send_on_loop(self, layer, group: str, message: dict[str, Any]) -> None:
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), self._running_loop())
        try:
            future.result(timeout=self.SEND_TIMEOUT_S)
        except BaseException:
            future.cancel()
            raise

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop, self._pid = asyncio.new_event_loop(), os.getpid()
                threading.Thread(target=self._loop.run_forever, name="continuity-events", daemon=True).start()
            return self._loop


_publisher = _Publisher()


def prepare_publisher() -> None:
    """Called as a process starts (each server process, each Celery worker process): the sender
    is made and connected to Redis now, so the first event goes out as fast as the next ones. A
    fresh server's first edit took 30 ms against 18 ms for the next ones, most of the difference
    making the sender and connecting (BENCHMARKS.md, issue 15). A Redis that is not up yet is no
    error here: the first send connects."""
    try:
        _publisher.prepare()
    except Exception:
        logger.info("live events: Redis not reachable as this process starts; the first event will connect", exc_info=True)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def notify_user(user_id: int, payload: dict[str, Any]) -> None:
    """A hint to every open socket of one person (their notifications), after commit. Not
    numbered: it is not part of any project's stream, and the bell refetches its count."""
    message = {"type": "project.event", "user": user_id, "event": payload}

    def send() -> None:
        try:
            _publisher.group_send(user_group(user_id), message)
        except Exception:
            logger.warning("could not tell user %s about a notification", user_id, exc_info=True)

    transaction.on_commit(send)


def close_member_sockets(project_id: int, user_id: int | None) -> None:
    """Ask every open socket of this user on this project to close (membership removed), after
    commit; `user_id` None: every socket of the project (it was trashed). A send that fails is
    logged, never raised: the change is committed, and each socket's next heartbeat checks its
    access again and closes it (consumers.ProjectConsumer)."""
    message = {"type": "member.removed", "project": project_id, "user_id": user_id}

    def send() -> None:
        try:
            _publisher.group_send(project_group(project_id), message)
        except Exception:
            logger.warning("could not close the sockets of user %s on project %s at once; their next heartbeat will",
                           user_id, project_id, exc_info=True)

    transaction.on_commit(send)


# --- Presence: who is where. Ephemeral (kept in Redis by studio/presence.py), so not numbered. ---
# Deltas only: a join or a leave is one group send that every socket forwards as it is; nobody
# answers it. The full list travels in each socket's snapshot.

def connection_id(channel_name: str) -> str:
    """Clients see an opaque per-connection id, not our channel names."""
    return hashlib.sha256(channel_name.encode()).hexdigest()[:12]


async def watch_project(project_id: int, socket) -> None:
    """Hand this socket its project's events from now on (before its snapshot, so nothing falls
    between). `socket` has forward(frame) (a socket_frames.EventFrame) and removed(user_id); see _ProjectFanout."""
    await _fanout.here().watch(project_group(project_id), socket)


async def unwatch_project(project_id: int, socket) -> None:
    await _fanout.here().unwatch(project_group(project_id), socket)


async def watch_user(user_id: int, socket) -> None:
    """Hand this socket its person's notifications (notify_user) from now on, through the same
    one-pass writer as project events. Through Channels, one socket at a time, a take's "ready"
    hint to someone with many sockets open held their process's loop for milliseconds per
    hundred sockets (BENCHMARKS.md, issue 15)."""
    await _fanout.here().watch(user_group(user_id), socket)


async def unwatch_user(user_id: int, socket) -> None:
    await _fanout.here().unwatch(user_group(user_id), socket)


class _LoopFanout:
    """The project events (and people's notifications) of one server process (one event loop). A
    single channel joins each watched group (a project's, a person's), so the layer hands every
    event to the process once; a writer then writes it to every socket of the process watching
    that group in one pass.

    Events that arrive while a pass is being written go out together in the next pass, as one
    frame per socket holding a JSON array of them, in order. On loopback most of a socket's cost is
    the send itself (about 20 us), so four takes ticking together cost one send per socket, not
    four. Before, each socket joined the group itself and Channels woke a task per socket per
    event: about 50 us a socket, and a tick of four takes reached the last of 250 sockets after
    50 ms (BENCHMARKS.md, issue 15)."""

    def __init__(self):
        self._lock = asyncio.Lock()  # group membership changes one at a time
        self._channel: str | None = None
        self._tasks: list[asyncio.Task] = []
        self._watching: dict[str, dict[Any, None]] = {}  # group -> its sockets (an ordered set)
        self._arrived: list[dict[str, Any]] = []  # received, not yet written
        self._wake = asyncio.Event()

    async def watch(self, group: str, socket) -> None:
        async with self._lock:
            sockets = self._watching.get(group)
            if sockets is None:
                layer = get_channel_layer()
                if self._channel is None:
                    # The default prefix: channels_redis' core layer reads all the channels of a
                    # process from one list, named after it.
                    self._channel = await layer.new_channel()
                    loop = asyncio.get_running_loop()
                    self._tasks = [loop.create_task(self._read(layer, self._channel)), loop.create_task(self._write())]
                    if getattr(layer, "group_expiry", None):
                        self._tasks.append(loop.create_task(self._keep_groups(layer, self._channel, layer.group_expiry)))
                await layer.group_add(group, self._channel)
                sockets = self._watching[group] = {}
            sockets[socket] = None

    async def unwatch(self, group: str, socket) -> None:
        async with self._lock:
            sockets = self._watching.get(group, {})
            sockets.pop(socket, None)
            if sockets or group not in self._watching:
                return
            del self._watching[group]
            await get_channel_layer().group_discard(group, self._channel)
            if not self._watching:  # nobody left: no task outlives its loop
                for task in self._tasks:
                    task.cancel()  # channels_redis forgets a channel whose receive is cancelled
                self._tasks, self._channel, self._arrived = [], None, []

    async def _keep_groups(self, layer, channel: str, expiry: float) -> None:
        """channels_redis' core layer drops a group's member `group_expiry` after it joined (a day
        by default): this process joins each group once, for as long as a socket watches it, so it
        joins again well before then, or a board open for a day would stop hearing its project."""
        while True:
            await asyncio.sleep(expiry / 3)
            for group in list(self._watching):
                try:
                    await layer.group_add(group, channel)
                except Exception:  # Redis away: the next round tries again, before the expiry
                    logger.warning("could not renew this process's watch of %s", group, exc_info=True)

    async def _read(self, layer, channel: str) -> None:
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: clients see the gap when it is back and resync
                logger.warning("live events of this process interrupted; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            self._arrived.append(message)
            self._wake.set()

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(0)  # let what has already arrived join this pass
            self._wake.clear()
            arrived, self._arrived = self._arrived, []
            try:
                self._write_pass(arrived)
            except Exception:  # a bug here must not end live updates for the whole process
                logger.exception("live events could not be written")

    def _write_pass(self, arrived: list[dict[str, Any]]) -> None:
        texts: dict[str, list[str]] = {}
        for message in arrived:
            # A person's notification names them; everything else sent to these groups, its project.
            group = user_group(message["user"]) if "user" in message else project_group(message.get("project"))
            if message["type"] == "member.removed":  # a user_id of None: the project was trashed
                for socket in list(self._watching.get(group, ())):
                    socket.removed(message["user_id"])
            else:
                texts.setdefault(group, []).append(message.get("text") or encoded(message["event"]))
        for group, group_texts in texts.items():
            frame = socket_frames.EventFrame(group_texts[0] if len(group_texts) == 1 else "[" + ",".join(group_texts) + "]")
            for socket in list(self._watching.get(group, ())):
                try:
                    socket.forward(frame)
                except Exception:  # one broken socket must not keep the event from the others
                    logger.debug("could not forward an event to a socket", exc_info=True)


class _ProjectFanout:
    """One _LoopFanout per event loop: a server process has one; tests make a loop per test."""

    def __init__(self):
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopFanout] = weakref.WeakKeyDictionary()

    def here(self) -> _LoopFanout:
        loop = asyncio.get_running_loop()
        fanout = self._by_loop.get(loop)
        if fanout is None:
            fanout = self._by_loop[loop] = _LoopFanout()
        return fanout


_fanout = _ProjectFanout()


async def presence_changed(project_id: int, op: str, entry: dict[str, Any]) -> None:
    """A join or a leave (`op`), batched: see _PresenceBatcher."""
    _presence_batcher.add(project_id, {"op": op, **entry})


def playhead_moved(project_id: int, playhead: dict[str, Any]) -> None:
    """Where a person is on a take's timeline in a review room, {"c", "u", "n", "i", "r", "t"
    (take), "f" (frame), "p" (playing)}: batched like presence, and only the latest position of
    each connection in a batch goes out ({"type": "playheads", "ps": [...]}). Not numbered and not
    kept: a courtesy that the next move repaints."""
    _playhead_batcher.add(project_id, playhead)


PRESENCE_BATCH_S = 0.25
_sending_batches: set[asyncio.Task] = set()


class _PresenceBatcher:
    """The joins and leaves a server process sees within PRESENCE_BATCH_S go out as one group send,
    {"type": "presence", "ops": [{"op", "c", "u", "n", "i", "r"}, ...]}. When 500 people open the
    board at once, one delta per join is 500 x 500 frames to write and parse; batched, a few dozen
    messages carry them all (BENCHMARKS.md, issue 15). Presence is a courtesy shown to people, so a
    quarter of a second is not noticed. A socket's own join may be in a batch it receives: clients
    know their own connection id from the snapshot. One buffer per event loop (a test's loop or a
    server's): a send is scheduled on the loop whose sockets caused it. The reviewers' places on
    a take's timeline go the same way (`latest_by`: a connection's last position in a batch)."""

    def __init__(self, event_type: str = "presence", field: str = "ops", latest_by: str | None = None):
        self._event_type, self._field, self._latest_by = event_type, field, latest_by
        self._pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, dict]] = weakref.WeakKeyDictionary()

    def add(self, project_id: int, op: dict[str, Any]) -> None:
        """Keep `op` for the next send; with `latest_by`, an op replaces the waiting one with the
        same value of that key (the latest position of a connection), else every op is kept."""
        loop = asyncio.get_running_loop()
        pending = self._pending.setdefault(loop, {})
        if project_id not in pending:
            pending[project_id] = {}
            loop.call_later(PRESENCE_BATCH_S, self._start_send, loop, project_id)
        ops = pending[project_id]
        ops[op[self._latest_by] if self._latest_by else len(ops)] = op

    def _start_send(self, loop: asyncio.AbstractEventLoop, project_id: int) -> None:
        task = loop.create_task(self._send(loop, project_id))
        _sending_batches.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(_sending_batches.discard)

    async def _send(self, loop: asyncio.AbstractEventLoop, project_id: int) -> None:
        ops = list(self._pending.get(loop, {}).pop(project_id, {}).values())
        if not ops:
            return
        event = {"type": self._event_type, self._field: ops}
        message = {"type": "presence.message", "project": project_id, "event": event, "text": encoded(event)}
        try:
            await get_channel_layer().group_send(project_group(project_id), message)
        except Exception:  # presence is a courtesy; the next snapshot has the truth
            logger.info("%s of project %s dropped: the layer refused it", self._event_type, project_id, exc_info=True)


_presence_batcher = _PresenceBatcher()
_playhead_batcher = _PresenceBatcher("playheads", "ps", latest_by="c")
