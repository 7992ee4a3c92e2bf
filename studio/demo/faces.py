"""Real faces for the demo's characters, so a newcomer's first render already shows identity scores.

Two public-domain photographs ship with the studio in `studio/demo/portraits/` (see its README):

- Grace Hopper, official US Navy portrait (a work of the US government), as matplotlib ships it in
  its sample data (`grace_hopper.jpg`);
- Eileen Collins, NASA portrait (a work of NASA), as scikit-image ships it (`skimage.data.astronaut()`).

They ship with the studio, not read from those packages at seed time, so `make run` (which installs
no test tools) shows real scores too.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import NamedTuple

from PIL import Image

PORTRAITS_DIR = Path(__file__).resolve().parent / "portraits"


class Portrait(NamedTuple):
    png: bytes
    rights_note: str


# Character name (as the demo script names them) -> the photograph, and its licence.
PORTRAITS: dict[str, tuple[str, str]] = {
    "ELSE": ("grace_hopper.jpg", "Public domain: Grace Hopper, official US Navy portrait (matplotlib's sample data)."),
    "NINA": ("eileen_collins.jpg", "Public domain: Eileen Collins, NASA portrait (scikit-image's astronaut)."),
}


def portrait_for(name: str) -> Portrait | None:
    """The demo character's photograph as PNG bytes with its rights note, or None (no portrait for
    this character: it keeps its painted figure)."""
    source = PORTRAITS.get(name.strip().upper())
    if source is None:
        return None
    file_name, note = source
    out = io.BytesIO()
    with Image.open(PORTRAITS_DIR / file_name) as photo:
        photo.convert("RGB").save(out, format="PNG")
    return Portrait(out.getvalue(), note)
