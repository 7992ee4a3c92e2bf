"""Region re-renders (generation/regions.py): a drawing becomes a mask; `wan` hands VACE the take's
frames and the mask together with the cast's references; the animatic highlights the region."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.backends import diffusion
from generation.backends.animatic import AnimaticBackend
from generation.backends.base import Reference, RenderError, RenderRequest
from generation.backends.diffusion import torch_threads
from generation.backends.tiny import TinyBackend, ensure_tiny_models
from generation.media import HouseFormat, encode_frames, read_frames_rgb
from generation.pipeline_cache import reset_cache
from generation.regions import RegionError, highlight_region, region_mask, save_region_mask, vace_region_inputs
from generation.signatures import render_signature

# A loop drawn round the upper-left quarter of the frame, as the review room stores it.
LOOP = [{"color": "#ff5a5f", "width": 0.004, "points": [[0.1, 0.1], [0.45, 0.1], [0.45, 0.45], [0.1, 0.45]]}]


def test_a_loop_marks_its_inside_and_nothing_far_outside():
    mask = np.asarray(region_mask(LOOP, 200, 100))
    assert mask.dtype == np.uint8 and mask.shape == (100, 200)
    assert mask[25, 50] == 255  # inside the loop
    assert mask[80, 160] == 0  # the far corner
    assert set(np.unique(mask)) <= {0, 255}


def test_a_short_scribble_still_marks_a_region_and_an_empty_drawing_is_refused():
    tap = region_mask([{"points": [[0.5, 0.5]], "width": 0.004}], 200, 100)
    assert np.asarray(tap)[50, 100] == 255
    with pytest.raises(RegionError, match="marks no region"):
        region_mask([], 200, 100)
    with pytest.raises(RegionError):
        region_mask([{"points": [[3.0, 3.0], [4.0, 4.0]], "width": 0.004}], 200, 100)  # off the frame


def test_the_mask_is_saved_atomically_as_a_png(tmp_path):
    path = save_region_mask(LOOP, 64, 48, tmp_path / "masks" / "comment-1.png")
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["comment-1.png"]
    with Image.open(path) as image:
        assert image.mode == "L" and image.size == (64, 48)


def test_vace_inputs_hold_the_last_frame_and_give_one_mask_per_frame():
    frames = [np.full((10, 20, 3), value, np.uint8) for value in (10, 20, 30)]
    video, masks = vace_region_inputs(frames, region_mask(LOOP, 20, 10), width=32, height=16, count=5)
    assert [frame.size for frame in video] == [(32, 16)] * 5
    assert [np.asarray(frame)[0, 0, 0] for frame in video] == [10, 20, 30, 30, 30]
    assert len(masks) == 5 and masks[0].size == (32, 16) and np.asarray(masks[0])[4, 8] == 255


def test_the_animatic_highlights_the_region_only(tmp_path):
    mask = region_mask(LOOP, 80, 40)
    grey = [np.full((40, 80, 3), 100, np.uint8)] * 2
    out = list(highlight_region(iter(grey), mask))
    assert len(out) == 2
    inside, outside = out[0][10, 20], out[0][35, 75]
    assert inside[0] > 100 and inside[1] < 100  # tinted towards the drawing colour
    assert list(outside) == [100, 100, 100]


@pytest.fixture
def source_take(tmp_path, ffmpeg_available) -> Path:
    """A real 12-frame take: a grey ramp, so frames can be told apart."""
    fmt = HouseFormat(64, 48, 24)
    frames = (np.full((48, 64, 3), 20 * index, np.uint8) for index in range(12))
    return encode_frames(frames, fmt, tmp_path / "take.mp4").path


def test_read_frames_scales_and_stops_at_max_frames(source_take):
    frames = read_frames_rgb(source_take, width=32, height=16, max_frames=5)
    assert len(frames) == 5 and frames[0].shape == (16, 32, 3)
    assert frames[4].mean() > frames[0].mean() + 50


def test_an_animatic_region_render_is_tinted_inside_and_signed_apart(tmp_path, source_take):
    mask_path = save_region_mask(LOOP, 256, 144, tmp_path / "mask.png")
    base = RenderRequest(prompt="", frames=6, fps=24, width=256, height=144, seed=1)
    region = replace(base, source_video_path=str(source_take), region_mask_path=str(mask_path))
    plain = list(AnimaticBackend().render(base, lambda *_: None).frames)
    result = AnimaticBackend().render(region, lambda *_: None)
    tinted = list(result.frames)
    assert result.provenance["region"] is True
    inside = (30, 60)  # row, column inside the loop
    assert tinted[0][inside][0] > plain[0][inside][0] or tinted[0][inside][1] < plain[0][inside][1]
    assert np.array_equal(tinted[0][130, 240], plain[0][130, 240])  # outside: untouched

    def signature(request):
        return render_signature(backend="animatic", model="m", revision="1", request=request)
    assert signature(region) != signature(base)
    copy = tmp_path / "copy.png"
    copy.write_bytes(mask_path.read_bytes())
    assert signature(replace(region, region_mask_path=str(copy))) == signature(region)  # bytes, not paths


def test_an_animatic_region_render_with_an_unreadable_mask_fails_clearly(tmp_path):
    bad = tmp_path / "mask.png"
    bad.write_bytes(b"not a png")
    request = RenderRequest(prompt="", frames=4, width=128, height=72, source_video_path="x.mp4", region_mask_path=str(bad))
    with pytest.raises(RenderError, match="region mask"):
        AnimaticBackend().render(request, lambda *_: None)


@pytest.fixture
def tiny_models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "region-models"
    ensure_tiny_models(folder)
    return folder


def test_the_tiny_wan_vace_pipeline_gets_the_takes_frames_the_mask_and_the_references(tmp_path, tiny_models, source_take,
                                                                                      monkeypatch):
    reference = tmp_path / "ada.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(reference)
    mask_path = save_region_mask(LOOP, 64, 48, tmp_path / "mask.png")
    request = RenderRequest(prompt="she turns", seed=5, steps=2, references=(
        Reference(handle="ada", name="Ada", kind="character", image_paths=(str(reference),)),),
        source_video_path=str(source_take), region_mask_path=str(mask_path))
    calls = []
    real = diffusion.run_pipeline

    def spy(pipe, **kwargs):
        calls.append((type(pipe).__name__, kwargs))
        return real(pipe, **kwargs)

    monkeypatch.setattr(diffusion, "run_pipeline", spy)
    reset_cache()
    with torch_threads(1):
        result = TinyBackend(tiny_models).render(request, lambda *_: None)
    reset_cache()
    (pipeline, kwargs), = calls
    assert pipeline == "WanVACEPipeline"
    frames = kwargs["num_frames"]
    assert len(kwargs["video"]) == frames == len(kwargs["mask"])
    mask = np.asarray(kwargs["mask"][0])
    assert mask.shape == (64, 64) and mask[15, 15] == 255 and mask[60, 60] == 0  # white inside the drawn loop
    # The source take's frames, in order: the grey ramp brightens.
    assert np.asarray(kwargs["video"][5]).mean() > np.asarray(kwargs["video"][0]).mean() + 50
    assert len(kwargs["reference_images"]) == 1
    assert result.provenance["region"] is True and result.provenance["reference_handles"] == ["ada"]
    assert len(list(result.frames)) == result.frame_count > 0
