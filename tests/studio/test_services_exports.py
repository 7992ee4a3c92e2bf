"""studio/services/exports.py with real takes, real ffmpeg and the real channel layer: an export's
progress is saved and reaches everyone watching the project as "export.changed" events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.utils import timezone

from generation.media import HouseFormat, encode_frames
from studio.models import Export, ExportStatus, Project, Take, TakeStatus
from studio.services import exports
from studio.services.cuts import cut_create, cut_entry_update
from studio.services.exports import export_run
from studio.services.progress import ProgressThrottle
from studio.services.shots import shot_create
from tests.studio.test_events import _private_channel_prefix, listen, received  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.django_db(transaction=True)  # publish after each commit, as in a worker

SMALL = HouseFormat(width=160, height=90, fps=24)


def rendered_take(shot, frames: int) -> Take:
    """A finished take whose video is a real house-format clip in MEDIA_ROOT."""
    name = f"projects/{shot.scene.project_id}/takes/{shot.id}.mp4"
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_frames((np.full((90, 160, 3), 8 * i, dtype=np.uint8) for i in range(frames)), SMALL, path)
    return Take.objects.create(
        shot=shot, number=1, backend="animatic", request={"prompt": shot.prompt}, signature=f"sig-{shot.id}",
        status=TakeStatus.SUCCEEDED, frames=frames, progress=1.0, video=name, finished_at=timezone.now(),
    )


@pytest.fixture
def cut(project, scene, alice, ffmpeg_available):
    Project.objects.filter(pk=project.pk).update(width=SMALL.width, height=SMALL.height, fps=SMALL.fps)
    for prompt in ("The horn sounds.", "Mara looks back.", "The pier recedes."):
        rendered_take(shot_create(scene=scene, actor=alice, prompt=prompt), frames=8)
    cut = cut_create(project=project, actor=alice, name="Assembly")
    entries = list(cut.entries.order_by("order"))
    cut_entry_update(entry=entries[0], actor=alice, in_frame=1, out_frame=7)  # two trims to encode,
    cut_entry_update(entry=entries[2], actor=alice, in_frame=2)  # then the copy: three steps
    return cut


def export_events(project_id: int, fmt: str, cut) -> tuple[Export, list[dict]]:
    channel = listen(project_id)
    export = Export.objects.create(cut=cut, format=fmt)
    export_run(export_id=export.id)
    events = [m["event"] for m in received(channel) if m.get("event", {}).get("type") == "export.changed"]
    export.refresh_from_db()
    return export, [e["export"] for e in events if e["export"]["id"] == export.id]


def test_an_mp4_export_publishes_its_progress_as_it_goes(cut, project):
    export, payloads = export_events(project.id, "mp4", cut)

    assert export.status == ExportStatus.SUCCEEDED, export.error
    running = [p["progress"] for p in payloads if p["status"] == ExportStatus.RUNNING]
    # Claimed at 0, then the first trim (1 of 3 steps, always sent), ..., the copy (always sent).
    assert running[0] == 0.0 and running[1] == round(1 / 3, 4) and running[-1] == 1.0
    assert running == sorted(running)
    assert (payloads[-1]["status"], payloads[-1]["progress"]) == (ExportStatus.SUCCEEDED, 1.0)
    assert export.progress == 1.0


def test_a_timeline_export_publishes_a_step_per_clip(cut, project):
    export, payloads = export_events(project.id, "otio", cut)

    assert export.status == ExportStatus.SUCCEEDED, export.error
    running = [p["progress"] for p in payloads if p["status"] == ExportStatus.RUNNING]
    assert running[0] == 0.0 and running[1] == 0.25 and running[-1] == 1.0  # 3 clips + the file
    assert running == sorted(running)


def test_progress_is_saved_before_it_is_published(cut, project, monkeypatch):
    saved = []
    real_publish = exports._publish

    def publish_and_look(export, **kwargs):
        saved.append((Export.objects.get(pk=export.pk).progress, export.progress))
        real_publish(export, **kwargs)

    monkeypatch.setattr(exports, "_publish", publish_and_look)
    export_events(project.id, "mp4", cut)

    assert saved and all(stored == sent for stored, sent in saved)
    assert round(1 / 3, 4) in [round(stored, 4) for stored, _ in saved]


def test_the_throttle_sends_the_first_and_last_and_one_per_interval():
    now = [0.0]
    throttle = ProgressThrottle(interval_s=0.25, clock=lambda: now[0])
    sent = []
    for step, at in ((1, 0.0), (2, 0.1), (3, 0.2), (4, 0.3), (5, 0.35), (6, 0.36)):
        now[0] = at
        sent.append(throttle.should_send(step, 6))

    assert sent == [True, False, False, True, False, True]
