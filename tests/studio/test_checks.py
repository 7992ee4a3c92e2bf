"""studio/checks.py: `manage.py check` says which ffmpeg the engine runs, and fails when it cannot."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import imageio_ffmpeg
import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from studio.checks import ffmpeg_binary_check
from tests.conftest import require


def check_output(**options) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("check", stdout=out, stderr=err, **options)
    return out.getvalue() + err.getvalue()


def test_check_reports_the_bundled_binary_and_its_version(monkeypatch):
    monkeypatch.delenv("CONTINUITY_FFMPEG", raising=False)

    output = check_output()

    assert f"CONTINUITY_FFMPEG=bundled runs {imageio_ffmpeg.get_ffmpeg_exe()} (version " in output


def test_check_reports_the_system_binary(monkeypatch):
    require(shutil.which("ffmpeg") is not None, "a system ffmpeg on PATH (Debian: apt-get install ffmpeg)")
    monkeypatch.setenv("CONTINUITY_FFMPEG", "system")

    [message] = ffmpeg_binary_check()

    assert message.level == checks.INFO and message.id == "continuity.I001"
    assert f"runs {shutil.which('ffmpeg')} (version " in message.msg


def test_a_binary_that_cannot_run_fails_the_check(monkeypatch, tmp_path):
    monkeypatch.setenv("CONTINUITY_FFMPEG", str(tmp_path / "ffmpeg"))

    with pytest.raises(SystemCheckError, match=r"continuity\.E001.*is not an executable file"):
        check_output()


def test_the_csrf_cookie_the_board_page_reads_is_checked(settings):
    """The cached board's script fills its CSRF token from the `csrftoken` cookie: settings that
    hide or rename that cookie fail `manage.py check` with a clear error instead of every post of
    the board failing with a 403."""
    from studio.checks import BOARD_CSRF_COOKIE, csrf_cookie_readable_check

    assert csrf_cookie_readable_check() == []  # the studio's own settings
    script = (Path(__file__).resolve().parents[2] / "static" / "studio" / "csrf-from-cookie.js").read_text()
    assert f"{BOARD_CSRF_COOKIE}=" in script
    settings.CSRF_COOKIE_HTTPONLY = True
    settings.CSRF_COOKIE_NAME = "studio_csrf"
    [error] = csrf_cookie_readable_check()
    assert error.id == "continuity.E002" and "CSRF_COOKIE_HTTPONLY" in error.msg and "'studio_csrf'" in error.msg
    with pytest.raises(SystemCheckError, match="continuity.E002"):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())
