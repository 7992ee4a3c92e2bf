"""Reference artwork for the demo project, painted in code so the demo needs no downloads.

Characters are cut-outs (a figure on a transparent background) so the animatic can stage them;
locations are plates whose palette follows the heading (interior or exterior, day or night).
"""

from __future__ import annotations

import io
import random
import zlib

from PIL import Image, ImageDraw, ImageFilter

COAT_COLOURS = [(168, 52, 44), (44, 92, 150), (196, 150, 48), (70, 120, 80), (120, 70, 140), (200, 110, 60)]
SKIN_TONES = [(236, 200, 170), (200, 150, 110), (150, 100, 70), (224, 178, 140)]


def _rng(name: str) -> random.Random:
    return random.Random(zlib.crc32(name.encode()))


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def character_png(name: str, size=(480, 720)) -> bytes:
    """A standing figure: coat, head, hair, a readable silhouette on transparency."""
    rng = _rng(name)
    w, h = size
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    coat, skin = rng.choice(COAT_COLOURS), rng.choice(SKIN_TONES)
    hair = tuple(int(c * 0.35) for c in rng.choice(COAT_COLOURS))
    cx = w // 2
    draw.rounded_rectangle([cx - 110, int(h * 0.34), cx + 110, int(h * 0.98)], radius=70, fill=(*coat, 255))
    draw.rectangle([cx - 6, int(h * 0.36), cx + 6, int(h * 0.9)], fill=tuple(int(c * 0.7) for c in coat) + (255,))
    draw.rectangle([cx - 34, int(h * 0.27), cx + 34, int(h * 0.36)], fill=(*skin, 255))
    draw.ellipse([cx - 78, int(h * 0.06), cx + 78, int(h * 0.31)], fill=(*skin, 255))
    draw.chord([cx - 84, int(h * 0.03), cx + 84, int(h * 0.24)], 180, 360, fill=(*hair, 255))
    for dx in (-30, 30):
        draw.ellipse([cx + dx - 8, int(h * 0.17), cx + dx + 8, int(h * 0.19) + 6], fill=(30, 30, 40, 255))
    return _png(image)


def object_png(name: str, size=(400, 400)) -> bytes:
    rng = _rng(name)
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    colour = rng.choice(COAT_COLOURS)
    draw.rounded_rectangle([60, 120, 340, 360], radius=30, fill=(*colour, 255), outline=(30, 30, 30, 255), width=8)
    draw.ellipse([150, 40, 250, 140], fill=(250, 220, 120, 255), outline=(30, 30, 30, 255), width=8)
    return _png(image)


def location_png(name: str, *, interior: bool, night: bool, size=(1280, 720)) -> bytes:
    rng = _rng(name)
    w, h = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    top, bottom = ((12, 18, 40), (40, 50, 90)) if night else ((120, 170, 220), (230, 200, 160))
    for y in range(h):
        t = y / h
        draw.line([(0, y), (w, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    if interior:
        _paint_interior(draw, rng, w, h, night)
    else:
        _paint_exterior(draw, rng, w, h, night, "lighthouse" in name.lower())
    return _png(image.filter(ImageFilter.GaussianBlur(1.2)))


def _paint_interior(draw, rng, w, h, night):
    wall = (70, 52, 40) if night else (150, 120, 90)
    draw.rectangle([0, 0, w, h], fill=wall)
    window = [int(w * 0.58), int(h * 0.16), int(w * 0.86), int(h * 0.56)]
    draw.rectangle(window, fill=(20, 30, 70) if night else (170, 210, 240), outline=(40, 30, 20), width=14)
    draw.line([(window[0] + window[2]) // 2, window[1], (window[0] + window[2]) // 2, window[3]], fill=(40, 30, 20), width=10)
    draw.rectangle([0, int(h * 0.74), w, h], fill=tuple(int(c * 0.6) for c in wall))
    lamp_x = int(w * rng.uniform(0.15, 0.35))
    draw.ellipse([lamp_x - 60, int(h * 0.3) - 60, lamp_x + 60, int(h * 0.3) + 60], fill=(250, 210, 120))


def _paint_exterior(draw, rng, w, h, night, lighthouse):
    horizon = int(h * 0.62)
    if night:
        for _ in range(120):
            x, y = rng.randrange(w), rng.randrange(horizon)
            draw.point((x, y), fill=(230, 230, 255))
    draw.rectangle([0, horizon, w, h], fill=(20, 40, 70) if night else (40, 90, 130))
    for y in range(horizon + 10, h, 18):
        draw.line([(0, y), (w, y)], fill=(60, 90, 130) if night else (90, 140, 180), width=2)
    draw.polygon([(0, h), (0, int(h * 0.55)), (int(w * 0.35), int(h * 0.7)), (int(w * 0.45), h)], fill=(30, 34, 30))
    if lighthouse:
        x = int(w * 0.16)
        draw.polygon([(x - 40, int(h * 0.62)), (x + 40, int(h * 0.62)), (x + 24, int(h * 0.22)), (x - 24, int(h * 0.22))], fill=(235, 235, 230))
        draw.rectangle([x - 30, int(h * 0.16), x + 30, int(h * 0.22)], fill=(250, 220, 110) if night else (60, 60, 60))
        if night:
            draw.polygon([(x, int(h * 0.19)), (w, int(h * 0.05)), (w, int(h * 0.3))], fill=(90, 90, 110))
