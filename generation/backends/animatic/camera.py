"""Shot grammar: how close each shot size stands, and how each camera move travels over the shot.

A camera move is a list of poses, one per frame: background and cast move at different speeds,
which is the parallax that makes a flat plate and flat cards read as depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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



def pose_runs(poses: list[CameraPose]) -> list[tuple[CameraPose, int]]:
    """Consecutive identical poses grouped as (pose, how many frames)."""
    runs: list[tuple[CameraPose, int]] = []
    for pose in poses:
        if runs and runs[-1][0] == pose:
            runs[-1] = (pose, runs[-1][1] + 1)
        else:
            runs.append((pose, 1))
    return runs

