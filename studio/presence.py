"""Who is here: presence kept in Redis, one hash per room, entries that expire without a heartbeat.

A room is where a socket's person is: `board`, `review:<shot id>` (the review room of a shot),
`shot:<shot id>` (editing that shot), or `project` (any other page of the project). One hash per
project and room holds `connection id -> compact JSON` ({"c", "u", "n", "i", "r", "t"}); a set
per project names the rooms in use. Each hash and the set expire `TTL_S` after the last write, and
every entry carries its last heartbeat, so a server that died without saying goodbye leaves
nothing behind for longer than `TTL_S` (stale entries are dropped when the list is read).

The full list travels only in a socket's snapshot; joins and leaves travel as deltas
(studio/events.py), so N people connecting cost O(N) messages, not O(N^2).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import weakref
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from django.conf import settings

TTL_S = 90  # three missed heartbeats (the browser beats every 25 s)
ROOM_PATTERN = re.compile(r"^(?:board|project|review:\d{1,12}|shot:\d{1,12})$")

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


class BadRoom(ValueError):
    """A room name the studio does not have."""


def check_room(room: str) -> str:
    if not isinstance(room, str) or not ROOM_PATTERN.match(room):
        raise BadRoom(f"unknown room {room!r}: use board, project, review:<shot id> or shot:<shot id>")
    return room


def initials(name: str) -> str:
    parts = [p for p in re.split(r"[\s._@-]+", name.strip()) if p]
    if not parts:
        return "?"
    if len(parts) == 1:
        return parts[0][:2].upper()
    return (parts[0][0] + parts[-1][0]).upper()


def person(user) -> dict[str, str]:
    """How a person is shown: username, display name and initials (compact keys)."""
    name = user.get_full_name() or user.get_username()
    return {"u": user.get_username(), "n": name, "i": initials(name)}


def _prefix() -> str:
    config = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    return f"{config.get('prefix', 'continuity')}:presence"


def room_key(project_id: int, room: str) -> str:
    return f"{_prefix()}:{project_id}:{room}"


def rooms_key(project_id: int) -> str:
    return f"{_prefix()}:{project_id}:rooms"


def _client() -> aioredis.Redis:
    # redis.asyncio connections belong to the loop that made them: one client per loop.
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        url = getattr(settings, "CONTINUITY_PRESENCE_REDIS_URL", "") or settings.REDIS_URL
        # A blocking pool: when 500 sockets close at once their leaves wait their turn for one of
        # 50 connections, instead of failing with "Too many connections" (redis-py 8 caps a pool).
        pool = aioredis.BlockingConnectionPool.from_url(url, socket_timeout=10, decode_responses=True, max_connections=50, timeout=20)
        client = aioredis.Redis(connection_pool=pool)
        _clients[loop] = client
    return client


async def enter(project_id: int, room: str, connection: str, who: dict[str, str]) -> dict[str, Any]:
    """Record that `connection` is in `room`; returns the entry (what the join delta carries)."""
    entry = {"c": connection, **who, "r": room}
    stored = json.dumps({**entry, "t": int(time.time())}, separators=(",", ":"))
    async with _client().pipeline(transaction=False) as pipe:
        pipe.hset(room_key(project_id, room), connection, stored)
        pipe.expire(room_key(project_id, room), TTL_S)
        pipe.sadd(rooms_key(project_id), room)
        pipe.expire(rooms_key(project_id), TTL_S)
        await pipe.execute()
    return entry


async def leave(project_id: int, room: str, connection: str) -> None:
    await _client().hdel(room_key(project_id, room), connection)


async def heartbeat(project_id: int, rooms: dict[str, dict[str, Any]]) -> None:
    """Refresh this connection's entries (room -> entry) and the expiry of their hashes."""
    if not rooms:
        return
    now = int(time.time())
    async with _client().pipeline(transaction=False) as pipe:
        for room, entry in rooms.items():
            pipe.hset(room_key(project_id, room), entry["c"], json.dumps({**entry, "t": now}, separators=(",", ":")))
            pipe.expire(room_key(project_id, room), TTL_S)
            pipe.sadd(rooms_key(project_id), room)
        pipe.expire(rooms_key(project_id), TTL_S)
        await pipe.execute()


class Roll(NamedTuple):
    here: list[dict[str, Any]]  # every live entry
    gone: list[dict[str, Any]]  # stale entries this read removed: nobody said goodbye for them


async def everyone(project_id: int) -> Roll:
    """The whole list for a snapshot: every live entry of every room; stale ones (no heartbeat for
    TTL_S: their server died, or their leave failed) are removed and returned apart, so the caller
    can announce them gone to the pages still showing them. Two round trips whatever the number of
    people, three with stale entries."""
    client = _client()
    rooms = sorted(await client.smembers(rooms_key(project_id)))
    if not rooms:
        return Roll([], [])
    async with client.pipeline(transaction=False) as pipe:
        for room in rooms:
            pipe.hgetall(room_key(project_id, room))
        hashes = await pipe.execute()
    oldest = time.time() - TTL_S
    here, stale = [], []
    for room, entries in zip(rooms, hashes):
        for connection, raw in entries.items():
            entry = json.loads(raw)
            if entry.pop("t", 0) < oldest:
                stale.append((room_key(project_id, room), connection, raw, entry))
            else:
                here.append(entry)
    return Roll(here, await _remove_unchanged(client, stale))


# Removes each field whose value is still the one read: a heartbeat that refreshed an entry since
# (a connection thought stale that beat after all) keeps it. Returns the positions removed.
_REMOVE_UNCHANGED = """
local removed = {}
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], ARGV[2 * i - 1]) == ARGV[2 * i] then
    redis.call('HDEL', KEYS[i], ARGV[2 * i - 1])
    removed[#removed + 1] = i
  end
end
return removed
"""


async def _remove_unchanged(client: aioredis.Redis, stale: list[tuple[str, str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    if not stale:
        return []
    args = [value for _key, connection, raw, _entry in stale for value in (connection, raw)]
    removed = await client.eval(_REMOVE_UNCHANGED, len(stale), *[key for key, *_ in stale], *args)
    return [stale[int(i) - 1][3] for i in removed]
