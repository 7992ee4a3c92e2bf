"""Turn one render request into a clip on disk: backend -> frames -> house-format MP4, poster and
last frame. Pure engine: no database, no settings; whoever calls it says where the files go,
hears progress through `on_progress` and stops the render through `should_cancel`.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from generation import media
from generation.backends.base import OutOfMemory, ProgressCallback, RenderCancelled, RenderError, RenderRequest
from generation.backends.registry import build_backend
from generation.runtime import LOW_MEMORY_FALLBACK, RenderRuntime, active, is_out_of_memory

# What pyproject's `gpu` extra installs (the diffusers backends import them lazily).
GPU_PACKAGES = frozenset({"torch", "diffusers", "transformers", "tokenizers", "accelerate", "ftfy", "sentencepiece"})

# should_cancel() -> True stops the render (RenderCancelled). Asked after every progress report
# and once more, on its own, before the encode (which sends no reports for diffusion backends).
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class ClipPaths:
    """Where the clip's files go. The caller picks names nothing else uses: files are written to a
    temporary sibling and renamed into place, never over something a reviewer has seen."""

    video: Path
    poster: Path
    last_frame: Path

    def all(self) -> tuple[Path, Path, Path]:
        return self.video, self.poster, self.last_frame


@dataclass(frozen=True)
class RenderedClip:
    frames: int
    duration_s: float
    model: str
    revision: str
    compute_seconds: float
    provenance: dict[str, Any] = field(default_factory=dict)
    gpu_seconds: float = 0.0  # inside the model call (and the animatic's frame drawing), see runtime.py


def render_clip(
    request: RenderRequest,
    *,
    backend: str,
    output: ClipPaths,
    house: media.HouseFormat,
    on_progress: ProgressCallback,
    should_cancel: CancelCheck,
    ffmpeg_timeout: float = 600,
    models_dir: Path | str | None = None,
    runtime: RenderRuntime | None = None,
) -> RenderedClip:
    """Render `request` with the named backend and write the clip, poster and last frame.

    Raises RenderCancelled when `should_cancel` says so, RenderError (incl. UnknownBackend) or
    MediaError with a message a user can act on; leaves no partial file behind. `runtime` hears
    pipeline loads (runtime.on_load) and counts GPU seconds, also when the render fails. An
    out-of-memory is retried once with the low-memory fallback, then fails as OutOfMemory.
    """
    started = time.monotonic()
    runtime = runtime or RenderRuntime()
    try:
        with active(runtime):
            result = _render_with_fallback(build_backend(backend, models_dir=models_dir), request,
                                           _cancellable(on_progress, should_cancel), runtime)
    except ModuleNotFoundError as missing:  # an install without the `gpu` extra: say what to do, not a traceback
        if (missing.name or "").split(".")[0] not in GPU_PACKAGES:
            raise
        raise RenderError(f"The {backend!r} backend needs the GPU packages ({missing.name} is not installed on this "
                          "worker): pip install 'continuity[gpu]'.") from None
    if should_cancel():  # before the encode: the last chance to stop without writing anything
        raise RenderCancelled()
    output.video.parent.mkdir(parents=True, exist_ok=True)
    content = FramesDigest()
    encoded = media.encode_frames(content.through(_timed(result.frames, runtime)), house, output.video,
                                  expected_frames=result.frame_count, timeout=ffmpeg_timeout)
    media.extract_frame(output.video, output.poster)
    media.extract_frame(output.video, output.last_frame, last=True)
    provenance = {
        "backend": backend, "model": result.model, "revision": result.revision, "seed": request.seed,
        "prompt": request.prompt,
        "references": [{"handle": r.handle, "sha256s": list(r.image_sha256s)} for r in request.references],
        **result.provenance,
        # The content hash of the frames the backend made (before encoding): two renders made the
        # same pixels exactly when these match (an exact re-render compares them).
        "frames_sha256": content.hexdigest(),
    }
    if runtime.low_memory:
        provenance["memory_fallback"] = provenance.get("memory_fallback") or LOW_MEMORY_FALLBACK
    if "generation.pipeline_cache" in sys.modules:  # a diffusers backend ran in this process
        stats = sys.modules["generation.pipeline_cache"].get_cache().stats()
        provenance["pipeline_cache"] = {"total_loads": stats["total_loads"], "evictions": stats["evictions"]}
    return RenderedClip(frames=encoded.frame_count, duration_s=encoded.duration_s, model=result.model,
                        revision=result.revision, compute_seconds=time.monotonic() - started, provenance=provenance,
                        gpu_seconds=runtime.gpu_seconds)


def _render_with_fallback(backend_impl, request: RenderRequest, progress: ProgressCallback, runtime: RenderRuntime):
    """backend.render, and once more with runtime.low_memory after an out-of-memory."""
    try:
        return backend_impl.render(request, progress)
    except Exception as error:  # MemoryError is an Exception too
        if not (isinstance(error, OutOfMemory) or is_out_of_memory(error)):
            raise
        first = error
    _release_memory()
    runtime.low_memory = True
    runtime.report_load(0.0, f"out of memory; retrying with {LOW_MEMORY_FALLBACK}")
    try:
        return backend_impl.render(request, progress)
    except Exception as error:
        if not (isinstance(error, OutOfMemory) or is_out_of_memory(error)):
            raise
        _release_memory()
        raise OutOfMemory(
            f"Out of memory, twice: the render did not fit in memory ({_first_line(first)}), nor on the retry with "
            f"{LOW_MEMORY_FALLBACK}. Lower the project's resolution or shorten the shot, or render on a worker "
            "with more GPU memory."
        ) from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]


def _release_memory() -> None:
    if "generation.pipeline_cache" in sys.modules:  # a diffusers backend ran here: drop freed tensors now
        sys.modules["generation.pipeline_cache"].release_freed_memory()


def _timed(frames, runtime: RenderRuntime):
    """Count the time spent producing frames (the animatic draws them lazily, as ffmpeg asks)."""
    iterator = iter(frames)
    while True:
        started = time.monotonic()
        try:
            frame = next(iterator)
        except StopIteration:
            runtime.gpu_seconds += time.monotonic() - started
            return
        runtime.gpu_seconds += time.monotonic() - started
        yield frame


class FramesDigest:
    """sha256 over every frame's shape and bytes, computed as the frames stream to the encoder."""

    def __init__(self):
        self._digest = hashlib.sha256()

    def through(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for frame in frames:
            array = np.ascontiguousarray(frame)
            self._digest.update(repr((array.shape, array.dtype.str)).encode())
            self._digest.update(array.tobytes())
            yield frame

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _cancellable(on_progress: ProgressCallback, should_cancel: CancelCheck) -> ProgressCallback:
    def report(step: int, total: int) -> None:
        on_progress(step, total)
        if should_cancel():
            raise RenderCancelled()

    return report


def remove_leftovers(output: ClipPaths) -> None:
    """A process killed while encoding leaves media's hidden temporary files
    (".<name>.<hex>.partial<ext>", see media._temporary_sibling) beside the clip's names; a retry
    that owns those names removes them first."""
    for path in output.all():
        for leftover in path.parent.glob(f".{path.stem}.*.partial{path.suffix}"):
            leftover.unlink(missing_ok=True)
