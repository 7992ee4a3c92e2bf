"""Route a test's tasks to the session's real Celery worker (see tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import worker_goes_idle


@pytest.fixture
def routed_to_worker(celery_worker_process, settings, worker_media):
    """Send this test's tasks to the worker's private queues and share its media folder."""
    suffix = celery_worker_process["queue_suffix"]
    settings.CONTINUITY_RENDER_QUEUE = f"gpu{suffix}"
    settings.CELERY_TASK_DEFAULT_QUEUE = f"default{suffix}"
    settings.CONTINUITY_IDENTITY_QUEUE = f"identity{suffix}"
    settings.MEDIA_ROOT = worker_media
    yield celery_worker_process
    worker_goes_idle(celery_worker_process)
    # Shown by pytest only when the test failed: what the worker said.
    print(celery_worker_process["log"].read_text(errors="replace")[-4000:])
