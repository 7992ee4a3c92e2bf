"""Takes: asking for a render, and the worker's side of its lifecycle (claim, progress, finish).

A take is requested with a snapshot of everything that determines it and a signature of that
snapshot. A finished take with the same signature is reused without GPU work; otherwise a new,
numbered take is queued and `render_take` is enqueued only after the transaction commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone

from generation.backends.base import Reference, RenderRequest
from generation.signatures import render_signature
from studio import events, selectors
from studio.models import CutEntry, Shot, Take, TakeStatus
from studio.services.audit import audit_record
from studio.services.common import trash
from studio.throttle import minutes_text, rate_setting

DEFAULT_STEPS = {"animatic": 1, "wan": 30, "ltx": 40, "tiny": 3}
REUSE_FIELDS = ("video", "poster", "last_frame", "frames", "duration_s", "provenance")


class RateLimited(ValidationError):
    """Too many renders asked for by one person in the rate window (the UI answers HTTP 429)."""

    def __init__(self, *, count: int, window_s: int, retry_after_s: int):
        self.count, self.window_s, self.retry_after_s = count, window_s, retry_after_s
        super().__init__(
            f"You have asked for renders {count} time{'s' if count != 1 else ''} in the last {minutes_text(window_s)}; "
            f"try again in {minutes_text(retry_after_s)}."
        )


@dataclass
class RenderQuota:
    """One request for renders, as one click makes it: a shot, a scene, everything missing, a cut.

    It is charged against the requester's rate limit once, when its first render that costs worker
    time is created, however many shots it covers; its takes share `request_batch`.
    """

    batch: uuid.UUID = field(default_factory=uuid.uuid4)
    charged: bool = False

    def charge(self, user) -> None:
        if not self.charged:
            check_render_rate(user)
            self.charged = True


@dataclass(frozen=True)
class TakeRequestResult:
    take: Take
    dispatched: bool  # False when an existing take (finished or in flight) answers the request


def backend_for(shot: Shot) -> str:
    return shot.backend or shot.scene.project.default_backend


def render_request_for(shot: Shot, *, prompt: str | None = None) -> RenderRequest:
    project = shot.scene.project
    prompt = shot.prompt if prompt is None else prompt
    return RenderRequest(
        prompt=prompt,
        references=tuple(_references(shot)),
        first_frame_path=_continuity_frame(shot),
        seed=shot.seed,
        frames=max(1, round(float(shot.duration_s) * project.fps)),
        fps=project.fps,
        width=project.width,
        height=project.height,
        steps=DEFAULT_STEPS.get(backend_for(shot), 20),
        shot_size=shot.shot_size,
        camera_move=shot.camera_move,
        lens_mm=shot.lens_mm,
        caption=_caption(prompt),
        extra={"shot_code": shot.code, "scene": shot.scene.heading},
    )


def _caption(prompt: str) -> str:
    return " ".join(word.lstrip("@").replace("_", " ") if word.startswith("@") else word for word in prompt.split())


def _references(shot: Shot) -> list[Reference]:
    references = []
    for member in selectors.shot_reference_cast(shot):
        images = member.reference_images
        references.append(Reference(
            handle=member.handle, name=member.name, kind=member.kind, description=member.description,
            image_paths=tuple(i.image.path for i in images), image_sha256s=tuple(i.sha256 for i in images),
        ))
    return references


def _continuity_frame(shot: Shot) -> str | None:
    if not shot.continue_from_previous:
        return None
    previous = selectors.previous_shot(shot)
    if previous is None:
        raise ValidationError(f"Shot {shot.code} continues from the previous shot, but it is the first shot.")
    take = previous.approved_take
    if take is None or not take.last_frame:
        raise ValidationError(f"Shot {shot.code} continues from shot {previous.code}, which has no approved take yet.")
    return take.last_frame.path


def _signature(backend_name: str, request: RenderRequest) -> str:
    from generation.backends.registry import build_backend

    model, revision = build_backend(backend_name).describe_model(request)
    return render_signature(backend=backend_name, model=model, revision=revision, request=request)


@transaction.atomic
def take_request(*, shot: Shot, actor, prompt: str | None = None, force: bool = False,
                 quota: RenderQuota | None = None) -> TakeRequestResult:
    """Reuse a take with the same signature, or queue a new one and enqueue it after commit.

    Requests for several shots pass one `quota` so that they count once against the rate limit.
    """
    shot = Shot.objects.select_for_update().select_related("scene__project").get(pk=shot.pk)
    backend_name = backend_for(shot)
    request = render_request_for(shot, prompt=prompt)
    signature = _signature(backend_name, request)
    if not force:
        existing = _answering_take(shot, signature)
        if existing is not None:
            return TakeRequestResult(existing, dispatched=False)
    take = _new_take(shot, actor, backend_name, request, signature, quota or RenderQuota())
    audit_record(actor=actor, project_id=shot.scene.project_id, verb="render requested", obj=take)
    events.publish(shot.scene.project_id, "take.changed", {"take": selectors.take_payload(take)})
    if take.status == TakeStatus.QUEUED:
        transaction.on_commit(lambda: enqueue_render(take.id))
        return TakeRequestResult(take, dispatched=True)
    return TakeRequestResult(take, dispatched=False)


def _answering_take(shot: Shot, signature: str) -> Take | None:
    """A take of this shot already rendering or rendered with this signature answers the request."""
    same = Take.objects.alive().filter(shot=shot, signature=signature)
    return same.filter(status__in=[TakeStatus.QUEUED, TakeStatus.RUNNING, TakeStatus.SUCCEEDED]).order_by("-number").first()


def _new_take(shot: Shot, actor, backend_name: str, request: RenderRequest, signature: str,
              quota: RenderQuota) -> Take:
    number = (Take.objects.filter(shot=shot).aggregate(m=Max("number"))["m"] or 0) + 1
    take = Take(shot=shot, number=number, backend=backend_name, request=request.to_dict(), signature=signature,
                requested_by=actor if getattr(actor, "is_authenticated", False) else None,
                request_batch=quota.batch)
    source = selectors.finished_take_with_signature(shot.scene.project, signature)
    if source is not None:  # another shot rendered exactly this: share its files, no GPU work
        for name in REUSE_FIELDS:
            setattr(take, name, getattr(source, name))
        take.status, take.progress, take.reused_from = TakeStatus.SUCCEEDED, 1.0, source
        take.finished_at = timezone.now()
    else:  # only renders that cost worker time count against the requester's rate
        quota.charge(take.requested_by)
    take.save()
    return take


# --- Rate limit: renders a person may ask for in a sliding window -----------------------------

def render_rate() -> tuple[int, int]:
    """settings.CONTINUITY_RENDER_RATE, e.g. "60/10m": (requests, window in seconds)."""
    rate = rate_setting("CONTINUITY_RENDER_RATE")
    return rate.count, rate.window_s


def check_render_rate(user, *, now: datetime | None = None) -> None:
    """Raise RateLimited if `user` already made the allowed number of render requests in the window.

    Counted in the database (requests whose takes were not all reused), so every web process
    agrees; a request for many shots counts once. Requests by no one (the system) are not limited.
    """
    if user is None:
        return
    limit, window_s = render_rate()
    now = now or timezone.now()
    recent = Take.objects.filter(requested_by=user, reused_from__isnull=True, created_at__gt=now - timedelta(seconds=window_s))
    # order_by() drops Take's default ordering, which would otherwise split the GROUP BY.
    per_request = recent.order_by().values("request_batch").annotate(started=Min("created_at"))
    started = sorted(row["started"] for row in per_request)
    if len(started) < limit:
        return
    # A slot frees when the oldest request that still counts leaves the window.
    oldest_counting = started[len(started) - limit]
    retry_after_s = int((oldest_counting + timedelta(seconds=window_s) - now).total_seconds()) + 1
    raise RateLimited(count=len(started), window_s=window_s, retry_after_s=retry_after_s)


def enqueue_render(take_id: int) -> None:
    from django.conf import settings

    from generation.tasks import render_take

    result = render_take.apply_async(args=[take_id], queue=settings.CONTINUITY_RENDER_QUEUE)
    Take.objects.filter(pk=take_id, task_id="").update(task_id=result.id or "")
    # Only after the broker took it: a take queued with no enqueued_at lost its message for sure.
    Take.objects.filter(pk=take_id).update(enqueued_at=timezone.now())


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
def take_trash(*, take: Take, actor) -> Take:
    """Move a finished take to the trash (an owner restores it for 30 days). Refused while it is
    rendering, while it is the shot's approved take, or while a cut plays it by choice: each of
    those would change something else without anyone asking."""
    take = Take.objects.select_for_update().select_related("shot__scene").get(pk=take.pk)
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


# --- The worker's side ----------------------------------------------------------------------

def take_claim(*, take_id: int, worker: str, max_attempts: int) -> Take | None:
    """queued -> running with a conditional update: a duplicate delivery claims nothing."""
    claimed = Take.objects.filter(pk=take_id, status=TakeStatus.QUEUED, attempts__lt=max_attempts).update(
        status=TakeStatus.RUNNING, attempts=F("attempts") + 1, worker=worker[:200], started_at=timezone.now(),
        heartbeat_at=timezone.now(), step=0, progress=0.0,
    )
    if not claimed:
        return None
    take = Take.objects.select_related("shot__scene__project").get(pk=take_id)
    _publish(take)
    return take


def _this_claim(take: Take):
    """The row as this worker claimed it: running, with the attempt number its claim set.

    Every write from the worker's side is conditional on it, so a worker that was presumed dead
    (and whose take was requeued and claimed again) can no longer change the take.
    """
    return Take.objects.filter(pk=take.pk, status=TakeStatus.RUNNING, attempts=take.attempts)


def take_record_progress(*, take: Take, step: int, total: int, publish: bool) -> bool:
    """Save progress and a heartbeat (the truth) and maybe publish it.

    Returns False if the render should stop: the take was cancelled, or it is no longer this
    worker's (the reconciler requeued or failed it).
    """
    take.step, take.total_steps, take.progress = step, total, (step / total if total else 0.0)
    saved = _this_claim(take).update(step=step, total_steps=total, progress=take.progress, heartbeat_at=timezone.now())
    if publish and saved:
        _publish(take, progress_only=True)
    return _still_wanted(take)


def take_heartbeat(*, take: Take) -> bool:
    """Tell the reconciler this worker is alive (e.g. before a long encode). False: stop."""
    _this_claim(take).update(heartbeat_at=timezone.now())
    return _still_wanted(take)


def _still_wanted(take: Take) -> bool:
    row = Take.objects.filter(pk=take.pk).values("status", "attempts", "cancel_requested").first()
    if row is None or row["cancel_requested"]:
        return False
    lost_claim = take.status == TakeStatus.RUNNING and (row["status"] != TakeStatus.RUNNING or row["attempts"] != take.attempts)
    return not lost_claim


def take_succeed(*, take: Take, video: str, poster: str, last_frame: str, frames: int, duration_s: float,
                 compute_seconds: float, provenance: dict) -> bool:
    """running -> succeeded, once. Returns False if the take was no longer running (e.g. cancelled)
    or no longer this worker's claim."""
    done = _this_claim(take).update(
        status=TakeStatus.SUCCEEDED, video=video, poster=poster, last_frame=last_frame, frames=frames,
        duration_s=duration_s, compute_seconds=compute_seconds, provenance=provenance, progress=1.0,
        step=F("total_steps"), finished_at=timezone.now(), error="",
    )
    return _refresh_and_publish_if(done, take)


def take_fail(*, take: Take, error: str, compute_seconds: float = 0.0, status: str = TakeStatus.FAILED,
              stale_before: datetime | None = None) -> bool:
    """queued/running -> failed (or cancelled), only if the take is still as the caller saw it
    (same status and attempt; with `stale_before`, no heartbeat since). Returns whether it changed.
    So a worker whose take was requeued cannot fail the retry, nor a reconciler a fresh claim."""
    still = Take.objects.filter(pk=take.pk, status=take.status, attempts=take.attempts,
                                status__in=[TakeStatus.RUNNING, TakeStatus.QUEUED])
    done = _silent_since(still, stale_before).update(
        status=status, error=error[:2000], compute_seconds=compute_seconds, finished_at=timezone.now(),
    )
    return _refresh_and_publish_if(done, take)


def take_requeue(*, take: Take, reason: str, stale_before: datetime | None = None) -> bool:
    """running -> queued after a crash, so the next delivery can claim it again. Conditional like
    take_fail: a worker that claimed it again, or beat since `stale_before`, keeps it."""
    done = _silent_since(_this_claim(take), stale_before).update(status=TakeStatus.QUEUED, error=reason[:2000])
    return _refresh_and_publish_if(done, take)


def take_resend(*, take: Take) -> bool:
    """Hand a queued take's render message to the broker again (the first was lost). A duplicate
    is harmless: only one delivery can claim the take. Returns False if it is no longer queued."""
    if not Take.objects.filter(pk=take.pk, status=TakeStatus.QUEUED).exists():
        return False
    enqueue_render(take.pk)
    return True


def _refresh_and_publish_if(changed: int, take: Take) -> bool:
    """After a conditional update: only a change is published. A refused one leaves the caller's
    object as it was, so a worker's claim (status, attempt) still fences its later writes."""
    if changed:
        take.refresh_from_db()
        _publish(take)
    return bool(changed)


def _silent_since(takes, stale_before: datetime | None):
    if stale_before is None:
        return takes
    return takes.filter(Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True))


def _finish(take: Take, status: str, *, error: str = "") -> None:
    take.check_transition(status)
    take.status, take.error, take.finished_at = status, error, timezone.now()
    take.save(update_fields=["status", "error", "finished_at"])
    events.publish(take.shot.scene.project_id, "take.changed", {"take": selectors.take_payload(take)})


def _publish(take: Take, *, progress_only: bool = False) -> None:
    events.publish(_project_id(take), "take.changed", {"take": selectors.take_payload(take)}, progress_only=progress_only)


def _project_id(take: Take) -> int:
    # The worker's take was claimed with its shot and scene: no query per progress tick.
    if Take.shot.is_cached(take) and Shot.scene.is_cached(take.shot):
        return take.shot.scene.project_id
    return Take.objects.filter(pk=take.pk).values_list("shot__scene__project_id", flat=True).get()
