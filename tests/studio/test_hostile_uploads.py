"""Hostile uploads through the real endpoints: the cast image uploader and the script import.

Every file here is built in code. Each refusal must be a 4xx with a message a person can act on,
and must write nothing: no rows (images, cast, scenes, shots, scripts, audit) and no files under
MEDIA_ROOT or beside it. The few hostile files that are really pictures are accepted, and then
what is stored is our own re-encode under a name we made, with the payload gone.

Requests are sent as raw multipart bodies because Django's test client would tidy the file names
(basename) before the server ever saw them; the server must do that itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import tracemalloc
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.html import escape
from PIL import Image, PngImagePlugin

from studio.models import AuditEvent, CastMember, ReferenceImage, Scene, ScriptSource, Shot
from studio.screenplay import MAX_SCENES
from studio.views.cast import MAX_IMAGES_PER_UPLOAD
from tests.conftest import png_bytes
from tests.studio.views_helpers import client_for

pytestmark = pytest.mark.django_db

BOUNDARY = "----continuity-hostile-7MA4YWxkTrZu0gW"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
JSON = {"Accept": "application/json"}
BOMB_PEAK_BYTES = 50 * 1024 * 1024
PAYLOAD = b"<script>alert('kept')</script>"


# --- Building requests ------------------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    field: str
    data: bytes
    filename: str | bytes | None = None  # bytes: sent exactly as given, NUL bytes and all
    content_type: str = "application/octet-stream"


def multipart(*parts: Part) -> bytes:
    lines = []
    for part in parts:
        disposition = f'Content-Disposition: form-data; name="{part.field}"'.encode()
        if part.filename is not None:
            name = part.filename if isinstance(part.filename, bytes) else part.filename.encode()
            disposition += b'; filename="' + name + b'"'
        lines += [f"--{BOUNDARY}".encode(), disposition, f"Content-Type: {part.content_type}".encode(), b"", part.data]
    lines += [f"--{BOUNDARY}--".encode(), b""]
    return b"\r\n".join(lines)


def images(*files: tuple[str | bytes, bytes], content_type: str = "image/png") -> bytes:
    return multipart(*(Part("images", data, name, content_type) for name, data in files))


# --- Building files ---------------------------------------------------------------------------

def encode(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def noisy(size=(96, 64)) -> Image.Image:
    """Not flat colour, so a truncated file really is missing picture data."""
    w, h = size
    return Image.frombytes("RGB", size, bytes((x * 7 + y * 13 + c * 50) % 256 for y in range(h) for x in range(w) for c in range(3)))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@lru_cache(maxsize=None)
def png_bomb(width: int, height: int, rows: int | None = None) -> bytes:
    """A grey PNG of zeros: a valid stream of `rows` rows (all of them by default) that inflates
    to width×height pixels while the file stays a few hundred kilobytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    compressor, row = zlib.compressobj(9), b"\x00" * (width + 1)  # filter byte + one byte per pixel
    idat = b"".join(compressor.compress(row) for _ in range(height if rows is None else rows)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(noisy(), "JPEG"))
    sof = data.index(b"\xff\xc0")  # marker, length (2), precision (1), height (2), width (2)
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """An extended WebP header (VP8X) whose canvas is far larger than the picture inside."""
    small = encode(noisy(), "WEBP")
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + small[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def png_with_broken_ihdr_crc() -> bytes:
    data = bytearray(encode(noisy(), "PNG"))
    data[29] ^= 0xFF  # 8 signature + 4 length + 4 type + 13 IHDR body = the first CRC byte
    return bytes(data)


def png_with_garbage_exif() -> bytes:
    data = encode(noisy(), "PNG")
    return data[:33] + png_chunk(b"eXIf", b"\x00garbage" * 5) + data[33:]


def gif_html_polyglot() -> bytes:
    """A GIF that is also a web page: markup in a comment and after the trailer."""
    gif = encode(Image.new("P", (16, 16), 1), "GIF", comment=b"<html><body>" + PAYLOAD)
    return gif + b"<html><body>" + PAYLOAD + b"</body></html>"


def png_plus(suffix: bytes) -> bytes:
    return encode(noisy(), "PNG") + suffix


def zip_archive() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("index.html", b"<html>" + PAYLOAD + b"</html>")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."  # Make
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0)}  # GPS IFD
    return encode(noisy(), "JPEG", exif=exif.tobytes())


def jpeg_with_comment(comment: bytes) -> bytes:
    data = encode(noisy(), "JPEG")
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


def with_icc_profile(fmt: str, profile: bytes) -> bytes:
    """Any bytes may ride along as a colour profile; Pillow would copy them into a re-encode."""
    image = noisy() if fmt == "JPEG" else noisy().convert("RGBA")
    return encode(image, fmt, icc_profile=profile)


def png_with_text(text: bytes) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text.decode())
    info.add_itxt("XML:com.adobe.xmp", text.decode(), zip=True)
    return encode(noisy().convert("RGBA"), "PNG", pnginfo=info)


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><img src=x onerror=alert(1)>" + PAYLOAD + b"</body></html>"
PHP = b"<?php system($_GET['c']); ?>"
PDF = (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
       b"2 0 obj\n<< /Length 20 /Filter /FlateDecode >>\nstream\n" + zlib.compress(b"BT /F1 12 Tf ET" * 4) + b"\nendstream\nendobj\n%%EOF\n")


# --- Watching what a request writes and allocates ---------------------------------------------

def written() -> dict:
    """Rows that a write would add, and every file in and beside MEDIA_ROOT with its hash."""
    root = Path(settings.MEDIA_ROOT)
    return {
        "rows": {model.__name__: model.objects.count() for model in (ReferenceImage, CastMember, Scene, Shot, ScriptSource, AuditEvent)},
        "media": {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()},
        "beside": sorted(str(p.relative_to(root.parent)) for p in root.parent.rglob("*") if not p.is_relative_to(root)),
    }


@contextmanager
def memory_watch():
    """Peak Python allocation (tracemalloc) and pixel blocks Pillow allocated in C, which
    tracemalloc cannot see: a decoded bomb shows up in the second even if not in the first."""
    result = {}
    blocks_before = Image.core.get_stats()["allocated_blocks"]
    tracemalloc.start()
    try:
        yield result
    finally:
        result["python_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        result["pillow_blocks"] = Image.core.get_stats()["allocated_blocks"] - blocks_before


# --- Fixtures ---------------------------------------------------------------------------------

@pytest.fixture
def member(cast):
    return cast["mara"]


@pytest.fixture
def editor(users):
    return client_for(users["bob"])


@pytest.fixture
def upload_url(project, member):
    return reverse("reference_image_upload", args=[project.slug, member.id])


@pytest.fixture
def script_url(project):
    return reverse("script", args=[project.slug])


def post_images(client, url, body: bytes, **kwargs):
    return client.post(url, data=body, content_type=MULTIPART, headers=JSON, **kwargs)


def assert_refused_json(response, *, status: int = 422, says: str) -> list[str]:
    assert response.status_code == status, response.content[:500]
    answer = json.loads(response.content)
    assert answer["added"] == []
    assert answer["errors"] and any(says in error for error in answer["errors"]), answer
    return answer["errors"]


# --- Images that must be refused --------------------------------------------------------------

DAMAGED = "is not a PNG, JPEG or WebP image, or it is damaged"
TOO_MANY_PIXELS = "too many pixels"

REFUSED_IMAGES = {
    # name: (file name, bytes, what the message says)
    "gif-renamed-png": ("still.png", lambda: encode(noisy(), "GIF"), DAMAGED),
    "bmp-renamed-png": ("still.png", lambda: encode(noisy(), "BMP"), DAMAGED),
    "tiff-renamed-png": ("still.png", lambda: encode(noisy(), "TIFF"), DAMAGED),
    "ico-renamed-png": ("favicon.png", lambda: encode(noisy(), "ICO"), DAMAGED),
    "svg-with-script-named-png": ("face.png", lambda: SVG, DAMAGED),
    "html-named-jpg": ("face.jpg", lambda: HTML, DAMAGED),
    "gif-html-polyglot": ("poly.png", gif_html_polyglot, DAMAGED),
    "php-double-extension": ("shell.php.png", lambda: PHP, DAMAGED),
    "png-signature-then-html": ("face.png", lambda: b"\x89PNG\r\n\x1a\n" + HTML, DAMAGED),
    "jpeg-soi-then-html": ("face.jpg", lambda: b"\xff\xd8\xff\xe0" + HTML, DAMAGED),
    "zip-named-png": ("archive.png", zip_archive, DAMAGED),
    "pdf-named-png": ("page.png", lambda: PDF, DAMAGED),
    "truncated-png": ("face.png", lambda: encode(noisy(), "PNG")[:400], DAMAGED),
    "truncated-jpeg": ("face.jpg", lambda: encode(noisy(), "JPEG")[:300], DAMAGED),
    "truncated-webp": ("face.webp", lambda: encode(noisy(), "WEBP")[:200], DAMAGED),
    "png-broken-ihdr-crc": ("face.png", png_with_broken_ihdr_crc, DAMAGED),
    "png-garbage-exif": ("face.png", png_with_garbage_exif, DAMAGED),
    "png-signature-only": ("face.png", lambda: b"\x89PNG\r\n\x1a\n", DAMAGED),
    "zero-bytes": ("empty.png", lambda: b"", DAMAGED),
    "html-with-traversal-name": ("../../../../etc/cron.d/evil.png", lambda: HTML, DAMAGED),
    "html-with-nul-in-name": (b"face.png\x00.html", lambda: HTML, DAMAGED),
    "svg-with-rtl-override-name": ("evil\u202egnp.svg", lambda: SVG, DAMAGED),
}

BOMBS = {
    # 10^10 pixels claimed; the IDAT is a real zlib stream of zero rows (its first rows).
    "png-100000x100000": (lambda: png_bomb(100_000, 100_000, rows=64), TOO_MANY_PIXELS),
    # 49 M pixels: a complete, valid file in Pillow's "warning only" band (limit to twice it).
    "png-7000x7000-complete": (lambda: png_bomb(7000, 7000), TOO_MANY_PIXELS),
    "jpeg-65000x65000-header": (lambda: jpeg_claiming(65_000, 65_000), TOO_MANY_PIXELS),
    "webp-16000x16000-canvas": (lambda: webp_claiming(16_000, 16_000), TOO_MANY_PIXELS),
}


@pytest.mark.parametrize("case", REFUSED_IMAGES)
def test_hostile_image_is_refused_and_nothing_is_written(case, editor, upload_url):
    filename, build, says = REFUSED_IMAGES[case]
    before = written()
    response = post_images(editor, upload_url, images((filename, build())))
    assert_refused_json(response, says=says)
    assert written() == before


@pytest.mark.parametrize("case", BOMBS)
def test_pixel_bomb_is_refused_without_decoding_it(case, editor, upload_url):
    build, says = BOMBS[case]
    data = build()
    assert len(data) < 1024 * 1024  # the danger is what it inflates to, not what it weighs
    before = written()
    with memory_watch() as memory:
        response = post_images(editor, upload_url, images(("bomb.png", data)))
    assert_refused_json(response, says=says)
    assert written() == before
    assert memory["python_peak"] < BOMB_PEAK_BYTES
    assert memory["pillow_blocks"] == 0, "Pillow allocated pixel memory for a bomb"


def test_memory_watch_sees_a_real_decode(editor, upload_url):
    """The gauge the bomb test trusts does move when pixels really are decoded."""
    with memory_watch() as memory:
        response = post_images(editor, upload_url, images(("big.png", png_bomb(1500, 1500))))
    assert response.status_code == 200
    assert memory["pillow_blocks"] > 0


def test_pixel_bomb_in_plain_form_comes_back_with_the_message(editor, upload_url, project):
    """Without JavaScript the form goes back to the library, which shows why."""
    before = written()
    response = editor.post(upload_url, data=images(("bomb.png", png_bomb(100_000, 100_000, rows=8))), content_type=MULTIPART)
    assert response.status_code == 302
    page = editor.get(response["Location"])
    assert "bomb.png has too many pixels" in page.content.decode()
    assert written() == before


# --- Limits on size and count -----------------------------------------------------------------

def test_image_exactly_at_the_byte_limit_is_accepted_one_byte_over_is_refused(editor, upload_url, settings):
    data = encode(noisy(), "PNG")
    settings.CONTINUITY_MAX_IMAGE_BYTES = len(data) - 1
    before = written()
    assert_refused_json(post_images(editor, upload_url, images(("portrait.png", data))), says="is larger than")
    assert written() == before

    settings.CONTINUITY_MAX_IMAGE_BYTES = len(data)
    response = post_images(editor, upload_url, images(("portrait.png", data)))
    assert response.status_code == 200 and len(response.json()["added"]) == 1


def test_oversize_file_is_not_read_into_memory(editor, upload_url, settings, monkeypatch):
    """Over the per-file limit, under the whole-request one: the view reads one byte past the
    limit, enough to refuse it, and never holds the whole file."""
    from studio.services import cast as cast_services

    settings.CONTINUITY_MAX_IMAGE_BYTES = 256 * 1024
    handed_over = []
    real_add = cast_services.reference_image_add

    def spy(**kwargs):
        handed_over.append(len(kwargs["data"]))
        return real_add(**kwargs)

    monkeypatch.setattr(cast_services, "reference_image_add", spy)
    before = written()
    # Over the file limit by less than the request allows for multipart overhead (64 KB).
    response = post_images(editor, upload_url, images(("huge.png", png_plus(b"\x00" * (256 * 1024 + 16 * 1024)))))
    assert_refused_json(response, says="is larger than")
    assert handed_over == [256 * 1024 + 1]
    assert written() == before


def test_more_files_than_the_per_request_limit_are_all_refused(editor, upload_url):
    files = [(f"face{i}.png", png_bytes(color=(i * 9, 100, 50))) for i in range(MAX_IMAGES_PER_UPLOAD + 1)]
    before = written()
    response = post_images(editor, upload_url, images(*files))
    errors = assert_refused_json(response, status=413, says=f"at most {MAX_IMAGES_PER_UPLOAD} images")
    assert f"has {MAX_IMAGES_PER_UPLOAD + 1}" in errors[0]
    assert written() == before


def test_more_files_than_django_will_parse_are_refused_in_words(editor, upload_url, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 5
    before = written()
    response = post_images(editor, upload_url, images(*[(f"f{i}.png", b"x") for i in range(6)]))
    assert_refused_json(response, status=413, says="at most")
    assert written() == before


def test_body_larger_than_any_allowed_upload_is_refused_before_it_is_read(editor, upload_url, settings):
    settings.CONTINUITY_MAX_IMAGE_BYTES = 8 * 1024
    # More than twelve files at the limit could weigh: judged from Content-Length, before parsing.
    body = images(*[(f"f{i}.png", b"\x00" * (100 * 1024)) for i in range(3)])
    before = written()
    response = post_images(editor, upload_url, body)
    errors = assert_refused_json(response, status=413, says="The upload is too large")
    assert len(errors) == 1  # one answer for the request, not one per file
    assert written() == before


def test_form_field_over_data_upload_max_memory_size_is_a_clear_4xx(editor, upload_url, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 32 * 1024
    body = multipart(Part("note", b"x" * (64 * 1024), content_type="text/plain"), Part("images", png_bytes(), "face.png"))
    before = written()
    response = post_images(editor, upload_url, body)
    assert_refused_json(response, status=413, says="The upload is too large")
    assert written() == before


def test_multipart_without_a_boundary_is_a_clear_400(editor, upload_url):
    before = written()
    response = editor.post(upload_url, data=images(("f.png", png_bytes())), content_type="multipart/form-data", headers=JSON)
    assert_refused_json(response, status=400, says="could not be read")
    assert written() == before


def test_a_name_longer_than_django_parses_is_a_clear_400(editor, upload_url):
    """Part headers over 1 KB are refused by Django's parser; the answer must still be words."""
    before = written()
    response = post_images(editor, upload_url, images(("a" * 5000 + ".png", png_bytes())))
    assert_refused_json(response, status=400, says="could not be read")
    assert written() == before


@pytest.mark.parametrize("filename", ["..", ".", "/", "../"])
def test_a_name_that_is_only_a_path_leaves_no_file(filename, editor, upload_url):
    before = written()
    assert_refused_json(post_images(editor, upload_url, images((filename, png_bytes()))), says="Choose at least one image")
    assert written() == before


# --- Hostile files that are real pictures: accepted, stored as our own re-encode --------------

ACCEPTED_IMAGES = {
    # name: (file name, bytes, content type sent, bytes that must not survive)
    "png-with-zip-appended": ("face.png", lambda: png_plus(zip_archive()), "image/png", [b"PK\x03\x04", PAYLOAD]),
    "png-with-html-appended": ("face.png", lambda: png_plus(HTML), "image/png", [PAYLOAD, b"<html"]),
    "jpeg-with-exif-gps": ("holiday.jpg", jpeg_with_gps, "image/jpeg", [b"SpyCam", b"Exif"]),
    "jpeg-with-html-comment": ("face.jpg", lambda: jpeg_with_comment(HTML), "image/jpeg", [PAYLOAD]),
    "png-with-script-in-text-chunks": ("face.png", lambda: png_with_text(PAYLOAD), "image/png", [PAYLOAD, b"tEXt", b"iTXt"]),
    "traversal-name": ("../../../../etc/passwd", lambda: encode(noisy(), "PNG"), "image/png", []),
    "windows-traversal-name": ("..\\..\\Windows\\System32\\evil.png", lambda: encode(noisy(), "PNG"), "image/png", []),
    "absolute-path-name": ("/etc/cron.d/face.png", lambda: encode(noisy(), "PNG"), "image/png", []),
    "nul-byte-in-name": (b"face.png\x00.php", lambda: encode(noisy(), "PNG"), "image/png", []),
    "jpeg-with-icc-payload": ("face.jpg", lambda: with_icc_profile("JPEG", PAYLOAD * 4), "image/jpeg", [PAYLOAD, b"ICC_PROFILE"]),
    "png-with-icc-payload": ("face.png", lambda: with_icc_profile("PNG", PAYLOAD * 4), "image/png", [b"iCCP"]),
    "long-name": ("a" * 700 + ".png", lambda: encode(noisy(), "PNG"), "image/png", []),
    "rtl-override-name": ("photo\u202egnp.exe", lambda: encode(noisy(), "JPEG"), "image/jpeg", []),
    "php-png-double-extension": ("shell.php.png", lambda: encode(noisy(), "PNG"), "image/png", []),
    "content-type-lie-html": ("face.jpg", lambda: encode(noisy(), "JPEG"), "text/html", []),
    "png-named-html": ("index.html", lambda: encode(noisy(), "PNG"), "text/html", []),
    "webp-named-svg": ("logo.svg", lambda: encode(noisy(), "WEBP"), "image/svg+xml", []),
}


@pytest.mark.parametrize("case", ACCEPTED_IMAGES)
def test_hostile_but_real_picture_is_stored_as_our_own_reencode(case, editor, upload_url, project, member):
    filename, build, content_type, must_be_gone = ACCEPTED_IMAGES[case]
    data = build()
    before = written()
    response = post_images(editor, upload_url, images((filename, data), content_type=content_type))
    assert response.status_code == 200, response.content[:500]
    assert response.json()["errors"] == []
    [added] = response.json()["added"]

    after = written()
    assert after["rows"]["ReferenceImage"] == before["rows"]["ReferenceImage"] + 1
    assert after["beside"] == before["beside"]  # nothing escaped MEDIA_ROOT
    new_files = set(after["media"]) - set(before["media"])
    assert len(new_files) == 1
    [stored_name] = new_files
    assert re.fullmatch(rf"projects/{project.id}/cast/{member.id}/[0-9a-f]{{32}}\.(jpg|png)", stored_name), stored_name
    image = ReferenceImage.objects.get(pk=added)
    assert image.image.name == stored_name

    stored = (Path(settings.MEDIA_ROOT) / stored_name).read_bytes()
    assert stored != data
    for payload in must_be_gone:
        assert payload not in stored, f"{payload!r} survived into the stored file"
    reopened = Image.open(io.BytesIO(stored))
    reopened.load()
    assert reopened.format in {"JPEG", "PNG"}
    assert not reopened.getexif()
    assert not (reopened.info.keys() - {"dpi", "jfif", "jfif_version", "jfif_unit", "jfif_density", "progressive", "progression"}), reopened.info


def test_one_good_and_one_hostile_file_adds_only_the_good_one(editor, upload_url, member):
    before = written()
    response = post_images(editor, upload_url, images(("good.png", encode(noisy(), "PNG")), ("bad.png", HTML)))
    assert response.status_code == 200
    answer = response.json()
    assert len(answer["added"]) == 1 and len(answer["errors"]) == 1 and DAMAGED in answer["errors"][0]
    after = written()
    assert after["rows"]["ReferenceImage"] == before["rows"]["ReferenceImage"] + 1
    assert len(set(after["media"]) - set(before["media"])) == 1


def test_viewer_cannot_upload_even_a_good_image(users, upload_url):
    before = written()
    response = post_images(client_for(users["dave"]), upload_url, images(("face.png", png_bytes())))
    assert response.status_code in (403, 404)
    assert written() == before


# --- Scripts ----------------------------------------------------------------------------------

def post_script_file(client, url, data: bytes, filename: str | bytes = "film.fountain", content_type: str = "text/plain"):
    return client.post(url, data=multipart(Part("file", data, filename, content_type)), content_type=MULTIPART)


def post_script_text(client, url, text: str):
    return client.post(url, {"text": text})


def assert_refused_page(response, *, status: int | set[int] = 422, says: str) -> None:
    """The script page comes back with the refusal: a form error, or a message when the request
    was refused before the form could look at it."""
    assert response.status_code in ({status} if isinstance(status, int) else status), response.content[:500]
    body = response.content.decode()
    assert escape(says) in body or says in body, f"{says!r} not in the page"
    assert 'class="form-error" role="alert"' in body or 'class="toast error"' in body


def _status_for_size(length: int) -> int:
    """413 when Content-Length alone shows it is too big; 422 when the form measures the file."""
    return 413 if length > 2 * 1024 * 1024 + 64 * 1024 else 422


def _many_headings(count: int) -> bytes:
    return "".join(f"INT. ROOM {n} - DAY\n\nA chair.\n\n" for n in range(count)).encode()


REFUSED_SCRIPT_FILES = {
    # name: (bytes, file name, what the message says)
    "binary": (lambda: bytes(range(256)) * 64, "film.fountain", "binary file"),
    "nul-bytes-in-text": (lambda: b"INT. HOUSE - DAY\n\nA door\x00 opens.\n", "film.fountain", "binary file"),
    "utf16-with-bom": (lambda: "INT. HOUSE - DAY\n\nA door opens.\n".encode("utf-16"), "film.fountain", "UTF-16"),
    "utf16le-without-bom": (lambda: "INT. HOUSE - DAY\n\nA door opens.\n".encode("utf-16-le"), "film.fountain", "binary file"),
    "invalid-utf8-latin1": (lambda: "INT. CAFÉ - DAY\n\nZoë waits.\n".encode("latin-1"), "film.fountain", "not valid UTF-8"),
    "control-characters": (lambda: b"INT. HOUSE - DAY\n\n" + b"\x01\x02\x03\x1b" * 200, "film.fountain", "control characters"),
    "pdf-renamed-fountain": (lambda: PDF, "film.fountain", "UTF-8"),
    "zip-renamed-fountain": (zip_archive, "film.fountain", "binary file"),
    "png-renamed-fountain": (lambda: png_bytes(), "film.fountain", "binary file"),
    "empty-file": (lambda: b"", "film.fountain", "The submitted file is empty"),
    "whitespace-only": (lambda: b"\n\n   \n\t\n", "film.fountain", "The script is empty"),
    "100k-lines-no-headings": (lambda: b"Someone walks.\n" * 100_000, "film.fountain", "no scene headings"),
    "5000-scene-headings": (lambda: _many_headings(5000), "film.fountain", f"more than {MAX_SCENES} scene headings"),
    "just-over-2mb": (lambda: b"INT. HOUSE - DAY\n\n" + b"a" * (2 * 1024 * 1024), "film.fountain", "larger than 2 MB"),
    "3mb": (lambda: b"INT. HOUSE - DAY\n\n" + b"a" * (3 * 1024 * 1024), "film.fountain", "larger than 2 MB"),
    "binary-with-traversal-name": (lambda: bytes(range(256)) * 8, "../../../etc/passwd", "binary file"),
}


@pytest.mark.parametrize("case", REFUSED_SCRIPT_FILES)
def test_hostile_script_file_is_refused_and_nothing_is_written(case, editor, script_url):
    build, filename, says = REFUSED_SCRIPT_FILES[case]
    data = build()
    before = written()
    response = post_script_file(editor, script_url, data, filename)
    assert_refused_page(response, status=_status_for_size(len(data)), says=says)
    assert written() == before


REFUSED_SCRIPT_PASTES = {
    "nul-character": ("INT. HOUSE - DAY\n\nA door\x00 opens.\n", "Null characters are not allowed"),
    "only-whitespace": ("   \n\n  \t ", "Choose a .fountain file or paste the script"),
    "no-headings": ("Someone walks.\n" * 1000, "no scene headings"),
    "over-2mb": ("INT. HOUSE - DAY\n\n" + "a" * (2 * 1024 * 1024), "larger than 2 MB"),
}


@pytest.mark.parametrize("case", REFUSED_SCRIPT_PASTES)
def test_hostile_script_paste_is_refused_and_nothing_is_written(case, editor, script_url):
    text, says = REFUSED_SCRIPT_PASTES[case]
    before = written()
    response = post_script_text(editor, script_url, text)
    assert_refused_page(response, status=_status_for_size(len(text)), says=says)
    assert written() == before


def test_paste_over_data_upload_max_memory_size_is_a_clear_4xx_not_a_bare_400(editor, script_url, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024  # below the script limit, so Django's own check fires
    before = written()
    response = post_script_text(editor, script_url, "INT. HOUSE - DAY\n\n" + "a" * (128 * 1024))
    assert_refused_page(response, status=413, says="larger than 2 MB")
    assert written() == before


def test_script_post_with_too_many_fields_is_refused_in_words(editor, script_url, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    before = written()
    response = editor.post(script_url, {f"field{i}": "x" for i in range(20)})
    assert_refused_page(response, status=413, says="far more parts than a script import sends")
    assert written() == before


def test_script_multipart_without_a_boundary_is_a_clear_400(editor, script_url):
    before = written()
    body = multipart(Part("file", b"INT. HOUSE - DAY\n\nA door.\n", "film.fountain"))
    response = editor.post(script_url, data=body, content_type="multipart/form-data")
    assert_refused_page(response, status=400, says="could not be read")
    assert written() == before


def test_huge_script_upload_is_bounded_in_memory(editor, script_url):
    data = b"INT. HOUSE - DAY\n\n" + b"a" * (8 * 1024 * 1024)
    body = multipart(Part("file", data, "film.fountain"))
    before = written()
    with memory_watch() as memory:
        response = editor.post(script_url, data=body, content_type=MULTIPART)
    assert_refused_page(response, status=413, says="larger than 2 MB")
    assert written() == before
    # The test client's own copy of the body is the only big allocation; the view read none of it.
    assert memory["python_peak"] < 2 * len(body) + BOMB_PEAK_BYTES // 5


def test_a_good_script_with_a_traversal_name_is_imported_under_its_base_name(editor, script_url):
    """The control case: the harness does see writes, and the name is only ever a label."""
    before = written()
    response = post_script_file(editor, script_url, b"INT. HOUSE - DAY\n\nA door opens.\n", "../../../etc/passwd")
    assert response.status_code == 302
    after = written()
    assert after["rows"]["ScriptSource"] == before["rows"]["ScriptSource"] + 1
    assert after["rows"]["Scene"] == before["rows"]["Scene"] + 1
    assert ScriptSource.objects.get().filename == "passwd"
    assert after["media"] == before["media"] and after["beside"] == before["beside"]



# --- With CSRF enforced, as in production -----------------------------------------------------

@pytest.fixture
def csrf_editor(users, project):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(users["bob"])
    client.get(reverse("cast_library", args=[project.slug]))  # sets the csrftoken cookie
    return client, client.cookies["csrftoken"].value


@pytest.mark.parametrize("case", ["too-many-files-for-django", "name-longer-than-django-parses", "body-too-large", "bomb"])
def test_with_csrf_enforced_every_refusal_is_still_a_4xx_that_writes_nothing(case, csrf_editor, upload_url, settings):
    """CsrfViewMiddleware parses the body before the view, so Django's own parse errors (too many
    files, an over-long part header) are answered by Django's bare 400 page; never a 500."""
    client, token = csrf_editor
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 5
    settings.CONTINUITY_MAX_IMAGE_BYTES = 8 * 1024
    body = {
        "too-many-files-for-django": lambda: images(*[(f"f{i}.png", b"x") for i in range(6)]),
        "name-longer-than-django-parses": lambda: images(("a" * 5000 + ".png", png_bytes())),
        "body-too-large": lambda: images(*[(f"f{i}.png", b"\x00" * (100 * 1024)) for i in range(3)]),
        "bomb": lambda: images(("bomb.png", png_bomb(100_000, 100_000, rows=8))),
    }[case]()
    before = written()
    response = client.post(upload_url, data=body, content_type=MULTIPART, headers={**JSON, "X-CSRFToken": token})
    assert 400 <= response.status_code < 500
    assert written() == before
    if case in ("body-too-large", "bomb"):  # these reach the view, which says why
        assert response.json()["errors"]
