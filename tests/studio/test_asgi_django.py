"""Each request's middleware and view in one thread under an ASGI server (studio/asgi_django.py),
through the ASGI application itself: not the test client, which is WSGI-like."""

from __future__ import annotations

import pytest
from asgiref.sync import iscoroutinefunction
from channels.testing import HttpCommunicator

from studio.asgi import application, django_asgi_app
from studio.asgi_django import DjangoInOneThread

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_studio_serves_http_through_the_one_thread_handler():
    assert isinstance(django_asgi_app, DjangoInOneThread)
    assert not iscoroutinefunction(django_asgi_app._middleware_chain)  # built as under WSGI


def test_what_the_server_loaded_at_start_is_left_out_of_full_collections():
    """Importing the ASGI app freezes what it loaded (studio/asgi.py): about 170,000 objects that a
    full collection otherwise walked every time, every socket of the process waiting."""
    import gc

    assert gc.get_freeze_count() > 50_000


async def test_a_page_through_the_asgi_app_has_every_middleware_s_work():
    communicator = HttpCommunicator(application, "GET", "/accounts/login/", headers=[(b"host", b"localhost")])
    response = await communicator.get_response(timeout=10)
    names = {name.lower() for name, _value in response["headers"]}
    assert response["status"] == 200 and b"<form" in response["body"]
    assert {b"content-security-policy", b"x-frame-options"} <= names  # the outer and the inner middleware
    assert b"csrftoken" in b" ".join(value for name, value in response["headers"] if name.lower() == b"set-cookie")


async def test_a_request_goes_to_a_thread_once_not_once_per_middleware_hook(monkeypatch):
    """Every hand-over from the event loop to a thread is a trip back that waits for the loop. With
    Django's own handler the sign-in page made 16 of them (each middleware hook went on its own,
    and request_started on one more before them); here two: the request (request_started, the
    middleware and the view) and closing the response."""
    from asgiref.sync import SyncToAsync
    from django.core.handlers.asgi import ASGIHandler

    trips = []
    hand_over = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        trips.append(1)
        return await hand_over(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    headers = [(b"host", b"localhost"), (b"x-forwarded-proto", b"https")]
    for handler, most in ((DjangoInOneThread(), 2), (ASGIHandler(), None)):
        trips.clear()
        communicator = HttpCommunicator(handler, "GET", "/accounts/login/", headers=headers)
        response = await communicator.get_response(timeout=10)
        await communicator.wait(timeout=10)  # the response closed too
        assert response["status"] == 200
        if most is not None:
            assert len(trips) == most
        else:
            assert len(trips) > 10  # Django's own, for comparison: what the test would catch


async def test_request_started_and_finished_are_sent_once_in_the_request_s_thread():
    """request_started goes with the request to its thread (it no longer makes a trip of its own),
    so its receivers (closing stale database connections) still run before the view, once, in the
    thread where the request's connection lives and its response is closed."""
    import threading

    from django.core import signals

    seen = []

    def started(**kwargs):
        seen.append(("started", threading.get_ident(), kwargs["scope"]["path"]))

    def finished(**kwargs):
        seen.append(("finished", threading.get_ident(), None))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        communicator = HttpCommunicator(DjangoInOneThread(), "GET", "/accounts/login/",
                                        headers=[(b"host", b"localhost"), (b"x-forwarded-proto", b"https")])
        assert (await communicator.get_response(timeout=10))["status"] == 200
        await communicator.wait(timeout=10)
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert [what for what, _thread, _path in seen] == ["started", "finished"]
    assert seen[0][2] == "/accounts/login/"
    assert seen[0][1] == seen[1][1] != threading.get_ident()  # one thread, not the event loop's


async def test_a_client_gone_before_the_answer_still_finishes_the_request():
    """The disconnect handling kept from Django's handler: when a client goes away while the view
    runs, request_finished is still sent, once (the request's database connection returns)."""
    from django.core import signals

    finished = []

    def on_finished(**kwargs):
        finished.append(1)

    signals.request_finished.connect(on_finished)
    try:
        communicator = HttpCommunicator(DjangoInOneThread(), "GET", "/accounts/login/",
                                        headers=[(b"host", b"localhost"), (b"x-forwarded-proto", b"https")])
        await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(timeout=10)
    finally:
        signals.request_finished.disconnect(on_finished)
    assert finished == [1]
