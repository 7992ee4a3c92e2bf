"""Review notes drive the next render: "re-render with this note" and "re-render this region".

From a comment on a take, the studio proposes the take's prompt with the note appended; the user
sees the edit, may change it, and confirms; the new take links back to the comment
(`Take.from_comment`) and the comment's thread shows it. From a drawing on a comment, the strokes
become a mask (generation/regions.py) saved next to the take, and the new take is a region
re-render of the commented take: `wan` regenerates inside the mask and keeps the rest (VACE),
the `animatic` highlights the region.
"""

from __future__ import annotations


from django.core.exceptions import ValidationError

from generation.regions import RegionError, save_region_mask
from studio import media_store
from studio.models import Comment, TakeStatus
from studio.services.render_requests import RegionEdit, TakeRequestResult, take_request

MAX_PROMPT_CHARS = 4000


def note_prompt(prompt: str, note: str) -> str:
    """The prompt with the note appended as its own sentence: "<prompt>. <note>" (nothing doubled)."""
    prompt, note = " ".join(prompt.split()), " ".join(note.split())
    if not note or note in prompt:
        return prompt
    if not prompt:
        return note
    return f"{prompt}{'' if prompt[-1] in '.!?' else '.'} {note}"


def _confirmed_prompt(prompt: str) -> str:
    prompt = prompt.strip()
    if not prompt:
        raise ValidationError("The prompt cannot be empty.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValidationError(f"A prompt is at most {MAX_PROMPT_CHARS} characters.")
    return prompt


def take_rerender_from_note(*, comment: Comment, actor, prompt: str) -> TakeRequestResult:
    """A new take of the comment's shot with the prompt the user confirmed, linked to the comment."""
    return take_request(shot=comment.take.shot, actor=actor, prompt=_confirmed_prompt(prompt), from_comment=comment)


def region_mask_name(comment: Comment) -> str:
    take = comment.take
    return f"projects/{take.shot.scene.project_id}/takes/{take.shot_id}/regions/comment-{comment.id}.png"


def take_rerender_region(*, comment: Comment, actor, prompt: str) -> TakeRequestResult:
    """A region re-render of the comment's take: its drawing as the mask, its frames kept outside."""
    take = comment.take
    strokes = (comment.annotation or {}).get("strokes") or []
    if not strokes:
        raise ValidationError("This comment has no drawing: draw round the region to change, then comment.")
    if take.status != TakeStatus.SUCCEEDED or not take.video:
        raise ValidationError(f"Take {take.number} has no finished video to keep outside the region.")
    try:  # a remote store's take is fetched into this machine's cache: the signature hashes its bytes
        media_store.local_file(take.video.name)
    except media_store.MediaMissing:
        raise ValidationError(f"Take {take.number}'s video file is missing; re-render the whole shot instead.") from None
    prompt = _confirmed_prompt(prompt)
    project = take.shot.scene.project
    mask_name = region_mask_name(comment)
    mask_path = media_store.work_path(mask_name)
    try:
        # The drawing is fixed once saved, so the mask is too: writing it again gives the same bytes.
        save_region_mask(strokes, project.width, project.height, mask_path)
    except RegionError as exc:
        raise ValidationError(str(exc)) from exc
    stored_mask = media_store.upload(mask_path, mask_name)
    # Locally the request records absolute paths (as for every image); remotely the stored names,
    # which each worker fetches (media_store.localised).
    source = take.video.path if not media_store.is_remote() else take.video.name
    mask = str(mask_path) if not media_store.is_remote() else stored_mask
    return take_request(shot=take.shot, actor=actor, prompt=prompt, from_comment=comment,
                        region=RegionEdit(source_video_path=source, region_mask_path=mask))
