from django.conf import settings
from django.db import models

from studio import release
from studio.models.base import Timestamped, Trashable, Versioned


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    REVIEWER = "reviewer", "Reviewer"
    VIEWER = "viewer", "Viewer"


class Project(Timestamped, Trashable, Versioned):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    fps = models.PositiveSmallIntegerField("frame rate", default=24)
    width = models.PositiveSmallIntegerField(default=1280)
    height = models.PositiveSmallIntegerField(default=720)
    default_backend = models.CharField(max_length=40, default="animatic")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # GPU seconds the project may spend on renders (None: no budget). Renders are refused at 100%
    # unless an owner lifted the stop (studio/services/usage.py); a warning shows from 80%.
    gpu_budget_seconds = models.PositiveIntegerField(null=True, blank=True)
    gpu_budget_lifted = models.BooleanField(default=False)
    # Sequence number of the last event published to this project's group (see studio/events.py).
    # Progress ticks take no number, so a page cached under it (the shot board, the API's shot
    # lists) is current but for progress bars, which the live snapshot repaints.
    event_seq = models.PositiveBigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def resolution(self) -> str:
        return f"{self.width}×{self.height}"

    @property
    def content_key(self) -> str:
        """Names the project's current content in the keys of cached pages (the board, the API's
        shot lists): its event number, and when it was made, since an id can come back (a test
        database rolled back on SQLite) and a project's creation time with it cannot; and the
        release rendering it, since a cached page outlives a deploy (studio/release.py)."""
        return f"{self.id}:{self.created_at.timestamp():.6f}:{self.event_seq}:{release.fingerprint()}"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="one_membership_per_user_and_project")]
        ordering = ["project", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} · {self.role} · {self.project}"
