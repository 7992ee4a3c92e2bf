"""The floor of live progress on this machine, for bench_live_load to measure the studio against.

The same N picows watchers split over the same number of watcher processes, the same cadence (as many takes, each ticking
on its own clock), the same number of server processes sharing one listening socket, the same Redis
and the same Redis client as channels_redis' pub/sub layer (redis-py's asyncio client, hiredis) —
but bare servers: each process subscribes to one Redis channel and writes every published message,
as it came, to every socket it holds. No Django, no Channels, no ASGI, no database, no sequence
numbers, no snapshot, no presence. The publisher is a process of its own that publishes a
progress event shaped like the studio's (`take.changed`, stamped `sent_at` as it is published).

What this floor takes to reach the median and the 99th watcher is what two cores take to write and
read N loopback sockets per event; what the studio takes beyond it is the ratio the bench prints.

    run_floor(clients=500, processes=2, takes=4, steps=20, interval_ms=250, watcher_processes=2)
        -> {"latencies_ms": [...], "lost": 0}
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import socket
import time

from picows import WSListener, WSMsgType, ws_connect, ws_create_server


class _Sockets(WSListener):
    """A server side of one watcher: remembered while it is open."""

    def __init__(self, sockets: set):
        super().__init__()
        self.sockets = sockets

    def on_ws_connected(self, transport) -> None:
        self.sockets.add(transport)

    def on_ws_disconnected(self, transport) -> None:
        self.sockets.discard(transport)


async def _serve(listening: socket.socket, redis_url: str, channel: str, ready) -> None:
    import redis.asyncio as redis

    sockets: set = set()
    server = await ws_create_server(lambda _request: _Sockets(sockets), sock=listening, websocket_handshake_timeout=120)
    subscriber = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    await subscriber.subscribe(channel)
    ready.set()
    async with server:
        async for message in subscriber.listen():
            for transport in list(sockets):  # the same bytes to every socket, as the studio's pass
                transport.send(WSMsgType.TEXT, message["data"])


def _server_process(listening: socket.socket, redis_url: str, channel: str, ready) -> None:
    import uvloop

    uvloop.run(_serve(listening, redis_url, channel, ready))


def _publish(redis_url: str, channel: str, takes: int, steps: int, interval_ms: float, lockstep: bool = False) -> None:
    """`takes` takes on their own clocks (or all at once with `lockstep`), as bench.live_progress
    ticks them in the studio's run."""
    import redis

    client = redis.Redis.from_url(redis_url)
    interval = interval_ms / 1000
    offsets = [0.0] * takes if lockstep else [random.uniform(0, interval) for _ in range(takes)]
    ticks = sorted((offset + step * interval, n, step) for n, offset in enumerate(offsets) for step in range(1, steps + 1))
    started = time.monotonic()
    for seq, (due, n, step) in enumerate(ticks, start=1):
        time.sleep(max(0.0, started + due - time.monotonic()))
        take = {"id": n + 1, "shot_id": n + 1, "status": "running", "progress": round(step / (steps + 1), 4), "step": step,
                "total_steps": steps + 1, "phase": "denoising"}
        client.publish(channel, json.dumps({"type": "take.changed", "seq": seq, "take": take, "sent_at": round(time.time(), 6)},
                                           separators=(",", ":")))


class _Watcher(WSListener):
    def __init__(self):
        super().__init__()
        self.frames: list[tuple[float, bytes]] = []
        self.transport = None

    def on_ws_connected(self, transport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport, frame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.frames.append((time.time(), frame.get_payload_as_bytes()))


async def _watch_share(port: int, clients: int, conn) -> list[_Watcher]:
    """This process's share of the watchers: opened, then told the parent, then kept until the
    parent says the publisher is done."""
    watchers = []
    for first in range(0, clients, 50):  # in batches, as the studio's run opens them
        opened = await asyncio.gather(*(ws_connect(_Watcher, f"ws://127.0.0.1:{port}/", websocket_handshake_timeout=120)
                                        for _ in range(first, min(clients, first + 50))))
        watchers += [listener for _transport, listener in opened]
    conn.send("open")
    while not conn.poll():
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # stragglers
    for watcher in watchers:
        watcher.transport.disconnect()
    return watchers


def _watcher_process(port: int, clients: int, conn) -> None:
    import gc

    import uvloop

    gc.disable()  # as for the studio's watchers: the bench's own collections are not the servers'
    watchers = uvloop.run(_watch_share(port, clients, conn))
    conn.send([(received, payload) for w in watchers for received, payload in w.frames])


def _watch(port: int, clients: int, watcher_processes: int, redis_url: str, channel: str, takes: int, steps: int,
           interval_ms: float, lockstep: bool = False) -> list[tuple[float, bytes]]:
    """Every frame the watchers received, (time, payload), the watchers split over `watcher_processes`
    processes as bench_live_load splits the studio's."""
    context = multiprocessing.get_context("fork")
    shares = [clients // watcher_processes + (k < clients % watcher_processes) for k in range(watcher_processes)]
    pipes, parts = [], []
    try:
        for share in shares:
            parent_end, child_end = context.Pipe()
            part = context.Process(target=_watcher_process, args=(port, share, child_end), daemon=True)
            part.start()
            pipes.append(parent_end)
            parts.append(part)
        for pipe in pipes:
            if not pipe.poll(120) or pipe.recv() != "open":
                raise RuntimeError("a floor watcher process did not open its sockets")
        publisher = context.Process(target=_publish, args=(redis_url, channel, takes, steps, interval_ms, lockstep))
        publisher.start()
        publisher.join()
        for pipe in pipes:
            pipe.send("done")
        frames = []
        for pipe in pipes:
            if not pipe.poll(120):
                raise RuntimeError("a floor watcher process did not report")
            frames += pipe.recv()
        return frames
    finally:
        for part in parts:
            part.join(10)
            if part.is_alive():
                part.terminate()


def run_floor(*, clients: int, processes: int, takes: int, steps: int, interval_ms: float, watcher_processes: int = 1,
              redis_url: str | None = None, lockstep: bool = False) -> dict:
    """One run of the floor: every publish->receive latency (ms) and the events it lost."""
    redis_url = redis_url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    channel = f"livefloor{os.getpid()}-{time.time_ns()}"
    listening = socket.create_server(("127.0.0.1", 0), backlog=4096)
    port = listening.getsockname()[1]
    context = multiprocessing.get_context("fork")
    servers = []
    try:
        for _ in range(processes):
            ready = context.Event()
            server = context.Process(target=_server_process, args=(listening, redis_url, channel, ready), daemon=True)
            server.start()
            servers.append(server)
            if not ready.wait(30):
                raise RuntimeError("a floor server did not start")
        frames = _watch(port, clients, watcher_processes, redis_url, channel, takes, steps, interval_ms, lockstep)
    finally:
        listening.close()
        for server in servers:
            server.terminate()
            server.join(10)
    latencies = [(received - json.loads(payload)["sent_at"]) * 1000 for received, payload in frames]
    return {"latencies_ms": latencies, "lost": takes * steps * clients - len(latencies)}
