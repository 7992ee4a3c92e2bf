"""What a guest of a review link may do, and how often: unlock it with its password, comment.

Tries are counted per link (many addresses guessing one password) and per address (one address
guessing many links), in the shared cache (studio/throttle.py). A try is reserved before the
password is looked at (counted first, then decided, atomically), so a throttled guess learns
nothing and a burst of concurrent guesses gets no more checks than the limit; a right password
gives its try back.
"""

from __future__ import annotations

from studio import access, throttle
from studio.models import Comment, ReviewLink, Take
from studio.services.reviews import comment_create

PASSWORD_SCOPE, PASSWORD_RATE = "guest-password", "CONTINUITY_GUEST_PASSWORD_RATE"
COMMENT_SCOPE, COMMENT_RATE = "guest-comment", "CONTINUITY_GUEST_COMMENT_RATE"


class GuestThrottled(Exception):
    """Too many tries from this link or address; the message says when to retry (HTTP 429)."""

    def __init__(self, what: str, retry_after_s: int):
        self.retry_after_s = retry_after_s
        super().__init__(f"{what}; try again in {throttle.minutes_text(retry_after_s)}.")


def guest_unlock(*, link: ReviewLink, session, password: str, address: str) -> bool:
    """Unlock the link for this browser session if the password is right; a wrong one counts.
    Raises GuestThrottled, before looking at the password, once too many were wrong."""
    reservation = _reserve(PASSWORD_SCOPE, link, address, PASSWORD_RATE, "Too many wrong passwords")
    if access.review_link_unlock(link, session, password):
        throttle.refund(reservation)
        return True
    return False


def guest_comment_check(*, link: ReviewLink, address: str) -> None:
    """Raise GuestThrottled if this link or address sent its allowance of comments."""
    _check(COMMENT_SCOPE, _subjects(link, address), throttle.rate_setting(COMMENT_RATE), "Too many comments from here")


def guest_comment_create(*, link: ReviewLink, take: Take, address: str, name: str, body: str,
                         frame: int | None) -> Comment:
    """A guest's comment on a take the link shows; it counts against the comment limit (reserved
    first, so concurrent posts cannot pass it together)."""
    _reserve(COMMENT_SCOPE, link, address, COMMENT_RATE, "Too many comments from here")
    return comment_create(take=take, author=None, guest_name=name, review_link=link, body=body, frame=frame)


def _subjects(link: ReviewLink, address: str) -> list[str]:
    return [f"link:{link.id}", f"address:{address}"]


def _reserve(scope: str, link: ReviewLink, address: str, rate_setting: str, what: str) -> throttle.Reservation:
    try:
        return throttle.reserve(scope, _subjects(link, address), throttle.rate_setting(rate_setting))
    except throttle.Throttled as exc:
        raise GuestThrottled(what, exc.retry_after_s) from None


def _check(scope: str, subjects: list[str], rate: throttle.Rate, what: str) -> None:
    try:
        throttle.check(scope, subjects, rate)
    except throttle.Throttled as exc:
        raise GuestThrottled(what, exc.retry_after_s) from None
