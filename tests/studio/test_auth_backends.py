"""The signed-in user and the session read from the shared cache (studio/auth_backends.py,
studio/sessions.py): two queries fewer on every page, and a change to the user (deactivated, new
password, deleted) or a sign-out still takes effect on the very next request, whichever process
served the last one. Real Redis (the test settings' cache)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from studio import auth_backends, sessions
from tests.studio.views_helpers import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.services]


def _board(client, project):
    return client.get(reverse("board", args=[project.slug]))


def _user_reads(queries) -> int:
    table = get_user_model()._meta.db_table
    return sum(f'FROM "{table}"' in q["sql"] for q in queries.captured_queries)


def test_a_page_after_the_first_reads_the_user_and_the_session_from_the_cache(project, users, django_assert_num_queries):
    from django.db import connection

    client = client_for(users["dave"])
    with CaptureQueriesContext(connection) as first:
        assert _board(client, project).status_code == 200
    assert _user_reads(first) == 1
    assert cache.get(auth_backends._key(users["dave"].pk)).username == "dave"
    # The board again, unchanged: the project with the caller's role, nothing else.
    with django_assert_num_queries(1) as again:
        assert _board(client, project).status_code == 200
    assert _user_reads(again) == 0


@pytest.mark.parametrize("change", ["deactivated", "new password", "deleted"])
def test_a_change_to_the_user_takes_effect_on_the_next_request(change, project, users):
    client = client_for(users["dave"])
    assert _board(client, project).status_code == 200  # dave's row is now in the cache
    dave = get_user_model().objects.get(username="dave")
    if change == "deactivated":
        dave.is_active = False
        dave.save()
    elif change == "new password":  # changed elsewhere: this browser's session no longer matches
        dave.set_password("a new one, elsewhere")
        dave.save()
    else:
        dave.delete()
    assert cache.get(auth_backends._key(dave.pk)) is None
    response = _board(client, project)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_saved_change_to_the_user_is_read_anew_on_the_next_page(project, users):
    """Saving the user drops the cached row; the next page reads the row as it is now."""
    client = client_for(users["dave"])
    _board(client, project)
    dave = get_user_model().objects.get(username="dave")
    dave.first_name = "David"
    dave.save()
    _board(client, project)
    assert cache.get(auth_backends._key(dave.pk)).first_name == "David"


def test_a_sign_out_ends_the_session_in_the_cache_too(project, users):
    from django.test import Client

    client = Client()
    assert client.post(reverse("login"), {"username": "dave", "password": "pw-dave"}).status_code == 302
    assert _board(client, project).status_code == 200
    cookie = client.cookies["sessionid"].value
    assert cache.get(sessions.SessionStore.cache_key_prefix + cookie) is not None  # served from Redis
    client.post(reverse("logout"))
    stolen = Client()
    stolen.cookies["sessionid"] = cookie  # the old cookie, replayed
    assert cache.get(sessions.SessionStore.cache_key_prefix + cookie) is None
    assert _board(stolen, project).status_code == 302


def test_a_cached_session_lives_a_few_minutes_at_most(project, users):
    client = client_for(users["dave"])
    _board(client, project)
    key = sessions.SessionStore.cache_key_prefix + client.cookies["sessionid"].value
    assert 0 < cache._cache.get_client().ttl(cache.make_key(key)) <= sessions.SESSION_CACHE_S
