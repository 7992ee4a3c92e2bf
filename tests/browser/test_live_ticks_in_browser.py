"""Progress ticks in Chromium (static/studio/live.js, live-events.js). A tick takes no number of its
own: it carries the number of the last event sent before it (studio/events.py, send_tick). So a
page must not take a tick for the next event, must resync when a tick's number is above its own
(it missed that event), and must never let a tick that arrives after a final state turn the work
back to "running"."""

from __future__ import annotations

import pytest
from django.utils import timezone

from studio import events, selectors
from studio.models import Export, ExportFormat, ExportStatus
from tests.browser.conftest import off_the_event_loop, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]



def _payload(export_id: int) -> dict:
    return selectors.export_payload(Export.objects.select_related("cut").get(pk=export_id))


def _finish(export_id: int) -> None:
    Export.objects.filter(pk=export_id).update(status=ExportStatus.FAILED, progress=0.6, error="ffmpeg failed",
                                               finished_at=timezone.now())
    export = Export.objects.select_related("cut").get(pk=export_id)
    events.send_now(export.cut.project_id, "export.changed", {"export": selectors.export_payload(export)})


def test_a_late_tick_never_undoes_a_final_state_and_a_tick_ahead_of_the_page_resyncs_it(browser_page, demo, owner):
    from playwright.sync_api import expect

    cut = demo.cuts.get(name="Assembly")
    export = Export.objects.create(cut=cut, format=ExportFormat.EDL, status=ExportStatus.RUNNING, requested_by=owner)
    stale_tick = {**_payload(export.id), "progress": 0.5}  # what the worker had sent just before it failed
    editor = browser_page(owner)
    page = editor.open(f"/p/{demo.slug}/cuts/{cut.id}/")
    row = page.locator(f'#cut-exports [data-export-id="{export.id}"]')
    expect(row.locator('[data-field="status"]')).to_have_text("Running")

    off_the_event_loop(_finish, export.id)
    expect(row.locator('[data-field="status"]')).to_have_text("Failed")
    seen = page.evaluate("window.ContinuityLive.state.seq")
    # Every status the row is painted with from now on (a refetch of the row would hide a wrong
    # paint from a plain look at the page a moment later).
    page.evaluate("""() => {
        window.painted = [];
        new MutationObserver(changes => changes.forEach(c => window.painted.push(c.target.dataset.status)))
            .observe(document.getElementById("cut-exports"), { subtree: true, attributeFilter: ["data-status"] });
    }""")
    off_the_event_loop(events.send_tick, demo.id, "export.changed", {"export": stale_tick})
    # A numbered event after it: once it shows, the tick before it has been handled.
    off_the_event_loop(events.send_now, demo.id, "project.updated", {})
    page.wait_for_selector(".toast >> text=The project settings were changed.")
    assert "running" not in page.evaluate("window.painted")
    expect(row.locator('[data-field="status"]')).to_have_text("Failed")
    assert page.evaluate("window.ContinuityLive.state.seq") == seen + 1  # the tick took no number

    # An event this page never gets (numbered, lost on the way), then a tick carrying its number.
    page.evaluate("() => { window.resyncs = 0; document.body.addEventListener('live-resync', () => { window.resyncs += 1; }); }")
    missed = off_the_event_loop(events.next_sequence, demo.id)
    off_the_event_loop(events.send_tick, demo.id, "export.changed", {"export": stale_tick})
    wait_until(page, "() => window.resyncs >= 1")  # the snapshot came: the page refetches what it shows
    assert page.evaluate("window.ContinuityLive.state.seq") == missed
    expect(row.locator('[data-field="status"]')).to_have_text("Failed")


def _ticks_at_once(project_id: int, export_id: int, progresses: tuple[float, ...]) -> None:
    payload = _payload(export_id)
    for progress in progresses:
        events.send_tick(project_id, "export.changed", {"export": {**payload, "progress": progress}})


def test_a_page_asks_for_one_snapshot_however_many_ticks_come_ahead_of_it(browser_page, demo, owner):
    """While the snapshot asked for is on its way, every tick of every take rendering is still
    above the page's number: each must not ask again (each extra snapshot refetches the page)."""
    cut = demo.cuts.get(name="Assembly")
    export = Export.objects.create(cut=cut, format=ExportFormat.EDL, status=ExportStatus.RUNNING, requested_by=owner)
    page = browser_page(owner).open(f"/p/{demo.slug}/cuts/{cut.id}/")
    wait_until(page, "() => window.ContinuityLive.state.seq !== null")
    page.evaluate("""() => {
        window.asked = [];
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (data) { window.asked.push(JSON.parse(data).type); return send.call(this, data); };
    }""")
    missed = off_the_event_loop(events.next_sequence, demo.id)  # an event this page never gets
    off_the_event_loop(_ticks_at_once, demo.id, export.id, (0.2, 0.3, 0.4, 0.5, 0.6))  # four takes' worth, in a burst
    wait_until(page, f"() => window.ContinuityLive.state.seq === {missed}")  # the snapshot came
    off_the_event_loop(events.send_tick, demo.id, "export.changed", {"export": {**_payload(export.id), "progress": 0.7}})
    page.wait_for_timeout(500)
    assert page.evaluate("window.asked.filter(type => type === 'resync').length") == 1
