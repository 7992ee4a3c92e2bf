"""Asking for a render: the request a shot makes, its signature, and the take that answers it.

A take is requested with a snapshot of everything that determines it and a signature of that
snapshot. A finished take with the same signature is reused without GPU work; otherwise a new,
numbered take is queued and its render is sent to the workers only after the transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from generation.backends.base import RenderRequest
from generation.backends.registry import default_steps
from generation.signatures import render_signature
from studio import events, media_store, selectors
from studio.backends import studio_backend
from studio.models import Shot, Take, TakePriority, TakeStatus
from studio.services import dispatch, notifications, usage
from studio.services.audit import audit_record
from studio.services.references import continuity_take, shot_references, shot_stand_ins
from studio.services.render_rate import RenderQuota

REUSE_FIELDS = ("video", "poster", "last_frame", "frames", "duration_s", "provenance")


@dataclass(frozen=True)
class RegionEdit:
    """A region re-render: keep `source_video_path` (a take's file) outside the white of the mask."""

    source_video_path: str
    region_mask_path: str


@dataclass(frozen=True)
class TakeRequestResult:
    take: Take
    dispatched: bool  # False when an existing take (finished or in flight) answers the request


def backend_for(shot: Shot) -> str:
    return shot.backend or shot.scene.project.default_backend


def render_request_for(shot: Shot, *, prompt: str | None = None, upstream: Take | None = None,
                       seed: int | None = None, extra: dict | None = None) -> RenderRequest:
    """The request for a render of `shot` now; `upstream` is continuity_take(shot) when the caller
    already has it (the take the shot starts from); `seed` and `extra` (e.g. guidance_scale) vary it
    for variations (studio/services/variations.py)."""
    project = shot.scene.project
    references = shot_references(shot, prompt=prompt)  # an edited prompt brings its own @mentions
    prompt = shot.prompt if prompt is None else prompt
    if upstream is None:
        upstream = continuity_take(shot)
    return RenderRequest(
        prompt=prompt,
        references=tuple(references),
        first_frame_path=media_store.request_hint(upstream.last_frame) if upstream else None,
        seed=shot.seed if seed is None else seed,
        frames=max(1, round(float(shot.duration_s) * project.fps)),
        fps=project.fps,
        width=project.width,
        height=project.height,
        steps=default_steps(backend_for(shot)),
        shot_size=shot.shot_size,
        camera_move=shot.camera_move,
        lens_mm=shot.lens_mm,
        caption=_caption(prompt),
        extra={"shot_code": shot.code, "scene": shot.scene.heading, **_stand_ins(shot), **(extra or {})},
    )


def _stand_ins(shot: Shot) -> dict:
    stand_ins = shot_stand_ins(shot)
    return {"stand_ins": stand_ins} if stand_ins else {}  # absent when none: old signatures unchanged


def _caption(prompt: str) -> str:
    return " ".join(word.lstrip("@").replace("_", " ") if word.startswith("@") else word for word in prompt.split())


def request_signature(backend_name: str, request: RenderRequest) -> str:
    """The content hash that decides reuse; ValidationError for an unknown backend."""
    model, revision = studio_backend(backend_name).describe_model(request)
    # The continuity frame's bytes are hashed: a remote store's frame is fetched into the cache.
    local = media_store.localised(request, references=False)
    return render_signature(backend=backend_name, model=model, revision=revision, request=local)


@transaction.atomic
def take_request(*, shot: Shot, actor, prompt: str | None = None, force: bool = False,
                 quota: RenderQuota | None = None, priority: str = TakePriority.NORMAL, from_comment=None,
                 region: RegionEdit | None = None, seed: int | None = None, extra: dict | None = None,
                 variation_group=None) -> TakeRequestResult:
    """Reuse a take with the same signature, or queue a new one and enqueue it after commit.

    Requests for several shots pass one `quota` so that they count once against the rate limit.
    A new render is refused (usage.BudgetExceeded) when the project's GPU budget is spent.
    `from_comment` is the review note the request comes from (the take links back to it);
    `region` makes it a region re-render of an existing take (no first frame: the take's own
    frames are kept outside the region); variations of one shot pass their `seed`/`extra` and share
    a `variation_group`.
    """
    # Only the shot's row is locked (takes are numbered per shot). Locked through the join too, the
    # project's row (which every event of the project updates) was held for the whole request, and
    # a worker's transaction that had the project's row and then wanted the shot's deadlocked with
    # it (CI, tests/e2e/test_priority.py).
    shot = Shot.objects.select_for_update(of=("self",)).select_related("scene__project").get(pk=shot.pk)
    notifications.shot_follow(user=actor, shot=shot)  # who asks for a render hears about its comments
    backend_name = backend_for(shot)
    upstream = continuity_take(shot) if region is None else None
    request = render_request_for(shot, prompt=prompt, upstream=upstream, seed=seed, extra=extra)
    if region is not None:
        request = replace(request, first_frame_path=None, source_video_path=region.source_video_path,
                          region_mask_path=region.region_mask_path)
    signature = request_signature(backend_name, request)
    if not force:
        existing = answering_take(shot, signature)
        if existing is not None:
            if from_comment is not None and existing.from_comment_id is None:
                # The same render was asked for before: the note's thread still shows its answer.
                Take.objects.filter(pk=existing.pk, from_comment__isnull=True).update(from_comment=from_comment)
                existing.from_comment = from_comment
            return TakeRequestResult(existing, dispatched=False)
    take = new_take(shot, actor, backend_name, request, signature, quota or RenderQuota(), priority=priority,
                    continued_from=upstream, from_comment=from_comment,
                    variation_group=variation_group)
    audit_record(actor=actor, project_id=shot.scene.project_id, verb="render requested", obj=take)
    events.publish(shot.scene.project_id, "take.changed", {"take": selectors.take_payload(take)})
    if take.status == TakeStatus.QUEUED:
        transaction.on_commit(lambda: dispatch.enqueue_render(take.id))
        return TakeRequestResult(take, dispatched=True)
    return TakeRequestResult(take, dispatched=False)


def next_take_number(shot: Shot) -> int:
    """Take numbers count up per shot, trashed takes included (a number is never reused)."""
    return (Take.objects.filter(shot=shot).aggregate(m=Max("number"))["m"] or 0) + 1


def answering_take(shot: Shot, signature: str) -> Take | None:
    """A take of this shot already rendering or rendered with this signature answers the request."""
    same = Take.objects.alive().filter(shot=shot, signature=signature)
    return same.filter(status__in=[TakeStatus.QUEUED, TakeStatus.RUNNING, TakeStatus.SUCCEEDED]).order_by("-number").first()


def new_take(shot: Shot, actor, backend_name: str, request: RenderRequest, signature: str,
             quota: RenderQuota, *, priority: str = TakePriority.NORMAL, retry_of: Take | None = None,
             continued_from: Take | None = None, from_comment=None, variation_group=None) -> Take:
    """A new numbered take of the shot: a reuse of a finished take with the same signature (no
    GPU work, costs nothing), or a queued render (checked against the budget and the rate)."""
    if priority not in TakePriority.values:
        raise ValidationError(f"Unknown priority {priority!r}; use normal or urgent.")
    take = Take(shot=shot, number=next_take_number(shot), backend=backend_name, request=request.to_dict(),
                signature=signature, requested_by=actor if getattr(actor, "is_authenticated", False) else None,
                request_batch=quota.batch, priority=priority, retry_of=retry_of, continued_from=continued_from,
                from_comment=from_comment, variation_group=variation_group)
    source = selectors.finished_take_with_signature(shot.scene.project, signature)
    if source is not None:  # another shot rendered exactly this: share its files, no GPU work
        for name in REUSE_FIELDS:
            setattr(take, name, getattr(source, name))
        take.status, take.progress, take.reused_from = TakeStatus.SUCCEEDED, 1.0, source
        take.finished_at = timezone.now()
    else:  # only renders that cost worker time count against the budget and the requester's rate
        usage.budget_check(shot.scene.project)
        quota.charge(take.requested_by)
    take.save()
    if source is not None and settings.CONTINUITY_IDENTITY_SCORING:  # scored like any finished take
        transaction.on_commit(lambda: dispatch.enqueue_identity(take.pk), robust=True)  # a lost score, never a failed request
    return take
