from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from studio import events, selectors
from studio.models import Comment, Decision, ReviewDecision, Shot, Take, TakeStatus
from studio.services import notifications, webhooks
from studio.services.audit import audit_record

MAX_COMMENT_CHARS = 5000


def _project_id(take: Take) -> int:
    return take.shot.scene.project_id


@transaction.atomic
def comment_create(*, take: Take, author=None, guest_name: str = "", body: str, frame: int | None = None,
                   parent: Comment | None = None, annotation: dict | None = None, review_link=None) -> Comment:
    body = body.strip()
    if not body:
        raise ValidationError("A comment needs some text.")
    if len(body) > MAX_COMMENT_CHARS:
        raise ValidationError(f"A comment is at most {MAX_COMMENT_CHARS} characters.")
    if frame is not None and (frame < 0 or (take.frames and frame >= take.frames)):
        raise ValidationError(f"Frame {frame} is outside this take (0–{take.frames - 1}).")
    if parent is not None and parent.take_id != take.id:
        raise ValidationError("A reply must be on the same take as its comment.")
    comment = Comment.objects.create(
        take=take, author=author, guest_name=guest_name.strip()[:80], body=body, frame=frame,
        parent=parent.parent or parent if parent else None, annotation=annotation, review_link=review_link,
    )
    audit_record(actor=author, project_id=_project_id(take), verb="commented", obj=comment)
    events.publish(_project_id(take), "comment.added", {"take": take.id, "comment": comment.id, "shot": take.shot_id})
    webhooks.comment_created(comment)
    notifications.comment_posted(comment)
    return comment


@transaction.atomic
def comment_set_resolved(*, comment: Comment, actor, resolved: bool) -> Comment:
    comment.resolved = resolved
    comment.resolved_by = actor if resolved else None
    comment.edited_at = timezone.now()
    comment.save(update_fields=["resolved", "resolved_by", "edited_at"])
    audit_record(actor=actor, project_id=_project_id(comment.take), verb="resolved" if resolved else "reopened", obj=comment)
    events.publish(_project_id(comment.take), "comment.changed", {"take": comment.take_id, "comment": comment.id})
    return comment


@transaction.atomic
def review_decide(*, take: Take, actor, decision: str, note: str = "") -> ReviewDecision:
    """Record a decision. Approving makes the take the shot's approved take."""
    Decision(decision)
    if take.status != TakeStatus.SUCCEEDED:
        raise ValidationError("Only a finished take can be reviewed.")
    record = ReviewDecision.objects.create(take=take, decision=decision, note=note, decided_by=actor)
    shot = Shot.objects.select_for_update().get(pk=take.shot_id)
    if decision == Decision.APPROVED:
        shot.approved_take = take
    elif shot.approved_take_id == take.id:
        shot.approved_take = None
    shot.save(update_fields=["approved_take", "updated_at"])
    audit_record(actor=actor, project_id=_project_id(take), verb=decision, obj=take, changes={"note": note})
    # A shot that starts from this one's approved take may just have turned stale (or current
    # again): browsers refresh its card too.
    following = selectors.next_shot(shot)
    downstream = [following.id] if following is not None and following.continue_from_previous else []
    events.publish(_project_id(take), "take.reviewed",
                   {"take": take.id, "shot": shot.id, "decision": decision, "downstream": downstream})
    if decision == Decision.APPROVED:
        webhooks.take_approved(take, actor)
    notifications.take_decided(take, decision=decision, actor=actor, note=note)
    return record
