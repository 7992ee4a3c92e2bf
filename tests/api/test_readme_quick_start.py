"""The README's API quick start, run as written: its shell script, against daphne serving the
studio and a real Celery worker rendering and exporting, with a token made for alice."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import unquote

import opentimelineio as otio
import pytest
from django.conf import settings

from generation import media
from studio.models import AuditEvent, Export, ExportFormat, ExportStatus, Project, Shot, Take, TakeStatus
from studio.services.api_tokens import api_token_create
from tests.conftest import ROOT, database_url_for_workers, free_port, png_bytes, require, worker_goes_idle

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FOUNTAIN = """Title: Quick start

EXT. LIGHTHOUSE CLIFF - DUSK

ELSE climbs the path to the tower with a lantern.

ELSE
Forty years.

INT. LIGHTHOUSE - LAMP ROOM - NIGHT

The great lens turns; ELSE polishes the rail.
"""


def readme_script() -> str:
    """The first ```sh block of the README's "API quick start" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## API quick start", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the README's API quick start has no ```sh block"
    return match[1]


@pytest.fixture
def live_studio(celery_worker_process, worker_media, settings, tmp_path):
    """daphne on a free port, sending renders and exports to the session's worker, sharing its media."""
    suffix = celery_worker_process["queue_suffix"]
    settings.MEDIA_ROOT = worker_media
    port, log = free_port(), tmp_path / "daphne.log"
    env = {**os.environ, "DATABASE_URL": database_url_for_workers(), "REDIS_URL": settings.REDIS_URL,
           "MEDIA_ROOT": str(worker_media), "CONTINUITY_RENDER_QUEUE": f"gpu{suffix}",
           "CONTINUITY_DEFAULT_QUEUE": f"default{suffix}", "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "studio.asgi:application"],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_for(url + "/api/v1/schema/", server, log)
    yield {"url": url, "log": log}
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
    worker_goes_idle(celery_worker_process)
    print("--- daphne ---\n" + log.read_text(errors="replace")[-3000:])
    print("--- worker ---\n" + celery_worker_process["log"].read_text(errors="replace")[-3000:])


def _wait_for(url: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"daphne exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"daphne did not answer:\n{log.read_text()[-3000:]}")


def test_the_readme_script_goes_from_nothing_to_a_downloaded_cut(live_studio, users, tmp_path, ffmpeg_available):
    require(shutil.which("curl") is not None and shutil.which("jq") is not None and shutil.which("bash") is not None,
            "bash, curl and jq")
    alice = users["alice"]
    _, token = api_token_create(user=alice, name="quick start", scopes=["read", "write", "render"])
    (tmp_path / "else.png").write_bytes(png_bytes(size=(96, 128), color=(230, 200, 40)))
    (tmp_path / "quick.fountain").write_text(FOUNTAIN)
    env = {**os.environ, "CONTINUITY_URL": live_studio["url"], "CONTINUITY_TOKEN": token,
           "IMAGE": str(tmp_path / "else.png"), "SCRIPT": str(tmp_path / "quick.fountain")}
    result = subprocess.run(["bash", "-c", readme_script()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"

    project = Project.objects.get(name="Quick start")
    shots = Shot.objects.filter(scene__project=project)
    assert shots.count() == 2 and all(shot.approved_take_id for shot in shots)
    assert Take.objects.filter(shot__scene__project=project, status=TakeStatus.SUCCEEDED).count() == 2
    export = Export.objects.get(cut__project=project, format=ExportFormat.MP4)
    assert export.status == ExportStatus.SUCCEEDED and export.requested_by == alice
    downloaded = tmp_path / "assembly.mp4"
    assert downloaded.read_bytes() == (Path(settings.MEDIA_ROOT) / export.file.name).read_bytes()
    probe = media.probe(downloaded)
    expected_frames = sum(take.frames for take in Take.objects.filter(shot__scene__project=project, status=TakeStatus.SUCCEEDED))
    assert probe.frame_count == expected_frames and (probe.width, probe.height) == (320, 180)
    assert AuditEvent.objects.filter(project=project, actor=alice, verb="approved").count() == 2
    _assert_the_bundle_relinks(tmp_path / "assembly.otioz", project)


def _assert_the_bundle_relinks(bundle: Path, project) -> None:
    """The editor's bundle opens with OpenTimelineIO's own adapter and every clip's media is a
    relative path to a file inside it, the take it names."""
    bundle_export = Export.objects.get(cut__project=project, format=ExportFormat.OTIOZ)
    assert bundle.read_bytes() == (Path(settings.MEDIA_ROOT) / bundle_export.file.name).read_bytes()
    timeline = otio.adapters.read_from_file(str(bundle))
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
    clips = list(timeline.find_clips())
    assert len(clips) == 2
    for clip in clips:
        url = unquote(clip.media_reference.target_url)
        assert not url.startswith(("/", "file:")) and url in names
