"""The ASGI body cap on its own, as a server that streams bodies (uvicorn, hypercorn) drives it:
the body arrives in pieces through receive(), and the middleware must stop asking for more once
the cap is passed. The app behind it is Django's own ASGI handler (studio.asgi), so what it does
with a body it is given is real; test_body_limits.py covers the same through real servers."""

from __future__ import annotations

import asyncio
import json

from django.urls import reverse

from studio.asgi import application
from studio.body_limits import image_upload_limit

PIECE = 64 * 1024


def drive(path: str, headers: dict[bytes, bytes], pieces: int, piece: bytes = b"\x00" * PIECE):
    """Run the studio's ASGI app on a POST whose body is `pieces` copies of `piece`; return the
    response messages and how many pieces the app asked for."""
    asked = {"pieces": 0}
    sent = []

    async def receive():
        if asked["pieces"] >= pieces:
            await asyncio.sleep(3600)  # the body is over; like a server, wait for a disconnect
        asked["pieces"] += 1
        return {"type": "http.request", "body": piece, "more_body": asked["pieces"] < pieces}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
             "headers": [(b"host", b"127.0.0.1"), *headers.items()]}

    async def run():
        await asyncio.wait_for(application(scope, receive, send), timeout=60)

    asyncio.run(run())
    return sent, asked["pieces"]


def status_and_body(sent) -> tuple[int, bytes]:
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def upload_path() -> str:
    return reverse("reference_image_upload", args=["any-project", 1])


def test_a_chunked_body_past_the_cap_is_refused_and_no_more_is_read():
    cap = image_upload_limit().max_bytes
    sent, asked = drive(upload_path(), {b"transfer-encoding": b"chunked", b"accept": b"application/json"}, pieces=1000)
    status, body = status_and_body(sent)
    assert status == 413
    assert json.loads(body)["errors"] == [image_upload_limit().message]
    assert asked == cap // PIECE + 1  # the piece that passed the cap was the last one read


def test_a_declared_length_past_the_cap_is_refused_without_reading_the_body():
    cap = image_upload_limit().max_bytes
    sent, asked = drive(upload_path(), {b"content-length": str(cap + 1).encode()}, pieces=1000)
    status, body = status_and_body(sent)
    assert (status, asked) == (413, 0)
    assert body.decode() == image_upload_limit().message


def test_a_body_longer_than_its_declared_length_is_cut_off_at_the_cap():
    """A server that does not hold a client to its Content-Length must not get past the cap."""
    sent, asked = drive(reverse("login"), {b"content-length": b"10"}, pieces=1000)
    status, body = status_and_body(sent)
    assert status == 413 and b"The request is too large" in body
    assert asked == 1024 * 1024 // PIECE + 1
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]  # Django sent nothing


def test_a_chunked_body_within_the_cap_reaches_django_with_its_length(db):
    """Django parses a multipart body without Content-Length as empty; the middleware hands it
    on measured. The CSRF token is a field of the body, so only a body Django really parsed gets
    past the CSRF check (the sign-in page then answers 200 with the form's errors, not 403)."""
    token, boundary = "k" * 32, "b0undary"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n{token}\r\n"
            f"--{boundary}--\r\n").encode()
    headers = {b"transfer-encoding": b"chunked", b"cookie": f"csrftoken={token}".encode(),
               b"content-type": f"multipart/form-data; boundary={boundary}".encode()}
    sent, asked = drive(reverse("login"), headers, pieces=1, piece=form)
    status, _ = status_and_body(sent)
    assert (status, asked) == (200, 1)
