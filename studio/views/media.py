"""Project files (take videos and posters, reference images, exports) behind the access check.

There is no public /media/ URL: every file is served here, for members of the project whose
folder holds it (stored names are "projects/<project id>/..."). Video players seek with HTTP
Range requests, which Django's FileResponse does not answer, so ranges are handled here.
"""

from __future__ import annotations

import mimetypes
import os
import re
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header, http_date
from django.views.decorators.http import require_safe

from studio import access, media_store

CHUNK_BYTES = 256 * 1024
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CONTENT_TYPES = {
    ".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
    ".json": "application/json", ".otio": "application/json", ".edl": "text/plain; charset=utf-8",
    ".xml": "application/xml",
}


@require_safe
@login_required
def project_media(request, slug: str, name: str):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    return serve_project_file(request, project.id, name)


def serve_project_file(request, project_id: int, name: str):
    """Stream a stored file of this project, with Range support (video seeking) and safe headers.
    The caller has already decided that the requester may see the project's media.
    With a remote media store the answer is a redirect to a short-lived signed URL of the store,
    which serves the bytes (and ranges) itself."""
    if media_store.is_remote():
        return _redirect_to_store(project_id, name)
    path = resolve_project_file(project_id, name)
    size = path.stat().st_size
    content_type = CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    byte_range = requested_range(request.headers.get("Range", ""), size)
    if byte_range == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return _common_headers(response, path, name)
    start, end = byte_range or (0, size - 1)
    length = max(end - start + 1, 0)
    body = _file_chunks(path, start, length, asynchronous=isinstance(request, ASGIRequest)) if request.method == "GET" else iter(())
    response = StreamingHttpResponse(body, status=206 if byte_range else 200, content_type=content_type)
    response["Content-Length"] = str(length)
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return _common_headers(response, path, name)


def _redirect_to_store(project_id: int, name: str):
    _check_project_name(project_id, name)
    if not media_store.exists(name):
        raise Http404("No such file.")
    download_as = os.path.basename(name) if "/exports/" in name else ""
    response = HttpResponseRedirect(media_store.signed_url(name, download_as=download_as))
    response["Cache-Control"] = "private, no-store"  # the signature expires; ask the studio again
    return response


def _check_project_name(project_id: int, name: str) -> None:
    """404 unless `name` is a plain stored name inside this project's folder."""
    if "\\" in name or "\x00" in name:
        raise Http404("No such file.")
    parts = PurePosixPath(name).parts
    if len(parts) < 3 or parts[0] != "projects" or parts[1] != str(project_id) or any(p in {"..", "."} for p in parts):
        raise Http404("No such file.")


def resolve_project_file(project_id: int, name: str) -> Path:
    """The file for a stored name, only if it lies inside this project's folder. 404 otherwise,
    whether the name escapes (.., absolute, backslashes), belongs to another project, or is missing."""
    _check_project_name(project_id, name)
    root = Path(settings.MEDIA_ROOT).resolve()
    project_root = root / "projects" / str(project_id)
    path = (root / name).resolve()
    # resolve() also follows symbolic links: a link pointing out of the folder is refused too.
    if not path.is_relative_to(project_root) or not path.is_file():
        raise Http404("No such file.")
    return path


def requested_range(header: str, size: int):
    """(start, end) inclusive for a single satisfiable range; None for no (or a multi-) range,
    which is answered with the whole file; "unsatisfiable" for a range outside the file."""
    match = RANGE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # "bytes=-500": the last 500 bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return "unsatisfiable"
    return start, end


def _file_chunks(path: Path, start: int, length: int, *, asynchronous: bool):
    # Under ASGI a synchronous iterator would be read whole into memory before sending; an
    # asynchronous one streams. The test client (WSGI) reads the synchronous one.
    return _async_chunks(path, start, length) if asynchronous else _sync_chunks(path, start, length)


def _sync_chunks(path: Path, start: int, length: int):
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


async def _async_chunks(path: Path, start: int, length: int):
    for chunk in _sync_chunks(path, start, length):
        yield chunk


def _common_headers(response, path: Path, name: str):
    stat = path.stat()
    response["Accept-Ranges"] = "bytes"
    response["Last-Modified"] = http_date(stat.st_mtime)
    response["X-Content-Type-Options"] = "nosniff"
    # Takes are immutable, but membership is not: keep caches private and short-lived.
    response["Cache-Control"] = "private, max-age=300"
    if "/exports/" in name:
        response["Content-Disposition"] = content_disposition_header(True, os.path.basename(name))
    return response
