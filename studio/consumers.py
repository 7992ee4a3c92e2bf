"""WebSocket: authorise, join the project's group, send a snapshot, then forward events.

A socket is authorised as it opens and again on every snapshot it is sent and every heartbeat (the
person read afresh from their session then): one that may no longer watch is closed with 4404.

The socket's page says which room its person is in (`?room=board`, `review:<shot id>`, or
`project`); a shot form opened on the page adds `shot:<id>` ("editing this shot"), and a review
room's player says where it is on the take (`playhead`, relayed to the others). The browser
beats every 25 s with the last sequence number it saw: the beat keeps its presence alive, and a
beat that is behind the database gets a fresh snapshot (so a final state the layer dropped is
re-sent from the database).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from studio import access, events, presence, selectors, socket_frames
from studio.models import Project, Shot

logger = logging.getLogger(__name__)

CLOSE_NOT_FOUND = 4404
MOST_FRAMES = 10_000_000  # a playhead's frame: past any take's length, below what JSON numbers lose


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class ProjectConsumer(AsyncJsonWebsocketConsumer):
    MOST_HELD = 1000  # events kept while a snapshot is made; past that the client resyncs

    async def connect(self):
        project = await self._project_if_allowed()
        if project is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.project_id = project.id
        self.connection = events.connection_id(self.channel_name)
        self.who = presence.person(self.scope["user"])
        self.rooms: dict[str, dict] = {}  # room -> this connection's entry there
        await self.accept()
        self._writing: asyncio.Future | None = None  # a write still waiting on a slow client
        self._skipped = False  # a frame was not written to this client (it was not keeping up)
        self._held: list[socket_frames.EventFrame] | None = []  # events waiting for the snapshot being made
        # uvicorn's connection itself when event frames can be written to it as they are.
        self._direct = socket_frames.direct_connection(self.scope.get("server_send"))
        # Watch before the snapshot so no event can fall between the two: what comes meanwhile is
        # held and written after it (_send_snapshot); events the snapshot already covers are ignored.
        # The snapshot authorises again: a membership removed since the check above, whose closing
        # message came before this process watched the project, closes the socket there.
        await events.watch_project(self.project_id, self)
        await events.watch_user(self.scope["user"].id, self)  # this person's notifications
        await self._enter(self._page_room())
        await self._send_snapshot()

    async def disconnect(self, code):
        await self._forget()

    async def _forget(self) -> None:
        """Stop watching and leave every room. Each step on its own: one that fails (Redis away)
        must not keep this socket in the process's fan-out or its person in the others' lists.
        Safe to run twice."""
        if getattr(self, "project_id", None) is None:
            return
        steps = [lambda: events.unwatch_project(self.project_id, self), lambda: events.unwatch_user(self.scope["user"].id, self)]
        steps += [lambda room=room: self._leave(room) for room in list(getattr(self, "rooms", {}))]
        for step in steps:
            try:
                await step()
            except Exception:
                logger.warning("a closed socket of project %s was not forgotten everywhere", self.project_id, exc_info=True)

    async def dispatch(self, message):
        """Channels closes stale database connections before every message, through a hop to the
        process's one sync thread: with hundreds of sockets each forwarding every progress event,
        those hops queued behind each other and live latency grew without bound (BENCHMARKS.md,
        issue 15). Every database call here goes through database_sync_to_async, which closes
        stale connections itself, so messages are handled without the hop.

        A handler that fails (Redis or the database away mid-heartbeat) ends the socket, which
        the browser reopens; Channels then never calls disconnect, so it is forgotten here, or the
        process would keep writing to it and the others would see its person here for good."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        try:
            await handler(message)
        except StopConsumer:
            raise
        except Exception:
            await self._forget()
            raise

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "resync":
            await self._send_snapshot()
        elif kind == "heartbeat":
            await self._heartbeat(content.get("seq"))
        elif kind == "editing":
            await self._editing(content.get("shot"))
        elif kind == "playhead":
            await self._playhead(content)
        else:
            await self.send_json({"type": "error", "error": "unknown message: send resync, heartbeat, editing or playhead"})

    def forward(self, frame: socket_frames.EventFrame) -> None:
        """A project event or this person's notification, written now by the process's fan-out
        (events.watch_project, events.watch_user), which does not wait for any one socket. If the
        client is not keeping up (the last write still waits, or the transport is paused), this
        one is skipped: the client sees the gap in the numbers and asks for a snapshot; a skipped
        join or leave (unnumbered) is repaired by a snapshot on the socket's next heartbeat (a
        skipped notification is a hint lost: the bell's count is read again on the next one)."""
        if self._held is not None:
            if len(self._held) < self.MOST_HELD:
                self._held.append(frame)  # more: the client sees the gap after the snapshot and resyncs
            else:
                self._skipped = True
            return
        if self._writing is not None and not self._writing.done():
            self._skipped = True
            return
        if self._direct is not None:
            # The same bytes for every socket: no framing here.
            self._skipped |= not socket_frames.write(self._direct, frame)
            return
        self._writing = _send_without_waiting(self.scope.get("server_send", self.base_send), {"type": "websocket.send", "text": frame.text})

    async def _heartbeat(self, seq) -> None:
        project = await self._project_if_allowed(session_too=True)
        if project is None:
            await self._refuse()
            return
        await presence.heartbeat(self.project_id, self.rooms)
        if not isinstance(seq, int) or seq < project.event_seq or self._skipped:
            # It missed something: the truth again. A skipped frame may have been a join or a
            # leave, which carry no number: only this says the client's list of who is here is off.
            self._skipped = False
            await self._send_snapshot()
        elif _sweeps.due(self.project_id):
            await self._everyone()

    async def _send_snapshot(self) -> None:
        """The truth, then the events that arrived while it was read, in that order. Sent the
        other way round, a presence change read into the snapshot's list too late, but forwarded
        before the snapshot went out, was wiped from the client's list by the snapshot; that
        person stayed missing (one in 500 watchers, now and then, in the load bench)."""
        if self._held is None:
            self._held = []
        try:
            snapshot = await self._snapshot()
            if snapshot is None:
                await self._refuse()
                return
            await self.send_json(snapshot)
        finally:
            held, self._held = self._held, None
            for frame in held:
                self.forward(frame)

    async def _refuse(self) -> None:
        """This person may no longer watch the project (signed out, membership removed, project
        trashed or deleted for good): the code a refused socket gets. The browser does not retry."""
        await self.close(code=CLOSE_NOT_FOUND)

    def removed(self, user_id: int | None) -> None:
        """Someone's membership of the project was removed (None: the project was trashed, everyone
        goes): close their sockets."""
        if user_id is None or user_id == self.scope["user"].id:
            _closing.add(task := asyncio.get_running_loop().create_task(self._refuse()))
            task.add_done_callback(_closing.discard)  # the loop keeps only a weak reference

    @classmethod
    async def encode_json(cls, content):
        return events.encoded(content)  # compact: every byte goes to every socket

    # --- presence -------------------------------------------------------------------------

    def _page_room(self) -> str:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        room = (query.get("room") or ["project"])[0]
        try:
            return presence.check_room(room) if not room.startswith("shot:") else "project"
        except presence.BadRoom:
            return "project"

    async def _enter(self, room: str) -> None:
        entry = await presence.enter(self.project_id, room, self.connection, self.who)
        self.rooms[room] = entry
        await events.presence_changed(self.project_id, "join", entry)

    async def _leave(self, room: str) -> None:
        entry = self.rooms.pop(room, None)
        if entry is not None:
            # Announced first: with Redis away the others still see this person go; the entry
            # left behind is swept as stale (_everyone).
            await events.presence_changed(self.project_id, "leave", entry)
            await presence.leave(self.project_id, room, self.connection)

    async def _editing(self, shot_id) -> None:
        """The shot form opened (a shot id) or closed (null) on this page."""
        wanted = None
        if shot_id is not None:
            if not isinstance(shot_id, int) or not await self._shot_in_project(shot_id):
                await self.send_json({"type": "error", "error": "editing: no such shot in this project"})
                return
            wanted = f"shot:{shot_id}"
        for room in [r for r in self.rooms if r.startswith("shot:") and r != wanted]:
            await self._leave(room)
        if wanted and wanted not in self.rooms:
            await self._enter(wanted)

    async def _playhead(self, content: dict) -> None:
        """Where this person is on a take's timeline, from a review room's page: shown to the others
        in that room as their avatar on the timeline (events.playhead_moved). A courtesy: nothing
        is written, and a take id that is not on the others' page is simply not painted there."""
        room = next((r for r in self.rooms if r.startswith("review:")), None)
        take, frame, playing = content.get("take"), content.get("frame"), content.get("playing", False)
        if room is None:
            await self.send_json({"type": "error", "error": "playhead: only from a review room"})
        elif not (_whole(take) and _whole(frame) and frame <= MOST_FRAMES and isinstance(playing, bool)):
            await self.send_json({"type": "error", "error": "playhead: take and frame must be whole numbers, playing true or false"})
        else:
            events.playhead_moved(self.project_id, {"c": self.connection, **self.who, "r": room, "t": take, "f": frame, "p": playing})

    async def _everyone(self) -> list[dict]:
        """Who is here; the entries found stale on the way are announced gone to every page still
        showing them (a server that died said no goodbye for its sockets)."""
        roll = await presence.everyone(self.project_id)
        for entry in roll.gone:
            await events.presence_changed(self.project_id, "leave", entry)
        return roll.here

    # --- database ---------------------------------------------------------------------------

    @database_sync_to_async
    def _project_if_allowed(self, session_too: bool = False) -> Project | None:
        """The project, if this socket's person may (still) watch it. `session_too`: their session
        read afresh (a heartbeat's check); a snapshot's check reads the membership only, one query,
        as a storm of resyncs may ask for hundreds at once."""
        return self._project_if_allowed_now(session_too)

    def _project_if_allowed_now(self, session_too: bool = False) -> Project | None:
        session_key = getattr(self.scope.get("session"), "session_key", None) if session_too else None
        return access.project_for_socket(self.scope["user"], session_key, self.scope["url_route"]["kwargs"]["slug"])

    @database_sync_to_async
    def _shot_in_project(self, shot_id: int) -> bool:
        return Shot.objects.filter(pk=shot_id, scene__project_id=self.project_id).exists()

    @database_sync_to_async
    def _db_snapshot(self) -> dict | None:
        project = self._project_if_allowed_now()  # None: no longer allowed, or the project is gone
        return None if project is None else _snapshots.current(project)

    async def _snapshot(self) -> dict | None:
        snapshot = await self._db_snapshot()
        if snapshot is None:
            return None
        snapshot["presence"] = await self._everyone()
        snapshot["you"] = self.connection
        return snapshot


class _Sweeps:
    """When this process last looked for presence entries nobody said goodbye for, per project.
    Snapshots find them too, but a quiet project may go hours without one: a heartbeat looks, at
    most every SWEEP_S per process and project, so a server that died or restarted leaves no one
    shown on a board for much longer than presence.TTL_S."""

    SWEEP_S = 30.0

    def __init__(self):
        self._last: dict[int, float] = {}

    def due(self, project_id: int) -> bool:
        now = time.monotonic()
        if now - self._last.get(project_id, float("-inf")) < self.SWEEP_S:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[project_id] = now
        return True


_sweeps = _Sweeps()
_closing: set[asyncio.Task] = set()  # sockets being closed by the fan-out's pass (ProjectConsumer.removed)


def _send_without_waiting(send: Callable[[dict], Awaitable[None]], message: dict) -> asyncio.Future | None:
    """Run an ASGI send here and now, as far as it goes without waiting; None when it is done.
    A send to a client that keeps up never waits (the frame goes to the transport at once), so
    one pass writes an event to hundreds of sockets without a task each. If it has to wait (the
    client's buffer is full), the rest runs as a task, which is returned. The eager tasks of
    Python 3.12 do this; this server runs 3.11."""
    step = send(message).__await__()
    try:
        waiting_on = step.send(None)
    except StopIteration:
        return None
    except Exception:  # the client is gone: its disconnect is on its way to the consumer
        return None
    return asyncio.ensure_future(_finish(step, waiting_on))


async def _finish(step, waiting_on) -> None:
    while True:
        try:
            await (asyncio.sleep(0) if waiting_on is None else waiting_on)  # None: a bare yield
        except Exception:  # noqa: BLE001  the step sees it when it reads the future's result
            pass
        try:
            waiting_on = step.send(None)
        except StopIteration:
            return
        except Exception:
            return  # the client went away while we waited


class _SnapshotsOfThisProcess:
    """The last snapshot built per project, reused while the project's sequence number has not
    moved, for at most REUSE_S. A snapshot holds nothing personal (who is here and "you" are added
    per socket), and every change to what it holds but progress is published with a new number, so
    one with the current number is the truth but for its progress bars, which are at most REUSE_S
    old (progress ticks take no number; the next tick paints the bar anyway). When a whole team
    opens the board at once, a few are built instead of one per socket (building them was a third
    of what connecting 500 watchers cost; BENCHMARKS.md, issue 15)."""

    REUSE_S = 0.5

    def __init__(self):
        self._by_project: dict[int, tuple[tuple, float, dict]] = {}

    def current(self, project: Project) -> dict:
        """The snapshot of the project as just read (access.project_for_socket)."""
        # The number, and when the project was made: an id can come back (a test database
        # rolled back), a project's creation time with it cannot.
        project_id, version = project.id, (project.event_seq, project.created_at)
        known = self._by_project.get(project_id)
        if known is not None and known[0] == version and time.monotonic() - known[1] < self.REUSE_S:
            return dict(known[2])
        built_at = time.monotonic()
        snapshot = selectors.project_snapshot(project)  # the number as read with the row, then the state
        if len(self._by_project) > 1000:
            self._by_project.clear()
        self._by_project[project_id] = ((snapshot["seq"], version[1]), built_at, snapshot)
        return dict(snapshot)


_snapshots = _SnapshotsOfThisProcess()
