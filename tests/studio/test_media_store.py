"""studio/media_store.py against a real S3-compatible server (moto's): stored names to local files
and back, references cached by content hash and checked, the media view's signed-URL redirect,
and a render whose reference vanished from the bucket failing with a clear reason."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.urls import reverse

from studio import media_store
from studio.models import Project, Take, TakeStatus
from studio.services.cast import reference_image_add
from studio.services.render_requests import render_request_for
from studio.services.renders import run_take
from tests.conftest import ROOT, png_bytes
from tests.s3_server import BUCKET, s3_server, stored_keys, use_s3  # noqa: F401  (s3_server: a fixture)
from tests.studio.views_helpers import client_for

pytestmark = [pytest.mark.services, pytest.mark.django_db]


@pytest.fixture
def on_s3(s3_server, settings, tmp_path):
    use_s3(settings, s3_server["endpoint"], tmp_path)
    return s3_server


def test_an_upload_goes_to_the_bucket_and_comes_back_into_the_cache(on_s3, tmp_path, settings):
    made = tmp_path / "made.mp4"
    made.write_bytes(b"take bytes" * 100)
    name = media_store.upload(made, "projects/1/takes/9/take-001-9.mp4")

    assert name in stored_keys(on_s3["client"])
    settings.CONTINUITY_MEDIA_CACHE = tmp_path / "another-machine"  # a worker that has never seen it
    local = media_store.local_file(name)
    assert local.read_bytes() == made.read_bytes() and local.is_relative_to(tmp_path / "another-machine")
    with pytest.raises(media_store.MediaMissing):
        media_store.local_file("projects/1/takes/9/nothing.mp4")
    with pytest.raises(media_store.MediaMissing):
        media_store.work_path("projects/../../etc/passwd")
    assert not any(Path(settings.MEDIA_ROOT).rglob("*.mp4"))  # MEDIA_ROOT is not where media live now


def test_a_reference_is_fetched_once_by_its_hash_and_checked(on_s3, project, alice, cast):
    image = reference_image_add(member=cast["mara"], actor=alice, data=png_bytes(color=(1, 2, 3)))
    assert image.image.name in stored_keys(on_s3["client"])
    assert media_store.request_hint(image.image) == image.image.name  # what a render request records

    first = media_store.local_reference(image.image.name, image.sha256)
    on_s3["client"].delete_object(Bucket=BUCKET, Key=image.image.name)  # gone from the store...
    again = media_store.local_reference(image.image.name, image.sha256)  # ...but this machine has it
    assert first == again and first.name.startswith(image.sha256)

    other = cast["deck"].images.get()
    with pytest.raises(media_store.MediaMissing, match="sha256 differs"):
        media_store.local_reference(other.image.name, "0" * 64)  # bytes that are not the recorded ones
    assert not list(media_store.cache_root().joinpath("refs", "00").glob("*"))  # nothing half-kept


def test_the_media_view_redirects_members_to_a_signed_url_with_ranges(on_s3, project, alice, cast, users):
    image = cast["mara"].images.get()
    url = reverse("project_media", args=[project.slug, image.image.name])

    response = client_for(users["dave"]).get(url)  # a viewer may see the project's media
    assert response.status_code == 302 and "X-Amz-Signature=" in response["Location"]
    assert response["Cache-Control"] == "private, no-store"
    body = urllib.request.urlopen(response["Location"], timeout=30).read()
    assert body == image.image.open("rb").read()
    ranged = urllib.request.urlopen(urllib.request.Request(response["Location"], headers={"Range": "bytes=0-9"}), timeout=30)
    assert ranged.status == 206 and ranged.read() == body[:10]

    assert client_for(users["eve"]).get(url).status_code == 404  # outsiders learn nothing
    missing = reverse("project_media", args=[project.slug, f"projects/{project.id}/takes/none.mp4"])
    assert client_for(alice).get(missing).status_code == 404
    foreign = reverse("project_media", args=[project.slug, f"projects/{project.id + 1}/cast/x.png"])
    assert client_for(alice).get(foreign).status_code == 404


def test_a_render_whose_reference_left_the_bucket_fails_and_says_which(on_s3, project, shot, cast, ffmpeg_available):
    Project.objects.filter(pk=project.pk).update(width=160, height=90, fps=12)
    shot.refresh_from_db()
    gone = cast["mara"].images.get()
    take = Take.objects.create(shot=shot, number=1, backend="animatic", request=render_request_for(shot).to_dict(),
                               signature="sig-s3", status=TakeStatus.QUEUED)
    on_s3["client"].delete_object(Bucket=BUCKET, Key=gone.image.name)

    run_take(take.id)

    take.refresh_from_db()
    assert take.status == TakeStatus.FAILED and gone.image.name in take.error and "missing" in take.error
    assert not take.video


def test_a_render_on_s3_uploads_its_files_under_the_takes_names(on_s3, project, shot, ffmpeg_available, settings):
    Project.objects.filter(pk=project.pk).update(width=160, height=90, fps=12)
    shot.refresh_from_db()
    take = Take.objects.create(shot=shot, number=1, backend="animatic", request=render_request_for(shot).to_dict(),
                               signature="sig-s3", status=TakeStatus.QUEUED)

    run_take(take.id)

    take.refresh_from_db()
    assert take.status == TakeStatus.SUCCEEDED, take.error
    assert {take.video.name, take.poster.name, take.last_frame.name} <= stored_keys(on_s3["client"])
    assert not any(Path(settings.MEDIA_ROOT).rglob("*"))  # written in the cache, handed to the bucket


@pytest.mark.parametrize(("extra", "message"), [
    ({"CONTINUITY_MEDIA_STORAGE": "ftp"}, "CONTINUITY_MEDIA_STORAGE must be 'local' or 's3'"),
    ({"CONTINUITY_MEDIA_STORAGE": "s3"}, "CONTINUITY_MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME"),
])
def test_a_wrong_media_storage_setting_stops_the_start_with_a_plain_reason(tmp_path, settings, extra, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "DEBUG": "1", "CONTINUITY_VAR_DIR": str(tmp_path), "REDIS_URL": settings.REDIS_URL, **extra}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and message in result.stderr
