from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from studio import access, events
from studio.backends import validate_backend_name
from studio.models import Membership, Project, Role
from studio.services.audit import audit_record
from studio.services.common import restore, save_versioned, trash

PROJECT_EDITABLE_FIELDS = {"name", "description", "fps", "width", "height", "default_backend"}


def _unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "project"
    slug, n = base, 2
    while Project.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _check_format(fps: int, width: int, height: int) -> None:
    if not 1 <= fps <= 120:
        raise ValidationError("Frame rate must be between 1 and 120.")
    if width % 2 or height % 2 or not (64 <= width <= 4096 and 64 <= height <= 4096):
        raise ValidationError("Resolution must be even numbers between 64 and 4096 (H.264 needs even sizes).")


@transaction.atomic
def project_create(*, owner, name: str, description: str = "", fps: int = 24, width: int = 1280, height: int = 720,
                   default_backend: str = "", slug: str = "") -> Project:
    _check_format(fps, width, height)
    backend = default_backend or settings.GENERATION_BACKEND
    validate_backend_name(backend)
    project = Project.objects.create(
        name=name.strip(), slug=slug or _unique_slug(name), description=description, fps=fps, width=width,
        height=height, default_backend=backend, created_by=owner,
    )
    Membership.objects.create(user=owner, project=project, role=Role.OWNER)
    audit_record(actor=owner, project_id=project.id, verb="created", obj=project)
    return project


@transaction.atomic
def project_update(*, project: Project, actor, expected_version: int | None = None, **changes) -> Project:
    if "default_backend" in changes:
        validate_backend_name(changes["default_backend"])
    diff = save_versioned(project, expected_version=expected_version, changes=changes, allowed=PROJECT_EDITABLE_FIELDS)
    _check_format(project.fps, project.width, project.height)
    if diff:
        audit_record(actor=actor, project_id=project.id, verb="updated", obj=project, changes=diff)
        events.publish(project.id, "project.updated", {"project": project.id})
    return project


@transaction.atomic
def membership_add(*, project: Project, actor, user, role: str) -> Membership:
    Role(role)
    membership, created = Membership.objects.get_or_create(project=project, user=user, defaults={"role": role, "invited_by": actor})
    if not created:
        raise ValidationError(f"{user.get_username()} is already a member of this project.")
    audit_record(actor=actor, project_id=project.id, verb="member added", obj=membership, changes={"role": role})
    access.forget_roles(project)
    return membership


def _owners_left(project: Project, excluding: Membership) -> int:
    return project.memberships.filter(role=Role.OWNER).exclude(pk=excluding.pk).count()


@transaction.atomic
def membership_change_role(*, membership: Membership, actor, role: str) -> Membership:
    Role(role)
    if membership.role == Role.OWNER and role != Role.OWNER and not _owners_left(membership.project, membership):
        raise ValidationError("A project needs at least one owner.")
    old, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    access.forget_roles(membership.project)
    audit_record(actor=actor, project_id=membership.project_id, verb="role changed", obj=membership, changes={"role": [old, role]})
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor) -> None:
    if membership.role == Role.OWNER and not _owners_left(membership.project, membership):
        raise ValidationError("A project needs at least one owner.")
    audit_record(actor=actor, project_id=membership.project_id, verb="member removed", obj=membership)
    project_id, user_id = membership.project_id, membership.user_id
    membership.delete()
    access.forget_roles(membership.project)
    events.close_member_sockets(project_id, user_id)


@transaction.atomic
def project_trash(*, project: Project, actor) -> Project:
    """Move the whole project to the trash: it disappears for everyone at once (every access check
    reads live projects only) and its owners can restore it for 30 days from their project list."""
    trash(project, actor=actor, project_id=project.id)
    events.close_member_sockets(project.id, None)
    return project


@transaction.atomic
def project_restore(*, project: Project, actor) -> Project:
    restore(project, actor=actor, project_id=project.id)
    return project
