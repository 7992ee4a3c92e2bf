"""Telling people what concerns them: a mention in a comment, a take they asked for is ready, a
decision on a take they asked for, a comment on a shot they follow.

Each notification is a row (the truth), then a live hint to the recipient's own sockets
(events.notify_user) and, by their preference, an e-mail at once (after commit, through Django's
e-mail backend) or a line in the daily digest (`manage.py send_digests`). Nobody is told about a
project they are no longer a member of, nor about what they did themselves.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from studio import events
from studio.models import (
    Comment, Decision, EmailMode, Membership, Notification, NotificationKind, NotificationPreference, Project, Shot,
    ShotFollow, Take,
)

logger = logging.getLogger(__name__)

# @username of a project member; the same shape as the @cast handles a comment may also name.
PERSON_MENTION = re.compile(r"(?<![\w@])@([\w.+-]+)")


@dataclass(frozen=True)
class Preference:
    in_app: bool = True
    email: str = EmailMode.INSTANT


def preferences_for(user) -> dict[str, Preference]:
    """The user's preference for every kind (defaults where they saved none)."""
    saved = {p.kind: Preference(p.in_app, p.email) for p in NotificationPreference.objects.filter(user=user)}
    return {kind: saved.get(kind, Preference()) for kind in NotificationKind.values}


@transaction.atomic
def preferences_update(*, user, choices: dict[str, tuple[bool, str]]) -> None:
    """Save (in_app, email mode) per kind; an unknown kind or mode is refused, nothing saved."""
    for kind, (in_app, email) in choices.items():
        if kind not in NotificationKind.values or email not in EmailMode.values:
            raise ValidationError(f"Unknown notification kind or e-mail choice: {kind} / {email}.")
    for kind, (in_app, email) in choices.items():
        NotificationPreference.objects.update_or_create(user=user, kind=kind, defaults={"in_app": in_app, "email": email})


# --- following shots -----------------------------------------------------------------------------

def shot_follow(*, user, shot: Shot) -> None:
    if getattr(user, "is_authenticated", False):
        ShotFollow.objects.get_or_create(user=user, shot=shot)


def shot_unfollow(*, user, shot: Shot) -> None:
    ShotFollow.objects.filter(user=user, shot=shot).delete()


def is_following(user, shot: Shot) -> bool:
    return ShotFollow.objects.filter(user=user, shot=shot).exists()


# --- what makes a notification --------------------------------------------------------------------

def mentioned_members(project_id: int, body: str) -> list:
    """Members of the project named as @username in `body`, in order (case-insensitive)."""
    names = []
    for name in PERSON_MENTION.findall(body):
        name = name.rstrip(".").lower()
        if name and name not in names:
            names.append(name)
    if not names:
        return []
    members = {m.user.get_username().lower(): m.user
               for m in Membership.objects.filter(project_id=project_id).select_related("user")
               if m.user.get_username().lower() in names}
    return [members[n] for n in names if n in members]


def _review_url(project: Project, shot_id: int, take_id: int | None) -> str:
    url = reverse("review", args=[project.slug, shot_id])
    return f"{url}?take={take_id}" if take_id else url


def comment_posted(comment: Comment) -> None:
    """A new comment: its author follows the shot; people it mentions are told (once), then the
    shot's other followers."""
    take = comment.take
    shot = take.shot
    project = shot.scene.project
    author = comment.author
    shot_follow(user=author, shot=shot)
    who = comment.author_name
    url = _review_url(project, shot.id, take.id)
    summary = comment.body if len(comment.body) <= 120 else comment.body[:119] + "…"
    told = {author.id} if author else set()
    for user in mentioned_members(project.id, comment.body):
        if user.id not in told:
            notify(recipient=user, kind=NotificationKind.MENTION, project=project, actor=author, shot=shot, take=take,
                   comment=comment, url=url, text=f"{who} mentioned you on shot {shot.code}: {summary}")
            told.add(user.id)
    followers = ShotFollow.objects.filter(shot=shot).exclude(user_id__in=told).select_related("user")
    for follow in followers:
        notify(recipient=follow.user, kind=NotificationKind.COMMENT, project=project, actor=author, shot=shot, take=take,
               comment=comment, url=url, text=f"{who} commented on shot {shot.code}: {summary}")


def take_ready(take: Take) -> None:
    """A take finished: whoever asked for it is told."""
    if take.requested_by_id is None:
        return
    shot = Shot.objects.select_related("scene__project").get(pk=take.shot_id)
    project = shot.scene.project
    notify(recipient=take.requested_by, kind=NotificationKind.TAKE_READY, project=project, actor=None, shot=shot, take=take,
           url=_review_url(project, shot.id, take.id), text=f"Take {take.number} of shot {shot.code} is ready to review.")


def take_decided(take: Take, *, decision: str, actor, note: str = "") -> None:
    """An approval or a request for changes: the person who asked for the take hears of it."""
    if take.requested_by_id is None:
        return
    shot = take.shot
    project = shot.scene.project
    verb = "approved" if decision == Decision.APPROVED else "asked for changes to"
    who = actor.get_username() if actor else "Someone"
    text = f"{who} {verb} take {take.number} of shot {shot.code}" + (f": {note}" if note else ".")
    notify(recipient=take.requested_by, kind=NotificationKind.DECISION, project=project, actor=actor, shot=shot,
           take=take, url=_review_url(project, shot.id, take.id), text=text[:300])


def notify(*, recipient, kind: str, project: Project, actor, text: str, url: str = "", shot: Shot | None = None,
           take: Take | None = None, comment: Comment | None = None) -> Notification | None:
    """Record one notification for a member, by their preferences; None when nobody is to be told
    (themselves, a non-member, or every channel switched off)."""
    if recipient is None or (actor is not None and getattr(actor, "id", None) == recipient.id):
        return None
    if not Membership.objects.filter(project=project, user=recipient).exists():
        return None
    preference = preferences_for(recipient)[kind]
    if not preference.in_app and preference.email == EmailMode.OFF:
        return None
    notification = Notification.objects.create(
        recipient=recipient, kind=kind, project=project, actor=actor if getattr(actor, "is_authenticated", False) else None,
        shot=shot, take=take, comment=comment, text=text[:300], url=url, in_app=preference.in_app, email=preference.email,
    )
    if preference.in_app:
        events.notify_user(recipient.id, {"type": "notification", "kind": kind, "text": notification.text,
                                          "unread": unread_count(recipient)})
    if preference.email == EmailMode.INSTANT:
        # After commit, and a failed send is logged, never a failed comment or render.
        transaction.on_commit(lambda: send_notification_email(notification.id), robust=True)
    return notification


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, in_app=True, read_at__isnull=True, project__memberships__user=user,
                                       project__deleted_at__isnull=True).count()


# --- reading ---------------------------------------------------------------------------------------

def notification_mark_read(*, user, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications read (or all of them); returns how many changed."""
    mine = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_id is not None:
        mine = mine.filter(pk=notification_id)
    changed = mine.update(read_at=timezone.now())
    if changed:
        events.notify_user(user.id, {"type": "notification.read", "unread": unread_count(user)})
    return changed


# --- e-mail ----------------------------------------------------------------------------------------

def _still_member(notification: Notification) -> bool:
    return Membership.objects.filter(project_id=notification.project_id, user_id=notification.recipient_id).exists()


def _absolute(url: str) -> str:
    return settings.CONTINUITY_SITE_URL.rstrip("/") + url if url.startswith("/") else url


def send_notification_email(notification_id: int) -> bool:
    """E-mail one notification now; not to someone who left the project or has no address."""
    notification = Notification.objects.select_related("recipient", "project").filter(pk=notification_id,
                                                                                     emailed_at__isnull=True).first()
    if notification is None or not notification.recipient.email or not _still_member(notification):
        return False
    subject = f"[{notification.project.name}] {notification.text}"[:150]
    body = f"{notification.text}\n\n{_absolute(notification.url)}\n\nChange what you are told: {_absolute(reverse('notifications'))}\n"
    try:
        send_mail(subject, body, None, [notification.recipient.email])
    except Exception:  # SMTP down: the notification stays in the app
        logger.warning("could not e-mail notification %s", notification_id, exc_info=True)
        return False
    Notification.objects.filter(pk=notification_id).update(emailed_at=timezone.now())
    return True


def send_digests(*, now=None) -> int:
    """One e-mail per person with every digest notification not yet sent (members only); returns
    how many e-mails went out. Run daily (`manage.py send_digests`, e.g. from cron)."""
    now = now or timezone.now()
    due = (Notification.objects.filter(email=EmailMode.DIGEST, emailed_at__isnull=True, created_at__lte=now)
           .select_related("recipient", "project").order_by("recipient_id", "created_at"))
    due = list(due)
    members = set(Membership.objects.filter(user_id__in={n.recipient_id for n in due}).values_list("user_id", "project_id"))
    by_user: dict[int, list[Notification]] = defaultdict(list)
    skipped: list[int] = []
    for notification in due:
        if (notification.recipient_id, notification.project_id) in members and notification.recipient.email:
            by_user[notification.recipient_id].append(notification)
        else:
            skipped.append(notification.id)
    sent = 0
    for items in by_user.values():
        recipient = items[0].recipient
        lines = [f"- [{n.project.name}] {n.text}\n  {_absolute(n.url)}" for n in items]
        body = "What happened in your projects:\n\n" + "\n".join(lines) + "\n"
        try:
            send_mail(f"Continuity: {len(items)} update{'s' if len(items) != 1 else ''}", body, None, [recipient.email])
        except Exception:
            logger.warning("could not send the digest to %s", recipient.pk, exc_info=True)
            continue
        Notification.objects.filter(pk__in=[n.id for n in items]).update(emailed_at=now)
        sent += 1
    # Left the project, or no address: never e-mailed, and not looked at again.
    Notification.objects.filter(pk__in=skipped).update(email=EmailMode.OFF)
    return sent
