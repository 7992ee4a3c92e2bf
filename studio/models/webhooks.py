"""Webhooks: endpoints a project's owners register, and the log of every delivery to them.

Signed per the Standard Webhooks specification (studio/services/webhooks.py); one delivery row
per event and endpoint, however many attempts it takes, so the log reads like the receiver saw it.
"""

from django.conf import settings
from django.db import models

from studio.models.project import Project


class WebhookEvent(models.TextChoices):
    TAKE_SUCCEEDED = "take.succeeded", "A take finished rendering"
    TAKE_FAILED = "take.failed", "A take failed to render"
    TAKE_APPROVED = "take.approved", "A take was approved"
    CUT_EXPORTED = "cut.exported", "A cut export finished"
    COMMENT_CREATED = "comment.created", "Someone commented on a take"
    SCRIPT_IMPORTED = "script.imported", "A script was imported"


# Sent by the "send test event" button; never emitted by the studio itself.
TEST_EVENT = "webhook.test"


class WebhookEndpoint(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=100, help_text="whsec_ followed by base64: the receiver verifies signatures with it.")
    events = models.JSONField(default=list, help_text="WebhookEvent values this endpoint receives.")
    active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_reason = models.TextField(blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "created_at", "id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return self.active and event_type in self.events


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its first attempt or for a retry
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"  # every retry spent, refused, or the endpoint was disabled


class WebhookDelivery(models.Model):
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64, db_index=True, help_text="webhook-id: the same for every attempt and redelivery.")
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True, help_text="Why the last attempt failed, when it was not an HTTP answer.")
    attempt_log = models.JSONField(default=list, help_text="One entry per attempt: when, response code or error, next delay.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint}"
