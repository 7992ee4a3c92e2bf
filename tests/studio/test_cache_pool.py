"""One Redis pool per process for the shared cache (studio/cache.py). Django builds a cache
backend per request context; under ASGI every request is a context of its own, and a pool per
backend meant a new Redis connection per request (BENCHMARKS.md, issue 15)."""

from __future__ import annotations

import threading

from django.core.cache import caches


def _backend_and_client_in_a_new_context() -> tuple[object, object]:
    seen = []
    thread = threading.Thread(target=lambda: seen.append((caches["default"], caches["default"]._cache.get_client())))
    thread.start()
    thread.join()
    return seen[0]


def test_request_contexts_have_their_own_backend_but_share_one_redis_client_and_pool():
    first_backend, first_client = _backend_and_client_in_a_new_context()
    second_backend, second_client = _backend_and_client_in_a_new_context()
    assert first_backend is not second_backend  # what Django does: one backend per context
    assert first_client is second_client  # ...and still one client
    assert first_client.connection_pool is second_client.connection_pool
    assert caches["default"]._cache.get_client(write=True) is first_client  # reads and writes: one server here
