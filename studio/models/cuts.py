from django.conf import settings
from django.db import models

from studio.models.base import LiveQuerySet, Timestamped, Trashable, Versioned
from studio.models.project import Project
from studio.models.script import Shot
from studio.models.takes import Take


class Cut(Timestamped, Trashable, Versioned):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cuts")
    trash_parents = ("project",)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], condition=models.Q(deleted_at__isnull=True), name="unique_live_cut_name_per_project"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CutEntry(models.Model):
    cut = models.ForeignKey(Cut, on_delete=models.CASCADE, related_name="entries")
    order = models.PositiveIntegerField(default=0)
    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="cut_entries")
    take = models.ForeignKey(
        Take, null=True, blank=True, on_delete=models.SET_NULL, related_name="cut_entries",
        help_text="Empty: use the shot's approved take.",
    )
    in_frame = models.PositiveIntegerField(default=0)
    out_frame = models.PositiveIntegerField(null=True, blank=True, help_text="Exclusive; empty: to the end of the take.")
    # Removed from the cut (soft, so "undo" can bring it back); live() hides it (see live_q).
    deleted_at = models.DateTimeField(null=True, blank=True)

    # An entry is live while its cut and its shot (with the shot's scene and project) are.
    trash_parents = ("cut", "shot")
    objects = LiveQuerySet.as_manager()

    class Meta:
        ordering = ["cut", "order", "id"]

    def __str__(self) -> str:
        return f"{self.cut} #{self.order}: {self.shot}"


class ExportFormat(models.TextChoices):
    MP4 = "mp4", "MP4 video"
    OTIO = "otio", "OpenTimelineIO"
    EDL = "edl", "CMX 3600 EDL"
    FCPXML = "fcpxml", "Final Cut Pro 7 XML"
    MANIFEST = "manifest", "Provenance manifest (JSON)"
    OTIOZ = "otioz", "OpenTimelineIO bundle with the media (.otioz)"
    ZIP = "zip", "EDL + FCP 7 XML + OTIO with the media (.zip)"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


EXPORT_TRANSITIONS: dict[str, frozenset[str]] = {
    ExportStatus.QUEUED: frozenset({ExportStatus.RUNNING, ExportStatus.FAILED}),
    ExportStatus.RUNNING: frozenset({ExportStatus.SUCCEEDED, ExportStatus.FAILED, ExportStatus.QUEUED}),
    ExportStatus.SUCCEEDED: frozenset(),
    ExportStatus.FAILED: frozenset(),
}


class Export(models.Model):
    cut = models.ForeignKey(Cut, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=16, choices=ExportFormat.choices)
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    file = models.FileField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    rights_override = models.BooleanField(default=False)
    # An internal draft may use reference images whose rights are not cleared: the MP4 carries a
    # burnt-in "NOT CLEARED" watermark, its name and manifest say so. Deliverables never do.
    internal_draft = models.BooleanField(default=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Liveness, as on Take (services/reconcile.py reads them): the publish receipt and message id
    # (services/dispatch.py), the claim's attempt number and its heartbeats (services/exports.py).
    task_id = models.CharField(max_length=64, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.cut} → {self.format}"

    def can_transition(self, new_status: str) -> bool:
        return new_status in EXPORT_TRANSITIONS[self.status]
