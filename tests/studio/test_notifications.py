"""Notifications: who hears of a mention, a finished take, a decision and a comment on a followed
shot; preferences; e-mail at once or in a digest, never to someone who left; the page, the bell
and marking read (each person sees only their own)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from studio.models import Decision, EmailMode, Notification, NotificationKind, ShotFollow, TakeStatus
from studio.services import notifications
from studio.services.projects import membership_remove
from studio.services.renders import take_succeed
from studio.services.reviews import comment_create, review_decide
from studio.models import Membership
from tests.studio.views_helpers import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(users):
    return users["bob"]


@pytest.fixture
def carol(users):
    return users["carol"]


def test_a_mention_of_a_member_notifies_them_once_and_sends_one_email(take, alice, carol, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        comment_create(take=take, author=alice, body="@carol can you check the horizon? @Carol @mara @nobody")
    mine = Notification.objects.filter(recipient=carol)
    assert [(n.kind, n.comment.body[:6]) for n in mine] == [(NotificationKind.MENTION, "@carol")]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["carol@example.com"]
    assert "alice mentioned you on shot 1A" in mail.outbox[0].subject
    assert f"/shots/{take.shot_id}/review/?take={take.id}" in mail.outbox[0].body
    assert not Notification.objects.filter(recipient=alice).exists()  # never about what you did yourself


def test_people_outside_the_project_are_never_notified(take, alice, users):
    comment_create(take=take, author=alice, body="@eve have a look")
    assert not Notification.objects.filter(recipient=users["eve"]).exists()


def test_followers_hear_of_comments_and_commenting_follows_the_shot(take, alice, bob, carol):
    notifications.shot_follow(user=bob, shot=take.shot)
    comment_create(take=take, author=carol, body="The lamp flickers too early.")
    assert Notification.objects.get(recipient=bob).kind == NotificationKind.COMMENT
    assert ShotFollow.objects.filter(user=carol, shot=take.shot).exists()
    # carol now follows: bob's reply reaches her, a mention is not counted twice
    comment_create(take=take, author=bob, body="@carol fixed in the next take")
    assert list(Notification.objects.filter(recipient=carol).values_list("kind", flat=True)) == [NotificationKind.MENTION]
    notifications.shot_unfollow(user=bob, shot=take.shot)
    comment_create(take=take, author=carol, body="Thanks")
    assert Notification.objects.filter(recipient=bob).count() == 1


def test_the_requester_hears_when_the_take_is_ready_and_when_it_is_decided(take, bob, carol):
    take.requested_by, take.status, take.attempts = bob, TakeStatus.RUNNING, 1
    take.save()
    assert take_succeed(take=take, video=take.video.name, poster=take.poster.name, last_frame="", frames=48,
                        duration_s=2.0, compute_seconds=0.1, provenance={})
    review_decide(take=take, actor=carol, decision=Decision.CHANGES_REQUESTED, note="Warmer light")
    review_decide(take=take, actor=carol, decision=Decision.APPROVED)
    texts = list(Notification.objects.filter(recipient=bob).order_by("id").values_list("kind", "text"))
    assert texts == [
        (NotificationKind.TAKE_READY, "Take 1 of shot 1A is ready to review."),
        (NotificationKind.DECISION, "carol asked for changes to take 1 of shot 1A: Warmer light"),
        (NotificationKind.DECISION, "carol approved take 1 of shot 1A."),
    ]


def test_preferences_switch_channels_off_and_digest_mail_goes_once_to_members_only(take, alice, bob, carol,
                                                                                   django_capture_on_commit_callbacks):
    notifications.preferences_update(user=carol, choices={NotificationKind.MENTION: (False, EmailMode.DIGEST)})
    notifications.preferences_update(user=bob, choices={NotificationKind.MENTION: (True, EmailMode.OFF)})
    with django_capture_on_commit_callbacks(execute=True):
        comment_create(take=take, author=alice, body="@carol @bob two things")
    assert mail.outbox == []  # carol: digest, bob: no e-mail
    assert notifications.unread_count(carol) == 0 and notifications.unread_count(bob) == 1  # carol: not in the app
    call_command("send_digests")
    assert [m.to for m in mail.outbox] == [["carol@example.com"]]
    assert "alice mentioned you on shot 1A" in mail.outbox[0].body
    call_command("send_digests")
    assert len(mail.outbox) == 1  # nothing twice


def test_no_email_to_someone_no_longer_a_member(take, alice, carol, django_capture_on_commit_callbacks):
    notifications.preferences_update(user=carol, choices={NotificationKind.MENTION: (True, EmailMode.DIGEST)})
    comment_create(take=take, author=alice, body="@carol one for the digest")
    membership_remove(membership=Membership.objects.get(user=carol, project=take.shot.scene.project), actor=alice)
    call_command("send_digests")
    assert mail.outbox == []
    # and an instant e-mail queued before the removal is not sent after it
    notification = Notification.objects.get(recipient=carol)
    assert notifications.send_notification_email(notification.id) is False


def test_bad_preferences_are_refused_and_nothing_is_saved(carol):
    client = client_for(carol)
    response = client.post(reverse("notifications"), {"in_app_mention": "1", "email_mention": "carrier-pigeon"})
    assert response.status_code == 422
    assert "Unknown notification kind or e-mail choice" in response.content.decode()
    assert notifications.preferences_for(carol)[NotificationKind.MENTION].email == EmailMode.INSTANT


def test_the_page_lists_only_my_notifications_and_opening_one_marks_it_read(take, alice, bob, carol):
    comment_create(take=take, author=alice, body="@carol and @bob please look")
    client = client_for(carol)
    page = client.get(reverse("notifications")).content.decode()
    assert "alice mentioned you on shot 1A" in page
    assert client.get(reverse("notifications_bell")).content.decode().count('data-unread="1"') == 1
    bobs = Notification.objects.get(recipient=bob)
    assert client.post(reverse("notification_open", args=[bobs.id])).status_code == 404  # not carol's
    mine = Notification.objects.get(recipient=carol)
    response = client.post(reverse("notification_open", args=[mine.id]))
    assert response.status_code == 302 and response.url == mine.url
    assert notifications.unread_count(carol) == 0 and notifications.unread_count(bob) == 1
    assert 'data-unread="0"' in client.get(reverse("notifications_bell")).content.decode()


def test_mark_all_read_and_follow_toggle_from_the_review_room(take, alice, bob):
    comment_create(take=take, author=alice, body="@bob one")
    comment_create(take=take, author=alice, body="@bob two")
    client = client_for(bob)
    client.post(reverse("notifications_read_all"))
    assert notifications.unread_count(bob) == 0
    slug = take.shot.scene.project.slug
    client.post(reverse("shot_follow", args=[slug, take.shot_id]), {"follow": "1"})
    assert notifications.is_following(bob, take.shot)
    client.post(reverse("shot_follow", args=[slug, take.shot_id]), {"follow": "0"})
    assert not notifications.is_following(bob, take.shot)
    assert client_for(bob).get(reverse("review", args=[slug, take.shot_id])).status_code == 200
