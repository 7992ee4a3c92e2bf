"""Reads. Every list the studio shows comes from here, with its joins decided once."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet, Sum, prefetch_related_objects
from django.utils import timezone

from generation.backends.prompting import camera_prompt
from generation.backends.registry import sends_camera_in_prompt
from studio import script_diff
from studio.screenplay import ScriptError, parse_fountain
from studio.models import (
    AuditEvent, CastKind, CastMember, Comment, Cut, CutEntry, Export, ExportStatus, IdentityScore, IdentityStatus, Membership,
    Notification, Project, ReferenceImage, ReviewDecision, ReviewLink, Role, Scene, ScriptSource, Shot, ShotCast, Take, TakeStatus,
)
from studio.models.base import live_q

ACTIVE_TAKE_STATUSES = (TakeStatus.QUEUED, TakeStatus.RUNNING)
RECENT_TAKES_IN_SNAPSHOT = 30
REFERENCE_IMAGE_ORDER = ("-is_primary", "order", "id")  # what a render sends first, and the library shows first


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
        .annotate(shot_count=Count("scenes__shots", distinct=True,
                                   filter=Q(scenes__deleted_at__isnull=True, scenes__shots__deleted_at__isnull=True)))
        .order_by("name")
    )


def project_members(project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")


def project_progress(project: Project) -> dict[str, Any]:
    shots = Shot.objects.live().filter(scene__project=project, scene__omitted=False)
    takes = Take.objects.filter(shot__scene__project=project)
    return {
        "scenes": Scene.objects.live().filter(project=project, omitted=False).count(),
        "shots": shots.count(),
        "approved_shots": shots.filter(approved_take__isnull=False).count(),
        "renders_running": takes.filter(status__in=ACTIVE_TAKE_STATUSES).count(),
        "compute_seconds": takes.aggregate(total=Sum("compute_seconds"))["total"] or 0.0,
    }


def cast_library(project: Project) -> QuerySet[CastMember]:
    return (
        CastMember.objects.live()
        .filter(project=project)
        .prefetch_related(Prefetch("images", queryset=ReferenceImage.objects.order_by(*REFERENCE_IMAGE_ORDER)))
        .annotate(shot_count=Count("shot_links", filter=live_q(Shot, "shot_links__shot__"), distinct=True))
        .order_by("kind", "name")
    )


def shot_cast_in_order(shot: Shot) -> list[CastMember]:
    return [link.cast_member for link in shot.cast_links.select_related("cast_member").order_by("order", "id")]


def shot_stand_ins(shot: Shot) -> dict[str, CastMember]:
    """handle of a cast member -> the live cast member standing in for it in this shot (each with
    `reference_images`, primary first): two queries, whatever the cast's size."""
    links = list(ShotCast.objects.live().filter(shot=shot, stand_in__isnull=False, stand_in__deleted_at__isnull=True)
                 .select_related("cast_member", "stand_in"))
    images = ReferenceImage.objects.order_by(*REFERENCE_IMAGE_ORDER)
    prefetch_related_objects([link.stand_in for link in links], Prefetch("images", queryset=images, to_attr="reference_images"))
    return {link.cast_member.handle: link.stand_in for link in links}


def shot_reference_cast(shot: Shot, cast: list[CastMember] | None = None) -> list[CastMember]:
    """The cast a render of this shot is conditioned on, in order: the shot's cast (or `cast`, the
    members an edited prompt mentions), then its scene's location when that is a live location not
    cast already. Each carries `reference_images` (primary first), read for all of them at once: a
    fixed number of queries, however big the cast."""
    cast = shot_cast_in_order(shot) if cast is None else list(cast)
    location = shot.scene.location_cast
    if location and location.kind == CastKind.LOCATION and location not in cast and not location.is_trashed:
        cast.append(location)
    images = ReferenceImage.objects.order_by(*REFERENCE_IMAGE_ORDER)
    prefetch_related_objects(cast, Prefetch("images", queryset=images, to_attr="reference_images"))
    return cast


# A take's request and provenance are the big JSON columns; the board shows neither.
TAKE_FIELDS_NOT_ON_BOARD = ("request", "provenance")


def identity_scores_prefetch() -> Prefetch:
    """A take's identity scores with their cast member, in one query for all the takes listed."""
    return Prefetch("identity_scores", queryset=IdentityScore.objects.select_related("cast_member").order_by("id"))


# What a shot's identity badge says, worst first: a drifted member outweighs a missing face,
# which outweighs a match. "No usable reference" is not the take's fault and gets no badge.
IDENTITY_BADGES = (
    (IdentityStatus.DRIFT, "drift", "Identity drifted"),
    (IdentityStatus.NO_FACE, "no face", "No face found"),
    (IdentityStatus.MATCH, "match", "Identity matches"),
)


def identity_badge(take: Take | None) -> dict[str, str] | None:
    """The board's badge for a take's prefetched identity scores: status, short label, and an
    accessible name listing every member's verdict. None when the take has no scores yet."""
    scores = list(take.identity_scores.all()) if take is not None else []
    statuses = {score.status for score in scores}
    for status, label, summary in IDENTITY_BADGES:
        if status in statuses:
            verdicts = "; ".join(f"{score.cast_member.name}: {score.verdict}" for score in scores)
            return {"status": status, "label": label, "name": f"{summary}. {verdicts}"}
    return None


def _with_identity_badge(shot: Shot) -> Shot:
    """The board shows the identity of the approved take, else of the newest finished one; both are
    among the shot's prefetched takes (an approved take cannot be trashed)."""
    takes = shot.takes_newest_first
    shown = next((t for t in takes if t.id == shot.approved_take_id), None) or next(
        (t for t in takes if t.status == TakeStatus.SUCCEEDED), None)
    shot.identity_take, shot.identity_badge = shown, identity_badge(shown)
    shot.board_status = shot_board_status(shot)
    return shot


def _with_identity_badges(scenes: list[Scene]) -> list[Scene]:
    for scene in scenes:
        for shot in scene.board_shots:
            _with_identity_badge(shot)
    return scenes


# --- Continuity: is a take still started from its upstream's approved take? -----------------

def take_is_stale(take: Take | None, upstream_approved_id: int | None) -> bool:
    """A take that started from an upstream take's last frame is stale once the previous shot's
    approved take is another one (a new approval, a re-render approved, the approval taken back)."""
    return take is not None and take.continued_from_id is not None and take.continued_from_id != upstream_approved_id


def continuity_state(shot: Shot, previous: Shot | None) -> dict[str, Any] | None:
    """What the board says about a continuing shot (None for one that does not continue): stale
    when the take it shows (approved, else newest finished) is stale and no newer take was asked for
    from the current upstream. Uses the shot's prefetched `takes_newest_first`; no query."""
    if not shot.continue_from_previous:
        return None
    upstream_id = previous.approved_take_id if previous else None
    takes = shot.takes_newest_first
    shown = next((t for t in takes if t.id == shot.approved_take_id), None) or next(
        (t for t in takes if t.status == TakeStatus.SUCCEEDED), None)
    newest = takes[0] if takes else None
    stale = take_is_stale(shown, upstream_id) and (newest is None or take_is_stale(newest, upstream_id))
    return {"stale": stale, "upstream_code": previous.code if previous else "",
            "upstream_take_number": previous.approved_take.number if previous and previous.approved_take_id else None}


def _with_continuity(shots: list[Shot], before: Shot | None) -> None:
    """Set `shot.continuity` on board shots given in board order; `before` precedes the first."""
    previous = before
    for shot in shots:
        shot.continuity = continuity_state(shot, previous)
        previous = shot


def rerender_comparison(take: Take | None) -> dict[str, Any] | None:
    """For an exact re-render: whether its frames are the original's, by the content hash both
    renders recorded (provenance frames_sha256). One query, only for a take that is a re-render."""
    if take is None or take.rerender_of_id is None:
        return None
    original = Take.objects.filter(pk=take.rerender_of_id).only("id", "number", "provenance").first()
    if original is None:
        return {"status": "unknown", "original": None, "text": "The take it repeats is gone; nothing to compare."}
    ours, theirs = take.provenance.get("frames_sha256"), original.provenance.get("frames_sha256")
    number = original.number
    if take.status != TakeStatus.SUCCEEDED:
        status, text = "pending", f"Exact re-render of take {number}: compared with it once this take is finished."
    elif not theirs or not ours:
        status, text = "unknown", f"Exact re-render of take {number}: take {number} has no content hash (rendered before they were recorded)."
    elif ours == theirs:
        status, text = "match", f"Exact re-render of take {number}: frames identical (sha256 {ours[:16]}…)."
    else:
        status, text = "differ", f"Exact re-render of take {number}: frames differ (sha256 {ours[:16]}… vs {theirs[:16]}…)."
    return {"status": status, "original": original, "text": text}


def prompt_sent(shot: Shot, project: Project, prompt: str | None = None) -> dict[str, str] | None:
    """"Prompt sent to <backend>: ..." for a backend that gets the camera as prompt words (wan, ltx):
    exactly the text its pipeline will receive (generation.backends.prompting). None for a backend
    that takes no text prompt to a model (the animatic draws size, move and lens itself)."""
    backend = shot.backend or project.default_backend
    if not sends_camera_in_prompt(backend):
        return None
    text = camera_prompt(shot.prompt if prompt is None else prompt, shot_size=shot.shot_size,
                         camera_move=shot.camera_move, lens_mm=shot.lens_mm)
    return {"backend": backend, "text": text}


def _with_prompt_sent(shots: list[Shot], project: Project) -> None:
    for shot in shots:
        shot.prompt_sent = prompt_sent(shot, project)


def take_continuity(take: Take, shot: Shot) -> dict[str, Any] | None:
    """The review room's continuity note for a take: where it started, and whether that is still
    the previous shot's approved take. One query, only for a take that continued from another."""
    if take is None or take.continued_from_id is None:
        return None
    previous = previous_shot(shot)
    upstream_id = previous.approved_take_id if previous else None
    return {"stale": shot.continue_from_previous and take_is_stale(take, upstream_id),
            "upstream": previous, "upstream_take": previous.approved_take if previous else None}


def shot_board(project: Project) -> list[Scene]:
    """Scenes in order with their shots, cast, approved take and latest take (with its identity
    scores): a fixed number of queries."""
    latest_takes = (Take.objects.alive().defer(*TAKE_FIELDS_NOT_ON_BOARD).order_by("shot_id", "-number")
                    .prefetch_related(identity_scores_prefetch()))
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
    # Shots and takes are prefetched under live scenes, so their own deleted_at is all that is left.
    scenes = _with_identity_badges(list(
        Scene.objects.live()
        .filter(project=project)
        .select_related("location_cast")
        .prefetch_related(Prefetch("shots", queryset=shots, to_attr="board_shots"))
        .order_by("order", "id")
    ))
    _with_continuity([shot for scene in scenes for shot in scene.board_shots], None)
    _with_prompt_sent([shot for scene in scenes for shot in scene.board_shots], project)
    return scenes


BOARD_ORDER = ("scene__order", "scene_id", "order", "id")


def shots_in_order(project: Project) -> QuerySet[Shot]:
    return (
        Shot.objects.live()
        .filter(scene__project=project)
        .select_related("scene", "approved_take")
        .order_by(*BOARD_ORDER)
    )


def previous_shot(shot: Shot) -> Shot | None:
    """The live shot just before this one in board order, across scene boundaries: one query
    (the shots before it, in reverse board order, first), not a walk over the whole board."""
    scene = shot.scene
    before = (
        Q(scene__order__lt=scene.order)
        | Q(scene__order=scene.order, scene_id__lt=scene.id)
        | Q(scene_id=scene.id, order__lt=shot.order)
        | Q(scene_id=scene.id, order=shot.order, id__lt=shot.id)
    )
    return shots_in_order(scene.project_id).filter(before).order_by(*(f"-{f}" for f in BOARD_ORDER)).first()


def next_shot(shot: Shot) -> Shot | None:
    """The live shot just after this one in board order, across scene boundaries: one query."""
    scene = shot.scene
    after = (
        Q(scene__order__gt=scene.order)
        | Q(scene__order=scene.order, scene_id__gt=scene.id)
        | Q(scene_id=scene.id, order__gt=shot.order)
        | Q(scene_id=scene.id, order=shot.order, id__gt=shot.id)
    )
    return shots_in_order(scene.project_id).filter(after).first()


def shot_takes(shot: Shot) -> QuerySet[Take]:
    return (
        Take.objects.live()
        .filter(shot=shot)
        .select_related("requested_by")
        .prefetch_related("decisions__decided_by", identity_scores_prefetch())
        .annotate(comment_count=Count("comments", filter=Q(comments__deleted_at__isnull=True)))
        .order_by("-number")
    )


def take_comments(take: Take, *, with_results: bool = False) -> QuerySet[Comment]:
    """A take's comment threads. `with_results`: each carries the takes it asked for
    (`caused_takes`: "re-render with this note" / "this region"), as the review room shows them."""
    replies = Prefetch("replies", queryset=Comment.objects.alive().select_related("author").order_by("created_at"))
    prefetches = [replies]
    if with_results:
        prefetches.append(Prefetch("caused_takes", queryset=Take.objects.alive().defer("provenance").order_by("number")))
    return (
        Comment.objects.alive()
        .filter(take=take, parent__isnull=True)
        .select_related("author", "resolved_by")
        .prefetch_related(*prefetches)
        .order_by("frame", "created_at")
    )


def take_played(chosen_id: int | None, approved_id: int | None, finished: list[Take]) -> Take | None:
    """The one rule for which take a cut plays for a shot: the chosen one, else the approved one,
    else the newest finished one (as a playlist shows the latest version until someone approves).
    `finished` is the shot's live finished takes, newest first; a chosen or approved take that is
    not among them (trashed, failed, still rendering) is passed over."""
    by_id = {take.id: take for take in finished}
    return by_id.get(chosen_id) or by_id.get(approved_id) or (finished[0] if finished else None)


def shot_finished_takes(shot: Shot) -> list[Take]:
    return list(Take.objects.alive().filter(shot=shot, status=TakeStatus.SUCCEEDED).order_by("-number"))


def shot_playing_take(shot: Shot, *, chosen: Take | None = None) -> Take | None:
    """What a cut entry of this shot choosing `chosen` (None: no choice) would play."""
    return take_played(chosen.id if chosen else None, shot.approved_take_id, shot_finished_takes(shot))


@dataclass(frozen=True)
class TimelineEntry:
    """One entry of a cut as it plays: the take, the trim clamped to that take, and the shot's
    finished takes (`entry.shot.finished_takes`, newest first) it could swap to."""

    entry: CutEntry
    take: Take | None  # None: the shot has no finished take yet
    in_frame: int
    out_frame: int  # exclusive

    @property
    def frames(self) -> int:
        return max(self.out_frame - self.in_frame, 0)

    @property
    def finished_takes(self) -> list[Take]:
        return self.entry.shot.finished_takes

    @property
    def alternates(self) -> list[Take]:
        """The shot's other finished takes, oldest first (editorial timelines offer them)."""
        return sorted((t for t in self.finished_takes if t.id != getattr(self.take, "id", None)), key=lambda t: t.number)


def cut_timeline(cut: Cut) -> list[TimelineEntry]:
    """The cut's live entries in order, each with the take it plays, its media and its alternates:
    two queries however long the cut. The cut editor, the guest player, exports and renders all
    read the cut through here, so they agree on what plays and on what the trash hides."""
    finished = Take.objects.alive().filter(status=TakeStatus.SUCCEEDED).order_by("-number")
    entries = (
        CutEntry.objects.live()
        .filter(cut=cut)
        .select_related("shot__scene", "shot__approved_take")
        .defer(*(f"shot__approved_take__{name}" for name in TAKE_FIELDS_NOT_ON_BOARD))
        .prefetch_related(Prefetch("shot__takes", queryset=finished, to_attr="finished_takes"))
        .order_by("order", "id")
    )
    return [_timeline_entry(entry) for entry in entries]


def _timeline_entry(entry: CutEntry) -> TimelineEntry:
    take = take_played(entry.take_id, entry.shot.approved_take_id, entry.shot.finished_takes)
    frames = take.frames if take else 0
    out_frame = min(entry.out_frame or frames, frames)
    return TimelineEntry(entry, take, min(entry.in_frame, out_frame), out_frame)


@dataclass(frozen=True)
class DriftCell:
    """One cast member in one entry of a cut: the identity score of the take the entry plays, or a
    gap saying why there is none ("absent": not in the shot; "unscored": no score yet)."""

    row: TimelineEntry
    status: str  # an IdentityStatus value, "unscored" or "absent"
    score: IdentityScore | None
    title: str  # what a hover or a screen reader says

    @property
    def frames(self) -> int:
        return max(self.row.frames, 1)  # an empty entry still takes a sliver, so cells line up with entries


@dataclass(frozen=True)
class DriftStrip:
    member: CastMember
    cells: list[DriftCell]

    @property
    def drifted(self) -> int:
        return sum(1 for cell in self.cells if cell.score is not None and cell.score.is_warning)


DRIFT_STRIP_KIND_ORDER = {CastKind.CHARACTER: 0, CastKind.OBJECT: 1, CastKind.LOCATION: 2}


def cut_drift_strips(rows: list[TimelineEntry]) -> list[DriftStrip]:
    """Per cast member of the cut's shots, one cell per timeline entry (in `cut_timeline` order):
    how the take that entry plays scored against that member, so drift from shot to shot reads
    along a line. Characters first. Three queries however long the cut or big the cast."""
    shots = {row.entry.shot_id: row.entry.shot for row in rows}
    take_ids = [row.take.id for row in rows if row.take is not None]
    links = list(ShotCast.objects.live().filter(shot_id__in=shots).values_list("shot_id", "cast_member_id"))
    in_shot = {(shot_id, member_id) for shot_id, member_id in links}
    in_shot |= {(shot.id, shot.scene.location_cast_id) for shot in shots.values() if shot.scene.location_cast_id}
    member_ids = {member_id for _, member_id in in_shot}
    scores = {(score.take_id, score.cast_member_id): score
              for score in IdentityScore.objects.filter(take_id__in=take_ids, cast_member__deleted_at__isnull=True)}
    member_ids |= {member_id for _, member_id in scores}
    members = sorted(CastMember.objects.alive().filter(id__in=member_ids),
                     key=lambda m: (DRIFT_STRIP_KIND_ORDER.get(m.kind, 9), m.name.lower(), m.id))
    return [DriftStrip(member, [_drift_cell(row, member, scores, in_shot) for row in rows]) for member in members]


def _drift_cell(row: TimelineEntry, member: CastMember, scores: dict, in_shot: set) -> DriftCell:
    shot = row.entry.shot
    score = scores.get((row.take.id, member.id)) if row.take is not None else None
    if score is not None:
        return DriftCell(row, score.status, score, f"{shot.code} T{row.take.number} · {member.name}: {score.verdict}")
    if (shot.id, member.id) not in in_shot:
        return DriftCell(row, "absent", None, f"{shot.code} · {member.name} is not in this shot")
    reason = "no finished take" if row.take is None else f"T{row.take.number} not scored yet"
    return DriftCell(row, "unscored", None, f"{shot.code} · {member.name}: {reason}")


def project_cuts(project: Project) -> QuerySet[Cut]:
    return (
        Cut.objects.live()
        .filter(project=project)
        .annotate(entry_count=Count("entries", filter=live_q(Shot, "entries__shot__") & Q(entries__deleted_at__isnull=True)))
        .order_by("name")
    )


def cut_exports(cut: Cut) -> QuerySet[Export]:
    return Export.objects.filter(cut=cut).select_related("requested_by").order_by("-created_at", "-id")


def project_activity(project: Project, limit: int = 200) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(project=project).select_related("actor").order_by("-created_at", "-id")[:limit]


def finished_take_with_signature(project: Project, signature: str) -> Take | None:
    # alive(), not live(): a take of a trashed shot or scene still holds good pixels to reuse, and
    # trash_purge keeps any file a surviving take names, so nothing is shown from the trash.
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
        "gpu_seconds": round(take.gpu_seconds, 2),
        "priority": take.priority,
        "phase": take.phase,
    }


def take_progress_payload(take: Take) -> dict[str, Any]:
    """A progress tick: only what a progress bar paints (the rest has not changed). The phase
    ("loading model… 40%") only while there is one: a page clears it when a tick has none."""
    payload = {"id": take.id, "shot_id": take.shot_id, "status": take.status, "progress": round(take.progress, 4),
               "step": take.step, "total_steps": take.total_steps}
    if take.phase:
        payload["phase"] = take.phase
    return payload


def identity_score_payload(score: IdentityScore) -> dict[str, Any]:
    """How a score travels to browsers and into the provenance manifest."""
    return {
        "cast_member_id": score.cast_member_id, "handle": score.cast_member.handle, "name": score.cast_member.name,
        "kind": score.cast_member.kind, "status": score.status, "score": score.score, "threshold": score.threshold,
        "method": score.method, "verdict": score.verdict, "frames_sampled": score.frames_sampled,
        "frames_scored": score.frames_scored, "best_frame_index": score.best_frame_index,
        "best_frame_time_s": score.best_frame_time_s, "worst_frame_index": score.worst_frame_index,
        "worst_frame_time_s": score.worst_frame_time_s, "model": score.model, "model_version": score.model_version,
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
    """What a browser needs on (re)connect: the sequence number, then running and recent work.
    The number also lets a page that has just loaded tell whether anything changed between its
    render (the page carries the number it was rendered at) and its socket joining.

    `project` as just read from the database (the socket's access check): its event_seq is the
    snapshot's number, read before the state below, so nothing the number covers is missing."""
    seq = project.event_seq
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
            Prefetch("takes", queryset=Take.objects.alive().defer(*TAKE_FIELDS_NOT_ON_BOARD).order_by("shot_id", "-number")
                     .prefetch_related(identity_scores_prefetch()), to_attr="takes_newest_first"),
        )
        .order_by("order", "id")
    )


def board_scene(project: Project, scene_id: int) -> Scene | None:
    scene = (
        Scene.objects.live()
        .filter(project=project, pk=scene_id)
        .select_related("location_cast")
        .prefetch_related(Prefetch("shots", queryset=_board_shots(), to_attr="board_shots"))
        .first()
    )
    if scene is None:
        return None
    _with_identity_badges([scene])
    shots = scene.board_shots
    # The shot before the scene's first matters only when that first shot continues from it.
    before = previous_shot(shots[0]) if shots and shots[0].continue_from_previous else None
    _with_continuity(shots, before)
    _with_prompt_sent(shots, project)
    return scene


def continuity_chain(shot: Shot) -> list[Shot]:
    """`shot` and the shots after it that each continue from the one before (board order), each
    with its `continuity` state. Reads the project's live shots once (a write's read, not a page's)."""
    shots = list(_board_shots().filter(live_q(Shot), scene__project_id=shot.scene.project_id)
                 .select_related("scene").order_by(*BOARD_ORDER))
    index = next((i for i, candidate in enumerate(shots) if candidate.id == shot.id), None)
    if index is None:
        return []
    chain = [shots[index]]
    for following in shots[index + 1:]:
        if not following.continue_from_previous:
            break
        chain.append(following)
    _with_continuity(chain, shots[index - 1] if index else None)
    return chain


def board_shot(project: Project, shot_id: int) -> Shot | None:
    shot = _board_shots().filter(live_q(Shot), scene__project=project, pk=shot_id).select_related("scene").first()
    if shot is None:
        return None
    _with_continuity([shot], previous_shot(shot) if shot.continue_from_previous else None)
    _with_prompt_sent([shot], project)
    return _with_identity_badge(shot)


def cast_handles(project: Project) -> list[dict[str, str]]:
    """What the prompt's @ autocomplete offers."""
    return list(CastMember.objects.live().filter(project=project).order_by("handle").values("handle", "name", "kind"))


def cast_usage(project: Project) -> dict[int, list[dict[str, Any]]]:
    """cast member id -> the live shots that use it, in board order."""
    links = (
        ShotCast.objects.live().filter(shot__scene__project=project)
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
    scenes = Scene.objects.live().filter(project=project, omitted=False).order_by("order", "id").values_list("heading", "id")
    result: dict[str, int] = {}
    for heading, scene_id in scenes:
        result.setdefault(" ".join(heading.upper().split()), scene_id)
    return result


# --- Team and trust (studio/views/members.py, trash.py, sharing.py) ------------------------------
# Appended: the people a project may invite, its trash, and its guest review links.

TRASH_KEEP_DAYS = 30


def user_by_username_or_email(text: str):
    """The one active account with this username (exact) or e-mail address (any case), or None."""
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
    return (
        ReviewLink.objects.filter(project=project)
        .select_related("cut", "shot", "created_by")
        .annotate(comment_count=Count("comments"))
        .order_by("-created_at")
    )


# --- API reads (studio/api) ----------------------------------------------------------------------
# Appended for the REST API: the lists it pages through, each a fixed number of queries per page.

def _api_shot_cast() -> Prefetch:
    return Prefetch("cast_links", queryset=ShotCast.objects.select_related("cast_member").order_by("order", "id"))


def api_shots(project: Project) -> QuerySet[Shot]:
    """Live shots of live scenes, in board order, with their cast (handles) prefetched."""
    return (
        Shot.objects.alive()
        .filter(scene__project=project, scene__deleted_at__isnull=True)
        .select_related("scene")
        .prefetch_related(_api_shot_cast())
        .order_by("scene__order", "scene_id", "order", "id")
    )


def shot_to_edit(project: Project, shot_id: int) -> Shot:
    """A live shot of a live scene of the project, locked until the caller's transaction ends
    (where the database can lock a row); Shot.DoesNotExist when there is none. Its scene is not
    read: an edit needs only its id. One hand-written query whose SQL is made once per process:
    the ORM built and compiled the same query on every edit, about 1 ms of the 4.6 ms of CPU an
    API edit took before its event went out (BENCHMARKS.md, issue 15)."""
    low, high = connection.ops.integer_field_range(Shot._meta.pk.get_internal_type())
    in_range = low <= shot_id <= high  # a number past the column's is no shot (SQLite would raise on it)
    shot = next(iter(Shot.objects.raw(_shot_to_edit_sql(connection.vendor), [shot_id, project.id])), None) if in_range else None
    if shot is None:
        raise Shot.DoesNotExist(f"No live shot {shot_id} in project {project.id}.")
    return shot


@functools.cache
def _shot_to_edit_sql(vendor: str) -> str:
    """Same rule as api_shots(project).get(pk=...): the shot and its scene not trashed. `vendor`
    keys the cache: SQLite (`make run`) has no row locks, so its SQL has no FOR UPDATE."""
    quote = connection.ops.quote_name
    shot_table, scene_table = quote(Shot._meta.db_table), quote(Scene._meta.db_table)
    columns = ", ".join(f"{shot_table}.{quote(f.column)}" for f in Shot._meta.concrete_fields)
    lock = f" FOR UPDATE OF {shot_table}" if connection.features.has_select_for_update_of else ""
    return (f"SELECT {columns} FROM {shot_table} INNER JOIN {scene_table}"
            f" ON {scene_table}.{quote('id')} = {shot_table}.{quote('scene_id')}"
            f" WHERE {shot_table}.{quote('id')} = %s AND {scene_table}.{quote('project_id')} = %s"
            f" AND {shot_table}.{quote('deleted_at')} IS NULL AND {scene_table}.{quote('deleted_at')} IS NULL{lock}")


def api_shot_with_cast(shot: Shot) -> Shot:
    """A shot the caller already holds (just written), with its cast as api_shots gives it (the
    handles, in reference order) in `cast_handles`: one query instead of reading the shot again.
    Hand-written, its SQL made once per process: the ORM's prefetch of the same rows took 1.4 ms of
    CPU, right after the edit's event went out, while the same process writes it to its sockets
    (BENCHMARKS.md, issue 15)."""
    with connection.cursor() as cursor:
        cursor.execute(_shot_cast_handles_sql(), [shot.pk])
        shot.cast_handles = [handle for (handle,) in cursor.fetchall()]
    return shot


@functools.cache
def _shot_cast_handles_sql() -> str:
    """The rows and order of _api_shot_cast(), the handles alone."""
    quote = connection.ops.quote_name

    def column(model, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    link_table, member_table = quote(ShotCast._meta.db_table), quote(CastMember._meta.db_table)
    return (f"SELECT {member_table}.{column(CastMember, 'handle')} FROM {link_table} INNER JOIN {member_table}"
            f" ON {member_table}.{quote('id')} = {link_table}.{column(ShotCast, 'cast_member')}"
            f" WHERE {link_table}.{column(ShotCast, 'shot')} = %s"
            f" ORDER BY {link_table}.{column(ShotCast, 'order')}, {link_table}.{quote('id')}")


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


def api_cut_entries(cut: Cut) -> QuerySet[CutEntry]:
    """The cut's live entries in order, as rows to edit (which take each plays: cut_timeline)."""
    return CutEntry.objects.live().filter(cut=cut).order_by("order", "id")


def api_take_comments(take: Take) -> QuerySet[Comment]:
    """Every live comment and reply on a take, oldest first (a reply names its parent)."""
    return Comment.objects.alive().filter(take=take).select_related("author").order_by("created_at", "id")


def api_take_decisions(take: Take) -> QuerySet[ReviewDecision]:
    return ReviewDecision.objects.filter(take=take).select_related("decided_by").order_by("-created_at", "-id")


def api_project_exports(project: Project) -> QuerySet[Export]:
    return Export.objects.filter(cut__project=project, cut__deleted_at__isnull=True).order_by("-created_at", "-id")


def api_take_identity_scores(take: Take) -> QuerySet[IdentityScore]:
    """The take's identity score per cast member, with the member, in the shot's reference order."""
    return IdentityScore.objects.filter(take=take).select_related("cast_member").order_by("id")


# --- Deliverables (studio/services/deliverables.py) and draft cuts ------------------------------
# Appended: the shots a storyboard or a shot list prints, with what each panel or row needs, and
# which entries of a cut are not final yet. Each is a fixed number of queries.

@dataclass(frozen=True)
class DeliverableShot:
    """One shot as a storyboard panel or a shot-list row prints it."""

    shot: Shot  # with .scene, .approved_take, .deliverable_cast (each with .reference_images)
    take: Take | None  # the finished take whose picture it shows: chosen, approved or newest
    status: str  # approved, needs review, rendering, failed, cancelled, not rendered


def _deliverable_prefetches(prefix: str = "") -> tuple[Prefetch, Prefetch]:
    """A shot's live cast (with reference images, primary first) and its takes, newest first."""
    links = (
        ShotCast.objects.filter(cast_member__deleted_at__isnull=True)
        .select_related("cast_member")
        .prefetch_related(Prefetch("cast_member__images", queryset=ReferenceImage.objects.order_by(*REFERENCE_IMAGE_ORDER),
                                   to_attr="reference_images"))
        .order_by("order", "id")
    )
    takes = Take.objects.alive().defer(*TAKE_FIELDS_NOT_ON_BOARD).order_by("shot_id", "-number")
    return (Prefetch(f"{prefix}cast_links", queryset=links, to_attr="deliverable_links"),
            Prefetch(f"{prefix}takes", queryset=takes, to_attr="takes_newest_first"))


def deliverable_shots(project: Project, *, scene_id: int | None = None) -> list[DeliverableShot]:
    """The project's live shots in board order, omitted scenes left out, or one scene's shots:
    four queries (shots, cast, reference images, takes) however many shots."""
    shots = shots_in_order(project).prefetch_related(*_deliverable_prefetches())
    shots = shots.filter(scene__omitted=False) if scene_id is None else shots.filter(scene_id=scene_id)
    return [_deliverable(shot, chosen_take_id=None) for shot in shots]


def cut_deliverable_shots(cut: Cut) -> list[DeliverableShot]:
    """The cut's live entries in order as storyboard panels, each showing the take the cut plays:
    four queries (entries, cast, reference images, takes) however long the cut."""
    entries = (
        CutEntry.objects.live().filter(cut=cut)
        .select_related("shot__scene", "shot__approved_take")
        .defer(*(f"shot__approved_take__{name}" for name in TAKE_FIELDS_NOT_ON_BOARD))
        .prefetch_related(*_deliverable_prefetches("shot__"))
        .order_by("order", "id")
    )
    return [_deliverable(entry.shot, chosen_take_id=entry.take_id) for entry in entries]


def _deliverable(shot: Shot, *, chosen_take_id: int | None) -> DeliverableShot:
    shot.deliverable_cast = [link.cast_member for link in shot.deliverable_links]
    finished = [t for t in shot.takes_newest_first if t.status == TakeStatus.SUCCEEDED]
    take = take_played(chosen_take_id, shot.approved_take_id, finished)
    return DeliverableShot(shot=shot, take=take, status=_shot_status(shot, finished))


def _shot_status(shot: Shot, finished: list[Take]) -> str:
    if shot.approved_take_id and any(t.id == shot.approved_take_id for t in finished):
        return "approved"
    newest = shot.takes_newest_first[0] if shot.takes_newest_first else None
    if newest is None:
        return "not rendered"
    if newest.status in ACTIVE_TAKE_STATUSES:
        return "rendering"
    return "needs review" if newest.status == TakeStatus.SUCCEEDED else newest.status


@dataclass(frozen=True)
class ScriptOutline:
    """What a printout takes from the latest imported script: its title page (lower-case keys:
    title, credit, author, draft date, ...) and its parsed scenes by normalised heading."""

    title_page: dict[str, str]
    scenes: dict[str, Any]  # " ".join(heading.upper().split()) -> screenplay.ParsedScene

    def scene(self, heading: str):
        return self.scenes.get(" ".join(heading.upper().split()))


def script_outline(project: Project) -> ScriptOutline:
    """The latest imported script, read by the one Fountain parser: one query."""
    script = latest_script(project)
    try:
        parsed = parse_fountain(script.text) if script else None
    except ScriptError:  # imported once, so it parsed then; a parser change must not break a printout
        parsed = None
    if parsed is None:
        return ScriptOutline({}, {})
    scenes: dict[str, Any] = {}
    for scene in parsed.scenes:
        scenes.setdefault(" ".join(scene.heading.upper().split()), scene)
    return ScriptOutline(dict(parsed.title_page), scenes)


# What a take was rendered with that the shot may have changed since (keys of Take.request).
STALE_WHEN_CHANGED = ("prompt", "seed", "shot_size", "camera_move", "lens_mm")


@dataclass(frozen=True)
class CutDraftReport:
    """The shot codes of a cut that make an export of it a draft."""

    unapproved: list[str]  # plays a take nobody approved
    stale: list[str]  # the shot changed since its take was rendered
    failed: list[str]  # the shot's newest render failed: the cut plays an older take
    missing: list[str]  # no finished take at all (an export shows a slate instead)
    entries: int = 0  # how many entries the cut has


    @property
    def is_draft(self) -> bool:
        return bool(self.unapproved or self.stale or self.failed or self.missing)

    def as_dict(self) -> dict[str, list[str]]:
        return {"unapproved": self.unapproved, "stale": self.stale, "failed": self.failed, "missing": self.missing}


def cut_draft_report(cut: Cut) -> CutDraftReport:
    """Which entries of the cut are not final: the timeline (two queries) and the newest take
    status of each of its shots (one)."""
    rows = cut_timeline(cut)
    newest_status: dict[int, tuple[int, str]] = {}
    for shot_id, number, status in Take.objects.alive().filter(shot__in=[r.entry.shot_id for r in rows]).values_list(
            "shot_id", "number", "status"):
        if number > newest_status.get(shot_id, (-1, ""))[0]:
            newest_status[shot_id] = (number, status)
    report = CutDraftReport([], [], [], [], entries=len(rows))
    for row in rows:
        shot = row.entry.shot
        if row.take is None:
            report.missing.append(shot.code)
            continue
        if row.take.id != shot.approved_take_id:
            report.unapproved.append(shot.code)
        if any(key in row.take.request and row.take.request[key] != getattr(shot, key) for key in STALE_WHEN_CHANGED):
            report.stale.append(shot.code)
        if newest_status.get(shot.id, (0, ""))[1] == TakeStatus.FAILED:
            report.failed.append(shot.code)
    return report


# --- Board search and filters (studio/views/board.py) ----------------------------------------------
# One read: the board (fixed queries), plus one query for free text, filtered and counted here.

BOARD_STATUSES = {"unrendered": "Unrendered", "rendering": "Rendering", "needs_review": "Needs review",
                  "approved": "Approved", "stale": "Stale"}
BOARD_FACETS = ("scene", "status", "cast", "backend")


@dataclass(frozen=True)
class BoardFilters:
    """What the board shows; each field is a GET parameter of the board's URL (forms.BoardFilterForm)."""

    scene: int | None = None
    status: str = ""
    cast: int | None = None  # a cast member id: shots that use it, or are set where it is the location
    backend: str = ""
    text: str = ""  # words from a prompt, the scene's dialogue or a comment on a take

    @property
    def active(self) -> bool:
        return any((self.scene, self.status, self.cast, self.backend, self.text))

    @property
    def query_string(self) -> str:
        """The URL's query string that gives this view (forms.BoardFilterForm reads it back)."""
        values = {"scene": self.scene or "", "status": self.status, "cast": self.cast or "", "backend": self.backend,
                  "q": self.text}
        return urlencode({name: str(value) for name, value in values.items() if value})


@dataclass(frozen=True)
class FacetOption:
    value: str
    label: str
    count: int  # shots that would show with this option chosen and the other filters kept
    selected: bool


@dataclass
class BoardView:
    scenes: list[Scene]  # scenes with at least one shot shown (all scenes when nothing filters)
    filters: BoardFilters
    facets: dict[str, list[FacetOption]]
    total: int  # live shots on the board
    shown: int  # shots that pass every filter


def shot_board_status(shot: Shot) -> str:
    """One status per shot, from its prefetched takes (newest first): a render in flight first; then
    stale, when someone marked it for re-render after its newest take; approved; needs review (a
    finished take nobody approved); unrendered (nothing finished yet)."""
    takes = shot.takes_newest_first
    if any(take.status in ACTIVE_TAKE_STATUSES for take in takes):
        return "rendering"
    if not any(take.status == TakeStatus.SUCCEEDED for take in takes):
        return "unrendered"
    if shot.rerender_marked_at and takes[0].created_at < shot.rerender_marked_at:
        return "stale"
    return "approved" if shot.approved_take_id else "needs_review"


def board_text_matches(project: Project, text: str) -> set[int]:
    """Ids of the project's live shots whose prompt, scene dialogue or a live comment on one of its
    takes has these words: PostgreSQL full-text search (English stemming, web-search syntax: quotes,
    or, -word) where the database is PostgreSQL, a case-insensitive substring elsewhere. One query."""
    shots = Shot.objects.live().filter(scene__project=project)
    comments = Comment.objects.live()
    if connection.vendor == "postgresql":
        query = SearchQuery(text, config="english", search_type="websearch")
        in_shot = Shot.objects.annotate(found=SearchVector("prompt", "scene__dialogue", config="english")).filter(found=query)
        in_comment = comments.annotate(found=SearchVector("body", config="english")).filter(found=query)
    else:
        in_shot = Shot.objects.filter(Q(prompt__icontains=text) | Q(scene__dialogue__icontains=text))
        in_comment = comments.filter(body__icontains=text)
    matched = Q(id__in=in_shot.values("id")) | Q(id__in=in_comment.values("take__shot_id"))
    return set(shots.filter(matched).values_list("id", flat=True))


def _shot_facts(project: Project, scene: Scene, shot: Shot) -> dict[str, set[str]]:
    cast = {str(link.cast_member_id) for link in shot.cast_links.all()}
    if scene.location_cast_id:
        cast.add(str(scene.location_cast_id))
    return {"scene": {str(scene.id)}, "status": {shot_board_status(shot)}, "cast": cast,
            "backend": {shot.backend or project.default_backend}}


def board_view(project: Project, filters: BoardFilters) -> BoardView:
    """The board filtered, with counts per filter option: how many shots each option would show
    with the other filters kept (so a count of 0 says the combination is empty before a click)."""
    scenes = shot_board(project)
    text_ids = board_text_matches(project, filters.text) if filters.text else None
    chosen = {"scene": str(filters.scene or ""), "status": filters.status, "cast": str(filters.cast or ""),
              "backend": filters.backend}
    rows = [(scene, shot, _shot_facts(project, scene, shot)) for scene in scenes for shot in scene.board_shots]

    def passes(shot: Shot, facts: dict[str, set[str]], skip: str = "") -> bool:
        if text_ids is not None and shot.id not in text_ids:
            return False
        return all(not chosen[name] or chosen[name] in facts[name] for name in BOARD_FACETS if name != skip)

    counts: dict[str, dict[str, int]] = {name: {} for name in BOARD_FACETS}
    for _scene, shot, facts in rows:
        for name in BOARD_FACETS:
            if passes(shot, facts, skip=name):
                for value in facts[name]:
                    counts[name][value] = counts[name].get(value, 0) + 1
    labels = _facet_labels(project, scenes)
    facets = {name: [FacetOption(value, label, counts[name].get(value, 0), chosen[name] == value)
                     for value, label in labels[name].items()] for name in BOARD_FACETS}
    shown_ids = {shot.id for _scene, shot, facts in rows if passes(shot, facts)}
    if filters.active:
        for scene in scenes:
            scene.board_shots = [shot for shot in scene.board_shots if shot.id in shown_ids]
        scenes = [scene for scene in scenes if scene.board_shots]
    return BoardView(scenes=scenes, filters=filters, facets=facets, total=len(rows), shown=len(shown_ids))


def _facet_labels(project: Project, scenes: list[Scene]) -> dict[str, dict[str, str]]:
    """Every option each filter offers, in board order (scenes), board status order, name order."""
    cast: dict[str, str] = {}
    backends = {project.default_backend}
    for scene in scenes:
        if scene.location_cast_id:
            cast[str(scene.location_cast_id)] = f"@{scene.location_cast.handle}"
        for shot in scene.board_shots:
            backends.add(shot.backend or project.default_backend)
            for link in shot.cast_links.all():
                cast[str(link.cast_member_id)] = f"@{link.cast_member.handle}"
    return {
        "scene": {str(scene.id): f"{scene.scene_number or scene.order} {scene.heading}" for scene in scenes},
        "status": dict(BOARD_STATUSES),
        "cast": dict(sorted(cast.items(), key=lambda item: item[1])),
        "backend": {name: name for name in sorted(backends)},
    }


# --- Script revisions (studio/views/script.py) ----------------------------------------------------

def script_revisions(project: Project) -> QuerySet[ScriptSource]:
    """Every imported version of the script, newest first, without its text."""
    return ScriptSource.objects.filter(project=project).select_related("imported_by").defer("text").order_by("-version")


@dataclass
class RevisionDiff:
    revision: ScriptSource
    previous: ScriptSource | None
    diff: script_diff.ScriptDiff  # each SceneChange gets `.shots`: the scene's live shots

    @property
    def touched_shots(self) -> list[Shot]:
        """Shots of scenes whose action, dialogue or heading changed: what may need re-rendering."""
        return [shot for change in self.diff.changed for shot in change.shots]


def script_revision_diff(project: Project, version: int) -> RevisionDiff | None:
    """A revision against the one before it, scene by scene, with the live shots of each scene it
    touched: three queries (the revision, the previous one, the shots)."""
    revision = ScriptSource.objects.filter(project=project, version=version).select_related("imported_by").first()
    if revision is None:
        return None
    previous = ScriptSource.objects.filter(project=project, version__lt=version).order_by("-version").first()
    diff = script_diff.diff_scripts(previous.text if previous else "", revision.text,
                                    old_ids=(previous.report or {}).get("scene_ids") if previous else [],
                                    new_ids=(revision.report or {}).get("scene_ids"))
    by_heading = None
    for change in diff.scenes:
        if change.scene_id is None:  # a revision imported before scene ids were kept: by heading
            if by_heading is None:
                by_heading = live_scene_ids_by_heading(project)
            change.scene_id = by_heading.get(" ".join(change.heading.upper().split()))
    scene_ids = {change.scene_id for change in diff.scenes if change.scene_id and change.status != "unchanged"}
    shots: dict[int, list[Shot]] = {}
    for shot in Shot.objects.live().filter(scene__project=project, scene_id__in=scene_ids).order_by("order", "id"):
        shots.setdefault(shot.scene_id, []).append(shot)
    for change in diff.scenes:
        change.shots = shots.get(change.scene_id, [])
    return RevisionDiff(revision=revision, previous=previous, diff=diff)


# --- Notifications (studio/services/notifications.py writes them) -------------------------------

NOTIFICATIONS_ON_PAGE = 100


def user_notifications(user, limit: int = NOTIFICATIONS_ON_PAGE) -> QuerySet:
    """The user's in-app notifications, newest first, from projects they are still a member of."""
    return (
        Notification.objects.filter(recipient=user, in_app=True, project__memberships__user=user,
                                    project__deleted_at__isnull=True)
        .select_related("project", "actor")
        .order_by("-created_at", "-id")[:limit]
    )


def shot_followers(shot: Shot) -> list[str]:
    return list(shot.follows.order_by("user__username").values_list("user__username", flat=True))


def approved_shots_in_order(project: Project, *, scene_ids: list[int] | None = None,
                            shot_ids: list[int] | None = None) -> list[Shot]:
    """Live, not omitted shots whose approved take is live and finished, in board order;
    optionally only in some scenes or among some shots (a board filter)."""
    shots = shots_in_order(project).filter(
        scene__omitted=False, approved_take__isnull=False, approved_take__deleted_at__isnull=True,
        approved_take__status=TakeStatus.SUCCEEDED,
    )
    if scene_ids is not None:
        shots = shots.filter(scene_id__in=scene_ids)
    if shot_ids is not None:
        shots = shots.filter(pk__in=shot_ids)
    return list(shots)


def project_cut_choices(project: Project) -> list[tuple[int, str]]:
    """The project's live cuts as (id, name), for "add to cut" menus."""
    return list(Cut.objects.live().filter(project=project).order_by("name").values_list("id", "name"))


def project_scene_choices(project: Project) -> list[tuple[int, str]]:
    """Live, not omitted scenes as (id, heading), in script order."""
    return list(Scene.objects.live().filter(project=project, omitted=False).order_by("order", "id").values_list("id", "heading"))


def project_member_handles(project: Project) -> list[dict[str, str]]:
    """The project's members as the comment field's @ autocomplete offers them (a mention notifies)."""
    return [{"handle": m.user.get_username(), "name": m.user.get_full_name() or m.user.get_username(), "kind": m.role}
            for m in Membership.objects.filter(project=project).select_related("user").order_by("user__username")]
