"""A team on one project at once: N WebSocket watchers, a real Celery worker publishing progress on
4 concurrent takes, edits over HTTP, and HTTP load on the board, sign-in and API pages.

    python bench/bench_live_load.py [--clients 50,200,500] [--servers uvicorn:2]
        [--layers pubsub] [--steps 20] [--interval-ms 250] [--edits 5]
        [--watcher-processes 2] [--http-duration 10] [--http-rounds 3] [--http-connections 50] [--board-shots 500] [--no-http] [--no-floor] [--lockstep] [--keep-logs DIR]

Per (server, layer, N) it prints:
  connect-all   seconds from the first socket opening until every watcher has its snapshot and a
                complete "who is here" list (snapshot + join deltas) of all N connections;
  presence      how many watchers ended with the complete list;
  publish->receive p50/p95/p99 ms: the worker's publish (the event's `sent_at`, stamped as it is
                handed to the channel layer) to the watcher's receive, for every progress event of
                every watcher: the issue's "worker-publish -> client-receive";
  report->receive p50/p95/p99 ms: from the worker's time.time() right before take_record_progress
                (save the progress, read the last event number, publish): the same, plus the database work;
  edit->receive p50/p95/p99 ms: an HTTP PATCH of a shot through the server (request sent, from a
                process of its own, as a person's browser would) to each watcher's shot.changed;
                under it, each edit's request->publish (the server's part: the request read, the
                shot written, the event numbered and handed to the layer) and the edits'
                publish->receive (the fan-out's part); the measured edits come after 8
                unmeasured ones of another shot (a process's first edit pays for code run the
                first time), whose answer times are printed;
  bare floor    before each run, the same N watchers, cadence and number of server processes
                against bare servers (bench/live_floor.py: Redis pub/sub written to every socket,
                nothing else): what two cores take to write and read N sockets per event; the
                studio's publish->receive is printed over it;
  lost          progress ticks the worker recorded, and edits made, that a watcher never received
                (counted per watcher, each take's step once); sequence gaps ("gaps") and final states a watcher
                never got, live or in a resync snapshot ("finals"), have columns of their own. A
                tick the coalescer held (a worker more than its window behind) is stamped when it
                is sent: that wait shows in report->receive, not publish->receive;
then wrk on the board (--board-shots shots), the sign-in page and the REST API's shot list under
--http-connections connections, the three in turn for --http-rounds rounds of --http-duration
seconds each: the medians, each page's p95 over the sign-in p95 of the same round (and their
median), and the CPU one request of the page took, in ms, in the server's processes, PostgreSQL,
Redis and wrk (from /proc; the median of the rounds).

Real parts: the studio's ASGI app under the chosen server (daphne, uvicorn with uvloop and
httptools, or gunicorn managing uvicorn workers; `kind:processes`), channels_redis on REDIS_URL,
the database of DATABASE_URL (a throwaway SQLite file if unset), and `celery -A studio worker`
(started here, with this module included so it knows the bench's one task, `bench.live_progress`,
which drives the studio's own services: take_record_progress, then take_succeed). The watchers
are picows clients (a Cython WebSocket client) split over --watcher-processes processes (2 by
default; the floor's the same), stamping each frame in a callback as it is read and parsing it
about 10 ms later with the others read meanwhile (a browser parses only its own socket's frames):
on a shared 2-core machine their own reading is still part of the measurement, as is the CPU the
servers lose to them (a pessimistic stand-in for N browsers on N machines). Each run's server and worker logs can be kept with --keep-logs DIR.

`run_live(...)` is also what tests/e2e/test_live_load.py calls with N=10 as a correctness test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import random
import secrets
import signal
import statistics
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from celery import shared_task  # noqa: E402
from picows import WSListener, WSMsgType, ws_connect  # noqa: E402

from bench.bench_board_page import BROWSER_ACCEPT_ENCODING, P95_LUA, run_wrk, warm  # noqa: E402
from bench.live_floor import run_floor  # noqa: E402

TAKES = 4
FINAL = {"succeeded", "failed", "cancelled"}


# --- The worker's side: a Celery task that drives the studio's own services --------------------

@shared_task(name="bench.live_progress")
def live_progress(take_ids: list[int], steps: int, interval_ms: float, out: str, lockstep: bool = False) -> None:
    """Progress on every take every interval (take_record_progress: save, publish a tick), then
    each take succeeds (take_succeed: its final state). Publish times go to `out` as JSON.

    Each take ticks on its own clock, started at a random moment within the first interval, as
    four renders on four GPU workers do (each reports when its own denoising step ends). With
    `lockstep`, all four tick at the same moment, one after the other: the worst case for the
    fan-out (four events within a few milliseconds), kept to compare."""
    from studio.models import Take
    from studio.services.renders import take_record_progress, take_succeed

    takes = [Take.objects.select_related("shot__scene").get(pk=pk) for pk in take_ids]
    interval = interval_ms / 1000
    offsets = [0.0] * len(takes) if lockstep else [random.uniform(0, interval) for _ in takes]
    ticks = sorted((offset + step * interval, n, step) for n, offset in enumerate(offsets) for step in range(1, steps + 1))
    sent, finals = [], []
    started = time.monotonic()
    for due, n, step in ticks:
        time.sleep(max(0.0, started + due - time.monotonic()))
        sent.append([takes[n].id, step, time.time()])
        take_record_progress(take=takes[n], step=step, total=steps + 1, publish=True)
    time.sleep(max(0.0, started + ticks[-1][0] + interval - time.monotonic()))
    for take in takes:
        finals.append([take.id, time.time()])
        take_succeed(take=take, video="", poster="", last_frame="", frames=0, duration_s=0.0,
                     compute_seconds=0.0, provenance={"bench": True})
    Path(out).write_text(json.dumps({"sent": sent, "finals": finals}))


# --- Environment, fixture, processes -------------------------------------------------------------

def production_like_environment(layer: str) -> None:
    """Fixed before settings load; the server and the worker inherit it."""
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # one key: the server accepts our session
    os.environ.setdefault("DEBUG", "0")
    os.environ["CONTINUITY_CHANNEL_LAYER"] = layer
    os.environ["CONTINUITY_CHANNEL_PREFIX"] = f"benchlive{os.getpid()}{layer}"  # our own groups on a shared Redis
    os.environ["CONTINUITY_IDENTITY_SCORING"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("CONN_MAX_AGE", "0")  # ASGI servers: no connection kept per thread (README)
    os.environ.setdefault("CONTINUITY_DB_POOL", "8")  # ...but a pool per process (PostgreSQL; README)


@dataclass
class World:
    slug: str
    project_id: int
    take_ids: list[int]
    shot_ids: list[int]
    cookie: str
    token: str
    user: str


def build_world(board_shots: int) -> World:
    """A project with `board_shots` shots (at least TAKES), TAKES of them with a running take.
    The caller keeps services.dispatch from sending render messages for them."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from studio.models import Shot
    from studio.services.api_tokens import api_token_create
    from studio.services.projects import project_create
    from studio.services.render_requests import take_request
    from studio.services.renders import take_claim
    from studio.services.shots import scene_create, shot_create

    user = get_user_model().objects.create_user(f"live{time.time_ns()}", password=None, first_name="Load", last_name="Bench")
    if board_shots > TAKES:
        from bench.bench_board_page import build_project

        project = build_project(user, board_shots, f"Live load {time.time_ns()}")
    else:
        project = project_create(owner=user, name=f"Live load {time.time_ns()}", default_backend="animatic")
        scene = scene_create(project=project, actor=user, heading="INT. ENGINE ROOM - NIGHT")
        for n in range(TAKES):
            shot_create(scene=scene, actor=user, prompt=f"the pistons slow down {n}", duration_s=2)
    shots = list(Shot.objects.alive().filter(scene__project=project).order_by("id")[:TAKES])
    take_ids = []
    for shot in shots:
        take = take_request(shot=shot, actor=user).take
        take_claim(take_id=take.id, worker="bench", max_attempts=3)  # running, as during a render
        take_ids.append(take.id)
    client = Client()
    client.force_login(user)
    _, token = api_token_create(user=user, name="live bench", scopes=["read", "write"])
    return World(project.slug, project.id, take_ids, [s.id for s in shots],
                 f"sessionid={client.cookies['sessionid'].value}", token, user.get_username())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_command(kind: str, processes: int, port: int) -> tuple[list[str], list[int]]:
    """The command line of an ASGI server (and fds it inherits)."""
    app = "studio.asgi:application"
    if kind == "uvicorn":
        return ([sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--workers", str(processes),
                 "--loop", "uvloop", "--http", "httptools", "--ws-per-message-deflate", "false", "--lifespan", "off", "--no-access-log",
                 "--log-level", "warning", "--backlog", "4096", "--timeout-graceful-shutdown", "3"], [])
    if kind == "gunicorn":
        return ([sys.executable, "-m", "gunicorn", "-k", "studio.uvicorn_worker.UvicornWorker", "-w", str(processes),
                 "-b", f"127.0.0.1:{port}", "--backlog", "4096", "--log-level", "warning", "--graceful-timeout", "3", app], [])
    if kind == "daphne":
        return ([sys.executable, "-m", "studio.daphne_server", "-b", "127.0.0.1", "-p", str(port), app], [])
    raise SystemExit(f"unknown server {kind!r}: daphne, uvicorn or gunicorn")


def start_server(kind: str, processes: int, port: int, log_dir: Path) -> list[subprocess.Popen]:
    if kind == "daphne" and processes > 1:  # daphne has no process manager: one per process, SO_REUSEPORT
        from bench.bench_board_page import start_daphnes

        servers = start_daphnes(processes, port, log_dir)
    else:
        command, _ = server_command(kind, processes, port)
        log = open(log_dir / f"{kind}.log", "wb")
        servers = [subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if any(s.poll() is not None for s in servers):
            stop(servers)
            raise RuntimeError(f"{kind} exited early:\n" + "\n".join(f.read_text(errors="replace")[-2000:] for f in log_dir.glob("*.log")))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            time.sleep(0.5 if processes == 1 else 2.0)  # every process up, not just the first
            return servers
        except OSError:
            time.sleep(0.2)
    stop(servers)
    raise RuntimeError(f"{kind} did not listen on {port}")


def start_worker(log_dir: Path) -> tuple[subprocess.Popen, str]:
    queue = f"benchlive{os.getpid()}-{time.time_ns()}"
    log_path = log_dir / "worker.log"
    command = [sys.executable, "-m", "celery", "-A", "studio", "worker", "-I", "bench.bench_live_load", "-Q", queue,
               "--concurrency", "1", "--prefetch-multiplier", "1", "-n", f"{queue}@%h", "--loglevel", "INFO",
               "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, start_new_session=True)
    deadline = time.monotonic() + 90
    while "ready." not in log_path.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            stop([worker])
            raise RuntimeError(f"the Celery worker did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return worker, queue


def stop(processes: list[subprocess.Popen]) -> None:
    """Stop each process and everything it started. Each runs in a session of its own, so its
    process group holds its children too: a uvicorn worker whose supervisor went first was left
    behind holding database connections (the test database then could not be dropped)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        try:
            os.killpg(process.pid, signal.SIGKILL)  # whatever of its group is still there
        except (ProcessLookupError, PermissionError):
            pass


# --- Watchers --------------------------------------------------------------------------------------

class Watcher:
    """One WebSocket client that behaves like live.js: keeps the sequence, asks for a snapshot on a
    gap, keeps the presence list from its snapshot and the deltas. A picows listener: frames are
    handled in a callback as they are read, without a task per socket, so 500 of them in one
    process measure the server rather than the client library."""

    def __init__(self):
        self.received: list[tuple[float, dict]] = []
        self.you: str | None = None
        self.seq: int | None = None
        self.gaps = 0
        self.people: set = set()
        self.finals: set[int] = set()  # take ids seen in a final state (live or in a snapshot)
        self.close_code: int | None = None
        self.transport = None
        self.text: list[bytes] = []  # a fragmented message so far

    async def open(self, url: str, origin: str, cookie: str) -> None:
        self.transport, _ = await ws_connect(lambda: _WatcherListener(self), url, websocket_handshake_timeout=120,
                                             extra_headers={"Origin": origin, "Cookie": cookie})

    def frame(self, now: float, payload: bytes) -> None:
        data = json.loads(payload)
        for message in data if isinstance(data, list) else [data]:  # events that reached the server together
            self._handle(now, message)

    def _handle(self, now: float, message: dict) -> None:
        self.received.append((now, message))
        kind = message.get("type")
        if kind == "snapshot":
            self.you, self.seq = message["you"], message["seq"]
            self.people = {(e["c"], e["r"]) for e in message["presence"]}
            self.finals |= {t["id"] for t in message.get("takes", []) if t["status"] in FINAL}
        elif kind == "presence":
            for change in message["ops"]:
                (self.people.add if change["op"] == "join" else self.people.discard)((change["c"], change["r"]))
        elif message.get("tick"):  # no number of its own: the last event's (one above ours: we missed it)
            if isinstance(message.get("seq"), int) and self.seq is not None and message["seq"] > self.seq:
                self.gaps += message["seq"] - self.seq
                self.seq = message["seq"]  # counted once, asked once (the snapshot may still set it back)
                self.send('{"type":"resync"}')
        elif isinstance(message.get("seq"), int) and self.seq is not None:
            if kind == "take.changed" and message["take"]["status"] in FINAL:
                self.finals.add(message["take"]["id"])
            if message["seq"] > self.seq + 1:
                self.gaps += message["seq"] - self.seq - 1
                self.send('{"type":"resync"}')
            self.seq = max(self.seq, message["seq"])

    def send(self, text: str) -> None:
        self.transport.send(WSMsgType.TEXT, text.encode())

    async def close(self) -> None:
        self.transport.send_close()
        self.transport.disconnect()


class _Inbox:
    """Frames stamped as they are read and handled a little later, all together. 500 watchers share
    this one process and its core with the servers; parsing each frame as it was read delayed the
    reading (and stamping) of the next socket's frame behind it: the client's own JSON work, not
    the server, was most of the measured latency. A browser parses its own socket's frames."""

    DELAY_S = 0.01

    def __init__(self):
        self._frames: list[tuple[Watcher, float, bytes]] = []

    def add(self, watcher: Watcher, now: float, payload: bytes) -> None:
        if not self._frames:
            asyncio.get_running_loop().call_later(self.DELAY_S, self._handle)
        self._frames.append((watcher, now, payload))

    def _handle(self) -> None:
        frames, self._frames = self._frames, []
        for watcher, now, payload in frames:
            watcher.frame(now, payload)

    def flush(self) -> None:
        """Handle what is waiting now (before the figures are taken)."""
        self._handle()

    def forget(self) -> None:
        """A new run on a new event loop: nothing of the last one's watchers is waiting, and the
        next frame schedules its own handling."""
        self._frames = []


_inbox = _Inbox()


class _WatcherListener(WSListener):
    def __init__(self, watcher: Watcher):
        super().__init__()
        self.watcher = watcher

    def on_ws_frame(self, transport, frame) -> None:
        now = time.time()
        if frame.msg_type == WSMsgType.CLOSE:
            self.watcher.close_code = frame.get_close_code()
            transport.disconnect()
        elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.CONTINUATION):
            self.watcher.text.append(frame.get_payload_as_bytes())
            if frame.fin:
                payload, self.watcher.text = b"".join(self.watcher.text), []
                _inbox.add(self.watcher, now, payload)

    def on_ws_disconnected(self, transport) -> None:
        if self.watcher.close_code is None:
            self.watcher.close_code = 1006


async def _until(condition, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def _stats(values: list[float]) -> dict:
    return {"n": len(values), "p50": percentile(values, .50), "p95": percentile(values, .95), "p99": percentile(values, .99)}


def _patch_shot(port: int, world: World, shot_id: int, lens: int) -> tuple[float, int]:
    """An edit through the server's REST API: (time the request was sent, the shot's new version,
    which its event carries)."""
    sent, _ms, version = _timed_patch(port, world, shot_id, lens)
    return sent, version


def _timed_patch(port: int, world: World, shot_id: int, lens: int) -> tuple[float, float, int]:
    """An edit through the server's REST API: (time the request was sent, ms until its answer, the
    shot's new version)."""
    import http.client

    headers = {"Authorization": f"Bearer {world.token}", "Content-Type": "application/json", "X-Forwarded-Proto": "https"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    path = f"/api/v1/projects/{world.slug}/shots/{shot_id}/"
    connection.request("GET", path, headers=headers)
    version = json.loads(connection.getresponse().read())["version"]
    sent = time.time()
    connection.request("PATCH", path, body=json.dumps({"lens_mm": lens, "version": version}), headers=headers)
    response = connection.getresponse()
    body = response.read()
    answered = time.time()
    if response.status != 200:
        raise RuntimeError(f"PATCH {path}: {response.status} {body[:300]!r}")
    return sent, (answered - sent) * 1000, json.loads(body)["version"]


# A server process's first edits run code for the first time (Django's and DRF's lazily built
# parts, the ORM's update and insert paths, psycopg's adapters): on an idle server the first PATCH
# of a process took 17-22 ms, the next ones 8-12. That is a start's cost, paid once per process, not
# a team's: the measured edits come after these, on another shot, as on a server that has been up
# a while (the HTTP rounds warm their pages the same way). Their answer times are printed.
WARM_UP_EDITS = 8  # on fresh connections: each process of gunicorn:2 takes some of them


def _warm_up_edits(editor, port: int, world: World) -> list[float]:
    return [editor.submit(_timed_patch, port, world, world.shot_ids[1], 60 + n).result()[1] for n in range(WARM_UP_EDITS)]


# --- Watcher processes ------------------------------------------------------------------------------
# The watchers are split over `watcher_processes` processes (500 browsers are 500 processes): in one
# process, every event's 500 frames were read one after the other, and the last socket's frame
# waited for the 499 before it to be read, which is the bench's own queue, not the server's. Each
# process and the parent follow the same steps, over a pipe: open -> you ids; everyone -> how many
# lists are complete; the record of sent events -> finals waited for; report -> what each received.

@dataclass
class Received:
    """What one watcher received and made of it, sent back to the parent."""
    received: list[tuple[float, dict]]
    gaps: int
    finals: set[int]
    close_code: int | None


async def _next_order(conn, timeout: float = 600):
    started = time.monotonic()
    while not conn.poll():
        if time.monotonic() - started > timeout:
            raise TimeoutError("the bench's parent gave no order")
        await asyncio.sleep(0.01)
    return conn.recv()


async def _watch_share(conn, url: str, origin: str, cookie: str, count: int) -> None:
    _inbox.forget()
    watchers = [Watcher() for _ in range(count)]
    batch = 50
    for first in range(0, count, batch):
        await asyncio.gather(*(w.open(url, origin, cookie) for w in watchers[first:first + batch]))
    await _until(lambda: all(w.you for w in watchers), 120, "every snapshot")
    conn.send([w.you for w in watchers])
    everyone = await _next_order(conn)
    try:
        await _until(lambda: all(w.people >= everyone for w in watchers), 60, "complete presence lists")
    except TimeoutError:
        pass  # reported as incomplete
    conn.send(sum(w.people >= everyone for w in watchers))
    out, take_ids, timeout = await _next_order(conn)
    try:
        await _until(lambda: Path(out).exists() and all(len(w.finals & set(take_ids)) == len(take_ids) for w in watchers), timeout,
                     "every final state")
    except TimeoutError:
        pass  # reported as lost
    conn.send("finals")
    await _next_order(conn)  # the parent waited for the stragglers
    _inbox.flush()
    conn.send([Received(w.received, w.gaps, w.finals, w.close_code) for w in watchers])
    await asyncio.gather(*(w.close() for w in watchers), return_exceptions=True)


def _watcher_process(conn, url: str, origin: str, cookie: str, count: int) -> None:
    """One process's watchers, on uvloop as the servers use. Python's garbage collector is off: the
    watchers keep every message they receive, and a full collection over them stalled them all
    for most of a second, which is the bench's own pause, not the server's."""
    gc.disable()
    try:
        import uvloop

        uvloop.run(_watch_share(conn, url, origin, cookie, count))
    except BaseException as error:
        conn.send(error if isinstance(error, Exception) else RuntimeError(repr(error)))
        raise


class WatcherProcesses:
    """The parent's side of the watcher processes: each step sent to all, then every answer read."""

    def __init__(self, url: str, origin: str, cookie: str, clients: int, processes: int):
        context = multiprocessing.get_context("fork")
        processes = max(1, min(processes, clients))
        shares = [clients // processes + (k < clients % processes) for k in range(processes)]
        self.pipes, self.parts = [], []
        for share in shares:
            parent_end, child_end = context.Pipe()
            part = context.Process(target=_watcher_process, args=(child_end, url, origin, cookie, share), daemon=True)
            part.start()
            self.pipes.append(parent_end)
            self.parts.append(part)

    def answers(self, order=None, timeout: float = 300) -> list:
        if order is not None:
            for pipe in self.pipes:
                pipe.send(order)
        answers = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise TimeoutError(f"a watcher process gave no answer in {timeout:.0f} s")
            answer = pipe.recv()
            if isinstance(answer, Exception):
                raise RuntimeError(f"a watcher process failed: {answer!r}") from answer
            answers.append(answer)
        return answers

    def stop(self) -> None:
        for part in self.parts:
            part.join(10)
            if part.is_alive():
                part.terminate()


def live_run(world: World, port: int, clients: int, queue: str, steps: int, interval_ms: float, edits: int,
             scratch: Path, lockstep: bool = False, watcher_processes: int = 1) -> dict:
    from studio.celery import app

    url, origin = f"ws://127.0.0.1:{port}/ws/projects/{world.slug}/?room=board", f"http://127.0.0.1:{port}"
    started = time.monotonic()
    watchers = WatcherProcesses(url, origin, world.cookie, clients, watcher_processes)
    try:
        return _measured_run(watchers, world, port, clients, queue, steps, interval_ms, edits, scratch, lockstep, started, app)
    finally:
        watchers.stop()


def _measured_run(watchers: WatcherProcesses, world: World, port: int, clients: int, queue: str, steps: int, interval_ms: float,
                  edits: int, scratch: Path, lockstep: bool, started: float, app) -> dict:
    yous = [you for share in watchers.answers() for you in share]
    complete = sum(watchers.answers({(you, "board") for you in yous}))
    connect_all_s = time.monotonic() - started

    out = scratch / f"sent-{time.time_ns()}.json"
    edit_sent = {}
    # The edits come from a process of their own, like a person's browser.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as editor:
        warm_up_ms = _warm_up_edits(editor, port, world)  # started, and the servers warm, before anything is measured
        app.send_task("bench.live_progress", args=[world.take_ids, steps, interval_ms, str(out), lockstep], queue=queue)
        time.sleep(interval_ms / 1000 * 2)
        for n in range(edits):
            lens = 20 + n
            sent_at, version = editor.submit(_patch_shot, port, world, world.shot_ids[0], lens).result()
            edit_sent[version] = sent_at
            time.sleep(steps * interval_ms / 1000 / (edits + 1))
    watchers.answers((str(out), world.take_ids, steps * interval_ms / 1000 + 120), timeout=steps * interval_ms / 1000 + 300)
    time.sleep(1.0)  # stragglers
    received = [w for share in watchers.answers("report") for w in share]
    return {**_figures(received, world, out, edit_sent, clients, connect_all_s, complete), "warm_up_edit_ms": warm_up_ms}


def _figures(watchers: list[Received], world: World, out: Path, edit_sent: dict, clients: int, connect_all_s: float,
             complete: int) -> dict:
    def finals_in(w: Received) -> set[int]:
        return w.finals & set(world.take_ids)

    if not out.exists():  # no record, nothing expected: every tick would count as delivered
        raise RuntimeError("the worker's task left no record of what it sent: it failed (keep its log with --keep-logs)")
    record = json.loads(out.read_text())
    sent = {(take, step): t for take, step, t in record["sent"]}
    sent_takes = {take for take, _step, _t in record["sent"]}
    final_sent = {take: t for take, t in record["finals"]}

    progress_ms, final_ms, edit_ms, published_ms, edit_published_ms = [], [], [], [], []
    edit_request_ms: dict[float, float] = {}  # per edit: request sent -> event published (the server's part)
    progress_received = 0
    for w in watchers:
        ticks_seen: set[tuple[int, int]] = set()  # each take's step once per watcher
        for t, m in w.received:
            if m.get("type") == "take.changed" and m["take"]["id"] in sent_takes and m["take"]["status"] == "running":
                published_ms.append((t - m["sent_at"]) * 1000)  # progress; final states have their own column
            if m.get("type") == "take.changed":
                take = m["take"]
                tick = (take["id"], take.get("step"))
                if take["status"] in FINAL and take["id"] in final_sent:
                    final_ms.append((t - final_sent[take["id"]]) * 1000)
                elif tick in sent and take["status"] == "running" and tick not in ticks_seen:
                    ticks_seen.add(tick)
                    progress_ms.append((t - sent[tick]) * 1000)
        progress_received += len(ticks_seen)
        # edits: each shot.changed matched with its request by the version it carries
        for got_at, m in w.received:
            sent_at = edit_sent.get(m.get("version")) if m.get("type") == "shot.changed" and m.get("shot") == world.shot_ids[0] else None
            if sent_at is None:
                continue
            published_at = m["sent_at"]
            edit_ms.append((got_at - sent_at) * 1000)
            edit_published_ms.append((got_at - published_at) * 1000)
            edit_request_ms[sent_at] = (published_at - sent_at) * 1000
    expected_progress = len(sent) * clients
    result = {
        "clients": clients, "connect_all_s": connect_all_s, "presence_complete": complete,
        "progress_ms": _stats(progress_ms), "published_ms": _stats(published_ms), "final_ms": _stats(final_ms), "edit_ms": _stats(edit_ms),
        "edit_published_ms": _stats(edit_published_ms), "edit_request_ms": [edit_request_ms[t] for t in sorted(edit_request_ms)],
        "progress_expected": expected_progress, "progress_received": progress_received,
        "edits_expected": len(edit_sent) * clients, "edits_received": len(edit_ms),
        "gaps": sum(w.gaps for w in watchers),
        "finals_complete": sum(len(finals_in(w)) == TAKES for w in watchers),
        "closed_by_server": sum(bool(w.close_code) for w in watchers),
    }
    return result


def reset_takes(world: World) -> None:
    """Running again, for the next run in the same world."""
    from studio.models import Take, TakeStatus

    Take.objects.filter(pk__in=world.take_ids).update(status=TakeStatus.RUNNING, progress=0, step=0, finished_at=None)


def run_live(*, kind: str, processes: int, world: World, clients: int, steps: int, interval_ms: float, edits: int,
             scratch: Path, keep_logs: Path | None = None, lockstep: bool = False, watcher_processes: int = 1) -> dict:
    """One measured run: a server, a Celery worker, `clients` watchers. The correctness test's entry.
    The servers' and the worker's logs are copied under `keep_logs` when given."""
    log_dir = Path(tempfile.mkdtemp(prefix=f"live-{kind}-", dir=scratch))
    port = free_port()
    servers = start_server(kind, processes, port, log_dir)
    try:
        worker, queue = start_worker(log_dir)
        try:
            reset_takes(world)
            return live_run(world, port, clients, queue, steps, interval_ms, edits, log_dir, lockstep, watcher_processes)
        except Exception as error:
            raise RuntimeError(f"{error}\n{_log_tail(log_dir)}") from error
        finally:
            stop([worker])
    finally:
        stop(servers)
        if keep_logs is not None:
            shutil.copytree(log_dir, keep_logs / log_dir.name)


def _log_tail(log_dir: Path, chars: int = 1500) -> str:
    return "\n".join(f"--- {f.name}:\n{f.read_text(errors='replace')[-chars:]}" for f in sorted(log_dir.glob("*.log")))


# --- HTTP load ---------------------------------------------------------------------------------------

def http_load(kind: str, processes: int, world: World, args, scratch: Path) -> dict[str, list[dict]]:
    """wrk on each page in turn, --http-rounds times over (sign-in, board, API, sign-in, ...): each
    page's figures per round. The sign-in p95 alone moved by a third between runs on this shared
    machine; pages measured side by side in each round, and compared round by round, drift together."""
    log_dir = Path(tempfile.mkdtemp(prefix=f"http-{kind}-", dir=scratch))
    lua = scratch / "p95.lua"
    lua.write_text(P95_LUA)
    port = free_port()
    servers = start_server(kind, processes, port, log_dir)
    pages = {"sign-in": ("/accounts/login/", ""), "board": (f"/p/{world.slug}/board/", world.cookie),
             "api shots": (f"/api/v1/projects/{world.slug}/shots/", world.cookie)}
    results: dict[str, list[dict]] = {name: [] for name in pages}
    wrk_args = argparse.Namespace(threads=2, connections=args.http_connections, duration=args.http_duration,
                                  accept_encoding=args.accept_encoding)
    try:
        for name, (path, cookie) in pages.items():
            url = f"http://127.0.0.1:{port}{path}"
            try:
                warm(url, cookie, 4 * processes, args.accept_encoding)
            except OSError as error:
                raise RuntimeError(f"{name} {url}: {error}\n{_log_tail(log_dir)}") from error
            # Under load first, unmeasured: the database pool grows to its size and every page is
            # cached, as on a server that has been up for a while (the first round of the board
            # otherwise paid for opening the pool's connections, which the sign-in page never uses).
            run_wrk(url, cookie, argparse.Namespace(threads=2, connections=args.http_connections, duration=2,
                                                    accept_encoding=args.accept_encoding), lua)
        for _round in range(args.http_rounds):
            for name, (path, cookie) in pages.items():
                before = cpu_seconds_by_part(servers)
                r = run_wrk(f"http://127.0.0.1:{port}{path}", cookie, wrk_args, lua)
                used = {part: seconds - before[part] for part, seconds in cpu_seconds_by_part(servers).items()}
                results[name].append({"req_s": r["requests"] / args.http_duration, "p50": r["p50_us"] / 1000,
                                      "p95": r["p95_us"] / 1000, "p99": r["p99_us"] / 1000, "errors": r["errors"] + r["non2xx"],
                                      "cpu_ms": {part: 1000 * seconds / max(1, r["requests"]) for part, seconds in used.items()}})
    finally:
        stop(servers)
    return results


CPU_PARTS = ("server", "PostgreSQL", "Redis", "wrk")


def cpu_seconds_by_part(servers: list[subprocess.Popen]) -> dict[str, float]:
    """CPU seconds (user and system, the reaped children's included) used so far by the server's
    processes (each server runs in a session of its own), PostgreSQL, Redis and wrk (our own reaped
    children), read from /proc: where a page's cost goes, per request, besides its latency. On a
    closed loop of connections a page's latency follows its throughput, and its throughput the CPU
    that one request takes on the whole machine."""
    tick = os.sysconf("SC_CLK_TCK")
    sessions = {server.pid for server in servers}
    used = dict.fromkeys(CPU_PARTS, 0.0)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                line = stat.read()
        except OSError:  # gone meanwhile
            continue
        name = line[line.index("(") + 1:line.rindex(")")]
        fields = line[line.rindex(")") + 2:].split()  # state, ppid, pgrp, session, ... utime is the 12th
        seconds = sum(int(value) for value in fields[11:15]) / tick
        part = ("server" if int(fields[3]) in sessions else "PostgreSQL" if name.startswith("postgres")
                else "Redis" if name.startswith("redis-server") else None)
        if part:
            used[part] += seconds
    children = os.times()
    used["wrk"] = children.children_user + children.children_system
    return used


def http_summary(rounds: dict[str, list[dict]]) -> str:
    """Per page: the median of its rounds, and its p95 over the sign-in p95 of the same round, for
    every round."""
    floors = [r["p95"] for r in rounds["sign-in"]]
    parts = []
    for name, runs in rounds.items():
        med = {key: statistics.median(r[key] for r in runs) for key in ("req_s", "p50", "p95", "p99")}
        ratios = [r["p95"] / floor for r, floor in zip(runs, floors)]
        cpu = {part: statistics.median(r["cpu_ms"][part] for r in runs) for part in CPU_PARTS}
        parts.append(f"{name} {med['req_s']:.0f} req/s p50 {med['p50']:.0f} p95 {med['p95']:.0f} p99 {med['p99']:.0f} ms"
                     f" (p95 / sign-in p95 by round: {' '.join(f'{x:.2f}x' for x in ratios)}, median {statistics.median(ratios):.2f}x; "
                     f"{sum(r['errors'] for r in runs)} errors; CPU ms per request: "
                     f"{', '.join(f'{part} {ms:.2f}' for part, ms in cpu.items())})")
    return "; ".join(parts)


# --- Main --------------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="50,200,500")
    parser.add_argument("--servers", default="uvicorn:2", help="kind:processes, comma-separated (daphne, uvicorn, gunicorn)")
    parser.add_argument("--layers", default="pubsub", help="pubsub and/or core, comma-separated")
    parser.add_argument("--steps", type=int, default=20, help="progress reports per take")
    parser.add_argument("--interval-ms", type=float, default=250)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--watcher-processes", type=int, default=2,
                        help="processes the watchers are split over (the floor's too); 1 reads every socket in one process")
    parser.add_argument("--board-shots", type=int, default=500)
    parser.add_argument("--http-duration", type=int, default=10, help="seconds of wrk per page and round")
    parser.add_argument("--http-rounds", type=int, default=3, help="the pages loaded in turn, this many times")
    parser.add_argument("--http-connections", type=int, default=50)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--accept-encoding", default=BROWSER_ACCEPT_ENCODING,
                        help="what the HTTP load says it takes, as a browser does; 'identity' for uncompressed pages")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare fan-out floor (bench/live_floor.py) before each live run")
    parser.add_argument("--no-live", action="store_true", help="only the HTTP load")
    parser.add_argument("--lockstep", action="store_true",
                        help="the 4 takes tick at the same moment (the worst case) instead of each on its own clock")
    parser.add_argument("--keep-logs", type=Path, help="copy each live run's server and worker logs into this folder")
    return parser.parse_args()


def cpu_calibration_s() -> float:
    """How fast this machine is right now: a shared virtual machine's speed moved by half within
    an hour on 3 December, and every latency with it."""
    started, total = time.perf_counter(), 0
    for step in range(10_000_000):
        total += step
    return time.perf_counter() - started


def _ms(s: dict) -> str:
    return f"{s['p50']:.1f} / {s['p95']:.1f} / {s['p99']:.1f}" if s["n"] else "-"


def main() -> None:
    from bench._env import setup_django, throwaway_storage

    args = parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start, {cpu_calibration_s():.2f} s for a "
          f"10-million-step Python loop (0.36-0.53 s on 3 December: compare runs by it)")
    with throwaway_storage("bench-live-") as scratch:
        layers = args.layers.split(",")
        production_like_environment(layers[0])
        os.environ["STATIC_ROOT"] = str(scratch / "static")
        setup_django(migrate=True)
        from django.core.management import call_command

        call_command("collectstatic", verbosity=0, interactive=False)
        from studio.services import dispatch

        dispatch.enqueue_render = lambda take_id: None  # the bench's worker task drives the takes, not a render
        world = build_world(args.board_shots)
        for layer in layers:
            production_like_environment(layer)  # the server and worker of these runs inherit it
            print(f"\nlayer {layer}, {TAKES} takes x {args.steps} steps {'in lockstep' if args.lockstep else 'on their own clocks'} "
                  f"every {args.interval_ms:.0f} ms, {args.edits} edits over HTTP, watchers in {args.watcher_processes} process(es); database {os.environ['DATABASE_URL'].split(':')[0]}")
            print(f"{'server':<11} {'N':>4} {'connect s':>9} {'presence':>9} {'publish->receive p50/p95/p99 ms':>32} "
                  f"{'report->receive p50/p95/p99':>28} {'edit->receive p50/p95/p99':>27} {'final p50/p99':>14} {'lost':>5} {'finals':>7} load")
            for spec in args.servers.split(","):
                kind, processes = spec.split(":") if ":" in spec else (spec, "1")
                for n in ([] if args.no_live else (int(c) for c in args.clients.split(","))):
                    floor = None
                    if not args.no_floor:
                        bare = run_floor(clients=n, processes=int(processes), takes=TAKES, steps=args.steps, interval_ms=args.interval_ms,
                                         watcher_processes=args.watcher_processes, lockstep=args.lockstep)
                        floor = {"progress_ms": _stats(bare["latencies_ms"]), "lost": bare["lost"]}
                        print(f"{'bare floor':<11} {n:>4} {'':>9} {'':>9} {_ms(floor['progress_ms']):>32}  (lost {floor['lost']})")
                    try:
                        r = run_live(kind=kind, processes=int(processes), world=world, clients=n, steps=args.steps, keep_logs=args.keep_logs,
                                     interval_ms=args.interval_ms, edits=args.edits, scratch=scratch, lockstep=args.lockstep,
                                     watcher_processes=args.watcher_processes)
                    except Exception as error:  # a server that cannot take N: say so and go on
                        print(f"{spec:<11} {n:>4} failed: {str(error)[:3000]}")
                        continue
                    lost = (r["progress_expected"] - r["progress_received"]) + (r["edits_expected"] - r["edits_received"])
                    print(f"{spec:<11} {n:>4} {r['connect_all_s']:>9.2f} {r['presence_complete']:>4}/{n:<4} {_ms(r['published_ms']):>32} "
                          f"{_ms(r['progress_ms']):>28} "
                          f"{_ms(r['edit_ms']):>27} {r['final_ms']['p50']:>6.1f}/{r['final_ms']['p99']:<7.1f} {lost:>5} "
                          f"{r['finals_complete']:>3}/{n:<3} {os.getloadavg()[0]:.1f} (gaps {r['gaps']})")
                    if floor is not None:
                        print(f"{'':<16} publish->receive over the bare floor: p50 {r['published_ms']['p50'] / floor['progress_ms']['p50']:.2f}x, "
                              f"p95 {r['published_ms']['p95'] / floor['progress_ms']['p95']:.2f}x, "
                              f"p99 {r['published_ms']['p99'] / floor['progress_ms']['p99']:.2f}x")
                    print(f"{'':<16} edits: request->publish {', '.join(f'{ms:.1f}' for ms in r['edit_request_ms'])} ms; "
                          f"publish->receive {_ms(r['edit_published_ms'])} ms")
                    print(f"{'':<16} warm-up edits before the measured ones (another shot, not counted), request->answer: "
                          f"{', '.join(f'{ms:.1f}' for ms in r['warm_up_edit_ms'])} ms")
                if not args.no_http:
                    try:
                        h = http_load(kind, int(processes), world, args, scratch)
                    except Exception as error:
                        print(f"{spec:<11} HTTP failed: {str(error)[:3000]}")
                        continue
                    print(f"{spec:<11} HTTP, {args.http_connections} connections, {args.http_rounds} rounds of "
                          f"{args.http_duration} s per page (medians): {http_summary(h)}; load {os.getloadavg()[0]:.1f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
