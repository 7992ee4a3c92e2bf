"""Faces in frames are found on a half-size copy first (a quarter of the HOG cost) and encoded from
the full frame; a frame with fewer faces there than the shot has characters is searched again at
full size, so small faces are not lost (generation/identity.py, frame_face_encodings)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image

from generation import identity


@pytest.fixture(scope="module")
def hopper() -> Image.Image:
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        return image.convert("RGB")


def frame_with(portrait: Image.Image, scale: float) -> np.ndarray:
    frame = Image.new("RGB", (1280, 720), (40, 60, 80))
    small = portrait.resize((round(portrait.width * scale), round(portrait.height * scale)), Image.Resampling.LANCZOS)
    frame.paste(small, (300, 60))
    return np.asarray(frame)


def test_a_large_face_found_at_half_size_encodes_as_at_full_size(hopper):
    frame = frame_with(hopper, 1.0)  # a 216 px face
    fast, full = identity.frame_face_encodings(frame), identity.face_encodings(frame)
    assert len(fast) == len(full) == 1
    assert np.linalg.norm(fast[0] - full[0]) < 0.1  # the same face, a box a pixel or two apart


def test_a_small_face_missed_at_half_size_is_found_at_full_size(hopper):
    frame = frame_with(hopper, 0.4)  # an 86 px face: too small for the detector at half size
    small = np.asarray(Image.fromarray(frame).resize((640, 360), Image.Resampling.BOX))
    assert len(identity.face_models().detector(small, 0)) == 0
    found = identity.frame_face_encodings(frame)
    assert len(found) == 1
    reference = identity.reference_face_encoding(np.asarray(hopper))
    assert np.linalg.norm(found[0] - reference) < identity.FACE_DISTANCE_THRESHOLD
