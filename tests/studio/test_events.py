"""studio/events.py against the real channel layer (channels_redis on Redis): events leave only after
commit, carry a per-project sequence, and a dead layer never breaks the write that published."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import threading
import time
import uuid

import pytest
from channels.layers import get_channel_layer
from django.db import transaction

from studio import events
from studio.models import Membership, Project


# One long-lived loop for listening, as a server process has: the pub/sub layer subscribes per
# event loop, so a channel must be made and read on the same loop.
_loop = asyncio.new_event_loop()
threading.Thread(target=_loop.run_forever, name="test-listen", daemon=True).start()


def _on_loop(coroutine, timeout: float = 30):
    return asyncio.run_coroutine_threadsafe(coroutine, _loop).result(timeout)


def listen(project_id: int) -> str:
    layer = get_channel_layer()

    async def subscribe():
        channel = await layer.new_channel()
        await layer.group_add(events.project_group(project_id), channel)
        return channel

    return _on_loop(subscribe())


def received(channel: str, *, token: str | None = None, timeout: float = 5.0) -> list[dict]:
    """Every message on the channel until it is quiet for `timeout` (short once one has come),
    keeping only ours (other test runs may share the Redis)."""
    layer = get_channel_layer()
    messages: list[dict] = []

    async def drain():
        wait = timeout
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), wait)
            except asyncio.TimeoutError:
                return
            messages.append(message)
            wait = 0.5

    _on_loop(drain(), timeout=timeout + 60)
    if token is None:
        return messages
    return [m for m in messages if m.get("event", {}).get("token") == token or m.get("token") == token]


@pytest.fixture
def token():
    return uuid.uuid4().hex


@pytest.fixture(autouse=True)
def _private_channel_prefix(settings):
    """Groups of our own, so another test run on the same Redis cannot talk into these tests."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"].setdefault("CONFIG", {})["prefix"] = f"test-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = layers


def test_publish_sends_only_after_commit(project, token, django_capture_on_commit_callbacks):
    early, channel = listen(project.id), listen(project.id)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        events.publish(project.id, "shot.changed", {"shot": 7, "token": token})
    assert len(callbacks) == 1
    assert received(early, token=token, timeout=0.5) == []
    assert Project.objects.get(pk=project.pk).event_seq == 0  # not even numbered yet
    callbacks[0]()
    [message] = received(channel, token=token)
    assert message["type"] == "project.event"
    sent_at = message["event"].pop("sent_at")
    assert message["event"] == {"type": "shot.changed", "seq": 1, "shot": 7, "token": token}
    assert abs(sent_at - time.time()) < 60  # when it was published, for clients and the live bench
    message["event"]["sent_at"] = sent_at
    assert json.loads(message["text"]) == message["event"]  # encoded once, forwarded as it is by every socket


def test_nothing_is_sent_when_the_transaction_rolls_back(project, token, django_capture_on_commit_callbacks):
    channel = listen(project.id)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                events.publish(project.id, "shot.changed", {"token": token})
                raise RuntimeError("rolled back")
    assert callbacks == []
    assert received(channel, token=token, timeout=0.5) == []
    assert events.last_sequence(project.id) == 0


def test_sequence_numbers_increase_by_one_per_project(project, users, token, django_capture_on_commit_callbacks):
    from studio.services.projects import project_create

    other = project_create(owner=users["eve"], name="Other")
    here, there = listen(project.id), listen(other.id)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            events.publish(project.id, "take.changed", {"n": n, "token": token})
        events.publish(other.id, "take.changed", {"n": 0, "token": token})
    mine = received(here, token=token)
    assert [(m["event"]["n"], m["event"]["seq"]) for m in mine] == [(0, 1), (1, 2), (2, 3)]
    assert [m["event"]["seq"] for m in received(there, token=token)] == [1]
    assert events.last_sequence(project.id) == 3
    assert events.last_sequence(other.id) == 1
    assert events.send_now(project.id, "ping", {"token": token}) == 4


def test_an_event_of_a_project_deleted_meanwhile_is_dropped_not_raised(project, token):
    """A worker finishing (or scoring) a take of a project deleted for good meanwhile: nobody to
    tell, and the task must not fail on it (it raised a TypeError reading the missing number)."""
    channel = listen(project.id)
    gone = project.id
    Project.objects.filter(pk=gone).delete()
    assert events.send_now(gone, "take.identity", {"token": token}) is None
    assert received(channel, token=token, timeout=0.5) == []


def test_services_publish_through_the_layer(project, scene, alice, token, django_capture_on_commit_callbacks):
    from studio.services.shots import shot_create

    channel = listen(project.id)
    with django_capture_on_commit_callbacks(execute=True):
        shot = shot_create(scene=scene, actor=alice, prompt=token)
    kinds = [(m["event"]["type"], m["event"].get("shot")) for m in received(channel) if m["event"].get("shot") == shot.id]
    assert kinds == [("shot.changed", shot.id)]


def test_a_dead_channel_layer_is_logged_not_raised(project, monkeypatch, caplog):
    class DeadLayer:
        async def group_send(self, group, message):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(events, "get_channel_layer", lambda: DeadLayer())
    with caplog.at_level(logging.WARNING, logger="studio.events"):
        seq = events.send_now(project.id, "take.changed", {"take": 1})
    assert seq == 1
    assert Project.objects.get(pk=project.pk).event_seq == 1  # the gap tells clients to resync
    [record] = [r for r in caplog.records if r.name == "studio.events"]
    assert "take.changed" in record.getMessage() and record.exc_info[0] is ConnectionError


def test_a_hanging_channel_layer_is_waited_for_once_then_skipped_until_it_may_be_back(project, monkeypatch, caplog):
    """send_now holds the project's row while it sends: with Redis hanging, every publisher of
    the project would wait its timeout in turn. After one send fails, the next ones fail at once
    (logged, numbered: clients resync) until RETRY_AFTER_S has passed; then the layer is tried again."""
    sends = []

    class HangingLayer:
        async def group_send(self, group, message):
            sends.append(message["event"]["seq"])
            await asyncio.sleep(60)

    monkeypatch.setattr(events, "get_channel_layer", lambda: HangingLayer())
    monkeypatch.setattr(events._Publisher, "SEND_TIMEOUT_S", 0.3)
    monkeypatch.setattr(events._Publisher, "RETRY_AFTER_S", 1.0)
    with caplog.at_level(logging.WARNING, logger="studio.events"):
        started = time.monotonic()
        events.send_now(project.id, "take.changed", {"take": 1})
        waited = time.monotonic() - started
        started = time.monotonic()
        for _ in range(3):
            events.send_now(project.id, "take.changed", {"take": 1})
        skipped = time.monotonic() - started
    assert sends == [1]  # the three after the failure never reached the layer
    assert waited >= 0.3 and skipped < 0.3  # no wait for them
    assert len([r for r in caplog.records if r.name == "studio.events"]) == 4  # each one said so
    assert Project.objects.get(pk=project.pk).event_seq == 4  # all numbered: the gap tells clients
    time.sleep(1.0)
    events.send_now(project.id, "take.changed", {"take": 1})
    assert sends == [1, 5]  # tried again


def _layer_at(settings, address: str) -> None:
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["hosts"] = [{"address": address, "socket_timeout": 30}]
    settings.CHANNEL_LAYERS = layers


def test_the_pub_sub_layer_is_published_to_from_the_calling_thread(project, token, settings, monkeypatch):
    """channels_redis' pub/sub layer gets one PUBLISH from the thread that sends (no hand-over to
    an event loop thread); what it publishes is what the layer's own subscribers read."""
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS, "default": {**settings.CHANNEL_LAYERS["default"],
                                                                     "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}}
    channel = listen(project.id)
    monkeypatch.setattr(events._Publisher, "_send_on_loop", lambda *a: pytest.fail("handed to the loop thread"))
    events.send_now(project.id, "take.changed", {"take": {"id": 1}, "token": token})
    [message] = received(channel, token=token)
    assert message["event"]["seq"] == 1 and message["type"] == "project.event"
    assert json.loads(message["text"]) == message["event"]


def test_the_core_layer_keeps_its_own_send(settings):
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS, "default": {**settings.CHANNEL_LAYERS["default"],
                                                                     "BACKEND": "channels_redis.core.RedisChannelLayer"}}
    assert events._DirectPubSub.for_layer(get_channel_layer(), 5) is None


def test_a_pub_sub_redis_that_is_down_is_logged_not_raised(project, settings, caplog):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CHANNEL_LAYERS = copy.deepcopy(settings.CHANNEL_LAYERS)
    _layer_at(settings, f"redis://127.0.0.1:{port}/0")
    with caplog.at_level(logging.WARNING, logger="studio.events"):
        assert events.send_now(project.id, "take.changed", {"take": 1}) == 1
    [record] = [r for r in caplog.records if r.name == "studio.events"]
    assert "take.changed" in record.getMessage() and record.exc_info is not None


def test_a_hanging_pub_sub_redis_is_waited_for_once_then_skipped(project, settings, monkeypatch, caplog):
    """A Redis that takes the connection and never answers: the PUBLISH times out once, and the
    sends after it fail at once until RETRY_AFTER_S has passed."""
    import socket

    silent = socket.create_server(("127.0.0.1", 0), backlog=16)  # accepts (in the kernel), never answers
    monkeypatch.setattr(events._Publisher, "SEND_TIMEOUT_S", 0.3)
    monkeypatch.setattr(events._Publisher, "RETRY_AFTER_S", 30)
    _layer_at(settings, f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
    try:
        with caplog.at_level(logging.WARNING, logger="studio.events"):
            started = time.monotonic()
            events.send_now(project.id, "take.changed", {"take": 1})
            waited = time.monotonic() - started
            started = time.monotonic()
            events.send_now(project.id, "take.changed", {"take": 1})
            skipped = time.monotonic() - started
    finally:
        silent.close()
    assert 0.3 <= waited < 5 and skipped < 0.3
    assert len([r for r in caplog.records if r.name == "studio.events"]) == 2
    assert Project.objects.get(pk=project.pk).event_seq == 2


def test_a_process_connects_its_publisher_as_it_starts(settings):
    """prepare_publisher (called by studio.asgi and each Celery worker process) opens the
    connection the first event will use, named after the process in Redis' CLIENT LIST."""
    import redis

    name = events._DirectPubSub.client_name()
    settings.CHANNEL_LAYERS = copy.deepcopy(settings.CHANNEL_LAYERS)  # a new layer: a new sender, no connection yet
    address = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"]
    connected = lambda: {c["id"] for c in redis.Redis.from_url(address).client_list() if c["name"] == name}  # noqa: E731
    before = connected()
    events.prepare_publisher()
    assert connected() - before  # a connection of this process's publisher that was not there


def test_a_process_starts_while_redis_is_down(project, settings, caplog):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _layer_at(settings, f"redis://127.0.0.1:{port}/0")
    with caplog.at_level(logging.INFO, logger="studio.events"):
        events.prepare_publisher()  # no error: the first send tries again
    assert any("not reachable" in r.getMessage() for r in caplog.records)


def test_a_dead_channel_layer_does_not_break_a_service(project, scene, alice, monkeypatch, django_capture_on_commit_callbacks):
    from studio.models import Shot
    from studio.services.shots import shot_create

    class DeadLayer:
        async def group_send(self, group, message):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(events, "get_channel_layer", lambda: DeadLayer())
    with django_capture_on_commit_callbacks(execute=True):
        shot = shot_create(scene=scene, actor=alice, prompt="still saved")
    assert Shot.objects.filter(pk=shot.pk, prompt="still saved").exists()


def test_removing_a_member_closes_their_sockets_after_commit(project, users, django_capture_on_commit_callbacks):
    from studio.services.projects import membership_remove

    early, channel = listen(project.id), listen(project.id)
    dave = users["dave"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        membership_remove(membership=Membership.objects.get(project=project, user=dave), actor=users["alice"])
    assert [m for m in received(early, timeout=0.3) if m.get("user_id") == dave.id] == []
    for callback in callbacks:
        callback()
    assert {"type": "member.removed", "project": project.id, "user_id": dave.id} in received(channel)


@pytest.mark.django_db(transaction=True)  # the trailing value is sent from the coalescer's own thread
def test_progress_is_coalesced_per_take_and_a_final_state_is_never(project, token, settings, django_capture_on_commit_callbacks):
    settings.CONTINUITY_PROGRESS_COALESCE_S = 0.3
    channel = listen(project.id)
    with django_capture_on_commit_callbacks(execute=True):
        for step in range(1, 11):  # ten ticks of take 1 at once: the first goes, the latest follows
            events.publish(project.id, "take.changed", {"take": {"id": 1, "step": step}, "token": token},
                           progress_only=True, coalesce="take:1")
        events.publish(project.id, "take.changed", {"take": {"id": 2, "step": 1}, "token": token},
                       progress_only=True, coalesce="take:2")  # another take: its own window
    events._coalescer.flush()
    got = [(m["event"]["take"]["id"], m["event"]["take"]["step"], m["event"]["seq"], m["event"]["tick"])
           for m in received(channel, token=token)]
    assert [(take, step) for take, step, *_ in got] == [(1, 1), (2, 1), (1, 10)]  # in the order sent
    # ticks take no number: each carries the last event's (none yet), so what was skipped leaves no gap
    assert [(seq, tick) for *_, seq, tick in got] == [(0, True)] * 3
    assert events.last_sequence(project.id) == 0

    channel = listen(project.id)
    with django_capture_on_commit_callbacks(execute=True):
        for step in range(1, 4):
            events.publish(project.id, "take.changed", {"take": {"id": 3, "step": step}, "token": token},
                           progress_only=True, coalesce="take:3")
        events.publish(project.id, "take.changed", {"take": {"id": 3, "status": "succeeded"}, "token": token},
                       coalesce="take:3")
    events._coalescer.flush()
    got = [(m["event"]["take"], m["event"]["seq"]) for m in received(channel, token=token)]
    # the latest waiting tick goes just before the final state, never after it
    assert got == [({"id": 3, "step": 1}, 0), ({"id": 3, "step": 3}, 0), ({"id": 3, "status": "succeeded"}, 1)]


@pytest.mark.django_db(transaction=True)  # the trailing tick is sent from the coalescer's own thread
def test_a_final_state_waits_for_the_trailing_tick_the_thread_is_sending(project, token, settings, monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    """The coalescer's thread takes the waiting tick and sends it; a final state published in that
    moment must not go first, or the tick arrives after it and every page shows "running" again
    (an export's last progress came after its "succeeded" in CI). The thread's send is slowed on
    purpose so the final state comes while it is under way."""
    settings.CONTINUITY_PROGRESS_COALESCE_S = 0.05
    real_send_now = events.send_now
    thread_sending = threading.Event()

    def slow_when_trailing(*args, **kwargs):
        if threading.current_thread().name == "continuity-coalesce":
            thread_sending.set()
            time.sleep(0.5)
        return real_send_now(*args, **kwargs)

    monkeypatch.setattr(events, "send_now", slow_when_trailing)
    channel = listen(project.id)
    with django_capture_on_commit_callbacks(execute=True):
        for step in (1, 2):  # the first goes at once, the second waits for the thread
            events.publish(project.id, "export.changed", {"export": {"id": 7, "step": step}, "token": token},
                           progress_only=True, coalesce="export:7")
    assert thread_sending.wait(5)
    with django_capture_on_commit_callbacks(execute=True):
        events.publish(project.id, "export.changed", {"export": {"id": 7, "status": "succeeded"}, "token": token},
                       coalesce="export:7")
    events._coalescer.flush()
    got = [m["event"]["export"] for m in received(channel, token=token)]  # in the order they reached the layer
    assert got == [{"id": 7, "step": 1}, {"id": 7, "step": 2}, {"id": 7, "status": "succeeded"}]


@pytest.fixture
def slow_numbering(monkeypatch):
    """A slow moment between an event's number and its send (a busy machine), made on purpose."""
    numbered = events.next_sequence

    def slow_after_numbering(project_id):
        seq = numbered(project_id)
        time.sleep(0.002 * (seq % 3))
        return seq

    monkeypatch.setattr(events, "next_sequence", slow_after_numbering)


@pytest.mark.django_db(transaction=True)  # publishers on threads of their own, each with its own connection
def test_events_from_concurrent_publishers_reach_the_layer_in_the_order_of_their_numbers(project, token, slow_numbering):
    """A worker's final state and an edit from the web process are numbered by one counter; if they
    crossed on the way to Redis, every socket would see a gap and ask for a snapshot at once. A
    slow moment between numbering and sending (a busy machine) is made on purpose here."""
    from django.db import connection

    channel = listen(project.id)

    def publisher(n: int) -> None:
        try:
            for i in range(15):
                events.send_now(project.id, "take.changed", {"take": {"id": n, "step": i}, "token": token})
        finally:
            connection.close()

    threads = [threading.Thread(target=publisher, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    seqs = [m["event"]["seq"] for m in received(channel, token=token)]
    assert sorted(seqs) == list(range(1, 61))  # all of them
    assert seqs == sorted(seqs)  # and in order


@pytest.mark.django_db(transaction=True)  # publishers on threads of their own, each with its own connection
def test_a_tick_carries_the_last_number_and_is_never_ahead_of_the_events_that_reach_the_layer_before_it(
        project, token, slow_numbering):
    """Progress ticks take no number (events.send_tick); each carries the number of the last event
    sent. A client resyncs when a tick's number is above its own, so a tick whose number reached
    the layer before the event of that number would send every socket to the database for nothing.
    Ticks and numbered events are sent together here, with a slow moment after each numbering."""
    from django.db import connection

    channel = listen(project.id)

    def publisher(n: int, tick: bool) -> None:
        try:
            for i in range(15):
                events.send_now(project.id, "take.changed", {"take": {"id": n, "step": i}, "token": token}, progress_only=tick)
        finally:
            connection.close()

    threads = [threading.Thread(target=publisher, args=(n, n % 2 == 0)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    got = [m["event"] for m in received(channel, token=token)]
    assert len(got) == 60
    assert [e["seq"] for e in got if not e.get("tick")] == list(range(1, 31))  # no number taken by a tick
    last_numbered = 0
    for event in got:
        if event.get("tick"):
            assert event["seq"] <= last_numbered  # never ahead: no false gap
        else:
            last_numbered = event["seq"]
    assert events.last_sequence(project.id) == 30


@pytest.mark.django_db(transaction=True)  # the project's row is held by another connection
def test_a_tick_goes_while_another_publisher_holds_the_project_row(project, token):
    """A numbered event holds the project's row from its number to its COMMIT; a tick reads the
    last number without waiting for it, so a project's render workers do not queue on one row."""
    from django.db import connection
    from django.db.models import F

    channel = listen(project.id)
    holding, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        try:
            with transaction.atomic():
                Project.objects.filter(pk=project.pk).update(event_seq=F("event_seq") + 1)
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert holding.wait(10)
    sent: list = []

    def tick() -> None:
        try:
            sent.append(events.send_tick(project.id, "take.changed", {"take": {"id": 1, "step": 1}, "token": token}))
        finally:
            connection.close()

    ticker = threading.Thread(target=tick)
    ticker.start()
    ticker.join(10)
    still_held = not release.is_set() and holder.is_alive()
    release.set()
    holder.join(30)
    assert not ticker.is_alive() and still_held  # it went while the row was held
    assert sent == [0]  # the number committed before the holder's
    [message] = received(channel, token=token)
    assert message["event"]["tick"] is True and message["event"]["seq"] == 0
