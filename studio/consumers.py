"""WebSocket: authorise, join the project's group, send a snapshot, then forward events.

The socket's page says which room its person is in (`?room=board`, `review:<shot id>`, or
`project`); a shot form opened on the page adds `shot:<id>` ("editing this shot"), and a review
room's player says where it is on the take (`playhead`, relayed to the others). The browser
beats every 25 s with the last sequence number it saw: the beat keeps its presence alive, and a
beat that is behind the database gets a fresh snapshot (so a final state the layer dropped is
re-sent from the database).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from studio import access, events, presence, selectors, socket_frames
from studio.models import Project, Shot

CLOSE_NOT_FOUND = 4404
MOST_FRAMES = 10_000_000  # a playhead's frame: past any take's length, below what JSON numbers lose


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class ProjectConsumer(AsyncJsonWebsocketConsumer):
    MOST_HELD = 1000  # events kept while a snapshot is made; past that the client resyncs

    async def connect(self):
        self.project_id = await self._authorised_project_id()
        if self.project_id is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.connection = events.connection_id(self.channel_name)
        self.who = presence.person(self.scope["user"])
        self.rooms: dict[str, dict] = {}  # room -> this connection's entry there
        await self.accept()
        self._writing: asyncio.Future | None = None  # a write still waiting on a slow client
        self._held: list[socket_frames.EventFrame] | None = []  # events waiting for the snapshot being made
        # uvicorn's connection itself when event frames can be written to it as they are.
        self._direct = socket_frames.direct_connection(self.scope.get("server_send"))
        # Watch before the snapshot so no event can fall between the two: what comes meanwhile is
        # held and written after it (_send_snapshot); events the snapshot already covers are ignored.
        await events.watch_project(self.project_id, self)
        await events.watch_user(self.scope["user"].id, self)  # this person's notifications
        await self._enter(self._page_room())
        await self._send_snapshot()

    async def disconnect(self, code):
        if getattr(self, "project_id", None) is None:
            return
        await events.unwatch_project(self.project_id, self)
        await events.unwatch_user(self.scope["user"].id, self)
        for room in list(getattr(self, "rooms", {})):
            await self._leave(room)

    async def dispatch(self, message):
        """Channels closes stale database connections before every message, through a hop to the
        process's one sync thread: with hundreds of sockets each forwarding every progress event,
        those hops queued behind each other and live latency grew without bound (BENCHMARKS.md,
        issue 15). Every database call here goes through database_sync_to_async, which closes
        stale connections itself, so messages are handled without the hop."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "resync":
            await self._send_snapshot()
        elif kind == "heartbeat":
            await presence.heartbeat(self.project_id, self.rooms)
            seq, last = content.get("seq"), await self._last_sequence()
            if last is None:
                await self._project_gone()
            elif not isinstance(seq, int) or seq < last:
                await self._send_snapshot()  # it missed something: the truth again
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
        one is skipped: the client sees the gap in the numbers and asks for a snapshot (a skipped
        notification is a hint lost: the bell's count is read again on the next one)."""
        if self._held is not None:
            if len(self._held) < self.MOST_HELD:
                self._held.append(frame)  # more: the client sees the gap after the snapshot and resyncs
            return
        if self._writing is not None and not self._writing.done():
            return
        if self._direct is not None:
            socket_frames.write(self._direct, frame)  # the same bytes for every socket: no framing here
            return
        self._writing = _send_without_waiting(self.scope.get("server_send", self.base_send), {"type": "websocket.send", "text": frame.text})

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
                await self._project_gone()
                return
            await self.send_json(snapshot)
        finally:
            held, self._held = self._held, None
            for frame in held:
                self.forward(frame)

    async def _project_gone(self) -> None:
        """The project was deleted for good (its trash emptied) while this socket was open: say so
        with the code a refused socket gets, instead of failing on the missing row."""
        await self.close(code=CLOSE_NOT_FOUND)

    def removed(self, user_id: int) -> None:
        """Someone's membership of the project was removed: close their sockets."""
        if user_id == self.scope["user"].id:
            asyncio.get_running_loop().create_task(self.close(code=CLOSE_NOT_FOUND))

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
            await presence.leave(self.project_id, room, self.connection)
            await events.presence_changed(self.project_id, "leave", entry)

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

    # --- database ---------------------------------------------------------------------------

    @database_sync_to_async
    def _authorised_project_id(self) -> int | None:
        try:
            return access.project_for(self.scope["user"], self.scope["url_route"]["kwargs"]["slug"]).id
        except Http404:
            return None

    @database_sync_to_async
    def _shot_in_project(self, shot_id: int) -> bool:
        return Shot.objects.filter(pk=shot_id, scene__project_id=self.project_id).exists()

    @database_sync_to_async
    def _last_sequence(self) -> int | None:
        return events.last_sequence(self.project_id)

    @database_sync_to_async
    def _db_snapshot(self) -> dict | None:
        return _snapshots.current(self.project_id)

    async def _snapshot(self) -> dict | None:
        snapshot = await self._db_snapshot()
        if snapshot is None:
            return None
        snapshot["presence"] = await presence.everyone(self.project_id)
        snapshot["you"] = self.connection
        return snapshot


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

    def current(self, project_id: int) -> dict | None:
        """The project's snapshot; None when the project is gone."""
        # The number, and when the project was made: an id can come back (a test database
        # rolled back), a project's creation time with it cannot.
        version = Project.objects.filter(pk=project_id).values_list("event_seq", "created_at").first()
        if version is None:
            return None
        known = self._by_project.get(project_id)
        if known is not None and known[0] == version and time.monotonic() - known[1] < self.REUSE_S:
            return dict(known[2])
        built_at = time.monotonic()
        try:
            snapshot = selectors.project_snapshot(Project(pk=project_id))  # reads the number first, then the state
        except Project.DoesNotExist:  # deleted for good since the line above
            return None
        if len(self._by_project) > 1000:
            self._by_project.clear()
        self._by_project[project_id] = ((snapshot["seq"], version[1]), built_at, snapshot)
        return dict(snapshot)


_snapshots = _SnapshotsOfThisProcess()
