"""The guest service decides how often a review link's guest may try: wrong passwords and comments
counted per link and per address in the real Redis, checked before the password is looked at."""

from __future__ import annotations

import pytest

from studio.models import Comment
from studio.services.guests import GuestThrottled, guest_comment_check, guest_comment_create, guest_unlock
from studio.services.sharing import review_link_create
from tests.conftest import _redis_answers, require
from tests.studio.views_helpers import finished_take

pytestmark = pytest.mark.django_db

ADDRESS = "198.51.100.7"


@pytest.fixture(autouse=True)
def two_tries(settings):
    require(_redis_answers(), "Redis")
    settings.CONTINUITY_GUEST_PASSWORD_RATE = "2/10m"
    settings.CONTINUITY_GUEST_COMMENT_RATE = "2/10m"


@pytest.fixture
def locked(project, shot, alice):
    link, _ = review_link_create(project=project, actor=alice, shot=shot, password="harbour lights")
    return link


def test_a_right_password_unlocks_the_session_and_a_wrong_one_does_not(locked):
    session = {}
    assert guest_unlock(link=locked, session=session, password="wrong", address=ADDRESS) is False
    assert session == {}
    assert guest_unlock(link=locked, session=session, password="harbour lights", address=ADDRESS) is True
    assert session["review_links_unlocked"] == [locked.id]


def test_once_throttled_the_right_password_is_not_even_checked(locked):
    session = {}
    for _ in range(2):
        assert guest_unlock(link=locked, session=session, password="wrong", address=ADDRESS) is False
    with pytest.raises(GuestThrottled, match=r"^Too many wrong passwords; try again in \d+ minutes?\.$") as refused:
        guest_unlock(link=locked, session=session, password="harbour lights", address=ADDRESS)
    assert 0 < refused.value.retry_after_s <= 600
    assert session == {}  # still locked


def test_wrong_passwords_count_per_link_whatever_the_address(locked):
    for n in range(2):
        guest_unlock(link=locked, session={}, password="wrong", address=f"203.0.113.{n}")
    with pytest.raises(GuestThrottled):
        guest_unlock(link=locked, session={}, password="harbour lights", address="203.0.113.99")


def test_comments_count_and_the_one_over_the_limit_is_refused_unwritten(project, shot, alice):
    take = finished_take(shot)
    link, _ = review_link_create(project=project, actor=alice, shot=shot)
    for n in range(2):
        guest_comment_create(link=link, take=take, address=ADDRESS, name="Kim", body=f"note {n}", frame=1)
    with pytest.raises(GuestThrottled, match="Too many comments from here"):
        guest_comment_check(link=link, address=ADDRESS)
    with pytest.raises(GuestThrottled):
        guest_comment_create(link=link, take=take, address=ADDRESS, name="Kim", body="one more", frame=1)
    assert list(Comment.objects.values_list("body", flat=True).order_by("id")) == ["note 0", "note 1"]


@pytest.mark.django_db(transaction=True)  # the threads' own connections must see the link
def test_a_burst_of_concurrent_wrong_passwords_gets_no_more_checks_than_the_limit(locked, monkeypatch):
    import threading

    from django.db import connections

    from studio import access

    checks, lock, unlock = [], threading.Lock(), access.review_link_unlock

    def counting_unlock(*args, **kwargs):
        with lock:
            checks.append(1)
        return unlock(*args, **kwargs)

    monkeypatch.setattr(access, "review_link_unlock", counting_unlock)
    burst = 12
    start, outcomes = threading.Barrier(burst), []

    def guess(n: int) -> None:
        try:
            start.wait(timeout=30)
            outcomes.append(guest_unlock(link=locked, session={}, password=f"guess {n}", address=f"203.0.113.{n}"))
        except GuestThrottled:
            outcomes.append("throttled")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(burst)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(checks) == 2  # the per-link limit, however the burst interleaves
    assert sorted(map(str, outcomes)) == ["False"] * 2 + ["throttled"] * (burst - 2)


def test_a_right_password_gives_its_try_back(locked):
    guest_unlock(link=locked, session={}, password="wrong", address=ADDRESS)
    for _ in range(3):  # more right answers than the limit: none of them counts
        assert guest_unlock(link=locked, session={}, password="harbour lights", address=ADDRESS) is True
    assert guest_unlock(link=locked, session={}, password="wrong", address=ADDRESS) is False
