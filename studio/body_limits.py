"""How many bytes a request body may have, per route, and the two server-side guards that count
them as they arrive: an ASGI middleware (studio.asgi) and a WSGI wrapper (studio.wsgi).

Django's own limits do not bound a whole request: DATA_UPLOAD_MAX_MEMORY_SIZE leaves out file
parts, and a body sent chunked (no Content-Length) is read as empty. So every body is counted
here, chunked or not, and refused with 413 as soon as it passes its route's cap; nothing past the
cap is read or kept. Daphne's own buffering is handled one level down, in studio.daphne_server.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass

from django.conf import settings
from django.urls import Resolver404, resolve

# Boundaries, part headers (long file names included) and the CSRF token around the files.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# Forms, reorders, comments: nothing else the studio accepts comes near this.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
PAYLOAD_TOO_LARGE = 413
# The browser's uploader sends one file per request; a plain form may send a handful, not a hundred.
MAX_IMAGES_PER_UPLOAD = 12


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int
    message: str


def image_upload_limit() -> BodyLimit:
    """One image at the per-file limit per request: the browser's uploader sends one file per
    request anyway (each with its own progress bar), and a plain form with several files fits as
    long as they add up to that. Twelve maximal images in one request (240 MB to hold on disk
    for a single, not yet authenticated, request) are not accepted."""
    image_mb = settings.CONTINUITY_MAX_IMAGE_BYTES / (1024 * 1024)
    return BodyLimit(
        settings.CONTINUITY_MAX_IMAGE_BYTES + MULTIPART_OVERHEAD_BYTES,
        f"The upload is too large: at most {image_mb:g} MB at a time (one image at the limit, or up to"
        f" {MAX_IMAGES_PER_UPLOAD} smaller ones); the uploader on the cast page sends each image on its own.",
    )


def script_upload_limit() -> BodyLimit:
    script_mb = settings.CONTINUITY_MAX_SCRIPT_BYTES // (1024 * 1024)
    return BodyLimit(
        settings.CONTINUITY_MAX_SCRIPT_BYTES + MULTIPART_OVERHEAD_BYTES,
        f"The upload is larger than {script_mb} MB, far more than any screenplay; is it the right file?",
    )


def default_limit() -> BodyLimit:
    return BodyLimit(DEFAULT_MAX_BODY_BYTES, f"The request is too large (at most {DEFAULT_MAX_BODY_BYTES // 1024} KB).")


ROUTE_LIMITS = {"reference_image_upload": image_upload_limit, "script": script_upload_limit}


def body_limit_for(path: str) -> BodyLimit:
    """The cap for a request to `path`, decided from the URL alone (before any body is read)."""
    try:
        url_name = resolve(path).url_name
    except Resolver404:
        url_name = None
    return ROUTE_LIMITS.get(url_name, default_limit)()


def refusal_body(limit: BodyLimit, accept: str) -> tuple[bytes, bytes]:
    """(content type, body) of a 413: JSON for the uploader (it shows `errors`), text otherwise."""
    if "application/json" in accept:
        return b"application/json", json.dumps({"added": [], "errors": [limit.message]}).encode()
    return b"text/plain; charset=utf-8", limit.message.encode()


def spooled_file():
    # Small bodies stay in memory; anything past Django's own threshold goes to a file on disk.
    return tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")


# --- ASGI ---------------------------------------------------------------------------------------

class BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """Counts an HTTP request's body as it arrives and answers 413 once it passes its route's cap.

    A declared Content-Length over the cap is refused before any of the body is read. A chunked
    body (no length) is spooled up to the cap, then handed on with its length, because Django
    reads a body without Content-Length as empty."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = body_limit_for(scope["path"])
        headers = dict(scope["headers"])
        accept = headers.get(b"accept", b"").decode("latin-1")
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit.max_bytes):
            return await _send_refusal(send, limit, accept)
        if declared is None and b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            return await self._chunked(scope, receive, send, limit, accept)
        return await self._counted(scope, receive, send, limit, accept)

    async def _counted(self, scope, receive, send, limit, accept):
        state = {"received": 0, "refused": False}

        async def counting_receive():
            message = await receive()
            if message["type"] == "http.request" and not state["refused"]:
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit.max_bytes:
                    # A body longer than it said: answer now; the app sees the client go away.
                    state["refused"] = True
                    await _send_refusal(send, limit, accept)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not state["refused"]:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _chunked(self, scope, receive, send, limit, accept):
        try:
            body, size = await _spool_body(receive, limit.max_bytes)
        except BodyTooLarge:
            return await _send_refusal(send, limit, accept)
        scope = {**scope, "headers": [*scope["headers"], (b"content-length", str(size).encode())]}
        await self.app(scope, _replay(body, size, receive), send)


async def _spool_body(receive, max_bytes: int):
    body, size = spooled_file(), 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            body.close()
            raise BodyTooLarge  # nothing to answer; the client is gone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            body.close()
            raise BodyTooLarge
        body.write(chunk)
        if not message.get("more_body", False):
            body.seek(0)
            return body, size


def _replay(body, size: int, receive, chunk_size: int = 256 * 1024):
    sent = 0

    async def replay_receive():
        nonlocal sent
        if body.closed:
            return await receive()  # after the body: wait for the disconnect like any app
        chunk = body.read(chunk_size)
        sent += len(chunk)
        if sent >= size:
            body.close()
        return {"type": "http.request", "body": chunk, "more_body": sent < size}

    return replay_receive


async def _send_refusal(send, limit: BodyLimit, accept: str):
    content_type, payload = refusal_body(limit, accept)
    await send({"type": "http.response.start", "status": PAYLOAD_TOO_LARGE, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(payload)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


# --- WSGI ---------------------------------------------------------------------------------------

class LimitWSGIBody:
    """The same caps for the WSGI entry (Gunicorn). A declared length over the cap is refused
    unread; Django never reads past a declared length. A chunked body is spooled up to the cap and
    handed on with its length (Django would otherwise read it as empty)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        limit = body_limit_for(environ.get("PATH_INFO") or "/")
        accept = environ.get("HTTP_ACCEPT", "")
        declared = environ.get("CONTENT_LENGTH") or ""
        if declared:
            if not declared.isdigit() or int(declared) > limit.max_bytes:
                return _wsgi_refusal(start_response, limit, accept)
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            try:
                body, size = _spool_stream(environ["wsgi.input"], limit.max_bytes)
            except BodyTooLarge:
                return _wsgi_refusal(start_response, limit, accept)
            environ = {**environ, "wsgi.input": body, "CONTENT_LENGTH": str(size)}
        return self.app(environ, start_response)


def _spool_stream(stream, max_bytes: int, chunk_size: int = 256 * 1024):
    body, size = spooled_file(), 0
    while chunk := stream.read(chunk_size):
        size += len(chunk)
        if size > max_bytes:
            body.close()
            raise BodyTooLarge
        body.write(chunk)
    body.seek(0)
    return body, size


def _wsgi_refusal(start_response, limit: BodyLimit, accept: str):
    content_type, payload = refusal_body(limit, accept)
    start_response("413 Content Too Large", [
        ("Content-Type", content_type.decode()), ("Content-Length", str(len(payload))), ("Connection", "close")])
    return [payload]
