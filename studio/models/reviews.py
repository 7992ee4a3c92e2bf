from django.conf import settings
from django.db import models

from studio.models.base import Trashable
from studio.models.takes import Take


class Comment(Trashable):
    """A timecoded note on a take; replies hang off their parent. Guests comment under a name."""

    take = models.ForeignKey(Take, on_delete=models.CASCADE, related_name="comments")
    trash_parents = ("take",)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    guest_name = models.CharField(max_length=80, blank=True)
    review_link = models.ForeignKey("studio.ReviewLink", null=True, blank=True, on_delete=models.SET_NULL, related_name="comments")
    body = models.TextField()
    frame = models.PositiveIntegerField(null=True, blank=True, help_text="Timecode as a frame number; empty for a general note.")
    annotation = models.JSONField(null=True, blank=True, help_text="Strokes drawn on the paused frame.")
    resolved = models.BooleanField(default=False)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["take", "frame", "created_at"]

    def __str__(self) -> str:
        return f"{self.author_name} on {self.take}"

    @property
    def author_name(self) -> str:
        if self.author_id:
            return self.author.get_username()
        return f"{self.guest_name} (guest)"


class Decision(models.TextChoices):
    APPROVED = "approved", "Approved"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"


class ReviewDecision(models.Model):
    """A decision on a take. The history is kept; the latest one is the take's review state."""

    take = models.ForeignKey(Take, on_delete=models.CASCADE, related_name="decisions")
    decision = models.CharField(max_length=24, choices=Decision.choices)
    note = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["take", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} · {self.take}"
