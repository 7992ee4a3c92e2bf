"""Out-of-memory handling, pipeline-load progress and GPU seconds, on the tiny diffusers pipeline
(real diffusers code, random weights; only the out-of-memory is faked, as a GPU would raise it)."""

from __future__ import annotations

import diffusers
import pytest
import torch

from generation import media
from generation.backends.base import OutOfMemory, RenderRequest
from generation.backends.tiny import ensure_tiny_models
from generation.pipeline_cache import reset_cache
from generation.render import ClipPaths, render_clip
from generation.runtime import RenderRuntime


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    ensure_tiny_models(folder)
    return folder


@pytest.fixture(autouse=True)
def fresh_pipeline_cache():
    reset_cache()
    yield
    reset_cache()


class FakeOutOfMemory:
    """Make the tiny Wan VACE pipeline raise torch.OutOfMemoryError on its first `times` calls,
    recording whether the VAE was tiled on each call (the fallback)."""

    def __init__(self, monkeypatch, times: int):
        self.times, self.calls, self.tiled = times, 0, []
        original = diffusers.WanVACEPipeline.__call__
        fake = self

        def call(pipe, *args, **kwargs):
            fake.calls += 1
            fake.tiled.append(bool(getattr(pipe.vae, "use_tiling", False)))
            if fake.calls <= fake.times:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (fake)")
            return original(pipe, *args, **kwargs)

        monkeypatch.setattr(diffusers.WanVACEPipeline, "__call__", call)


def _render(models_dir, tmp_path, runtime):
    return render_clip(
        RenderRequest(prompt="a woman opens the door", seed=3, steps=2, frames=8, fps=8, width=64, height=64),
        backend="tiny", output=ClipPaths(video=tmp_path / "c.mp4", poster=tmp_path / "c.jpg", last_frame=tmp_path / "c.png"),
        house=media.HouseFormat(width=64, height=64, fps=8), on_progress=lambda step, total: None,
        should_cancel=lambda: False, models_dir=models_dir, runtime=runtime,
    )


def test_an_out_of_memory_on_the_first_call_is_retried_with_the_fallback_and_succeeds(models_dir, tmp_path, monkeypatch,
                                                                                   ffmpeg_available):
    fake = FakeOutOfMemory(monkeypatch, times=1)
    loads = []
    clip = _render(models_dir, tmp_path, RenderRuntime(on_load=lambda fraction, what: loads.append((fraction, what))))
    assert fake.calls == 2 and fake.tiled == [False, True]  # the retry ran with VAE tiling
    assert clip.frames > 0 and (tmp_path / "c.mp4").stat().st_size > 0
    assert "VAE tiling" in clip.provenance["memory_fallback"]
    assert any(what.startswith("out of memory; retrying with") for _, what in loads)


def test_an_out_of_memory_on_both_calls_fails_with_a_plain_reason(models_dir, tmp_path, monkeypatch):
    fake = FakeOutOfMemory(monkeypatch, times=2)
    runtime = RenderRuntime()
    with pytest.raises(OutOfMemory) as failed:
        _render(models_dir, tmp_path, runtime)
    assert fake.calls == 2
    reason = str(failed.value)
    assert reason.startswith("Out of memory, twice") and "VAE tiling and model CPU offload" in reason
    assert "Lower the project's resolution or shorten the shot" in reason
    assert not list(tmp_path.iterdir())  # nothing half-written
    assert runtime.gpu_seconds > 0  # the two failed calls still cost time


def test_a_pipeline_load_reports_progress_and_the_render_counts_gpu_seconds(models_dir, tmp_path, ffmpeg_available):
    loads = []
    runtime = RenderRuntime(on_load=lambda fraction, what: loads.append((round(fraction, 2), what)))
    clip = _render(models_dir, tmp_path, runtime)
    fractions = [fraction for fraction, _ in loads]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert any("loading model (" in what for _, what in loads)  # one report per component diffusers loads
    assert len({f for f in fractions if 0 < f < 0.9}) >= 3
    assert 0 < clip.gpu_seconds <= clip.compute_seconds
    assert runtime.loaded["model"] and runtime.loaded["pipeline"] == "WanVACEPipeline"
    loads.clear()
    (tmp_path / "again").mkdir()
    _render(models_dir, tmp_path / "again", runtime)
    assert loads == []  # cached: no load, nothing to report


def test_the_animatic_counts_its_drawing_as_compute_seconds(tmp_path, ffmpeg_available):
    clip = render_clip(
        RenderRequest(prompt="a lighthouse", frames=6, fps=12, width=96, height=64), backend="animatic",
        output=ClipPaths(video=tmp_path / "a.mp4", poster=tmp_path / "a.jpg", last_frame=tmp_path / "a.png"),
        house=media.HouseFormat(width=96, height=64, fps=12), on_progress=lambda step, total: None,
        should_cancel=lambda: False,
    )
    assert 0 < clip.gpu_seconds < clip.compute_seconds
