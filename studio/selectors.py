"""Reads. Every list the studio shows comes from here, with its joins decided once."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from studio.models import (
    AuditEvent, CastMember, Comment, Cut, CutEntry, Export, ExportStatus, Membership, Project, ReferenceImage,
    Role, Scene, Shot, ShotCast, Take, TakeStatus,
)

ACTIVE_TAKE_STATUSES = (TakeStatus.QUEUED, TakeStatus.RUNNING)
RECENT_TAKES_IN_SNAPSHOT = 30


def trashed_projects_owned_by(user) -> QuerySet[Project]:
    """Projects this user owns that were moved to the trash and can still be restored."""
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(deleted_at__gte=trash_cutoff(), memberships__user=user,
                                  memberships__role=Role.OWNER).order_by("-deleted_at")


def projects_for_user(user) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return (
        Project.objects.alive()
        .filter(memberships__user=user)
        .annotate(shot_count=Count("scenes__shots", filter=Q(scenes__shots__deleted_at__isnull=True), distinct=True))
        .order_by("name")
    )


def project_members(project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")


def project_progress(project: Project) -> dict[str, Any]:
    shots = Shot.objects.alive().filter(scene__project=project, scene__deleted_at__isnull=True, scene__omitted=False)
    takes = Take.objects.filter(shot__scene__project=project)
    return {
        "scenes": Scene.objects.alive().filter(project=project, omitted=False).count(),
        "shots": shots.count(),
        "approved_shots": shots.filter(approved_take__isnull=False).count(),
        "renders_running": takes.filter(status__in=ACTIVE_TAKE_STATUSES).count(),
        "compute_seconds": takes.aggregate(total=Sum("compute_seconds"))["total"] or 0.0,
    }


def cast_library(project: Project) -> QuerySet[CastMember]:
    return (
        CastMember.objects.alive()
        .filter(project=project)
        .prefetch_related(Prefetch("images", queryset=ReferenceImage.objects.order_by("-is_primary", "order", "id")))
        .annotate(shot_count=Count("shot_links", filter=Q(shot_links__shot__deleted_at__isnull=True), distinct=True))
        .order_by("kind", "name")
    )


def shot_cast_in_order(shot: Shot) -> list[CastMember]:
    return [link.cast_member for link in shot.cast_links.select_related("cast_member").order_by("order", "id")]


# A take's request and provenance are the big JSON columns; the board shows neither.
TAKE_FIELDS_NOT_ON_BOARD = ("request", "provenance")


def shot_board(project: Project) -> list[Scene]:
    """Scenes in order with their shots, cast, approved take and latest take: a fixed number of queries."""
    latest_takes = Take.objects.alive().defer(*TAKE_FIELDS_NOT_ON_BOARD).order_by("shot_id", "-number")
    shots = (
        Shot.objects.alive()
        .select_related("approved_take")
        .defer(*(f"approved_take__{name}" for name in TAKE_FIELDS_NOT_ON_BOARD))
        .prefetch_related(
            Prefetch("cast_links", queryset=ShotCast.objects.select_related("cast_member").order_by("order", "id")),
            Prefetch("takes", queryset=latest_takes, to_attr="takes_newest_first"),
        )
        .order_by("order", "id")
    )
    return list(
        Scene.objects.alive()
        .filter(project=project)
        .select_related("location_cast")
        .prefetch_related(Prefetch("shots", queryset=shots, to_attr="board_shots"))
        .order_by("order", "id")
    )


def shots_in_order(project: Project) -> QuerySet[Shot]:
    return (
        Shot.objects.alive()
        .filter(scene__project=project, scene__deleted_at__isnull=True)
        .select_related("scene", "approved_take")
        .order_by("scene__order", "scene_id", "order", "id")
    )


def previous_shot(shot: Shot) -> Shot | None:
    ordered = list(shots_in_order(shot.scene.project).values_list("id", flat=True))
    index = ordered.index(shot.id)
    return Shot.objects.select_related("approved_take").get(pk=ordered[index - 1]) if index > 0 else None


def shot_takes(shot: Shot) -> QuerySet[Take]:
    return (
        Take.objects.alive()
        .filter(shot=shot)
        .select_related("requested_by")
        .prefetch_related("decisions__decided_by")
        .annotate(comment_count=Count("comments", filter=Q(comments__deleted_at__isnull=True)))
        .order_by("-number")
    )


def take_comments(take: Take) -> QuerySet[Comment]:
    return (
        Comment.objects.alive()
        .filter(take=take, parent__isnull=True)
        .select_related("author", "resolved_by")
        .prefetch_related(Prefetch("replies", queryset=Comment.objects.alive().select_related("author").order_by("created_at")))
        .order_by("frame", "created_at")
    )


def cut_entries(cut: Cut) -> QuerySet[CutEntry]:
    return (
        CutEntry.objects.filter(cut=cut, shot__deleted_at__isnull=True)
        .select_related("shot__scene", "shot__approved_take", "take")
        .order_by("order", "id")
    )


def project_cuts(project: Project) -> QuerySet[Cut]:
    return Cut.objects.alive().filter(project=project).annotate(entry_count=Count("entries")).order_by("name")


def cut_exports(cut: Cut) -> QuerySet[Export]:
    return Export.objects.filter(cut=cut).select_related("requested_by").order_by("-created_at", "-id")


def project_activity(project: Project, limit: int = 200) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(project=project).select_related("actor").order_by("-created_at", "-id")[:limit]


def finished_take_with_signature(project: Project, signature: str) -> Take | None:
    return (
        Take.objects.alive()
        .filter(shot__scene__project=project, signature=signature, status=TakeStatus.SUCCEEDED)
        .order_by("-finished_at")
        .first()
    )


def take_payload(take: Take) -> dict[str, Any]:
    """How a take travels to browsers, in snapshots and in events alike."""
    return {
        "id": take.id,
        "shot_id": take.shot_id,
        "number": take.number,
        "backend": take.backend,
        "status": take.status,
        "progress": round(take.progress, 4),
        "step": take.step,
        "total_steps": take.total_steps,
        "attempts": take.attempts,
        "error": take.error,
        "video": take.video.url if take.video else "",
        "poster": take.poster.url if take.poster else "",
        "frames": take.frames,
        "compute_seconds": round(take.compute_seconds, 2),
    }


def export_payload(export: Export) -> dict[str, Any]:
    return {
        "id": export.id,
        "cut_id": export.cut_id,
        "format": export.format,
        "status": export.status,
        "progress": round(export.progress, 4),
        "error": export.error,
        "warnings": export.warnings,
        "file": export.file.name.rsplit("/", 1)[-1] if export.file else "",
    }


def project_snapshot(project: Project) -> dict[str, Any]:
    """What a browser needs on (re)connect: the sequence number, then running and recent work."""
    from studio import events

    seq = events.current_sequence(project.id)
    active = Take.objects.filter(shot__scene__project=project, status__in=ACTIVE_TAKE_STATUSES)
    recent = (
        Take.objects.filter(shot__scene__project=project)
        .exclude(status__in=ACTIVE_TAKE_STATUSES)
        .order_by("-finished_at", "-id")[:RECENT_TAKES_IN_SNAPSHOT]
    )
    exports = Export.objects.filter(cut__project=project).exclude(status__in=[ExportStatus.SUCCEEDED, ExportStatus.FAILED])
    return {
        "type": "snapshot",
        "seq": seq,
        "takes": [take_payload(t) for t in [*active.order_by("id"), *recent]],
        "exports": [export_payload(e) for e in exports],
    }


# --- UI reads (studio/views) -------------------------------------------------------------------
# Appended for the browser studio: one shot or scene as the board shows it (for live refreshes
# of a single card), the cast as the prompt autocomplete and the library show it, and the cut
# editor's entries with the takes each entry may swap to. Each is a fixed number of queries.

def _board_shots() -> QuerySet[Shot]:
    return (
        Shot.objects.alive()
        .select_related("approved_take")
        .defer(*(f"approved_take__{name}" for name in TAKE_FIELDS_NOT_ON_BOARD))
        .prefetch_related(
            Prefetch("cast_links", queryset=ShotCast.objects.select_related("cast_member").order_by("order", "id")),
            Prefetch("takes", queryset=Take.objects.alive().defer(*TAKE_FIELDS_NOT_ON_BOARD).order_by("shot_id", "-number"),
                     to_attr="takes_newest_first"),
        )
        .order_by("order", "id")
    )


def board_scene(project: Project, scene_id: int) -> Scene | None:
    return (
        Scene.objects.alive()
        .filter(project=project, pk=scene_id)
        .select_related("location_cast")
        .prefetch_related(Prefetch("shots", queryset=_board_shots(), to_attr="board_shots"))
        .first()
    )


def board_shot(project: Project, shot_id: int) -> Shot | None:
    return _board_shots().filter(scene__project=project, scene__deleted_at__isnull=True, pk=shot_id).select_related("scene").first()


def cast_handles(project: Project) -> list[dict[str, str]]:
    """What the prompt's @ autocomplete offers."""
    return list(CastMember.objects.alive().filter(project=project).order_by("handle").values("handle", "name", "kind"))


def cast_usage(project: Project) -> dict[int, list[dict[str, Any]]]:
    """cast member id -> the live shots that use it, in board order."""
    links = (
        ShotCast.objects.filter(shot__scene__project=project, shot__deleted_at__isnull=True, shot__scene__deleted_at__isnull=True)
        .order_by("shot__scene__order", "shot__order", "shot_id")
        .values("cast_member_id", "shot_id", "shot__code")
    )
    usage: dict[int, list[dict[str, Any]]] = {}
    for link in links:
        usage.setdefault(link["cast_member_id"], []).append({"id": link["shot_id"], "code": link["shot__code"]})
    return usage


def active_takes(project: Project) -> QuerySet[Take]:
    return (
        Take.objects.filter(shot__scene__project=project, status__in=ACTIVE_TAKE_STATUSES)
        .select_related("shot")
        .order_by("created_at", "id")
    )


def latest_script(project: Project):
    return project.scripts.order_by("-version").first()


def live_scene_ids_by_heading(project: Project) -> dict[str, int]:
    """Upper-cased, space-normalised scene heading -> scene id, for linking a script to the board."""
    scenes = Scene.objects.alive().filter(project=project, omitted=False).order_by("order", "id").values_list("heading", "id")
    result: dict[str, int] = {}
    for heading, scene_id in scenes:
        result.setdefault(" ".join(heading.upper().split()), scene_id)
    return result


def cut_editor_entries(cut: Cut) -> list[CutEntry]:
    """The cut's entries with, on each, `finished_takes` (the shot's takes it may play, newest first)."""
    finished = Take.objects.alive().filter(status=TakeStatus.SUCCEEDED).order_by("-number")
    return list(
        cut_entries(cut).prefetch_related(Prefetch("shot__takes", queryset=finished, to_attr="finished_takes"))
    )


# --- Team and trust (studio/views/members.py, trash.py, sharing.py) ------------------------------
# Appended: the people a project may invite, its trash, and its guest review links.

TRASH_KEEP_DAYS = 30


def user_by_username_or_email(text: str):
    """The one active account with this username (exact) or e-mail address (any case), or None."""
    from django.contrib.auth import get_user_model

    text = text.strip()
    if not text:
        return None
    users = get_user_model().objects.filter(is_active=True)
    found = users.filter(username=text).first()
    if found is None and "@" in text:
        matches = list(users.filter(email__iexact=text)[:2])
        found = matches[0] if len(matches) == 1 else None  # two accounts share it: ask for the username
    return found


def trash_cutoff(days: int = TRASH_KEEP_DAYS):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(days=days)


def project_trash(project: Project) -> dict[str, list]:
    """What an owner can still restore: rows trashed within the last 30 days, newest first, by kind."""
    since = trash_cutoff()
    return {
        "scenes": list(Scene.objects.filter(project=project, deleted_at__gte=since).order_by("-deleted_at")),
        "shots": list(Shot.objects.filter(scene__project=project, deleted_at__gte=since)
                      .select_related("scene").order_by("-deleted_at")),
        "cast": list(CastMember.objects.filter(project=project, deleted_at__gte=since).order_by("-deleted_at")),
        "cuts": list(Cut.objects.filter(project=project, deleted_at__gte=since).order_by("-deleted_at")),
        "takes": list(Take.objects.filter(shot__scene__project=project, deleted_at__gte=since)
                      .select_related("shot").order_by("-deleted_at")),
    }


def project_review_links(project: Project):
    from studio.models import ReviewLink

    return (
        ReviewLink.objects.filter(project=project)
        .select_related("cut", "shot", "created_by")
        .annotate(comment_count=Count("comments"))
        .order_by("-created_at")
    )


# --- API reads (studio/api) ----------------------------------------------------------------------
# Appended for the REST API: the lists it pages through, each a fixed number of queries per page.

def api_shots(project: Project) -> QuerySet[Shot]:
    """Live shots of live scenes, in board order, with their cast (handles) prefetched."""
    return (
        Shot.objects.alive()
        .filter(scene__project=project, scene__deleted_at__isnull=True)
        .select_related("scene")
        .prefetch_related(Prefetch("cast_links", queryset=ShotCast.objects.select_related("cast_member").order_by("order", "id")))
        .order_by("scene__order", "scene_id", "order", "id")
    )


def api_scenes(project: Project) -> QuerySet[Scene]:
    return Scene.objects.alive().filter(project=project).order_by("order", "id")


def api_takes(project: Project) -> QuerySet[Take]:
    """Live takes of live shots, newest first, without the big JSON columns."""
    return (
        Take.objects.alive()
        .filter(shot__scene__project=project, shot__deleted_at__isnull=True, shot__scene__deleted_at__isnull=True)
        .defer(*TAKE_FIELDS_NOT_ON_BOARD)
        .order_by("-created_at", "-id")
    )


def api_take_comments(take: Take) -> QuerySet[Comment]:
    """Every live comment and reply on a take, oldest first (a reply names its parent)."""
    return Comment.objects.alive().filter(take=take).select_related("author").order_by("created_at", "id")


def api_take_decisions(take: Take):
    from studio.models import ReviewDecision

    return ReviewDecision.objects.filter(take=take).select_related("decided_by").order_by("-created_at", "-id")


def api_project_exports(project: Project) -> QuerySet[Export]:
    return Export.objects.filter(cut__project=project, cut__deleted_at__isnull=True).order_by("-created_at", "-id")
