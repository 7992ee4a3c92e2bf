"""What a shot shows the engine besides its prompt: its cast's reference images, in order, and
the previous shot's last frame when it continues from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from django.core.exceptions import ValidationError

from generation.backends.base import Reference
from studio import media_store, selectors
from studio.models import ImageRights, ReferenceImage, Shot, Take
from studio.services.shots import cast_for_prompt


def shot_references(shot: Shot, *, prompt: str | None = None) -> list[Reference]:
    """The shot's cast in order, then its scene's location if not already cast; primary image first.

    With `prompt` (a re-render with an edited prompt) the cast is the one that prompt @mentions,
    not the shot's saved cast: a member mentioned only in the edit conditions the render too.
    """
    cast = None if prompt is None else cast_for_prompt(shot.scene.project_id, prompt)
    references = []
    for member in selectors.shot_reference_cast(shot, cast):  # one query, whatever the cast's size
        images = member.reference_images
        references.append(Reference(
            handle=member.handle, name=member.name, kind=member.kind, description=member.description,
            image_paths=tuple(media_store.request_hint(i.image) for i in images), image_sha256s=tuple(i.sha256 for i in images),
        ))
    return references


def continuity_take(shot: Shot) -> Take | None:
    """The previous shot's approved take this shot starts from, if it continues from it."""
    if not shot.continue_from_previous:
        return None
    previous = selectors.previous_shot(shot)
    if previous is None:
        raise ValidationError(f"Shot {shot.code} continues from the previous shot, but it is the first shot.")
    take = previous.approved_take
    if take is None or not take.last_frame:
        raise ValidationError(f"Shot {shot.code} continues from shot {previous.code}, which has no approved take yet.")
    return take


def continuity_frame(shot: Shot) -> str | None:
    """The last frame of the previous shot's approved take, if this shot continues from it."""
    take = continuity_take(shot)
    return media_store.request_hint(take.last_frame) if take else None


def shot_stand_ins(shot: Shot) -> dict[str, dict]:
    """What `RenderRequest.extra["stand_ins"]` carries for this shot (generation/backends/base.py):
    per stood-in member, its stand-in's images (paths for the renderer, sha256s for the signature)."""
    return {
        handle: {"name": member.name, "image_paths": [media_store.request_hint(i.image) for i in member.reference_images],
                 "image_sha256s": [i.sha256 for i in member.reference_images]}
        for handle, member in selectors.shot_stand_ins(shot).items() if member.reference_images
    }


# --- Rights of the images a take used ------------------------------------------------------------

@dataclass(frozen=True)
class ImageRightsRecord:
    """The rights of one reference image as the studio knows them now. An image deleted since
    the take used it is "unknown": nobody can vouch for it any more."""
    image_id: int | None
    rights_status: str
    rights_source: str
    licence_note: str

    def as_dict(self) -> dict[str, Any]:
        return {"image_id": self.image_id, "rights_status": self.rights_status,
                "rights_source": self.rights_source, "licence_note": self.licence_note}


UNKNOWN_IMAGE = ImageRightsRecord(image_id=None, rights_status=ImageRights.UNKNOWN, rights_source="", licence_note="")


class ImageRightsBook:
    """Rights of the reference images some takes used, read in one query; looked up by the
    (handle, sha256) the take's request recorded (the same bytes under another member count too)."""

    def __init__(self, project_id: int, takes: Iterable[Take]):
        shas = {sha for take in takes for ref in take.request.get("references", []) for sha in ref.get("image_sha256s", [])}
        self._by_handle: dict[tuple[str, str], ImageRightsRecord] = {}
        self._by_sha: dict[str, ImageRightsRecord] = {}
        rows = (ReferenceImage.objects.filter(cast_member__project_id=project_id, sha256__in=shas)
                .order_by("id").values_list("id", "sha256", "cast_member__handle", "rights_status", "rights_source", "licence_note"))
        for image_id, sha, handle, status, source, note in rows:
            record = ImageRightsRecord(image_id, status, source, note)
            self._by_handle[(handle, sha)] = record
            self._by_sha.setdefault(sha, record)

    def lookup(self, handle: str, sha256: str) -> ImageRightsRecord:
        return self._by_handle.get((handle, sha256)) or self._by_sha.get(sha256) or UNKNOWN_IMAGE


def take_images(take: Take, book: ImageRightsBook) -> list[dict[str, Any]]:
    """Every reference image the take's request used, with its rights now."""
    images = []
    for ref in take.request.get("references", []):
        for path, sha in zip(ref.get("image_paths", []), ref.get("image_sha256s", [])):
            images.append({"handle": ref["handle"], "kind": ref.get("kind"), "path": path, "sha256": sha}
                          | book.lookup(ref["handle"], sha).as_dict())
    return images


def uncleared_images(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The images of manifest entries (shot_code, references) whose rights are not cleared, once
    per image, with the shots that use them, in order of first use."""
    found: dict[str, dict[str, Any]] = {}
    for entry in entries:
        for image in entry.get("references", []):
            if image.get("rights_status") == ImageRights.CLEARED:
                continue
            item = found.setdefault(image["sha256"], {**image, "shots": []})
            if entry["shot_code"] not in item["shots"]:
                item["shots"].append(entry["shot_code"])
    return list(found.values())


def describe_image(image: dict[str, Any]) -> str:
    """How a refusal names an image: "@mara image 1f2e3d4c5b6a (pending; used in SH010, SH020)"."""
    shots = ", ".join(map(str, image.get("shots", [])))
    return (f"@{image['handle']} image {image['sha256'][:12]} ({image['rights_status']}"
            + (f"; used in {shots})" if shots else ")"))
