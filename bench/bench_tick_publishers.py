"""Many render workers on one project: what a progress tick costs its worker to publish, as the
number of workers publishing at once grows.

    python bench/bench_tick_publishers.py [--publishers 1,8,16,32] [--ticks 100] [--interval-ms 100]

Each of N processes (a Celery worker's process stands in for each) publishes --ticks events of its
own take to one project, --interval-ms apart, timing each call, three ways in turn:
  tick      events.send_now(progress_only=True), what take_record_progress does: the tick carries
            the project's last event number and takes none (events.send_tick);
  numbered  events.send_now(...) of a change of state (a final state, an edit): a new number, the
            project's row held from the number to the COMMIT after the PUBLISH, so that numbered
            events reach Redis in the order of their numbers. Until 4 December 2026 (issue 15)
            every tick went this way;
  floor     a bare redis-py PUBLISH of the same message to the same channel from the same kind of
            process: the least a publish can cost here.
It prints p50 / p95 / p99 ms per call and each way over the floor of the same N. The events go to
the project's real group on the channel layer (nobody listens: the fan-out is bench_live_load.py's
business). Needs a PostgreSQL DATABASE_URL for the row locks to mean what they do in production
(SQLite locks the whole file for any write); without one it says so and uses a throwaway SQLite.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench._env import setup_django, throwaway_storage  # noqa: E402  (needs the repository on the path)

WAYS = ("floor", "tick", "numbered")


def publisher(way: str, project_id: int, take_id: int, ticks: int, interval_ms: float, ready, go, results) -> None:
    """One worker process: `ticks` publishes `way`, paced from a common start once all are ready."""
    setup_django()
    from django.db import connection

    from studio import events

    connection.close()  # this process's own connection, not the parent's
    send = _sender(way, events, project_id, take_id)
    send(0)  # connect to PostgreSQL and Redis before the clock starts
    ready.put(os.getpid())
    go.wait()
    time.sleep(interval_ms / 1000 * (take_id % 10) / 10)  # workers' steps end at different moments
    started, took = time.monotonic(), []
    for step in range(1, ticks + 1):
        t = time.perf_counter()
        send(step)
        took.append((time.perf_counter() - t) * 1000)
        pause = started + step * interval_ms / 1000 - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    results.put(took)


def _sender(way: str, events, project_id: int, take_id: int):
    def payload(step: int) -> dict:
        return {"take": {"id": take_id, "status": "running", "progress": step / 1000, "step": step, "total_steps": 1000}}

    if way == "tick":
        return lambda step: events.send_now(project_id, "take.changed", payload(step), progress_only=True)
    if way == "numbered":
        return lambda step: events.send_now(project_id, "take.changed", payload(step))
    return _bare_publish(events, project_id, payload)


def _bare_publish(events, project_id: int, payload):
    """The layer's own channel name and serializer, one PUBLISH with redis-py: the floor."""
    import json

    import redis
    from channels.layers import get_channel_layer
    from django.conf import settings

    layer = get_channel_layer()
    channel = f"{layer._kwargs.get('prefix', 'asgi')}__group__{events.project_group(project_id)}"
    client = redis.Redis.from_url(settings.REDIS_URL)

    def send(step: int) -> None:
        event = {"type": "take.changed", "seq": 0, "tick": True, **payload(step), "sent_at": round(time.time(), 6)}
        message = {"type": "project.event", "project": project_id, "event": event,
                   "text": json.dumps(event, separators=(",", ":"))}
        client.publish(channel, layer.serialize(message))

    return send


def measure(way: str, publishers: int, project_id: int, take_ids: list[int], ticks: int, interval_ms: float) -> list[float]:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each, as a worker's process is
    ready, go, results = context.Queue(), context.Event(), context.Queue()
    processes = [context.Process(target=publisher, args=(way, project_id, take_ids[n], ticks, interval_ms, ready, go, results))
                 for n in range(publishers)]
    for process in processes:
        process.start()
    for _ in processes:  # every process set up and connected before the first tick
        ready.get(timeout=600)
    time.sleep(0.5)
    go.set()
    took = [t for _ in processes for t in results.get(timeout=600)]
    for process in processes:
        process.join(60)
    return sorted(took)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def build_project(takes: int) -> tuple[int, list[int]]:
    from django.contrib.auth import get_user_model

    from studio.models import Take, TakeStatus
    from studio.services.projects import project_create
    from studio.services.shots import scene_create, shot_create

    user, _ = get_user_model().objects.get_or_create(username="tick-bench")
    project = project_create(owner=user, name=f"Tick bench {time.time_ns()}", default_backend="animatic")
    scene = scene_create(project=project, actor=user, heading="INT. RENDER FARM - NIGHT")
    take_ids = []
    for n in range(takes):
        shot = shot_create(scene=scene, actor=user, prompt=f"worker {n}")
        take_ids.append(Take.objects.create(shot=shot, number=1, status=TakeStatus.RUNNING, backend="animatic",
                                            request={}, signature=f"tick-bench-{project.id}-{n}").id)
    return project.id, take_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publishers", default="1,8,16,32")
    parser.add_argument("--ticks", type=int, default=100, help="publishes per process and way")
    parser.add_argument("--interval-ms", type=float, default=100.0,
                        help="between one process's publishes (100: the most a take sends, its progress coalesced per 0.1 s)")
    args = parser.parse_args()
    counts = [int(n) for n in args.publishers.split(",")]
    with throwaway_storage("bench-ticks-"):
        setup_django(migrate=not os.environ["DATABASE_URL"].startswith("postgres"))
        from django.db import connection

        if connection.vendor != "postgresql":
            print("note: not PostgreSQL: SQLite locks the whole file for a write, so 'numbered' is not what production sees")
        project_id, take_ids = build_project(max(counts))
        connection.close()
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; database {connection.vendor}; "
              f"{args.ticks} publishes per process, {args.interval_ms:g} ms apart")
        print(f"{'publishers':>10} {'way':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'over floor p50 / p99':>22}")
        for n in counts:
            figures = {}
            for way in WAYS:
                took = measure(way, n, project_id, take_ids, args.ticks, args.interval_ms)
                figures[way] = (statistics.median(took), percentile(took, 0.95), percentile(took, 0.99))
                p50, p95, p99 = figures[way]
                over = "" if way == "floor" else f"{p50 / figures['floor'][0]:.1f}x / {p99 / figures['floor'][2]:.1f}x"
                print(f"{n:>10} {way:>9} {p50:>8.2f} {p95:>8.2f} {p99:>8.2f} {over:>22}")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
