from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import models
from django.utils import timezone

from studio.models.cuts import Cut
from studio.models.project import Project
from studio.models.script import Shot


class ReviewLink(models.Model):
    """A guest review link: watch and comment on one cut or one shot's takes, nothing else."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="review_links")
    token = models.CharField(max_length=64, unique=True)
    cut = models.ForeignKey(Cut, null=True, blank=True, on_delete=models.CASCADE, related_name="review_links")
    shot = models.ForeignKey(Shot, null=True, blank=True, on_delete=models.CASCADE, related_name="review_links")
    label = models.CharField(max_length=120, blank=True)
    password_hash = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(cut__isnull=False, shot__isnull=True) | models.Q(cut__isnull=True, shot__isnull=False),
                name="review_link_targets_a_cut_or_a_shot",
            )
        ]

    def __str__(self) -> str:
        return self.label or f"Review link for {self.cut or self.shot}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    def password_matches(self, raw: str) -> bool:
        return not self.password_hash or check_password(raw, self.password_hash)
