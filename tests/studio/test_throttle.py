"""Limits on tries, counted in the real Redis: wrong review-link passwords, failed sign-ins and guest
comments. Once a limit is reached the answer is 429 with Retry-After, the password is not even
checked, and nothing is written."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import connections
from django.test import Client
from django.urls import reverse

from studio import throttle
from studio.models import Comment
from studio.services.sharing import review_link_create
from studio.services.sign_in import account_key
from tests.conftest import _redis_answers, require
from tests.studio.views_helpers import finished_take

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def three_tries(settings):
    require(_redis_answers(), "Redis")
    settings.CONTINUITY_GUEST_PASSWORD_RATE = "3/10m"
    settings.CONTINUITY_SIGN_IN_RATE = "3/10m"
    settings.CONTINUITY_GUEST_COMMENT_RATE = "3/10m"


@pytest.fixture
def locked_link(project, shot, alice):
    take = finished_take(shot)
    link, token = review_link_create(project=project, actor=alice, shot=shot, password="harbour lights")
    return {"take": take, "link": link, "token": token, "url": reverse("guest_review", args=[token])}


def _guess(client: Client, url: str, password: str, address: str = "198.51.100.7"):
    return client.post(url, {"password": password}, REMOTE_ADDR=address)


# --- The counters ----------------------------------------------------------------------------------

def test_the_counters_are_in_redis(settings):
    import redis

    rate = throttle.Rate(2, 600)
    throttle.record("probe", ["someone"], rate)
    # Seen by any process: the key is in the Redis server itself, under this test's prefix.
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    assert redis.Redis.from_url(settings.REDIS_URL).keys(f"{prefix}:*throttle:probe:*")
    throttle.check("probe", ["someone"], rate)  # 1 of 2: allowed
    throttle.record("probe", ["someone"], rate)
    with pytest.raises(throttle.Throttled) as refused:
        throttle.check("probe", ["someone", "someone else"], rate)
    assert 1 <= refused.value.retry_after_s <= 600
    throttle.check("probe", ["someone else"], rate)  # counted per subject


def test_subjects_typed_by_strangers_make_safe_keys():
    rate = throttle.Rate(1, 60)
    hostile = "user:" + "\x00 \n" * 200 + "\udcff"
    throttle.record("probe", [hostile], rate)
    with pytest.raises(throttle.Throttled):
        throttle.check("probe", [hostile], rate)


@pytest.mark.parametrize("text", ["ten", "0/10m", "10/0m", "10/10d", ""])
def test_a_malformed_rate_names_its_setting(settings, text):
    settings.CONTINUITY_SIGN_IN_RATE = text
    with pytest.raises(ValueError, match="CONTINUITY_SIGN_IN_RATE must look like '60/10m'"):
        throttle.rate_setting("CONTINUITY_SIGN_IN_RATE")


# --- Review-link passwords ---------------------------------------------------------------------------

def test_wrong_passwords_are_limited_and_the_right_one_is_not_even_checked_after(locked_link):
    client = Client()
    for _ in range(3):
        assert _guess(client, locked_link["url"], "wrong").status_code == 422
    refused = _guess(client, locked_link["url"], "harbour lights")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many wrong passwords; try again in" in refused.content.decode()
    # Still locked: the right password during the lock did not unlock the session.
    assert "protected by a password" in client.get(locked_link["url"]).content.decode()


def test_the_right_password_first_time_is_never_throttled(locked_link):
    response = _guess(Client(), locked_link["url"], "harbour lights")
    assert response.status_code == 302


def test_guesses_from_many_addresses_at_one_link_are_limited_per_link(locked_link):
    for n in range(3):
        _guess(Client(), locked_link["url"], "wrong", address=f"203.0.113.{n}")
    assert _guess(Client(), locked_link["url"], "wrong", address="203.0.113.99").status_code == 429


def test_one_address_guessing_at_many_links_is_limited_per_address(project, shot, alice):
    finished_take(shot)
    urls = [reverse("guest_review", args=[review_link_create(project=project, actor=alice, shot=shot, password="pw")[1]])
            for _ in range(4)]
    for url in urls[:3]:
        assert _guess(Client(), url, "wrong").status_code == 422
    assert _guess(Client(), urls[3], "wrong").status_code == 429
    assert _guess(Client(), urls[3], "wrong", address="192.0.2.1").status_code == 422  # someone else


# --- Sign-in ------------------------------------------------------------------------------------------

def _sign_in(client: Client, username: str, password: str, address: str = "198.51.100.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_failed_sign_ins_are_limited_per_user_name(users):
    for n, spelling in enumerate(["alice", "Alice", " ALICE "]):  # one name however it is typed
        assert _sign_in(Client(), spelling, "nope", address=f"203.0.113.{n}").status_code == 200
    refused = _sign_in(Client(), "alice", "pw-alice", address="203.0.113.50")  # even the right password
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many failed sign-ins" in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session


def test_failed_sign_ins_are_limited_per_address(users):
    for name in ["bob", "carol", "dave"]:
        _sign_in(Client(), name, "nope")
    assert _sign_in(Client(), "eve", "nope").status_code == 429
    assert _sign_in(Client(), "eve", "pw-eve", address="192.0.2.1").status_code == 302


def test_successful_sign_ins_do_not_count(users):
    for _ in range(5):
        assert _sign_in(Client(), "alice", "pw-alice").status_code == 302


# Fullwidth "ａlice" (Django signs it in as alice), fullwidth capitals, an ideographic space, modifier letters.
@pytest.mark.parametrize("spelling", ["\uff41lice", "\uff21\uff2c\uff29\uff23\uff25", "alice\u3000", "\u1d2c\u1d38\u1d35\u1d9c\u1d31"])
def test_every_spelling_django_would_sign_in_as_alice_shares_her_limit(users, spelling):
    # Django signs in with the NFKC form of the name: fullwidth "ａlice" is alice.
    assert get_user_model().normalize_username(spelling).strip().casefold() == "alice"
    for n in range(3):
        assert _sign_in(Client(), "alice", "nope", address=f"203.0.113.{n}").status_code == 200
    wrong = _sign_in(Client(), spelling, "nope", address="203.0.113.60")
    right = _sign_in(Client(), spelling, "pw-alice", address="203.0.113.61")
    assert (wrong.status_code, right.status_code) == (429, 429)
    assert "_auth_user_id" not in right.wsgi_request.session


def test_the_limit_key_is_the_name_django_looks_up_case_folded():
    assert {account_key(name) for name in ["alice", " ALICE ", "\uff41lice", "Alice\u3000"]} == {"alice"}
    assert account_key("stra\u00dfe") == account_key("STRASSE")  # casefold, not lower
    assert account_key("alice") != account_key("alicia")


# --- The admin's sign-in --------------------------------------------------------------------------------

@pytest.fixture
def staff(users):
    alice = users["alice"]
    alice.is_staff = alice.is_superuser = True
    alice.save()
    return alice


def _admin_sign_in(client: Client, username: str, password: str, address: str = "198.51.100.7"):
    return client.post(reverse("admin:login") + "?next=/admin/", {"username": username, "password": password, "next": "/admin/"},
                       REMOTE_ADDR=address)


def test_the_admin_sign_in_is_limited_too(staff):
    for n in range(3):
        assert _admin_sign_in(Client(), "alice", "nope", address=f"203.0.113.{n}").status_code == 200
    refused = _admin_sign_in(Client(), "alice", "pw-alice", address="203.0.113.50")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many failed sign-ins" in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session


def test_admin_and_studio_sign_ins_share_one_budget(staff):
    _admin_sign_in(Client(), "alice", "nope", address="203.0.113.1")
    _sign_in(Client(), "alice", "nope", address="203.0.113.2")
    _admin_sign_in(Client(), "alice", "nope", address="203.0.113.3")
    assert _sign_in(Client(), "alice", "pw-alice", address="203.0.113.4").status_code == 429
    assert _admin_sign_in(Client(), "alice", "pw-alice", address="203.0.113.5").status_code == 429
    # ... and per address: three misses at the admin from one address, then a studio sign-in from it.
    for name in ["bob", "carol", "dave"]:
        _admin_sign_in(Client(), name, "nope", address="192.0.2.9")
    assert _sign_in(Client(), "eve", "pw-eve", address="192.0.2.9").status_code == 429


def test_the_admin_still_signs_staff_in_and_a_right_password_there_does_not_count(staff, users):
    for _ in range(4):  # bob is no staff: refused by the admin, but his password was right
        assert _admin_sign_in(Client(), "bob", "pw-bob").status_code == 200
    assert _sign_in(Client(), "bob", "pw-bob").status_code == 302
    client = Client()
    assert _admin_sign_in(client, "alice", "pw-alice").status_code == 302
    assert client.get("/admin/").status_code == 200


# --- A burst of concurrent guesses ------------------------------------------------------------------

class CountingBackend(ModelBackend):
    """Django's own backend, counting the password checks it is asked to make."""

    checks = 0
    lock = threading.Lock()

    def authenticate(self, request, username=None, password=None, **kwargs):
        with CountingBackend.lock:
            CountingBackend.checks += 1
        return super().authenticate(request, username=username, password=password, **kwargs)


@pytest.mark.django_db(transaction=True)  # the threads' own connections must see the users
def test_a_burst_of_concurrent_guesses_gets_no_more_checks_than_the_limit(settings, users):
    settings.AUTHENTICATION_BACKENDS = [f"{__name__}.CountingBackend"]
    CountingBackend.checks = 0
    burst = 25
    start, statuses = threading.Barrier(burst), []

    def guess(n: int) -> None:
        try:
            start.wait(timeout=30)
            statuses.append(_sign_in(Client(), "alice", f"guess {n}", address=f"203.0.113.{n}").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(burst)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == burst
    assert CountingBackend.checks <= 3  # the limit, however the burst interleaves
    assert sorted(statuses) == [200] * 3 + [429] * (burst - 3)


# --- Guest comments -----------------------------------------------------------------------------------

def test_guest_comments_are_limited_and_the_refused_one_is_not_written(project, shot, alice):
    take = finished_take(shot)
    _, token = review_link_create(project=project, actor=alice, shot=shot)
    url = reverse("guest_comment", args=[token, take.id])
    client = Client()
    for n in range(3):
        assert client.post(url, {"name": "Kim", "body": f"note {n}", "frame": "1"}, REMOTE_ADDR="198.51.100.7").status_code == 302
    refused = client.post(url, {"name": "Kim", "body": "one more", "frame": "1"}, REMOTE_ADDR="198.51.100.7")
    assert refused.status_code == 429
    assert "Too many comments from here" in refused.content.decode()
    assert Comment.objects.count() == 3


@pytest.mark.parametrize(("header_setting", "meta", "address"), [
    ("", {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_REAL_IP": "198.51.100.7"}, "10.0.0.2"),  # not trusted: not read
    ("X-Real-IP", {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_REAL_IP": "198.51.100.7"}, "198.51.100.7"),
    ("X-Forwarded-For", {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.7, 10.0.0.1"}, "198.51.100.7"),
    ("X-Real-IP", {"REMOTE_ADDR": "10.0.0.2"}, "10.0.0.2"),  # the proxy did not set it
])
def test_the_client_address_comes_from_the_proxy_header_only_when_configured(settings, rf, header_setting, meta, address):
    settings.CONTINUITY_CLIENT_ADDRESS_HEADER = header_setting
    assert throttle.client_address(rf.get("/", **meta)) == address


def test_behind_a_proxy_one_client_is_throttled_and_another_is_not(settings, project, shot, alice):
    settings.CONTINUITY_CLIENT_ADDRESS_HEADER = "X-Real-IP"
    finished_take(shot)
    urls = [reverse("guest_review", args=[review_link_create(project=project, actor=alice, shot=shot, password="pw")[1]])
            for _ in range(4)]
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request arrives from the proxy
    for url in urls[:3]:  # one client guesses at three links
        Client().post(url, {"password": "wrong"}, **proxy, HTTP_X_REAL_IP="198.51.100.7")
    assert Client().post(urls[3], {"password": "wrong"}, **proxy, HTTP_X_REAL_IP="198.51.100.7").status_code == 429
    assert Client().post(urls[3], {"password": "wrong"}, **proxy, HTTP_X_REAL_IP="203.0.113.9").status_code == 422


def _dead_cache(settings):
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    caches["default"]["LOCATION"] = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    settings.CACHES = caches


def test_with_redis_away_sign_in_still_works_and_the_board_still_renders(settings, project, shot, users):
    _dead_cache(settings)
    assert _sign_in(Client(), "alice", "nope").status_code == 200  # refused as a wrong password, not a 500
    client = Client()
    assert _sign_in(client, "alice", "pw-alice").status_code == 302
    assert client.get(reverse("board", args=[project.slug])).status_code == 200
