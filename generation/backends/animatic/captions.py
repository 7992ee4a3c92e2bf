"""Captions and the slate: the lower-third line, the shot/take/lens slate, and the timecode."""

from __future__ import annotations

import functools
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from generation.timecode import timecode

from ..base import RenderRequest
from .layout import ShotPlan

FONT_CANDIDATES = {
    False: ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf"),
    True: ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "DejaVuSans-Bold.ttf"),
}


@functools.lru_cache(maxsize=64)
def load_font(size: int, bold: bool = False) -> ImageFont.ImageFont:
    """DejaVu Sans when the system has it, else Pillow's own scalable default font."""
    for candidate in (*FONT_CANDIDATES[bold], *FONT_CANDIDATES[False]):
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    found = sorted(Path("/usr/share/fonts").rglob("DejaVuSans*.ttf")) if Path("/usr/share/fonts").is_dir() else []
    if found:
        return ImageFont.truetype(str(found[0]), size)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def fit_text(draw: ImageDraw.ImageDraw, text: str, font, max_width: float) -> str:
    if draw.textlength(text, font=font) <= max_width:
        return text
    while text and draw.textlength(text + "...", font=font) > max_width:
        text = text[:-1]
    return text + "..."


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, max_width: float, max_lines: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if draw.textlength(trial, font=font) <= max_width or not current:
            current = trial
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines:
            break
    if current and len(lines) < max_lines:
        lines.append(current)
    consumed = " ".join(lines).split()
    if len(consumed) < len(text.split()):
        lines[-1] = fit_text(draw, lines[-1] + " " + " ".join(text.split()[len(consumed):]), font, max_width)
    return [fit_text(draw, line, font, max_width) for line in lines]


def build_caption(request: RenderRequest, plan: ShotPlan) -> tuple[Image.Image | None, tuple[int, int]]:
    """The dialogue or action line as a lower-third subtitle on a soft dark band."""
    text = " ".join((request.caption or request.prompt or "").split())
    if not text:
        return None, (0, 0)
    font = load_font(max(int(plan.height / 28), 10))
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    lines = _wrap(measure, text, font, plan.width * 0.8, max_lines=2)
    ascent, descent = font.getmetrics()
    line_height = int((ascent + descent) * 1.15)
    text_width = max(int(measure.textlength(line, font=font)) for line in lines)
    pad_x, pad_y = int(line_height * 0.6), int(line_height * 0.3)
    band = Image.new("RGBA", (text_width + 2 * pad_x, line_height * len(lines) + 2 * pad_y), (0, 0, 0, 0))
    draw = ImageDraw.Draw(band)
    draw.rounded_rectangle([0, 0, band.width - 1, band.height - 1], radius=pad_y * 2, fill=(8, 8, 12, 150))
    for row, line in enumerate(lines):
        centre = (band.width / 2, pad_y + line_height * (row + 0.5))
        draw.text((centre[0] + 1, centre[1] + 1), line, font=font, fill=(0, 0, 0, 200), anchor="mm")
        draw.text(centre, line, font=font, fill=(250, 248, 240, 255), anchor="mm")
    position = ((plan.width - band.width) // 2, int(plan.height * 0.95) - band.height)
    return band, position


MOVE_LABELS = {"static": "locked off"}


def build_slate(request: RenderRequest, plan: ShotPlan):
    """Top-left slate: shot and take, framing, move and lens; the timecode line is drawn per frame."""
    size = max(int(plan.height / 40), 9)
    title_font, body_font = load_font(size, bold=True), load_font(size)
    shot_code, take = request.extra.get("shot_code"), request.extra.get("take_number")
    title = "  ".join(part for part in (f"SHOT {shot_code}" if shot_code else "", f"TAKE {take}" if take not in (None, "") else "") if part) or "ANIMATIC"
    detail = f"{plan.shot_size} · {MOVE_LABELS.get(plan.move, plan.move.replace('_', ' '))} · {request.lens_mm}mm"
    widest_timecode = f"{timecode(plan.frames - 1, plan.fps)}  {plan.frames}/{plan.frames}"
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    ascent, descent = body_font.getmetrics()
    line_height = int((ascent + descent) * 1.2)
    pad = max(line_height // 3, 3)
    inner = max(measure.textlength(t, font=f) for t, f in ((title, title_font), (detail, body_font), (widest_timecode, body_font)))
    slate = Image.new("RGBA", (int(inner) + 2 * pad, 3 * line_height + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(slate)
    draw.rounded_rectangle([0, 0, slate.width - 1, slate.height - 1], radius=pad, fill=(10, 10, 14, 165))
    draw.text((pad, pad), title, font=title_font, fill=(255, 214, 120, 255))
    draw.text((pad, pad + line_height), detail, font=body_font, fill=(235, 235, 230, 255))
    margin = max(int(plan.height * 0.03), 4)
    return slate, (margin, margin), (margin + pad, margin + pad + 2 * line_height), body_font


