"""The deployment baseline: production settings pass `check --deploy`, and every response carries
the security headers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def test_production_settings_pass_check_deploy(tmp_path):
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE must not leak into a production check.
    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}, "DEBUG": "0", "SECRET_KEY": "x" * 20 + "-production-key-with-enough-entropy-0123456789",
           "ALLOWED_HOSTS": "studio.example.com", "CONTINUITY_VAR_DIR": str(tmp_path), "REDIS_URL": settings.REDIS_URL}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # Nothing but the report of which ffmpeg runs (an INFO, studio/checks.py).
    assert "System check identified 1 issue (0 silenced)" in result.stderr and "(continuity.I001) ffmpeg" in result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"} | {"DEBUG": "0", "CONTINUITY_VAR_DIR": str(tmp_path),
                                                                         "REDIS_URL": settings.REDIS_URL}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def _bare_environment(tmp_path, **extra: str) -> dict[str, str]:
    """This machine's environment without any of the studio's settings: a fresh install."""
    studio_settings = {"DEBUG", "SECRET_KEY", "REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE",
                       "ALLOWED_HOSTS", "MEDIA_ROOT", "STATIC_ROOT"}
    return {k: v for k, v in os.environ.items() if k not in studio_settings and not k.startswith("CONTINUITY_")} | {
        "CONTINUITY_VAR_DIR": str(tmp_path), **extra}


ASK_FOR_A_MISSING_PAGE = """
import json
from django.conf import settings
from django.core.management import call_command
from django.test import Client
call_command("collectstatic", interactive=False, verbosity=0)
response = Client().get("/p/no-such-project/no-such-page/", secure=True)
print(json.dumps({"debug": settings.DEBUG, "status": response.status_code, "body": response.content.decode()}))
"""


def test_a_default_install_has_debug_off_and_its_404_lists_no_url_patterns(tmp_path):
    from studio import embedded_redis

    try:  # no settings at all: SQLite and the embedded Redis under var/, no SECRET_KEY
        result = subprocess.run([sys.executable, "manage.py", "shell", "-c", ASK_FOR_A_MISSING_PAGE], cwd=ROOT,
                                env=_bare_environment(tmp_path), capture_output=True, text=True, timeout=120)
    finally:
        embedded_redis.stop(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    page = json.loads(result.stdout.strip().splitlines()[-1])
    assert page["debug"] is False and page["status"] == 404
    assert "There is nothing here" in page["body"]
    assert "URLconf" not in page["body"] and "p/&lt;slug:slug&gt;/" not in page["body"]
    # The key it generated is kept under var/ for its owner only.
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_run_studio_is_the_development_studio_and_nothing_else_is(tmp_path):
    env = _bare_environment(tmp_path, REDIS_URL=settings.REDIS_URL, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    # run_studio turns DEBUG on before the settings load, so it needs no SECRET_KEY...
    development = subprocess.run([sys.executable, "manage.py", "run_studio", "--help"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
    assert development.returncode == 0, development.stdout + development.stderr
    # ...while any other command, with the same environment, runs with DEBUG off and wants one.
    production = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert production.returncode != 0 and "SECRET_KEY must be set" in production.stderr


@pytest.mark.django_db
def test_pages_carry_security_headers(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
