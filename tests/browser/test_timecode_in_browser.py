"""One timecode, two languages: the browser's formatter (static/studio/timecode.js, used by the
review room and the cut editor) writes exactly what the server's (generation/timecode.py, used by
the templates and the animatic's slate) writes, so a timecode typed by the page matches the one
Django rendered beside it."""

from __future__ import annotations

import pytest

from generation.timecode import timecode

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CASES = [(0, 24), (23, 24), (24, 24), (29, 24), (24 * 3600 - 1, 24), (24 * 3600 * 100 + 7, 24), (59, 30), (2250, 25), (-5, 24), (12, 1)]


def test_the_browser_writes_the_same_timecode_as_the_server(browser_page, django_user_model):
    user = django_user_model.objects.create_user("timekeeper", password="not-used-here")
    browser = browser_page(user)
    page = browser.open("/", live=False)
    written = page.evaluate("""async cases => {
        const { timecode } = await import("/static/studio/timecode.js");
        return cases.map(([frame, fps]) => timecode(frame, fps));
    }""", CASES)
    assert written == [timecode(frame, fps) for frame, fps in CASES]
