"""ProjectConsumer through the real ASGI app and the Redis channel layer."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from studio.asgi import application
from studio.websocket_origin import origin_allowed
from tests.live_frames import messages_in

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


@pytest.mark.parametrize("asks", [{"type": "heartbeat", "seq": 0}, {"type": "resync"}])
async def test_a_socket_whose_project_was_deleted_for_good_is_closed_as_not_found(project, users, asks):
    """The trash emptied while a board was open: the socket's next heartbeat or resync finds no
    project row. It is closed with the code a refused socket gets, not left to fail on the row."""
    from studio.models import Project

    communicator = await _communicator(users["dave"], project.slug)
    await communicator.connect(timeout=10)
    await communicator.receive_from(timeout=10)  # the snapshot
    await sync_to_async(Project.objects.filter(pk=project.pk).delete)()
    await communicator.send_json_to(asks)
    assert await communicator.receive_output(timeout=10) == {"type": "websocket.close", "code": 4404}
    await communicator.disconnect()



async def _signed_in(user) -> tuple[Client, bytes]:
    client = Client()
    await sync_to_async(client.force_login)(user)
    return client, f"sessionid={client.cookies['sessionid'].value}".encode()


async def _open(cookie: bytes, slug: str) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, f"/ws/projects/{slug}/", headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)])
    assert (await socket.connect(timeout=10))[0]
    assert json.loads(await socket.receive_from(timeout=10))["type"] == "snapshot"
    return socket


async def _closing_code(socket: WebsocketCommunicator) -> int | None:
    """How the socket was closed, past the frames before it (its own join, batched); None when it
    is still open after a quiet second."""
    while not await socket.receive_nothing(timeout=1):
        output = await socket.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            return output["code"]
    return None


async def test_signing_out_closes_the_session_s_sockets_on_their_next_heartbeat(project, users):
    """A socket was authorised as it opened, hours ago maybe: a heartbeat reads its person from the
    session again. Signed out in that browser (the session flushed): closed; another browser of
    the same person is not."""
    client, cookie = await _signed_in(users["dave"])
    _other_client, other_cookie = await _signed_in(users["dave"])
    signed_out, still_in = await _open(cookie, project.slug), await _open(other_cookie, project.slug)
    assert (await sync_to_async(client.post)(reverse("logout"))).status_code == 302
    await signed_out.send_json_to({"type": "heartbeat", "seq": 10**9})
    assert await _closing_code(signed_out) == 4404
    await still_in.send_json_to({"type": "heartbeat", "seq": 10**9})
    assert await _closing_code(still_in) is None
    for socket in (signed_out, still_in):
        await socket.disconnect()


async def test_a_deactivated_account_s_socket_is_closed_on_its_next_heartbeat(project, users):
    _client, cookie = await _signed_in(users["dave"])
    socket = await _open(cookie, project.slug)
    dave = users["dave"]
    dave.is_active = False
    await sync_to_async(dave.save)(update_fields=["is_active"])  # as the admin does
    await socket.send_json_to({"type": "heartbeat", "seq": 10**9})
    assert await _closing_code(socket) == 4404
    await socket.disconnect()


@pytest.mark.parametrize("asks", [{"type": "heartbeat", "seq": 10**9}, {"type": "resync"}])
async def test_a_member_removed_whose_closing_message_was_lost_is_closed_on_the_next_heartbeat_or_resync(project, users, asks):
    """The closing message is a hint that can be lost (Redis away as the membership went): the
    socket's next heartbeat or snapshot checks the membership again."""
    from studio.models import Membership

    _client, cookie = await _signed_in(users["bob"])
    socket = await _open(cookie, project.slug)
    await sync_to_async(Membership.objects.filter(project=project, user=users["bob"]).delete)()  # no message sent
    assert await _closing_code(socket) is None
    await socket.send_json_to(asks)
    assert await _closing_code(socket) == 4404
    await socket.disconnect()


async def test_trashing_a_project_closes_every_socket_on_it_at_once(project, users):
    from studio.services.projects import project_trash

    sockets = [await _open((await _signed_in(users[name]))[1], project.slug) for name in ("bob", "carol", "dave")]
    await sync_to_async(project_trash)(project=project, actor=users["alice"])
    for socket in sockets:
        assert await _closing_code(socket) == 4404
        await socket.disconnect()


async def test_a_handler_that_fails_forgets_its_socket_everywhere(project, users, monkeypatch):
    """Channels does not call disconnect when a handler raises: the socket would stay in its
    process's fan-out (written to for good) and its person in everyone's list."""
    from studio import events, presence

    _client, cookie = await _signed_in(users["dave"])
    socket = await _open(cookie, project.slug)
    fanout = events._fanout.here()
    assert len(fanout._watching[events.project_group(project.id)]) == 1
    assert [e["u"] for e in (await presence.everyone(project.id)).here] == ["dave"]

    async def redis_away(project_id, rooms):
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(presence, "heartbeat", redis_away)
    await socket.send_json_to({"type": "heartbeat", "seq": 0})
    with pytest.raises(ConnectionError):
        await socket.receive_output(timeout=10)
    assert events.project_group(project.id) not in fanout._watching
    assert events.user_group(users["dave"].id) not in fanout._watching
    assert (await presence.everyone(project.id)).here == []


@pytest.fixture
def fresh_channel_layer():
    """A channel layer of this test's own: a receive cancelled by an earlier test (another event
    loop) may leave the shared layer's receive lock held."""
    from channels.layers import channel_layers

    channel_layers.backends.pop("default", None)
    yield
    channel_layers.backends.pop("default", None)


async def test_a_notification_reaches_only_its_recipients_sockets(project, users, shot, fresh_channel_layer):
    """Each socket also joins its user's own group: carol hears of her mention, dave (same project,
    same socket kind) hears nothing of it."""
    from studio.services.reviews import comment_create
    from tests.studio.views_helpers import finished_take

    take = await sync_to_async(finished_take)(shot)
    sockets = {}
    for name in ("carol", "dave"):
        sockets[name] = await _communicator(users[name], project.slug)
        assert (await sockets[name].connect(timeout=10))[0]
        assert json.loads(await sockets[name].receive_from(timeout=10))["type"] == "snapshot"
    await sync_to_async(comment_create)(take=take, author=users["alice"], body="@carol the horizon tilts")

    async def events_for(name):
        found = []
        while not await sockets[name].receive_nothing(timeout=1):
            found.extend(messages_in(await sockets[name].receive_from(timeout=5)))
        return found

    carol, dave = await events_for("carol"), await events_for("dave")
    mention = [e for e in carol if e["type"] == "notification"]
    assert len(mention) == 1 and mention[0]["unread"] == 1 and mention[0]["kind"] == "mention"
    assert "alice mentioned you on shot 1A" in mention[0]["text"]
    assert not [e for e in dave if e["type"].startswith("notification")]
    assert any(e["type"] == "comment.added" for e in dave)  # the project's own events still arrive
    for socket in sockets.values():
        await socket.disconnect()


async def test_a_person_s_notification_reaches_every_socket_of_theirs_through_one_subscription(project, users, fresh_channel_layer):
    """A person's sockets do not each join their user group: the process's fan-out joins it once
    and writes a notification to all of them in one pass (events.watch_user), as it does project
    events; the last socket gone, the process leaves the group."""
    from studio import events
    from studio.services.notifications import unread_count

    carol = users["carol"]
    tabs = [await _communicator(carol, project.slug) for _ in range(3)]
    for tab in tabs:
        assert (await tab.connect(timeout=10))[0]
        assert json.loads(await tab.receive_from(timeout=10))["type"] == "snapshot"
    watching = events._fanout.here()._watching
    assert len(watching[events.user_group(carol.id)]) == 3
    await sync_to_async(events.notify_user)(carol.id, {"type": "notification.read", "unread": await sync_to_async(unread_count)(carol)})
    for tab in tabs:
        [hint] = [e for e in messages_in(await tab.receive_from(timeout=10)) if e["type"] == "notification.read"]
        assert hint["unread"] == 0
    for tab in tabs:
        await tab.disconnect()
    assert events.user_group(carol.id) not in watching


def test_a_snapshot_is_built_once_per_project_state_and_rebuilt_after_any_event(project, shot, django_assert_num_queries):
    """Sockets opening together share one snapshot (studio/consumers.py); the project's sequence
    number says when it is out of date."""
    from studio import events
    from studio.consumers import _snapshots
    from studio.models import Take, TakeStatus

    first = _snapshots.current(_as_read(project))
    read_again = _as_read(project)  # what the socket's access check reads: the number with the row
    with django_assert_num_queries(0):
        again = _snapshots.current(read_again)
    assert again == first
    again["you"] = "someone"  # what a socket adds to its copy stays with it
    assert "you" not in _snapshots.current(_as_read(project))
    take = Take.objects.create(shot=shot, number=1, status=TakeStatus.RUNNING, total_steps=4, backend="animatic",
                               request={}, signature="s" * 64)
    events.next_sequence(project.id)  # the take's event
    after = _snapshots.current(_as_read(project))
    assert after["seq"] == first["seq"] + 1 and take.id in [t["id"] for t in after["takes"]]


def test_a_reused_snapshot_s_progress_is_never_older_than_its_reuse_window(project, shot, monkeypatch):
    """Progress ticks take no number (events.send_tick), so the number alone cannot tell that a
    snapshot's progress bars moved on: one is reused for at most REUSE_S."""
    from studio import events
    from studio.consumers import _snapshots
    from studio.models import Take, TakeStatus

    take = Take.objects.create(shot=shot, number=1, status=TakeStatus.RUNNING, total_steps=4, backend="animatic",
                               request={}, signature="t" * 64)
    events.next_sequence(project.id)
    monkeypatch.setattr(_snapshots, "REUSE_S", 3600)
    assert _progress_of(_snapshots.current(_as_read(project)), take) == 0
    Take.objects.filter(pk=take.pk).update(step=2, progress=0.5)
    events.send_tick(project.id, "take.changed", {"take": {"id": take.id, "progress": 0.5}})
    assert _progress_of(_snapshots.current(_as_read(project)), take) == 0  # within the window: the one built
    monkeypatch.setattr(_snapshots, "REUSE_S", 0)
    assert _progress_of(_snapshots.current(_as_read(project)), take) == 0.5  # past it: built again


def _as_read(project):
    """The project row as a socket's access check reads it (with its current event number)."""
    from studio.models import Project

    return Project.objects.get(pk=project.pk)


def _progress_of(snapshot: dict, take) -> float:
    [payload] = [t for t in snapshot["takes"] if t["id"] == take.id]
    return payload["progress"]
