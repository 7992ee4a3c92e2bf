"""Drawing the layers once per render: the plate (the location, or a seeded backdrop), and the
cast as cut-outs or framed cards with shadows and name tags, tinted by the style references."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps, UnidentifiedImageError

from ..base import Reference, RenderError, RenderRequest
from .captions import fit_text, load_font
from .layout import MAX_LAYER_SCALE, Card, PlacedCard, ShotPlan, cast_members, lay_out

def _load_reference_image(path: str, ref: Reference, max_side: int) -> Image.Image:
    """Open a reference image (EXIF-rotated, shrunk to what we need) or say clearly which one failed."""
    name = Path(path).name
    try:
        with Image.open(path) as opened:
            opened.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced size, much faster
            image = ImageOps.exif_transpose(opened)
            image.load()
    except FileNotFoundError as exc:
        raise RenderError(f"reference image for @{ref.handle} is missing: {name}") from exc
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise RenderError(f"reference image for @{ref.handle} cannot be read: {name} ({exc})") from exc
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    return image


def style_tint(references: tuple[Reference, ...]) -> tuple[int, int, int] | None:
    """The average colour of the style references: a grade laid over the whole frame."""
    colours = []
    for ref in references:
        if ref.kind == "style" and ref.primary_image:
            thumb = np.asarray(_load_reference_image(ref.primary_image, ref, 64).convert("RGBA"), dtype=np.float32)
            weights = thumb[..., 3].reshape(-1, 1) + 1e-3  # transparent pixels carry no colour
            colours.append((thumb[..., :3].reshape(-1, 3) * weights).sum(axis=0) / weights.sum())
    if not colours:
        return None
    return tuple(int(c) for c in np.mean(colours, axis=0))


def _apply_tint(image: Image.Image, tint: tuple[int, int, int] | None, strength: float = 0.18) -> Image.Image:
    if tint is None:
        return image
    return Image.blend(image, Image.new(image.mode, image.size, tint), strength)


# ---- the plate --------------------------------------------------------------------------------

def _plate_work_size(plan: ShotPlan) -> tuple[int, int]:
    # Enough detail that the tightest window of the shot maps about 1:1 onto the output.
    deepest = plan.plate_zoom * max(p.bg_zoom for p in plan.poses)
    scale = min(deepest, MAX_LAYER_SCALE)
    return max(round(plan.width * scale), 2), max(round(plan.height * scale), 2)


def _supersampled(image: Image.Image, factor: int) -> Image.Image:
    if factor == 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.BILINEAR)


def build_plate(request: RenderRequest, plan: ShotPlan, tint) -> tuple[Image.Image, str]:
    size = _plate_work_size(plan)
    location = next((r for r in request.references if r.kind == "location" and r.primary_image), None)
    if location is not None:
        source = _load_reference_image(location.primary_image, location, max(size)).convert("RGB")
        plate = ImageOps.fit(source, size, Image.Resampling.BICUBIC)
        plate_source = f"location:@{location.handle}"
    else:
        plate = generated_backdrop(size, plan.rng("backdrop"))
        plate_source = "generated"
    # Shallow focus for close shots: blur in plate pixels, scaled from pixels at 720 lines.
    blur = plan.framing.depth_blur * plan.height / 720 * size[0] / (plan.width * plan.plate_zoom)
    if blur >= 0.5:
        plate = plate.filter(ImageFilter.GaussianBlur(blur))
    return _supersampled(_apply_tint(plate, tint), plan.layer_scale), plate_source


BACKDROP_PALETTES = [
    # sky top, sky at horizon, far hills, near hills, ground near, sun
    ((32, 48, 86), (226, 150, 112), (112, 84, 110), (66, 52, 78), (38, 34, 44), (255, 214, 160)),  # dusk
    ((86, 134, 190), (214, 226, 232), (124, 150, 164), (86, 112, 104), (70, 84, 62), (255, 252, 236)),  # day
    ((10, 16, 36), (40, 62, 104), (36, 48, 76), (22, 30, 48), (14, 16, 24), (214, 224, 255)),  # night
    ((118, 124, 132), (196, 196, 192), (138, 140, 138), (100, 104, 100), (76, 78, 74), (236, 236, 230)),  # overcast
    ((64, 88, 140), (248, 196, 150), (150, 122, 126), (98, 86, 96), (60, 52, 54), (255, 230, 190)),  # dawn
]


def generated_backdrop(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A deterministic graded backdrop (sky, sun glow, two hill lines, ground with a subtle grid).

    Drawn at half size and scaled up once: gradients only get smoother, and it is four times cheaper.
    """
    width, height = max(size[0] // 2, 2), max(size[1] // 2, 2)
    sky_top, horizon_col, far_col, near_col, ground_col, sun_col = BACKDROP_PALETTES[int(rng.integers(len(BACKDROP_PALETTES)))]
    horizon = int(height * rng.uniform(0.55, 0.68))
    image = _vertical_gradient(width, height, horizon, sky_top, horizon_col, ground_col)
    _draw_sun(image, rng, horizon, sun_col)
    draw = ImageDraw.Draw(image)
    _draw_hills(draw, rng, width, horizon, height * 0.10, _mix(far_col, horizon_col, 0.35))
    _draw_hills(draw, rng, width, horizon, height * 0.05, near_col)
    _draw_ground_grid(draw, width, height, horizon, _mix(ground_col, horizon_col, 0.25))
    draw.line([(0, horizon), (width, horizon)], fill=_mix(horizon_col, (255, 255, 255), 0.3), width=1)
    image = _vignette(image)
    return image.resize(size, Image.Resampling.BICUBIC)


def _mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _vertical_gradient(width: int, height: int, horizon: int, top, middle, bottom) -> Image.Image:
    rows = np.zeros((height, 1, 3), dtype=np.float32)
    sky = np.linspace(0, 1, max(horizon, 1), dtype=np.float32)[:, None] ** 1.6
    rows[:horizon, 0] = np.array(top) + (np.array(middle) - np.array(top)) * sky
    ground = np.linspace(0, 1, max(height - horizon, 1), dtype=np.float32)[:, None] ** 0.7
    rows[horizon:, 0] = np.array(_mix(middle, bottom, 0.6)) + (np.array(bottom) - np.array(_mix(middle, bottom, 0.6))) * ground
    column = Image.fromarray(rows.clip(0, 255).astype(np.uint8), "RGB")
    return column.resize((width, height), Image.Resampling.NEAREST)


def _draw_sun(image: Image.Image, rng: np.random.Generator, horizon: int, colour) -> None:
    width, height = image.size
    radius = height * rng.uniform(0.05, 0.09)
    cx, cy = width * rng.uniform(0.15, 0.85), horizon * rng.uniform(0.35, 0.8)
    glow = Image.new("L", image.size, 0)
    ImageDraw.Draw(glow).ellipse([cx - radius * 3, cy - radius * 3, cx + radius * 3, cy + radius * 3], fill=70)
    glow = glow.filter(ImageFilter.GaussianBlur(radius * 1.5))
    ImageDraw.Draw(glow).ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=235)
    image.paste(Image.new("RGB", image.size, colour), (0, 0), glow.filter(ImageFilter.GaussianBlur(1.5)))


def _draw_hills(draw: ImageDraw.ImageDraw, rng: np.random.Generator, width: int, horizon: int, amplitude: float, colour) -> None:
    xs = np.linspace(0, width, 64)
    profile = np.zeros_like(xs)
    for octave in (1, 2, 4):
        profile += np.sin(xs / width * math.pi * (1.5 + rng.uniform(0, 1.5)) * octave + rng.uniform(0, 2 * math.pi)) / octave
    ys = horizon - amplitude * (0.6 + 0.4 * profile / 1.75)
    draw.polygon([(0, horizon + 1), *zip(xs.tolist(), ys.tolist()), (width, horizon + 1)], fill=colour)


def _draw_ground_grid(draw: ImageDraw.ImageDraw, width: int, height: int, horizon: int, colour) -> None:
    # Perspective lines to a vanishing point: they make any camera move read clearly.
    vanishing_x = width / 2
    for k in range(-10, 11):
        draw.line([(vanishing_x, horizon), (vanishing_x + k * width * 0.16, height)], fill=colour, width=1)
    depth = height - horizon
    for step in range(1, 7):
        y = horizon + depth * (step / 7) ** 2
        draw.line([(0, y), (width, y)], fill=colour, width=1)


def _vignette(image: Image.Image) -> Image.Image:
    ys, xs = np.mgrid[-1:1:18j, -1:1:32j]
    falloff = (1 - 0.35 * np.clip(xs**2 * 0.6 + ys**2, 0, 1) ** 1.5) * 255
    mask = Image.fromarray(falloff.astype(np.uint8), "L").resize(image.size, Image.Resampling.BICUBIC)
    return Image.composite(image, Image.new("RGB", image.size, (0, 0, 0)), mask)


# ---- the cast ---------------------------------------------------------------------------------

def build_cast(request: RenderRequest, plan: ShotPlan, tint) -> list[PlacedCard]:
    members = cast_members(request.references, plan.shot_size)
    if not members:
        return []
    body_height = plan.framing.cast_height * plan.height
    render_height = min(body_height * plan.fg_prescale, MAX_LAYER_SCALE * plan.height)
    render_height = max(int(round(render_height)), 8)
    cards = [_apply_card_tint(make_card(ref, render_height), tint) for ref in members]
    cards = [_supersampled_card(card, plan.layer_scale) for card in cards]
    return lay_out(cards, plan, body_height)


def _supersampled_card(card: Card, factor: int) -> Card:
    body = tuple(v * factor for v in card.body)
    return Card(handle=card.handle, image=_supersampled(card.image, factor), body=body)


def _apply_card_tint(card: Card, tint) -> Card:
    if tint is None:
        return card
    alpha = card.image.getchannel("A")
    tinted = _apply_tint(card.image.convert("RGB"), tint)
    tinted.putalpha(alpha)
    return Card(handle=card.handle, image=tinted, body=card.body)



def make_card(ref: Reference, body_height: int) -> Card:
    """A cut-out if the reference image has transparency, otherwise a framed print with a label."""
    if ref.primary_image is None:
        return _framed_card(_silhouette(ref), ref.handle, body_height)
    image = _load_reference_image(ref.primary_image, ref, max(body_height * 2, 64))
    cutout = _as_cutout(image)
    if cutout is not None:
        return _cutout_card(cutout, ref.handle, body_height)
    return _framed_card(image.convert("RGB"), ref.handle, body_height)


def _as_cutout(image: Image.Image) -> Image.Image | None:
    """The image cropped to its opaque part, if it really has transparency; else None."""
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return None
    rgba = image.convert("RGBA")
    alpha = rgba.getchannel("A")
    low, _ = alpha.getextrema()
    if low > 200:
        return None  # an alpha channel that is opaque everywhere: treat as a photo
    bbox = alpha.point(lambda a: 255 if a > 16 else 0).getbbox()
    return rgba.crop(bbox) if bbox else None


def _silhouette(ref: Reference) -> Image.Image:
    """A stand-in for a cast member without an image (a figure, or a box for an object),
    coloured by their handle so two stand-ins are told apart."""
    digest = hashlib.sha256(ref.handle.encode()).digest()
    colour = (70 + digest[0] % 120, 70 + digest[1] % 120, 70 + digest[2] % 120)
    image = Image.new("RGB", (300, 400), _mix(colour, (235, 232, 225), 0.75))
    draw = ImageDraw.Draw(image)
    if ref.kind == "object":
        draw.rounded_rectangle([70, 150, 230, 330], radius=18, fill=colour)
        draw.ellipse([70, 120, 230, 180], fill=_mix(colour, (255, 255, 255), 0.25))
    else:
        draw.ellipse([105, 70, 195, 170], fill=colour)
        draw.rounded_rectangle([60, 185, 240, 420], radius=70, fill=colour)
    return image


def _framed_card(photo: Image.Image, handle: str, body_height: int) -> Card:
    border = max(int(body_height * 0.03), 1)
    label_band = max(int(body_height * 0.11), 8)
    photo_height = max(body_height - border - label_band, 4)
    aspect = min(max(photo.width / photo.height, 0.5), 1.6)
    photo_width = max(int(round(photo_height * aspect)), 4)
    photo = ImageOps.fit(photo, (photo_width, photo_height), Image.Resampling.BICUBIC)
    body_width = photo_width + 2 * border
    body = Image.new("RGB", (body_width, body_height), (244, 242, 236))
    body.paste(photo, (border, border))
    draw = ImageDraw.Draw(body)
    font = load_font(max(int(label_band * 0.5), 8), bold=True)
    draw.text((body_width / 2, body_height - label_band / 2), fit_text(draw, f"@{handle}", font, body_width - 2 * border),
              font=font, fill=(48, 46, 44), anchor="mm")
    return _with_shadow(body.convert("RGBA"), handle, body_height)


def _cutout_card(figure: Image.Image, handle: str, body_height: int) -> Card:
    width = max(int(round(figure.width * body_height / figure.height)), 1)
    figure = figure.resize((width, body_height), Image.Resampling.BICUBIC)
    card = _with_shadow(figure, handle, body_height)
    _draw_name_tag(card, handle, body_height)
    return card


def _with_shadow(body: Image.Image, handle: str, body_height: int) -> Card:
    """Pad the body with a soft drop shadow; the shadow is black at partial alpha."""
    blur = max(body_height * 0.025, 1.0)
    offset = (int(body_height * 0.015), int(body_height * 0.025))
    pad = int(blur * 3) + max(offset)
    canvas_size = (body.width + 2 * pad, body.height + 2 * pad)
    shadow_alpha = Image.new("L", canvas_size, 0)
    shadow_alpha.paste(body.getchannel("A").point(lambda a: a // 2), (pad + offset[0], pad + offset[1]))
    shadow_alpha = shadow_alpha.filter(ImageFilter.GaussianBlur(blur))
    canvas = Image.new("RGBA", canvas_size, (0, 0, 0, 0))
    canvas.putalpha(shadow_alpha)
    canvas.alpha_composite(body, (pad, pad))
    return Card(handle=handle, image=canvas, body=(pad, pad, pad + body.width, pad + body.height))


def _draw_name_tag(card: Card, handle: str, body_height: int) -> None:
    """A small dark tag at a cut-out's feet, so the reviewer knows who is who."""
    draw = ImageDraw.Draw(card.image)
    font = load_font(max(int(body_height * 0.045), 8), bold=True)
    x0, _, x1, y1 = card.body
    text = f"@{handle}"
    left, top, right, bottom = draw.textbbox(((x0 + x1) / 2, y1 - body_height * 0.04), text, font=font, anchor="mm")
    pad = max((bottom - top) * 0.35, 2)
    draw.rounded_rectangle([left - pad, top - pad, right + pad, bottom + pad], radius=pad * 1.5, fill=(20, 20, 24, 190))
    draw.text(((x0 + x1) / 2, y1 - body_height * 0.04), text, font=font, fill=(240, 240, 236, 255), anchor="mm")

