"""Server memory while reference images are uploaded in parallel (issue 13, hole 6).

    python bench/bench_upload_memory.py [--uploads 12 --servers daphne,daphne-stock,gunicorn
                                         --scenarios images,chunked]

Goal: the web server's peak resident memory during 12 parallel maximum-size uploads stays within
idle + 250 MB: no body is held in memory (12 × 20 MB), only the images being opened and
re-encoded, CONTINUITY_IMAGE_SLOTS (2) at a time, at about 100 MB each for these 7-megapixel
pictures. A chunked body past the cap is answered 413 without being held either.

Real parts: a user, project and cast member made through the services; the server started as
`make run` starts it, in a subprocess on the same database and Redis:
  daphne        python -m studio.daphne_server (what `make run` runs: bodies capped and on disk)
  daphne-stock  python -m daphne, the stock server `make run` ran before, for comparison
  gunicorn      gunicorn -w 2 studio.wsgi:application (the README's production page tier)
and --uploads clients from this process, each on its own socket in its own thread, all sending
at once as a signed-in editor:
  images   one PNG of random pixels just under the 20 MB limit per request, with Content-Length,
           as the cast page's uploader sends them (accepted: decoded, re-encoded, stored);
  chunked  30 MB of zeros with Transfer-Encoding: chunked and no Content-Length (refused: 413).
The server's resident set (VmRSS of the process and its children, from /proc) is sampled every
10 ms; the floor is the same server's RSS when idle after a warm-up request, in the same run.

Django uses a throwaway SQLite database in a temporary directory unless DATABASE_URL is set
(then it writes a user and a project into that database), and the embedded Redis of a temporary
var folder unless CONTINUITY_VAR_DIR / REDIS_URL are set.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench._env import setup_django, throwaway_storage  # noqa: E402  (needs the repository on the path)

MB = 1024 * 1024
GOAL_OVER_IDLE_MB = 250
BOUNDARY = "----continuity-bench-upload"
CSRF_TOKEN = "b" * 32
SERVERS = {
    "daphne": ["-m", "studio.daphne_server", "-b", "127.0.0.1", "-p", "{port}", "studio.asgi:application"],
    "daphne-stock": ["-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "studio.asgi:application"],
    "gunicorn": ["-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:{port}", "studio.wsgi:application"],
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=12, help="parallel requests per scenario")
    parser.add_argument("--servers", default="daphne,daphne-stock,gunicorn")
    parser.add_argument("--scenarios", default="images,chunked")
    return parser.parse_args()


# --- The bodies ----------------------------------------------------------------------------------

def largest_png(limit_bytes: int) -> bytes:
    """Random pixels, stored uncompressed: the largest square PNG under the per-image limit."""
    from PIL import Image

    side = int(((limit_bytes - 64 * 1024) / 3) ** 0.5)
    pixels = random.Random(13).randbytes(side * side * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(out, format="PNG", compress_level=0)
    assert len(out.getvalue()) <= limit_bytes, len(out.getvalue())
    return out.getvalue()


def multipart_image(data: bytes) -> bytes:
    return b"\r\n".join([
        f"--{BOUNDARY}".encode(), b'Content-Disposition: form-data; name="images"; filename="plate.png"',
        b"Content-Type: image/png", b"", data, f"--{BOUNDARY}--".encode(), b""])


def send(port: int, path: str, headers: dict, body: bytes | None, chunked_total: int = 0) -> int:
    """One POST on its own socket; returns the status. A chunked body stops once answered."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=300)
    head = {"Host": f"127.0.0.1:{port}", "Connection": "close", **headers}
    head.update({"Transfer-Encoding": "chunked"} if body is None else {"Content-Length": str(len(body))})
    sock.sendall(f"POST {path} HTTP/1.1\r\n".encode() + b"".join(f"{k}: {v}\r\n".encode() for k, v in head.items()) + b"\r\n")
    try:
        if body is not None:
            sock.sendall(body)
        else:
            import select

            chunk = b"\x00" * (64 * 1024)
            for _ in range(chunked_total // len(chunk)):
                if select.select([sock], [], [], 0)[0]:
                    break
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.read()
    sock.close()
    return response.status


# --- The server and its memory -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_tree_rss(pid: int) -> int:
    """VmRSS of a process and all its descendants, in bytes (gunicorn's workers included)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every_s: float = 0.01):
        super().__init__(daemon=True)
        self.pid, self.every_s, self.peak, self.running = pid, every_s, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, process_tree_rss(self.pid))
            time.sleep(self.every_s)

    def stop(self) -> int:
        self.running = False
        self.join()
        return self.peak


def start_server(kind: str, port: int, log_path: Path) -> subprocess.Popen:
    command = [sys.executable, *(part.format(port=port) for part in SERVERS[kind])]
    log = open(log_path, "wb")
    server = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"{kind} exited early:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2):
                return server
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{kind} did not answer:\n{log_path.read_text(errors='replace')[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def idle_rss(pid: int, seconds: float = 1.0) -> int:
    samples = []
    for _ in range(int(seconds / 0.05)):
        samples.append(process_tree_rss(pid))
        time.sleep(0.05)
    return max(samples)


def run_scenario(port: int, path: str, headers: dict, scenario: str, uploads: int, image_body: bytes) -> tuple[list[int], float]:
    statuses = [0] * uploads
    start = threading.Barrier(uploads)

    def client(n: int):
        start.wait()
        if scenario == "images":
            statuses[n] = send(port, path, headers, image_body)
        else:
            statuses[n] = send(port, path, headers, None, chunked_total=30 * MB)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(uploads)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, time.monotonic() - started


# --- Main ----------------------------------------------------------------------------------------

def main() -> None:
    args = parse_args()
    with throwaway_storage("bench-upload-") as scratch:
        setup_django(migrate=True)
        measure(args, scratch)


def measure(args, scratch: Path) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from studio.models import ReferenceImage
    from studio.services.cast import cast_member_create
    from studio.services.projects import project_create

    owner = get_user_model().objects.create_user(f"bench{time.time_ns()}", password=None)
    project = project_create(owner=owner, name=f"Upload bench {time.time_ns()}")
    member = cast_member_create(project=project, actor=owner, name="Harbour", kind="location")
    client = Client()
    client.force_login(owner)
    headers = {"Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF_TOKEN}",
               "X-CSRFToken": CSRF_TOKEN, "Accept": "application/json",
               "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    path = reverse("reference_image_upload", args=[project.slug, member.id])
    image_body = multipart_image(largest_png(settings.CONTINUITY_MAX_IMAGE_BYTES))
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, database {os.environ['DATABASE_URL'].split(':')[0]}; "
          f"{args.uploads} parallel uploads; image request {len(image_body) / MB:.2f} MiB")
    print(f"{'server':<13} {'scenario':<8} {'idle MiB':>9} {'peak MiB':>9} {'over idle':>10} {'peak/idle':>9} "
          f"{'statuses':<22} {'wall s':>7} verdict")
    for kind in args.servers.split(","):
        for scenario in args.scenarios.split(","):
            port = free_port()
            server = start_server(kind, port, scratch / f"{kind}-{scenario}.log")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=10):
                    pass  # warm-up: Django's URL, template and database paths loaded
                floor = idle_rss(server.pid)
                sampler = RssSampler(server.pid)
                sampler.start()
                statuses, wall = run_scenario(port, path, headers, scenario, args.uploads, image_body)
                time.sleep(0.5)  # whatever the server still does after answering
                peak = sampler.stop()
            finally:
                stop(server)
            over = (peak - floor) / MB
            counted = {code: statuses.count(code) for code in sorted(set(statuses))}
            wanted = 200 if scenario == "images" else 413
            ok = over <= GOAL_OVER_IDLE_MB and counted == {wanted: args.uploads}
            print(f"{kind:<13} {scenario:<8} {floor / MB:>9.0f} {peak / MB:>9.0f} {over:>+10.0f} {peak / floor:>9.2f} "
                  f"{str(counted):<22} {wall:>7.1f} {'met' if ok else 'missed'}")
    ReferenceImage.objects.filter(cast_member=member).delete()
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
