"""Limits on how often something may be tried: guesses at a review link's password, sign-ins,
guest comments. Counted in the shared cache (Redis, embedded or REDIS_URL) so that every web
process agrees, in fixed windows keyed by the window's number (no clock kept per key).

Sign-ins and guests use `reserve` (count first, then decide, in one Redis transaction) so a burst of
concurrent guesses cannot all pass before any of them is counted; `check` + `record` suit limits
where a few extra tries in a burst do no harm.

Render requests are limited elsewhere (studio/services/render_rate.py): they are counted in the database
because the takes they create are already there.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*([smh]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Rate:
    count: int
    window_s: int

    @classmethod
    def parse(cls, text: str, *, setting: str) -> Rate:
        """"60/10m" -> 60 in 600 s. `setting` names where the text came from, for the error."""
        match = _RATE.match(str(text))
        if not match or int(match[1]) < 1 or int(match[2]) < 1:
            raise ValueError(f"{setting} must look like '60/10m' (count / window in s, m or h), not {text!r}")
        return cls(int(match[1]), int(match[2]) * _UNIT_S[match[3]])


class Throttled(Exception):
    """Too many tries; `retry_after_s` says when the window ends."""

    def __init__(self, retry_after_s: int):
        self.retry_after_s = retry_after_s
        super().__init__(f"Too many tries; try again in {minutes_text(retry_after_s)}.")


def minutes_text(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def rate_setting(name: str) -> Rate:
    return Rate.parse(getattr(settings, name), setting=name)


def _window(rate: Rate) -> tuple[int, int]:
    now = time.time()
    return int(now // rate.window_s), rate.window_s - int(now % rate.window_s)


def _key(scope: str, subject: str, window: int) -> str:
    # Subjects are typed by strangers (user names): hashed, they make safe keys of a fixed length.
    digest = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"throttle:{scope}:{digest}:{window}"


def check(scope: str, subjects: list[str], rate: Rate) -> None:
    """Raise Throttled if any subject (a link, an address, a user name) used up its tries.

    With Redis away the limit is not kept (logged), rather than nobody being able to sign in."""
    window, retry_after_s = _window(rate)
    try:
        counts = cache.get_many([_key(scope, s, window) for s in subjects])
    except Exception:
        logger.warning("throttle counters unavailable; %s not limited", scope, exc_info=True)
        return
    if any(count >= rate.count for count in counts.values()):
        raise Throttled(retry_after_s)


def record(scope: str, subjects: list[str], rate: Rate) -> None:
    """Count one try against every subject; the keys expire with their window."""
    window, retry_after_s = _window(rate)
    try:
        for subject in subjects:
            key = _key(scope, subject, window)
            cache.add(key, 0, timeout=retry_after_s + 1)  # no-op when the key exists: incr stays atomic
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr, at the very end of the window
                cache.add(key, 1, timeout=retry_after_s + 1)
    except Exception:
        logger.warning("throttle counters unavailable; %s try not counted", scope, exc_info=True)


@dataclass(frozen=True)
class Reservation:
    """Tries counted by `reserve`; `refund` gives them back. Empty when Redis was away."""

    keys: tuple[str, ...] = ()


# Give a try back only where its counter still exists: a DECR on a key that expired at the end of
# its window would create a stray -1 with no expiry.
_REFUND = """
for _, key in ipairs(KEYS) do
    if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
"""


def _redis():
    # The cache's own redis-py client (django.core.cache.backends.redis): INCR with an expiry in one
    # transaction is not in Django's cache API (its incr() checks and adds in two round trips).
    return cache._cache.get_client(write=True)


def reserve(scope: str, subjects: list[str], rate: Rate) -> Reservation:
    """Count one try against every subject, then decide: raise Throttled (the try given back) if
    any subject is now over its limit. INCR is atomic, so of N concurrent tries at most
    `rate.count` get through; the caller refunds a try that should not count (it succeeded).

    With Redis away the limit is not kept (logged), rather than nobody being able to sign in."""
    window, retry_after_s = _window(rate)
    keys = tuple(cache.make_and_validate_key(_key(scope, s, window)) for s in subjects)
    try:
        pipe = _redis().pipeline(transaction=True)
        for key in keys:
            pipe.set(key, 0, ex=retry_after_s + 1, nx=True)  # a new window's counter, expiring with it
            pipe.incr(key)
        counts = pipe.execute()[1::2]
    except Exception:
        logger.warning("throttle counters unavailable; %s not limited", scope, exc_info=True)
        return Reservation()
    reservation = Reservation(keys)
    if any(count > rate.count for count in counts):
        refund(reservation)  # a refused try is never made, so it does not count
        raise Throttled(retry_after_s)
    return reservation


def refund(reservation: Reservation) -> None:
    if not reservation.keys:
        return
    try:
        _redis().eval(_REFUND, len(reservation.keys), *reservation.keys)
    except Exception:
        logger.warning("throttle counters unavailable; a try was not given back", exc_info=True)


def client_address(request) -> str:
    """The address the limit is kept for. Behind a proxy every request comes from the proxy, so
    CONTINUITY_CLIENT_ADDRESS_HEADER names the header the proxy sets to the client's address
    (e.g. X-Real-IP; the proxy must overwrite, never pass on, what a client sent)."""
    header = settings.CONTINUITY_CLIENT_ADDRESS_HEADER
    if header:
        forwarded = request.META.get("HTTP_" + header.upper().replace("-", "_"), "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "") or "unknown"
