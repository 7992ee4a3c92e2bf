"""Region edits: a reviewer's drawing on a frame becomes a mask, and a re-render changes only what
is inside it.

Pure engine code (no Django). The studio stores drawings as strokes whose points are fractions of
the frame (`{"strokes": [{"color", "width", "points": [[x, y], ...]}]}`); `region_mask` turns them
into a greyscale mask, white inside the region: each stroke's outline is filled (a loop drawn
round a face marks the face) and the stroke itself counts at least `MIN_STROKE_FRACTION` of the
frame wide (a short scribble still marks something).

- `wan`: VACE regenerates where the mask is white and keeps the rest of `video`
  (`vace_region_inputs`: the take's frames and one mask per frame, at the rendered shape).
- `animatic`: the region is highlighted on every frame of the re-render (`highlight_region`),
  so the whole loop runs, and can be tested, on a CPU.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

MIN_STROKE_FRACTION = 0.02  # of the frame's longer side
HIGHLIGHT_RGB = (255, 90, 95)  # the review room's drawing colour
HIGHLIGHT_ALPHA = 0.35


class RegionError(ValueError):
    """The drawing marks no region (no strokes, or every point off the frame)."""


def region_mask(strokes: Sequence[dict], width: int, height: int) -> Image.Image:
    """An "L" image of `width` x `height`, 255 inside the drawn region, 0 outside."""
    if width < 1 or height < 1:
        raise RegionError(f"a mask needs a size, got {width}x{height}")
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    longer = max(width, height)
    for stroke in strokes or ():
        points = [(float(x) * width, float(y) * height) for x, y in stroke.get("points", ())]
        if not points:
            continue
        line_width = max(1, round(max(float(stroke.get("width") or 0), MIN_STROKE_FRACTION) * longer))
        if len(points) >= 3:
            draw.polygon(points, fill=255)
        if len(points) >= 2:
            draw.line(points, fill=255, width=line_width, joint="curve")
        radius = line_width / 2  # round caps, and a lone tap marks a dot
        for x, y in (points[0], points[-1]):
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=255)
    if mask.getbbox() is None:
        raise RegionError("The drawing marks no region of the frame: draw round what should change.")
    return mask


def save_region_mask(strokes: Sequence[dict], width: int, height: int, path: Path) -> Path:
    """Write the mask as PNG, atomically (temp name, then rename). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        region_mask(strokes, width, height).save(temp, format="PNG")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def load_region_mask(path: str | Path, size: tuple[int, int]) -> Image.Image:
    """The stored mask as "L" at `size` (width, height), thresholded so it stays binary when scaled."""
    with Image.open(path) as image:
        mask = image.convert("L")
    if mask.size != tuple(size):
        mask = mask.resize(tuple(size), Image.Resampling.BILINEAR)
    return mask.point(lambda value: 255 if value >= 128 else 0)


def vace_region_inputs(frames: Sequence[np.ndarray], mask: Image.Image, *, width: int, height: int,
                       count: int) -> tuple[list[Image.Image], list[Image.Image]]:
    """(video, mask) for `WanVACEPipeline`: `count` frames of the source take at `width` x `height`
    (the last frame held if the take is shorter, extra frames dropped), and the same mask for every
    frame, white where VACE regenerates and black where it keeps the source."""
    if not len(frames):
        raise RegionError("the source take has no frames to keep outside the region")
    size = (width, height)
    video = []
    for index in range(count):
        frame = Image.fromarray(np.asarray(frames[min(index, len(frames) - 1)], dtype=np.uint8)).convert("RGB")
        video.append(frame if frame.size == size else frame.resize(size, Image.Resampling.BICUBIC))
    scaled = mask.convert("L")
    scaled = scaled if scaled.size == size else scaled.resize(size, Image.Resampling.BILINEAR)
    scaled = scaled.point(lambda value: 255 if value >= 128 else 0)
    if scaled.getbbox() is None:
        raise RegionError("the region vanishes at the rendered size: draw a larger region")
    return video, [scaled] * count


def highlight_region(frames: Iterable[np.ndarray], mask: Image.Image) -> Iterator[np.ndarray]:
    """Each frame with the region tinted and outlined, so a re-render shows what a note asked to
    change (the animatic cannot regenerate pixels, but the loop can still be watched and tested)."""
    tint_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    colour = np.array(HIGHLIGHT_RGB, dtype=np.float32)
    for frame in frames:
        height, width = frame.shape[:2]
        if (width, height) not in tint_cache:
            scaled = mask.convert("L").resize((width, height), Image.Resampling.BILINEAR).point(lambda v: 255 if v >= 128 else 0)
            grown = scaled.filter(ImageFilter.MaxFilter(5))
            edge = ImageChops.subtract(grown, scaled.filter(ImageFilter.MinFilter(3)))
            tint_cache[(width, height)] = (np.asarray(scaled) > 0, np.asarray(edge) > 0)
        inside, edge = tint_cache[(width, height)]
        out = frame.astype(np.float32)
        out[inside] = out[inside] * (1 - HIGHLIGHT_ALPHA) + colour * HIGHLIGHT_ALPHA
        out[edge] = colour
        yield out.astype(np.uint8)
