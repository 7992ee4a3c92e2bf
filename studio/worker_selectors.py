"""Reads for the Workers page: the reports render workers keep in Redis (studio/services/workers.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import redis
from django.conf import settings
from django.utils import timezone

from studio.services.workers import redis_client


@dataclass(frozen=True)
class WorkerRow:
    name: str
    state: str
    take_id: int | None
    take: str
    project_id: int | None
    phase: str
    progress: float | None
    loaded: list[str]
    gpu_memory: str  # "3.2 of 80.0 GiB allocated (NVIDIA H100)" or "n/a"
    heartbeat_at: datetime | None
    silent_s: float | None  # seconds since the last report
    silent: bool  # longer than the reconciler's stale threshold: presumed dead


def worker_rows() -> tuple[list[WorkerRow], str]:
    """(every reporting worker, newest report first; "" or why Redis could not be read)."""
    try:
        client = redis_client()
        keys = sorted(client.scan_iter(match=settings.CONTINUITY_WORKER_REPORT_PREFIX + "*", count=500))
        values = client.mget(keys) if keys else []
    except redis.RedisError as error:
        return [], f"Redis could not be read: {error}"
    now = timezone.now()
    rows = [_row(json.loads(value), now) for value in values if value]
    return sorted(rows, key=lambda row: row.heartbeat_at or now, reverse=True), ""


def _row(report: dict, now: datetime) -> WorkerRow:
    beat = datetime.fromisoformat(report["heartbeat_at"]) if report.get("heartbeat_at") else None
    silent_s = (now - beat).total_seconds() if beat else None
    loaded = report.get("loaded") or {}
    names = list(loaded.get("pipelines") or []) or [v for v in (loaded.get("model"),) if v]
    return WorkerRow(
        name=report.get("name", "?"), state=report.get("state", "?"), take_id=report.get("take_id"),
        take=report.get("take", ""), project_id=report.get("project_id"), phase=report.get("phase", ""),
        progress=report.get("progress"), loaded=names, gpu_memory=memory_text(report.get("gpu_memory")),
        heartbeat_at=beat, silent_s=silent_s,
        silent=silent_s is not None and silent_s > settings.CONTINUITY_STALE_HEARTBEAT_S,
    )


def memory_text(memory: dict | None) -> str:
    if not memory:
        return "n/a"
    gib = 1024 ** 3
    return (f"{memory['allocated'] / gib:.1f} GiB allocated, {memory['reserved'] / gib:.1f} reserved, "
            f"{memory['free'] / gib:.1f} free of {memory['total'] / gib:.1f} ({memory.get('device', 'GPU')})")
