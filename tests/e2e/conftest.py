"""A real Celery worker process against the test database and the real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]


def _test_database_url() -> str:
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
    """Start `celery worker` on both queues; yield it; stop it. Its log goes to a file for failures."""
    require(_redis_answers(), "Redis")
    with django_db_blocker.unblock():
        database_url = _test_database_url()
    queue_suffix = f"e2e{os.getpid()}"
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(worker_media),
        "CONTINUITY_MODELS_DIR": str(tmp_path_factory.getbasetemp() / "models"),
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "celery", "-A", "studio", "worker", "-Q", f"gpu{queue_suffix},default{queue_suffix}",
               "--concurrency", "1", "--prefetch-multiplier", "1", "-n", f"{queue_suffix}@%h", "--loglevel", "INFO",
               "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    _wait_until_ready(process, log_path)
    yield {"process": process, "log": log_path, "queue_suffix": queue_suffix}
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def _wait_until_ready(process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the Celery worker exited early:\n{log_path.read_text()[-3000:]}")
        if "ready." in log_path.read_text(errors="replace"):
            return
        time.sleep(0.3)
    pytest.fail(f"the Celery worker did not start:\n{log_path.read_text()[-3000:]}")


@pytest.fixture
def routed_to_worker(celery_worker_process, settings, worker_media):
    """Send this test's tasks to the worker's private queues and share its media folder."""
    suffix = celery_worker_process["queue_suffix"]
    settings.CONTINUITY_RENDER_QUEUE = f"gpu{suffix}"
    settings.CELERY_TASK_DEFAULT_QUEUE = f"default{suffix}"
    settings.MEDIA_ROOT = worker_media
    yield celery_worker_process
    # Shown by pytest only when the test failed: what the worker said.
    print(celery_worker_process["log"].read_text(errors="replace")[-4000:])
