"""ProjectConsumer through the real ASGI app and the Redis channel layer."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from studio.asgi import application
from studio.websocket_origin import origin_allowed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("close_executor_connections")]


async def _communicator(user, slug: str, origin: bytes = b"http://localhost", host: bytes = b"localhost") -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", host)]  # a browser always sends both
    if user is not None:
        client = Client()
        await sync_to_async(client.force_login)(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, f"/ws/projects/{slug}/", headers=headers)


async def test_member_gets_a_snapshot_first(project, users):
    communicator = await _communicator(users["dave"], project.slug)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    snapshot = json.loads(await communicator.receive_from(timeout=10))
    assert snapshot["type"] == "snapshot" and "seq" in snapshot and snapshot["takes"] == []
    await communicator.disconnect()


@pytest.mark.parametrize("who", ["eve", None])
async def test_outsiders_and_anonymous_are_refused(project, users, who):
    communicator = await _communicator(users[who] if who else None, project.slug)
    connected, code = await communicator.connect(timeout=10)
    assert not connected and code == 4404
    await communicator.disconnect()  # let the refused consumer finish instead of cancelling it


async def test_foreign_origin_is_refused(project, users):
    communicator = await _communicator(users["alice"], project.slug, origin=b"http://evil.example")
    connected, _ = await communicator.connect(timeout=10)
    assert not connected
    await communicator.disconnect()


@pytest.mark.parametrize(("origin", "host"), [
    (b"http://localhost:9999", b"localhost"),  # another port of the same host: another site
    (b"http://localhost:9999", b"localhost:8000"),
    (b"http://localhost", b"localhost:8000"),
    (b"https://localhost", b"localhost"),  # another scheme
])
async def test_an_origin_on_another_port_or_scheme_is_refused(project, users, origin, host):
    communicator = await _communicator(users["alice"], project.slug, origin=origin, host=host)
    connected, _ = await communicator.connect(timeout=10)
    assert not connected
    await communicator.disconnect()


async def test_a_page_served_on_a_port_may_open_its_socket(project, users):
    communicator = await _communicator(users["alice"], project.slug, origin=b"http://localhost:8000", host=b"localhost:8000")
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    await communicator.disconnect()


def _scope(origin: str | None, host: str | None, scheme: str = "ws", **headers: str) -> dict:
    pairs = [("origin", origin), ("host", host), *((k.replace("_", "-"), v) for k, v in headers.items())]
    return {"type": "websocket", "scheme": scheme, "headers": [(k.encode(), v.encode()) for k, v in pairs if v is not None]}


@pytest.mark.parametrize(("scope", "allowed"), [
    (_scope("http://localhost:8000", "localhost:8000"), True),
    (_scope("http://LOCALHOST", "localhost:80"), True),  # the default port, spelled or not
    (_scope("https://localhost", "localhost", scheme="wss"), True),
    (_scope("http://localhost", "localhost", scheme="wss"), False),
    (_scope("http://localhost:9999", "localhost:8000"), False),
    (_scope("http://evil.example", "evil.example"), False),  # a Host that is not ours
    (_scope("http://localhost", None), False),  # no Host: nothing to compare with
    (_scope(None, "localhost"), False),
    (_scope("null", "localhost"), False),
    (_scope("http://localhost:99999", "localhost:99999"), False),  # not a port
])
def test_origin_is_compared_by_scheme_host_and_port(scope, allowed):
    assert origin_allowed(scope) is allowed


def test_behind_a_tls_proxy_the_forwarded_scheme_counts(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert origin_allowed(_scope("https://localhost", "localhost", x_forwarded_proto="https"))
    assert not origin_allowed(_scope("https://localhost", "localhost"))
    settings.SECURE_PROXY_SSL_HEADER = None
    assert not origin_allowed(_scope("https://localhost", "localhost", x_forwarded_proto="https"))


def test_trusted_origins_are_matched_with_their_port(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://studio.example.com", "https://*.example.org:8443"]
    assert origin_allowed(_scope("https://studio.example.com", "localhost"))
    assert not origin_allowed(_scope("https://studio.example.com:8443", "localhost"))
    assert origin_allowed(_scope("https://cut.example.org:8443", "localhost"))
    assert not origin_allowed(_scope("https://cut.example.org", "localhost"))


async def test_removed_member_is_disconnected(project, users):
    from studio.models import Membership
    from studio.services.projects import membership_remove

    communicator = await _communicator(users["bob"], project.slug)
    await communicator.connect(timeout=10)
    await communicator.receive_from(timeout=10)
    membership = await sync_to_async(Membership.objects.get)(project=project, user=users["bob"])
    await sync_to_async(membership_remove)(membership=membership, actor=users["alice"])
    output = await communicator.receive_output(timeout=10)
    assert output == {"type": "websocket.close", "code": 4404}

