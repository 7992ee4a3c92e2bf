"""Fan-out that scales (issue 15): presence in Redis sent as deltas, the full list only in the
snapshot; heartbeats that repair a socket which missed events; a process inbox filled on purpose
loses nothing for good. Through the real ASGI app, the real channel layer and the real Redis."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client

from studio import events, presence
from studio.asgi import application
from tests.live_frames import messages_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("close_executor_connections"),
              pytest.mark.services]


@pytest.fixture(autouse=True)
def _private_channel_prefix(settings):
    """Groups and presence keys of our own, so another test run on the same Redis cannot talk in."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"].setdefault("CONFIG", {})["prefix"] = f"test-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = layers


async def _socket(user, slug: str, room: str | None = "board") -> WebsocketCommunicator:
    client = Client()
    await sync_to_async(client.force_login)(user)
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"),
               (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
    path = f"/ws/projects/{slug}/" + (f"?room={room}" if room else "")
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def _next(communicator: WebsocketCommunicator, timeout: float = 10) -> dict:
    return json.loads(await communicator.receive_from(timeout=timeout))


async def _everything(communicator: WebsocketCommunicator, quiet: float = 0.5) -> list[dict]:
    """Every message until the socket is quiet for `quiet` seconds (without cancelling the app)."""
    messages = []
    while not await communicator.receive_nothing(timeout=quiet):
        messages.extend(messages_in(await communicator.receive_from(timeout=10)))
    return messages


def _changes(messages: list[dict], you: str | None = None) -> list[dict]:
    """The joins and leaves in these messages, in order (they arrive batched: {"ops": [...]}),
    without those of the connection `you` (a socket may get its own join back in a batch)."""
    assert all(m["type"] == "presence" for m in messages), messages
    return [change for m in messages for change in m["ops"] if change["c"] != you]


def _people(snapshot: dict) -> set[tuple[str, str]]:
    return {(entry["u"], entry["r"]) for entry in snapshot["presence"]}


async def test_a_join_is_one_delta_and_nobody_answers_it(project, users):
    alice = await _socket(users["alice"], project.slug)
    first = await _next(alice)
    assert first["type"] == "snapshot" and _people(first) == {("alice", "board")}
    bob = await _socket(users["bob"], project.slug, room=f"review:{12}")
    snapshot = await _next(bob)
    assert snapshot["type"] == "snapshot"
    assert _people(snapshot) == {("alice", "board"), ("bob", "review:12")}  # the full list: only here
    # Nobody answers a join. (A process may still hand bob alice's own join if it reads it from
    # Redis after bob subscribed: a duplicate of his snapshot, harmless; never anything new.)
    known = {(e["c"], e["r"]) for e in snapshot["presence"]}
    assert all(m["op"] == "join" and (m["c"], m["r"]) in known for m in _changes(await _everything(bob)))
    [joined] = _changes(await _everything(alice), you=first["you"])
    assert joined == {"op": "join", "c": snapshot["you"], "u": "bob", "n": "bob", "i": "BO", "r": "review:12"}
    await bob.disconnect()
    [left] = _changes(await _everything(alice), you=first["you"])
    assert (left["op"], left["u"], left["c"]) == ("leave", "bob", snapshot["you"])
    carol = await _socket(users["carol"], project.slug)
    assert _people(await _next(carol)) == {("alice", "board"), ("carol", "board")}  # bob is gone from Redis too
    await carol.disconnect()
    await alice.disconnect()


async def test_a_reviewer_s_place_on_the_timeline_reaches_the_others_latest_first(project, users):
    """Playheads: a reviewer's moves within one batch reach the others as one entry, the latest;
    only a review room's page may send them, and bad values are refused with an error."""
    alice = await _socket(users["alice"], project.slug, room="review:12")
    await _next(alice)
    bob = await _socket(users["bob"], project.slug, room="review:12")
    bob_you = (await _next(bob))["you"]
    await _everything(alice)
    await _everything(bob)
    for frame in (3, 9, 27):  # scrubbing: three moves within a quarter of a second
        await bob.send_json_to({"type": "playhead", "take": 41, "frame": frame, "playing": False})
    seen = [m for m in await _everything(alice) if m["type"] == "playheads"]
    assert [p for m in seen for p in m["ps"]] == [
        {"c": bob_you, "u": "bob", "n": "bob", "i": "BO", "r": "review:12", "t": 41, "f": 27, "p": False}]
    await bob.send_json_to({"type": "playhead", "take": 41, "frame": 30, "playing": True})
    [moved] = [p for m in await _everything(alice) if m["type"] == "playheads" for p in m["ps"]]
    assert (moved["f"], moved["p"]) == (30, True)

    for bad in ({"take": "41", "frame": 1}, {"take": 41, "frame": -1}, {"take": 41, "frame": 1.5},
                {"take": 41, "frame": 10**12}, {"take": 41, "frame": 1, "playing": "yes"}, {"take": True, "frame": 1}):
        await bob.send_json_to({"type": "playhead", **bad})
        [answer] = [m for m in await _everything(bob, quiet=0.3) if m["type"] != "playheads"]
        assert answer["type"] == "error" and answer["error"].startswith("playhead:"), bad
    carol = await _socket(users["carol"], project.slug)  # the board: not a review room
    await _next(carol)
    await carol.send_json_to({"type": "playhead", "take": 41, "frame": 1})
    assert [m["error"] for m in await _everything(carol) if m["type"] == "error"] == ["playhead: only from a review room"]
    assert not [m for m in await _everything(alice) if m["type"] == "playheads"]  # none of the refused went out
    for socket in (alice, bob, carol):
        await socket.disconnect()


async def test_editing_a_shot_is_a_room_of_its_own(project, shot, users):
    alice = await _socket(users["alice"], project.slug)
    await _next(alice)
    await _everything(alice)  # her own join
    bob = await _socket(users["bob"], project.slug)
    await _next(bob)
    await _everything(alice)
    await bob.send_json_to({"type": "editing", "shot": shot.id})
    [editing] = _changes(await _everything(alice))
    assert (editing["op"], editing["u"], editing["r"]) == ("join", "bob", f"shot:{shot.id}")
    dave = await _socket(users["dave"], project.slug)
    assert ("bob", f"shot:{shot.id}") in _people(await _next(dave))
    await bob.send_json_to({"type": "editing", "shot": None})
    assert [(m["op"], m["r"]) for m in _changes(await _everything(alice)) if m["u"] == "bob"] == [("leave", f"shot:{shot.id}")]
    await _everything(bob)  # dave's join
    await bob.send_json_to({"type": "editing", "shot": 999999})  # not a shot of this project
    assert [m["type"] for m in await _everything(bob)] == ["error"]
    assert [m for m in _changes(await _everything(alice)) if m.get("u") == "bob"] == []
    for socket in (alice, bob, dave):
        await socket.disconnect()


async def test_a_bad_room_is_the_project_room(project, users):
    socket = await _socket(users["dave"], project.slug, room="shot:1%0Aevil")
    assert _people(await _next(socket)) == {("dave", "project")}
    await socket.disconnect()


async def test_presence_lives_in_redis_with_an_expiry_and_stale_entries_go(project, users):
    socket = await _socket(users["dave"], project.slug)
    snapshot = await _next(socket)
    client = presence._client()
    key = presence.room_key(project.id, "board")
    assert 0 < await client.ttl(key) <= presence.TTL_S
    # A server that died without a goodbye: an entry whose last beat is older than the TTL.
    ghost = {"c": "ghost", "u": "ghost", "n": "ghost", "i": "GH", "r": "board", "t": int(time.time()) - presence.TTL_S - 5}
    await client.hset(key, "ghost", json.dumps(ghost))
    roll = await presence.everyone(project.id)
    assert {e["c"] for e in roll.here} == {snapshot["you"]} and [e["c"] for e in roll.gone] == ["ghost"]
    assert not await client.hexists(key, "ghost")
    await socket.disconnect()


async def test_a_ghost_left_by_a_dead_server_is_announced_gone_to_the_pages_showing_it(project, users, monkeypatch):
    """A server that died said no goodbye for its sockets: the pages that saw those people join
    keep showing them until something announces the leave. A heartbeat looks for stale entries
    (at most every SWEEP_S per process and project) and announces each one it removes."""
    from studio import consumers

    monkeypatch.setattr(consumers._sweeps, "_last", {})
    socket = await _socket(users["dave"], project.slug)
    snapshot = await _next(socket)
    await _everything(socket)  # its own join, batched
    key = presence.room_key(project.id, "board")
    ghost = {"c": "ghost", "u": "erin", "n": "Erin", "i": "ER", "r": "board", "t": int(time.time()) - presence.TTL_S - 5}
    await presence._client().hset(key, "ghost", json.dumps(ghost))
    await socket.send_json_to({"type": "heartbeat", "seq": snapshot["seq"]})
    assert _changes(await _everything(socket)) == [{"op": "leave", "c": "ghost", "u": "erin", "n": "Erin", "i": "ER", "r": "board"}]
    assert not await presence._client().hexists(key, "ghost")
    await socket.send_json_to({"type": "heartbeat", "seq": snapshot["seq"]})  # within SWEEP_S: no second look
    assert await _everything(socket) == []
    await socket.disconnect()


async def test_an_entry_that_beat_after_it_was_read_as_stale_is_kept(project):
    """Read as stale, then refreshed by its own heartbeat before the removal: it stays."""
    client = presence._client()
    key = presence.room_key(project.id, "board")
    old = json.dumps({"c": "slow", "u": "erin", "n": "Erin", "i": "ER", "r": "board", "t": 1})
    await client.hset(key, mapping={"slow": old, "dead": old})
    stale = [(key, "slow", old, {"c": "slow"}), (key, "dead", old, {"c": "dead"})]
    await client.hset(key, "slow", json.dumps({"c": "slow", "u": "erin", "n": "Erin", "i": "ER", "r": "board", "t": int(time.time())}))
    assert await presence._remove_unchanged(client, stale) == [{"c": "dead"}]
    assert set(await client.hkeys(key)) == {"slow"}
    await client.delete(key)


async def test_a_group_watched_for_longer_than_the_core_layer_s_group_expiry_still_hears_its_project(project, users, settings):
    """channels_redis' core layer forgets a group's member `group_expiry` after it joined: the
    process's fan-out joins again before then (a day by default; two seconds here)."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["BACKEND"] = "channels_redis.core.RedisChannelLayer"
    layers["default"]["CONFIG"].update(group_expiry=2)
    settings.CHANNEL_LAYERS = layers
    socket = await _socket(users["dave"], project.slug)
    snapshot = await _next(socket)
    await _everything(socket)
    await asyncio.sleep(3.5)  # past the expiry of the first join
    await sync_to_async(events.send_now)(project.id, "shot.changed", {"shot": {"id": 1}})
    [event] = [m for m in await _everything(socket) if m["type"] == "shot.changed"]
    assert event["seq"] == snapshot["seq"] + 1
    await socket.disconnect()


async def test_a_heartbeat_behind_the_database_gets_the_truth_again(project, users):
    socket = await _socket(users["dave"], project.slug)
    snapshot = await _next(socket)
    assert _changes(await _everything(socket), you=snapshot["you"]) == []  # its own join, batched
    await socket.send_json_to({"type": "heartbeat", "seq": snapshot["seq"]})
    assert await _everything(socket) == []  # up to date: nothing to say
    await sync_to_async(events.next_sequence)(project.id)  # an event this socket never got
    await socket.send_json_to({"type": "heartbeat", "seq": snapshot["seq"]})
    again = await _next(socket)
    assert again["type"] == "snapshot" and again["seq"] == snapshot["seq"] + 1
    await socket.disconnect()


@pytest.fixture
def small_inbox(settings):
    """channels_redis' core layer with room for 3 messages per process: easy to fill."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["BACKEND"] = "channels_redis.core.RedisChannelLayer"
    layers["default"]["CONFIG"].update(capacity=3, expiry=10)
    settings.CHANNEL_LAYERS = layers


async def test_a_final_state_lost_to_a_full_inbox_comes_back_from_the_database(project, shot, users, small_inbox):
    from studio.models import Take, TakeStatus
    from studio.selectors import take_payload, take_progress_payload

    take = await sync_to_async(Take.objects.create)(shot=shot, number=1, status=TakeStatus.RUNNING, total_steps=20,
                                                   backend="animatic", request={}, signature=uuid.uuid4().hex)
    socket = await _socket(users["dave"], project.slug)
    snapshot = await _next(socket)
    assert [t["status"] for t in snapshot["takes"] if t["id"] == take.id] == ["running"]
    assert _changes(await _everything(socket), you=snapshot["you"]) == []  # its own join, batched

    def flood():  # a burst from a worker while this process is too busy to read its inbox
        for step in range(1, 20):
            take.step, take.progress = step, step / 20
            take.save(update_fields=["step", "progress"])
            events.send_now(project.id, "take.changed", {"take": take_progress_payload(take)}, progress_only=True)
        take.status, take.progress, take.step = TakeStatus.SUCCEEDED, 1.0, 20
        take.save(update_fields=["status", "progress", "step"])
        events.send_now(project.id, "take.changed", {"take": take_payload(take)})

    worker = threading.Thread(target=flood)
    worker.start()
    worker.join()  # blocks this event loop, where the consumer runs: its inbox fills up
    delivered = await _everything(socket)
    # The inbox held 3 (plus the one a waiting receive had already popped from Redis); the rest,
    # the final state included, was dropped.
    assert 0 < len(delivered) <= 4, delivered
    assert all(m["take"]["status"] == "running" for m in delivered)
    # The browser beats with the last number it saw; the server sees it is behind.
    await socket.send_json_to({"type": "heartbeat", "seq": delivered[-1]["seq"]})
    repaired = await _next(socket)
    assert repaired["type"] == "snapshot"
    assert [t["status"] for t in repaired["takes"] if t["id"] == take.id] == ["succeeded"]
    await socket.disconnect()


async def test_a_gap_in_the_numbers_asks_for_a_resync_that_has_the_final_state(project, shot, users, small_inbox):
    """The other repair path: the browser sees a gap (live.js) and asks; the snapshot has it."""
    socket = await _socket(users["dave"], project.slug)
    await _next(socket)
    await socket.send_json_to({"type": "resync"})
    assert (await _next(socket))["type"] == "snapshot"
    await socket.disconnect()


async def test_joins_in_a_burst_travel_in_one_batch(project, users):
    """Five people opening the board at once reach the one already there as one or two messages
    (joins are batched per process within events.PRESENCE_BATCH_S), and the list is complete."""
    alice = await _socket(users["alice"], project.slug)
    first = await _next(alice)
    await _everything(alice)  # her own join
    others = await asyncio.gather(*(_socket(users[name], project.slug) for name in ("bob", "carol", "dave", "bob", "carol")))
    snapshots = [await _next(socket) for socket in others]
    messages = await _everything(alice)
    assert 1 <= len(messages) <= 2 < len(others)
    assert sorted((c["op"], c["c"]) for c in _changes(messages, you=first["you"])) == sorted(("join", s["you"]) for s in snapshots)
    for socket in [alice, *others]:
        await socket.disconnect()


async def test_events_that_reach_the_process_together_go_to_each_socket_as_one_frame_in_order(project, shot, users):
    """The process's fan-out writes what arrived while it was busy in one pass: one frame per
    socket, an array of the events in the order they were numbered; each socket gets the same."""
    sockets = [await _socket(users[name], project.slug) for name in ("alice", "dave")]
    for socket in sockets:
        await _next(socket)
        await _everything(socket)  # the joins

    def burst():  # three events published while this loop (the server process) is busy
        try:
            for lens in (21, 22, 23):
                events.send_now(project.id, "shot.changed", {"shot": shot.id, "lens": lens})
        finally:
            connection.close()  # this thread's own; the test database is dropped afterwards

    worker = threading.Thread(target=burst)
    worker.start()
    worker.join()  # blocks this event loop: the three wait in the process's inbox
    for socket in sockets:
        frames = []
        while not await socket.receive_nothing(timeout=0.5):
            frames.append(json.loads(await socket.receive_from(timeout=10)))
        assert len(frames) < 3, frames  # not one frame per event
        events_got = [e for frame in frames for e in (frame if isinstance(frame, list) else [frame]) if e["type"] == "shot.changed"]
        assert [e["lens"] for e in events_got] == [21, 22, 23]
        assert [e["seq"] for e in events_got] == sorted(e["seq"] for e in events_got)
        await socket.disconnect()


@pytest.fixture
def core_layer(settings):
    """channels_redis' core layer, which keeps a group's members in Redis where we can count them."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["BACKEND"] = "channels_redis.core.RedisChannelLayer"
    settings.CHANNEL_LAYERS = layers


async def test_a_process_is_in_a_project_group_once_whatever_its_sockets(project, users, core_layer):
    """One channel per server process joins the project's group (one copy of each event per
    process, not per socket), and it leaves with the last socket."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    group_key = layer._group_key(events.project_group(project.id))
    sockets = [await _socket(users[name], project.slug) for name in ("alice", "bob", "dave")]
    async with layer.connection(layer.consistent_hash(events.project_group(project.id))) as redis:
        assert await redis.zcard(group_key) == 1
        for socket in sockets:
            await socket.disconnect()
        assert await redis.zcard(group_key) == 0


async def test_what_arrives_while_a_snapshot_is_made_is_written_after_it(project, users, monkeypatch):
    """A presence change read too late for the snapshot's list but written before the snapshot
    went out would be wiped from the client's list by it (one watcher in 500, now and then, in the
    load bench). Events that come while the snapshot is made wait for it, in order."""
    from studio.consumers import ProjectConsumer

    made, go_on = asyncio.Event(), asyncio.Event()
    snapshot = ProjectConsumer._snapshot

    async def slow_snapshot(self):
        truth = await snapshot(self)
        made.set()
        await go_on.wait()  # the database and Redis have answered; the frame has not gone yet
        return truth

    monkeypatch.setattr(ProjectConsumer, "_snapshot", slow_snapshot)
    socket = await _socket(users["dave"], project.slug)
    await asyncio.wait_for(made.wait(), 10)
    made.clear()
    seq = await sync_to_async(events.send_now)(project.id, "shot.changed", {"shot": 1})
    await asyncio.sleep(0.5)  # the event reaches the process and its fan-out meanwhile
    go_on.set()
    first = await _next(socket)
    assert first["type"] == "snapshot" and first["seq"] == seq - 1
    after = [m for m in await _everything(socket) if m["type"] != "presence"]
    assert [(m["type"], m["seq"]) for m in after] == [("shot.changed", seq)]
    await socket.disconnect()


async def test_a_join_skipped_for_a_client_not_keeping_up_is_repaired_on_its_next_heartbeat(project, users):
    """Joins and leaves carry no number, so a client cannot see that it missed one: the socket
    remembers that a frame was skipped and answers its next heartbeat with a snapshot."""
    dave = await _socket(users["dave"], project.slug)
    snapshot = await _next(dave)
    await _everything(dave)  # its own join, batched
    [consumer] = events._fanout.here()._watching[events.project_group(project.id)]
    stuck = asyncio.get_running_loop().create_future()
    consumer._writing = stuck  # the last write still waits on this client
    carol = await _socket(users["carol"], project.slug)
    await _next(carol)
    await asyncio.sleep(events.PRESENCE_BATCH_S + 0.3)  # carol's join went out, past dave
    stuck.set_result(None)  # dave reads again
    assert await _everything(dave) == []  # the join never reached him
    await dave.send_json_to({"type": "heartbeat", "seq": snapshot["seq"]})  # up to date by the numbers
    again = await _next(dave)
    assert again["type"] == "snapshot" and _people(again) == {("dave", "board"), ("carol", "board")}
    await dave.send_json_to({"type": "heartbeat", "seq": snapshot["seq"]})
    assert await _everything(dave) == []  # repaired: the next beat says nothing
    for socket in (dave, carol):
        await socket.disconnect()
