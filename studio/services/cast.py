from __future__ import annotations

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max

from studio import events
from studio.images import clean_image
from studio.models import CastKind, CastMember, ImageRights, Project, ReferenceImage, RightsStatus, image_rights_for_member
from studio.screenplay import slugify_handle
from studio.services.audit import audit_record
from studio.services.common import save_versioned, trash

CAST_EDITABLE_FIELDS = {"kind", "name", "handle", "description", "rights_status", "rights_note"}
MAX_IMAGES_PER_CAST_MEMBER = 24


def _check_handle_free(project: Project, handle: str, *, excluding: int | None = None) -> None:
    taken = CastMember.objects.alive().filter(project=project, handle=handle).exclude(pk=excluding)
    if taken.exists():
        raise ValidationError(f"@{handle} is already used in this project.")


def unique_handle(project: Project, name: str) -> str:
    base = slugify_handle(name) or "cast"
    handle, n = base, 2
    while CastMember.objects.alive().filter(project=project, handle=handle).exists():
        handle, n = f"{base}_{n}", n + 1
    return handle


REQUEST_TOKEN_TTL_S = 24 * 3600


def _request_token_key(project: Project, request_token: str) -> str:
    return f"cast-new:{project.id}:{request_token}"


@transaction.atomic
def cast_member_create(*, project: Project, actor, name: str, kind: str = CastKind.CHARACTER, handle: str = "",
                       description: str = "", rights_status: str = RightsStatus.UNKNOWN, rights_note: str = "",
                       request_token: str = "") -> CastMember:
    """A new cast member. With a request_token (one per rendered form), the same form sent twice
    (a double click, a resent request) returns the member the first send created."""
    if request_token:
        # Creations in one project wait for each other here, so a twin request sees the first one's member.
        list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True))
        earlier = cache.get(_request_token_key(project, request_token))
        if earlier is not None:
            existing = CastMember.objects.alive().filter(project=project, pk=earlier).first()
            if existing is not None:
                return existing
    handle = slugify_handle(handle) if handle else unique_handle(project, name)
    _check_handle_free(project, handle)
    member = CastMember(project=project, kind=kind, name=name.strip(), handle=handle, description=description,
                        rights_status=rights_status, rights_note=rights_note)
    member.full_clean(exclude=["project"])
    member.save()
    if request_token:
        cache.set(_request_token_key(project, request_token), member.pk, REQUEST_TOKEN_TTL_S)
    audit_record(actor=actor, project_id=project.id, verb="created", obj=member)
    events.publish(project.id, "cast.changed", {"cast_member": member.id})
    return member


@transaction.atomic
def cast_member_update(*, member: CastMember, actor, expected_version: int | None = None, **changes) -> CastMember:
    if "handle" in changes:
        changes["handle"] = slugify_handle(changes["handle"])
        _check_handle_free(member.project, changes["handle"], excluding=member.pk)
    diff = save_versioned(member, expected_version=expected_version, changes=changes, allowed=CAST_EDITABLE_FIELDS)
    if "rights_status" in diff and image_rights_for_member(member.rights_status) == ImageRights.CLEARED:
        # The member's status is its images' default: those nobody decided on yet (unknown) follow it.
        # Images set one by one (pending, refused, cleared) keep their own status.
        member.images.filter(rights_status=ImageRights.UNKNOWN).update(
            rights_status=ImageRights.CLEARED, rights_source=member.get_rights_status_display(), licence_note=member.rights_note)
    if diff:
        audit_record(actor=actor, project_id=member.project_id, verb="updated", obj=member, changes=diff)
        events.publish(member.project_id, "cast.changed", {"cast_member": member.id})
    return member


@transaction.atomic
def cast_member_trash(*, member: CastMember, actor) -> None:
    trash(member, actor=actor, project_id=member.project_id)
    events.publish(member.project_id, "cast.changed", {"cast_member": member.id})


@transaction.atomic
def reference_image_add(*, member: CastMember, actor, data: bytes, label: str = "image") -> ReferenceImage:
    """Validate and re-encode an uploaded image, then attach it; the first image becomes primary."""
    clean = clean_image(data, label=label)
    member = CastMember.objects.select_for_update().get(pk=member.pk)
    existing = member.images.count()
    if existing >= MAX_IMAGES_PER_CAST_MEMBER:
        raise ValidationError(f"@{member.handle} already has {MAX_IMAGES_PER_CAST_MEMBER} reference images.")
    duplicate = member.images.filter(sha256=clean.sha256).first()
    if duplicate:
        return duplicate
    next_order = (member.images.aggregate(m=Max("order"))["m"] or 0) + 1
    image = ReferenceImage(cast_member=member, sha256=clean.sha256, width=clean.width, height=clean.height, order=next_order, is_primary=existing == 0, uploaded_by=actor,
                           # The member's status is the default for its new images (unknown unless owned, licensed or consented).
                           rights_status=image_rights_for_member(member.rights_status),
                           rights_source=member.get_rights_status_display() if member.rights_status != RightsStatus.UNKNOWN else "",
                           licence_note=member.rights_note if member.rights_status != RightsStatus.UNKNOWN else "")
    image.image.save(f"upload.{clean.extension}", ContentFile(clean.data), save=False)
    image.save()
    audit_record(actor=actor, project_id=member.project_id, verb="image added", obj=member, changes={"sha256": clean.sha256})
    events.publish(member.project_id, "cast.changed", {"cast_member": member.id})
    return image


@transaction.atomic
def reference_image_set_primary(*, image: ReferenceImage, actor) -> None:
    ReferenceImage.objects.filter(cast_member_id=image.cast_member_id, is_primary=True).update(is_primary=False)
    ReferenceImage.objects.filter(pk=image.pk).update(is_primary=True)
    member = image.cast_member
    audit_record(actor=actor, project_id=member.project_id, verb="primary image set", obj=member, changes={"image": image.pk})
    events.publish(member.project_id, "cast.changed", {"cast_member": member.id})


@transaction.atomic
def reference_images_reorder(*, member: CastMember, actor, image_ids: list[int]) -> None:
    current = set(member.images.values_list("id", flat=True))
    if set(image_ids) != current:
        raise ValidationError("The new order must list every image of this cast member exactly once.")
    for order, image_id in enumerate(image_ids, start=1):
        ReferenceImage.objects.filter(pk=image_id).update(order=order)
    audit_record(actor=actor, project_id=member.project_id, verb="images reordered", obj=member, changes={"order": image_ids})
    events.publish(member.project_id, "cast.changed", {"cast_member": member.id})


@transaction.atomic
def reference_image_delete(*, image: ReferenceImage, actor) -> None:
    member = image.cast_member
    was_primary = image.is_primary
    image.delete()  # the file stays on disk: takes that used it keep their provenance by sha256
    if was_primary:
        successor = member.images.order_by("order", "id").first()
        if successor:
            ReferenceImage.objects.filter(pk=successor.pk).update(is_primary=True)
    audit_record(actor=actor, project_id=member.project_id, verb="image removed", obj=member, changes={"sha256": image.sha256})
    events.publish(member.project_id, "cast.changed", {"cast_member": member.id})


MAX_RIGHTS_SOURCE = 300
MAX_LICENCE_NOTE = 4000


@transaction.atomic
def reference_image_set_rights(*, image: ReferenceImage, actor, rights_status: str, rights_source: str = "",
                               licence_note: str = "") -> ReferenceImage:
    """Record an image's consent/rights status, where it comes from and its licence terms.
    Only a "cleared" image may appear in a deliverable (studio/services/exports.py)."""
    if rights_status not in ImageRights.values:
        raise ValidationError(f"Unknown rights status {rights_status!r}: choose one of {', '.join(ImageRights.values)}.")
    rights_source, licence_note = rights_source.strip(), licence_note.strip()
    if len(rights_source) > MAX_RIGHTS_SOURCE:
        raise ValidationError(f"The source is at most {MAX_RIGHTS_SOURCE} characters.")
    if len(licence_note) > MAX_LICENCE_NOTE:
        raise ValidationError(f"The licence note is at most {MAX_LICENCE_NOTE} characters.")
    before = {"rights_status": image.rights_status, "rights_source": image.rights_source, "licence_note": image.licence_note}
    image.rights_status, image.rights_source, image.licence_note = rights_status, rights_source, licence_note
    image.save(update_fields=["rights_status", "rights_source", "licence_note"])
    member = image.cast_member
    changes = {k: [before[k], getattr(image, k)] for k in before if before[k] != getattr(image, k)}
    audit_record(actor=actor, project_id=member.project_id, verb="image rights set", obj=member,
                 changes={"image": image.pk, "sha256": image.sha256, **changes})
    events.publish(member.project_id, "cast.changed", {"cast_member": member.id})
    return image
