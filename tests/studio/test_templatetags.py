"""The studio's template helpers."""

from __future__ import annotations

from generation.timecode import timecode
from studio.templatetags.studio_ui import timecode as timecode_filter


def test_the_timecode_filter_writes_the_engine_timecode_and_nothing_for_nonsense():
    assert timecode_filter(29, 24) == timecode(29, 24) == "00:00:01:05"
    assert timecode_filter("29", "24") == "00:00:01:05"
    assert timecode_filter(None, 24) == "" and timecode_filter(29, 0) == "" and timecode_filter(-3, 24) == "00:00:00:00"
