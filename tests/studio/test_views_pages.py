"""Every page: a member sees it, an outsider gets 404, an anonymous visitor is sent to sign in."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse

from studio.services.cuts import cut_create
from tests.studio.views_helpers import client_for, finished_take

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_urls(project, shot, alice):
    take = finished_take(shot)
    cut = cut_create(project=project, actor=alice, name="Assembly")
    slug = project.slug
    return {
        "home": reverse("project_home", args=[slug]),
        "cast": reverse("cast_library", args=[slug]),
        "script": reverse("script", args=[slug]),
        "board": reverse("board", args=[slug]),
        "review": reverse("review", args=[slug, shot.id]) + f"?take={take.id}",
        "cuts": reverse("cut_list", args=[slug]),
        "cut": reverse("cut_editor", args=[slug, cut.id]),
        "renders": reverse("active_renders", args=[slug]),
        "scenes": reverse("board_scenes", args=[slug]),
        "card": reverse("shot_card", args=[slug, shot.id]),
        "comments": reverse("comments", args=[slug, take.id]),
        "stack": reverse("take_stack", args=[slug, shot.id]),
        "entries": reverse("cut_entries", args=[slug, cut.id]),
        "exports": reverse("cut_exports", args=[slug, cut.id]),
    }


PAGES = ["home", "cast", "script", "board", "review", "cuts", "cut", "renders", "scenes", "card", "comments", "stack",
         "entries", "exports"]


@pytest.mark.parametrize("page", PAGES)
def test_a_viewer_sees_every_page(page, page_urls, users):
    response = client_for(users["dave"]).get(page_urls[page])
    assert response.status_code == 200, response.content[:500]


@pytest.mark.parametrize("page", PAGES)
def test_an_outsider_gets_404_everywhere(page, page_urls, users):
    assert client_for(users["eve"]).get(page_urls[page]).status_code == 404


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(page, page_urls):
    response = client_for(None).get(page_urls[page])
    assert response.status_code == 302
    # settings.LOGIN_URL should be "/accounts/login/" (the studio's sign-in page).
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")


def test_the_project_list_shows_only_my_projects(project, users):
    assert b"Night Ferry" in client_for(users["dave"]).get("/").content
    assert b"Night Ferry" not in client_for(users["eve"]).get("/").content


def test_login_page_signs_in_and_logout_signs_out(users):
    client = client_for(None)
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_creating_a_project_makes_me_its_owner(users):
    client = client_for(users["eve"])
    response = client.post("/projects/new/", {"name": "Harbour Lights", "fps": 25, "resolution": "1920x1080",
                                              "default_backend": "animatic"})
    assert response.status_code == 302
    from studio.models import Membership, Project

    project = Project.objects.get(name="Harbour Lights")
    assert (project.fps, project.width, project.height) == (25, 1920, 1080)
    assert Membership.objects.get(project=project, user=users["eve"]).role == "owner"


def test_a_refused_project_shows_why_and_writes_nothing(users):
    from studio.models import Project

    response = client_for(users["eve"]).post("/projects/new/", {"name": "X", "fps": 24, "resolution": "1280x720",
                                                                "default_backend": "no-such-backend"})
    assert response.status_code == 422
    assert not Project.objects.filter(name="X").exists()


def test_the_home_page_shows_progress_and_members(project, shot, users):
    content = client_for(users["dave"]).get(reverse("project_home", args=[project.slug])).content.decode()
    for name in ("alice", "bob", "carol", "dave"):
        assert f'data-user="{name}"' in content
    assert "Approved" in content and "Rendering" in content


def test_pages_use_the_vendored_scripts_and_no_cdn(project, users):
    content = client_for(users["dave"]).get(reverse("board", args=[project.slug])).content.decode()
    assert "/static/vendor/htmx.min.js" in content
    assert "hx-headers" in content and "X-CSRFToken" in content
    assert "https://" not in content and "http://" not in content
