"""Personal access tokens: create (the secret is returned once), revoke, and authenticate.

A token reads `cty_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the whole token is
compared in constant time. The secret has 256 random bits, so a fast hash is enough (no PBKDF2):
it cannot be guessed, only stolen, and the database holds nothing that can be replayed.

A script calls many times a minute, so the row (with its user) is kept in the shared cache for
TOKEN_CACHE_S, keyed by the prefix, and in each web process's memory for TOKEN_LOCAL_S in front of
it (no round trip at all); the hash is still compared and the expiry still checked on every call.
Saving or deleting the token (revoke, the admin) or its user (deactivation) drops the shared entry
and this process's at once (the receivers below): the next call to this process is refused, and
another web process refuses it within TOKEN_LOCAL_S (CONTINUITY_API_TOKEN_LOCAL_S, 0 turns it off).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache, caches
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from studio.models import ApiToken, TokenScope
from studio.services.audit import audit_record

TOKEN_PREFIX = "cty_"
MAX_TOKEN_DAYS = 366
# last_used_at is written at most this often per token, so a busy script is not a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
TOKEN_CACHE_S = 60
logger = logging.getLogger(__name__)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user, name: str, scopes: list[str], expires_in_days: int | None = 90) -> tuple[ApiToken, str]:
    """A new token and its secret, which is never shown again."""
    name = name.strip()
    if not name:
        raise ValidationError("Give the token a name, e.g. the script or machine that uses it.")
    scopes = sorted(set(scopes))
    if not scopes or any(s not in TokenScope.values for s in scopes):
        raise ValidationError(f"Choose one or more scopes: {', '.join(TokenScope.values)}.")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise ValidationError(f"A token expires after 1 to {MAX_TOKEN_DAYS} days, or never.")
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken.objects.create(user=user, name=name[:80], prefix=prefix, secret_sha256=_digest(raw),
                                    scopes=scopes, expires_at=expires_at)
    audit_record(actor=user, project_id=None, verb="api token created", obj=token, changes={"scopes": scopes})
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=actor, project_id=None, verb="api token revoked", obj=token)
    return token


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The active token this secret belongs to (its user active too), or None; notes when it was used."""
    if not raw.startswith(TOKEN_PREFIX) or raw.count("_") < 2:
        return None
    prefix = raw[len(TOKEN_PREFIX):].split("_", 1)[0]
    token = _cached_token(prefix)
    if token is None:
        token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
        if token is None:
            return None
        _cache_token(token)
    if not hmac.compare_digest(token.secret_sha256, _digest(raw)):
        return None
    if not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
        _cache_token(token)
    return token


def _cache_key(prefix: str) -> str:
    return f"api-token:{prefix}"


def _local_s() -> int:
    return settings.CONTINUITY_API_TOKEN_LOCAL_S


def _cached_token(prefix: str) -> ApiToken | None:
    key = _cache_key(prefix)
    token = caches["process"].get(key) if _local_s() else None
    if token is not None:
        return token
    try:
        token = cache.get(key)
    except Exception:  # the cache is away: the token is read from the database, never refused
        logger.warning("API token cache unavailable", exc_info=True)
        return None
    if token is not None and _local_s():
        caches["process"].set(key, token, _local_s())
    return token


def _cache_token(token: ApiToken) -> None:
    key = _cache_key(token.prefix)
    if _local_s():
        caches["process"].set(key, token, _local_s())
    try:
        cache.set(key, token, TOKEN_CACHE_S)
    except Exception:
        logger.warning("API token cache unavailable", exc_info=True)


def _forget(prefixes) -> None:
    """Drop cached tokens, now (a call inside this transaction must not see the old row) and again
    at commit (a call meanwhile may have cached the row as it was). With the cache away nothing is
    served from it either; an entry it kept lives TOKEN_CACHE_S at most."""
    keys = [_cache_key(prefix) for prefix in prefixes]
    if keys:
        _delete(keys)
        transaction.on_commit(lambda: _delete(keys))


def _delete(keys: list[str]) -> None:
    caches["process"].delete_many(keys)
    try:
        cache.delete_many(keys)
    except Exception:
        logger.warning("API token cache unavailable: %d entries left to expire", len(keys), exc_info=True)


@receiver([post_save, post_delete], sender=ApiToken, dispatch_uid="api-token-cache-token")
def _token_changed(sender, instance: ApiToken, **kwargs) -> None:
    _forget([instance.prefix])


@receiver([post_save, post_delete], sender=settings.AUTH_USER_MODEL, dispatch_uid="api-token-cache-user")
def _user_changed(sender, instance, created: bool = False, update_fields=None, **kwargs) -> None:
    if created or (update_fields and set(update_fields) <= {"last_login"}):  # no token can have changed: no query
        return
    _forget(ApiToken.objects.filter(user_id=instance.pk).values_list("prefix", flat=True))
