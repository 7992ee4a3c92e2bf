"""The shot board of a big project: SQL queries per page load, and latency under load with wrk.

    python bench/bench_board_page.py [--shots 500 --connections 50 --duration 20
                                      --servers daphne:1,daphne:2,gunicorn:2,gunicorn:3]
                                     [--profile board.txt]  (pyinstrument: one load that renders
                                      the board, and one served from the cache; no wrk)

Goals (issue 4): queries per board page load constant and <= 12 (counted for 10, 100 and --shots
shots); p95 latency <= 150 ms at 50 concurrent connections on 2 cores.

Real parts: the project is built through the services (scenes, shots with @mentions so the board
shows cast chips, takes with posters, one approved take per shot, some renders running), then
served as the README's production commands serve it (DEBUG=0, collected static files):
  daphne:N    N Daphne processes (studio.asgi:application) sharing one port with SO_REUSEPORT;
              `run_studio` runs one;
  gunicorn:N  Gunicorn with N sync workers (studio.wsgi:application), the README's HTTP tier;
and loaded with wrk (Debian's `wrk`, installed by `make bench`) from the same machine as a
signed-in member: GET of the board page with a session cookie and `X-Forwarded-Proto: https`
(what the TLS proxy in front adds). wrk shares the 2 cores with the server; its p95 comes from a
small Lua `done` hook. The first load renders the board and caches it (views/board.py), so wrk
measures the page as a team sees it between changes; the load right after a change (which
renders it again, once) is timed separately, in-process, as "after a change".

Django uses a throwaway SQLite database in a temporary directory unless DATABASE_URL is set
(then it writes one project into that database), and the embedded Redis of a temporary var folder
unless CONTINUITY_VAR_DIR / REDIS_URL are set.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench._env import setup_django, throwaway_storage  # noqa: E402  (needs the repository on the path)

GOAL_QUERIES, GOAL_P95_MS = 12, 150.0
SHOTS_PER_SCENE = 10
CAST = [("mara", "character"), ("jonah", "character"), ("ferry", "object"), ("lantern", "object"),
        ("harbour", "location"), ("lighthouse", "location")]
P95_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors=%d non2xx=%d p50_us=%d p95_us=%d p99_us=%d max_us=%d\\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=500)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=int, default=20, help="seconds of wrk load per run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--accept-encoding", default=BROWSER_ACCEPT_ENCODING,
                        help="what the load says it takes; 'identity' for uncompressed pages")
    parser.add_argument("--servers", default="daphne:1,daphne:2,gunicorn:2,gunicorn:3",
                        help="server:processes, one run each (daphne or gunicorn)")
    parser.add_argument("--profile", type=Path, help="write pyinstrument profiles of the --shots board here and stop")
    parser.add_argument("--floor-server", default="gunicorn:2",
                        help="server for a last run against the sign-in page: the floor of any page")
    return parser.parse_args()


def production_like_environment(scratch: Path) -> None:
    """Fixed before settings load; the servers inherit it."""
    os.environ["STATIC_ROOT"] = str(scratch / "static")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # one key: the servers accept our session
    os.environ["DEBUG"] = "0"  # as in production: no query log, compressed manifest static files
    os.environ["CONTINUITY_CHANNEL_PREFIX"] = f"bench{os.getpid()}"


# --- The project ---------------------------------------------------------------------------------

def build_project(owner, shots: int, name: str):
    """A project as a team would have it mid-production: every shot rendered twice, the second
    take approved, one shot in ten rendering right now, cast mentioned in every prompt."""
    from studio.models import Shot, Take, TakeStatus
    from studio.services.cast import cast_member_create
    from studio.services.projects import project_create
    from studio.services.shots import scene_create, shot_create

    project = project_create(owner=owner, name=name, default_backend="animatic")
    for handle, kind in CAST:
        cast_member_create(project=project, actor=owner, name=handle.title(), handle=handle, kind=kind)
    created = []
    for scene_number in range((shots + SHOTS_PER_SCENE - 1) // SHOTS_PER_SCENE):
        scene = scene_create(project=project, actor=owner, heading=f"EXT. HARBOUR {scene_number + 1} - NIGHT")
        for n in range(min(SHOTS_PER_SCENE, shots - len(created))):
            a, b = CAST[n % len(CAST)][0], CAST[(n + 2) % len(CAST)][0]
            created.append(shot_create(scene=scene, actor=owner, duration_s=3,
                                       prompt=f"@{a} waits by @{b} as the fog rolls in, angle {n + 1}"))
    takes, approved = [], []
    for index, shot in enumerate(created):
        for number in (1, 2):
            takes.append(Take(shot=shot, number=number, backend="animatic", signature=f"{shot.id}-{number}",
                              request={"prompt": shot.prompt, "seed": shot.seed, "frames": 72},
                              status=TakeStatus.SUCCEEDED, progress=1.0, frames=72, duration_s=3.0,
                              video=f"projects/{project.id}/takes/{shot.id}-{number}.mp4",
                              poster=f"projects/{project.id}/takes/{shot.id}-{number}.jpg",
                              provenance={"model": "animatic", "seed": shot.seed}, compute_seconds=1.5))
        if index % 10 == 0:
            takes.append(Take(shot=shot, number=3, backend="animatic", signature=f"{shot.id}-3", request={},
                              status=TakeStatus.RUNNING, progress=0.4, step=12, total_steps=30))
    Take.objects.bulk_create(takes, batch_size=500)
    for take in Take.objects.filter(shot__scene__project=project, number=2):
        approved.append(Shot(pk=take.shot_id, approved_take_id=take.pk))
    Shot.objects.bulk_update(approved, ["approved_take"], batch_size=500)
    return project


def load_after_change_ms(client, project, repeat: int = 5) -> float:
    """Median time of a board load that must render it: the project's content changed just before."""
    import statistics

    from django.db.models import F

    from studio.models import Project

    times = []
    for _ in range(repeat):
        Project.objects.filter(pk=project.pk).update(event_seq=F("event_seq") + 1)  # what any event does
        started = time.perf_counter()
        client.get(f"/p/{project.slug}/board/", headers={"X-Forwarded-Proto": "https"})
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def profile_board(client, project, path: Path) -> None:
    """pyinstrument of a board load that renders it (after a change) and of one from the cache."""
    from django.db.models import F
    from pyinstrument import Profiler

    from studio.models import Project

    url = f"/p/{project.slug}/board/"
    client.get(url, headers={"X-Forwarded-Proto": "https"})  # Django's own caches (templates, content types)
    texts = []
    for label, change in (("renders the board (after a change)", True), ("from the cache", False)):
        if change:
            Project.objects.filter(pk=project.pk).update(event_seq=F("event_seq") + 1)
        profiler = Profiler(interval=0.0005)
        with profiler:
            client.get(url, headers={"X-Forwarded-Proto": "https"})
        texts.append(f"=== {label}\n" + profiler.output_text(unicode=False, color=False, show_all=False))
    path.write_text("\n".join(texts))
    print(f"profiles written to {path}")


def queries_per_load(client, project) -> tuple[int, int]:
    """(queries of a load that renders the board, queries of a load served from the cache)."""
    from django.db import connection
    from django.db.models import F
    from django.test.utils import CaptureQueriesContext

    from studio.models import Project

    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/p/{project.slug}/board/", headers={"X-Forwarded-Proto": "https"})
        assert response.status_code == 200, response.status_code
        counts.append(len(queries))
    Project.objects.filter(pk=project.pk).update(event_seq=F("event_seq") + 1)
    return counts[0], counts[1]


# --- Load --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_servers(kind: str, count: int, port: int, log_dir: Path) -> list[subprocess.Popen]:
    if kind == "gunicorn":
        log = open(log_dir / "gunicorn.log", "wb")
        return [subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(count), "-b", f"127.0.0.1:{port}", "--backlog", "1024",
             "studio.wsgi:application"], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)]
    if kind != "daphne":
        raise SystemExit(f"unknown server {kind!r}: daphne or gunicorn")
    return start_daphnes(count, port, log_dir)


def start_daphnes(count: int, port: int, log_dir: Path) -> list[subprocess.Popen]:
    """`count` Daphne processes on one port: a socket bound once with SO_REUSEPORT per process, so
    the kernel spreads connections (daphne --fd takes an inherited, listening socket)."""
    processes = []
    for n in range(count):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1024)
        log = open(log_dir / f"daphne-{n}.log", "wb")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()), "studio.asgi:application"],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, pass_fds=[listener.fileno()]))
        listener.close()
    return processes


def wait_until_serving(url: str, cookie: str, processes: list[subprocess.Popen], log_dir: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit("the server exited early:\n" + "\n".join(f.read_text(errors="replace")[-2000:] for f in log_dir.glob("*.log")))
        try:
            request = urllib.request.Request(url, headers={"Cookie": cookie, "X-Forwarded-Proto": "https"})
            with urllib.request.urlopen(request, timeout=10) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("the board never answered 200")


# What a browser says it takes (Chromium's), so the board is measured as browsers get it: gzipped.
BROWSER_ACCEPT_ENCODING = "gzip, deflate, br, zstd"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the redirect itself comes back, as an error


def warm(url: str, cookie: str, requests: int, accept_encoding: str = BROWSER_ACCEPT_ENCODING) -> None:
    """A few loads first, so every process has compiled its templates and opened its connections.
    Each must be the page itself: wrk counts only 4xx and 5xx as errors, so a cookie that no
    longer signed in would have the load measure a quick redirect to the sign-in page."""
    opener = urllib.request.build_opener(_NoRedirects)
    for _ in range(requests):
        request = urllib.request.Request(url, headers={"Cookie": cookie, "X-Forwarded-Proto": "https",
                                                       "Accept-Encoding": accept_encoding})
        try:
            with opener.open(request, timeout=30) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        if status != 200:
            raise SystemExit(f"{url} answered {status}, not the page: nothing to measure")


def run_wrk(url: str, cookie: str, args, lua_path: Path) -> dict[str, int]:
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s", "--timeout", "10s",
               *(["-H", f"Cookie: {cookie}"] if cookie else []), "-H", "X-Forwarded-Proto: https",
               "-H", f"Accept-Encoding: {getattr(args, 'accept_encoding', BROWSER_ACCEPT_ENCODING)}", "-s", str(lua_path), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"RESULT (.*)", output)
    if not match:
        raise SystemExit(f"wrk said nothing we understand:\n{output}")
    return {key: int(value) for key, value in (pair.split("=") for pair in match[1].split())}


def measure_load(path: str, cookie: str, kind: str, processes: int, args, scratch: Path) -> dict[str, float]:
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix=f"logs-{kind}-{processes}-", dir=scratch))
    lua_path = scratch / "p95.lua"
    lua_path.write_text(P95_LUA)
    url = f"http://127.0.0.1:{port}{path}"
    servers = start_servers(kind, processes, port, log_dir)
    try:
        wait_until_serving(url, cookie, servers, log_dir)
        warm(url, cookie, 4 * processes, args.accept_encoding)
        cpu_before = os.times()
        result = run_wrk(url, cookie, args, lua_path)
        cpu_after = os.times()
    finally:
        stop(servers)
    return {
        "requests_s": result["requests"] / args.duration,
        "p50_ms": result["p50_us"] / 1000, "p95_ms": result["p95_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
        "max_ms": result["max_us"] / 1000, "errors": result["errors"], "non2xx": result["non2xx"],
        "wrk_cpu_s": (cpu_after.children_user + cpu_after.children_system) - (cpu_before.children_user + cpu_before.children_system),
    }


def stop(servers: list[subprocess.Popen]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:  # Daphne waits for requests wrk left behind
            server.kill()
            server.wait()


# --- Main ----------------------------------------------------------------------------------------

def main() -> None:
    args = parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    with throwaway_storage("bench-board-") as scratch:
        production_like_environment(scratch)
        setup_django(migrate=True)
        from django.core.management import call_command

        call_command("collectstatic", verbosity=0, interactive=False)
        measure(args, scratch)


def measure(args, scratch: Path) -> None:
    from django.contrib.auth import get_user_model
    from django.db.models import F
    from django.test import Client

    from studio.models import Project

    owner = get_user_model().objects.create_user(f"bench{time.time_ns()}", password=None)
    client = Client()
    client.force_login(owner)
    print(f"machine: {os.cpu_count()} cores, database {os.environ['DATABASE_URL'].split(':')[0]}")

    if args.profile:
        profile_board(client, build_project(owner, args.shots, f"Board profile {time.time_ns()}"), args.profile)
        return
    counts = {}
    for shots in sorted({10, 100, args.shots}):
        started = time.monotonic()
        project = build_project(owner, shots, f"Board bench {shots} {time.time_ns()}")
        built_s = time.monotonic() - started
        client.get(f"/p/{project.slug}/board/")  # fills Django's own caches (content types, templates)
        Project.objects.filter(pk=project.pk).update(event_seq=F("event_seq") + 1)
        counts[shots], cached = queries_per_load(client, project)
        page = client.get(f"/p/{project.slug}/board/", headers={"X-Forwarded-Proto": "https"})
        print(f"{shots:>4} shots: {counts[shots]:>2} queries per board load that renders it, {cached} from the cache "
              f"(page {len(page.content) / 1024:.0f} KiB; project built in {built_s:.1f} s); "
              f"a load after a change (renders the board) {load_after_change_ms(client, project):.0f} ms")
    constant = len(set(counts.values())) == 1
    print(f"queries: {'constant' if constant else 'NOT constant'}, at most {max(counts.values())} "
          f"(goal <= {GOAL_QUERIES}): {'met' if constant and max(counts.values()) <= GOAL_QUERIES else 'missed'}")

    cookie = f"sessionid={client.cookies['sessionid'].value}"
    print(f"\nwrk: {args.connections} connections, {args.threads} threads, {args.duration} s, GET the {args.shots}-shot board")
    print(f"{'server':<12} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}  goal p95 <= {GOAL_P95_MS:.0f} ms")
    runs = [(spec, f"/p/{project.slug}/board/") for spec in args.servers.split(",")]
    # The floor: the cheapest page there is (a form, no query of ours) under the same load.
    runs.append((f"{args.floor_server} sign-in page", "/accounts/login/"))
    for label, path in runs:
        kind, processes = label.split()[0].split(":")
        r = measure_load(path, cookie if "board" in path else "", kind, int(processes), args, scratch)
        verdict = "met" if r["p95_ms"] <= GOAL_P95_MS and not r["errors"] and not r["non2xx"] else "missed"
        print(f"{label:<12} {r['requests_s']:>7.1f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} "
              f"{r['max_ms']:>8.1f} {r['errors'] + r['non2xx']:>7}  {verdict}  (wrk itself used {r['wrk_cpu_s']:.1f} CPU s)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
