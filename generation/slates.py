"""Slates: a card standing in for a shot that has no render yet, so an exported cut keeps its
length and says what is missing instead of jumping over it. Drawn with the animatic's fonts and
encoded to the house format through media.py (the one ffmpeg layer underneath)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from generation.backends.animatic.captions import _wrap, fit_text, load_font
from generation.media import HouseFormat, encode_frames

SLATE_BACKGROUND = (34, 36, 44)
SLATE_STRIPE = (200, 60, 50)  # a red band across the top: "not rendered"


@dataclass(frozen=True)
class Slate:
    shot_code: str
    heading: str
    description: str
    frames: int
    label: str = "NOT RENDERED YET"


def slate_image(slate: Slate, fmt: HouseFormat) -> np.ndarray:
    """The card as an RGB frame of the house size."""
    width, height = fmt.width, fmt.height
    image = Image.new("RGB", (width, height), SLATE_BACKGROUND)
    draw = ImageDraw.Draw(image)
    stripe = max(height // 9, 6)
    draw.rectangle([0, 0, width, stripe], fill=SLATE_STRIPE)
    margin = max(width // 16, 6)
    label_font = load_font(max(stripe // 2, 8), bold=True)
    draw.text((margin, stripe // 2), slate.label, font=label_font, fill=(255, 255, 255), anchor="lm")
    title_font = load_font(max(height // 9, 10), bold=True)
    body_font = load_font(max(height // 22, 8))
    y = stripe + max(height // 12, 6)
    draw.text((margin, y), fit_text(draw, f"SHOT {slate.shot_code}", title_font, width - 2 * margin), font=title_font,
              fill=(255, 214, 120))
    y += int(sum(title_font.getmetrics()) * 1.3)
    if slate.heading:
        draw.text((margin, y), fit_text(draw, slate.heading, body_font, width - 2 * margin), font=body_font, fill=(200, 200, 205))
        y += int(sum(body_font.getmetrics()) * 1.6)
    line_height = int(sum(body_font.getmetrics()) * 1.25)
    room = max(1, (height - y - margin) // max(line_height, 1))
    for line in _wrap(draw, " ".join(slate.description.split()), body_font, width - 2 * margin, max_lines=room) if slate.description else []:
        draw.text((margin, y), line, font=body_font, fill=(240, 240, 235))
        y += line_height
    return np.asarray(image, dtype=np.uint8)


def slate_key(slate: Slate, fmt: HouseFormat) -> str:
    payload = json.dumps({"slate": asdict(slate), "fmt": asdict(fmt), "v": 1}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def render_slate(slate: Slate, fmt: HouseFormat, cache_dir: Path, *, timeout: float = 600) -> Path:
    """The slate as a house-format clip of `slate.frames` frames, cached by content in `cache_dir`."""
    if slate.frames < 1:
        raise ValueError("a slate lasts at least one frame")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"slate-{slate_key(slate, fmt)}.mp4"
    if not path.exists():
        frame = slate_image(slate, fmt)
        encode_frames((frame for _ in range(slate.frames)), fmt, path, expected_frames=slate.frames, timeout=timeout)
    return path
