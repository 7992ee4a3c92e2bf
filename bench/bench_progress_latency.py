"""How long does a progress report take from the worker's callback to a browser's WebSocket?

    python bench/bench_progress_latency.py [--clients 1,200 --intervals-ms 20,250 --events 200]
        [--redis-max-connections 1000] [--publisher loop-thread] [--connect-batch 1]

Goal: p50 <= 5 ms and p99 <= 25 ms, with 1 and with 200 connected clients.

Real parts, three kinds of process:
  server  daphne on a free TCP port serving studio.asgi:application (origin check, session auth,
          ProjectConsumer), started through this script's `--role server`, which only wraps
          ProjectConsumer.forward to stamp when the process's fan-out handed the socket the event
          (a copy with `bench_consumer_t` added) before writing it as the consumer does;
  clients N real WebSocket clients (the `websockets` package) in this process, logged in with a
          session cookie and the page's `Origin` (http://127.0.0.1:PORT), joining --connect-batch at a time (each
          join is answered by every socket already in: presence); each records time.time() on
          every message;
  worker  `--role worker`: calls studio.services.renders.take_record_progress(take=..., step=i,
          total=K, publish=True) K times, --intervals-ms apart, recording time.time() right before
          each call; it also timestamps the pieces (events.last_sequence: a tick carries the last
          event's number and takes none; the channel layer's group_send).
The channel layer is channels_redis against REDIS_URL (default: the embedded Redis of settings).
Latency = client receive time - worker call time, matched by step, for every (client, step).
20 ms apart is the brief's stress rate (about 12 takes rendering at once); 250 ms is the runner's
own throttle (studio/services/progress.py PUBLISH_INTERVAL_S: one take rendering).

--redis-max-connections sets daphne's channel-layer pool size (redis-py 8 caps an asyncio pool at
100 connections; beyond about 100 sockets of one project in one process the presence answers
exhaust it). --publisher loop-thread is an experiment: the worker publishes through one long-lived
event loop instead of async_to_sync (which makes a new loop and Redis connection per event).

All clients share this process and the machine's cores with daphne, Redis and the worker, so with
200 clients their own parsing is part of the measurement (a pessimistic stand-in for 200 browsers).
Django uses a throwaway SQLite database in a temporary directory unless DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench._env import setup_django, throwaway_storage  # noqa: E402  (needs the repository on the path)

GOAL_P50_MS, GOAL_P99_MS = 5.0, 25.0
QUIET_S = 1.0  # the presence chatter of connecting is over when no client heard anything this long


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,200", help="comma-separated client counts, one run each")
    parser.add_argument("--intervals-ms", default="20,250",
                        help="time between progress reports, one run per value and client count "
                             "(250 ms is the runner's own throttle: one take rendering)")
    parser.add_argument("--events", type=int, default=200, help="progress reports per run, at most")
    parser.add_argument("--max-run-s", type=float, default=10.0, help="fewer events for slow intervals, to fit this")
    parser.add_argument("--publisher", choices=("async_to_sync", "loop-thread"), default="async_to_sync",
                        help="loop-thread: an experiment, the worker publishes through one long-lived event loop "
                             "instead of events.send_now's async_to_sync (a new loop and Redis connection per event)")
    parser.add_argument("--profile-server", type=Path, help="write daphne's cProfile stats here (slower)")
    parser.add_argument("--connect-batch", type=int, default=1,
                        help="clients that join at once (each join is answered by every socket already in)")
    parser.add_argument("--redis-max-connections", type=int, default=0,
                        help="daphne's channel-layer pool size (0: as settings say; redis-py 8 caps it at 100)")
    parser.add_argument("--role", choices=("bench", "server", "worker"), default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--take-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--interval-ms", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


# --- Environment shared by the three roles ------------------------------------------------------

def production_like_environment() -> None:
    """Fixed before settings load; the children inherit it."""
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # one key, so daphne accepts our session
    os.environ.setdefault("DEBUG", "0")  # as in production: no query log
    # Our own channel names, so a shared Redis server is not disturbed and does not disturb us.
    os.environ["CONTINUITY_CHANNEL_PREFIX"] = f"bench{os.getpid()}"


# --- Bench: fixture, server, clients, report ---------------------------------------------------

def build_fixture() -> tuple[str, int, str]:
    """(project slug, id of a running take, session cookie of a member)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from studio.services import dispatch
    from studio.services.projects import project_create
    from studio.services.render_requests import take_request
    from studio.services.renders import take_claim
    from studio.services.shots import scene_create, shot_create

    user = get_user_model().objects.create_user(f"bench{time.time_ns()}", password=None)
    project = project_create(owner=user, name="Latency bench", default_backend="animatic")
    scene = scene_create(project=project, actor=user, heading="INT. ENGINE ROOM - NIGHT")
    shot = shot_create(scene=scene, actor=user, prompt="the pistons slow down", duration_s=2)
    dispatch.enqueue_render = lambda take_id: None  # no Celery: the bench's worker claims it itself
    take = take_request(shot=shot, actor=user).take
    take_claim(take_id=take.id, worker="bench", max_attempts=3)  # running, as during a render
    client = Client()
    client.force_login(user)
    return project.slug, take.id, f"sessionid={client.cookies['sessionid'].value}"


class ConnectFailed(Exception):
    """The server dropped or never greeted some of the clients."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, log_path: Path, args) -> subprocess.Popen:
    command = [sys.executable, str(Path(__file__).resolve()), "--role", "server", "--port", str(port),
               "--redis-max-connections", str(args.redis_max_connections)]
    if args.profile_server:
        command += ["--profile-server", str(args.profile_server.resolve())]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"daphne exited early:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"daphne did not listen on {port}:\n{log_path.read_text(errors='replace')[-3000:]}")


class Listener:
    """One WebSocket client: records (receive time, raw text) of every message; parses later."""

    def __init__(self):
        self.received: list[tuple[float, str]] = []
        self.others_here = 0  # presence.here answers: how many sockets greeted this one
        self.close_code: int | None = None
        self.socket = None
        self.task: asyncio.Task | None = None

    async def open(self, url: str, cookie: str) -> None:
        from websockets.asyncio.client import connect

        page = "http://" + url.removeprefix("ws://").split("/", 1)[0]  # the origin check wants the page's own port
        self.socket = await connect(url, origin=page, additional_headers={"Cookie": cookie},
                                    compression=None, ping_interval=None, max_queue=None, open_timeout=60)
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for text in self.socket:
                self.received.append((time.time(), text))
                if '"presence.here"' in text:
                    self.others_here += 1
        except ConnectionClosed as closed:  # the server dropped us: counted in the report
            self.close_code = closed.rcvd.code if closed.rcvd else 1006

    async def close(self) -> None:
        self.task.cancel()
        await self.socket.close()


async def connect_clients(count: int, url: str, cookie: str, batch: int) -> tuple[list[Listener], float]:
    """Open `count` sockets, `batch` at a time; each batch waits until every newcomer was greeted by
    all sockets already in (presence), so the chatter of one batch is over before the next joins.
    Returns (clients, seconds)."""
    started = time.perf_counter()
    clients: list[Listener] = []
    while len(clients) < count:
        already = len(clients)
        newcomers = [Listener() for _ in range(min(batch, count - already))]
        await asyncio.gather(*(c.open(url, cookie) for c in newcomers))
        clients += newcomers
        await _wait_for(lambda: all(c.received and c.others_here >= already for c in newcomers), 60, clients)
    await _wait_for(lambda: time.time() - max(c.received[-1][0] for c in clients if c.received) > QUIET_S, 60, clients)
    elapsed = time.perf_counter() - started - QUIET_S
    dropped = [c.close_code for c in clients if c.close_code]
    snapshots = sum(bool(c.received) and json.loads(c.received[0][1]).get("type") == "snapshot" for c in clients)
    if dropped or snapshots != count:
        raise ConnectFailed(f"connecting {count} clients {batch} at a time: {len(dropped)} sockets closed by the server "
                         f"(codes {sorted(set(dropped))}), {snapshots} snapshots")
    return clients, elapsed


async def _wait_for(condition, timeout: float, clients: list[Listener]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        closed = sum(bool(c.close_code) for c in clients)
        if closed or time.monotonic() > deadline:
            await asyncio.sleep(1)  # let daphne finish logging why
            closed = sum(bool(c.close_code) for c in clients)
            raise ConnectFailed(f"{closed} of {len(clients)} sockets closed by the server" if closed
                                else f"timed out waiting for {len(clients)} clients")
        await asyncio.sleep(0.02)


async def run_worker(take_id: int, events: int, interval_ms: float, publisher: str, out: Path) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--role", "worker", "--take-id", str(take_id),
               "--events", str(events), "--interval-ms", str(interval_ms), "--publisher", publisher, "--out", str(out)]
    process = await asyncio.create_subprocess_exec(*command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL)
    if await asyncio.wait_for(process.wait(), timeout=120) != 0:
        raise SystemExit("the worker process failed")
    return json.loads(out.read_text())


async def measure(count: int, url: str, cookie: str, take_id: int, args, scratch: Path) -> list[dict]:
    """Connect `count` clients once, then one run per interval. Returns one result per run."""
    log = scratch / "daphne.log"
    log_start = log.stat().st_size
    try:
        clients, connect_s = await connect_clients(count, url, cookie, args.connect_batch)
    except ConnectFailed as failure:
        return [{"clients": count, "failed": str(failure), "server_errors": server_errors(log, log_start)}]
    runs = []
    for interval_ms in (float(v) for v in args.intervals_ms.split(",")):
        events = max(1, min(args.events, int(args.max_run_s * 1000 / interval_ms)))
        for client in clients:  # only what the worker sends counts from here on
            client.received.clear()
        sent = await run_worker(take_id, events, interval_ms, args.publisher, scratch / f"worker-{count}.json")
        deadline = time.monotonic() + 15  # a backlog drains, or shows up as missing events
        while time.monotonic() < deadline and any(len(_progress(c, take_id)) < events for c in clients):
            await asyncio.sleep(0.1)
        runs.append({"clients": count, "interval_ms": interval_ms, "events": events, "connect_s": connect_s,
                     **analyse(clients, take_id, sent)})
    await asyncio.wait_for(asyncio.gather(*(c.close() for c in clients), return_exceptions=True), timeout=60)
    return runs


def server_errors(log: Path, start: int) -> dict[str, int]:
    """Exceptions daphne logged since `start` (its last traceback lines), counted."""
    with open(log, "rb") as text:
        text.seek(start)
        lines = text.read().decode(errors="replace").splitlines()
    found: dict[str, int] = {}
    for line in lines:
        if re.match(r"^[\w.]+(Error|Full|Exception)\b", line):
            found[line.strip()] = found.get(line.strip(), 0) + 1
    return found


def _progress(client: Listener, take_id: int) -> dict[int, tuple[float, dict]]:
    """step -> (receive time, event) for this take's progress events that client got."""
    found = {}
    for received_at, text in client.received:
        data = json.loads(text)
        for event in data if isinstance(data, list) else [data]:  # events that reached the fan-out together
            _step_of(found, received_at, event, take_id)
    return found


def _step_of(found: dict, received_at: float, event: dict, take_id: int) -> None:
    if event.get("type") == "take.changed" and event["take"]["id"] == take_id and event["take"]["step"] > 0:
        found.setdefault(event["take"]["step"], (received_at, event))


def analyse(clients: list[Listener], take_id: int, sent: dict) -> dict:
    steps = {int(step): times for step, times in sent["steps"].items()}
    latency, after_send, consumer_to_client = [], [], []
    for client in clients:
        for step, (received_at, event) in _progress(client, take_id).items():
            times = steps[step]
            latency.append((received_at - times["call"]) * 1000)
            after_send.append((received_at - times["group_send_end"]) * 1000)
            consumer_to_client.append((received_at - event["bench_consumer_t"]) * 1000)
    expected = len(clients) * len(steps)
    worker = {name: [(t[end] - t[start]) * 1000 for t in steps.values()] for name, (start, end) in WORKER_PHASES.items()}
    return {"latency": latency, "missing": expected - len(latency), "expected": expected, "after_send": after_send,
            "consumer_to_client": consumer_to_client, "worker": worker, "seq_gaps": sent["seq_gaps"]}


# Pieces of one take_record_progress call, from the worker's timestamps.
WORKER_PHASES = {
    "save + project lookup (DB)": ("call", "sequence_start"),
    "last_sequence (DB)": ("sequence_start", "sequence_end"),
    "sync -> async hop": ("sequence_end", "group_send_start"),
    "group_send (Redis)": ("group_send_start", "group_send_end"),
    "after send + cancel check (DB)": ("group_send_end", "return"),
    "whole call": ("call", "return"),
}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def report(runs: list[dict], args) -> None:
    print(f"{'clients':>7} {'every ms':>8} {'events':>6} {'samples':>8} {'missing':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'connect s':>9}  goal p50 <= {GOAL_P50_MS:g}, p99 <= {GOAL_P99_MS:g} ms")
    failed = [run for run in runs if "failed" in run]
    runs = [run for run in runs if "failed" not in run]
    for run in failed:
        errors = "; ".join(f"{count}x {error}" for error, count in run["server_errors"].items()) or "none logged"
        print(f"{run['clients']:>7}  FAILED: {run['failed']}; daphne: {errors}")
    for run in runs:
        lat = run["latency"]
        p50, p99 = percentile(lat, 0.50), percentile(lat, 0.99)
        verdict = "met" if p50 <= GOAL_P50_MS and p99 <= GOAL_P99_MS and not run["missing"] else _missed_by(p50, p99, run)
        print(f"{run['clients']:>7} {run['interval_ms']:>8g} {run['events']:>6} {len(lat):>8} {run['missing']:>7} "
              f"{p50:>7.2f} {p99:>7.2f} {max(lat):>7.1f} {run['connect_s']:>9.1f}  {verdict}")
    if not runs:
        return
    print("\nwhere the time goes (p50 / p99 ms):")
    print(f"{'piece':<34}" + "".join(f"{'N=%d @%g ms' % (r['clients'], r['interval_ms']):>18}" for r in runs))
    pieces = [*((name, lambda r, n=name: r["worker"][n]) for name in WORKER_PHASES),
              ("group_send done -> client", lambda r: r["after_send"]),
              ("consumer -> client (ws + client)", lambda r: r["consumer_to_client"])]
    for name, values_of in pieces:
        cells = "".join(f"{percentile(values_of(r), .5):>9.2f} /{percentile(values_of(r), .99):>7.2f}" for r in runs)
        print(f"{name:<34}{cells}")
    gaps = [r["seq_gaps"] for r in runs]
    print(f"\npublisher: {args.publisher}; ticks whose number went back (never expected) per run: {gaps}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def _missed_by(p50: float, p99: float, run: dict) -> str:
    parts = []
    if p50 > GOAL_P50_MS:
        parts.append(f"p50 {p50 - GOAL_P50_MS:+.1f} ms over {GOAL_P50_MS:g}")
    if p99 > GOAL_P99_MS:
        parts.append(f"p99 {p99 - GOAL_P99_MS:+.1f} ms over {GOAL_P99_MS:g}")
    if run["missing"]:
        parts.append(f"{run['missing']} of {run['expected']} events lost")
    return "MISSED: " + ", ".join(parts)


def bench_main(args) -> None:
    production_like_environment()
    with throwaway_storage("bench-latency-") as scratch:
        setup_django(migrate=True)
        measure_with_server(args, scratch)


def measure_with_server(args, scratch: Path) -> None:
    from django.conf import settings

    os.environ["REDIS_URL"] = settings.REDIS_URL  # the children use this one; nobody starts a second
    slug, take_id, cookie = build_fixture()
    port = free_port()
    server = start_server(port, scratch / "daphne.log", args)
    try:
        url = f"ws://127.0.0.1:{port}/ws/projects/{slug}/"
        print(f"progress latency: daphne on :{port}, channels_redis at {settings.REDIS_URL}, "
              f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, real WebSocket clients joining "
              f"{args.connect_batch} at a time, daphne's Redis pool "
              f"{args.redis_max_connections or 'as configured (redis-py default 100)'}")
        try:
            runs = [run for n in args.clients.split(",") for run in asyncio.run(measure(int(n), url, cookie, take_id, args, scratch))]
        except BaseException:
            print(f"daphne's log:\n{(scratch / 'daphne.log').read_text(errors='replace')[-4000:]}", file=sys.stderr)
            raise
        report(runs, args)
        if any("failed" in run for run in runs):
            raise SystemExit(1)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


# --- Server: daphne, with the consumer's receive time stamped on each event ----------------------

def server_main(args) -> None:
    setup_django()
    from daphne.cli import CommandLineInterface

    from studio.consumers import ProjectConsumer
    from studio.socket_frames import EventFrame

    forward = ProjectConsumer.forward

    def stamped_forward(self, frame):
        # The process's fan-out hands every socket the same frame: one event, or an array of them.
        data, now = json.loads(frame.text), time.time()
        stamped = [{**event, "bench_consumer_t": now} for event in (data if isinstance(data, list) else [data])]
        forward(self, EventFrame(json.dumps(stamped if isinstance(data, list) else stamped[0])))

    ProjectConsumer.forward = stamped_forward
    if args.redis_max_connections:  # before the layer exists; channels_redis passes it to redis-py's pool
        from django.conf import settings

        for host in settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]:
            host["max_connections"] = args.redis_max_connections
    daphne = ["-b", "127.0.0.1", "-p", str(args.port), "-v", "0", "studio.asgi:application"]
    if not args.profile_server:
        CommandLineInterface().run(daphne)
        return
    import cProfile

    profile = cProfile.Profile()
    profile.runcall(CommandLineInterface().run, daphne)  # returns when daphne handles SIGTERM
    profile.dump_stats(args.profile_server)


# --- Worker: progress reports as studio.services.renders.TakeProgress makes them ------------------

class StepClock:
    """Timestamps of the pieces of each publish, keyed by the step being published."""

    def __init__(self):
        self.steps: dict[int, dict[str, float]] = {}
        self.current: dict[str, float] = {}
        self.sequences: list[int] = []

    def mark(self, name: str) -> None:
        self.current[name] = time.time()


def instrument(clock: StepClock) -> None:
    """Wrap events.last_sequence (the number a tick carries) and the channel layer's group_send to
    timestamp them (no other change)."""
    from channels.layers import get_channel_layer

    from studio import events

    real_last_sequence = events.last_sequence

    def timed_last_sequence(project_id: int) -> int:
        clock.mark("sequence_start")
        seq = real_last_sequence(project_id)
        clock.mark("sequence_end")
        clock.sequences.append(seq)
        return seq

    class TimedLayer:
        def __init__(self, layer):
            self.layer = layer

        async def group_send(self, group, message):
            clock.mark("group_send_start")
            await self.layer.group_send(group, message)
            clock.mark("group_send_end")

    events.last_sequence = timed_last_sequence
    events.get_channel_layer = lambda: TimedLayer(get_channel_layer())


def publish_through_one_loop() -> None:
    """The experiment: events.send_now as it is, but the group_send runs on one event loop kept in a
    thread for the life of the process, so the Redis connection pool is reused."""
    import threading

    from studio import events

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True, name="publisher").start()

    def send_now(project_id, event_type, payload, **kwargs):
        seq = events.last_sequence(project_id)  # the bench sends progress ticks only
        message = {"type": "project.event", "event": {"type": event_type, "seq": seq, "tick": True, **payload}}
        send = events.get_channel_layer().group_send(events.project_group(project_id), message)
        asyncio.run_coroutine_threadsafe(send, loop).result(timeout=5)
        return seq

    events.send_now = send_now


def worker_main(args) -> None:
    # Every tick timed on its way, none coalesced away (at 20 ms apart most would be, and sent
    # later from the coalescer's thread, out of this loop's clock).
    os.environ["CONTINUITY_PROGRESS_COALESCE_S"] = "0"
    setup_django()
    from studio.models import Take
    from studio.services.renders import take_record_progress

    take = Take.objects.select_related("shot__scene__project").get(pk=args.take_id)
    clock = StepClock()
    instrument(clock)
    if args.publisher == "loop-thread":
        publish_through_one_loop()
    for _ in range(3):  # warm-up (connections, imports); step 0 is ignored by the clients
        take_record_progress(take=take, step=0, total=args.events, publish=True)
    time.sleep(0.2)
    clock.sequences.clear()
    started = time.monotonic()
    for step in range(1, args.events + 1):
        clock.current = {}
        clock.mark("call")
        take_record_progress(take=take, step=step, total=args.events, publish=True)
        clock.mark("return")
        clock.steps[step] = clock.current
        pause = started + step * args.interval_ms / 1000 - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    # Ticks carry the last event's number: it never goes back (nothing else publishes meanwhile).
    gaps = sum(later < earlier for earlier, later in zip(clock.sequences, clock.sequences[1:]))
    args.out.write_text(json.dumps({"steps": clock.steps, "seq_gaps": gaps}))


def main() -> None:
    args = parse_args()
    if args.role == "server":
        server_main(args)
    elif args.role == "worker":
        worker_main(args)
    else:
        bench_main(args)


if __name__ == "__main__":
    main()
