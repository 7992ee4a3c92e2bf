"""ASGI entry point: HTTP through Django, WebSockets through Channels (origin-checked, with auth)."""

import gc
import os

from django.urls import get_resolver

from studio.asgi_django import django_in_one_thread

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
django_asgi_app = django_in_one_thread()  # each request's middleware and view in one thread (see there)

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from studio.body_limits import BodySizeLimitMiddleware  # noqa: E402
from studio.routing import websocket_urlpatterns  # noqa: E402
from studio.websocket_origin import SameOriginValidator  # noqa: E402

# Import every view now, not on the first HTTP request: that import (PDF, video and image
# libraries) took most of a second on the event loop that also forwards live events, so the first
# edit after a start stalled every socket of the process (BENCHMARKS.md, issue 15).
get_resolver().url_patterns

from studio import events, release  # noqa: E402

events.prepare_publisher()  # the first edit after a start goes out as fast as the next ones
release.fingerprint()  # hashed now (8 ms), not on the event loop's first board request

_websocket_app = SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))


async def websocket_app(scope, receive, send):
    """The server's own send goes along in the scope for the live fan-out (ProjectConsumer.forward):
    Channels' session wrapper around it has nothing to do for an event frame, yet cost a third of
    writing one to a socket (BENCHMARKS.md, issue 15)."""
    return await _websocket_app({**scope, "server_send": send}, receive, send)


application = ProtocolTypeRouter({"http": BodySizeLimitMiddleware(django_asgi_app), "websocket": websocket_app})


# Everything loaded by now lives as long as the process: settings, models, URL patterns, every
# view and its libraries (about 170,000 objects). Python's full collections walked all of them
# each time, about 100 ms with every socket of the process waiting; one came while 500 watchers
# were connecting (BENCHMARKS.md, issue 15). Frozen, a collection walks only what came later.
gc.collect()
gc.freeze()
