"""Layout: the shot plan (frame size, framing, poses, where the camera looks into the plate) and
where the cast stands in frame. Pure arithmetic on the request; nothing is drawn here."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..base import Reference, RenderError, RenderRequest
from .camera import SHOT_FRAMINGS, CameraPose, ShotFraming, camera_poses, normalise_camera_move, normalise_shot_size, pose_runs

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
        layer_scale=SUPERSAMPLE if any(length == 1 for _, length in pose_runs(poses)) else 1,
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


# ---- the cast in frame ------------------------------------------------------------------------

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


def cast_members(references: tuple[Reference, ...], shot_size: str) -> list[Reference]:
    """Who is in frame: everyone but locations and styles, in the shot's order, as the size allows.

    An insert is about a thing, so objects go first there.
    """
    members = [r for r in references if r.kind not in ("location", "style")]
    if shot_size == "INSERT":
        members.sort(key=lambda r: r.kind != "object")
    return members[: SHOT_FRAMINGS[shot_size].max_cast]



def lay_out(cards: list[Card], plan: ShotPlan, body_height: float) -> list[PlacedCard]:
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


