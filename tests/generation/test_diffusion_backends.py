"""The wan / ltx / tiny backends on tiny random-weight pipelines built in code: the real diffusers
classes, loaded from disk with local_files_only, on CPU. No GPU, no downloads."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.backends.base import ModelNotAvailable, Reference, RenderCancelled, RenderRequest
from generation.backends.diffusion import (
    RenderShape,
    describe_local_model,
    find_model_folder,
    folder_revision,
    frames_of_form,
    frames_to_uint8,
    round_to_multiple,
)
from generation.backends.ltx import LTXBackend
from generation.backends.tiny import (
    TINY_LTX,
    TINY_RECIPE,
    TINY_WAN_VACE,
    TinyBackend,
    ensure_tiny_models,
    make_tiny_wan_vace,
)
from generation.backends.wan import WanBackend
from generation.pipeline_cache import get_cache, reset_cache

REPO_ROOT = Path(__file__).resolve().parents[2]
STEPS = 3


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    ensure_tiny_models(folder)
    return folder


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # As TinyBackend does for itself: tiny tensors on a shared two-core machine run far faster on
    # one thread (the tests below also call WanBackend / LTXBackend directly).
    from generation.backends.diffusion import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(autouse=True)
def fresh_pipeline_cache():
    reset_cache()
    yield
    reset_cache()


@pytest.fixture(scope="session")
def cast_refs(tmp_path_factory) -> tuple[Reference, ...]:
    folder = tmp_path_factory.mktemp("cast_refs")
    rng = np.random.default_rng(7)
    references = []
    for handle, size in (("ada", (80, 60)), ("lamp", (40, 70))):
        path = folder / f"{handle}.png"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        references.append(Reference(handle=handle, name=handle.title(), kind="character", image_paths=(str(path),)))
    return tuple(references)


def request_for(cast_refs, **changes) -> RenderRequest:
    base = RenderRequest(prompt="a woman opens the door at night", references=cast_refs, seed=11, steps=STEPS)
    return replace(base, **changes)


def render(backend, request):
    calls = []
    result = backend.render(request, lambda step, total: calls.append((step, total)))
    return result, calls


def stack(result) -> np.ndarray:
    return np.stack(list(result.frames))


@pytest.fixture(scope="module")
def standard_render(models_dir, cast_refs):
    """One tiny VACE render with two references, shared by the tests that only look at it."""
    reset_cache()
    return render(TinyBackend(models_dir), request_for(cast_refs))


def test_tiny_wan_vace_render_with_two_references(standard_render):
    result, _ = standard_render
    frames = stack(result)
    assert result.frame_count == 17 == frames.shape[0]
    assert frames.shape == (17, 64, 64, 3) and frames.dtype == np.uint8
    assert frames.std() > 0  # not a blank video
    assert result.provenance["pipeline"] == "WanVACEPipeline"
    assert result.provenance["reference_handles"] == ["ada", "lamp"]
    assert result.provenance["rendered"] == {"width": 64, "height": 64, "frames": 17}
    assert result.provenance["requested"] == {"width": 1280, "height": 720, "frames": 48}
    assert (result.model, result.revision) == (TINY_WAN_VACE, TINY_RECIPE)


def test_progress_is_reported_once_per_step(standard_render):
    _, calls = standard_render
    assert calls == [(1, STEPS), (2, STEPS), (3, STEPS)]


def test_same_seed_same_frames_other_seed_other_frames(models_dir, cast_refs, standard_render):
    backend = TinyBackend(models_dir)
    again, _ = render(backend, request_for(cast_refs))
    other, _ = render(backend, request_for(cast_refs, seed=12))
    assert np.array_equal(stack(standard_render[0]), stack(again))
    assert not np.array_equal(stack(standard_render[0]), stack(other))


def test_reference_images_condition_the_render(models_dir, cast_refs, standard_render):
    without_cast, _ = render(TinyBackend(models_dir), request_for(cast_refs, references=()))
    assert without_cast.provenance["reference_handles"] == []
    assert not np.array_equal(stack(standard_render[0]), stack(without_cast))


@pytest.fixture
def pipeline_calls(monkeypatch):
    """Every pipeline call's keyword arguments, recorded on the way into the real pipeline."""
    from generation.backends import diffusion

    calls, real = [], diffusion.run_pipeline

    def recording(pipe, **kwargs):
        calls.append({"pipeline": type(pipe).__name__, **kwargs})
        return real(pipe, **kwargs)

    monkeypatch.setattr(diffusion, "run_pipeline", recording)
    return calls


def test_continuity_calls_vace_with_video_mask_and_reference_images_together(models_dir, cast_refs, tmp_path,
                                                                             pipeline_calls):
    last_frame = tmp_path / "last.png"
    Image.new("RGB", (160, 90), (250, 20, 20)).save(last_frame)  # the previous shot's house-sized last frame
    result, calls = render(TinyBackend(models_dir), request_for(cast_refs, first_frame_path=str(last_frame)))

    [call] = pipeline_calls
    assert call["pipeline"] == "WanVACEPipeline"
    video, mask, references = call["video"], call["mask"], call["reference_images"]
    assert len(video) == len(mask) == call["num_frames"] == 17
    assert video[0].size == mask[0].size == (call["width"], call["height"]) == (64, 64)
    first = np.asarray(video[0])
    assert (first[..., 0] > 200).all() and (first[..., 1:] < 60).all()  # the last frame, fitted (not stretched)
    assert {np.asarray(frame).tobytes() for frame in video[1:]} == {bytes([128]) * 64 * 64 * 3}  # grey: generate
    assert np.asarray(mask[0]).max() == 0 and all(np.asarray(m).min() == 255 for m in mask[1:])  # keep 0, make the rest
    assert [image.size for image in references] == [(80, 60), (40, 70)]  # the cast, in order, in the same call
    assert result.provenance["pipeline"] == "WanVACEPipeline" and result.provenance["first_frame"] is True
    assert result.provenance["reference_handles"] == ["ada", "lamp"]
    assert result.model == TINY_WAN_VACE and stack(result).shape == (17, 64, 64, 3)
    assert calls[-1] == (STEPS, STEPS)


def test_the_first_frame_conditions_the_render(models_dir, cast_refs, tmp_path, standard_render):
    last_frame = tmp_path / "last.png"
    Image.new("RGB", (64, 64), (250, 20, 20)).save(last_frame)
    continued, _ = render(TinyBackend(models_dir), request_for(cast_refs, first_frame_path=str(last_frame)))
    assert not np.array_equal(stack(continued), stack(standard_render[0]))


def test_ltx_renders_image_to_video_from_a_reference_and_text_to_video_without(models_dir, cast_refs):
    backend = LTXBackend(models_dir, model=TINY_LTX, fixed_shape=RenderShape(64, 64, 17))
    from_image, calls = render(backend, request_for(cast_refs))
    from_text, _ = render(backend, request_for(cast_refs, references=()))

    assert from_image.provenance["pipeline"] == "LTXImageToVideoPipeline"
    assert from_image.provenance["start_image"] == "reference:ada"
    assert from_text.provenance["pipeline"] == "LTXPipeline"
    for result in (from_image, from_text):
        assert stack(result).shape == (17, 64, 64, 3) and stack(result).dtype == np.uint8
    assert calls == [(1, STEPS), (2, STEPS), (3, STEPS)]
    # Both pipelines share one loaded set of weights.
    assert get_cache().stats()["total_loads"] == 1


def test_tiny_backend_routes_to_ltx_when_asked(models_dir, cast_refs):
    result, _ = render(TinyBackend(models_dir), request_for(cast_refs, model=TINY_LTX))
    assert result.provenance["backend"] == "tiny" and result.provenance["delegate"] == "ltx"
    assert result.model == TINY_LTX


def test_wan_rounds_the_request_and_trims_to_the_requested_frames(models_dir, cast_refs):
    backend = WanBackend(models_dir, model=TINY_WAN_VACE)
    result, _ = render(backend, request_for(cast_refs, width=40, height=72, frames=10))
    assert result.provenance["rendered"] == {"width": 48, "height": 80, "frames": 13}
    assert result.frame_count == 10 and stack(result).shape == (10, 80, 48, 3)


def test_missing_weights_raise_model_not_available_naming_the_setting(tmp_path, cast_refs):
    backend = WanBackend(tmp_path / "empty")
    with pytest.raises(ModelNotAvailable) as raised:
        backend.render(request_for(cast_refs), lambda step, total: None)
    message = str(raised.value)
    assert "Wan-AI/Wan2.1-VACE-1.3B-diffusers" in message
    assert str(tmp_path / "empty" / "Wan-AI--Wan2.1-VACE-1.3B-diffusers") in message
    assert "CONTINUITY_MODELS_DIR" in message


def test_describe_model_without_weights_names_the_model_with_no_revision(tmp_path, cast_refs):
    assert WanBackend(tmp_path).describe_model(request_for(cast_refs)) == ("Wan-AI/Wan2.1-VACE-1.3B-diffusers", "")
    with_first_frame = request_for(cast_refs, first_frame_path="/x.png")  # continuity is VACE too
    assert WanBackend(tmp_path).describe_model(with_first_frame)[0] == "Wan-AI/Wan2.1-VACE-1.3B-diffusers"


def test_model_ids_cannot_leave_the_models_dir(tmp_path, cast_refs):
    with pytest.raises(ModelNotAvailable):
        WanBackend(tmp_path).render(request_for(cast_refs, model="../../etc"), lambda step, total: None)


def test_weights_are_found_in_the_hugging_face_cache_with_the_snapshot_as_revision(tmp_path, monkeypatch):
    import huggingface_hub.constants

    snapshot = tmp_path / "hub" / "models--acme--video" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "model_index.json").write_text(json.dumps({"_class_name": "WanVACEPipeline"}))
    (tmp_path / "hub" / "models--acme--video" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--video" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    assert find_model_folder("acme/video", tmp_path / "models") == snapshot
    assert describe_local_model("acme/video", tmp_path / "models") == ("acme/video", "0123abcd")


def test_revision_of_a_plain_folder_follows_its_configs(tmp_path):
    (tmp_path / "vae").mkdir()
    (tmp_path / "model_index.json").write_text("{}")
    (tmp_path / "vae" / "config.json").write_text('{"z_dim": 16}')
    before = folder_revision(tmp_path)
    (tmp_path / "vae" / "config.json").write_text('{"z_dim": 8}')
    assert before.startswith("config-sha256:") and folder_revision(tmp_path) != before


def test_cancel_from_the_progress_callback_stops_the_render(models_dir, cast_refs):
    calls = []

    def cancel_after_first_step(step, total):
        calls.append((step, total))
        raise RenderCancelled()

    backend = TinyBackend(models_dir)
    with pytest.raises(RenderCancelled):
        backend.render(request_for(cast_refs, steps=5), cancel_after_first_step)
    assert calls == [(1, 5)]  # the denoising loop stopped at the first step
    after, _ = render(backend, request_for(cast_refs, steps=1))  # and the cached pipeline still works
    assert after.frame_count == 17


def test_three_renders_on_one_backend_load_the_pipeline_once(models_dir, cast_refs):
    backend = TinyBackend(models_dir)
    for seed in (1, 2, 3):
        render(backend, request_for(cast_refs, seed=seed, steps=1))
    stats = get_cache().stats()
    assert stats["total_loads"] == 1
    assert list(stats["loads"].values()) == [1]


def test_alternating_models_with_room_for_one_reloads_each_time(models_dir, cast_refs, monkeypatch):
    monkeypatch.setenv("CONTINUITY_MAX_PIPELINES", "1")
    reset_cache()
    backend = TinyBackend(models_dir)
    on_ltx = request_for(cast_refs, model=TINY_LTX, steps=1)
    for request in (request_for(cast_refs, steps=1), on_ltx, request_for(cast_refs, steps=1)):
        render(backend, request)
    stats = get_cache().stats()
    loads_by_pipeline = {key[0]: count for key, count in stats["loads"].items()}
    assert loads_by_pipeline == {"WanVACEPipeline": 2, "LTXImageToVideoPipeline": 1}
    assert stats["evictions"] == 2 and len(stats["cached"]) == 1


def test_tiny_pipeline_survives_save_and_reload(models_dir, cast_refs):
    import torch

    in_memory = make_tiny_wan_vace()
    in_memory.set_progress_bar_config(disable=True)
    from generation.backends.prompting import prompt_for

    request = RenderRequest(prompt="a dog runs", seed=3, steps=2, width=32, height=32, frames=5)
    call = dict(prompt=prompt_for(request), height=32, width=32, num_frames=5, num_inference_steps=2, output_type="np")
    expected = in_memory(generator=torch.Generator("cpu").manual_seed(3), **call).frames

    result, _ = render(WanBackend(models_dir, model=TINY_WAN_VACE), request)
    assert np.array_equal(stack(result), np.stack(frames_to_uint8(expected)))


def test_ensure_tiny_models_is_idempotent_and_complete(models_dir):
    revision_file = models_dir / "continuity--tiny-wan-vace" / ".revision"
    before = revision_file.stat().st_mtime_ns
    folders = ensure_tiny_models(models_dir)
    assert revision_file.stat().st_mtime_ns == before
    assert set(folders) == {TINY_WAN_VACE, TINY_LTX}
    for folder in folders.values():
        assert (folder / "model_index.json").is_file() and (folder / "tokenizer" / "tokenizer.json").is_file()
    assert not [p for p in models_dir.iterdir() if p.name.startswith(".")]  # no staging folders left


def test_frame_and_size_rounding():
    assert [frames_of_form(n, 4) for n in (1, 2, 5, 6, 48, 81)] == [5, 5, 5, 9, 49, 81]
    assert [frames_of_form(n, 8) for n in (9, 10, 48)] == [9, 17, 49]
    assert [round_to_multiple(n, 16) for n in (40, 720, 1280, 3)] == [48, 720, 1280, 16]
    assert round_to_multiple(720, 32) == 736  # 22.5 multiples: halves go up


def test_frames_to_uint8_scales_and_clips():
    video = np.array([[[[[0.0, 0.5, 1.0]]], [[[1.2, -0.1, 0.999]]]]], dtype=np.float32)  # (1, 2, 1, 1, 3)
    frames = frames_to_uint8(video)
    assert len(frames) == 2 and frames[0].dtype == np.uint8
    assert frames[0].tolist() == [[[0, 128, 255]]] and frames[1].tolist() == [[[255, 0, 255]]]


def test_importing_the_backends_does_not_import_torch():
    code = (
        "import sys; import generation.backends.wan, generation.backends.ltx, generation.backends.tiny, "
        "generation.pipeline_cache; print('torch' in sys.modules, 'diffusers' in sys.modules)"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["False", "False"]


def test_describe_model_does_not_import_torch(models_dir):
    code = (
        "import sys; from generation.backends.tiny import TinyBackend; from generation.backends.wan import WanBackend;"
        "from generation.backends.base import RenderRequest; import pathlib;"
        f"d = pathlib.Path({str(models_dir)!r});"
        "print(TinyBackend(d).describe_model(RenderRequest(prompt='x')));"
        "print(WanBackend(d, model='continuity/tiny-wan-vace').describe_model(RenderRequest(prompt='x')));"
        "print(WanBackend(d / 'nothing-here').describe_model(RenderRequest(prompt='x')));"
        "print('torch' in sys.modules)"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == lines[1] == str((TINY_WAN_VACE, TINY_RECIPE))
    assert lines[2] == str(("Wan-AI/Wan2.1-VACE-1.3B-diffusers", ""))
    assert lines[3] == "False"


@pytest.mark.parametrize("backend_for", [
    lambda models_dir: TinyBackend(models_dir),
    lambda models_dir: LTXBackend(models_dir, model=TINY_LTX, fixed_shape=RenderShape(64, 64, 17)),
], ids=["wan", "ltx"])
def test_shot_size_move_and_lens_reach_the_model_as_prompt_words(models_dir, cast_refs, pipeline_calls, backend_for):
    backend = backend_for(models_dir)
    wide, _ = render(backend, request_for(cast_refs, shot_size="WS", steps=1))
    close, _ = render(backend, request_for(cast_refs, shot_size="CU", camera_move="push_in", lens_mm=85, steps=1))
    sent = [call["prompt"] for call in pipeline_calls]
    assert sent == ["a woman opens the door at night. Camera: wide shot, static camera, 35mm lens.",
                    "a woman opens the door at night. Camera: close-up, slow dolly push-in, 85mm telephoto lens."]
    assert [wide.provenance["prompt_sent"], close.provenance["prompt_sent"]] == sent
