"""generation.identity on real photographs with the real models (dlib face encodings, OpenCV SIFT).

The faces are two public-domain photographs that install with test packages: Grace Hopper
(matplotlib's sample data) and Eileen Collins (scikit-image's `astronaut`, NASA). Objects and
places are scikit-image's `chelsea` (a cat, CC0), `coffee` (CC0) and `rocket` (SpaceX, public
domain). "Takes" are 720p frames composed from them, as a render would show them: re-framed,
mirrored, scaled, brightened, warped in perspective.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageEnhance, ImageOps

from generation import identity
from generation.backends.base import Reference
from generation.identity import (
    FACE_DISTANCE_THRESHOLD,
    FEATURE_MIN_INLIERS,
    CastReferences,
    IdentityStatus,
    SampledFrame,
    load_cast_references,
    read_sampled_frames,
    reference_face_encoding,
    sample_frame_indices,
    score_frames,
    score_video,
)
from generation.media import HouseFormat, encode_frames
from matplotlib import cbook
from skimage import data as skimage_data

REPO_ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT, FPS = 1280, 720, 24


# --------------------------------------------------------------------------------------------
# Photographs and takes made from them
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


def restyled(photo: np.ndarray) -> np.ndarray:
    """What a render might make of a reference: mirrored, scaled to 70 %, brightened 1.3x."""
    image = ImageOps.mirror(Image.fromarray(photo))
    image = image.resize((int(image.width * 0.7), int(image.height * 0.7)), Image.Resampling.LANCZOS)
    return np.asarray(ImageEnhance.Brightness(image).enhance(1.3))


def warped(photo: np.ndarray) -> np.ndarray:
    """The photograph seen from another angle: a perspective warp, cropped and brightened."""
    import cv2

    height, width = photo.shape[:2]
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    moved = np.float32([[width * 0.05, height * 0.1], [width * 0.9, 0], [width, height * 0.95], [0, height * 0.85]])
    view = cv2.warpPerspective(photo, cv2.getPerspectiveTransform(corners, moved), (width, height))
    view = np.asarray(ImageEnhance.Brightness(Image.fromarray(view)).enhance(1.3))
    return view[int(height * 0.1):int(height * 0.9), int(width * 0.1):int(width * 0.9)]


def frame_with(*placed: tuple[np.ndarray, int, int], background: np.ndarray | None = None) -> np.ndarray:
    """A 720p frame: a background (a flat grey set, or a photograph fitted to the frame) with the
    given pictures pasted at (x, y)."""
    if background is None:
        canvas = Image.new("RGB", (WIDTH, HEIGHT), (70, 72, 80))
    else:
        canvas = ImageOps.fit(Image.fromarray(background), (WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    for picture, x, y in placed:
        canvas.paste(Image.fromarray(picture), (x, y))
    return np.asarray(canvas)


def take(*frames: np.ndarray, spacing: int = 24) -> list[SampledFrame]:
    return [SampledFrame(slot * spacing, slot * spacing / FPS, frame) for slot, frame in enumerate(frames)]


def character(name: str, *images: np.ndarray) -> CastReferences:
    return CastReferences(name.lower(), name, "character", images)


def only(scores):
    assert len(scores) == 1
    return scores[0]


# --------------------------------------------------------------------------------------------
# Characters
# --------------------------------------------------------------------------------------------

def test_the_same_face_restyled_matches_its_references(hopper, astronaut):
    for name, photo in (("GRACE", hopper), ("EILEEN", astronaut)):
        face = restyled(photo)
        frames = take(frame_with((face, 100, 80)), frame_with((face, 700, 200)), frame_with((face, 400, 0)))

        score = only(score_frames(frames, [character(name, photo)]))

        assert score.status is IdentityStatus.MATCH
        assert score.score <= FACE_DISTANCE_THRESHOLD
        assert score.threshold == FACE_DISTANCE_THRESHOLD
        assert (score.frames_sampled, score.frames_scored, score.references_used) == (3, 3, 1)
        assert score.verdict() == f"matches {name}'s references"
        assert score.model.startswith("dlib_face_recognition_resnet_model_v1")
        assert "dlib" in score.model_version and "face-recognition-models" in score.model_version


def test_a_take_whose_face_is_swapped_for_another_persons_drifts(hopper, astronaut):
    for name, reference, swapped in (("GRACE", hopper, astronaut), ("EILEEN", astronaut, hopper)):
        frames = take(frame_with((restyled(swapped), 200, 100)), frame_with((swapped, 600, 100)))

        score = only(score_frames(frames, [character(name, reference)]))

        assert score.status is IdentityStatus.DRIFT
        assert score.score > FACE_DISTANCE_THRESHOLD
        assert score.frames_scored == 2
        assert score.verdict() == f"drifted: {score.score:.2f} vs threshold 0.6"


def test_each_character_of_a_two_shot_is_scored_against_the_face_that_resembles_them(hopper, astronaut):
    two_shot = take(frame_with((restyled(hopper), 60, 150), (restyled(astronaut), 760, 150)))
    single = take(frame_with((restyled(hopper), 60, 150)))
    cast = [character("GRACE", hopper), character("EILEEN", astronaut)]

    grace, eileen = score_frames(two_shot, cast)
    assert (grace.status, eileen.status) == (IdentityStatus.MATCH, IdentityStatus.MATCH)

    grace, eileen = score_frames(single, cast)  # Eileen is not in this shot: Grace is not her
    assert (grace.status, eileen.status) == (IdentityStatus.MATCH, IdentityStatus.DRIFT)


def test_the_worst_frame_points_at_the_frame_that_drifted(hopper, astronaut):
    good = frame_with((restyled(hopper), 300, 100))
    frames = take(good, good, frame_with((astronaut, 300, 100)), good, good)

    score = only(score_frames(frames, [character("GRACE", hopper)]))

    assert score.status is IdentityStatus.MATCH  # the median frame matches
    assert (score.worst_frame_index, score.worst_frame_time_s) == (48, 2.0)
    assert score.best_frame_index != 48


def test_frames_without_a_face_are_no_face_not_a_zero_score(hopper):
    coffee, rocket = skimage_data.coffee(), skimage_data.rocket()
    frames = take(frame_with(background=coffee), frame_with(background=rocket), frame_with())

    score = only(score_frames(frames, [character("GRACE", hopper)]))

    assert score.status is IdentityStatus.NO_FACE
    assert score.score is None and score.frames_scored == 0
    assert score.best_frame_index is None and score.worst_frame_index is None
    assert score.verdict() == "no face found in 3 sampled frames"


def test_frames_without_a_face_are_left_out_of_the_score_and_said_so(hopper):
    frames = take(frame_with((restyled(hopper), 300, 100)), frame_with(), frame_with())

    score = only(score_frames(frames, [character("GRACE", hopper)]))

    assert score.status is IdentityStatus.MATCH
    assert (score.frames_sampled, score.frames_scored) == (3, 1)
    assert score.best_frame_index == score.worst_frame_index == 0
    assert score.verdict() == "matches GRACE's references (face found in 1 of 3 frames)"


def test_a_character_without_a_usable_reference_is_no_reference(hopper):
    frames = take(frame_with((restyled(hopper), 300, 100)))

    faceless, empty = score_frames(frames, [character("GRACE", skimage_data.coffee()), character("JOE")])

    for score in (faceless, empty):
        assert score.status is IdentityStatus.NO_REFERENCE
        assert score.score is None and score.references_used == 0
    assert faceless.verdict() == "no reference image of GRACE shows a face"


def test_a_reference_image_with_several_faces_stands_for_its_largest(hopper, astronaut):
    group = frame_with((hopper, 100, 60), (np.asarray(Image.fromarray(astronaut).resize((300, 300))), 800, 300))
    own, other = reference_face_encoding(hopper), reference_face_encoding(astronaut)

    chosen = reference_face_encoding(group)

    assert np.linalg.norm(chosen - own) < 0.3 < FACE_DISTANCE_THRESHOLD < np.linalg.norm(chosen - other)


# --------------------------------------------------------------------------------------------
# Objects and locations
# --------------------------------------------------------------------------------------------

def test_an_object_in_a_new_scene_matches_and_a_scene_without_it_drifts():
    cat, coffee = skimage_data.chelsea(), skimage_data.coffee()
    small_cat = np.asarray(ImageEnhance.Brightness(Image.fromarray(cat).resize((270, 180))).enhance(1.2))
    cast = [CastReferences("chelsea", "CHELSEA", "object", (cat,))]

    present = only(score_frames(take(frame_with((small_cat, 700, 400), background=coffee)), cast))
    absent = only(score_frames(take(frame_with(background=coffee)), cast))

    assert present.status is IdentityStatus.MATCH and present.score >= FEATURE_MIN_INLIERS
    assert present.verdict() == "matches CHELSEA's references"
    assert absent.status is IdentityStatus.DRIFT and absent.score < FEATURE_MIN_INLIERS
    assert absent.verdict() == f"drifted: {absent.score:g} matching features vs at least {FEATURE_MIN_INLIERS}"
    assert present.method == absent.method == "local-feature match, SIFT+RANSAC inliers"
    assert present.model_version.startswith("opencv ")


def test_a_location_seen_from_another_angle_matches_and_another_place_drifts(astronaut):
    rocket = skimage_data.rocket()
    cast = [CastReferences("pad", "LAUNCH PAD", "location", (skimage_data.coffee(), rocket))]

    same_place = only(score_frames(take(frame_with(background=warped(rocket)), frame_with(background=rocket)), cast))
    elsewhere = only(score_frames(take(frame_with(background=astronaut), frame_with(background=skimage_data.chelsea())), cast))

    assert same_place.status is IdentityStatus.MATCH and same_place.references_used == 2
    assert elsewhere.status is IdentityStatus.DRIFT
    assert elsewhere.score < FEATURE_MIN_INLIERS <= same_place.score


def test_a_featureless_reference_is_no_reference():
    flat = np.full((300, 400, 3), 128, dtype=np.uint8)
    cast = [CastReferences("wall", "WALL", "location", (flat,))]

    score = only(score_frames(take(frame_with(background=skimage_data.rocket())), cast))

    assert score.status is IdentityStatus.NO_REFERENCE and score.score is None
    assert score.verdict() == "no reference image of WALL has enough detail for a local-feature match"


def test_style_references_are_not_scored(hopper):
    cast = [CastReferences("noir", "NOIR", "style", (hopper,)), character("GRACE", hopper)]

    scores = score_frames(take(frame_with((restyled(hopper), 300, 100))), cast)

    assert [score.handle for score in scores] == ["grace"]


# --------------------------------------------------------------------------------------------
# Determinism, frame sampling, reading takes
# --------------------------------------------------------------------------------------------

def test_scores_are_deterministic_across_runs_and_model_reloads(hopper, astronaut):
    rocket = skimage_data.rocket()
    frames = take(frame_with((restyled(hopper), 100, 80), background=warped(rocket)),
                  frame_with((astronaut, 700, 100), background=rocket))
    cast = [character("GRACE", hopper), character("EILEEN", astronaut),
            CastReferences("pad", "LAUNCH PAD", "location", (rocket,))]

    first = [score.to_dict() for score in score_frames(frames, cast)]
    identity.face_models.cache_clear()
    identity.clear_reference_cache()
    second = [score.to_dict() for score in score_frames(frames, cast)]

    assert first == second
    assert [row["status"] for row in first] == ["match", "match", "match"]


def test_a_changed_reference_image_is_scored_afresh_not_from_the_worker_cache(hopper, astronaut):
    frames = take(frame_with((restyled(hopper), 300, 100)))
    other_person_same_size = np.asarray(Image.fromarray(astronaut).resize((hopper.shape[1], hopper.shape[0])))

    before = only(score_frames(frames, [character("GRACE", hopper)]))
    after = only(score_frames(frames, [character("GRACE", other_person_same_size)]))
    again = only(score_frames(frames, [character("GRACE", hopper)]))

    assert (before.status, after.status, again.status) == (IdentityStatus.MATCH, IdentityStatus.DRIFT, IdentityStatus.MATCH)
    assert again == before


def test_scoring_no_frames_is_refused_rather_than_reported_as_no_face(hopper):
    with pytest.raises(ValueError, match="no frames to score"):
        score_frames([], [character("GRACE", hopper)])


def test_sampled_indices_are_the_centres_of_equal_slices():
    assert sample_frame_indices(120, 5) == [12, 36, 60, 84, 108]
    assert sample_frame_indices(3, 5) == [0, 1, 2]
    assert sample_frame_indices(0, 5) == [] == sample_frame_indices(10, 0)


@given(frame_count=st.integers(1, 100_000), samples=st.integers(1, 64))
def test_sampled_indices_are_distinct_ordered_in_range_and_evenly_spread(frame_count, samples):
    indices = sample_frame_indices(frame_count, samples)

    assert len(indices) == min(samples, frame_count)
    assert indices == sorted(set(indices))
    assert 0 <= indices[0] and indices[-1] < frame_count
    slice_length = frame_count / len(indices)
    assert all(abs(index - (slot + 0.5) * slice_length) <= 1 for slot, index in enumerate(indices))


def numbered_frames(count: int):
    """Frame i is a flat grey whose level encodes i (steps of 8 survive H.264)."""
    for index in range(count):
        yield np.full((180, 320, 3), 8 + 8 * index, dtype=np.uint8)


def test_read_sampled_frames_decodes_exactly_the_sampled_frames(tmp_path, ffmpeg_available):
    clip = encode_frames(numbered_frames(30), HouseFormat(320, 180, FPS), tmp_path / "take.mp4").path

    frames = read_sampled_frames(clip, samples=5)

    assert [frame.index for frame in frames] == [3, 9, 15, 21, 27]
    assert [frame.time_s for frame in frames] == [index / FPS for index in (3, 9, 15, 21, 27)]
    for frame in frames:
        assert frame.rgb.shape == (180, 320, 3) and frame.rgb.dtype == np.uint8
        assert abs(float(frame.rgb.mean()) - (8 + 8 * frame.index)) < 3


def test_score_video_scores_a_real_take_file(tmp_path, hopper, astronaut, ffmpeg_available):
    frames = [frame_with((restyled(hopper), 100 + 20 * index, 100)) for index in range(24)]
    clip = encode_frames(iter(frames), HouseFormat(WIDTH, HEIGHT, FPS), tmp_path / "take.mp4").path

    grace, eileen = score_video(clip, [character("GRACE", hopper), character("EILEEN", astronaut)], samples=3)

    assert grace.status is IdentityStatus.MATCH and eileen.status is IdentityStatus.DRIFT
    assert grace.frames_sampled == grace.frames_scored == 3
    assert grace.best_frame_index in (4, 12, 20)
    assert grace.best_frame_time_s == grace.best_frame_index / FPS


def test_load_cast_references_reads_the_engines_references(tmp_path, hopper):
    Image.fromarray(hopper).save(tmp_path / "grace.jpg")
    Image.fromarray(np.asarray(Image.fromarray(hopper).resize((2000, 2344)))).save(tmp_path / "grace-large.png")
    references = [
        Reference("grace", "GRACE", "character", (str(tmp_path / "grace.jpg"), str(tmp_path / "grace-large.png"))),
        Reference("noir", "NOIR", "style", (str(tmp_path / "grace.jpg"),)),
    ]

    (cast,) = load_cast_references(references)

    assert (cast.handle, cast.name, cast.kind) == ("grace", "GRACE", "character")
    original, large = cast.images
    assert original.shape == hopper.shape
    assert max(large.shape[:2]) == identity.REFERENCE_MAX_SIDE and large.shape[2] == 3


def test_importing_the_module_loads_neither_dlib_nor_opencv():
    # The web process imports the engine; the native libraries and models are for scoring workers.
    code = "import sys, generation.identity; print(sorted({'dlib', 'cv2'} & set(sys.modules)))"
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"
