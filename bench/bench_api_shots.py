"""Listing the shots of a 500-shot project through the REST API: SQL queries per call, and p95
latency under load with wrk against the sign-in page (the floor) under the same load.

    python bench/bench_api_shots.py [--shots 500 --connections 50 --duration 20 --server gunicorn:2]

Goals (issue 14, item 7): queries per listing constant (counted for 10, 100 and --shots shots);
p95 of GET /api/v1/projects/<slug>/shots/ within 1.5x of the sign-in page's p95 under the same
load. Two listings are loaded: the first page at the default size (50 shots, what a client paging
through the board gets per call) and the whole board in one call (?page_size=500).

Real parts, as bench/bench_board_page.py (whose helpers this reuses): the project is built through
the services (cast mentioned in every prompt, two takes per shot), served as in production
(DEBUG=0, collected static files) by Gunicorn, and loaded with Debian's `wrk` from the same
machine, authenticated with a personal access token (`Authorization: Bearer ...`) as API clients
are. The floor is the sign-in page served by the same server under the same wrk settings.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench._env import setup_django, throwaway_storage  # noqa: E402
from bench.bench_board_page import P95_LUA, build_project, free_port, production_like_environment, start_servers, stop  # noqa: E402

GOAL_RATIO = 1.5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=500)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=int, default=20, help="seconds of wrk load per run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--server", default="gunicorn:2", help="server:processes (gunicorn or daphne)")
    return parser.parse_args()


def queries_per_listing(client, project, headers: dict[str, str], query: str) -> tuple[int, int]:
    """(queries of a listing that serialises the shots, queries of the same listing from the cache)."""
    from django.db import connection
    from django.db.models import F
    from django.test.utils import CaptureQueriesContext

    from studio.models import Project

    url = f"/api/v1/projects/{project.slug}/shots/{query}"
    client.get(url, headers=headers)  # the token notes its last use once a minute
    Project.objects.filter(pk=project.pk).update(event_seq=F("event_seq") + 1)  # what any event does
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, headers=headers)
        assert response.status_code == 200, response.content[:300]
        counts.append(len(queries))
    return counts[0], counts[1]


def wait_until_serving(url: str, headers: dict[str, str], server, log_dir: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in server):
            raise SystemExit("the server exited early:\n" + "\n".join(f.read_text(errors="replace")[-2000:] for f in log_dir.glob("*.log")))
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
                if response.status == 200:
                    for _ in range(8):  # every worker compiles its code paths and opens its connection
                        urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30).read()
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} never answered 200")


def unloaded_ms(url: str, headers: dict[str, str], requests: int = 30) -> float:
    """Median time of one request at a time: the cost of the path itself, without queueing."""
    import statistics

    times = []
    for _ in range(requests):
        started = time.perf_counter()
        urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30).read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run_wrk(url: str, headers: dict[str, str], args, lua_path: Path) -> dict[str, float]:
    header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s", "--timeout", "10s",
               *header_args, "-s", str(lua_path), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"RESULT (.*)", output)
    if not match:
        raise SystemExit(f"wrk said nothing we understand:\n{output}")
    result = {key: int(value) for key, value in (pair.split("=") for pair in match[1].split())}
    return {"requests_s": result["requests"] / args.duration, "p50_ms": result["p50_us"] / 1000,
            "p95_ms": result["p95_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
            "errors": result["errors"] + result["non2xx"]}


def measure(paths: dict[str, tuple[str, dict[str, str]]], args, scratch: Path) -> dict[str, dict[str, float]]:
    """One server for every run, so each path meets the same processes under the same load."""
    kind, processes = args.server.split(":")
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="logs-api-", dir=scratch))
    lua_path = scratch / "p95.lua"
    lua_path.write_text(P95_LUA)
    server = start_servers(kind, int(processes), port, log_dir)
    results = {}
    try:
        for label, (path, headers) in paths.items():
            url = f"http://127.0.0.1:{port}{path}"
            wait_until_serving(url, headers, server, log_dir)
            results[label] = {**run_wrk(url, headers, args, lua_path), "alone_ms": unloaded_ms(url, headers)}
    finally:
        stop(server)
    return results


def main() -> None:
    args = parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: `make wrk` installs it (apt-get install wrk)")
    with throwaway_storage("bench-api-") as scratch:
        production_like_environment(scratch)
        setup_django(migrate=True)
        from django.core.management import call_command

        call_command("collectstatic", verbosity=0, interactive=False)
        run(args, scratch)


def run(args, scratch: Path) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from studio.services.api_tokens import api_token_create

    owner = get_user_model().objects.create_user(f"bench{time.time_ns()}", password=None)
    _, token = api_token_create(user=owner, name="bench", scopes=["read"])
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https"}
    client = Client()
    print(f"machine: {os.cpu_count()} cores, database {os.environ['DATABASE_URL'].split(':')[0]}, "
          f"load average {os.getloadavg()[0]:.1f}")

    counts: dict[str, dict[int, tuple[int, int]]] = {"page of 50": {}, "page of 500": {}}
    for shots in sorted({10, 100, args.shots}):
        project = build_project(owner, shots, f"API bench {shots} {time.time_ns()}")
        counts["page of 50"][shots] = queries_per_listing(client, project, headers, "")
        counts["page of 500"][shots] = queries_per_listing(client, project, headers, "?page_size=500")
    for label, by_shots in counts.items():
        constant = len(set(by_shots.values())) == 1
        print(f"queries (serialised, from the cache), {label}: "
              + ", ".join(f"{n} shots {q[0]}, {q[1]}" for n, q in by_shots.items())
              + f" -> {'constant' if constant else 'NOT constant'}")

    base = f"/api/v1/projects/{project.slug}/shots/"
    paths = {"sign-in page (floor)": ("/accounts/login/", {"X-Forwarded-Proto": "https"}),
             f"API shots, first 50 of {args.shots}": (base, headers),
             f"API shots, all {args.shots}": (base + "?page_size=500", headers)}
    print(f"\nwrk: {args.connections} connections, {args.threads} threads, {args.duration} s each, {args.server}")
    results = measure(paths, args, scratch)
    floor = results["sign-in page (floor)"]["p95_ms"]
    print(f"{'what':<30} {'alone ms':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'p95 / floor':>12}")
    for label, r in results.items():
        ratio = r["p95_ms"] / floor if floor else float("nan")
        verdict = "" if label.startswith("sign-in") else ("met" if ratio <= GOAL_RATIO and not r["errors"] else "missed")
        print(f"{label:<30} {r['alone_ms']:>8.1f} {r['requests_s']:>7.1f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} "
              f"{r['errors']:>7} {ratio:>11.2f}x {verdict}")
    print(f"goal: p95 within {GOAL_RATIO}x of the sign-in page; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
