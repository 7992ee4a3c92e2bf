"""Failed sign-ins are limited per account and per address (CONTINUITY_SIGN_IN_RATE), on the
studio's sign-in page and the admin's alike: one budget, whichever door is tried.

A try is reserved before the password is checked (studio/throttle.py: counted first, then decided,
atomically), so a burst of concurrent guesses gets no more checks than the limit allows, and given
back once the password proved right: only failures count."""

from __future__ import annotations

import unicodedata

from django.contrib.auth.base_user import AbstractBaseUser

from studio import throttle

SCOPE = "sign-in"


def account_key(username: str) -> str:
    """The name as Django looks it up (NFKC, AbstractBaseUser.normalize_username), case-folded and
    trimmed: every spelling that can reach an account (`ａlice`, `ALICE `) shares its budget.
    NFKC again after casefold, because folding can leave compatibility characters behind."""
    name = AbstractBaseUser.normalize_username(str(username)).strip()
    return unicodedata.normalize("NFKC", name.casefold()).strip()


def sign_in_subjects(*, username: str, address: str) -> list[str]:
    return [f"user:{account_key(username)}", f"address:{address}"]


def sign_in_reserve(*, username: str, address: str) -> throttle.Reservation:
    """Count a sign-in try before its password is checked; raises throttle.Throttled (and then the
    password must not be checked) when the account or the address has used up its tries."""
    return throttle.reserve(SCOPE, sign_in_subjects(username=username, address=address),
                            throttle.rate_setting("CONTINUITY_SIGN_IN_RATE"))


def sign_in_succeeded(reservation: throttle.Reservation) -> None:
    """The password was right: the try does not count against anyone."""
    throttle.refund(reservation)
