"""Frames: the layers built once per render, then the per-frame composition. The hot loop does
only crops, resizes of what is visible, and pastes; identical poses reuse the composed frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ..base import ProgressCallback, RenderError, RenderRequest
from .camera import CameraPose, pose_runs
from .captions import build_caption, build_slate, timecode
from .drawing import build_cast, build_plate, style_tint
from .layout import PlacedCard, ShotPlan

@dataclass
class Layers:
    plate: Image.Image  # RGB, the output aspect ratio, pre-scaled and pre-blurred
    plate_source: str
    cast: list[PlacedCard]
    caption: Image.Image | None  # RGBA lower third
    caption_pos: tuple[int, int]
    slate: Image.Image  # RGBA, static part of the slate
    slate_pos: tuple[int, int]
    timecode_pos: tuple[int, int]
    timecode_font: ImageFont.ImageFont
    texts_fill: tuple[int, int, int] = (235, 235, 230)
    opening: np.ndarray | None = None  # continuity: the previous shot's last frame, fitted (float32 H, W, 3)
    opening_hold: int = 0  # frames showing it unchanged
    opening_dissolve: int = 0  # frames dissolving from it into the shot


# Continuity in previz: the shot opens on the previous shot's last frame, holds it, then dissolves
# into the animatic, so a reviewer sees where the shot starts from (as the GPU render keeps it).
OPENING_HOLD_S = 0.25
OPENING_DISSOLVE_S = 0.5


def opening_frames(frames: int, fps: int) -> tuple[int, int]:
    """(hold, dissolve) frame counts: the seconds above, squeezed into at most half a short shot."""
    hold = max(1, round(OPENING_HOLD_S * fps))
    dissolve = max(1, round(OPENING_DISSOLVE_S * fps))
    budget = max(1, frames // 2)
    if hold + dissolve > budget:
        hold = max(1, budget // 3)
        dissolve = max(0, budget - hold)
    return hold, dissolve


def load_opening(path: str, plan: ShotPlan) -> np.ndarray:
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except FileNotFoundError as exc:
        raise RenderError(f"the previous shot's last frame is missing: {path}") from exc
    except (OSError, ValueError) as exc:
        raise RenderError(f"the previous shot's last frame cannot be read: {path} ({exc})") from exc
    fitted = ImageOps.fit(image, (plan.width, plan.height), Image.Resampling.LANCZOS)
    return np.asarray(fitted, dtype=np.float32)


def build_layers(request: RenderRequest, plan: ShotPlan) -> Layers:
    tint = style_tint(request.references)
    plate, plate_source = build_plate(request, plan, tint)
    cast = build_cast(request, plan, tint)
    caption, caption_pos = build_caption(request, plan)
    slate, slate_pos, timecode_pos, timecode_font = build_slate(request, plan)
    opening, (hold, dissolve) = None, (0, 0)
    if request.first_frame_path:
        opening, (hold, dissolve) = load_opening(request.first_frame_path, plan), opening_frames(plan.frames, plan.fps)
    return Layers(
        plate=plate, plate_source=plate_source, cast=cast,
        caption=caption, caption_pos=caption_pos,
        slate=slate, slate_pos=slate_pos, timecode_pos=timecode_pos, timecode_font=timecode_font,
        opening=opening, opening_hold=hold, opening_dissolve=dissolve,
    )



# ---- per frame ---------------------------------------------------------------------------------

def _background(layers: Layers, plan: ShotPlan, pose: CameraPose, resample: Image.Resampling) -> Image.Image:
    plate = layers.plate
    zoom = plan.plate_zoom * pose.bg_zoom
    window_w, window_h = plate.width / zoom, plate.height / zoom
    base_w, base_h = plate.width / plan.plate_zoom, plate.height / plan.plate_zoom
    centre_x = plate.width / 2 + plan.plate_offset[0] * base_w - pose.bg_dx * window_w
    centre_y = plate.height / 2 + plan.plate_offset[1] * base_h - pose.bg_dy * window_h
    centre_x = min(max(centre_x, window_w / 2), plate.width - window_w / 2)
    centre_y = min(max(centre_y, window_h / 2), plate.height - window_h / 2)
    box = (centre_x - window_w / 2, centre_y - window_h / 2, centre_x + window_w / 2, centre_y + window_h / 2)
    return plate.resize((plan.width, plan.height), resample, box=box)


def _place_card(frame: Image.Image, placed: PlacedCard, plan: ShotPlan, pose: CameraPose, resample: Image.Resampling) -> None:
    card = placed.card
    x, y, w, h = placed.body_rect
    # Zoom about a point a little above the frame centre, where faces usually are.
    focus_x, focus_y = plan.width / 2, plan.height * 0.42
    centre_x = focus_x + (x + w / 2 - focus_x) * pose.fg_zoom + pose.fg_dx * plan.width
    top = focus_y + (y - focus_y) * pose.fg_zoom + pose.fg_dy * plan.height
    body_w, body_h = w * pose.fg_zoom * pose.fg_squash, h * pose.fg_zoom
    scale_x, scale_y = body_w / card.body_size[0], body_h / card.body_size[1]
    left = centre_x - body_w / 2 - card.body[0] * scale_x
    top -= card.body[1] * scale_y
    _paste_scaled(frame, card.image, left, top, scale_x, scale_y, resample)


def _paste_scaled(frame: Image.Image, image: Image.Image, left: float, top: float, scale_x: float, scale_y: float,
                  resample: Image.Resampling) -> None:
    """Resize only the part of `image` that lands inside the frame, then paste it with its alpha."""
    x0, y0 = max(round(left), 0), max(round(top), 0)
    x1 = min(round(left + image.width * scale_x), frame.width)
    y1 = min(round(top + image.height * scale_y), frame.height)
    if x1 <= x0 or y1 <= y0:
        return
    box = (
        max((x0 - left) / scale_x, 0.0), max((y0 - top) / scale_y, 0.0),
        min((x1 - left) / scale_x, image.width), min((y1 - top) / scale_y, image.height),
    )
    piece = image.resize((x1 - x0, y1 - y0), resample, box=box)
    frame.paste(piece, (x0, y0), piece)


def compose_base(layers: Layers, plan: ShotPlan, pose: CameraPose, *, held: bool = False) -> Image.Image:
    """Everything but the timecode, for one camera pose.

    A held pose (used by several frames in a row) is composed once, so it gets a proper filter;
    a moving pose is sampled with NEAREST from the supersampled layers (see SUPERSAMPLE).
    """
    resample = Image.Resampling.BILINEAR if held else Image.Resampling.NEAREST
    frame = _background(layers, plan, pose, resample)
    for placed in layers.cast:
        _place_card(frame, placed, plan, pose, resample)
    if layers.caption is not None:
        frame.paste(layers.caption, layers.caption_pos, layers.caption)
    frame.paste(layers.slate, layers.slate_pos, layers.slate)
    return frame


def frame_stream(plan: ShotPlan, layers: Layers, on_progress: ProgressCallback) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 frames; reports progress after each and lets the callback cancel."""
    index = 0
    for pose, length in pose_runs(plan.poses):
        base = compose_base(layers, plan, pose, held=length > 1)
        for _ in range(length):
            # A pose used once can take the timecode directly; a held one is copied first.
            frame = base.copy() if length > 1 else base
            ImageDraw.Draw(frame).text(
                layers.timecode_pos,
                f"{timecode(index, plan.fps)}  {index + 1}/{plan.frames}",
                font=layers.timecode_font,
                fill=layers.texts_fill,
            )
            pixels = _with_opening(np.asarray(frame), layers, index)
            index += 1
            on_progress(index, plan.frames)
            yield pixels



def _with_opening(pixels: np.ndarray, layers: Layers, index: int) -> np.ndarray:
    """Frame `index` with the continuity opening over it: the held frame, then a linear dissolve."""
    if layers.opening is None or index >= layers.opening_hold + layers.opening_dissolve:
        return pixels
    shown = 1.0 if index < layers.opening_hold else 1.0 - (index - layers.opening_hold + 1) / (layers.opening_dissolve + 1)
    mixed = layers.opening * shown + pixels.astype(np.float32) * (1.0 - shown)
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
