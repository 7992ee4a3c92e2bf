"""Request body caps against real servers: the studio's Daphne (`make run`) and Gunicorn serving
studio.wsgi (production pages), each in a subprocess on the test database, spoken to over a raw
socket so a chunked body (no Content-Length) is sent exactly as a hostile client would send it.

A body past its route's cap must get 413 with the reason while the client is still sending, not
after the server has swallowed it; uploads within the cap, chunked or not, must still work.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from studio.models import ReferenceImage
from tests.conftest import ROOT, database_url_for_workers, free_port, png_bytes

pytestmark = pytest.mark.django_db(transaction=True)

MB = 1024 * 1024
BOUNDARY = "----continuity-body-limits-b0undary"
CSRF_TOKEN = "k" * 32  # an unmasked secret: Django accepts it as cookie and header alike


# --- The servers ------------------------------------------------------------------------------

SERVERS = {
    # What `make run` starts (studio/management/commands/run_studio.py).
    "daphne": lambda port: [sys.executable, "-m", "studio.daphne_server", "-b", "127.0.0.1", "-p", str(port),
                            "studio.asgi:application"],
    # What the README runs for pages in production.
    "gunicorn": lambda port: [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
                              "studio.wsgi:application"],
}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request, django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        database_url = database_url_for_workers()
    port, media = free_port(), tmp_path_factory.mktemp("server-media")
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": settings.REDIS_URL, "MEDIA_ROOT": str(media),
           "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        process = subprocess.Popen(SERVERS[request.param](port), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    _wait_for_http(f"http://127.0.0.1:{port}/accounts/login/", process, log)
    yield {"port": port, "media": media, "log": log}
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def _wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the server did not answer:\n{log.read_text()[-3000:]}")


# --- A client that sends bodies as they are and notices an early answer ------------------------

@dataclass
class Answer:
    status: int
    body: bytes
    body_bytes_sent: int

    def json(self):
        return json.loads(self.body)


def post(port: int, path: str, headers: dict[str, str], chunks, *, chunked: bool) -> Answer:
    """POST `chunks`, framed as chunked transfer coding or sent raw after a Content-Length the
    caller set; stop sending as soon as the server has answered (or hung up)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = {"Host": f"127.0.0.1:{port}", "Connection": "close", **headers}
    if chunked:
        head["Transfer-Encoding"] = "chunked"
    sock.sendall(f"POST {path} HTTP/1.1\r\n".encode() + b"".join(f"{k}: {v}\r\n".encode() for k, v in head.items()) + b"\r\n")
    sent = 0
    try:
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # answered (or closed) before the body was all sent
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            sent += len(chunk)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = http.client.HTTPResponse(sock)
    response.begin()
    answer = Answer(response.status, response.read(), sent)
    sock.close()
    return answer


def pieces(data: bytes, size: int = 64 * 1024):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def zeros(total: int, size: int = 64 * 1024):
    chunk = b"\x00" * size
    for _ in range(total // size):
        yield chunk


def multipart_image(data: bytes, name: str = "face.png") -> bytes:
    return b"\r\n".join([
        f"--{BOUNDARY}".encode(), f'Content-Disposition: form-data; name="images"; filename="{name}"'.encode(),
        b"Content-Type: image/png", b"", data, f"--{BOUNDARY}--".encode(), b""])


@pytest.fixture
def editor_headers(users, project):
    client = Client()
    client.force_login(users["bob"])
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF_TOKEN}",
            "X-CSRFToken": CSRF_TOKEN, "Accept": "application/json"}


@pytest.fixture
def upload_path(cast, project):
    return reverse("reference_image_upload", args=[project.slug, cast["mara"].id])


def upload_headers(editor_headers, **more) -> dict:
    return {**editor_headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **more}


# --- Refused while arriving -------------------------------------------------------------------

def test_chunked_30_mb_upload_gets_413_before_it_is_all_sent(server, editor_headers, upload_path):
    before = ReferenceImage.objects.count()
    answer = post(server["port"], upload_path, upload_headers(editor_headers), zeros(30 * MB), chunked=True)
    assert answer.status == 413, answer.body[:300]
    assert "The upload is too large" in answer.json()["errors"][0]
    assert ReferenceImage.objects.count() == before


@pytest.mark.parametrize("route", ["upload", "login"])
def test_a_long_chunked_body_is_answered_while_it_is_still_being_sent(route, server, editor_headers, upload_path):
    """The answer comes once the cap is passed, not after the server has swallowed the rest.
    Loopback socket buffers (up to 32 MB here) hold some of what follows; 200 MB is far more."""
    path = upload_path if route == "upload" else reverse("login")
    answer = post(server["port"], path, upload_headers(editor_headers), zeros(200 * MB), chunked=True)
    assert answer.status == 413
    assert answer.body_bytes_sent < 100 * MB


def test_declared_length_over_the_cap_is_refused_before_any_body_is_sent(server, editor_headers, upload_path):
    headers = upload_headers(editor_headers, **{"Content-Length": str(30 * MB)})
    answer = post(server["port"], upload_path, headers, [], chunked=False)
    assert answer.status == 413
    assert "The upload is too large" in answer.json()["errors"][0]


def test_other_routes_have_a_small_cap(server):
    answer = post(server["port"], reverse("login"), {"Content-Type": "application/x-www-form-urlencoded"},
                  zeros(4 * MB), chunked=True)
    assert answer.status == 413
    assert b"The request is too large" in answer.body


# --- Uploads within the cap still work --------------------------------------------------------

@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_image_within_the_cap_is_added(chunked, server, editor_headers, upload_path, cast):
    body = multipart_image(png_bytes(size=(320, 240), color=(10, 120, 200)))
    headers = upload_headers(editor_headers, **({} if chunked else {"Content-Length": str(len(body))}))
    answer = post(server["port"], upload_path, headers, pieces(body), chunked=chunked)
    assert answer.status == 200, answer.body[:300]
    (added,) = answer.json()["added"]
    image = ReferenceImage.objects.get(pk=added, cast_member=cast["mara"])
    assert (image.width, image.height) == (320, 240)
    assert (server["media"] / image.image.name).is_file()
