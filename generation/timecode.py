"""Frame numbers as SMPTE non-drop-frame timecode, HH:MM:SS:FF: the one formatter for the engine
(the animatic burns it into its slate) and the studio's pages (the `timecode` template filter).
Its twin in the browser is static/studio/timecode.js; a browser test keeps the two in agreement."""

from __future__ import annotations


def timecode(frame: int, fps: int) -> str:
    """HH:MM:SS:FF for a frame index at a whole frame rate (frames before 0 read as 0)."""
    fps = max(int(fps), 1)
    seconds, frames = divmod(max(int(frame), 0), fps)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{frames:02d}"
