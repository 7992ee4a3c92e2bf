"""Export progress in Chromium: the cut editor's export row follows an export the worker is writing,
tick by tick, from the live "export.changed" events, and offers the file once it is written, all
without a reload. The test plays the worker's part the way studio/services/exports.py does it:
save the export first, then publish its payload."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from studio import events, selectors
from studio.models import Export, ExportFormat, ExportStatus
from tests.browser.conftest import off_the_event_loop

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]

EDL = b"TITLE: Assembly\nFCM: NON-DROP FRAME\n"



def _save_and_publish(export_id: int, *, progress_only: bool = False, **values) -> None:
    """One step of the worker: the database first, then the event (an update outside a
    transaction commits at once, so the event goes out straight away)."""
    Export.objects.filter(pk=export_id).update(**values)
    export = Export.objects.select_related("cut").get(pk=export_id)
    events.publish(export.cut.project_id, "export.changed", {"export": selectors.export_payload(export)},
                   progress_only=progress_only)


def _write_export_file(export: Export) -> str:
    name = f"projects/{export.cut.project_id}/exports/assembly-{export.id}.edl"
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(EDL)
    return name


def test_export_progress_moves_live_in_the_cut_editor_until_the_file_can_be_downloaded(browser_page, demo, owner):
    from playwright.sync_api import expect

    cut = demo.cuts.get(name="Assembly")
    export = Export.objects.create(cut=cut, format=ExportFormat.EDL, status=ExportStatus.QUEUED, requested_by=owner)
    editor = browser_page(owner)
    page = editor.open(f"/p/{demo.slug}/cuts/{cut.id}/")
    row = page.locator(f'#cut-exports [data-export-id="{export.id}"]')
    meter = row.get_by_role("progressbar", name=f"EDL export {export.id} progress")
    expect(meter).to_have_attribute("aria-valuenow", "0")
    # A marker on this document: it is gone if anything reloads the page.
    page.evaluate("() => { window.sameDocument = true; }")

    # The worker claims the export, then reports progress as ffmpeg writes it.
    off_the_event_loop(_save_and_publish, export.id, status=ExportStatus.RUNNING)
    expect(row.locator('[data-field="status"]')).to_have_text("Running")
    for progress, shown in ((0.4, "40"), (0.8, "80")):
        off_the_event_loop(_save_and_publish, export.id, progress=progress, progress_only=True)
        expect(meter).to_have_attribute("aria-valuenow", shown)
        expect(row.locator('[data-field="percent"]')).to_have_text(f"{shown}%")
        assert row.locator(".bar").evaluate("bar => bar.style.width") == f"{shown}%"

    # Done: the row says so and offers the file.
    name = _write_export_file(export)
    off_the_event_loop(_save_and_publish, export.id, status=ExportStatus.SUCCEEDED, progress=1.0, file=name,
                       finished_at=timezone.now())
    expect(row.locator('[data-field="status"]')).to_have_text("Succeeded")
    expect(row.locator('[data-field="percent"]')).to_have_text("100%")
    download_link = row.get_by_role("link", name="Download")
    expect(download_link).to_be_visible()
    assert page.evaluate("() => window.sameDocument === true"), "the page reloaded"
    with page.expect_download() as download:
        download_link.click()
    assert download.value.suggested_filename == f"assembly-{export.id}.edl"
    assert Path(download.value.path()).read_bytes() == EDL
