"""Guest review pages: no account, only what the link shares, password once per session, comments
under a name, media with Range, and 404 for anything dead or outside the link."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studio import access
from studio.models import Comment, CutEntry, ReviewLink
from studio.services.cuts import cut_create
from studio.services.sharing import review_link_create, review_link_revoke
from studio.services.shots import scene_create, scene_trash, shot_create
from tests.studio.views_helpers import VIDEO_BYTES, client_for, finished_take

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(project, shot, alice):
    take = finished_take(shot)
    link, token = review_link_create(project=project, actor=alice, shot=shot)
    return {"take": take, "link": link, "token": token}


def test_a_guest_sees_the_shots_takes_without_signing_in(shared):
    response = Client().get(reverse("guest_review", args=[shared["token"]]))
    assert response.status_code == 200
    body = response.content.decode()
    assert reverse("guest_media", args=[shared["token"], shared["take"].id]) in body
    assert "/p/" not in body  # no member URLs leak onto the guest page


def test_a_guest_comments_under_a_name(shared):
    client = Client()
    url = reverse("guest_comment", args=[shared["token"], shared["take"].id])
    response = client.post(url, {"name": "Kim", "body": "The boat is too small", "frame": "4"})
    assert response.status_code == 302
    comment = Comment.objects.get()
    assert (comment.guest_name, comment.author, comment.review_link, comment.frame) == ("Kim", None, shared["link"], 4)
    page = client.get(reverse("guest_review", args=[shared["token"]])).content.decode()
    assert "Kim (guest)" in page and "The boat is too small" in page


def test_a_guest_comment_needs_a_name(shared):
    url = reverse("guest_comment", args=[shared["token"], shared["take"].id])
    assert Client().post(url, {"name": "", "body": "hi"}).status_code == 422
    assert Comment.objects.count() == 0


def test_guest_media_supports_ranges(shared):
    url = reverse("guest_media", args=[shared["token"], shared["take"].id])
    response = Client().get(url, headers={"Range": "bytes=10-19"})
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == VIDEO_BYTES[10:20]
    assert Client().get(reverse("guest_poster", args=[shared["token"], shared["take"].id])).status_code == 200


def test_takes_outside_the_link_are_404(shared, project, scene, alice):
    other = finished_take(shot_create(scene=scene, actor=alice, prompt="x", code="9"))
    client = Client()
    assert client.get(reverse("guest_media", args=[shared["token"], other.id])).status_code == 404
    assert client.post(reverse("guest_comment", args=[shared["token"], other.id]), {"name": "a", "body": "b"}).status_code == 404
    assert client.get(reverse("guest_review", args=[shared["token"]]) + f"?take={other.id}").status_code == 404
    assert Comment.objects.count() == 0


@pytest.mark.parametrize("death", ["revoked", "expired", "unknown"])
def test_dead_links_are_404_everywhere(death, shared, alice):
    token = shared["token"]
    if death == "revoked":
        review_link_revoke(link=shared["link"], actor=alice)
    elif death == "expired":
        ReviewLink.objects.filter(pk=shared["link"].pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    else:
        token = "x" * 32
    client = Client()
    assert client.get(reverse("guest_review", args=[token])).status_code == 404
    assert client.get(reverse("guest_media", args=[token, shared["take"].id])).status_code == 404
    assert client.post(reverse("guest_comment", args=[token, shared["take"].id]), {"name": "a", "body": "b"}).status_code == 404
    assert Comment.objects.count() == 0


def test_a_password_is_asked_once_per_session(project, shot, alice):
    take = finished_take(shot)
    _, token = review_link_create(project=project, actor=alice, shot=shot, password="harbour")
    client = Client()
    page = reverse("guest_review", args=[token])
    locked = client.get(page)
    assert locked.status_code == 200 and b'name="password"' in locked.content and b"/media/" not in locked.content
    assert client.get(reverse("guest_media", args=[token, take.id])).status_code == 404
    assert client.post(page, {"password": "wrong"}).status_code == 422
    assert client.post(page, {"password": "harbour"}).status_code == 302
    assert client.get(reverse("guest_media", args=[token, take.id])).status_code == 200
    assert Client().get(reverse("guest_media", args=[token, take.id])).status_code == 404  # another browser


def test_a_cut_link_lists_the_cuts_takes(project, shot, alice):
    take = finished_take(shot)
    cut = cut_create(project=project, actor=alice, name="Assembly")
    _, token = review_link_create(project=project, actor=alice, cut=cut)
    body = Client().get(reverse("guest_review", args=[token])).content.decode()
    assert "Assembly" in body and reverse("guest_media", args=[token, take.id]) in body


def test_owners_create_and_revoke_links_on_the_links_page(project, shot, users):
    url = reverse("review_links", args=[project.slug])
    owner = client_for(users["alice"])
    response = owner.post(url, {"target": f"shot:{shot.id}", "days": 5, "label": "For the client", "password": ""})
    assert response.status_code == 302
    link = ReviewLink.objects.get()
    assert link.shot == shot and link.label == "For the client"
    assert reverse("guest_review", args=[link.token]) in owner.get(url).content.decode()
    assert owner.post(reverse("review_link_revoke", args=[project.slug, link.id])).status_code == 302
    link.refresh_from_db()
    assert link.revoked_at is not None


def test_only_owners_manage_links(project, shot, users):
    url = reverse("review_links", args=[project.slug])
    assert client_for(users["bob"]).get(url).status_code == 403
    assert client_for(users["bob"]).post(url, {"target": f"shot:{shot.id}", "days": 5}).status_code == 403
    assert client_for(users["eve"]).get(url).status_code == 404
    assert ReviewLink.objects.count() == 0


# --- Cut links: what the cut plays now, nothing in the trash, media by the page's key ------------

@pytest.fixture
def cut_link(project, scene, shot, alice):
    """A cut of two shots in two scenes, each with a finished take, shared by a link."""
    pier = scene_create(project=project, actor=alice, heading="EXT. PIER - DAWN")
    pier_shot = shot_create(scene=pier, actor=alice, prompt="gulls", code="2A")
    cut = cut_create(project=project, actor=alice, name="Assembly")
    link, token = review_link_create(project=project, actor=alice, cut=cut)
    return {"cut": cut, "link": link, "token": token, "pier": pier, "pier_shot": pier_shot,
            "kept": finished_take(shot), "pier_take": finished_take(pier_shot)}


def guest_media_url(link, take, kind: str = "guest_media") -> str:
    """The URL the guest page gives for a take's media (it carries the page's key)."""
    return reverse(kind, args=[link.token, take.id]) + "?k=" + access.review_link_media_key(link, take.id)


def player_sources(client, token: str, take) -> tuple[str, str]:
    """The video and poster URLs of the guest page's player, showing this take."""
    body = client.get(reverse("guest_review", args=[token]) + f"?take={take.id}").content.decode()
    found = re.search(r'<video id="guest-video" src="([^"]+)" poster="([^"]+)"', body)
    return found.group(1).replace("&amp;", "&"), found.group(2).replace("&amp;", "&")


def test_takes_of_a_trashed_scene_leave_the_cut_link(cut_link, alice):
    token, gone, kept = cut_link["token"], cut_link["pier_take"], cut_link["kept"]
    client = Client()
    page = reverse("guest_review", args=[token])
    video, poster = player_sources(client, token, gone)  # shared while its scene is live
    assert client.get(video).status_code == 200 and client.get(poster).status_code == 200
    scene_trash(scene=cut_link["pier"], actor=alice)

    body = client.get(page).content.decode()
    assert f'href="?take={kept.id}"' in body and f'href="?take={gone.id}"' not in body  # the list of takes
    assert client.get(page + f"?take={gone.id}").status_code == 404
    assert client.get(video).status_code == 404
    assert client.get(poster).status_code == 404
    comment = client.post(reverse("guest_comment", args=[token, gone.id]), {"name": "Kim", "body": "still here?"})
    assert comment.status_code == 404 and Comment.objects.count() == 0
    assert client.get(player_sources(client, token, kept)[0]).status_code == 200
    # Members get 404 on that shot, and the cut editor no longer lists it.
    member = client_for(alice)
    assert member.get(reverse("review", args=[cut_link["cut"].project.slug, cut_link["pier_shot"].id])).status_code == 404
    editor = member.get(reverse("cut_editor", args=[cut_link["cut"].project.slug, cut_link["cut"].id])).content.decode()
    assert f'id="entry-{CutEntry.objects.get(shot=cut_link["pier_shot"]).id}"' not in editor
    assert f'id="entry-{CutEntry.objects.get(shot=kept.shot).id}"' in editor


def test_cut_link_media_is_fetched_by_the_url_its_page_gives(cut_link):
    token, link, kept = cut_link["token"], cut_link["link"], cut_link["kept"]
    client = Client()
    response = client.get(player_sources(client, token, kept)[0], headers={"Range": "bytes=10-19"})
    assert response.status_code == 206 and b"".join(response.streaming_content) == VIDEO_BYTES[10:20]
    bare = reverse("guest_media", args=[token, kept.id])
    assert client.get(bare).status_code == 404  # a take id alone proves nothing about the cut
    assert client.get(bare + "?k=" + "0" * 43).status_code == 404


def test_a_key_for_a_take_outside_the_cut_opens_nothing(cut_link, project, scene, alice):
    """The key says the page showed the take; the take must also still be live and in the cut."""
    link = cut_link["link"]
    outside = finished_take(shot_create(scene=scene, actor=alice, prompt="not in the cut", code="9"))
    assert Client().get(guest_media_url(link, outside)).status_code == 404
    other_link, _ = review_link_create(project=project, actor=alice, cut=cut_create(project=project, actor=alice, name="B"))
    foreign_key = access.review_link_media_key(other_link, cut_link["kept"].id)
    url = reverse("guest_media", args=[link.token, cut_link["kept"].id]) + "?k=" + foreign_key
    assert Client().get(url).status_code == 404


def test_a_bad_frame_from_the_player_is_said_and_the_comment_kept(shared):
    """The frame field is hidden (the player sets it); a bad value still gets a visible error."""
    url = reverse("guest_comment", args=[shared["token"], shared["take"].id])
    response = Client().post(url, {"name": "Kim", "body": "Keep this text", "frame": "-3"})
    assert response.status_code == 422
    body = response.content.decode()
    assert re.search(r'role="alert"><p>At frame: [^<]*greater than or equal to 0', body)
    assert "Keep this text" in body
    assert not Comment.objects.exists()
