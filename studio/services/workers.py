"""Workers that report: each render worker process keeps a small record in Redis of what it is
doing (idle, loading a model, rendering a take), which model it has loaded, its GPU memory and when
it last said so. The Workers page (studio/worker_selectors.py, staff only) reads them.

Redis and not the database: a report is written on every progress tick and load step and is worth
nothing a day later; each key expires (CONTINUITY_WORKER_REPORT_TTL_S). A report that cannot be
written is logged and forgotten: it never fails a render.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import sys

import redis
from django.conf import settings
from django.utils import timezone

from generation.runtime import device_memory

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def report_key(name: str) -> str:
    return f"{settings.CONTINUITY_WORKER_REPORT_PREFIX}{name}"


def redis_client() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


@functools.lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    # One pool per process and URL (a report is written on every progress tick); redis-py resets
    # a pool that crossed a fork, so a prefork child never shares its parent's sockets.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def worker_report(*, state: str, take=None, phase: str = "", progress: float | None = None,
                  loaded: dict | None = None) -> None:
    """Say what this worker process is doing now. state: idle, loading, rendering."""
    report = {
        "name": worker_name(), "host": socket.gethostname(), "pid": os.getpid(), "state": state,
        "take_id": getattr(take, "pk", None), "take": str(take) if take is not None and _labelled(take) else "",
        "project_id": _project_id(take), "phase": phase[:120], "progress": progress,
        "loaded": loaded or _loaded_pipelines(), "gpu_memory": device_memory(),
        "heartbeat_at": timezone.now().isoformat(),
    }
    try:
        redis_client().set(report_key(report["name"]), json.dumps(report, default=str),
                           ex=settings.CONTINUITY_WORKER_REPORT_TTL_S)
    except redis.RedisError as error:
        logger.warning("worker report not written: %s", error)


def _labelled(take) -> bool:
    # str(take) reads shot.code: only when the shot is already loaded (the worker claims with it)
    return take.__class__.shot.is_cached(take)


def _project_id(take) -> int | None:
    if take is None or not _labelled(take):
        return None
    shot = take.shot
    return shot.scene.project_id if shot.__class__.scene.is_cached(shot) else None


def _loaded_pipelines() -> dict:
    """What this process holds in its pipeline cache (never imports the cache to ask)."""
    cache_module = sys.modules.get("generation.pipeline_cache")
    if cache_module is None:
        return {}
    cached = cache_module.get_cache().stats()["cached"]
    return {"pipelines": [f"{key[0]} · {os.path.basename(key[1])} · {key[3]}" for key in cached if len(key) >= 4]}
