"""Django under an ASGI server, each request's middleware and view run in one thread.

Django's own ASGI handler runs its middleware in async mode: every built-in middleware
(sessions, CSRF, authentication, messages, ...) then hands each of its hooks to a thread and back
to the event loop, and the sync-only WhiteNoise hands the rest back again: about a dozen round
trips between the loop and a thread per request. Each trip back waits for the loop, which in a
studio server also writes every live event to hundreds of sockets: under 500 watchers an API edit
took twice as long as on an idle server (BENCHMARKS.md, issue 15). Every view of the studio is
synchronous, so the whole request goes to its thread once, as under WSGI, and comes back once.
Responses still stream through the ASGI server (media ranges are async iterators).
"""

from __future__ import annotations

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class DjangoInOneThread(ASGIHandler):
    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)  # the chain as WSGI builds it: sync throughout

    async def get_response_async(self, request):
        # thread_sensitive: the thread of this request's context (ASGIHandler.handle opens one per
        # request), where its database connection and the response's closing run too.
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def django_in_one_thread() -> DjangoInOneThread:
    """What django.core.asgi.get_asgi_application() gives, with the one-thread handler."""
    django.setup(set_prefix=False)
    return DjangoInOneThread()
