"""What a person does to a take that exists: cancel its render, retry it, put it first in the
GPU queue ("render next"), render exactly it again, move it to the trash.

Asking for a take is in render_requests.py, the render rate in render_rate.py, and the worker's
side of its lifecycle in renders.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from generation.backends.base import Reference, RenderRequest
from generation.signatures import file_sha256
from studio import events, selectors
from studio.backends import studio_backend
from studio.models import CutEntry, ReferenceImage, Shot, Take, TakePriority, TakeStatus
from studio.services import dispatch, usage
from studio.services.audit import audit_record
from studio.services.common import trash
from studio.services.render_rate import RenderQuota
from studio.services.render_requests import TakeRequestResult, answering_take, new_take, next_take_number, request_signature

RETRYABLE = frozenset({TakeStatus.FAILED, TakeStatus.CANCELLED})


@transaction.atomic
def take_cancel(*, take: Take, actor) -> Take:
    """Queued takes are cancelled at once; running ones are flagged and stop at the next step."""
    take = Take.objects.select_for_update().get(pk=take.pk)
    if take.is_final:
        raise ValidationError(f"Take {take.number} is already {take.status}.")
    if take.status == TakeStatus.QUEUED:
        _finish(take, TakeStatus.CANCELLED, error="Cancelled before it started.")
    else:
        Take.objects.filter(pk=take.pk).update(cancel_requested=True)
        take.cancel_requested = True
    audit_record(actor=actor, project_id=take.shot.scene.project_id, verb="render cancelled", obj=take)
    return take


@transaction.atomic
def take_retry(*, take: Take, actor, priority: str | None = None) -> TakeRequestResult:
    """Retry a failed or cancelled take: a NEW take of the same shot with the same request (the
    exact snapshot that failed: backend, prompt, references, seed, parameters), queued like any render.

    A new take and not a new attempt on the same one, because takes are immutable: the failed take
    keeps its error, its worker and the GPU seconds it cost (the budget counts them), reviewers keep
    seeing what happened, and attempts stay what the reconciler counts for crashed workers. The same
    request and not the shot's current settings, because "retry" means "that again"; a re-render
    with new settings is the shot's Render button. If a take with this signature is already
    rendering or rendered, it answers instead (nothing new is queued). Budget and rate apply.
    """
    take = Take.objects.select_related("shot__scene__project").get(pk=take.pk)
    if take.status not in RETRYABLE:
        raise ValidationError(f"Take {take.number} is {take.status}; only failed or cancelled takes can be retried.")
    if take.is_trashed:
        raise ValidationError(f"Take {take.number} is in the trash; restore it first.")
    shot = Shot.objects.select_for_update(of=("self",)).select_related("scene__project").get(pk=take.shot_id)  # as take_request
    try:
        request = RenderRequest.from_dict(take.request)
    except (TypeError, ValueError, KeyError) as error:
        raise ValidationError(f"Take {take.number}'s stored request cannot be read ({error}); render the shot again "
                              "instead.") from None
    existing = answering_take(shot, take.signature)
    if existing is not None:
        return TakeRequestResult(existing, dispatched=False)
    new = new_take(shot, actor, take.backend, request, take.signature, RenderQuota(),
                    priority=priority or take.priority, retry_of=take)
    audit_record(actor=actor, project_id=shot.scene.project_id, verb="render retried", obj=new,
                 changes={"retry_of": take.pk})
    events.publish(shot.scene.project_id, "take.changed", {"take": selectors.take_payload(new)})
    if new.status == TakeStatus.QUEUED:
        transaction.on_commit(lambda: dispatch.enqueue_render(new.id))
        return TakeRequestResult(new, dispatched=True)
    return TakeRequestResult(new, dispatched=False)


@transaction.atomic
def take_set_priority(*, take: Take, actor, priority: str) -> Take:
    """Set a queued take's priority. Urgent ("render next") sends its message again at the urgent
    priority, so it is the next render a GPU worker starts; the normal message still queued is
    claimed by nobody (only one delivery can claim a take). Running and finished takes refuse."""
    if priority not in TakePriority.values:
        raise ValidationError(f"Unknown priority {priority!r}; use normal or urgent.")
    take = Take.objects.select_for_update(of=("self",)).select_related("shot__scene").get(pk=take.pk)
    if take.status != TakeStatus.QUEUED:
        raise ValidationError(f"Take {take.number} is {take.status}; only a queued take can change its place in the queue.")
    if take.priority == priority:
        return take
    take.priority = priority
    take.save(update_fields=["priority"])
    audit_record(actor=actor, project_id=take.shot.scene.project_id, verb=f"render priority {priority}", obj=take)
    events.publish(take.shot.scene.project_id, "take.changed", {"take": selectors.take_payload(take)})
    if priority == TakePriority.URGENT:
        transaction.on_commit(lambda: dispatch.enqueue_render(take.id))
    return take


@transaction.atomic
def take_trash(*, take: Take, actor) -> Take:
    """Move a finished take to the trash (an owner restores it for 30 days). Refused while it is
    rendering, while it is the shot's approved take, or while a cut plays it by choice: each of
    those would change something else without anyone asking."""
    # The take and its shot (an approval locks the shot: the two never cross), not scene and project.
    take = Take.objects.select_for_update(of=("self", "shot")).select_related("shot__scene").get(pk=take.pk)
    if take.status in (TakeStatus.QUEUED, TakeStatus.RUNNING):
        raise ValidationError(f"Take {take.number} is still rendering; cancel it first.")
    if take.shot.approved_take_id == take.id:
        raise ValidationError(f"Take {take.number} is the approved take of {take.shot.code}; approve another take first.")
    cuts = sorted(CutEntry.objects.filter(take=take, cut__deleted_at__isnull=True).values_list("cut__name", flat=True).distinct())
    if cuts:
        raise ValidationError(f"Take {take.number} is chosen in the cut{'s' if len(cuts) > 1 else ''} "
                              f"{', '.join(cuts)}; choose another take there first.")
    trash(take, actor=actor, project_id=take.shot.scene.project_id)
    events.publish(take.shot.scene.project_id, "take.changed", {"take": selectors.take_payload(take)})
    return take


@transaction.atomic
def take_rerender_exact(*, take: Take, actor) -> Take:
    """"Render exactly this take again": a new take with the old take's backend, model revision,
    seed, reference image bytes and every parameter, rendered for real (never reused), recording
    `rerender_of`. Refused, with the reason, when any of those can no longer be had: the weights on
    this install are another revision, or an image it used is gone."""
    take = Take.objects.select_for_update(of=("self", "shot")).select_related("shot__scene__project").get(pk=take.pk)  # numbered per shot
    if take.status != TakeStatus.SUCCEEDED:
        raise ValidationError(f"Take {take.number} is {take.status}; only a finished take can be rendered again exactly.")
    request = RenderRequest.from_dict(take.request)
    request = dataclasses.replace(request, references=tuple(_same_bytes(take, ref) for ref in request.references))
    if request.first_frame_path and not Path(request.first_frame_path).is_file():
        raise ValidationError(f"The first frame take {take.number} started from is gone; it cannot be rendered again exactly.")
    _check_same_model(take, request)
    shot = take.shot
    again = Take(shot=shot, number=next_take_number(shot), backend=take.backend, request=request.to_dict(),
                 signature=request_signature(take.backend, request), rerender_of=take,
                 continued_from_id=take.continued_from_id,
                 requested_by=actor if getattr(actor, "is_authenticated", False) else None)
    usage.budget_check(shot.scene.project)  # real worker time, always: the budget and the rate apply
    quota = RenderQuota(batch=again.request_batch)
    quota.charge(again.requested_by)
    again.save()
    audit_record(actor=actor, project_id=shot.scene.project_id, verb="exact re-render requested", obj=again,
                 changes={"rerender_of": take.id})
    events.publish(shot.scene.project_id, "take.changed", {"take": selectors.take_payload(again)})
    transaction.on_commit(lambda: dispatch.enqueue_render(again.id))
    return again


def _same_bytes(take: Take, reference: Reference) -> Reference:
    """The reference with paths to files holding exactly the bytes the take used: its own paths if
    unchanged, else any image of the project with the same sha256 (e.g. uploaded again)."""
    paths = []
    for path, sha in zip(reference.image_paths, reference.image_sha256s):
        if Path(path).is_file() and file_sha256(path) == sha:
            paths.append(path)
            continue
        candidates = ReferenceImage.objects.filter(sha256=sha, cast_member__project_id=take.shot.scene.project_id)
        same = next((image.image.path for image in candidates if Path(image.image.path).is_file()), None)
        if same is None:
            raise ValidationError(f"A reference image of @{reference.handle} that take {take.number} used "
                                  f"(sha256 {sha[:12]}…) is no longer in the project; an exact re-render needs "
                                  "the same bytes.")
        paths.append(same)
    return dataclasses.replace(reference, image_paths=tuple(paths))


def _check_same_model(take: Take, request: RenderRequest) -> None:
    """The model and revision this install would use must be the ones the take recorded. A host
    that does not hold the weights (revision unknown here) lets the worker render; the take's
    provenance then shows the revision it used, and the frames comparison says whether it matched."""
    model, revision = studio_backend(take.backend).describe_model(request)
    used_model, used_revision = take.provenance.get("model", ""), take.provenance.get("revision", "")
    if used_model and model != used_model:
        raise ValidationError(f"Take {take.number} was rendered with {used_model}; {take.backend} would now use {model}.")
    if used_revision and revision and revision != used_revision:
        raise ValidationError(f"Take {take.number} was rendered with {used_model or model} at revision {used_revision}; "
                              f"this install has revision {revision}, so it cannot be rendered again exactly.")


def _finish(take: Take, status: str, *, error: str = "") -> None:
    take.check_transition(status)
    take.status, take.error, take.finished_at = status, error, timezone.now()
    take.save(update_fields=["status", "error", "finished_at"])
    events.publish(take.shot.scene.project_id, "take.changed", {"take": selectors.take_payload(take)})
