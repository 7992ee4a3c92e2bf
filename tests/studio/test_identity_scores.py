"""Identity scores in the studio (studio/services/identity.py and where they are shown), with real
faces and the real models: dlib face encodings for characters, SIFT+RANSAC for places.

The faces are the public-domain photographs the engine's tests use: Grace Hopper (matplotlib's
sample data) and Eileen Collins (scikit-image's `astronaut`). A take is built as a render would
leave it (requested, claimed, its MP4 encoded by ffmpeg from frames composed of the photographs,
recorded by `take_succeed`), so the scoring runs exactly as after a real render: dispatched by
name after commit (eagerly, in this process) and reading the video and the references the take's
request lists.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from matplotlib import cbook
from PIL import Image, ImageEnhance, ImageOps
from skimage import data as skimage_data

from generation.media import HouseFormat, encode_frames
from studio.celery import app
from studio.models import CastKind, IdentityScore, IdentityStatus, RightsStatus, Take, TakeStatus
from studio.services import identity as identity_services
from studio.services.cast import cast_member_create, reference_image_add
from studio.services.cuts import cut_create
from studio.services.exports import cut_plan
from studio.services.projects import project_create
from studio.services.render_requests import take_request
from studio.services.renders import media_paths, take_claim, take_succeed
from studio.services.reviews import review_decide
from studio.services.shots import scene_create, shot_create
from tests.studio.views_helpers import client_for

pytestmark = pytest.mark.django_db

WIDTH, HEIGHT, FPS, FRAMES = 1280, 720, 12, 12


# --------------------------------------------------------------------------------------------
# Photographs, a cast made of them, and takes composed from them
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def rocket() -> np.ndarray:
    return skimage_data.rocket()


def restyled(photo: np.ndarray) -> np.ndarray:
    """What a render might make of a reference: mirrored, scaled to 70 %, brightened 1.3x."""
    image = ImageOps.mirror(Image.fromarray(photo))
    image = image.resize((int(image.width * 0.7), int(image.height * 0.7)), Image.Resampling.LANCZOS)
    return np.asarray(ImageEnhance.Brightness(image).enhance(1.3))


def frame_with(*placed: tuple[np.ndarray, int, int], background: np.ndarray | None = None) -> np.ndarray:
    if background is None:
        canvas = Image.new("RGB", (WIDTH, HEIGHT), (70, 72, 80))
    else:
        canvas = ImageOps.fit(Image.fromarray(background), (WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    for picture, x, y in placed:
        canvas.paste(Image.fromarray(picture), (x, y))
    return np.asarray(canvas)


def png(photo: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(photo).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def always_eager():
    """Tasks sent by name run here and now (services/dispatch.py), as on a worker."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def studio(alice, hopper, rocket, ffmpeg_available):
    """A 720p project with GRACE (Grace Hopper's photograph) and a launch pad (a rocket photograph)."""
    project = project_create(owner=alice, name="Faces", fps=FPS, width=WIDTH, height=HEIGHT)
    grace = cast_member_create(project=project, actor=alice, name="Grace", rights_status=RightsStatus.OWNED)
    reference_image_add(member=grace, actor=alice, data=png(hopper))
    pad = cast_member_create(project=project, actor=alice, name="Launch pad", kind=CastKind.LOCATION, handle="pad",
                             rights_status=RightsStatus.OWNED)
    reference_image_add(member=pad, actor=alice, data=png(rocket))
    scene = scene_create(project=project, actor=alice, heading="EXT. LAUNCH PAD - DAY")
    return {"project": project, "grace": grace, "pad": pad, "scene": scene}


def rendered_take(studio, alice, frames: list[np.ndarray], *, prompt: str = "@grace looks up at @pad",
                  capture=None) -> Take:
    """A take of a new shot, recorded as a worker records a render (see `record_render`)."""
    shot = shot_create(scene=studio["scene"], actor=alice, prompt=prompt, duration_s=1)
    return record_render(take_request(shot=shot, actor=alice).take, frames, capture=capture)


def record_render(queued: Take, frames: list[np.ndarray], *, capture=None) -> Take:
    """Claim a queued take, write its MP4 from `frames` through ffmpeg, then `take_succeed` (whose
    after-commit scoring runs when `capture`, django_capture_on_commit_callbacks, executes it)."""
    take = take_claim(take_id=queued.id, worker="test", max_attempts=3)
    names = media_paths(take)
    video = Path(django_settings.MEDIA_ROOT) / names["video"]
    video.parent.mkdir(parents=True, exist_ok=True)
    encode_frames((frames[i * len(frames) // FRAMES] for i in range(FRAMES)), HouseFormat(WIDTH, HEIGHT, FPS), video)
    record = dict(take=take, video=names["video"], poster="", last_frame="", frames=FRAMES, duration_s=FRAMES / FPS,
                  compute_seconds=0.1, provenance={"model": "test"})
    if capture is None:
        assert take_succeed(**record)
    else:
        with capture(execute=True):
            assert take_succeed(**record)
    return take


def scores_by_handle(take: Take) -> dict[str, IdentityScore]:
    return {s.cast_member.handle: s for s in IdentityScore.objects.filter(take=take).select_related("cast_member")}


# --------------------------------------------------------------------------------------------
# Scoring and storing
# --------------------------------------------------------------------------------------------

def test_a_finished_take_is_scored_on_the_identity_queue_after_commit(studio, alice, hopper, rocket, always_eager,
                                                                      django_capture_on_commit_callbacks):
    face = restyled(hopper)
    frames = [frame_with((face, 100, 80), background=rocket), frame_with((face, 700, 200), background=rocket)]

    take = rendered_take(studio, alice, frames, capture=django_capture_on_commit_callbacks)

    scores = scores_by_handle(take)
    grace, pad = scores["grace"], scores["pad"]
    assert grace.status == IdentityStatus.MATCH and grace.score <= grace.threshold == 0.6
    assert grace.verdict == "matches Grace's references"
    assert (grace.frames_sampled, grace.frames_scored, grace.references_used) == (5, 5, 1)
    assert grace.model.startswith("dlib_face_recognition_resnet_model_v1") and "dlib" in grace.model_version
    assert grace.worst_frame_index is not None and grace.worst_frame_time_s == pytest.approx(grace.worst_frame_index / FPS)
    assert pad.status == IdentityStatus.MATCH and pad.score >= pad.threshold and "SIFT" in pad.method
    take.refresh_from_db()
    assert take.status == TakeStatus.SUCCEEDED  # scoring never touches the take


def test_a_take_whose_face_is_swapped_for_another_persons_is_stored_as_drift(studio, alice, astronaut):
    take = rendered_take(studio, alice, [frame_with((restyled(astronaut), 200, 100)), frame_with((astronaut, 600, 100))],
                         prompt="@grace looks up")

    identity_services.take_score_identity(take.id)

    (grace,) = IdentityScore.objects.filter(take=take)
    assert grace.status == IdentityStatus.DRIFT
    assert grace.score > grace.threshold
    assert grace.verdict == f"drifted: {grace.score:.2f} vs threshold 0.6"
    assert grace.is_warning


def test_a_place_without_a_face_is_no_face_for_the_character_and_a_feature_match_for_the_place(studio, alice, rocket):
    take = rendered_take(studio, alice, [frame_with(background=rocket)])

    identity_services.take_score_identity(take.id)

    scores = scores_by_handle(take)
    grace, pad = scores["grace"], scores["pad"]
    assert grace.status == IdentityStatus.NO_FACE
    assert grace.score is None and grace.frames_scored == 0  # a result, never a zero
    assert grace.verdict == "no face found in 5 sampled frames"
    assert pad.status == IdentityStatus.MATCH and pad.score >= 12


def test_scoring_is_deterministic_and_replaces_the_takes_earlier_scores(studio, alice, hopper, astronaut):
    frames = [frame_with((restyled(hopper), 100, 80)), frame_with((astronaut, 500, 100)), frame_with((hopper, 300, 60))]
    take = rendered_take(studio, alice, frames, prompt="@grace turns")

    first = [(s.status, s.score, s.best_frame_index, s.worst_frame_index) for s in identity_services.take_score_identity(take.id)]
    again = [(s.status, s.score, s.best_frame_index, s.worst_frame_index) for s in identity_services.take_score_identity(take.id)]

    assert first == again and len(first) == 1
    assert IdentityScore.objects.filter(take=take).count() == 1


def test_the_take_is_scored_against_exactly_the_references_it_was_rendered_with(studio, alice, hopper, astronaut):
    take = rendered_take(studio, alice, [frame_with((restyled(hopper), 300, 100))], prompt="@grace waits")
    # After the render, Grace's reference is replaced by another person's photograph: the take
    # still answers to the image it was rendered with (by path and sha256), not to today's cast.
    studio["grace"].images.all().delete()
    reference_image_add(member=studio["grace"], actor=alice, data=png(astronaut))

    (grace,) = identity_services.take_score_identity(take.id)

    assert grace.status == IdentityStatus.MATCH


def test_a_reference_file_whose_bytes_changed_is_not_scored_against(studio, alice, hopper, astronaut):
    take = rendered_take(studio, alice, [frame_with((restyled(hopper), 300, 100))], prompt="@grace waits")
    (reference,) = take.request["references"][:1]
    Path(reference["image_paths"][0]).write_bytes(png(astronaut))  # same name, other bytes

    (grace,) = identity_services.take_score_identity(take.id)

    assert grace.status == IdentityStatus.NO_REFERENCE and grace.score is None
    assert grace.verdict == "no reference image of Grace shows a face"


def test_a_missing_video_is_reported_without_touching_the_take_or_raising(studio, alice, hopper, settings, monkeypatch):
    take = rendered_take(studio, alice, [frame_with((restyled(hopper), 300, 100))], prompt="@grace waits")
    identity_services.take_score_identity(take.id)
    (Path(settings.MEDIA_ROOT) / take.video.name).unlink()
    published = []
    monkeypatch.setattr(identity_services.events, "publish", lambda project_id, kind, payload, **kw: published.append((kind, payload)))

    assert identity_services.take_score_identity(take.id) == []

    take.refresh_from_db()
    assert take.status == TakeStatus.SUCCEEDED
    assert published and published[0][0] == "take.identity" and "missing" in published[0][1]["error"]
    assert IdentityScore.objects.filter(take=take).count() == 1  # the earlier scores stay


def test_identity_scoring_can_be_turned_off(studio, alice, hopper, settings, always_eager, django_capture_on_commit_callbacks):
    settings.CONTINUITY_IDENTITY_SCORING = False
    take = rendered_take(studio, alice, [frame_with((restyled(hopper), 300, 100))], prompt="@grace waits",
                         capture=django_capture_on_commit_callbacks)
    assert not IdentityScore.objects.filter(take=take).exists()


# --------------------------------------------------------------------------------------------
# Shown where people decide: review room, board, take stack, manifest
# --------------------------------------------------------------------------------------------

@pytest.fixture
def scored(studio, alice, hopper, astronaut):
    """Two shots: 1A approved with a take that keeps Grace's face, then a second take where her
    face was swapped for another person's; 2A's only take shows the other person."""
    match = rendered_take(studio, alice, [frame_with((restyled(hopper), 300, 100))], prompt="@grace waits")
    review_decide(take=match, actor=alice, decision="approved")
    swapped = [frame_with((restyled(hopper), 300, 100)), frame_with((astronaut, 500, 100)), frame_with((astronaut, 200, 60))]
    later = record_render(take_request(shot=match.shot, actor=alice, prompt="@grace waits, then turns").take, swapped)
    drift = rendered_take(studio, alice, [frame_with((astronaut, 400, 100))], prompt="@grace leaves")
    for take in (match, later, drift):
        identity_services.take_score_identity(take.id)
    return {"match": match, "later": later, "drift": drift}


def test_the_review_room_gives_each_cast_members_verdict_and_worst_frame(scored, studio, alice):
    take = scored["later"]
    url = reverse("review", args=[studio["project"].slug, take.shot_id]) + f"?take={take.id}"

    response = client_for(alice).get(url)

    assert response.status_code == 200
    (grace,) = response.context["identity_scores"]
    stored = IdentityScore.objects.get(take=take)
    assert grace["handle"] == "grace" and grace["status"] == stored.status == IdentityStatus.DRIFT
    assert grace["verdict"] == f"drifted: {stored.score:.2f} vs threshold 0.6"
    # The worst frame is one that shows the other person (sampled from the second or third third).
    assert grace["worst_frame_index"] >= FRAMES // 3 and grace["worst_frame_time_s"] == pytest.approx(grace["worst_frame_index"] / FPS)
    # The data the page's script reads, and the player's jump to that frame.
    html = response.content.decode()
    assert json.loads(html.split('<script id="identity-scores" type="application/json">')[1].split("</script>")[0]) == [grace]
    assert f'data-seek="{grace["worst_frame_index"]}"' in html


def test_the_review_room_says_when_a_take_is_not_scored_yet(studio, alice, hopper):
    take = rendered_take(studio, alice, [frame_with((restyled(hopper), 300, 100))], prompt="@grace waits")

    response = client_for(alice).get(reverse("review", args=[studio["project"].slug, take.shot_id]))

    assert response.context["identity_scores"] == []
    assert "Not scored yet" in response.content.decode()


def test_the_board_badges_each_shot_by_its_approved_take_else_its_newest_finished_one(scored, studio, alice):
    from studio import selectors

    shots = {shot.id: shot for scene in selectors.shot_board(studio["project"]) for shot in scene.board_shots}

    approved_shot, other_shot = shots[scored["match"].shot_id], shots[scored["drift"].shot_id]
    # 1A's newest take drifted, but its approved take keeps Grace: the board shows the approved one.
    assert approved_shot.identity_take.id == scored["match"].id and approved_shot.identity_badge["status"] == IdentityStatus.MATCH
    assert other_shot.identity_take.id == scored["drift"].id and other_shot.identity_badge["status"] == IdentityStatus.DRIFT
    drift_verdict = IdentityScore.objects.get(take=scored["drift"]).verdict
    assert other_shot.identity_badge["name"] == f"Identity drifted. Grace: {drift_verdict}"

    card = client_for(alice).get(reverse("shot_card", args=[studio["project"].slug, other_shot.id])).content.decode()
    assert 'data-identity="drift"' in card
    assert f'aria-label="Take {scored["drift"].number}: Identity drifted. Grace: {drift_verdict}"' in card


def test_the_take_stack_badges_every_scored_take(scored, studio, alice):
    shot_id = scored["match"].shot_id
    response = client_for(alice).get(reverse("take_stack", args=[studio["project"].slug, shot_id]))

    badges = {take.id: take.identity_badge["status"] for take in response.context["takes"]}
    assert badges == {scored["match"].id: IdentityStatus.MATCH, scored["later"].id: IdentityStatus.DRIFT}


def test_the_provenance_manifest_carries_the_scores(scored, studio, alice):
    from studio.models import Export, ExportFormat
    from studio.services.exports import export_run

    cut = cut_create(project=studio["project"], actor=alice, name="Assembly")
    plan = cut_plan(cut)

    by_take = {item["take"].id: item["manifest"]["identity"] for item in plan}
    assert [s["status"] for s in by_take[scored["match"].id]] == [IdentityStatus.MATCH]
    assert [s["status"] for s in by_take[scored["drift"].id]] == [IdentityStatus.DRIFT]
    # Editorial timelines (OTIO, FCP XML) carry each clip's verdicts in its metadata.
    from studio.services.exports import _timeline_clips

    clips = {clip.metadata["take_id"]: clip for clip in _timeline_clips(plan, FPS, on_progress=lambda step, total: None)}
    assert [(s["handle"], s["status"]) for s in clips[scored["drift"].id].metadata["identity"]] == [("grace", "drift")]

    export = Export.objects.create(cut=cut, format=ExportFormat.MANIFEST, requested_by=alice)
    export_run(export_id=export.id)
    export.refresh_from_db()
    manifest = json.loads((Path(django_settings.MEDIA_ROOT) / export.file.name).read_text())
    stored = IdentityScore.objects.get(take=scored["drift"])
    (entry,) = [e for e in manifest["entries"] if e["take_id"] == scored["drift"].id]
    (score,) = entry["identity"]
    assert (score["handle"], score["status"], score["score"], score["verdict"]) == ("grace", "drift", stored.score, stored.verdict)
    assert score["model"] == stored.model and score["model_version"] == stored.model_version


# --------------------------------------------------------------------------------------------
# The demo's characters have real faces (studio/demo/faces.py)
# --------------------------------------------------------------------------------------------

def test_the_demo_characters_have_faces_the_model_recognises_and_a_first_render_scores_them(ffmpeg_available):
    from generation.identity import FACE_DISTANCE_THRESHOLD, reference_face_encoding
    from generation.media import read_image_rgb
    from studio.models import CastMember, Shot
    from studio.services.demo import demo_project_ensure
    from studio.services.renders import run_take

    project, _ = demo_project_ensure()
    members = {m.handle: m for m in CastMember.objects.filter(project=project).prefetch_related("images")}
    encodings = {}
    for handle in ("else", "nina", "tom"):
        (image,) = members[handle].images.all()
        encodings[handle] = reference_face_encoding(read_image_rgb(Path(image.image.path)))
    assert encodings["tom"] is None  # still a painted figure: no photograph for him
    assert np.linalg.norm(encodings["else"] - encodings["nina"]) > FACE_DISTANCE_THRESHOLD  # two different people
    assert members["else"].rights_status == RightsStatus.LICENSED and "Public domain" in members["else"].rights_note

    # Else's lamp-room shot, rendered with the default animatic backend, keeps her face.
    shot = Shot.objects.get(scene__project=project, cast_links__cast_member=members["else"], shot_size="MS")
    take = take_request(shot=shot, actor=None).take
    run_take(take.id)
    scores = {s.cast_member.handle: s for s in identity_services.take_score_identity(take.id)}
    assert scores["else"].status == IdentityStatus.MATCH
    assert scores["tom"].status == IdentityStatus.NO_REFERENCE  # said as such, never a score
