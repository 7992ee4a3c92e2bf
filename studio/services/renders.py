"""The take lifecycle on the worker's side: claim -> run the engine -> record, and every
conditional state change the reconciler also uses (requeue, resend, fail).

Every state change saves first and publishes after. Nothing here trusts the message: the take
row decides whether there is work to do, and every write from a worker is conditional on the
claim it holds, so a worker presumed dead can no longer change the take.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from generation import media
from generation.backends.base import RenderCancelled, RenderError, RenderRequest
from generation.render import ClipPaths, RenderedClip, remove_leftovers, render_clip
from generation.runtime import RenderRuntime
from studio import events, media_store, selectors
from studio.models import Shot, Take, TakeStatus
from studio.services import dispatch, notifications, webhooks, workers
from studio.services.progress import ProgressThrottle

logger = logging.getLogger(__name__)


worker_name = workers.worker_name


# --- Running a take -----------------------------------------------------------------------------

def run_take(take_id: int, *, redelivered: bool = False) -> None:
    """The body of the render task: claim the take, render it through the engine, record the end."""
    max_attempts = settings.CONTINUITY_MAX_RENDER_ATTEMPTS
    if redelivered:
        _requeue_if_orphaned(take_id)
    take = take_claim(take_id=take_id, worker=worker_name(), max_attempts=max_attempts)
    if take is None:
        _fail_if_exhausted(take_id, max_attempts)
        return  # duplicate delivery, cancelled or finished: nothing to do
    if take.attempts > 1:
        remove_leftovers(clip_paths(take))  # the retry owns the crashed attempt's names now
    _render_claimed(take)


class TakeProgress:
    """The engine's two callbacks for one take: `report` saves (a heartbeat too) and publishes
    progress; `should_cancel` says whether the render must stop (cancelled, or no longer this
    worker's claim).

    The engine asks should_cancel after every report and once on its own before the encode. After
    a report the answer is the one that report's save found (no extra query; a throttled report
    keeps the last answer); on its own it beats first, so the reconciler sees the worker alive
    through the encode, which sends no reports for diffusion backends.
    """

    def __init__(self, take: Take, throttle: ProgressThrottle | None = None):
        self.take = take
        self.throttle = throttle or ProgressThrottle()
        self.load_throttle = ProgressThrottle()
        self.wanted = True
        self._just_reported = False
        self.runtime = RenderRuntime(on_load=self.loading)

    def report(self, step: int, total: int) -> None:
        self._just_reported = True
        if self.throttle.should_send(step, total):
            self.wanted = take_record_progress(take=self.take, step=step, total=total, publish=True)
            workers.worker_report(state="rendering", take=self.take, phase=f"step {step} of {total}",
                                  progress=self.take.progress, loaded=self.runtime.loaded or None)

    def loading(self, fraction: float, what: str) -> None:
        """The engine is loading a pipeline (or retrying after an out-of-memory): a heartbeat with
        a phase people can read, e.g. "loading model… 40%". Throttled like progress."""
        if self.load_throttle.should_send(round(fraction * 100), 100):
            phase = f"{what}… {fraction:.0%}" if what.startswith("loading") else what
            self.wanted = take_record_phase(take=self.take, phase=phase)
            workers.worker_report(state="loading", take=self.take, phase=phase, progress=fraction,
                                  loaded=self.runtime.loaded or None)

    def should_cancel(self) -> bool:
        if not self._just_reported:
            self.wanted = take_heartbeat(take=self.take)
        self._just_reported = False
        return not self.wanted


def media_paths(take: Take) -> dict[str, str]:
    """Storage names for a take's files. The take id makes them unique, so nothing is overwritten."""
    base = f"projects/{take.shot.scene.project_id}/takes/{take.shot_id}/take-{take.number:03d}-{take.id}"
    return {"video": f"{base}.mp4", "poster": f"{base}-poster.jpg", "last_frame": f"{base}-last.png"}


def clip_paths(take: Take) -> ClipPaths:
    """Where the engine writes the take's files: MEDIA_ROOT, or this worker's cache with a remote
    media store (studio/media_store.py), from where they are uploaded."""
    names = media_paths(take)
    return ClipPaths(video=media_store.work_path(names["video"]), poster=media_store.work_path(names["poster"]),
                     last_frame=media_store.work_path(names["last_frame"]))


def _store_outputs(take: Take) -> dict[str, str]:
    """Hand the rendered files to the media store (nothing to do locally); their stored names."""
    paths = clip_paths(take)
    return {field: media_store.upload(getattr(paths, field), name) for field, name in media_paths(take).items()}


def _render_claimed(take: Take) -> None:
    """Wall seconds are the worker's whole time on the take; GPU seconds the engine's count of the
    model call (runtime.gpu_seconds), kept also when the render fails: the budget pays for both."""
    started = time.monotonic()
    progress = TakeProgress(take)
    workers.worker_report(state="rendering", take=take, phase="starting")

    def spent() -> dict:
        return {"compute_seconds": time.monotonic() - started, "gpu_seconds": progress.runtime.gpu_seconds}

    try:
        clip = _render(take, progress)
        stored = _store_outputs(take)
    except RenderCancelled:
        take_fail(take=take, error="Cancelled.", status=TakeStatus.CANCELLED, **spent())
    except (RenderError, media.MediaError, media_store.MediaMissing) as exc:
        take_fail(take=take, error=str(exc), **spent())
    except Exception as exc:  # a bug or an unexpected library error: fail the take, keep the worker
        logger.exception("render of take %s failed", take.id)
        take_fail(take=take, error=f"Unexpected error: {type(exc).__name__}: {exc}", **spent())
    else:
        take_succeed(take=take, frames=clip.frames, duration_s=clip.duration_s,
                     provenance={**clip.provenance, "worker": worker_name()}, **spent(), **stored)
    finally:
        workers.worker_report(state="idle")  # with what its pipeline cache still holds


def _render(take: Take, progress: TakeProgress) -> RenderedClip:
    project = take.shot.scene.project
    return render_clip(
        # A remote store's reference images and continuity frame are fetched into this worker's cache.
        media_store.localised(RenderRequest.from_dict(take.request)), backend=take.backend, output=clip_paths(take),
        house=media.HouseFormat(width=project.width, height=project.height, fps=project.fps),
        on_progress=progress.report, should_cancel=progress.should_cancel,
        ffmpeg_timeout=settings.CONTINUITY_FFMPEG_TIMEOUT, models_dir=settings.CONTINUITY_MODELS_DIR,
        runtime=progress.runtime,
    )


def _requeue_if_orphaned(take_id: int) -> None:
    """A redelivered message means the worker that ran it died: its running take is orphaned."""
    take = Take.objects.filter(pk=take_id, status=TakeStatus.RUNNING).first()
    if take is not None:
        take_requeue(take=take, reason="The worker stopped during the render; retrying.")


def _fail_if_exhausted(take_id: int, max_attempts: int) -> None:
    take = Take.objects.filter(pk=take_id, status=TakeStatus.QUEUED, attempts__gte=max_attempts).first()
    if take is not None:
        take_fail(take=take, error=f"Gave up after {take.attempts} attempts; the render kept crashing the worker.")


# --- Conditional state changes ------------------------------------------------------------------

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
    take.phase = ""
    # Saved only while still wanted (this worker's claim, no cancel asked): then nothing more to
    # read. Asking again after the publish cost a query per tick in the milliseconds the servers
    # write that tick to every socket (BENCHMARKS.md, issue 15).
    saved = _this_claim(take).filter(cancel_requested=False).update(
        step=step, total_steps=total, progress=take.progress, heartbeat_at=timezone.now(), phase="")
    if not saved:
        return _still_wanted(take)
    if publish:
        _publish(take, progress_only=True)
    return True


def take_record_phase(*, take: Take, phase: str) -> bool:
    """Save what the worker is doing before the first step (e.g. "loading model… 40%") with a
    heartbeat, so a slow first load never looks like a dead worker; publish it. False: stop."""
    take.phase = phase[:120]
    if _this_claim(take).update(phase=take.phase, heartbeat_at=timezone.now()):
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
                 compute_seconds: float, provenance: dict, gpu_seconds: float = 0.0) -> bool:
    """running -> succeeded, once. Returns False if the take was no longer running (e.g. cancelled)
    or no longer this worker's claim."""
    done = _this_claim(take).update(
        status=TakeStatus.SUCCEEDED, video=video, poster=poster, last_frame=last_frame, frames=frames,
        duration_s=duration_s, compute_seconds=compute_seconds, provenance=provenance, progress=1.0,
        step=F("total_steps"), finished_at=timezone.now(), error="", gpu_seconds=gpu_seconds, phase="",
    )
    if done and settings.CONTINUITY_IDENTITY_SCORING:  # advice for reviewers, on its own queue
        transaction.on_commit(lambda: dispatch.enqueue_identity(take.pk), robust=True)  # a lost score, never a failed request
    return _refresh_publish_and_emit_if(done, take)


def take_fail(*, take: Take, error: str, compute_seconds: float = 0.0, status: str = TakeStatus.FAILED,
              stale_before: datetime | None = None, gpu_seconds: float = 0.0) -> bool:
    """queued/running -> failed (or cancelled), only if the take is still as the caller saw it
    (same status and attempt; with `stale_before`, no heartbeat since). Returns whether it changed.
    So a worker whose take was requeued cannot fail the retry, nor a reconciler a fresh claim."""
    still = Take.objects.filter(pk=take.pk, status=take.status, attempts=take.attempts,
                                status__in=[TakeStatus.RUNNING, TakeStatus.QUEUED])
    done = _silent_since(still, stale_before).update(
        status=status, error=error[:2000], compute_seconds=compute_seconds, finished_at=timezone.now(),
        gpu_seconds=gpu_seconds, phase="",
    )
    return _refresh_publish_and_emit_if(done, take)


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
    dispatch.enqueue_render(take.pk)
    return True


def _refresh_and_publish_if(changed: int, take: Take) -> bool:
    """After a conditional update: only a change is published. A refused one leaves the caller's
    object as it was, so a worker's claim (status, attempt) still fences its later writes."""
    if changed:
        take.refresh_from_db()
        _publish(take)
    return bool(changed)


def _refresh_publish_and_emit_if(changed: int, take: Take) -> bool:
    """A take that reached its end: also tell the project's webhooks (succeeded or failed)."""
    if _refresh_and_publish_if(changed, take):
        webhooks.take_finished(take)
        if take.status == TakeStatus.SUCCEEDED:
            notifications.take_ready(take)
        return True
    return False


def _silent_since(takes, stale_before: datetime | None):
    if stale_before is None:
        return takes
    return takes.filter(Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True))


def _publish(take: Take, *, progress_only: bool = False) -> None:
    # Progress ticks travel compact and coalesced per take; a change of state in full, at once.
    payload = selectors.take_progress_payload(take) if progress_only else selectors.take_payload(take)
    events.publish(_project_id(take), "take.changed", {"take": payload}, progress_only=progress_only,
                   coalesce=f"take:{take.pk}")


def _project_id(take: Take) -> int:
    # The worker's take was claimed with its shot and scene: no query per progress tick.
    if Take.shot.is_cached(take) and Shot.scene.is_cached(take.shot):
        return take.shot.scene.project_id
    return Take.objects.filter(pk=take.pk).values_list("shot__scene__project_id", flat=True).get()
