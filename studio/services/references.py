"""What a shot shows the engine besides its prompt: its cast's reference images, in order, and
the previous shot's last frame when it continues from it."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from generation.backends.base import Reference
from studio import selectors
from studio.models import Shot, Take
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
            image_paths=tuple(i.image.path for i in images), image_sha256s=tuple(i.sha256 for i in images),
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
    return take.last_frame.path if take else None


def shot_stand_ins(shot: Shot) -> dict[str, dict]:
    """What `RenderRequest.extra["stand_ins"]` carries for this shot (generation/backends/base.py):
    per stood-in member, its stand-in's images (paths for the renderer, sha256s for the signature)."""
    return {
        handle: {"name": member.name, "image_paths": [i.image.path for i in member.reference_images],
                 "image_sha256s": [i.sha256 for i in member.reference_images]}
        for handle, member in selectors.shot_stand_ins(shot).items() if member.reference_images
    }
