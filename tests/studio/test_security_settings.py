"""The deployment baseline: production settings pass `check --deploy`, and every response carries
the security headers."""

from __future__ import annotations

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


@pytest.mark.django_db
def test_pages_carry_security_headers(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
