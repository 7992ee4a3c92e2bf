"""Limits on tries, counted in the real Redis: wrong review-link passwords, failed sign-ins and guest
comments. Once a limit is reached the answer is 429 with Retry-After, the password is not even
checked, and nothing is written."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from studio import throttle
from studio.models import Comment
from studio.services.sharing import review_link_create
from tests.conftest import _redis_answers, require
from tests.studio.views_helpers import finished_take, shot  # noqa: F401  (fixture)

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
