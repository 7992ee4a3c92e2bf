"""Notifications: who is told what (a mention, a take ready, a decision, a comment on a followed
shot), how (in the app, by e-mail now or in a daily digest), and which shots a person follows."""

from django.conf import settings
from django.db import models

from studio.models.project import Project
from studio.models.reviews import Comment
from studio.models.script import Shot
from studio.models.takes import Take


class NotificationKind(models.TextChoices):
    MENTION = "mention", "Someone mentions you in a comment"
    TAKE_READY = "take_ready", "A take you asked for is ready"
    DECISION = "decision", "A take you asked for is approved or sent back"
    COMMENT = "comment", "A comment on a shot you follow"


class EmailMode(models.TextChoices):
    OFF = "off", "No e-mail"
    INSTANT = "instant", "E-mail at once"
    DIGEST = "digest", "Daily digest"


class Notification(models.Model):
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="notifications")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The target: the shot, and the take and comment when there is one.
    shot = models.ForeignKey(Shot, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    take = models.ForeignKey(Take, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    comment = models.ForeignKey(Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    # Shown in the bell and the notifications page (the recipient's in-app preference for the kind).
    in_app = models.BooleanField(default=True)
    # How it is e-mailed (the recipient's preference when it was made), and when it was.
    email = models.CharField(max_length=8, choices=EmailMode.choices, default=EmailMode.OFF)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="notification_unread"),
            models.Index(fields=["email", "emailed_at"], name="notification_email_due"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient} · {self.kind} · {self.text}"


class NotificationPreference(models.Model):
    """One row per user and kind that differs from the defaults (in app: yes; e-mail: at once)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences")
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    in_app = models.BooleanField(default=True)
    email = models.CharField(max_length=8, choices=EmailMode.choices, default=EmailMode.INSTANT)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="one_preference_per_user_and_kind")]

    def __str__(self) -> str:
        return f"{self.user} · {self.kind}"


class ShotFollow(models.Model):
    """Someone who hears about every comment on a shot (automatic when they comment or ask for a render)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shot_follows")
    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="follows")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "shot"], name="follow_shot_once")]

    def __str__(self) -> str:
        return f"{self.user} follows {self.shot}"
