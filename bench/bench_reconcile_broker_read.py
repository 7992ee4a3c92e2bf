"""What the reconciler's one broker read per run costs with a long render queue.

    python bench/bench_reconcile_broker_read.py [--messages 1000,10000] [--repeat 5]

The reconciler resends a queued take only when its message is no longer in the broker, so when
any queued take has an old publish receipt it reads the render queue once per run
(studio.services.dispatch.task_ids_in_broker: the queue's lists and the unacknowledged hash,
every message's task id). This publishes --messages real render messages (studio's own send, a
scratch queue, no worker consuming it) and times that read against a floor measured in the same
run: a bare LRANGE of the same list (the bytes moved, nothing parsed). Uses the embedded Redis in
a temporary folder unless REDIS_URL is set; the scratch queue is deleted at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._env import setup_django, throwaway_storage  # noqa: E402


def best_of(repeat: int, function) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with throwaway_storage("bench-reconcile-"):
        setup_django()
        import redis
        from django.conf import settings

        from studio.services import dispatch

        queue = f"bench-gpu-{uuid.uuid4().hex[:8]}"
        client = redis.Redis.from_url(settings.REDIS_URL)
        print(f"{'messages':>9} {'broker read ms':>15} {'floor LRANGE ms':>16} {'ratio':>6} {'ids found':>10}")
        try:
            published = 0
            for target in sorted(int(n) for n in args.messages.split(",")):
                for _ in range(target - published):
                    dispatch._send(dispatch.RENDER_TAKE, 0, queue=queue, task_id=str(uuid.uuid4()))
                published = target
                found = len(dispatch.task_ids_in_broker([queue]))
                read = best_of(args.repeat, lambda: dispatch.task_ids_in_broker([queue]))
                floor = best_of(args.repeat, lambda: client.lrange(queue, 0, -1))
                print(f"{target:>9} {read * 1000:>15.1f} {floor * 1000:>16.1f} {read / floor:>6.1f} {found:>10}")
        finally:
            client.delete(queue)


if __name__ == "__main__":
    main()
