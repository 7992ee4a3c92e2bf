from django.conf import settings
from django.db import models

from studio.models.base import Timestamped, Trashable, Versioned
from studio.models.project import Project


class CastKind(models.TextChoices):
    CHARACTER = "character", "Character"
    OBJECT = "object", "Object"
    LOCATION = "location", "Location"
    STYLE = "style", "Style"


class RightsStatus(models.TextChoices):
    OWNED = "owned", "Owned"
    LICENSED = "licensed", "Licensed"
    CONSENT = "consent", "Consent on file"
    UNKNOWN = "unknown", "Unknown"


class ImageRights(models.TextChoices):
    """Consent/rights of one reference image: only "cleared" images may appear in a deliverable."""
    CLEARED = "cleared", "Cleared"
    PENDING = "pending", "Pending"
    REFUSED = "refused", "Refused"
    UNKNOWN = "unknown", "Unknown"


# A cast member's status is the default for its new images (and what migration 0018 carried over).
CLEARED_MEMBER_RIGHTS = frozenset({"owned", "licensed", "consent"})


def image_rights_for_member(member_status: str) -> str:
    return ImageRights.CLEARED if member_status in CLEARED_MEMBER_RIGHTS else ImageRights.UNKNOWN


class CastMember(Timestamped, Trashable, Versioned):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cast")
    trash_parents = ("project",)
    kind = models.CharField(max_length=16, choices=CastKind.choices, default=CastKind.CHARACTER)
    name = models.CharField(max_length=120)
    handle = models.SlugField(max_length=60, help_text="Used in prompts as @handle.")
    description = models.TextField(blank=True)
    rights_status = models.CharField(max_length=16, choices=RightsStatus.choices, default=RightsStatus.UNKNOWN)
    rights_note = models.TextField(blank=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "handle"],
                condition=models.Q(deleted_at__isnull=True),
                name="unique_live_handle_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"@{self.handle}"


def reference_upload_to(instance: "ReferenceImage", filename: str) -> str:
    # The stored name is ours (content hash), never the uploader's.
    extension = filename.rsplit(".", 1)[-1].lower()
    return f"projects/{instance.cast_member.project_id}/cast/{instance.cast_member_id}/{instance.sha256[:32]}.{extension}"


class ReferenceImage(models.Model):
    cast_member = models.ForeignKey(CastMember, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to=reference_upload_to, max_length=300)
    sha256 = models.CharField(max_length=64, db_index=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    order = models.PositiveIntegerField(default=0)
    is_primary = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Rights per image (a cast member can mix a licensed photo with one nobody cleared yet).
    rights_status = models.CharField(max_length=16, choices=ImageRights.choices, default=ImageRights.UNKNOWN)
    rights_source = models.CharField(max_length=300, blank=True, help_text="Where the image comes from (photographer, agency, URL).")
    licence_note = models.TextField(blank=True, help_text="Licence or consent terms, release form reference.")

    class Meta:
        ordering = ["-is_primary", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cast_member"], condition=models.Q(is_primary=True), name="one_primary_image_per_cast_member"
            )
        ]

    def __str__(self) -> str:
        return f"{self.cast_member} image {self.order}"
