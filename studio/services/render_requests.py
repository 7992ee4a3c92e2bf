"""Asking for a render: the request a shot makes, its signature, and the take that answers it.

A take is requested with a snapshot of everything that determines it and a signature of that
snapshot. A finished take with the same signature is reused without GPU work; otherwise a new,
numbered take is queued and its render is sent to the workers only after the transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from generation.backends.base import RenderRequest
from generation.backends.registry import default_steps
from generation.signatures import render_signature
from studio import events, selectors
from studio.backends import studio_backend
from studio.models import Shot, Take, TakeStatus
from studio.services import dispatch, notifications
from studio.services.audit import audit_record
from studio.services.references import continuity_frame, shot_references
from studio.services.render_rate import RenderQuota

REUSE_FIELDS = ("video", "poster", "last_frame", "frames", "duration_s", "provenance")


@dataclass(frozen=True)
class TakeRequestResult:
    take: Take
    dispatched: bool  # False when an existing take (finished or in flight) answers the request


def backend_for(shot: Shot) -> str:
    return shot.backend or shot.scene.project.default_backend


def render_request_for(shot: Shot, *, prompt: str | None = None, seed: int | None = None,
                       extra: dict | None = None) -> RenderRequest:
    """What rendering the shot asks of the engine; `seed` and `extra` (e.g. guidance_scale) vary
    it for variations (studio/services/variations.py)."""
    project = shot.scene.project
    prompt = shot.prompt if prompt is None else prompt
    return RenderRequest(
        prompt=prompt,
        references=tuple(shot_references(shot)),
        first_frame_path=continuity_frame(shot),
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
        extra={"shot_code": shot.code, "scene": shot.scene.heading, **(extra or {})},
    )


def _caption(prompt: str) -> str:
    return " ".join(word.lstrip("@").replace("_", " ") if word.startswith("@") else word for word in prompt.split())


def request_signature(backend_name: str, request: RenderRequest) -> str:
    """The content hash that decides reuse; ValidationError for an unknown backend."""
    model, revision = studio_backend(backend_name).describe_model(request)
    return render_signature(backend=backend_name, model=model, revision=revision, request=request)


@transaction.atomic
def take_request(*, shot: Shot, actor, prompt: str | None = None, force: bool = False,
                 quota: RenderQuota | None = None, seed: int | None = None, extra: dict | None = None,
                 variation_group=None) -> TakeRequestResult:
    """Reuse a take with the same signature, or queue a new one and enqueue it after commit.

    Requests for several shots pass one `quota` so that they count once against the rate limit;
    variations of one shot pass their `seed`/`extra` and share a `variation_group`.
    """
    shot = Shot.objects.select_for_update().select_related("scene__project").get(pk=shot.pk)
    notifications.shot_follow(user=actor, shot=shot)  # who asks for a render hears about its comments
    backend_name = backend_for(shot)
    request = render_request_for(shot, prompt=prompt, seed=seed, extra=extra)
    signature = request_signature(backend_name, request)
    if not force:
        existing = _answering_take(shot, signature)
        if existing is not None:
            return TakeRequestResult(existing, dispatched=False)
    take = _new_take(shot, actor, backend_name, request, signature, quota or RenderQuota(), variation_group)
    audit_record(actor=actor, project_id=shot.scene.project_id, verb="render requested", obj=take)
    events.publish(shot.scene.project_id, "take.changed", {"take": selectors.take_payload(take)})
    if take.status == TakeStatus.QUEUED:
        transaction.on_commit(lambda: dispatch.enqueue_render(take.id))
        return TakeRequestResult(take, dispatched=True)
    return TakeRequestResult(take, dispatched=False)


def _answering_take(shot: Shot, signature: str) -> Take | None:
    """A take of this shot already rendering or rendered with this signature answers the request."""
    same = Take.objects.alive().filter(shot=shot, signature=signature)
    return same.filter(status__in=[TakeStatus.QUEUED, TakeStatus.RUNNING, TakeStatus.SUCCEEDED]).order_by("-number").first()


def _new_take(shot: Shot, actor, backend_name: str, request: RenderRequest, signature: str,
              quota: RenderQuota, variation_group=None) -> Take:
    number = (Take.objects.filter(shot=shot).aggregate(m=Max("number"))["m"] or 0) + 1
    take = Take(shot=shot, number=number, backend=backend_name, request=request.to_dict(), signature=signature,
                requested_by=actor if getattr(actor, "is_authenticated", False) else None,
                request_batch=quota.batch, variation_group=variation_group)
    source = selectors.finished_take_with_signature(shot.scene.project, signature)
    if source is not None:  # another shot rendered exactly this: share its files, no GPU work
        for name in REUSE_FIELDS:
            setattr(take, name, getattr(source, name))
        take.status, take.progress, take.reused_from = TakeStatus.SUCCEEDED, 1.0, source
        take.finished_at = timezone.now()
    else:  # only renders that cost worker time count against the requester's rate
        quota.charge(take.requested_by)
    take.save()
    if source is not None and settings.CONTINUITY_IDENTITY_SCORING:  # scored like any finished take
        transaction.on_commit(lambda: dispatch.enqueue_identity(take.pk), robust=True)  # a lost score, never a failed request
    return take
