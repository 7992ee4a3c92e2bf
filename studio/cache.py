"""Django's Redis cache backend, with one connection pool and one redis.Redis client per server
and process.

Django keeps a cache backend per request context (a thread under WSGI, but under ASGI each request
runs in a context of its own), and its RedisCacheClient keeps its connection pools on that
backend: every ASGI request that touched the cache built a pool and opened a new connection to
Redis (201 connections for 200 board loads under gunicorn; BENCHMARKS.md, issue 15). It also built
a new redis.Redis for every cache call (each with its table of some 170 response callbacks).
A pool is safe to share between threads and notices a fork, so the pools and their clients live
here, per process, keyed by the server and the pool's options.
"""

from __future__ import annotations

import threading

from django.core.cache.backends import redis as django_redis

_lock = threading.Lock()
_clients: dict[tuple, object] = {}  # (server URL, pool options) -> redis.Redis on a shared pool


class RedisCacheClient(django_redis.RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        server = self._servers[self._get_connection_pool_index(write)]
        identity = (server, repr(sorted(self._pool_options.items())))
        client = _clients.get(identity)
        if client is None:
            with _lock:
                client = _clients.get(identity)
                if client is None:
                    pool = self._pool_class.from_url(server, **self._pool_options)
                    client = _clients[identity] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
