"""Running an export: gather the cut's takes, check rights, write the file, record the result.

MP4 is a stream-copy concat of house-format takes (generation/stitch.py); OTIO, EDL and FCP XML
reference the take files (generation/timeline.py); the bundles (.otioz, zip) carry the take files
beside the timeline, and the manifest; the manifest says what made every take.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from generation import media, slates, stitch, timeline
from studio import events, media_store, selectors
from studio.models import Comment, Export, ExportFormat, ExportStatus, IdentityScore, ImageRights, Take
from studio.services import dispatch, references, webhooks
from studio.services.progress import ProgressThrottle

logger = logging.getLogger(__name__)

EXTENSIONS = {ExportFormat.MP4: "mp4", ExportFormat.OTIO: "otio", ExportFormat.EDL: "edl",
              ExportFormat.FCPXML: "xml", ExportFormat.MANIFEST: "json", ExportFormat.OTIOZ: "otioz",
              ExportFormat.ZIP: "zip"}
BUNDLES = {ExportFormat.OTIOZ: "otioz", ExportFormat.ZIP: "editorial_zip"}  # ours -> generation.timeline's


# What an editorial timeline's clip says of each cast member's identity score (the manifest has all).
IDENTITY_IN_TIMELINES = ("handle", "status", "score", "threshold", "verdict")


class ExportRefused(Exception):
    pass


class ExportProgress:
    """The on_progress(step, total) handed to the engine: saves Export.progress, then publishes
    "export.changed", throttled like render progress (first and last always sent)."""

    def __init__(self, export: Export, throttle: ProgressThrottle | None = None):
        self.export = export
        self.throttle = throttle or ProgressThrottle()

    def __call__(self, step: int, total: int) -> None:
        if not self.throttle.should_send(step, total):
            return
        self.export.progress = step / total
        # A heartbeat too, so the reconciler sees this worker alive through a long stitch.
        _this_claim(self.export).update(progress=self.export.progress, heartbeat_at=timezone.now())
        _publish(self.export, progress_only=True)


def export_run(*, export_id: int) -> None:
    claimed = Export.objects.filter(pk=export_id, status=ExportStatus.QUEUED).update(
        status=ExportStatus.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now(), heartbeat_at=timezone.now(),
    )
    if not claimed:
        return
    export = Export.objects.select_related("cut__project").get(pk=export_id)
    _publish(export)
    try:
        name, warnings = _write(export, ExportProgress(export))
    except (ExportRefused, media.MediaError, ValueError, OSError) as exc:  # MediaMissing is an OSError
        _finish(export, ExportStatus.FAILED, error=str(exc))
    except Exception as exc:
        logger.exception("export %s failed", export_id)
        _finish(export, ExportStatus.FAILED, error=f"Unexpected error: {type(exc).__name__}: {exc}")
    else:
        _finish(export, ExportStatus.SUCCEEDED, file=name, warnings=warnings)


def cut_plan(cut) -> list[dict[str, Any]]:
    """Each entry of the cut with the take it plays, its trim, and its provenance. An entry whose
    shot has no finished take plays a slate (the shot's description on a card) for the shot's
    duration: the export keeps its length and says what is missing, instead of a gap."""
    rows = selectors.cut_timeline(cut)
    takes = [row.take for row in rows if row.take is not None]
    identity = _identity_by_take(takes)
    rights = references.ImageRightsBook(cut.project_id, takes)
    plan = []
    for row in rows:
        take = row.take
        if take is None:
            plan.append(_slate_item(row.entry, cut.project.fps))
            continue
        plan.append({"entry": row.entry, "take": take, "in": row.entry.in_frame, "out": row.out_frame,
                     "alternates": row.alternates, "manifest": _manifest_entry(take, rights, identity.get(take.id, []))})
    if not plan:
        raise ExportRefused("The cut is empty.")
    return plan


def _slate_item(entry, fps: int) -> dict[str, Any]:
    shot = entry.shot
    frames = max(1, round(float(shot.duration_s) * fps))
    slate = slates.Slate(shot_code=shot.code, heading=shot.scene.heading, description=shot.prompt, frames=frames)
    manifest = {"shot_code": shot.code, "take_id": None, "take_number": None, "frames": frames, "prompt": shot.prompt,
                "slate": True, "note": "No finished take: a slate with the shot's description stands in.",
                "references": [], "identity": []}
    return {"entry": entry, "take": None, "slate": slate, "in": 0, "out": frames, "alternates": [], "manifest": manifest}


def _render_slates(plan: list[dict[str, Any]], project) -> None:
    """Draw and encode each missing shot's slate (cached by content), as its item's media."""
    house = media.HouseFormat(width=project.width, height=project.height, fps=project.fps)
    cache_dir = media_store.work_path(f"projects/{project.id}/slates")  # a local cache either way
    for item in plan:
        if item["take"] is None:
            item["media"] = slates.render_slate(item["slate"], house, cache_dir, timeout=settings.CONTINUITY_FFMPEG_TIMEOUT)


def _media_path(item: dict[str, Any]) -> Path:
    return item["media"] if item["take"] is None else media_store.local_file(item["take"].video.name)


def _identity_by_take(takes: list[Take]) -> dict[int, list[dict[str, Any]]]:
    """The identity scores of the cut's takes, in one query: take id -> scores as the studio shows them."""
    scores: dict[int, list[dict[str, Any]]] = {}
    for score in IdentityScore.objects.filter(take__in=takes).select_related("cast_member").order_by("take_id", "id"):
        scores.setdefault(score.take_id, []).append(selectors.identity_score_payload(score))
    return scores


def _manifest_entry(take: Take, rights: references.ImageRightsBook, identity: list[dict[str, Any]]) -> dict[str, Any]:
    request, provenance = take.request, take.provenance
    return {
        "shot_code": take.shot.code, "take_id": take.id, "take_number": take.number, "frames": take.frames,
        "backend": take.backend, "model": provenance.get("model"), "revision": provenance.get("revision"),
        "seed": request.get("seed"), "prompt": request.get("prompt"),
        # Each reference image with its rights now (cleared / pending / refused / unknown).
        "references": references.take_images(take, rights),
        "compute_seconds": take.compute_seconds,
        # How closely the take keeps each cast member (studio/services/identity.py); [] if not scored.
        "identity": identity,
    }


def _write(export: Export, on_progress) -> tuple[str, list[str]]:
    cut, project = export.cut, export.cut.project
    plan = cut_plan(cut)
    rights = rights_check(export, [p["manifest"] for p in plan])
    warnings = rights["warnings"]
    # A cut with shots nobody approved (or changed, or failed since) exports as a draft: its file
    # name says so, its warnings and its manifest say which shots.
    draft = selectors.cut_draft_report(cut)
    warnings += draft_warnings(draft)
    draft_mark = (" (draft)" if draft.is_draft else "") + (f" ({NOT_CLEARED_MARK})" if rights["not_cleared"] else "")
    if export.format != ExportFormat.MANIFEST:
        _render_slates(plan, project)
    name = f"projects/{project.id}/exports/{slugify(cut.name) or 'cut'}-{export.id}{draft_mark}.{EXTENSIONS[export.format]}"
    path = media_store.work_path(name)  # MEDIA_ROOT, or this worker's cache with a remote store
    path.parent.mkdir(parents=True, exist_ok=True)
    if export.format == ExportFormat.MP4:
        _write_mp4(export, plan, path, on_progress, watermark=NOT_CLEARED_WATERMARK if rights["not_cleared"] else "")
    elif export.format == ExportFormat.MANIFEST:
        timeline.write_manifest(_manifest(cut, plan, draft, rights), path)
        on_progress(1, 1)
    elif export.format in BUNDLES:
        clips = _timeline_clips(plan, project.fps, on_progress, locate=media_store.local_file)  # carried inside
        timeline.write_bundle(cut.name, project.fps, clips, path, BUNDLES[export.format], manifest=_manifest(cut, plan, draft, rights))
        on_progress(len(plan) + 1, len(plan) + 1)
    else:
        clips = _timeline_clips(plan, project.fps, on_progress)
        timeline.write_timeline(timeline.build_timeline(cut.name, project.fps, clips), path, export.format)
        on_progress(len(plan) + 1, len(plan) + 1)
    return media_store.upload(path, name), warnings


def _manifest(cut, plan: list[dict[str, Any]], draft: selectors.CutDraftReport, rights: dict[str, Any]) -> dict[str, Any]:
    """The provenance manifest, saying whether the cut is a draft and which shots make it one,
    and whether every reference image is cleared (each entry lists its images' rights)."""
    manifest = timeline.provenance_manifest(cut.name, cut.project.name, [p["manifest"] for p in plan])
    return manifest | {"draft": draft.is_draft, "not_final": draft.as_dict(),
                       "rights": {"all_cleared": not rights["uncleared"], "not_cleared": rights["not_cleared"],
                                  "internal_draft": rights["internal_draft"],
                                  "uncleared_images": [{k: v for k, v in image.items() if k != "path"} | {"shots": image["shots"]}
                                                       for image in rights["uncleared"]]}}


def rights_refusal(*, cut, internal_draft: bool, rights_override: bool) -> str | None:
    """The refusal an export of this cut would meet for its images' rights, asked before queuing
    it (the worker asks again: rights can change in between). None if it may go ahead."""
    try:
        plan = cut_plan(cut)
        rights_check(Export(cut=cut, internal_draft=internal_draft, rights_override=rights_override),
                     [p["manifest"] for p in plan])
    except ExportRefused as exc:
        return str(exc) if str(exc).startswith("Refused:") else None  # other refusals: the worker says
    return None


NOT_CLEARED_MARK = "internal NOT CLEARED"
NOT_CLEARED_WATERMARK = "NOT CLEARED"


def rights_check(export: Export, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Refuse a deliverable that uses any reference image whose rights are not cleared, naming
    every such image. An owner's override lets "unknown" through (never pending or refused). An
    internal draft may use them (not refused ones), and is then marked NOT CLEARED."""
    uncleared = references.uncleared_images(entries)
    lines = [references.describe_image(image) for image in uncleared]
    refused = [image for image in uncleared if image["rights_status"] == ImageRights.REFUSED]
    if export.internal_draft:
        if refused:
            raise ExportRefused("Refused: consent was refused for " + "; ".join(map(references.describe_image, refused))
                                + ". Remove these images from the cast, or re-render the shots without them.")
        return {"uncleared": uncleared, "not_cleared": bool(uncleared), "internal_draft": True,
                "warnings": [f"NOT CLEARED (internal draft only): {line}" for line in lines]}
    blocking = [image for image in uncleared if not (export.rights_override and image["rights_status"] == ImageRights.UNKNOWN)]
    if blocking:
        raise ExportRefused("Refused: reference images not cleared: " + "; ".join(map(references.describe_image, blocking))
                            + ". Clear their rights on the cast page, or export an internal draft (watermarked).")
    return {"uncleared": uncleared, "not_cleared": False, "internal_draft": False,
            "warnings": [f"Exported by an owner's override: {line}" for line in lines]}


def _timeline_clips(plan: list[dict[str, Any]], fps: int, on_progress, *, locate=None) -> list:
    """The cut's clips with their alternates and comment markers; a progress step per clip, the
    writing of the file being the last step (the caller's). A timeline names its media where they
    lie (MEDIA_ROOT), or by stored name with a remote store (the editor relinks); a bundle passes
    `locate=media_store.local_file` to have the files at hand."""
    locate = locate or (media_store.work_path if not media_store.is_remote() else Path)
    markers = _comment_markers([p["take"].id for p in plan if p["take"] is not None])
    clips = []
    for step, item in enumerate(plan, start=1):
        clips.append(_timeline_clip(item, fps, markers.get(item["take"].id, []) if item["take"] else [], locate))
        on_progress(step, len(plan) + 1)
    return clips


def _comment_markers(take_ids: list[int]) -> dict[int, list]:
    """Timecoded review comments (not replies, not general notes) by take, as timeline markers."""
    markers: dict[int, list] = {}
    comments = (Comment.objects.alive().filter(take_id__in=take_ids, frame__isnull=False, parent__isnull=True)
                .select_related("author").order_by("frame", "created_at"))
    for comment in comments:
        summary = comment.body if len(comment.body) <= 60 else comment.body[:59] + "…"
        markers.setdefault(comment.take_id, []).append(
            timeline.TimelineMarker(frame=comment.frame, name=f"{comment.author_name}: {summary}", note=comment.body))
    return markers


DRAFT_REASONS = {"unapproved": "not approved", "stale": "changed since its take was rendered",
                 "failed": "newest render failed; an older take plays",
                 "missing": "not rendered yet; a slate stands in"}


def draft_warnings(draft: selectors.CutDraftReport) -> list[str]:
    """One line per reason an export is a draft, naming the shots."""
    found = draft.as_dict()
    return [f"Draft: {', '.join(found[key])} {'is' if len(found[key]) == 1 else 'are'} {reason}"
            for key, reason in DRAFT_REASONS.items() if found[key]]


def _write_mp4(export: Export, plan: list[dict[str, Any]], path: Path, on_progress, *, watermark: str = "") -> None:
    project = export.cut.project
    spans = [stitch.ClipSpan(path=_media_path(p), in_frame=p["in"], out_frame=p["out"],
                             total_frames=p["take"].frames if p["take"] else p["slate"].frames)
             for p in plan]
    house = media.HouseFormat(width=project.width, height=project.height, fps=project.fps)
    cache_dir = media_store.work_path(f"projects/{project.id}/trims")  # a local cache either way
    if not watermark:
        stitch.stitch(spans, house, path, cache_dir=cache_dir, timeout=settings.CONTINUITY_FFMPEG_TIMEOUT, on_progress=on_progress)
        return
    # Burnt in (one re-encode of the stitched cut), so the mark survives any copy of the file.
    stitched = path.with_name(f".{path.stem}.stitched.mp4")
    try:
        stitch.stitch(spans, house, stitched, cache_dir=cache_dir, timeout=settings.CONTINUITY_FFMPEG_TIMEOUT, on_progress=on_progress)
        media.burn_watermark(stitched, path, watermark, house, timeout=settings.CONTINUITY_FFMPEG_TIMEOUT)
    finally:
        stitched.unlink(missing_ok=True)


def _timeline_clip(item: dict[str, Any], fps: int, markers: list, locate):
    take, shot = item["take"], item["entry"].shot
    if take is None:  # a slate stands in for a shot with no finished take
        return timeline.TimelineClip(
            name=f"{shot.code} SLATE", shot_code=shot.code, take_number=0, media_path=item["media"], fps=fps,
            in_frame=0, out_frame=item["out"], available_frames=item["slate"].frames,
            metadata={"slate": True, "prompt": shot.prompt, "take_id": None}, alternates=[], markers=[])
    alternates = [
        timeline.AlternateTake(take_number=t.number, media_path=Path(locate(t.video.name)), frames=t.frames,
                               metadata={"take_id": t.id, "backend": t.backend})
        for t in item["alternates"]
    ]
    manifest = item["manifest"]
    return timeline.TimelineClip(
        name=f"{shot.code} T{take.number}", shot_code=shot.code, take_number=take.number, media_path=Path(locate(take.video.name)),
        fps=fps, in_frame=item["in"], out_frame=item["out"], available_frames=take.frames,
        metadata={k: manifest[k] for k in ("prompt", "backend", "model", "seed", "take_id")}
        | {"cast": [r["handle"] for r in take.request.get("references", [])],
           "identity": [{k: score[k] for k in IDENTITY_IN_TIMELINES} for score in manifest["identity"]]},
        alternates=alternates, markers=markers,
    )


def _finish(export: Export, status: str, *, file: str = "", error: str = "", warnings: list[str] | None = None) -> None:
    _this_claim(export).update(
        status=status, file=file, error=error[:2000], warnings=warnings or [], finished_at=timezone.now(),
        progress=1.0 if status == ExportStatus.SUCCEEDED else export.progress,
    )
    export.refresh_from_db()
    _publish(export)
    if export.status == ExportStatus.SUCCEEDED:
        webhooks.cut_exported(export)


def _this_claim(export: Export):
    """The row as this worker claimed it (running, same attempt): a worker presumed dead, whose
    export the reconciler requeued for another, can no longer change it."""
    return Export.objects.filter(pk=export.pk, status=ExportStatus.RUNNING, attempts=export.attempts)


def export_requeue(*, export: Export, reason: str, stale_before: datetime) -> bool:
    """running -> queued after its worker went silent (the reconciler then resends it); only if
    no heartbeat came since `stale_before` and nobody claimed it again. Returns whether it changed."""
    done = _silent_since(_this_claim(export), stale_before).update(status=ExportStatus.QUEUED, error=reason[:2000])
    return _refresh_and_publish_if(done, export)


def export_fail(*, export: Export, error: str, stale_before: datetime | None = None) -> bool:
    """queued/running -> failed, only if the export is still as the caller read it (and, with
    `stale_before`, silent since). Returns whether it changed."""
    still = Export.objects.filter(pk=export.pk, status=export.status, attempts=export.attempts,
                                  status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING])
    done = _silent_since(still, stale_before).update(status=ExportStatus.FAILED, error=error[:2000], finished_at=timezone.now())
    return _refresh_and_publish_if(done, export)


def export_resend(*, export: Export) -> bool:
    """Hand a queued export's message to the broker again (the first was lost). A duplicate is
    harmless: only one delivery can claim it. Returns False if it is no longer queued."""
    if not Export.objects.filter(pk=export.pk, status=ExportStatus.QUEUED).exists():
        return False
    dispatch.enqueue_export(export.pk)
    return True


def _silent_since(exports, stale_before: datetime | None):
    if stale_before is None:
        return exports
    return exports.filter(Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True))


def _refresh_and_publish_if(changed: int, export: Export) -> bool:
    if changed:
        export.refresh_from_db()
        _publish(export)
    return bool(changed)


def _publish(export: Export, *, progress_only: bool = False) -> None:
    # progress_only: a progress tick leaves pages cached under the project's event_seq valid.
    events.publish(export.cut.project_id, "export.changed", {"export": selectors.export_payload(export)},
                   progress_only=progress_only, coalesce=f"export:{export.pk}")
