"""The CPU animatic: a watchable previsualisation composed from the shot's cast references.

The location reference becomes the plate (or a seeded graded backdrop when there is none), the
character and object references stand on it as cut-outs or framed cards, the shot size decides how
close we are, the camera move animates background and cast at different speeds (parallax), and a
lower-third caption plus a slate tell the reviewer what they are looking at.

Speed comes from doing the expensive work once: `build_layers` loads, scales, tints and blurs
everything before the first frame; per frame we only crop-resize the plate, paste the cards,
and draw the changing timecode. Identical camera poses (a static shot) reuse the composed frame.

The rooms: camera.py (shot sizes and camera moves), layout.py (the shot plan and where the cast
stands), drawing.py (plate and cast cards), captions.py (caption, slate, timecode), frames.py
(layers and the per-frame composition). This file is the backend the registry builds.
"""

from __future__ import annotations

from PIL import Image

from ...regions import RegionError, highlight_region
from ..base import ProgressCallback, RenderError, RenderRequest, RenderResult, stand_ins_of, with_stand_ins
from .camera import (
    CAMERA_MOVE_ALIASES,
    CAMERA_MOVES,
    SHOT_FRAMINGS,
    SHOT_SIZE_ALIASES,
    CameraPose,
    ShotFraming,
    camera_poses,
    normalise_camera_move,
    normalise_shot_size,
)
from .captions import timecode
from .drawing import generated_backdrop, make_card
from .frames import Layers, build_layers, compose_base, frame_stream
from .layout import MAX_FRAMES, MAX_SIDE, ShotPlan, cast_members, plan_shot, seeded_rng

# What the package offers: the backend, and the shot grammar and helpers callers and tests use.
__all__ = [
    "AnimaticBackend", "MODEL_ID", "REVISION",
    "CAMERA_MOVES", "CAMERA_MOVE_ALIASES", "SHOT_FRAMINGS", "SHOT_SIZE_ALIASES", "CameraPose", "ShotFraming",
    "camera_poses", "normalise_camera_move", "normalise_shot_size", "timecode",
    "MAX_FRAMES", "MAX_SIDE", "ShotPlan", "plan_shot", "seeded_rng", "cast_members",
    "Layers", "build_layers", "compose_base", "frame_stream", "generated_backdrop", "make_card",
]

MODEL_ID = "continuity-animatic"
REVISION = "2"  # 2: a continuity shot opens on the previous last frame (hold, dissolve)


class AnimaticBackend:
    """CPU previsualisation: no GPU, no weights, deterministic for a request."""

    name = "animatic"

    def describe_model(self, request: RenderRequest) -> tuple[str, str]:
        return MODEL_ID, REVISION

    def render(self, request: RenderRequest, on_progress: ProgressCallback) -> RenderResult:
        # Everything that can fail on bad input (unreadable images) fails here, before any frame.
        stand_ins = stand_ins_of(request)
        request = with_stand_ins(request, stand_ins)
        plan = plan_shot(request)
        layers = build_layers(request, plan)
        frames = frame_stream(plan, layers, on_progress)
        if request.region_mask_path:  # a region re-render: show which region the note asked to change
            frames = highlight_region(frames, _region_mask(request.region_mask_path))
        return RenderResult(
            frames=frames,
            frame_count=plan.frames,
            model=MODEL_ID,
            revision=REVISION,
            provenance={
                "backend": self.name,
                "shot_size": plan.shot_size,
                "camera_move": plan.move,
                "plate": layers.plate_source,
                "cast": [placed.card.handle for placed in layers.cast],
                "opening": {"hold_frames": layers.opening_hold, "dissolve_frames": layers.opening_dissolve}
                if layers.opening is not None else None,
                "region": bool(request.region_mask_path),
                **({"stand_ins": {handle: list(paths) for handle, paths in stand_ins.items()}} if stand_ins else {}),
            },
        )


def _region_mask(path: str):
    """The stored region mask (read before the first frame, so a bad file fails the take clearly)."""
    try:
        with Image.open(path) as image:
            mask = image.convert("L")
    except OSError as exc:
        raise RenderError(f"Cannot read the region mask: {exc}") from exc
    if mask.getbbox() is None:
        raise RenderError(f"Cannot re-render the region: {RegionError('the mask is empty')}")
    return mask
