"""Who a signed-in browser is, without a database query on every page.

Django's ModelBackend reads the user's row on every request that touches `request.user`. On the
shot board, served from the cache between changes, that read and the session's were most of what
a signed-in page cost beyond the sign-in page (BENCHMARKS.md, issue 15). The row is kept in the
shared cache (Redis) instead, and forgotten whenever the user is saved or deleted: a password
change, a deactivation or a deletion takes effect on the next request, in every process. The
session itself is read from the cache too (studio/sessions.py).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

logger = logging.getLogger(__name__)

# An entry lives this long at most; any change to the user drops it at once.
USER_CACHE_S = 300


def _key(user_id) -> str:
    return f"session-user:{user_id}"


class CachedUserBackend(ModelBackend):
    """ModelBackend (passwords, permissions, inactive users refused) with the session's user read
    from the cache. With the cache away the row is read from the database, as before."""

    def get_user(self, user_id):
        try:
            user = cache.get(_key(user_id))
        except Exception:
            logger.warning("user cache unavailable", exc_info=True)
            return super().get_user(user_id)
        if user is None:
            user = super().get_user(user_id)  # None for an inactive or deleted user: not kept
            if user is not None:
                _store(user)
        return user


def _store(user) -> None:
    try:
        cache.set(_key(user.pk), user, USER_CACHE_S)
    except Exception:
        logger.warning("user cache unavailable", exc_info=True)


def _forget(user_id) -> None:
    try:
        cache.delete(_key(user_id))
    except Exception:  # an entry left behind expires within USER_CACHE_S
        logger.warning("user cache unavailable: a changed user may be served for %d s", USER_CACHE_S, exc_info=True)


@receiver([post_save, post_delete], sender=settings.AUTH_USER_MODEL, dispatch_uid="session-user-changed")
def _user_changed(sender, instance, created: bool = False, **kwargs) -> None:
    """Dropped now (a request inside this transaction must not see the old row) and again at commit
    (a request meanwhile may have cached the row as it was before the commit)."""
    if created:
        return
    _forget(instance.pk)
    transaction.on_commit(lambda: _forget(instance.pk))
