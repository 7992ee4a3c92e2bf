"""clean_image: only PNG, JPEG and WebP get in, bombs and damage are refused, metadata is dropped."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest
from django.core.exceptions import ValidationError
from PIL import Image, PngImagePlugin

from studio.images import clean_image
from tests.conftest import png_bytes


def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_claiming(width: int, height: int) -> bytes:
    """A tiny file whose header claims a huge image: what a decompression bomb looks like."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _picture(fmt: str, alpha: bool) -> bytes:
    """A 64×48 picture; with alpha, really translucent (WebP drops an alpha channel that is all opaque)."""
    image = Image.new("RGBA", (64, 48), (200, 40, 40, 0 if alpha else 255))
    image.paste((20, 20, 20, 255), (8, 8, 40, 40))
    return _encode(image if alpha else image.convert("RGB"), fmt)


def _opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("fmt,alpha,extension", [
    ("PNG", False, "jpg"), ("PNG", True, "png"), ("JPEG", False, "jpg"), ("WEBP", False, "jpg"), ("WEBP", True, "png"),
])
def test_accepted_formats_are_reencoded(fmt, alpha, extension):
    data = _picture(fmt, alpha)
    clean = clean_image(data)
    assert clean.extension == extension
    assert (clean.width, clean.height) == (64, 48)
    assert clean.sha256 == hashlib.sha256(clean.data).hexdigest()
    reopened = _opened(clean.data)
    assert reopened.format == {"jpg": "JPEG", "png": "PNG"}[extension]
    assert reopened.size == (64, 48)
    assert reopened.mode == ("RGBA" if alpha else "RGB")
    if alpha:
        assert reopened.getpixel((0, 0))[3] == 0 and reopened.getpixel((20, 20))[3] == 255


def test_same_picture_gives_the_same_clean_bytes():
    assert clean_image(png_bytes()).sha256 == clean_image(png_bytes()).sha256
    assert clean_image(png_bytes()).sha256 != clean_image(png_bytes(color=(0, 200, 0))).sha256


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_formats_are_refused(fmt):
    data = _encode(Image.new("RGB", (32, 32), (10, 20, 30)), fmt)
    with pytest.raises(ValidationError, match="not a PNG, JPEG or WebP"):
        clean_image(data, label="still.png")


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>',
    b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
    b"",
    b"\x89PNG\r\n\x1a\n",
])
def test_markup_and_junk_named_png_are_refused(data):
    with pytest.raises(ValidationError):
        clean_image(data, label="face.png")


def test_truncated_png_is_refused():
    data = png_bytes(size=(256, 256))
    with pytest.raises(ValidationError, match="damaged"):
        clean_image(data[: len(data) // 2])


def test_truncated_jpeg_is_refused():
    noisy = Image.frombytes("RGB", (128, 128), bytes(range(256)) * 192)
    data = _encode(noisy, "JPEG")
    with pytest.raises(ValidationError):
        clean_image(data[: len(data) // 3])


def test_pixel_limit_from_settings(settings):
    settings.CONTINUITY_MAX_IMAGE_PIXELS = 64 * 48 - 1
    with pytest.raises(ValidationError, match="too many pixels"):
        clean_image(png_bytes(size=(64, 48)))
    settings.CONTINUITY_MAX_IMAGE_PIXELS = 64 * 48
    assert clean_image(png_bytes(size=(64, 48))).width == 64


def test_pixel_limit_between_the_limit_and_twice_it_is_refused(settings):
    # Pillow only warns in this band; the studio must refuse there as well.
    settings.CONTINUITY_MAX_IMAGE_PIXELS = 1000
    with pytest.raises(ValidationError, match="too many pixels"):
        clean_image(_png_header_claiming(40, 40))


def test_header_claiming_a_huge_image_is_refused_without_decoding():
    data = _png_header_claiming(50_000, 50_000)
    assert len(data) < 200
    with pytest.raises(ValidationError, match="too many pixels"):
        clean_image(data)


def test_oversize_bytes_are_refused_before_decoding(settings):
    data = png_bytes()
    settings.CONTINUITY_MAX_IMAGE_BYTES = len(data) - 1
    with pytest.raises(ValidationError, match="larger than"):
        clean_image(data, label="portrait")
    settings.CONTINUITY_MAX_IMAGE_BYTES = len(data)
    assert clean_image(data).width == 64


def test_exif_and_text_metadata_are_dropped():
    image = Image.new("RGB", (64, 48), (120, 80, 40))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."  # Make
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS info
    jpeg = _encode(image, "JPEG", exif=exif.tobytes())
    assert _opened(jpeg).getexif()  # the upload really carries EXIF
    clean = clean_image(jpeg)
    assert not _opened(clean.data).getexif()
    assert b"SpyCam" not in clean.data

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Secret")
    png = _encode(image.convert("RGBA"), "PNG", pnginfo=info)
    clean = clean_image(png)
    assert clean.extension == "png"
    assert "Author" not in _opened(clean.data).info
    assert b"Jane Secret" not in clean.data


def test_exif_orientation_is_applied_then_dropped():
    image = Image.new("RGB", (64, 48), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 32, 48))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    clean = clean_image(_encode(image, "JPEG", exif=exif.tobytes()))
    upright = _opened(clean.data)
    assert upright.size == (48, 64)
    assert (clean.width, clean.height) == (48, 64)
    assert not upright.getexif()
    top, bottom = upright.getpixel((24, 5)), upright.getpixel((24, 58))
    assert top[0] > 200 and bottom[0] < 50  # the white half is now on top
