"""The contract between the render runner and a generation backend.

A backend turns a `RenderRequest` (plain data, no Django objects, so it can be hashed, stored on
the take and shipped to any worker) into frames. Frames are produced lazily: the runner pipes them
straight into ffmpeg, so a 720p shot never has to sit in memory as a whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterable, Protocol

import numpy as np

# on_progress(step, total_steps). It may raise RenderCancelled to stop the render.
ProgressCallback = Callable[[int, int], None]


class RenderError(Exception):
    """A render failed for a reason the user can act on; the message is shown on the take."""


class OutOfMemory(RenderError):
    """The model ran out of memory (GPU or host). The runner retries once with the low-memory
    fallback (generation/runtime.py) before the take fails with a plain-language reason."""


class RenderCancelled(Exception):
    """Raised from a progress callback to stop a render that was cancelled."""


class ModelNotAvailable(RenderError):
    """The weights a backend needs are not on this machine (we never download at run time)."""


@dataclass(frozen=True)
class Reference:
    """One cast member as the backend sees it: ordered images, primary first."""

    handle: str
    name: str
    kind: str  # character / object / location / style
    image_paths: tuple[str, ...]
    image_sha256s: tuple[str, ...] = ()
    description: str = ""

    @property
    def primary_image(self) -> str | None:
        return self.image_paths[0] if self.image_paths else None


@dataclass(frozen=True)
class RenderRequest:
    prompt: str
    references: tuple[Reference, ...] = ()
    first_frame_path: str | None = None  # continuity: last frame of the previous shot's take
    seed: int = 0
    frames: int = 48
    fps: int = 24
    width: int = 1280
    height: int = 720
    steps: int = 20
    shot_size: str = "MS"
    camera_move: str = "static"
    lens_mm: int = 35
    caption: str = ""  # dialogue or action line shown by the animatic
    model: str = ""  # backend specific model id / local folder name; "" means the backend default
    extra: dict[str, Any] = field(default_factory=dict)
    # A region re-render (generation/regions.py): regenerate inside the mask (white), keep the rest
    # of the source take. Both None for an ordinary render; the signature hashes their bytes.
    source_video_path: str | None = None
    region_mask_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["references"] = [asdict(r) for r in self.references]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RenderRequest":
        data = dict(data)
        refs = tuple(
            Reference(**{**r, "image_paths": tuple(r["image_paths"]), "image_sha256s": tuple(r.get("image_sha256s", ()))})
            for r in data.pop("references", ())
        )
        return cls(references=refs, **data)


# Previs with a double: request.extra["stand_ins"] = {handle: {"image_paths": [...], "image_sha256s": [...]}}
# asks a backend that honours it (the animatic) to show another picture in place of a cast member's
# references. Identity scoring still compares the take with the member's own references, so a
# stand-in reads as drift: what the take shows is not who the shot names.
STAND_INS = "stand_ins"


def stand_ins_of(request: RenderRequest) -> dict[str, tuple[str, ...]]:
    """handle -> the stand-in's image paths, for the cast members the request names."""
    handles = {ref.handle for ref in request.references}
    raw = request.extra.get(STAND_INS) or {}
    return {handle: tuple(str(path) for path in value.get("image_paths", ())) for handle, value in raw.items()
            if handle in handles and isinstance(value, dict) and value.get("image_paths")}


def with_stand_ins(request: RenderRequest, stand_ins: dict[str, tuple[str, ...]]) -> RenderRequest:
    """The request with each stood-in member's images replaced by its stand-in's."""
    if not stand_ins:
        return request
    references = tuple(replace(ref, image_paths=stand_ins[ref.handle], image_sha256s=()) if ref.handle in stand_ins else ref
                       for ref in request.references)
    return replace(request, references=references)


@dataclass
class RenderResult:
    """What a backend hands back: frames (H, W, 3) uint8 RGB, plus what produced them."""

    frames: Iterable[np.ndarray]
    frame_count: int
    model: str
    revision: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def describe_model(self, request: RenderRequest) -> tuple[str, str]:
        """(model id, revision) the request would use; part of the render signature."""

    def render(self, request: RenderRequest, on_progress: ProgressCallback) -> RenderResult:
        """Render the request. Report progress; raise RenderError with a clear message on failure."""
