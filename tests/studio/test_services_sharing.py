"""Guest review links: creation, passwords, expiry and revocation, and what a link may show."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from studio import access
from studio.models import AuditEvent, ReviewLink
from studio.services.cuts import cut_create
from studio.services.sharing import review_link_create, review_link_revoke
from studio.services.shots import shot_create, shot_trash
from tests.studio.views_helpers import finished_take

pytestmark = pytest.mark.django_db


def test_a_link_stores_its_token_and_a_hashed_password(project, shot, alice):
    link, token = review_link_create(project=project, actor=alice, shot=shot, days=3, password="s3cret")
    assert link.token == token and len(token) >= 32
    assert link.password_hash and "s3cret" not in link.password_hash
    assert link.password_matches("s3cret") and not link.password_matches("wrong")
    assert timedelta(days=2, hours=23) < link.expires_at - timezone.now() <= timedelta(days=3)
    assert AuditEvent.objects.filter(verb="review link created", object_id=str(link.id)).exists()


def test_tokens_differ(project, shot, alice):
    tokens = {review_link_create(project=project, actor=alice, shot=shot)[1] for _ in range(3)}
    assert len(tokens) == 3


@pytest.mark.parametrize("bad", ["both", "neither", "days"])
def test_a_link_needs_exactly_one_target_and_a_sane_lifetime(bad, project, shot, alice):
    cut = cut_create(project=project, actor=alice, name="A")
    kwargs = {"both": {"cut": cut, "shot": shot}, "neither": {}, "days": {"shot": shot, "days": 0}}[bad]
    with pytest.raises(ValidationError):
        review_link_create(project=project, actor=alice, **kwargs)
    assert ReviewLink.objects.count() == 0


def test_a_link_cannot_point_into_another_project(project, users, alice):
    from studio.services.projects import project_create
    from studio.services.shots import scene_create

    other = project_create(owner=users["eve"], name="Elsewhere")
    foreign = shot_create(scene=scene_create(project=other, actor=users["eve"], heading="INT. X"), actor=users["eve"], prompt="x")
    with pytest.raises(ValidationError):
        review_link_create(project=project, actor=alice, shot=foreign)


def test_revoked_and_expired_links_are_404(project, shot, alice):
    link, token = review_link_create(project=project, actor=alice, shot=shot)
    assert access.review_link_for(token) == link
    review_link_revoke(link=link, actor=alice)
    with pytest.raises(Http404):
        access.review_link_for(token)
    expired, token2 = review_link_create(project=project, actor=alice, shot=shot)
    ReviewLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Http404):
        access.review_link_for(token2)
    with pytest.raises(Http404):
        access.review_link_for("no-such-token")


def test_a_link_to_a_trashed_shot_stops_working(project, shot, alice):
    _, token = review_link_create(project=project, actor=alice, shot=shot)
    shot_trash(shot=shot, actor=alice)
    with pytest.raises(Http404):
        access.review_link_for(token)


def test_a_password_unlocks_for_one_session_only(project, shot, alice):
    link, _ = review_link_create(project=project, actor=alice, shot=shot, password="pw")
    session, other = SessionStore(), SessionStore()
    assert not access.review_link_unlocked(link, session)
    assert not access.review_link_unlock(link, session, "nope")
    assert access.review_link_unlock(link, session, "pw")
    assert access.review_link_unlocked(link, session) and not access.review_link_unlocked(link, other)


def test_a_shot_link_shows_only_that_shots_finished_takes(project, shot, scene, alice):
    mine = finished_take(shot)
    other_shot = shot_create(scene=scene, actor=alice, prompt="elsewhere", code="2A")
    foreign = finished_take(other_shot)
    link, _ = review_link_create(project=project, actor=alice, shot=shot)
    assert access.review_link_takes(link) == [mine]
    with pytest.raises(Http404):
        access.review_link_take(link, foreign.id)


def test_a_cut_link_shows_the_takes_the_cut_plays(project, shot, scene, alice):
    old, new = finished_take(shot, 1), finished_take(shot, 2)
    cut = cut_create(project=project, actor=alice, name="Assembly")
    link, _ = review_link_create(project=project, actor=alice, cut=cut)
    assert access.review_link_takes(link) == [new]  # newest finished, since none is approved
    with pytest.raises(Http404):
        access.review_link_take(link, old.id)


def test_a_guest_comment_records_its_link(project, shot, alice):
    from studio.services.reviews import comment_create

    take = finished_take(shot)
    link, _ = review_link_create(project=project, actor=alice, shot=shot)
    comment = comment_create(take=take, guest_name="Kim", body="Lovely", review_link=link)
    assert comment.review_link == link and comment.author is None and comment.author_name == "Kim (guest)"
