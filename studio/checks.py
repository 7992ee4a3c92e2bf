"""System checks of the studio's own: which ffmpeg the engine runs (CONTINUITY_FFMPEG), reported
by `manage.py check`, and an error when the chosen one cannot run."""

from __future__ import annotations

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
