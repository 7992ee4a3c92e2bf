"""channels_redis' two layers side by side: one group send to N sockets of one server process.

    python bench/bench_channel_layers.py [--sockets 50,200,500] [--events 50]

For each layer (core: RedisChannelLayer; pubsub: RedisPubSubChannelLayer) and N: N channels of
one process join one group; each of --events group sends is timed until every channel has
received it (p50/p99 ms), with the process CPU seconds per event (load-independent) and whether
the layer dropped anything (core: a per-process inbox of `capacity` messages). Real Redis
(REDIS_URL, else the embedded one), in one process: the cost of the fan-out itself, without a
server, a browser or a database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

LAYERS = {"core": "channels_redis.core.RedisChannelLayer", "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer"}


async def measure(backend: str, url: str, sockets: int, events: int, capacity: int) -> dict:
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer

    prefix = f"benchlayers{uuid.uuid4().hex[:8]}"
    hosts = [{"address": url, "max_connections": 1000}]
    layer = (RedisChannelLayer(hosts=hosts, prefix=prefix, capacity=capacity, expiry=30) if backend == "core"
             else RedisPubSubChannelLayer(hosts=hosts, prefix=prefix))
    channels = [await layer.new_channel() for _ in range(sockets)]
    for channel in channels:
        await layer.group_add("project.1", channel)
    latencies, lost = [], 0
    cpu = time.process_time()
    for n in range(events):
        started = time.perf_counter()
        await layer.group_send("project.1", {"type": "project.event", "event": {"type": "take.changed", "seq": n, "take": {"id": 1, "progress": n / events}}})
        results = await asyncio.gather(*(asyncio.wait_for(layer.receive(c), 10) for c in channels), return_exceptions=True)
        latencies.append((time.perf_counter() - started) * 1000)
        lost += sum(isinstance(r, Exception) for r in results)
        if lost:
            break  # a channel timed out: pubsub unsubscribes it, core lost the message
    cpu_per_event = (time.process_time() - cpu) / max(1, len(latencies))
    await layer.flush()
    latencies.sort()
    return {"p50": latencies[len(latencies) // 2], "p99": latencies[min(len(latencies) - 1, int(.99 * len(latencies)))],
            "cpu_ms": cpu_per_event * 1000, "lost": lost, "events": len(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", default="50,200,500")
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--capacity", type=int, default=1500, help="the core layer's per-process inbox (settings: 1500)")
    args = parser.parse_args()
    url = os.environ.get("REDIS_URL")
    if not url:
        from bench._env import throwaway_storage  # noqa: F401
        from studio import embedded_redis

        url = embedded_redis.ensure_running(Path(os.environ.setdefault("CONTINUITY_VAR_DIR", "var")))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; Redis {url.split('@')[-1]}")
    print(f"{'N':>5} {'layer':<7} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/event':>13} {'lost':>6}")
    for n in (int(s) for s in args.sockets.split(",")):
        for backend in ("core", "pubsub"):
            r = asyncio.run(measure(backend, url, n, args.events, args.capacity))
            note = "" if r["events"] == args.events else f"  (stopped after {r['events']} events)"
            print(f"{n:>5} {backend:<7} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['cpu_ms']:>13.2f} {r['lost']:>6}{note}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
