"""A cut that warns before it lies: an export of a cut with an unapproved shot and a shot never
rendered asks first, is named "(draft)", lists those shots in its manifest, and plays a slate with
the shot's description where the render is missing (checked by decoding the exported video)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from generation.media import HouseFormat, encode_frames
from generation.slates import SLATE_BACKGROUND, SLATE_STRIPE
from studio.models import Export, ExportStatus, Take, TakeStatus
from studio.services.cuts import DraftNotConfirmed, cut_create, export_request
from studio.services.exports import export_run
from studio.services.reviews import review_decide
from studio.services.shots import shot_create
from tests.studio.views_helpers import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.services]

W, H, FPS = 192, 108, 24
GREEN, BLUE = (30, 200, 60), (40, 60, 220)


def encoded_take(shot, colour, frames: int) -> Take:
    name = f"projects/{shot.scene.project_id}/takes/{shot.id}/take1.mp4"
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = np.full((H, W, 3), colour, dtype=np.uint8)
    encode_frames((frame for _ in range(frames)), HouseFormat(W, H, FPS), path, expected_frames=frames)
    return Take.objects.create(shot=shot, number=1, backend="animatic", request={"prompt": shot.prompt, "seed": shot.seed, "references": []},
                               signature=f"sig-{shot.id}", status=TakeStatus.SUCCEEDED, progress=1.0, frames=frames,
                               duration_s=frames / FPS, video=name, finished_at=timezone.now())


@pytest.fixture
def draft_cut(project, scene, alice, users, ffmpeg_available):
    project.width, project.height, project.fps = W, H, FPS
    project.save()
    approved = shot_create(scene=scene, actor=alice, prompt="The ferry horn sounds.", code="1A", duration_s=0.5)
    unapproved = shot_create(scene=scene, actor=alice, prompt="Mara looks back.", code="2A", duration_s=0.5)
    missing = shot_create(scene=scene, actor=alice, prompt="The lamp room goes dark over the bay.", code="3A", duration_s=0.5)
    review_decide(take=encoded_take(approved, GREEN, 12), actor=users["carol"], decision="approved")
    encoded_take(unapproved, BLUE, 12)
    return cut_create(project=project, actor=alice, name="Assembly")


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def near(pixel, colour, tolerance: int = 24) -> bool:
    return all(abs(int(a) - int(b)) <= tolerance for a, b in zip(pixel, colour))


def test_exporting_asks_first_and_names_the_shots_that_are_not_final(draft_cut, alice):
    with pytest.raises(DraftNotConfirmed) as refused:
        export_request(cut=draft_cut, actor=alice, fmt="mp4", require_draft_confirmation=True)
    assert refused.value.report.unapproved == ["2A"] and refused.value.report.missing == ["3A"]
    assert not Export.objects.exists()  # nothing queued until someone says "export anyway"
    response = client_for(alice).post(reverse("export_new", args=[draft_cut.project.slug, draft_cut.id]), {"format": "mp4"},
                                      HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'data-draft="unapproved">2A<' in html and 'data-draft="missing">3A<' in html and 'name="confirm_draft"' in html
    assert not Export.objects.exists()


def test_a_missing_render_is_a_slate_in_the_exported_video_not_a_gap(draft_cut, alice):
    export = export_request(cut=draft_cut, actor=alice, fmt="mp4")
    export_run(export_id=export.id)
    export.refresh_from_db()
    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert export.file.name.endswith("(draft).mp4")
    assert "Draft: 3A is not rendered yet; a slate stands in" in export.warnings
    frames = decoded_frames(Path(export.file.path))
    assert len(frames) == 36  # 12 + 12 + the slate's 12 (0.5 s at 24 fps)
    centre = (H // 2, W // 2)
    assert near(frames[5][centre], GREEN) and near(frames[17][centre], BLUE)
    for slate in (frames[24], frames[35]):
        red, green, blue = (int(c) for c in slate[2, W // 2])
        assert red - max(green, blue) > 60, SLATE_STRIPE  # the red band across the top: not rendered
        assert near(slate[H - 3, 3], SLATE_BACKGROUND)
        # the description is written on it: bright text pixels on the dark card
        assert (slate[H // 3:, :, :].min(axis=2) > 200).sum() > 20


def test_the_manifest_lists_the_unapproved_and_the_slated_shots(draft_cut, alice):
    export = export_request(cut=draft_cut, actor=alice, fmt="manifest")
    export_run(export_id=export.id)
    export.refresh_from_db()
    manifest = json.loads(Path(export.file.path).read_text())
    assert manifest["draft"] is True
    assert manifest["not_final"] == {"unapproved": ["2A"], "stale": [], "failed": [], "missing": ["3A"]}
    slate = next(e for e in manifest["entries"] if e["shot_code"] == "3A")
    assert slate["slate"] is True and slate["take_id"] is None and slate["prompt"] == "The lamp room goes dark over the bay."


def test_the_cut_editor_and_the_guest_player_mark_what_is_not_approved(draft_cut, alice):
    from studio.services.sharing import review_link_create

    editor = client_for(alice).get(reverse("cut_editor", args=[draft_cut.project.slug, draft_cut.id])).content.decode()
    assert editor.count("data-unapproved") == 1 and "No finished take" in editor
    link, token = review_link_create(project=draft_cut.project, actor=alice, cut=draft_cut)
    unapproved = Take.objects.get(shot__code="2A")
    guest = client_for(None).get(reverse("guest_review", args=[token]) + f"?take={unapproved.id}").content.decode()
    assert "data-unapproved-playing" in guest
    approved = Take.objects.get(shot__code="1A")
    guest = client_for(None).get(reverse("guest_review", args=[token]) + f"?take={approved.id}").content.decode()
    assert "data-unapproved-playing" not in guest
