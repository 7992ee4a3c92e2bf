"""Media on S3-compatible object storage (studio/media_store.py, CONTINUITY_MEDIA_STORAGE=s3):
a real S3 server (moto's, started here on a free port), a real Celery worker process whose
MEDIA_ROOT is not the web's and which shares no folder with it, the demo cut rendered and
exported, and the browser's way to the files (a signed URL of the store, with Range)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from generation.media import decode_frame_count
from studio.models import Export, ExportStatus, Project, ReferenceImage, Shot, Take, TakeStatus
from studio.services.cuts import cut_render, export_request
from studio.services.demo import demo_project_ensure
from tests.conftest import ROOT, _redis_answers, _wait_until_ready, database_url_for_workers, require
from tests.s3_server import s3_server, stored_keys, use_s3, worker_env  # noqa: F401  (s3_server: a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]

RENDER_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def s3_worker(s3_server, django_db_setup, django_db_blocker, tmp_path_factory):
    """A Celery worker on its own queues, with media on the S3 server, its own MEDIA_ROOT and cache."""
    require(_redis_answers(), "Redis")
    with django_db_blocker.unblock():
        database_url = database_url_for_workers()
    suffix = f"s3{os.getpid()}"
    folder = tmp_path_factory.mktemp("s3-worker")
    log_path = folder / "worker.log"
    env = {**os.environ, **worker_env(s3_server["endpoint"]),
           "DATABASE_URL": database_url, "MEDIA_ROOT": str(folder / "media"), "CONTINUITY_MEDIA_CACHE": str(folder / "cache"),
           "CONTINUITY_IDENTITY_SCORING": "0", "CONTINUITY_MODELS_DIR": str(folder / "models"), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "celery", "-A", "studio", "worker", "-Q", f"gpu{suffix},default{suffix}",
               "--concurrency", "1", "--prefetch-multiplier", "1", "-n", f"{suffix}@%h", "--loglevel", "INFO",
               "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    _wait_until_ready(process, log_path)
    yield {"suffix": suffix, "log": log_path, "media": folder / "media", "cache": folder / "cache"}
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def web_on_s3(s3_server, s3_worker, settings, tmp_path):
    """This process as the web: media on the same S3 server, its own (different) MEDIA_ROOT, tasks
    sent to the S3 worker's queues."""
    settings.CONTINUITY_IDENTITY_SCORING = False
    settings.CONTINUITY_RENDER_QUEUE = f"gpu{s3_worker['suffix']}"
    settings.CELERY_TASK_DEFAULT_QUEUE = f"default{s3_worker['suffix']}"
    use_s3(settings, s3_server["endpoint"], tmp_path)
    yield s3_server
    print(s3_worker["log"].read_text(errors="replace")[-4000:])  # shown when the test failed


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_the_demo_cut_renders_and_exports_with_media_on_s3(web_on_s3, s3_worker, settings, ffmpeg_available):
    client = web_on_s3["client"]
    project, _ = demo_project_ensure()
    Project.objects.filter(pk=project.pk).update(width=160, height=90, fps=12)  # small frames: the same path, less CPU
    Shot.objects.filter(scene__project=project).update(duration_s=1)
    project.refresh_from_db()
    cut = project.cuts.get()
    owner = project.memberships.get(role="owner").user
    references = set(ReferenceImage.objects.filter(cast_member__project=project).values_list("image", flat=True))
    assert references and references <= stored_keys(client)  # uploads went to the bucket

    results = cut_render(cut=cut, actor=owner)
    take_ids = [r.take.id for r in results]
    wait_for(lambda: not Take.objects.filter(pk__in=take_ids, status__in=[TakeStatus.QUEUED, TakeStatus.RUNNING]).exists(),
             RENDER_TIMEOUT_S, "the demo's takes")
    takes = list(Take.objects.filter(pk__in=take_ids).order_by("id"))
    assert {t.status for t in takes} == {TakeStatus.SUCCEEDED}, [t.error for t in takes]
    keys = stored_keys(client)
    assert all({t.video.name, t.poster.name, t.last_frame.name} <= keys for t in takes)

    export = export_request(cut=cut, actor=owner, fmt="mp4")
    wait_for(lambda: Export.objects.filter(pk=export.pk, status__in=[ExportStatus.SUCCEEDED, ExportStatus.FAILED]).exists(),
             RENDER_TIMEOUT_S, "the export")
    export.refresh_from_db()
    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert export.file.name in stored_keys(client)

    # Nothing went through a shared folder: the web's MEDIA_ROOT and the worker's are empty of media.
    assert files_under(Path(settings.MEDIA_ROOT)) == [] and files_under(s3_worker["media"]) == []
    # Each distinct reference image was fetched once by the worker, into its cache by content hash.
    used = {sha for t in takes for ref in t.request["references"] for sha in ref["image_sha256s"]}
    fetched = s3_worker["log"].read_text(errors="replace").count("media_store: fetched reference")
    assert fetched == len(used) < sum(len(ref["image_sha256s"]) for t in takes for ref in t.request["references"])
    assert {p.stem for p in files_under(s3_worker["cache"] / "refs")} == used

    # The browser asks the studio, which checks access and redirects to a signed URL of the store.
    browser = Client()
    browser.force_login(owner)
    response = browser.get(reverse("project_media", args=[project.slug, export.file.name]))
    assert response.status_code == 302 and "X-Amz-Signature=" in response["Location"], response
    body = urllib.request.urlopen(response["Location"], timeout=30).read()
    local = Path(settings.CONTINUITY_MEDIA_CACHE) / "check.mp4"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(body)
    assert decode_frame_count(local) == sum(t.frames for t in takes)
    ranged = urllib.request.urlopen(urllib.request.Request(response["Location"], headers={"Range": "bytes=100-199"}), timeout=30)
    assert ranged.status == 206 and ranged.read() == body[100:200]

    outsider = Client()
    outsider.force_login(get_user_model().objects.create_user("outsider"))
    assert outsider.get(reverse("project_media", args=[project.slug, export.file.name])).status_code == 404
