import uuid

from django.conf import settings
from django.db import models

from studio.models.base import Trashable
from studio.models.script import Shot


class TakeStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_TAKE_STATUSES = frozenset({TakeStatus.SUCCEEDED, TakeStatus.FAILED, TakeStatus.CANCELLED})

TAKE_TRANSITIONS: dict[str, frozenset[str]] = {
    TakeStatus.QUEUED: frozenset({TakeStatus.RUNNING, TakeStatus.CANCELLED, TakeStatus.FAILED}),
    # running -> queued: a worker died and the render is retried (attempts are counted).
    TakeStatus.RUNNING: frozenset({TakeStatus.SUCCEEDED, TakeStatus.FAILED, TakeStatus.CANCELLED, TakeStatus.QUEUED}),
    TakeStatus.SUCCEEDED: frozenset(),
    TakeStatus.FAILED: frozenset(),
    TakeStatus.CANCELLED: frozenset(),
}


class TakePriority(models.TextChoices):
    """Where a take's render waits on the GPU queue (services/dispatch.py maps it to a broker priority)."""

    NORMAL = "normal", "Normal"
    URGENT = "urgent", "Urgent"


class InvalidTransition(Exception):
    pass


def take_media_path(take: "Take", name: str) -> str:
    return f"projects/{take.shot.scene.project_id}/takes/{take.shot_id}/{name}"


class Take(Trashable):
    """One render of a shot. Immutable once finished: a re-render is a new take."""

    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="takes")
    trash_parents = ("shot",)
    number = models.PositiveIntegerField()
    backend = models.CharField(max_length=40)
    request = models.JSONField(help_text="The full render request, exactly as rendered.")
    signature = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=TakeStatus.choices, default=TakeStatus.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    video = models.FileField(max_length=300, blank=True)
    poster = models.FileField(max_length=300, blank=True)
    last_frame = models.FileField(max_length=300, blank=True, help_text="Start frame for a shot that continues this one.")
    frames = models.PositiveIntegerField(default=0)
    duration_s = models.FloatField(default=0.0)
    compute_seconds = models.FloatField(default=0.0, help_text="Wall seconds the worker spent on the take.")
    # Seconds inside the model call (diffusers pipeline, animatic frame drawing), measured on the
    # worker by the engine; what a project's budget counts. A reused take costs 0.
    gpu_seconds = models.FloatField(default=0.0)
    priority = models.CharField(max_length=8, choices=TakePriority.choices, default=TakePriority.NORMAL)
    # A retry is a new take with the same request (takes are immutable): the take it retries.
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # What the worker is doing besides denoising steps, e.g. "loading model… 40%" (empty: nothing to say).
    phase = models.CharField(max_length=120, blank=True)
    provenance = models.JSONField(default=dict, blank=True)
    reused_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Continuity: the upstream take (the previous shot's approved take) whose last frame this take
    # starts from. When the previous shot's approved take is no longer this one, the take is stale.
    continued_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # "Render exactly this take again": the take whose backend, revision, seed, reference bytes and
    # parameters this one repeats (frames_sha256 in both provenances says whether the pixels match).
    rerender_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The review note (or drawing) this take was rendered from: "re-render with this note" and
    # "re-render this region" (studio/services/notes.py). The comment's thread shows the result.
    from_comment = models.ForeignKey("studio.Comment", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="caused_takes")
    worker = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Takes asked for by one click (a shot, a scene, everything missing, a whole cut) share this;
    # the render rate limit counts requests, not shots.
    request_batch = models.UUIDField(default=uuid.uuid4, editable=False)
    # Takes rendered together as variations of one shot ("Render 4 variations"): shown side by side.
    variation_group = models.UUIDField(null=True, blank=True, editable=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Liveness for the reconciler (studio/services/reconcile.py): when the render message was last
    # handed to the broker, and when the worker running the take last said it was alive.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)

    class Meta:
        ordering = ["shot", "-number"]
        constraints = [models.UniqueConstraint(fields=["shot", "number"], name="take_number_unique_per_shot")]
        indexes = [models.Index(fields=["status", "created_at"], name="take_status_created")]

    def __str__(self) -> str:
        return f"{self.shot.code} take {self.number}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_TAKE_STATUSES

    def can_transition(self, new_status: str) -> bool:
        return new_status in TAKE_TRANSITIONS[self.status]

    def check_transition(self, new_status: str) -> None:
        if not self.can_transition(new_status):
            raise InvalidTransition(f"A {self.status} take cannot become {new_status}.")
