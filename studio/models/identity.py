from django.db import models

from studio.models.cast import CastMember
from studio.models.takes import Take


class IdentityStatus(models.TextChoices):
    """generation.identity.IdentityStatus, as stored. "No face" is a result, never a zero score."""

    MATCH = "match", "Match"
    DRIFT = "drift", "Drift"
    NO_FACE = "no_face", "No face found"
    NO_REFERENCE = "no_reference", "No usable reference"


class IdentityScore(models.Model):
    """How closely one take keeps one cast member's references (generation/identity.py).

    One row per take x cast member; a new scoring of the take replaces its rows. `score` is a face
    distance for characters (lower is closer) or a local-feature inlier count for objects and
    locations (higher is closer), null when there was nothing to score."""

    take = models.ForeignKey(Take, on_delete=models.CASCADE, related_name="identity_scores")
    cast_member = models.ForeignKey(CastMember, on_delete=models.CASCADE, related_name="identity_scores")
    status = models.CharField(max_length=16, choices=IdentityStatus.choices)
    score = models.FloatField(null=True, blank=True)
    threshold = models.FloatField()
    method = models.CharField(max_length=120, blank=True)
    verdict = models.CharField(max_length=300, help_text="The engine's plain-language verdict, as shown to reviewers.")
    frames_sampled = models.PositiveIntegerField(default=0)
    frames_scored = models.PositiveIntegerField(default=0)
    references_used = models.PositiveIntegerField(default=0)
    best_frame_index = models.PositiveIntegerField(null=True, blank=True)
    best_frame_time_s = models.FloatField(null=True, blank=True)
    worst_frame_index = models.PositiveIntegerField(null=True, blank=True)
    worst_frame_time_s = models.FloatField(null=True, blank=True)
    model = models.CharField(max_length=200)
    model_version = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["take", "id"]
        constraints = [models.UniqueConstraint(fields=["take", "cast_member"], name="identity_score_unique_per_take_member")]

    def __str__(self) -> str:
        return f"{self.take_id} × {self.cast_member_id}: {self.status}"

    @property
    def is_warning(self) -> bool:
        """What a reviewer must look at: the take drifted, or shows no face of a character."""
        return self.status in (IdentityStatus.DRIFT, IdentityStatus.NO_FACE)
