"""The CPU animatic: a watchable previsualisation composed from the shot's cast references.

The location reference becomes the plate (or a seeded graded backdrop when there is none), the
character and object references stand on it as cut-outs or framed cards, the shot size decides how
close we are, the camera move animates background and cast at different speeds (parallax), and a
lower-third caption plus a slate tell the reviewer what they are looking at.

Speed comes from doing the expensive work once: `build_layers` loads, scales, tints and blurs
everything before the first frame; per frame we only crop-resize the plate, paste the cards,
and draw the changing timecode. Identical camera poses (a static shot) reuse the composed frame.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps, UnidentifiedImageError

from generation.timecode import timecode

from .base import ProgressCallback, Reference, RenderError, RenderRequest, RenderResult

MODEL_ID = "continuity-animatic"
REVISION = "1"

MAX_FRAMES = 24 * 60 * 10  # ten minutes at 24 fps; anything longer is a mistake, not a shot
MAX_SIDE = 4096
# Per frame, a bilinear resize of a 720p frame costs ~13 ms in Pillow, too slow for the budget
# (a 5 s shot rendered and encoded in half real time on two cores). So each moving layer is built
# at the size it appears, then upscaled once, bilinearly, to twice that; per frame it is sampled
# with NEAREST (under 1 ms). Sampling a bilinearly upscaled image at the nearest half pixel is
# close to a bilinear resample of the original. Held poses (a locked-off shot) are composed once
# with a proper filter instead.
SUPERSAMPLE = 2
MAX_LAYER_SCALE = 1.5  # plate and card detail, relative to the output: bounds memory for deep zooms


# --------------------------------------------------------------------------------------------
# Shot grammar: framing per shot size, and camera moves
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShotFraming:
    plate_zoom: float  # how far into the location the camera looks (1 = the whole plate)
    cast_height: float  # height of a cast card's body, as a fraction of the frame height
    cast_top: float  # where the top of the cards sits, as a fraction of the frame height
    max_cast: int  # how many cast members this framing can hold
    depth_blur: float  # background blur (pixels at 720 lines): close shots have shallow focus


SHOT_FRAMINGS: dict[str, ShotFraming] = {
    # Wide shots keep the cast's feet above the caption; from MS on, the frame cuts them.
    "EWS": ShotFraming(1.00, 0.20, 0.52, 8, 0.0),
    "WS": ShotFraming(1.08, 0.36, 0.40, 6, 0.0),
    "MWS": ShotFraming(1.16, 0.54, 0.27, 5, 0.8),
    "MS": ShotFraming(1.25, 0.80, 0.22, 4, 1.5),
    "MCU": ShotFraming(1.35, 1.00, 0.12, 2, 2.5),
    "CU": ShotFraming(1.50, 1.30, 0.06, 1, 4.0),
    "ECU": ShotFraming(1.70, 2.00, -0.25, 1, 6.0),
    "INSERT": ShotFraming(1.60, 0.75, 0.13, 1, 5.0),
}

SHOT_SIZE_ALIASES = {
    "XWS": "EWS", "ELS": "EWS", "XLS": "EWS", "EXTREME WIDE": "EWS", "EXTREME WIDE SHOT": "EWS",
    "LS": "WS", "FS": "WS", "WIDE": "WS", "WIDE SHOT": "WS", "LONG SHOT": "WS", "FULL SHOT": "WS",
    "MLS": "MWS", "MEDIUM WIDE": "MWS", "MEDIUM LONG SHOT": "MWS", "COWBOY": "MWS",
    "MEDIUM": "MS", "MEDIUM SHOT": "MS", "MID": "MS", "OTS": "MS", "TWO SHOT": "MS",
    "MEDIUM CLOSE UP": "MCU", "MEDIUM CLOSEUP": "MCU",
    "CLOSE UP": "CU", "CLOSEUP": "CU", "CLOSE": "CU",
    "BCU": "ECU", "XCU": "ECU", "EXTREME CLOSE UP": "ECU", "EXTREME CLOSEUP": "ECU",
    "INS": "INSERT", "INSERT SHOT": "INSERT",
}

CAMERA_MOVE_ALIASES = {
    "push": "push_in", "dolly_in": "push_in", "push_in": "push_in",
    "pull": "pull_out", "pull_back": "pull_out", "dolly_out": "pull_out", "pull_out": "pull_out",
    "truck_left": "track_left", "dolly_left": "track_left",
    "truck_right": "track_right", "dolly_right": "track_right",
    "orbit": "orbit_right", "arc_left": "orbit_left", "arc_right": "orbit_right",
    "hand_held": "handheld", "shaky": "handheld",
    "boom_up": "crane_up", "pedestal_up": "crane_up", "boom_down": "crane_down", "pedestal_down": "crane_down",
    "locked": "static", "locked_off": "static", "none": "static", "": "static",
}


def normalise_shot_size(shot_size: str) -> str:
    """Canonical shot size (EWS, WS, MWS, MS, MCU, CU, ECU, INSERT); unknown sizes are MS."""
    key = " ".join((shot_size or "").upper().replace("-", " ").replace("_", " ").replace("/", " ").split())
    if key in SHOT_FRAMINGS:
        return key
    return SHOT_SIZE_ALIASES.get(key, SHOT_SIZE_ALIASES.get(key.replace(" ", ""), "MS"))


@dataclass(frozen=True)
class CameraPose:
    """Where the camera is at one frame, relative to the shot's base framing.

    Shifts are in screen widths/heights (positive: the scene moves right/down on screen);
    zooms are magnifications. The background and the cast get separate values: that difference
    is the parallax that makes a dolly or an orbit read as depth.
    """

    bg_dx: float = 0.0
    bg_dy: float = 0.0
    bg_zoom: float = 1.0
    fg_dx: float = 0.0
    fg_dy: float = 0.0
    fg_zoom: float = 1.0
    fg_squash: float = 1.0  # horizontal scale of the cards: an orbit turns them slightly


def _ease(t: float) -> float:
    """Ease in and out, like a camera operator starting and landing a move."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


def _static(s: float) -> CameraPose:
    return CameraPose()


def _push_in(s: float) -> CameraPose:
    # A dolly: the cast (near) grows faster than the location (far).
    return CameraPose(bg_zoom=1 + 0.16 * s, fg_zoom=1 + 0.30 * s)


def _pull_out(s: float) -> CameraPose:
    return _push_in(1 - s)


def _zoom_in(s: float) -> CameraPose:
    # An optical zoom magnifies everything equally: no parallax, unlike a push-in.
    return CameraPose(bg_zoom=1 + 0.25 * s, fg_zoom=1 + 0.25 * s)


def _zoom_out(s: float) -> CameraPose:
    return _zoom_in(1 - s)


def _pan(direction: float):
    # A pan rotates the camera: near and far move together. Centred so the base framing is mid-move.
    def pose(s: float) -> CameraPose:
        shift = direction * 0.15 * (2 * s - 1)
        return CameraPose(bg_dx=shift, fg_dx=shift)

    return pose


def _tilt(direction: float):
    def pose(s: float) -> CameraPose:
        shift = direction * 0.10 * (2 * s - 1)
        return CameraPose(bg_dy=shift, fg_dy=shift)

    return pose


def _track(direction: float):
    # The camera travels sideways: the cast slides past faster than the location behind it.
    def pose(s: float) -> CameraPose:
        c = 2 * s - 1
        return CameraPose(bg_dx=direction * 0.06 * c, fg_dx=direction * 0.20 * c)

    return pose


def _orbit(direction: float):
    # Circling the subject: the background sweeps one way, the cast drifts the other and turns.
    def pose(s: float) -> CameraPose:
        c = 2 * s - 1
        return CameraPose(
            bg_dx=direction * 0.16 * c,
            fg_dx=-direction * 0.04 * c,
            fg_squash=math.cos(0.45 * c),
            fg_zoom=1.0 + 0.03 * math.cos(0.5 * math.pi * c),
        )

    return pose


def _crane(direction: float):
    # Rising: near things drop out of frame faster than the far plate, with a slight reveal.
    def pose(s: float) -> CameraPose:
        c = 2 * s - 1
        return CameraPose(
            bg_dy=direction * 0.06 * c,
            fg_dy=direction * 0.18 * c,
            bg_zoom=1.0 + 0.015 * (1 - direction * c),
        )

    return pose


CAMERA_MOVES = {
    "static": _static,
    "push_in": _push_in,
    "pull_out": _pull_out,
    "zoom_in": _zoom_in,
    "zoom_out": _zoom_out,
    "pan_left": _pan(+1),  # camera turns left, so the scene slides right
    "pan_right": _pan(-1),
    "tilt_up": _tilt(+1),  # camera tilts up, so the scene slides down
    "tilt_down": _tilt(-1),
    "track_left": _track(+1),
    "track_right": _track(-1),
    "orbit_left": _orbit(+1),
    "orbit_right": _orbit(-1),
    "crane_up": _crane(+1),
    "crane_down": _crane(-1),
    "handheld": _static,  # the shake is added on top, see _handheld_shake
}


def normalise_camera_move(camera_move: str) -> str:
    """Canonical camera move name; unknown moves fall back to "static"."""
    key = "_".join((camera_move or "").lower().replace("-", " ").split())
    key = CAMERA_MOVE_ALIASES.get(key, key)
    return key if key in CAMERA_MOVES else "static"


def camera_poses(move: str, frames: int, fps: int, rng: np.random.Generator) -> list[CameraPose]:
    """One pose per frame for a canonical move (see normalise_camera_move)."""
    pose_at = CAMERA_MOVES[move]
    span = max(frames - 1, 1)
    poses = [pose_at(_ease(i / span)) for i in range(frames)]
    if move == "handheld":
        poses = _handheld_shake(poses, fps, rng)
    return poses


def _handheld_shake(poses: list[CameraPose], fps: int, rng: np.random.Generator) -> list[CameraPose]:
    """Add a seeded, smooth shake: a few slow sines per axis, so it sways rather than jitters."""
    freqs = rng.uniform(0.25, 1.6, size=(3, 3))
    phases = rng.uniform(0, 2 * math.pi, size=(3, 3))
    weights = np.array([0.55, 0.3, 0.15])

    def wobble(axis: int, seconds: float) -> float:
        return float(np.sum(weights * np.sin(2 * math.pi * freqs[axis] * seconds + phases[axis])))

    shaken = []
    for i, pose in enumerate(poses):
        seconds = i / max(fps, 1)
        dx, dy, breathe = 0.007 * wobble(0, seconds), 0.006 * wobble(1, seconds), 0.004 * wobble(2, seconds)
        shaken.append(CameraPose(
            bg_dx=pose.bg_dx + dx, bg_dy=pose.bg_dy + dy, bg_zoom=pose.bg_zoom * (1.01 + breathe),
            fg_dx=pose.fg_dx + dx * 1.15, fg_dy=pose.fg_dy + dy * 1.15, fg_zoom=pose.fg_zoom * (1.01 + breathe),
            fg_squash=pose.fg_squash,
        ))
    return shaken


# --------------------------------------------------------------------------------------------
# The plan: everything about the shot that is pure arithmetic on the request
# --------------------------------------------------------------------------------------------

@dataclass
class ShotPlan:
    width: int
    height: int
    frames: int
    fps: int
    shot_size: str
    move: str
    framing: ShotFraming
    poses: list[CameraPose]
    plate_zoom: float  # base magnification into the plate, with room for the move
    plate_offset: tuple[float, float]  # seeded off-centre framing, in base screen widths/heights
    fg_prescale: float  # the largest cast magnification in the shot: cards are pre-rendered at it
    layer_scale: int  # SUPERSAMPLE when some frame moves; 1 for a shot whose pose never changes
    seed: int

    def rng(self, purpose: str) -> np.random.Generator:
        return seeded_rng(self.seed, purpose)


def seeded_rng(seed: int, purpose: str) -> np.random.Generator:
    """A generator per purpose (camera, framing, backdrop, layout), so that e.g. changing the
    camera move of a shot keeps its backdrop, and the order of the calls does not matter."""
    purpose_key = int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:8], "little")
    return np.random.default_rng([int(seed) % (2**64), purpose_key])


def plan_shot(request: RenderRequest) -> ShotPlan:
    _validate(request)
    shot_size = normalise_shot_size(request.shot_size)
    move = normalise_camera_move(request.camera_move)
    framing = SHOT_FRAMINGS[shot_size]
    poses = camera_poses(move, request.frames, request.fps, seeded_rng(request.seed, "camera"))
    plate_zoom, offset = _plate_zoom_and_offset(framing, request.lens_mm, poses, seeded_rng(request.seed, "framing"))
    return ShotPlan(
        width=request.width, height=request.height, frames=request.frames, fps=request.fps,
        shot_size=shot_size, move=move, framing=framing, poses=poses,
        plate_zoom=plate_zoom, plate_offset=offset,
        fg_prescale=max(p.fg_zoom for p in poses),
        layer_scale=SUPERSAMPLE if any(length == 1 for _, length in _pose_runs(poses)) else 1,
        seed=int(request.seed),
    )


def _validate(request: RenderRequest) -> None:
    if not 1 <= request.frames <= MAX_FRAMES:
        raise RenderError(f"an animatic needs between 1 and {MAX_FRAMES} frames, not {request.frames}")
    if not (16 <= request.width <= MAX_SIDE and 16 <= request.height <= MAX_SIDE):
        raise RenderError(f"frame size {request.width}x{request.height} is outside 16..{MAX_SIDE} pixels")
    if request.fps < 1:
        raise RenderError(f"frame rate must be at least 1, not {request.fps}")


def _plate_zoom_and_offset(framing: ShotFraming, lens_mm: int, poses: list[CameraPose], rng: np.random.Generator):
    """How far into the plate to look, so the whole move stays on the plate, and a seeded offset."""
    # A longer lens sees less of the location; kept gentle so a 100 mm MS is not an ECU of a wall.
    lens_factor = min(max((max(lens_mm, 1) / 35.0) ** 0.4, 0.85), 1.5)
    min_zoom = min(p.bg_zoom for p in poses)
    reach_x = max(abs(p.bg_dx) for p in poses)
    reach_y = max(abs(p.bg_dy) for p in poses)
    # At magnification Z the window can slide (Z - 1) / 2 screen widths either way.
    needed = max(1 + 2 * reach_x, 1 + 2 * reach_y) / min_zoom
    zoom = max(framing.plate_zoom * lens_factor, needed + 0.04, 1.04)
    spare_x = max((zoom * min_zoom - 1) / 2 - reach_x, 0.0)
    spare_y = max((zoom * min_zoom - 1) / 2 - reach_y, 0.0)
    offset = (float(rng.uniform(-0.7, 0.7)) * spare_x, float(rng.uniform(-0.5, 0.5)) * spare_y)
    return zoom, offset


# --------------------------------------------------------------------------------------------
# Layers: built once per render
# --------------------------------------------------------------------------------------------

@dataclass
class Card:
    """A pre-rendered cast card: RGBA image (with shadow and label) and where its body sits in it."""

    handle: str
    image: Image.Image
    body: tuple[int, int, int, int]  # x0, y0, x1, y1 of the card/figure itself inside `image`

    @property
    def body_size(self) -> tuple[int, int]:
        return self.body[2] - self.body[0], self.body[3] - self.body[1]


@dataclass
class PlacedCard:
    card: Card
    body_rect: tuple[float, float, float, float]  # x, y, w, h in output pixels at the base pose


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


def build_layers(request: RenderRequest, plan: ShotPlan) -> Layers:
    tint = _style_tint(request.references)
    plate, plate_source = _build_plate(request, plan, tint)
    cast = _build_cast(request, plan, tint)
    caption, caption_pos = _build_caption(request, plan)
    slate, slate_pos, timecode_pos, timecode_font = _build_slate(request, plan)
    return Layers(
        plate=plate, plate_source=plate_source, cast=cast,
        caption=caption, caption_pos=caption_pos,
        slate=slate, slate_pos=slate_pos, timecode_pos=timecode_pos, timecode_font=timecode_font,
    )


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


def _style_tint(references: tuple[Reference, ...]) -> tuple[int, int, int] | None:
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


def _build_plate(request: RenderRequest, plan: ShotPlan, tint) -> tuple[Image.Image, str]:
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

def cast_members(references: tuple[Reference, ...], shot_size: str) -> list[Reference]:
    """Who is in frame: everyone but locations and styles, in the shot's order, as the size allows.

    An insert is about a thing, so objects go first there.
    """
    members = [r for r in references if r.kind not in ("location", "style")]
    if shot_size == "INSERT":
        members.sort(key=lambda r: r.kind != "object")
    return members[: SHOT_FRAMINGS[shot_size].max_cast]


def _build_cast(request: RenderRequest, plan: ShotPlan, tint) -> list[PlacedCard]:
    members = cast_members(request.references, plan.shot_size)
    if not members:
        return []
    body_height = plan.framing.cast_height * plan.height
    render_height = min(body_height * plan.fg_prescale, MAX_LAYER_SCALE * plan.height)
    render_height = max(int(round(render_height)), 8)
    cards = [_apply_card_tint(make_card(ref, render_height), tint) for ref in members]
    cards = [_supersampled_card(card, plan.layer_scale) for card in cards]
    return _lay_out(cards, plan, body_height)


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


def _lay_out(cards: list[Card], plan: ShotPlan, body_height: float) -> list[PlacedCard]:
    """Stand the cards side by side with even gaps, shrinking them together if they would not fit.

    A single card is centred (a seeded nudge off centre); a single close-up may overflow the frame.
    """
    width, height = plan.width, plan.height
    rng = plan.rng("layout")
    span = 0.92 * width
    widths = [body_height * c.body_size[0] / c.body_size[1] for c in cards]
    fit = min(1.0, span / max(sum(widths) * 1.15, 1)) if len(cards) > 1 else 1.0
    widths = [w * fit for w in widths]
    bottom = (plan.framing.cast_top + plan.framing.cast_height) * height
    gap = (span - sum(widths)) / (len(cards) + 1)
    nudge = rng.uniform(-0.09, 0.09) * (0.4 if plan.framing.max_cast == 1 else 1.0) if len(cards) == 1 else 0.0
    left = (width - span) / 2 + gap + nudge * width
    placed = []
    for card, card_width in zip(cards, widths):
        jitter = rng.uniform(-0.25, 0.25) * gap if len(cards) > 1 else 0.0
        h = body_height * fit
        placed.append(PlacedCard(card=card, body_rect=(left + jitter, bottom - h, card_width, h)))
        left += card_width + gap
    return placed


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
    font = _font(max(int(label_band * 0.5), 8), bold=True)
    draw.text((body_width / 2, body_height - label_band / 2), _fit_text(draw, f"@{handle}", font, body_width - 2 * border),
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
    font = _font(max(int(body_height * 0.045), 8), bold=True)
    x0, _, x1, y1 = card.body
    text = f"@{handle}"
    left, top, right, bottom = draw.textbbox(((x0 + x1) / 2, y1 - body_height * 0.04), text, font=font, anchor="mm")
    pad = max((bottom - top) * 0.35, 2)
    draw.rounded_rectangle([left - pad, top - pad, right + pad, bottom + pad], radius=pad * 1.5, fill=(20, 20, 24, 190))
    draw.text(((x0 + x1) / 2, y1 - body_height * 0.04), text, font=font, fill=(240, 240, 236, 255), anchor="mm")


# ---- caption and slate --------------------------------------------------------------------------

FONT_CANDIDATES = {
    False: ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf"),
    True: ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "DejaVuSans-Bold.ttf"),
}


@functools.lru_cache(maxsize=64)
def _font(size: int, bold: bool = False) -> ImageFont.ImageFont:
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


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font, max_width: float) -> str:
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
        lines[-1] = _fit_text(draw, lines[-1] + " " + " ".join(text.split()[len(consumed):]), font, max_width)
    return [_fit_text(draw, line, font, max_width) for line in lines]


def _build_caption(request: RenderRequest, plan: ShotPlan) -> tuple[Image.Image | None, tuple[int, int]]:
    """The dialogue or action line as a lower-third subtitle on a soft dark band."""
    text = " ".join((request.caption or request.prompt or "").split())
    if not text:
        return None, (0, 0)
    font = _font(max(int(plan.height / 28), 10))
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


def _build_slate(request: RenderRequest, plan: ShotPlan):
    """Top-left slate: shot and take, framing, move and lens; the timecode line is drawn per frame."""
    size = max(int(plan.height / 40), 9)
    title_font, body_font = _font(size, bold=True), _font(size)
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


# --------------------------------------------------------------------------------------------
# Per-frame composition: the hot loop, so only crops, resizes of what is visible, and pastes
# --------------------------------------------------------------------------------------------

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


def _pose_runs(poses: list[CameraPose]) -> list[tuple[CameraPose, int]]:
    """Consecutive identical poses grouped as (pose, how many frames)."""
    runs: list[tuple[CameraPose, int]] = []
    for pose in poses:
        if runs and runs[-1][0] == pose:
            runs[-1] = (pose, runs[-1][1] + 1)
        else:
            runs.append((pose, 1))
    return runs


def frame_stream(plan: ShotPlan, layers: Layers, on_progress: ProgressCallback) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 frames; reports progress after each and lets the callback cancel."""
    index = 0
    for pose, length in _pose_runs(plan.poses):
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
            pixels = np.asarray(frame)
            index += 1
            on_progress(index, plan.frames)
            yield pixels


# --------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------

class AnimaticBackend:
    """CPU previsualisation: no GPU, no weights, deterministic for a request."""

    name = "animatic"

    def describe_model(self, request: RenderRequest) -> tuple[str, str]:
        return MODEL_ID, REVISION

    def render(self, request: RenderRequest, on_progress: ProgressCallback) -> RenderResult:
        # Everything that can fail on bad input (unreadable images) fails here, before any frame.
        plan = plan_shot(request)
        layers = build_layers(request, plan)
        return RenderResult(
            frames=frame_stream(plan, layers, on_progress),
            frame_count=plan.frames,
            model=MODEL_ID,
            revision=REVISION,
            provenance={
                "backend": self.name,
                "shot_size": plan.shot_size,
                "camera_move": plan.move,
                "plate": layers.plate_source,
                "cast": [placed.card.handle for placed in layers.cast],
            },
        )
