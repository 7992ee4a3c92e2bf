"""The one place that answers "may this user do this to this object?".

Roles are ordered: viewer < reviewer < editor < owner. Each action needs a minimum role.
Someone who is not a member of a project must not learn that it exists: they get 404, not 403.
"""

from __future__ import annotations

from enum import Enum

from django.core.exceptions import PermissionDenied
from django.http import Http404

from studio.models import Membership, Project, Role

ROLE_RANK = {Role.VIEWER: 1, Role.REVIEWER: 2, Role.EDITOR: 3, Role.OWNER: 4}


class Action(str, Enum):
    VIEW = "view"  # read anything in the project, watch renders, download media
    COMMENT = "comment"  # comment, reply, resolve
    REVIEW = "review"  # approve a take or request changes
    EDIT = "edit"  # cast, script, shots, renders, cuts, exports
    MANAGE = "manage"  # members, settings, delete, restore, rights overrides


MINIMUM_ROLE = {
    Action.VIEW: Role.VIEWER,
    Action.COMMENT: Role.REVIEWER,
    Action.REVIEW: Role.REVIEWER,
    Action.EDIT: Role.EDITOR,
    Action.MANAGE: Role.OWNER,
}


def role_of(user, project: Project) -> str | None:
    if not getattr(user, "is_authenticated", False) or project.is_trashed:
        return None
    return Membership.objects.filter(user=user, project=project).values_list("role", flat=True).first()


def role_allows(role: str | None, action: Action) -> bool:
    if role is None:
        return False
    return ROLE_RANK[Role(role)] >= ROLE_RANK[MINIMUM_ROLE[Action(action)]]


def can(user, project: Project, action: Action) -> bool:
    return role_allows(role_of(user, project), action)


def check(user, project: Project, action: Action) -> None:
    """Raise Http404 for outsiders and PermissionDenied for members whose role is too low."""
    role = role_of(user, project)
    if role is None:
        raise Http404("No such project.")
    if not role_allows(role, action):
        raise PermissionDenied(f"Your role ({role}) does not allow this.")


def project_for(user, slug: str, action: Action = Action.VIEW) -> Project:
    """The live project with this slug, if the user may perform the action on it."""
    project = Project.objects.alive().filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    check(user, project, action)
    return project
