"""System checks of the studio's own: which ffmpeg the engine runs (CONTINUITY_FFMPEG), reported
by `manage.py check`, and an error when the chosen one cannot run; and an error when the CSRF
settings hide the cookie the board page's script reads its token from."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from generation.ffmpeg import BINARY_SETTING, MediaError, binary_choice, binary_version, ffmpeg_binary


def ffmpeg_binary_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    choice = binary_choice()
    try:
        binary = ffmpeg_binary()
        version = binary_version(binary)
    except MediaError as exc:
        return [checks.Error(
            f"ffmpeg cannot run: {exc}",
            hint=f"Set {BINARY_SETTING} to 'bundled' (the imageio-ffmpeg wheel's), 'system' (the ffmpeg on PATH) "
                 "or the path of an ffmpeg executable.",
            id="continuity.E001",
        )]
    return [checks.Info(f"ffmpeg: {BINARY_SETTING}={choice} runs {binary} (version {version})", id="continuity.I001")]


# The name static/studio/csrf-from-cookie.js reads: the cached, gzipped board page carries a
# placeholder for its CSRF token and that script fills it from this cookie (studio/views/board.py).
BOARD_CSRF_COOKIE = "csrftoken"


def csrf_cookie_readable_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problems = []
    if settings.CSRF_USE_SESSIONS:
        problems.append("CSRF_USE_SESSIONS is on (there is no cookie to read)")
    if settings.CSRF_COOKIE_HTTPONLY:
        problems.append("CSRF_COOKIE_HTTPONLY is on (the page's script cannot read it)")
    if settings.CSRF_COOKIE_NAME != BOARD_CSRF_COOKIE:
        problems.append(f"CSRF_COOKIE_NAME is {settings.CSRF_COOKIE_NAME!r}, not {BOARD_CSRF_COOKIE!r}")
    if not problems:
        return []
    return [checks.Error(
        "The board page fills its CSRF token from the CSRF cookie in the browser, but " + "; ".join(problems) + ".",
        hint=f"Keep Django's defaults: the token in a cookie named {BOARD_CSRF_COOKIE!r} that scripts may read "
             "(it is not a secret from the page itself; it guards against other sites).",
        id="continuity.E002",
    )]
