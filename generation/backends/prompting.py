"""The one place camera fields become prompt text for the text-conditioned backends (wan, ltx, tiny).

Those models take no shot size, camera move or lens parameter: what they are told about the camera
is words in the prompt. `camera_prompt` writes those words in a fixed, documented form, so the
text sent to the model is predictable, testable, and shown to the user before a render:

    "<prompt>. Camera: medium close-up, slow dolly push-in, 85mm telephoto lens."

The words follow the shot grammar the animatic draws (generation/backends/animatic/camera.py
normalises sizes and moves for both), so a previz and a GPU render of a shot ask for the same
framing. Pure: no torch, no Django.
"""

from __future__ import annotations

from generation.backends.animatic.camera import normalise_camera_move, normalise_shot_size
from generation.backends.base import RenderRequest

SHOT_SIZE_WORDS = {
    "EWS": "extreme wide shot",
    "WS": "wide shot",
    "MWS": "medium wide shot",
    "MS": "medium shot",
    "MCU": "medium close-up",
    "CU": "close-up",
    "ECU": "extreme close-up",
    "INSERT": "insert shot of a detail",
}

CAMERA_MOVE_WORDS = {
    "static": "static camera",
    "push_in": "slow dolly push-in",
    "pull_out": "slow dolly pull-out",
    "zoom_in": "slow zoom in",
    "zoom_out": "slow zoom out",
    "pan_left": "camera pans left",
    "pan_right": "camera pans right",
    "tilt_up": "camera tilts up",
    "tilt_down": "camera tilts down",
    "track_left": "camera tracks left",
    "track_right": "camera tracks right",
    "orbit_left": "camera orbits left around the subject",
    "orbit_right": "camera orbits right around the subject",
    "crane_up": "camera cranes up",
    "crane_down": "camera cranes down",
    "handheld": "handheld camera",
}

WIDE_LENS_BELOW_MM = 28  # the usual split on a full-frame camera
TELEPHOTO_FROM_MM = 70


def lens_words(lens_mm: int) -> str:
    if lens_mm < WIDE_LENS_BELOW_MM:
        return f"{lens_mm}mm wide-angle lens"
    if lens_mm >= TELEPHOTO_FROM_MM:
        return f"{lens_mm}mm telephoto lens"
    return f"{lens_mm}mm lens"


def camera_words(*, shot_size: str, camera_move: str, lens_mm: int) -> str:
    """"Camera: <size>, <move>, <lens>." for canonical or alias sizes and moves (unknown ones fall
    back as the animatic does: MS, static)."""
    size = SHOT_SIZE_WORDS[normalise_shot_size(shot_size)]
    move = CAMERA_MOVE_WORDS[normalise_camera_move(camera_move)]
    return f"Camera: {size}, {move}, {lens_words(int(lens_mm))}."


def camera_prompt(prompt: str, *, shot_size: str, camera_move: str, lens_mm: int) -> str:
    """The prompt text a text-conditioned backend sends: the user's prompt, then the camera words."""
    text = " ".join((prompt or "").split())
    camera = camera_words(shot_size=shot_size, camera_move=camera_move, lens_mm=lens_mm)
    if not text:
        return camera
    return f"{text} {camera}" if text[-1] in ".!?" else f"{text}. {camera}"


def prompt_for(request: RenderRequest) -> str:
    """`camera_prompt` for a render request."""
    return camera_prompt(request.prompt, shot_size=request.shot_size, camera_move=request.camera_move,
                         lens_mm=request.lens_mm)
