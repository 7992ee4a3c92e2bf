"""How many renders one person may ask for: a sliding window counted in the database, one
request (a shot, a scene, everything missing, a cut) counting once however many shots it covers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Min
from django.utils import timezone

from studio.models import Take
from studio.throttle import minutes_text, rate_setting


class RateLimited(ValidationError):
    """Too many renders asked for by one person in the rate window (the UI answers HTTP 429)."""

    def __init__(self, *, count: int, window_s: int, retry_after_s: int):
        self.count, self.window_s, self.retry_after_s = count, window_s, retry_after_s
        super().__init__(
            f"You have asked for renders {count} time{'s' if count != 1 else ''} in the last {minutes_text(window_s)}; "
            f"try again in {minutes_text(retry_after_s)}."
        )


@dataclass
class RenderQuota:
    """One request for renders, as one click makes it: a shot, a scene, everything missing, a cut.

    It is charged against the requester's rate limit once, when its first render that costs worker
    time is created, however many shots it covers; its takes share `request_batch`.
    """

    batch: uuid.UUID = field(default_factory=uuid.uuid4)
    charged: bool = False

    def charge(self, user) -> None:
        if not self.charged:
            check_render_rate(user)
            self.charged = True


def render_rate() -> tuple[int, int]:
    """settings.CONTINUITY_RENDER_RATE, e.g. "60/10m": (requests, window in seconds)."""
    rate = rate_setting("CONTINUITY_RENDER_RATE")
    return rate.count, rate.window_s


def check_render_rate(user, *, now: datetime | None = None) -> None:
    """Raise RateLimited if `user` already made the allowed number of render requests in the window.

    Counted in the database (requests whose takes were not all reused), so every web process
    agrees; a request for many shots counts once. Requests by no one (the system) are not limited.
    """
    if user is None:
        return
    limit, window_s = render_rate()
    now = now or timezone.now()
    recent = Take.objects.filter(requested_by=user, reused_from__isnull=True, created_at__gt=now - timedelta(seconds=window_s))
    # order_by() drops Take's default ordering, which would otherwise split the GROUP BY.
    per_request = recent.order_by().values("request_batch").annotate(started=Min("created_at"))
    started = sorted(row["started"] for row in per_request)
    if len(started) < limit:
        return
    # A slot frees when the oldest request that still counts leaves the window.
    oldest_counting = started[len(started) - limit]
    retry_after_s = int((oldest_counting + timedelta(seconds=window_s) - now).total_seconds()) + 1
    raise RateLimited(count=len(started), window_s=window_s, retry_after_s=retry_after_s)
