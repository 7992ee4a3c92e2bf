"""The one place that answers "may this user do this to this object?".

Roles are ordered: viewer < reviewer < editor < owner. Each action needs a minimum role.
Someone who is not a member of a project must not learn that it exists: they get 404, not 403.
"""

from __future__ import annotations

import functools
from enum import Enum
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Exists, OuterRef
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import Http404
from django.utils.crypto import constant_time_compare

from studio import selectors
from studio.models import CutEntry, Membership, Project, ReviewLink, Role, Take, TakeStatus

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
    """The user's role, asked of the database once per project object (so once per request: a
    view that checks access and then asks what the user may do costs one membership query)."""
    if not getattr(user, "is_authenticated", False) or project.is_trashed:
        return None
    known = getattr(project, "_caller_role", None)  # read with the project by project_for
    if known is not None and known[0] == user.pk and known[2] == _membership_changes[0]:
        return known[1]
    asked = project.__dict__.setdefault("_roles_asked", {})
    key = (user.pk, _membership_changes[0])
    if key not in asked:
        asked[key] = Membership.objects.filter(user=user, project=project).values_list("role", flat=True).first()
    return asked[key]


def forget_roles(project: Project) -> None:
    """After a membership change on this very object (services that add or remove members)."""
    project.__dict__.pop("_roles_asked", None)
    project.__dict__.pop("_caller_role", None)


# The role project_for read is reused by later checks on the same project object, until any
# membership changes in this process (e.g. an owner removing themselves, then asked where to go).
_membership_changes = [0]


@receiver([post_save, post_delete], sender=Membership, dispatch_uid="access-membership-changed")
def _membership_changed(**kwargs) -> None:
    _membership_changes[0] += 1


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
    """The live project with this slug, if the user may perform the action on it. The caller's
    membership comes back with its project in one query (every page and API call starts here): no
    membership, no project, and an outsider cannot tell one from the other."""
    project = None
    if getattr(user, "is_authenticated", False):  # an anonymous caller is a member of nothing: no query
        project = next(iter(Project.objects.raw(_project_with_role_sql(), [user.pk, slug])), None)
    if project is None:
        raise Http404("No such project.")
    project._caller_role = (user.pk, project.__dict__.pop("caller_role"), _membership_changes[0])
    check(user, project, action)
    return project


@functools.cache
def _project_with_role_sql() -> str:
    """The SQL of project_for, written once: every request starts with it, and the ORM spent more
    time building and compiling the equivalent queryset than the database spent answering it
    (BENCHMARKS.md, issue 14). Same rule as the queryset it replaced: a membership of this user in
    the live project with this slug, at most one row (unique per user and project)."""
    quote = connection.ops.quote_name
    columns = ", ".join(f"p.{quote(f.column)}" for f in Project._meta.concrete_fields)
    return (f"SELECT {columns}, m.{quote('role')} AS caller_role"
            f" FROM {quote(Membership._meta.db_table)} m INNER JOIN {quote(Project._meta.db_table)} p"
            f" ON p.{quote('id')} = m.{quote('project_id')}"
            f" WHERE m.{quote('user_id')} = %s AND p.{quote('slug')} = %s AND p.{quote('deleted_at')} IS NULL")


def project_for_socket(user, session_key: str | None, slug: str) -> Project | None:
    """The project a live socket watches, if its person may still watch it; None otherwise. A
    socket lives for hours and was authorised once, as it opened: each heartbeat asks again, with
    the person read afresh from their session, so signing out, a password changed elsewhere, an
    account deactivated, a membership removed or the project trashed all close it within a beat,
    even when the message that closes it at once was lost."""
    if session_key is not None and _session_user(session_key).pk != user.pk:
        return None
    try:
        return project_for(user, slug)
    except Http404:
        return None


def _session_user(session_key: str):
    """Who the session signs in now (anonymous once it was flushed), as Django decides it for a
    request: the account still active, its password hash still the one the session was made with."""
    request = SimpleNamespace(session=import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key))
    return auth.get_user(request)


def trashed_project_for_owner(user, project_id: int) -> Project:
    """A project in the trash that this user owned and may restore; 404 for anyone else."""
    project = selectors.trashed_projects_owned_by(user).filter(pk=project_id).first()
    if project is None:
        raise Http404("No such project in your trash.")
    return project


# --- Guest review links ------------------------------------------------------------------------
# A guest has no account: the link's token is the credential, and an optional password unlocks it
# for one browser session. Every guest decision is made here, like every member decision above.

GUEST_UNLOCKED_SESSION_KEY = "review_links_unlocked"


def review_link_for(token: str):
    """The active link with this token, or 404 (unknown, revoked, expired, or its project, cut or
    shot trashed): a guest must not learn whether a dead link ever existed."""
    link = ReviewLink.objects.select_related("project", "cut", "shot__scene").filter(token=token).first()
    if link is None or not link.is_active or link.project.is_trashed or _review_link_target_trashed(link):
        raise Http404("No such review link.")
    return link


def _review_link_target_trashed(link) -> bool:
    if link.cut_id:
        return link.cut.is_trashed
    return link.shot.is_trashed or link.shot.scene.is_trashed


def review_link_unlocked(link, session) -> bool:
    """True when the link needs no password, or this session already gave the right one."""
    return not link.password_hash or link.id in session.get(GUEST_UNLOCKED_SESSION_KEY, [])


def review_link_unlock(link, session, password: str) -> bool:
    """Check the password; on success remember it for this session only."""
    if not link.password_matches(password):
        return False
    unlocked = set(session.get(GUEST_UNLOCKED_SESSION_KEY, []))
    session[GUEST_UNLOCKED_SESSION_KEY] = sorted(unlocked | {link.id})
    return True


def review_link_takes(link) -> list:
    """The takes a guest may watch and comment on: what the cut plays, entry by entry, or the
    shot's finished takes (newest first). Nothing else of the project is reachable, nothing in the
    trash (nor inside a trashed scene) either."""
    if link.cut_id:
        return [row.take for row in selectors.cut_timeline(link.cut) if row.take is not None]
    return list(Take.objects.live().filter(shot=link.shot, status=TakeStatus.SUCCEEDED).select_related("shot").order_by("-number"))


def review_link_take(link, take_id: int):
    """One take the link shows, or 404."""
    take = next((t for t in review_link_takes(link) if t.id == take_id), None)
    if take is None:
        raise Http404("No such take on this link.")
    return take


# A cut link's page works out once which take each entry plays (studio.selectors.cut_timeline) and
# signs each media URL it hands out; a media request (one per seek: HTTP Range) then checks that
# signature and, in one small query, that the take and its shot are still live and in the cut.
GUEST_MEDIA_SALT = "studio.review-link-media"


def review_link_media_key(link, take_id: int) -> str:
    return signing.Signer(salt=GUEST_MEDIA_SALT).signature(f"{link.id}:{take_id}")


def review_link_media_take(link, take_id: int, key: str):
    """The take whose video or poster a guest asks for, or 404. A shot link's rule is one query
    already; a cut link's needs the key its page gave (proof the timeline plays this take)."""
    takes = Take.objects.live().filter(pk=take_id, status=TakeStatus.SUCCEEDED).select_related("shot")
    if link.cut_id:
        if not constant_time_compare(key, review_link_media_key(link, take_id)):
            raise Http404("No such take on this link.")
        in_cut = CutEntry.objects.live().filter(cut_id=link.cut_id, shot_id=OuterRef("shot_id"))
        takes = takes.filter(Exists(in_cut))
    else:
        takes = takes.filter(shot_id=link.shot_id)
    take = takes.first()
    if take is None:
        raise Http404("No such take on this link.")
    return take
