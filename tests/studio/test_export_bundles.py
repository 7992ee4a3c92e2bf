"""Cut exports an editor can relink: the .otioz bundle and the editorial zip, through the export
service and `manage.py export_cut --format otioz`, read back with OpenTimelineIO's own adapters."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from urllib.parse import unquote

import opentimelineio as otio
import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from studio.celery import app
from studio.models import Export, ExportStatus, Take, TakeStatus
from studio.services.cuts import cut_create, export_request
from studio.services.exports import export_run
from studio.services.reviews import comment_create, review_decide
from studio.services.shots import shot_create


def finished_take(shot, number: int, frames: int) -> Take:
    """A finished take whose video file exists (bundles copy the bytes; nothing decodes them)."""
    name = f"projects/{shot.scene.project_id}/takes/{shot.id}-{number}.mp4"
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f"take {number} of {shot.code}".encode())
    return Take.objects.create(
        shot=shot, number=number, backend="animatic", request={"prompt": shot.prompt, "seed": number, "references": []},
        signature=f"sig-{shot.id}-{number}", status=TakeStatus.SUCCEEDED, frames=frames, progress=1.0, video=name,
        finished_at=timezone.now(),
    )


@pytest.fixture
def reviewed_cut(project, scene, users, alice):
    """Two shots: the first with an approved take 2, an alternate take 1 and two comments on take 2."""
    first = shot_create(scene=scene, actor=alice, prompt="The ferry horn sounds.")
    second = shot_create(scene=scene, actor=alice, prompt="Mara looks back.")
    alternate, chosen = finished_take(first, 1, 24), finished_take(first, 2, 36)
    review_decide(take=chosen, actor=users["carol"], decision="approved")
    review_decide(take=finished_take(second, 1, 24), actor=users["carol"], decision="approved")
    comment_create(take=chosen, author=users["carol"], body="Hold the horn longer.", frame=30)
    comment_create(take=chosen, author=users["bob"], body="A general note: no marker.")
    comment_create(take=alternate, author=users["bob"], body="Not in the cut.", frame=3)
    return {"cut": cut_create(project=project, actor=alice, name="Assembly"), "shots": (first, second),
            "chosen": chosen, "alternate": alternate}


def _export(cut, user, fmt: str) -> Export:
    export = export_request(cut=cut, actor=user, fmt=fmt)
    export_run(export_id=export.id)
    export.refresh_from_db()
    assert export.status == ExportStatus.SUCCEEDED, export.error
    return export


def test_otioz_export_resolves_every_clip_inside_and_carries_markers_alternates_and_manifest(reviewed_cut, alice):
    export = _export(reviewed_cut["cut"], alice, "otioz")

    path = Path(export.file.path)
    timeline = otio.adapters.read_from_file(str(path))
    with zipfile.ZipFile(path) as bundle:
        contents = {name: bundle.read(name) for name in bundle.namelist()}
    clips = list(timeline.find_clips())
    first, second = reviewed_cut["shots"]

    assert path.suffix == ".otioz"
    assert [clip.name for clip in clips] == [f"{first.code}_T2", f"{second.code}_T1"]
    for clip in clips:
        for reference in clip.media_references().values():
            assert not reference.target_url.startswith(("/", "file:"))
            assert unquote(reference.target_url) in contents
    assert contents[unquote(clips[0].media_reference.target_url)] == f"take 2 of {first.code}".encode()
    assert contents[unquote(clips[0].media_references()["take_1"].target_url)] == f"take 1 of {first.code}".encode()
    assert [(m.name, m.marked_range.start_time.value, m.comment) for m in clips[0].markers] == [
        ("carol: Hold the horn longer.", 30, "Hold the horn longer.")]
    manifest = json.loads(contents["provenance.json"])
    assert [e["take_id"] for e in manifest["entries"]] == [reviewed_cut["chosen"].id, clips[1].metadata["continuity"]["take_id"]]


def test_zip_export_has_fcp_xml_with_alternates_and_markers(reviewed_cut, alice):
    export = _export(reviewed_cut["cut"], alice, "zip")

    with zipfile.ZipFile(export.file.path) as bundle:
        names = set(bundle.namelist())
        xml_name = next(name for name in names if name.endswith(".xml"))
        fcp = otio.adapters.read_from_string(bundle.read(xml_name).decode(), "fcp_xml")
    tracks = fcp.video_tracks()
    first = reviewed_cut["shots"][0]

    assert any(name.endswith(".edl") for name in names) and "provenance.json" in names
    assert [clip.name for clip in tracks[1].find_clips()] == [f"{first.code} T1 (alternate)"]
    assert [m.name for m in list(tracks[0].find_clips())[0].markers] == ["carol: Hold the horn longer."]
    assert all(unquote(clip.media_reference.target_url) in names for clip in fcp.find_clips())


@pytest.mark.django_db(transaction=True)  # commits for real: the command waits for the export it queued
def test_export_cut_command_writes_an_otioz(reviewed_cut, project, tmp_path):
    output = tmp_path / "handoff" / "assembly.otioz"
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the export runs here right after commit, as a worker would
    try:
        call_command("export_cut", project=project.slug, cut="Assembly", format="otioz", output=output, timeout=30)
    finally:
        app.conf.task_always_eager = before

    timeline = otio.adapters.read_from_file(str(output))
    with zipfile.ZipFile(output) as bundle:
        names = set(bundle.namelist())
    assert len(list(timeline.find_clips())) == 2
    assert all(unquote(clip.media_reference.target_url) in names for clip in timeline.find_clips())


def test_the_cut_editor_offers_the_bundles_and_queues_them(client, reviewed_cut, project, users, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr("studio.services.dispatch.enqueue_export", queued.append)
    cut = reviewed_cut["cut"]
    client.force_login(users["bob"])

    page = client.get(reverse("cut_editor", args=[project.slug, cut.id])).content.decode()
    response = client.post(reverse("export_new", args=[project.slug, cut.id]), {"format": "otioz", "confirm_draft": "1"})

    assert 'name="format" value="otioz"' in page and 'name="format" value="zip"' in page
    assert response.status_code in (200, 204, 302)
    assert list(Export.objects.values_list("format", flat=True)) == ["otioz"]
