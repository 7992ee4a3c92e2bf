"""Which way of putting an urgent render first keeps its order under load on a real worker:
Redis transport priority steps on one `gpu` queue, or two queues `gpu-urgent`, `gpu` consumed in order.

    python bench/bench_gpu_priority.py [--normals 50 --urgents 1,10 --task-ms 20 --repeat 3]

One real `celery worker` process (concurrency 1, prefetch multiplier 1, acks_late: how a GPU worker
runs) against the Redis at REDIS_URL (or a local one), with a trivial task that records the order it
starts in. Per mode and per burst size: --normals normal messages are published, the worker starts
a few of them, then --urgents urgent messages are published at once. Reported:

- `after`: how many normal tasks started between the urgent burst's publish and the last urgent
  task's start (0 is perfect; the task running at publish time is not counted);
- `interleaved`: normal tasks that started between the first and the last urgent one;
- the wall time of the whole run, against a floor measured in the same run: the same messages on one
  queue with no priority at all (what the order costs).

The scratch queues are deleted at the end. Standalone: no Django, only Celery and Redis.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from celery import Celery

RUN = os.environ.get("BENCH_PRIORITY_RUN") or uuid.uuid4().hex[:8]


def _redis_url() -> str:
    """REDIS_URL, else an embedded Redis in a temporary folder (stopped at the end of main)."""
    url = os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL")
    if url:
        return url
    import tempfile  # lazy: only without a Redis server

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from studio import embedded_redis  # lazy: the same embedded Redis the studio starts

    global _EMBEDDED_DIR
    _EMBEDDED_DIR = Path(tempfile.mkdtemp(prefix="bench-priority-"))
    return embedded_redis.ensure_running(_EMBEDDED_DIR).replace("unix://", "redis+socket://")


_EMBEDDED_DIR: Path | None = None
REDIS_URL = _redis_url()
ORDER_KEY = f"bench-priority-order-{RUN}"

app = Celery("bench_gpu_priority", broker=REDIS_URL)
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, task_serializer="json",
                broker_transport_options={"visibility_timeout": 3600}, worker_hijack_root_logger=False)


@app.task(name="bench.priority.record")
def record(label: str, sleep_ms: int) -> None:
    import redis  # lazy: only the worker process needs a client here

    redis.Redis.from_url(_client_url()).rpush(ORDER_KEY, label)
    time.sleep(sleep_ms / 1000)


def _client_url() -> str:
    return REDIS_URL.replace("redis+socket://", "unix://")  # redis-py spells a socket unix://


def queue_names(mode: str) -> tuple[str, str]:
    """(urgent queue, normal queue) for a mode."""
    if mode == "queues":
        return f"bench-gpu-urgent-{RUN}", f"bench-gpu-{RUN}"
    return f"bench-gpu-{RUN}", f"bench-gpu-{RUN}"


def start_worker(mode: str) -> subprocess.Popen:
    urgent, normal = queue_names(mode)
    queues = f"{urgent},{normal}" if urgent != normal else normal
    env = {**os.environ, "BENCH_PRIORITY_RUN": RUN, "BENCH_REDIS_URL": REDIS_URL,
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    command = [sys.executable, "-m", "celery", "-A", "bench.bench_gpu_priority", "worker", "-Q", queues,
               "--concurrency", "1", "--prefetch-multiplier", "1", "--pool", "prefork", "-n", f"bench-{RUN}-{mode}@%h",
               "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def publish(mode: str, label: str, urgent: bool, sleep_ms: int) -> None:
    urgent_queue, normal_queue = queue_names(mode)
    options: dict = {"queue": urgent_queue if urgent else normal_queue}
    if mode == "steps":
        options["priority"] = 0 if urgent else 6  # kombu's Redis transport: 0 is the first list read
    record.apply_async(args=[label, sleep_ms], **options)


def order_so_far(client) -> list[str]:
    return [item.decode() for item in client.lrange(ORDER_KEY, 0, -1)]


def one_run(mode: str, normals: int, urgents: int, sleep_ms: int) -> dict:
    import redis

    client = redis.Redis.from_url(_client_url())
    client.delete(ORDER_KEY, *queue_names(mode))
    worker = start_worker(mode)
    try:
        started = time.perf_counter()
        for i in range(normals):
            publish(mode, f"n{i}", False, sleep_ms)
        while len(order_so_far(client)) < 3:  # the worker is busy with the backlog
            time.sleep(0.005)
        before = len(order_so_far(client))
        for i in range(urgents):
            publish(mode, f"u{i}", mode != "floor", sleep_ms)
        while len(order_so_far(client)) < normals + urgents:
            time.sleep(0.01)
        wall = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    order = order_so_far(client)
    client.delete(ORDER_KEY, *queue_names(mode))
    positions = [i for i, label in enumerate(order) if label.startswith("u")]
    # The one running (or reserved) when the burst was published is not the order's fault.
    after = sum(1 for label in order[before + 1:positions[-1]] if label.startswith("n"))
    interleaved = sum(1 for label in order[positions[0]:positions[-1]] if label.startswith("n"))
    return {"after": after, "interleaved": interleaved, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normals", type=int, default=50)
    parser.add_argument("--urgents", default="1,10")
    parser.add_argument("--task-ms", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"redis={REDIS_URL} normals={args.normals} task={args.task_ms} ms repeat={args.repeat} "
          f"load={os.getloadavg()[0]:.2f}")
    print(f"{'mode':8} {'urgents':>7} {'after (max)':>12} {'interleaved (max)':>18} {'wall s (median)':>16} {'wall/floor':>10}")
    for urgents in [int(u) for u in args.urgents.split(",")]:
        results = {}
        for _ in range(args.repeat):  # interleaved, so every mode sees the same load
            for mode in ("floor", "steps", "queues"):
                results.setdefault(mode, []).append(one_run(mode, args.normals, urgents, args.task_ms))
        floor = statistics.median(r["wall"] for r in results["floor"])
        for mode in ("floor", "steps", "queues"):
            runs = results[mode]
            wall = statistics.median(r["wall"] for r in runs)
            print(f"{mode:8} {urgents:>7} {max(r['after'] for r in runs):>12} {max(r['interleaved'] for r in runs):>18} "
                  f"{wall:>16.2f} {wall / floor:>10.2f}")
    print(f"load={os.getloadavg()[0]:.2f}")
    if _EMBEDDED_DIR is not None:
        from studio import embedded_redis  # lazy: only when this bench started it

        embedded_redis.stop(_EMBEDDED_DIR)


if __name__ == "__main__":
    main()
