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

import asyncio

import django
from asgiref.sync import sync_to_async
from django.core import signals
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.exceptions import RequestAborted
from django.urls import set_script_prefix


class DjangoInOneThread(ASGIHandler):
    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)  # the chain as WSGI builds it: sync throughout

    async def handle(self, scope, receive, send):
        """ASGIHandler.handle with request_started sent at the start of the request's own trip to
        its thread, not on a trip of its own first (its receivers are sync: closing stale database
        connections), which waited for the busy loop once more before the view began."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await sync_to_async(self._send_request_started, thread_sensitive=True)(scope)
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close, thread_sensitive=True)()
            return
        try:
            await self._answer_unless_disconnected(request, receive, send)
        finally:
            body_file.close()  # also when the client sent something that is not ASGI (an AssertionError)

    async def _answer_unless_disconnected(self, request, receive, send) -> None:
        """As Django does: the answer is dropped, and request_finished sent, when the client goes
        away first (a media range streaming to a closed tab stops reading the file)."""
        async def answer():
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client went away while it was sent
            return response

        listening, answering = asyncio.create_task(self.listen_for_disconnect(receive)), asyncio.create_task(answer())
        await asyncio.wait([listening, answering], return_when=asyncio.FIRST_COMPLETED)
        for task in (listening, answering):
            if not task.done():
                task.cancel()
            try:
                await task
            except (RequestAborted, asyncio.CancelledError):
                pass
        if answering.cancelled():
            await signals.request_finished.asend(sender=self.__class__)
        else:
            await sync_to_async(answering.result().close, thread_sensitive=True)()

    async def get_response_async(self, request):
        # thread_sensitive: the thread of this request's context (ASGIHandler.handle opens one per
        # request), where its database connection and the response's closing run too.
        return await sync_to_async(self._started_and_answered, thread_sensitive=True)(request)

    def _started_and_answered(self, request):
        self._send_request_started(request.scope)
        return self.get_response(request)

    def _send_request_started(self, scope) -> None:
        signals.request_started.send(sender=self.__class__, scope=scope)


def django_in_one_thread() -> DjangoInOneThread:
    """What django.core.asgi.get_asgi_application() gives, with the one-thread handler."""
    django.setup(set_prefix=False)
    return DjangoInOneThread()
