"""Limits on how often something may be tried: guesses at a review link's password, sign-ins,
guest comments. Counted in the shared cache (Redis, embedded or REDIS_URL) so that every web
process agrees, in fixed windows keyed by the window's number (no clock kept per key).

Render requests are limited elsewhere (studio/services/takes.py): they are counted in the database
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
