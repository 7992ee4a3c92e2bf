"""What a shot shows the engine besides its prompt: its cast's reference images, in order, and
the previous shot's last frame when it continues from it."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from generation.backends.base import Reference
from studio import selectors
from studio.models import Shot


def shot_references(shot: Shot) -> list[Reference]:
    """The shot's cast in order, then its scene's location if not already cast; primary image first."""
    references = []
    for member in selectors.shot_reference_cast(shot):  # one query, whatever the cast's size
        images = member.reference_images
        references.append(Reference(
            handle=member.handle, name=member.name, kind=member.kind, description=member.description,
            image_paths=tuple(i.image.path for i in images), image_sha256s=tuple(i.sha256 for i in images),
        ))
    return references


def continuity_frame(shot: Shot) -> str | None:
    """The last frame of the previous shot's approved take, if this shot continues from it."""
    if not shot.continue_from_previous:
        return None
    previous = selectors.previous_shot(shot)
    if previous is None:
        raise ValidationError(f"Shot {shot.code} continues from the previous shot, but it is the first shot.")
    take = previous.approved_take
    if take is None or not take.last_frame:
        raise ValidationError(f"Shot {shot.code} continues from shot {previous.code}, which has no approved take yet.")
    return take.last_frame.path


def shot_stand_ins(shot: Shot) -> dict[str, dict]:
    """What `RenderRequest.extra["stand_ins"]` carries for this shot (generation/backends/base.py):
    per stood-in member, its stand-in's images (paths for the renderer, sha256s for the signature)."""
    return {
        handle: {"name": member.name, "image_paths": [i.image.path for i in member.reference_images],
                 "image_sha256s": [i.sha256 for i in member.reference_images]}
        for handle, member in selectors.shot_stand_ins(shot).items() if member.reference_images
    }
