"""Identity scores of a finished take: how closely it keeps each cast member's references.

The engine (generation/identity.py) samples the take's frames and compares them with reference
images; this module picks exactly the images the take was rendered with (its request lists their
paths and sha256s), stores one `IdentityScore` per cast member, and publishes "take.identity".

Scoring is advice, never part of the take's lifecycle: it runs after the take succeeded, on its
own queue, and whatever goes wrong (a missing file, a model that fails to load) is logged and
published as the take's scoring error. It never changes the take nor crashes the worker.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from django.db import transaction

from generation import identity
from generation.backends.base import Reference, RenderRequest
from generation.media import MediaError
from studio import events, media_store, selectors
from studio.models import CastMember, IdentityScore, ReferenceImage, Take, TakeStatus

logger = logging.getLogger(__name__)

IDENTITY_EVENT = "take.identity"


class ScoringFailed(Exception):
    """The take could not be scored; the message says why (shown and logged, the take untouched)."""


def take_score_identity(take_id: int) -> list[IdentityScore]:
    """Score a succeeded take against the references it was rendered with and store the scores,
    replacing any earlier ones. Returns the stored rows ([] when there was nothing to score, or
    when scoring failed: the failure is logged and published, never raised)."""
    take = Take.objects.select_related("shot__scene").filter(pk=take_id, status=TakeStatus.SUCCEEDED).first()
    if take is None or not take.video:
        return []  # trashed, re-queued or never finished: nothing to look at
    try:
        rows = _score(take)
    except ScoringFailed as exc:
        logger.warning("identity scoring of take %s: %s", take_id, exc)
        _publish(take, [], error=str(exc))
        return []
    except Exception as exc:  # a model or library failure: record it, keep the worker
        logger.exception("identity scoring of take %s failed", take_id)
        _publish(take, [], error=f"Scoring failed: {type(exc).__name__}: {exc}")
        return []
    _publish(take, rows)
    return rows


def _score(take: Take) -> list[IdentityScore]:
    references = references_as_rendered(take)
    members = _cast_members(take, references)
    cast = identity.load_cast_references([ref for ref in references if ref.handle in members])
    if not cast:
        return _replace_scores(take, [], members)
    try:
        video = media_store.local_file(take.video.name)  # fetched into the cache from a remote store
    except media_store.MediaMissing as exc:
        raise ScoringFailed(f"the take's video {take.video.name} is missing") from exc
    try:
        results = identity.score_video(video, cast)
    except MediaError as exc:
        raise ScoringFailed(f"could not read the take's frames: {exc}") from exc
    return _replace_scores(take, results, members)


def references_as_rendered(take: Take) -> list[Reference]:
    """The take's references as its request recorded them, each image checked by its sha256: a file
    whose bytes changed is not what the take saw and is left out; a file that moved is found again
    among the project's reference images by its hash."""
    request = RenderRequest.from_dict(take.request)
    wanted = {sha for ref in request.references for sha in ref.image_sha256s}
    moved = _reference_paths_by_sha(take, wanted)
    references = []
    for ref in request.references:
        verified = (_verified_path(path, sha, moved) for path, sha in zip(ref.image_paths, ref.image_sha256s))
        paths = tuple(path for path in verified if path)
        references.append(Reference(handle=ref.handle, name=ref.name, kind=ref.kind, image_paths=paths,
                                    image_sha256s=ref.image_sha256s, description=ref.description))
    return references


def _reference_paths_by_sha(take: Take, shas: set[str]) -> dict[str, str]:
    images = ReferenceImage.objects.filter(cast_member__project_id=take.shot.scene.project_id, sha256__in=shas)
    return {image.sha256: media_store.request_hint(image.image) for image in images}


def _verified_path(path: str, sha256: str, moved: dict[str, str]) -> str | None:
    for candidate in dict.fromkeys([path, moved.get(sha256)]):
        local = _local_reference(candidate, sha256) if candidate else None
        if local and local.is_file() and _file_sha256(local) == sha256:
            return str(local)
    logger.warning("reference image %s (sha256 %s) is missing or changed; scoring without it", path, sha256[:12])
    return None


def _local_reference(path_or_name: str, sha256: str) -> Path | None:
    """A local path for a recorded path (local store) or stored name (remote store, fetched once)."""
    try:
        return media_store.local_reference(path_or_name, sha256)
    except (media_store.MediaMissing, OSError):
        return None


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _cast_members(take: Take, references: list[Reference]) -> dict[str, CastMember]:
    """handle -> the project's cast member of that handle: the live one, else the one trashed last
    (a trashed member's scores still belong to the take, and it can be restored)."""
    handles = [ref.handle for ref in references if ref.kind in identity.SCORED_KINDS]
    by_handle: dict[str, CastMember] = {}
    for member in CastMember.objects.filter(project_id=take.shot.scene.project_id, handle__in=handles):
        current = by_handle.get(member.handle)
        if current is None or _preference(member) > _preference(current):
            by_handle[member.handle] = member
    return by_handle


def _preference(member: CastMember) -> tuple:
    return (member.deleted_at is None, member.deleted_at.timestamp() if member.deleted_at else 0.0)


@transaction.atomic
def _replace_scores(take: Take, results: list[identity.IdentityScore], members: dict[str, CastMember]) -> list[IdentityScore]:
    # The take's row lock serialises two scorings of one take (a redelivered message): the second
    # replaces the first's rows instead of colliding with them.
    Take.objects.select_for_update().filter(pk=take.pk).values_list("pk", flat=True).first()
    IdentityScore.objects.filter(take=take).delete()
    rows = [IdentityScore(take=take, cast_member=members[result.handle], **_fields(result)) for result in results]
    return IdentityScore.objects.bulk_create(rows)


def _fields(result: identity.IdentityScore) -> dict:
    return {
        "status": result.status.value, "score": result.score, "threshold": result.threshold, "method": result.method,
        "verdict": result.verdict()[:300], "frames_sampled": result.frames_sampled, "frames_scored": result.frames_scored,
        "references_used": result.references_used, "best_frame_index": result.best_frame_index,
        "best_frame_time_s": result.best_frame_time_s, "worst_frame_index": result.worst_frame_index,
        "worst_frame_time_s": result.worst_frame_time_s, "model": result.model[:200], "model_version": result.model_version[:200],
    }


def _publish(take: Take, rows: list[IdentityScore], *, error: str = "") -> None:
    scores = [selectors.identity_score_payload(row) for row in rows]
    payload = {"take_id": take.id, "shot_id": take.shot_id, "scores": scores, "error": error}
    events.publish(take.shot.scene.project_id, IDENTITY_EVENT, payload)
