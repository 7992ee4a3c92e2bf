"""Sessions read from the shared cache, written through to the database (Django's cached_db), for
a Redis that may be away.

A signed-in page read its session from the database on every request; with the session in Redis
that query goes (BENCHMARKS.md, issue 15). Django's cached_db store does not guard every cache
call: with Redis away a sign-in failed with a 500 (a new key is checked against the cache, the
old one deleted from it). Here every cache call is guarded: with Redis away sessions work from the
database alone. A cached session lives SESSION_CACHE_S at most, so one whose deletion could not
reach Redis (a sign-out while it was away) is not served from it for longer than that.
"""

from __future__ import annotations

import logging

from django.contrib.sessions.backends import cached_db

logger = logging.getLogger(__name__)

SESSION_CACHE_S = 300


class SessionStore(cached_db.SessionStore):
    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except Exception:
            logger.warning("session cache unavailable", exc_info=True)
            data = None
        if data is not None:
            return data
        stored = self._get_session_from_db()
        if not stored:
            return {}
        data = self.decode(stored.session_data)
        self._cache_set(data, self.get_expiry_age(expiry=stored.expire_date))
        return data

    def exists(self, session_key):
        try:
            if session_key and (self.cache_key_prefix + session_key) in self._cache:
                return True
        except Exception:
            logger.warning("session cache unavailable", exc_info=True)
        return bool(session_key) and super(cached_db.SessionStore, self).exists(session_key)

    def save(self, must_create=False):
        super(cached_db.SessionStore, self).save(must_create)  # the database: the truth
        self._cache_set(self._session, self.get_expiry_age())

    def delete(self, session_key=None):
        super(cached_db.SessionStore, self).delete(session_key)
        session_key = session_key or self.session_key
        if session_key is None:
            return
        try:
            self._cache.delete(self.cache_key_prefix + session_key)
        except Exception:  # the cached copy expires within SESSION_CACHE_S
            logger.warning("session cache unavailable: a deleted session may be served for %d s", SESSION_CACHE_S, exc_info=True)

    def _cache_set(self, data, expiry_age: int) -> None:
        try:
            self._cache.set(self.cache_key, data, min(expiry_age, SESSION_CACHE_S))
        except Exception:
            logger.warning("session cache unavailable", exc_info=True)
