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
    Django's own handler the sign-in page made 15 of them (each middleware hook went on its own);
    here two: the request (middleware and view) and closing the response."""
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
        response = await HttpCommunicator(handler, "GET", "/accounts/login/", headers=headers).get_response(timeout=10)
        assert response["status"] == 200
        if most is not None:
            assert len(trips) == most
        else:
            assert len(trips) > 10  # Django's own, for comparison: what the test would catch
