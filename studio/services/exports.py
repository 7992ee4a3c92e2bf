"""Running an export: gather the cut's takes, check rights, write the file, record the result.

MP4 is a stream-copy concat of house-format takes (generation/stitch.py); OTIO, EDL and FCP XML
reference the take files (generation/timeline.py); the manifest says what made every take.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.text import slugify

from generation import media, stitch, timeline
from studio import events, selectors
from studio.models import CastMember, Export, ExportFormat, ExportStatus, Take
from studio.services.progress import ProgressThrottle

logger = logging.getLogger(__name__)

EXTENSIONS = {ExportFormat.MP4: "mp4", ExportFormat.OTIO: "otio", ExportFormat.EDL: "edl",
              ExportFormat.FCPXML: "xml", ExportFormat.MANIFEST: "json"}


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
        Export.objects.filter(pk=self.export.pk, status=ExportStatus.RUNNING).update(progress=self.export.progress)
        _publish(self.export, progress_only=True)


def export_run(*, export_id: int) -> None:
    claimed = Export.objects.filter(pk=export_id, status=ExportStatus.QUEUED).update(status=ExportStatus.RUNNING)
    if not claimed:
        return
    export = Export.objects.select_related("cut__project").get(pk=export_id)
    _publish(export)
    try:
        name, warnings = _write(export, ExportProgress(export))
    except (ExportRefused, media.MediaError, ValueError, OSError) as exc:
        _finish(export, ExportStatus.FAILED, error=str(exc))
    except Exception as exc:
        logger.exception("export %s failed", export_id)
        _finish(export, ExportStatus.FAILED, error=f"Unexpected error: {type(exc).__name__}: {exc}")
    else:
        _finish(export, ExportStatus.SUCCEEDED, file=name, warnings=warnings)


def cut_plan(cut) -> list[dict[str, Any]]:
    """Each entry of the cut with the take it plays, its trim, and its provenance."""
    rights = dict(CastMember.objects.filter(project=cut.project).alive().values_list("handle", "rights_status"))
    plan = []
    for row in selectors.cut_timeline(cut):
        take = row.take
        if take is None:
            raise ExportRefused(f"Shot {row.entry.shot.code} has no approved or chosen finished take.")
        plan.append({"entry": row.entry, "take": take, "in": row.entry.in_frame, "out": row.out_frame,
                     "alternates": row.alternates, "manifest": _manifest_entry(take, rights)})
    if not plan:
        raise ExportRefused("The cut is empty.")
    return plan


def _manifest_entry(take: Take, rights: dict[str, str]) -> dict[str, Any]:
    request, provenance = take.request, take.provenance
    references = []
    for ref in request.get("references", []):
        for path, sha in zip(ref.get("image_paths", []), ref.get("image_sha256s", [])):
            references.append({"handle": ref["handle"], "kind": ref.get("kind"), "path": path, "sha256": sha,
                               "rights_status": rights.get(ref["handle"], "unknown")})
    return {
        "shot_code": take.shot.code, "take_id": take.id, "take_number": take.number, "frames": take.frames,
        "backend": take.backend, "model": provenance.get("model"), "revision": provenance.get("revision"),
        "seed": request.get("seed"), "prompt": request.get("prompt"), "references": references,
        "compute_seconds": take.compute_seconds,
    }


def _write(export: Export, on_progress) -> tuple[str, list[str]]:
    cut, project = export.cut, export.cut.project
    plan = cut_plan(cut)
    unknown = timeline.unknown_rights([p["manifest"] for p in plan])
    warnings = [f"@{u['handle']} (used in {', '.join(map(str, u['shots']))}) has unknown rights status" for u in unknown]
    if unknown and not export.rights_override:
        raise ExportRefused("Refused: " + "; ".join(warnings) + ". Set the rights status, or ask an owner to override.")
    # A cut with shots nobody approved (or changed, or failed since) exports as a draft: its file
    # name says so, its warnings and its manifest say which shots.
    draft = selectors.cut_draft_report(cut)
    warnings += draft_warnings(draft)
    draft_mark = " (draft)" if draft.is_draft else ""
    name = f"projects/{project.id}/exports/{slugify(cut.name) or 'cut'}-{export.id}{draft_mark}.{EXTENSIONS[export.format]}"
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if export.format == ExportFormat.MP4:
        _write_mp4(export, plan, path, on_progress)
    elif export.format == ExportFormat.MANIFEST:
        manifest = timeline.provenance_manifest(cut.name, project.name, [p["manifest"] for p in plan])
        timeline.write_manifest(manifest | {"draft": draft.is_draft, "not_final": draft.as_dict()}, path)
        on_progress(1, 1)
    else:
        # A step per clip gathered (each reads its shot's alternates), one for writing the file.
        clips = []
        for step, item in enumerate(plan, start=1):
            clips.append(_timeline_clip(item, project.fps))
            on_progress(step, len(plan) + 1)
        timeline.write_timeline(timeline.build_timeline(cut.name, project.fps, clips), path, export.format)
        on_progress(len(plan) + 1, len(plan) + 1)
    return name, warnings


DRAFT_REASONS = {"unapproved": "not approved", "stale": "changed since its take was rendered",
                 "failed": "newest render failed; an older take plays"}


def draft_warnings(draft: selectors.CutDraftReport) -> list[str]:
    """One line per reason an export is a draft, naming the shots."""
    found = draft.as_dict()
    return [f"Draft: {', '.join(found[key])} {'is' if len(found[key]) == 1 else 'are'} {reason}"
            for key, reason in DRAFT_REASONS.items() if found[key]]


def _write_mp4(export: Export, plan: list[dict[str, Any]], path: Path, on_progress) -> None:
    project = export.cut.project
    spans = [stitch.ClipSpan(path=Path(p["take"].video.path), in_frame=p["in"], out_frame=p["out"], total_frames=p["take"].frames)
             for p in plan]
    house = media.HouseFormat(width=project.width, height=project.height, fps=project.fps)
    cache_dir = Path(settings.MEDIA_ROOT) / f"projects/{project.id}/trims"
    stitch.stitch(spans, house, path, cache_dir=cache_dir, timeout=settings.CONTINUITY_FFMPEG_TIMEOUT, on_progress=on_progress)


def _timeline_clip(item: dict[str, Any], fps: int):
    take, shot = item["take"], item["entry"].shot
    alternates = [
        timeline.AlternateTake(take_number=t.number, media_path=Path(t.video.path), frames=t.frames,
                               metadata={"take_id": t.id, "backend": t.backend})
        for t in item["alternates"]
    ]
    manifest = item["manifest"]
    return timeline.TimelineClip(
        name=f"{shot.code} T{take.number}", shot_code=shot.code, take_number=take.number, media_path=Path(take.video.path),
        fps=fps, in_frame=item["in"], out_frame=item["out"], available_frames=take.frames,
        metadata={k: manifest[k] for k in ("prompt", "backend", "model", "seed", "take_id")}
        | {"cast": [r["handle"] for r in take.request.get("references", [])]},
        alternates=alternates,
    )


def _finish(export: Export, status: str, *, file: str = "", error: str = "", warnings: list[str] | None = None) -> None:
    Export.objects.filter(pk=export.pk, status=ExportStatus.RUNNING).update(
        status=status, file=file, error=error[:2000], warnings=warnings or [], finished_at=timezone.now(),
        progress=1.0 if status == ExportStatus.SUCCEEDED else export.progress,
    )
    export.refresh_from_db()
    _publish(export)


def _publish(export: Export, *, progress_only: bool = False) -> None:
    # progress_only: a progress tick leaves pages cached under the project's content_seq valid.
    events.publish(export.cut.project_id, "export.changed", {"export": selectors.export_payload(export)},
                   progress_only=progress_only)
