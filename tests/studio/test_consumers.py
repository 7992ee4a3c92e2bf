"""ProjectConsumer through the real ASGI app and the Redis channel layer."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from studio.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("close_executor_connections")]


async def _communicator(user, slug: str, origin: bytes = b"http://localhost") -> WebsocketCommunicator:
    headers = [(b"origin", origin)]
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


async def test_others_see_who_joins_and_leaves(project, users):
    alice = await _communicator(users["alice"], project.slug)
    await alice.connect(timeout=10)
    await alice.receive_from(timeout=10)  # snapshot
    bob = await _communicator(users["bob"], project.slug)
    await bob.connect(timeout=10)
    assert json.loads(await bob.receive_from(timeout=10))["type"] == "snapshot"
    joined = json.loads(await alice.receive_from(timeout=10))
    assert joined["type"] == "presence.join" and joined["user"] == "bob"
    here = json.loads(await bob.receive_from(timeout=10))
    assert here["type"] == "presence.here" and here["user"] == "alice"
    await bob.disconnect()
    left = json.loads(await alice.receive_from(timeout=10))
    assert left["type"] == "presence.leave" and left["user"] == "bob"
    await alice.disconnect()


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

