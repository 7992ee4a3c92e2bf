"""Renders that survive faults, with real processes: a Celery worker whose pool child, or whole
process group, is SIGKILLed mid-render; a render that kills every worker that runs it; one message
delivered twice at once; live events lost after commit; a request rolled back after asking.

Each test starts its own worker processes (it kills them) on private queues with a private media
folder, and checks that the take ends in one final state, once, with one set of files, within the
attempt cap, and that a watcher sees the final state.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from generation.backends import registry
from studio.asgi import application
from studio.models import Take, TakeStatus
from studio.services.dispatch import enqueue_render
from studio.services.projects import project_create
from studio.services.reconcile import reconcile
from studio.services.render_requests import take_request
from studio.services.shots import scene_create, shot_create
from tests.conftest import _redis_answers, database_url_for_workers, require
from tests.e2e import poison
from tests.live_frames import messages_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]

WAIT_S = 120
FINAL = {"succeeded", "failed", "cancelled"}
# Long enough to be killed mid-render (about 4 s of animatic on a small CPU), small enough to be cheap.
SLOW_SHOT = {"seconds": 60, "fps": 60, "size": (320, 180)}
QUICK_SHOT = {"seconds": 1, "fps": 24, "size": (160, 90)}

# The worker runs Celery's own command line after adding the poison backend to its registry, so
# the backend exists in the parent before the pool forks and in every replacement child.
BOOTSTRAP = (
    "import sys; from generation.backends import registry; from tests.e2e import poison; "
    "registry.BACKENDS[poison.NAME] = poison.REGISTRY_ENTRY; "
    "from celery.__main__ import main; sys.argv[0] = 'celery'; sys.exit(main())"
)


# --- Worker processes that a test may kill ------------------------------------------------------

class WorkerProcess:
    """`celery worker` in its own session, so killing the group takes its pool and ffmpeg too."""

    def __init__(self, name: str, queues: list[str], env: dict, log_path: Path, concurrency: int):
        self.name, self.log_path = name, log_path
        command = [sys.executable, "-c", BOOTSTRAP, "-A", "studio", "worker", "-Q", ",".join(queues),
                   "--concurrency", str(concurrency), "--prefetch-multiplier", "1", "-n", f"{name}@%h",
                   "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self._wait_until_ready()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"worker {self.name} exited early:\n{self.log()[-3000:]}")
            if "ready." in self.log():
                return
            time.sleep(0.2)
        pytest.fail(f"worker {self.name} did not start:\n{self.log()[-3000:]}")

    def pool_children(self) -> list[int]:
        """The prefork pool's processes: the worker's direct children (read from /proc)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # the process ended while we looked
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return children

    def kill_pool_child(self) -> int:
        """SIGKILL the child running the task, as the out-of-memory killer would."""
        children = self.pool_children()
        assert len(children) == 1, f"expected one pool process, found {children}"
        os.kill(children[0], signal.SIGKILL)
        return children[0]

    def kill_everything(self) -> None:
        """SIGKILL the worker, its pool and their ffmpeg at once: the machine is gone."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def tasks_finished(self, task_name: str) -> int:
        return sum(1 for line in self.log().splitlines() if f"Task {task_name}[" in line and " succeeded in " in line)


class CrashLab:
    """Private queues, a private media folder, and the workers started for one test."""

    def __init__(self, tmp_path: Path, suffix: str):
        self.tmp_path = tmp_path
        self.render_queue, self.default_queue = f"gpu-crash-{suffix}", f"default-crash-{suffix}"
        self.media = tmp_path / "media"
        self.media.mkdir()
        self.workers: list[WorkerProcess] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url_for_workers(),
            "REDIS_URL": settings.REDIS_URL,
            "MEDIA_ROOT": str(self.media),
            "CONTINUITY_MODELS_DIR": str(tmp_path / "models"),
            "CONTINUITY_MAX_RENDER_ATTEMPTS": str(settings.CONTINUITY_MAX_RENDER_ATTEMPTS),
            "CONTINUITY_IDENTITY_SCORING": "0",  # these workers render only: no stray scoring messages
            "PYTHONUNBUFFERED": "1",
        }

    def start_worker(self, name: str, *, concurrency: int = 1, env: dict | None = None) -> WorkerProcess:
        worker = WorkerProcess(f"{name}-{self.render_queue}", [self.render_queue, self.default_queue],
                               {**self.env, **(env or {})}, self.tmp_path / f"{name}.log", concurrency)
        self.workers.append(worker)
        return worker

    def queue_length(self, queue: str) -> int:
        with _broker() as connection:
            return connection.default_channel._size(queue)  # kombu's count: every priority list of the queue

    def close(self) -> None:
        for worker in self.workers:
            worker.kill_everything()
            print(f"--- worker {worker.name} ---\n{worker.log()[-3000:]}")  # shown when the test failed
        self._forget_queues()

    def _forget_queues(self) -> None:
        """Drop our queues, and the message a killed worker left unacknowledged, from the broker."""
        queues = {self.render_queue, self.default_queue}
        with _broker() as connection:
            channel = connection.default_channel
            client = channel.client
            for tag, raw in client.hgetall(channel.unacked_key).items():
                if json.loads(raw)[2] in queues:
                    client.hdel(channel.unacked_key, tag)
                    client.zrem(channel.unacked_index_key, tag)
            client.delete(*{channel._q_for_pri(queue, step) for queue in queues for step in channel.priority_steps})


def _broker():
    from studio.celery import app

    return app.connection_for_write()


@pytest.fixture
def lab(transactional_db, settings, tmp_path):
    require(_redis_answers(), "Redis")
    lab = CrashLab(tmp_path, uuid.uuid4().hex[:10])
    settings.CONTINUITY_RENDER_QUEUE = lab.render_queue
    settings.CELERY_TASK_DEFAULT_QUEUE = lab.default_queue
    settings.MEDIA_ROOT = lab.media
    yield lab
    lab.close()


# --- Helpers ----------------------------------------------------------------------------------

def _shot(owner, *, seconds, fps, size, backend=""):
    project = project_create(owner=owner, name=f"Crash {uuid.uuid4().hex[:6]}", fps=fps, width=size[0], height=size[1])
    scene = scene_create(project=project, actor=owner, heading="EXT. PIER - NIGHT")
    return shot_create(scene=scene, actor=owner, prompt="waves against the pier", duration_s=seconds, backend=backend)


async def _watch(user, slug: str) -> WebsocketCommunicator:
    """A browser's socket on the project, past its snapshot."""
    communicator = await _socket(user, slug)
    assert json.loads(await communicator.receive_from(timeout=10))["type"] == "snapshot"
    return communicator


async def _socket(user, slug: str) -> WebsocketCommunicator:
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(application, f"/ws/projects/{slug}/",
                                         headers=[(b"cookie", cookie), (b"origin", b"http://localhost"), (b"host", b"localhost")])
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def _events_until_final(communicator, take_id: int, timeout: float = WAIT_S) -> list[dict]:
    received: list[dict] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not _final_events(received, take_id):
        try:
            received.extend(messages_in(await communicator.receive_from(timeout=max(0.1, deadline - loop.time()))))
        except asyncio.TimeoutError:
            raise AssertionError(f"no final state for take {take_id}; last events: {received[-5:]}") from None
    return received + await _drain(communicator)


async def _drain(communicator) -> list[dict]:
    """Events still arriving (e.g. from a second finisher): read until a second passes quietly.
    (receive_nothing, not a timed receive_from: a receive timeout cancels the consumer.)"""
    drained = []
    while not await communicator.receive_nothing(timeout=1):
        drained.extend(messages_in(await communicator.receive_from()))
    return drained


def _final_events(events: list[dict], take_id: int) -> list[dict]:
    return [e["take"] for e in events
            if e.get("type") == "take.changed" and e["take"]["id"] == take_id and e["take"]["status"] in FINAL]


async def _until_rendering(take_id: int, timeout: float = WAIT_S) -> None:
    """Wait until the worker has saved some progress: the render is under way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        take = await sync_to_async(Take.objects.get)(pk=take_id)
        assert take.status != TakeStatus.SUCCEEDED, "the render finished before it could be interrupted"
        if take.status == TakeStatus.RUNNING and take.progress > 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"take {take_id} never started rendering")


def _take_files(media: Path, take: Take) -> list[str]:
    folder = media / f"projects/{take.shot.scene.project_id}/takes/{take.shot_id}"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _expected_files(take: Take) -> list[str]:
    return sorted(Path(f.name).name for f in (take.video, take.poster, take.last_frame))


def _stored(take_id: int) -> Take:
    return Take.objects.select_related("shot__scene").get(pk=take_id)


def _assert_succeeded_once(lab: CrashLab, events: list[dict], take_id: int, *, attempts: int) -> Take:
    take = _stored(take_id)
    assert take.status == TakeStatus.SUCCEEDED, take.error
    assert take.attempts == attempts <= settings.CONTINUITY_MAX_RENDER_ATTEMPTS
    assert [e["status"] for e in _final_events(events, take_id)] == ["succeeded"]  # finished once, and seen
    assert _take_files(lab.media, take) == _expected_files(take)  # one video, one poster, one last frame
    assert take.error == "" and take.frames == take.request["frames"]
    return take


# --- The faults -------------------------------------------------------------------------------

async def test_a_killed_pool_child_is_redelivered_and_the_retry_succeeds(lab, alice, close_executor_connections):
    """Celery's reject_on_worker_lost puts the message back at once (Redis: restored from the
    unacked hash, flagged redelivered); the redelivery requeues the orphaned take and renders it."""
    worker = await asyncio.to_thread(lab.start_worker, "child")
    shot = await sync_to_async(_shot)(alice, **SLOW_SHOT)
    watcher = await _watch(alice, shot.scene.project.slug)
    take_id = (await sync_to_async(take_request)(shot=shot, actor=alice)).take.id

    await _until_rendering(take_id)
    worker.kill_pool_child()
    events = await _events_until_final(watcher, take_id)
    await watcher.disconnect()

    await sync_to_async(_assert_succeeded_once)(lab, events, take_id, attempts=2)
    retried = [e["take"] for e in events if e.get("type") == "take.changed" and e["take"]["status"] == "queued"]
    assert retried and "worker stopped" in retried[-1]["error"]  # watchers saw the retry
    assert "WorkerLostError" in worker.log()


async def test_a_killed_worker_is_recovered_by_the_reconciler_on_another_worker(lab, alice, close_executor_connections):
    """A whole worker killed: nobody rejects the message, and Redis hands it out again only after
    the visibility timeout (an hour). The stale heartbeat lets the reconciler bring the take back."""
    first = await asyncio.to_thread(lab.start_worker, "first")
    shot = await sync_to_async(_shot)(alice, **SLOW_SHOT)
    watcher = await _watch(alice, shot.scene.project.slug)
    take_id = (await sync_to_async(take_request)(shot=shot, actor=alice)).take.id
    await _until_rendering(take_id)
    first.kill_everything()

    await asyncio.to_thread(lab.start_worker, "second")
    orphan = await sync_to_async(_stored)(take_id)
    assert (orphan.status, orphan.attempts) == (TakeStatus.RUNNING, 1)  # the new worker was not given it
    assert not (await sync_to_async(reconcile)()).changed  # its heartbeat is still fresh: too early to tell
    later = timezone.now() + timedelta(seconds=settings.CONTINUITY_STALE_HEARTBEAT_S + 1)
    report = await sync_to_async(reconcile)(now=later)
    assert report.requeued == [take_id] and not report.failed
    events = await _events_until_final(watcher, take_id)
    await watcher.disconnect()

    await sync_to_async(_assert_succeeded_once)(lab, events, take_id, attempts=2)
    again = await sync_to_async(reconcile)(now=later)
    assert not again.changed


async def test_a_render_that_kills_every_worker_fails_at_the_attempt_cap(lab, alice, monkeypatch, close_executor_connections):
    monkeypatch.setitem(registry.BACKENDS, poison.NAME, poison.REGISTRY_ENTRY)
    worker = await asyncio.to_thread(lab.start_worker, "poison")
    shot = await sync_to_async(_shot)(alice, backend=poison.NAME, **QUICK_SHOT)
    watcher = await _watch(alice, shot.scene.project.slug)
    take_id = (await sync_to_async(take_request)(shot=shot, actor=alice)).take.id

    events = await _events_until_final(watcher, take_id)
    await watcher.disconnect()

    take = await sync_to_async(_stored)(take_id)
    cap = settings.CONTINUITY_MAX_RENDER_ATTEMPTS
    assert (take.status, take.attempts) == (TakeStatus.FAILED, cap)
    assert f"Gave up after {cap} attempts" in take.error
    assert [e["status"] for e in _final_events(events, take_id)] == ["failed"]
    assert worker.log().count("exited with 'signal 9 (SIGKILL)'") == cap  # one crash per attempt, no more
    assert _take_files(lab.media, take) == []
    assert worker.process.poll() is None  # the worker itself survived every crash
    assert lab.queue_length(lab.render_queue) == 0  # and no message is left to loop on


async def test_one_message_delivered_twice_at_once_renders_once(lab, alice, close_executor_connections):
    worker = await asyncio.to_thread(lab.start_worker, "pair", concurrency=2)
    shot = await sync_to_async(_shot)(alice, **QUICK_SHOT)
    watcher = await _watch(alice, shot.scene.project.slug)
    take_id = (await sync_to_async(take_request)(shot=shot, actor=alice)).take.id
    await sync_to_async(enqueue_render)(take_id)  # the same render message again, right behind the first

    events = await _events_until_final(watcher, take_id)
    await watcher.disconnect()
    deadline = time.monotonic() + WAIT_S
    while worker.tasks_finished("generation.tasks.render_take") < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert worker.tasks_finished("generation.tasks.render_take") == 2  # both deliveries ran
    await sync_to_async(_assert_succeeded_once)(lab, events, take_id, attempts=1)


async def test_events_lost_after_commit_leave_the_truth_in_the_snapshot(lab, alice, close_executor_connections):
    """The worker's channel layer is down: every event it publishes is lost, the render is not.
    A browser that reconnects gets the finished take in its snapshot, and sees the gap."""
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    worker = await asyncio.to_thread(lab.start_worker, "mute", env={"CONTINUITY_CHANNEL_REDIS_URL": f"redis://127.0.0.1:{dead_port}/0"})
    shot = await sync_to_async(_shot)(alice, **QUICK_SHOT)
    watcher = await _watch(alice, shot.scene.project.slug)
    take_id = (await sync_to_async(take_request)(shot=shot, actor=alice)).take.id

    deadline = time.monotonic() + WAIT_S
    while (await sync_to_async(_stored)(take_id)).status != TakeStatus.SUCCEEDED:
        assert time.monotonic() < deadline, worker.log()[-3000:]
        await asyncio.sleep(0.2)
    seen = await _drain(watcher)
    await watcher.disconnect()
    assert not _final_events(seen, take_id)  # the worker's events were lost
    assert "could not publish take.changed" in worker.log()

    again = await _socket(alice, shot.scene.project.slug)
    snapshot = json.loads(await again.receive_from(timeout=10))
    await again.disconnect()
    take = {t["id"]: t for t in snapshot["takes"]}[take_id]
    assert take["status"] == "succeeded" and take["video"]
    assert snapshot["seq"] > max([e["seq"] for e in seen if "seq" in e], default=0)  # the gap is visible


def test_a_request_rolled_back_after_asking_sends_no_message(lab, alice):
    shot = _shot(alice, **QUICK_SHOT)
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            take_request(shot=shot, actor=alice)
            raise RuntimeError("the view failed after asking for the render")
    assert not Take.objects.exists()
    assert lab.queue_length(lab.render_queue) == 0  # nothing reached the broker for a worker to run
    # The control: the same request, committed, leaves exactly one message waiting.
    take_request(shot=shot, actor=alice)
    assert lab.queue_length(lab.render_queue) == 1
