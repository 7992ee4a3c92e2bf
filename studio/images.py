"""Opening untrusted images safely: only PNG, JPEG and WebP, a pixel limit, decompression bombs
refused, metadata dropped by re-encoding. Returns clean bytes we generated ourselves."""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image, ImageOps

ALLOWED_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    extension: str
    width: int
    height: int
    sha256: str


def clean_image(data: bytes, *, label: str = "image") -> CleanImage:
    if len(data) > settings.CONTINUITY_MAX_IMAGE_BYTES:
        limit_mb = settings.CONTINUITY_MAX_IMAGE_BYTES // (1024 * 1024)
        raise ValidationError(f"{label} is larger than {limit_mb} MB.")
    image = _open_strictly(data, label)
    encoded, extension = _reencode(image)
    return CleanImage(encoded, extension, image.width, image.height, hashlib.sha256(encoded).hexdigest())


def _open_strictly(data: bytes, label: str) -> Image.Image:
    Image.MAX_IMAGE_PIXELS = settings.CONTINUITY_MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; we refuse there too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
            if image.width * image.height > settings.CONTINUITY_MAX_IMAGE_PIXELS:
                raise ValidationError(f"{label} has too many pixels ({image.width}×{image.height}).")
            image.load()
            # Inside the guard: reading the orientation parses EXIF, which a hostile file can break.
            image = ImageOps.exif_transpose(image)  # report the size as stored: upright
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError(f"{label} has too many pixels to open safely.") from None
    except ValidationError:
        raise
    except Exception:
        raise ValidationError(f"{label} is not a PNG, JPEG or WebP image, or it is damaged.") from None
    return image


def _reencode(image: Image.Image) -> tuple[bytes, str]:
    # Already upright (clean_image transposed it); a second exif_transpose would only copy the pixels.
    has_alpha = image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)
    clean = image.convert("RGBA" if has_alpha else "RGB")
    # convert() keeps image.info, and Pillow writes some of it back out (a JPEG's comment, an ICC
    # profile): whatever the upload carried there would survive. Save pixels only.
    clean.info = {}
    out = io.BytesIO()
    if has_alpha:
        clean.save(out, format="PNG", optimize=False)
        return out.getvalue(), "png"
    clean.save(out, format="JPEG", quality=92)
    return out.getvalue(), "jpg"


@contextmanager
def image_slot():
    """Hold one of the process's CONTINUITY_IMAGE_SLOTS while reading and cleaning an upload.

    One image at the limits takes a few hundred MB to open and re-encode (40 MP × 3 bytes, a few
    copies), and under ASGI each request's view runs on its own thread: without this, twelve
    parallel uploads would all decode at once. The rest wait their turn (the CPUs are busy anyway)."""
    with _image_slots():
        yield


@cache
def _image_slots() -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(settings.CONTINUITY_IMAGE_SLOTS)
