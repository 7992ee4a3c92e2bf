"""Real faces for the demo's characters, so a newcomer's first render already shows identity scores.

Two public-domain photographs that install with packages the studio's `make` installs (its test
tools), read at seed time rather than copied into this repository:

- Grace Hopper, official US Navy portrait (public domain as a work of the US government), shipped
  as `sample_data/grace_hopper.jpg` with matplotlib;
- Eileen Collins, NASA portrait (public domain as a work of NASA), `skimage.data.astronaut()`.

Without those packages (a production install without the test tools) the demo keeps its painted
figures, which the face model does not see as faces: their scores say so ("no reference image of
ELSE shows a face"), never a made-up number.
"""

from __future__ import annotations

import io
import logging
from typing import Callable, NamedTuple

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)


class Portrait(NamedTuple):
    png: bytes
    rights_note: str


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook  # lazy: only the demo's seeding reads it, and it may be absent

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as photo:
        return np.asarray(photo.convert("RGB"))


def _eileen_collins() -> np.ndarray:
    from skimage import data  # lazy: see _grace_hopper

    return data.astronaut()


# Character name (as the demo script names them) -> where the photograph comes from, and its licence.
PORTRAITS: dict[str, tuple[Callable[[], np.ndarray], str]] = {
    "ELSE": (_grace_hopper, "Public domain: Grace Hopper, official US Navy portrait (matplotlib's sample data)."),
    "NINA": (_eileen_collins, "Public domain: Eileen Collins, NASA portrait (scikit-image's astronaut)."),
}


def portrait_for(name: str) -> Portrait | None:
    """The demo character's photograph as PNG bytes with its rights note, or None (no portrait for
    this character, or the package that ships it is not installed)."""
    source = PORTRAITS.get(name.strip().upper())
    if source is None:
        return None
    load, note = source
    try:
        pixels = load()
    except ImportError:
        logger.info("no portrait for %s: its package is not installed; the demo keeps a painted figure", name)
        return None
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return Portrait(out.getvalue(), note)
