"""The one timecode formatter (generation/timecode.py): the animatic's slate and the studio's
`timecode` template filter both write it; the browser's twin is checked against it in
tests/browser/test_timecode_in_browser.py."""

from __future__ import annotations

import pytest

from generation.timecode import timecode


@pytest.mark.parametrize(("frame", "fps", "expected"), [
    (0, 24, "00:00:00:00"),
    (23, 24, "00:00:00:23"),
    (29, 24, "00:00:01:05"),
    (24 * 60 * 61 + 3, 24, "01:01:00:03"),
    (24 * 3600 * 100, 24, "100:00:00:00"),
    (59, 30, "00:00:01:29"),
    (25 * 90, 25, "00:01:30:00"),
])
def test_frames_read_as_hours_minutes_seconds_and_frames(frame, fps, expected):
    assert timecode(frame, fps) == expected


def test_frames_before_the_start_read_as_the_start_and_a_rate_below_one_as_one():
    assert timecode(-5, 24) == "00:00:00:00"
    assert timecode(7, 0) == "00:00:07:00"

