from django.conf import settings
from django.db import models

from studio.models.base import LiveQuerySet, Timestamped, Trashable, Versioned
from studio.models.cast import CastMember
from studio.models.project import Project


class ScriptSource(models.Model):
    """One imported version of the project's screenplay, kept as written."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scripts")
    version = models.PositiveIntegerField()
    filename = models.CharField(max_length=200, blank=True)
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    title = models.CharField(max_length=200, blank=True)
    report = models.JSONField(default=dict, blank=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="one_script_version_number_per_project")]

    def __str__(self) -> str:
        return f"{self.project} script v{self.version}"

    @property
    def colour(self) -> str:
        """The revision colour, in the industry's order: white first, then blue, pink, ... cherry;
        after cherry the round starts again as "double white", then "double blue", ..."""
        return revision_colour(self.version)

    @property
    def colour_key(self) -> str:
        """The paper colour alone ("blue" for "double blue"): a CSS class."""
        return REVISION_COLOURS[(max(self.version, 1) - 1) % len(REVISION_COLOURS)]


# Revision pages in the order production offices print them (WGA / Hollywood standard).
REVISION_COLOURS = ("white", "blue", "pink", "yellow", "green", "goldenrod", "buff", "salmon", "cherry")


def revision_colour(version: int) -> str:
    round_, index = divmod(max(version, 1) - 1, len(REVISION_COLOURS))
    prefix = ("", "double ", "triple ")[round_] if round_ < 3 else f"{round_ + 1}× "
    return prefix + REVISION_COLOURS[index]


class IntExt(models.TextChoices):
    INT = "INT", "Interior"
    EXT = "EXT", "Exterior"
    INT_EXT = "INT/EXT", "Interior/exterior"
    EST = "EST", "Establishing"
    NONE = "", "—"


class Scene(Timestamped, Trashable, Versioned):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scenes")
    trash_parents = ("project",)
    order = models.PositiveIntegerField(default=0)
    heading = models.CharField(max_length=300)
    interior_exterior = models.CharField(max_length=8, choices=IntExt.choices, blank=True, default=IntExt.NONE)
    location = models.CharField(max_length=200, blank=True)
    time_of_day = models.CharField(max_length=60, blank=True)
    scene_number = models.CharField(max_length=20, blank=True)
    synopsis = models.TextField(blank=True)
    action = models.TextField(blank=True, help_text="Action text from the script, the default prompt for new shots.")
    dialogue = models.TextField(blank=True, help_text='The scene\'s dialogue from the script, "NAME: line" per speech (board search).')
    location_cast = models.ForeignKey(CastMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="scenes_located")
    # A scene dropped from a re-imported script keeps its shots and is marked omitted, as a
    # production script keeps "OMITTED" scenes instead of renumbering.
    omitted = models.BooleanField(default=False)

    class Meta:
        ordering = ["project", "order", "id"]

    def __str__(self) -> str:
        return self.heading


class ShotSize(models.TextChoices):
    EWS = "EWS", "Extreme wide"
    WS = "WS", "Wide"
    MWS = "MWS", "Medium wide"
    MS = "MS", "Medium"
    MCU = "MCU", "Medium close-up"
    CU = "CU", "Close-up"
    ECU = "ECU", "Extreme close-up"
    INSERT = "INSERT", "Insert"


class CameraMove(models.TextChoices):
    STATIC = "static", "Static"
    PUSH_IN = "push_in", "Push in"
    PULL_OUT = "pull_out", "Pull out"
    PAN_LEFT = "pan_left", "Pan left"
    PAN_RIGHT = "pan_right", "Pan right"
    TILT_UP = "tilt_up", "Tilt up"
    TILT_DOWN = "tilt_down", "Tilt down"
    ORBIT_LEFT = "orbit_left", "Orbit left"
    ORBIT_RIGHT = "orbit_right", "Orbit right"
    HANDHELD = "handheld", "Handheld"
    CRANE_UP = "crane_up", "Crane up"
    CRANE_DOWN = "crane_down", "Crane down"


class Shot(Timestamped, Trashable, Versioned):
    scene = models.ForeignKey(Scene, on_delete=models.CASCADE, related_name="shots")
    trash_parents = ("scene",)
    order = models.PositiveIntegerField(default=0)
    code = models.CharField(max_length=20, help_text='e.g. "12A"')
    prompt = models.TextField(blank=True)
    cast = models.ManyToManyField(CastMember, through="ShotCast", through_fields=("shot", "cast_member"), related_name="shots", blank=True)
    shot_size = models.CharField(max_length=8, choices=ShotSize.choices, default=ShotSize.MS)
    camera_move = models.CharField(max_length=16, choices=CameraMove.choices, default=CameraMove.STATIC)
    lens_mm = models.PositiveSmallIntegerField(default=35)
    duration_s = models.DecimalField("duration (s)", max_digits=6, decimal_places=2, default=3)
    seed = models.PositiveBigIntegerField(default=0)
    backend = models.CharField(max_length=40, blank=True, help_text="Empty: the project's default backend.")
    continue_from_previous = models.BooleanField(default=False)
    approved_take = models.ForeignKey("studio.Take", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Someone asked for a re-render (e.g. the script changed under the shot): the shot is stale
    # until a take is requested after this moment (selectors.shot_board_status).
    rerender_marked_at = models.DateTimeField(null=True, blank=True)
    rerender_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["scene__order", "order", "id"]

    def __str__(self) -> str:
        return f"Shot {self.code}"

    @property
    def project_id(self) -> int:
        return self.scene.project_id


class ShotCast(models.Model):
    """The cast a shot uses, in order: the order is the order of reference images given to the model."""

    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="cast_links")
    cast_member = models.ForeignKey(CastMember, on_delete=models.CASCADE, related_name="shot_links")
    order = models.PositiveSmallIntegerField(default=0)
    # Previs with a double: the animatic shows this member's pictures in place of cast_member's.
    # Identity is still scored against cast_member, so the take reads as drift (the demo's
    # deliberately drifting shot uses this).
    stand_in = models.ForeignKey(CastMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="stand_in_links")

    trash_parents = ("shot", "cast_member")
    objects = LiveQuerySet.as_manager()

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["shot", "cast_member"], name="cast_member_once_per_shot")]
