"""Shared fixtures: a project owned by alice, with bob as editor, carol as reviewer, dave as viewer
and eve as an outsider, plus helpers for real services that must fail (not skip) in CI."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from PIL import Image, ImageDraw

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# The servers and workers the tests start inherit this: a cache of this run's own on the shared
# Redis. Each test run makes a new test database whose ids start again at 1, and a server of the
# last run had cached its signed-in users by id (studio/auth_backends.py, 5 minutes): run again
# within those minutes, a browser's session met the last run's user 1, failed its check and was
# signed out, and the page never went live.
os.environ.setdefault("CONTINUITY_CACHE_PREFIX", f"test-run-{uuid.uuid4().hex[:12]}")


def require(condition: bool, what: str) -> None:
    """Skip when a real service is missing on a laptop; fail in CI, where everything must run."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} is not available")


@pytest.fixture(autouse=True)
def _media_root(tmp_path_factory, settings):
    # Its own folder, not tmp_path, so tests that list tmp_path see only their own files.
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")
    settings.CONTINUITY_MODELS_DIR = tmp_path_factory.mktemp("models")
    yield


def free_port() -> int:
    """A TCP port nothing listens on now, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _publisher_tries_the_layer_again():
    """A test that broke the channel layer on purpose must not leave the next tests' events unsent
    (studio/events.py fails sends at once for a few seconds after one failed)."""
    events = sys.modules.get("studio.events")
    if events is not None:
        events._publisher.forget_failures()
    yield


@pytest.fixture
def users(db):
    User = get_user_model()
    return {name: User.objects.create_user(name, f"{name}@example.com", "pw-" + name) for name in ("alice", "bob", "carol", "dave", "eve")}


@pytest.fixture
def project(users):
    from studio.models import Role
    from studio.services.projects import membership_add, project_create

    project = project_create(owner=users["alice"], name="Night Ferry")
    for name, role in (("bob", Role.EDITOR), ("carol", Role.REVIEWER), ("dave", Role.VIEWER)):
        membership_add(project=project, actor=users["alice"], user=users[name], role=role)
    return project


@pytest.fixture
def alice(users):
    return users["alice"]


def png_bytes(size=(64, 48), color=(200, 40, 40), alpha: bool = False, fmt: str = "PNG") -> bytes:
    image = Image.new("RGBA" if alpha else "RGB", size, (*color, 255) if alpha else color)
    ImageDraw.Draw(image).ellipse([4, 4, size[0] - 4, size[1] - 4], fill=(20, 20, 20, 255) if alpha else (20, 20, 20))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def scene(project, alice):
    from studio.services.shots import scene_create

    return scene_create(project=project, actor=alice, heading="INT. FERRY DECK - NIGHT", location="FERRY DECK", time_of_day="NIGHT")


@pytest.fixture
def cast(project, alice):
    from studio.models import CastKind, RightsStatus
    from studio.services.cast import cast_member_create, reference_image_add

    mara = cast_member_create(project=project, actor=alice, name="Mara", rights_status=RightsStatus.OWNED)
    reference_image_add(member=mara, actor=alice, data=png_bytes(color=(220, 30, 30)))
    deck = cast_member_create(project=project, actor=alice, name="Ferry deck", kind=CastKind.LOCATION, handle="deck",
                              rights_status=RightsStatus.OWNED)
    reference_image_add(member=deck, actor=alice, data=png_bytes(size=(160, 90), color=(20, 60, 140)))
    return {"mara": mara, "deck": deck}


@pytest.fixture
def shot(scene, cast, alice):
    """A shot that casts @mara on the @deck; a test file that needs another shot overrides it."""
    from studio.services.shots import shot_create

    return shot_create(scene=scene, actor=alice, prompt="@mara looks out over the @deck", code="1A")


@pytest.fixture
def take(shot):
    """A finished take of the shot, with real files."""
    from tests.studio.views_helpers import finished_take

    return finished_take(shot, frames=48)


@pytest.fixture
def ffmpeg_available():
    from generation.media import ffmpeg_binary

    try:
        found = ffmpeg_binary()
    except Exception:
        found = None
    require(bool(found) and shutil.which(found) is not None or (found and os.path.exists(found)), "ffmpeg")
    return found


@pytest.fixture(autouse=True)
def _own_throttle_counters(settings):
    # Throttle counters live in the real Redis; a prefix per test keeps one test's tries from
    # throttling the next (and from the counters of a studio running on the same Redis).
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 costs about a second per user on a small CI machine; the tests never need its strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
async def close_executor_connections():
    """Async tests run ORM calls through sync_to_async on an executor thread; close that thread's
    connection afterwards so the test database can be dropped (PostgreSQL refuses while in use)."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


# --- A real Celery worker process against the test database and the real Redis -------------

ROOT = Path(__file__).resolve().parents[1]


def database_url_for_workers() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def worker_media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-media")


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory, worker_media):
    """Start `celery worker` on its private render, default and identity queues; yield it; stop it.
    Its log goes to a file for failures."""
    require(_redis_answers(), "Redis")
    with django_db_blocker.unblock():
        database_url = database_url_for_workers()
    queue_suffix = f"e2e{os.getpid()}"
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(worker_media),
        "CONTINUITY_MODELS_DIR": str(tmp_path_factory.getbasetemp() / "models"),
        "CONTINUITY_IDENTITY_QUEUE": f"identity{queue_suffix}",  # the worker scores the takes it renders
        "PYTHONUNBUFFERED": "1",
    }
    queues = f"gpu{queue_suffix},default{queue_suffix},identity{queue_suffix}"
    command = [sys.executable, "-m", "celery", "-A", "studio", "worker", "-Q", queues,
               "--concurrency", "1", "--prefetch-multiplier", "1", "-n", f"{queue_suffix}@%h", "--loglevel", "INFO",
               "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with open(log_path, "wb") as log:
        # A session of its own: its pool child goes with it (an orphaned child kept connections
        # to the test database open, and the database could not be dropped at the end).
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_until_ready(process, log_path)
    yield {"process": process, "log": log_path, "queue_suffix": queue_suffix}
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def worker_goes_idle(worker: dict, timeout: float = 120) -> None:
    """At the end of a test that used the worker: the tasks it left queued are dropped and the one
    the worker is running is waited for, so that the test database is flushed (a TRUNCATE of every
    table) while nothing writes to it. An identity score still being written when a test ended
    deadlocked with the flush, and the next test found the last one's users still there (CI)."""
    from studio.celery import app

    suffix = worker["queue_suffix"]
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in (f"gpu{suffix}", f"default{suffix}", f"identity{suffix}"):
            channel.queue_purge(queue)
    wait_until_worker_idle(worker, timeout)


def wait_until_worker_idle(worker: dict, timeout: float = 120) -> None:
    """Until Celery's inspect reports nothing active or reserved on the session's worker, and then
    nothing waits in its queues (a task sends the messages it makes before it ends, so what a
    finished task queued is seen)."""
    from studio.celery import app

    suffix = worker["queue_suffix"]
    node = f"{suffix}@{socket.gethostname()}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inspector = app.control.inspect(destination=[node], timeout=5, limit=1)
        active, reserved = inspector.active(), inspector.reserved()
        if active is not None and reserved is not None and not active.get(node) and not reserved.get(node):
            with app.connection_for_write() as connection:
                channel = connection.default_channel  # kombu's Redis channel: _size counts every priority step
                if not any(channel._size(f"{name}{suffix}") for name in ("gpu", "default", "identity")):
                    return
        time.sleep(0.2)
    pytest.fail(f"the Celery worker was still busy {timeout:.0f} s after the test:\n{worker['log'].read_text()[-3000:]}")


def _wait_until_ready(process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the Celery worker exited early:\n{log_path.read_text()[-3000:]}")
        if "ready." in log_path.read_text(errors="replace"):
            return
        time.sleep(0.3)
    pytest.fail(f"the Celery worker did not start:\n{log_path.read_text()[-3000:]}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Playwright's sync API keeps an event loop running in the main thread until the session
    ends, and async tests cannot run beside it: the browser tests go last."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/browser/"))
