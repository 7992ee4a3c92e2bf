"""Between "render this take" and "a clip is on disk": claim -> backend -> encode -> record.

Every state change goes through studio.services.takes, which saves first and publishes after.
Nothing here trusts the message: the take row decides whether there is work to do.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from pathlib import Path

from django.conf import settings

from generation import media
from generation.backends.base import RenderCancelled, RenderError, RenderRequest
from generation.backends.registry import build_backend
from studio.models import Take, TakeStatus
from studio.services import takes as take_service

logger = logging.getLogger(__name__)

PUBLISH_INTERVAL_S = 0.25  # a few progress events per second per take; first and last always sent


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ProgressThrottle:
    """Decides which progress reports are published: the first, the last, and one per interval."""

    def __init__(self, interval_s: float | None = None, clock=time.monotonic):
        self.interval_s = PUBLISH_INTERVAL_S if interval_s is None else interval_s
        self.clock = clock
        self.last_sent: float | None = None

    def should_send(self, step: int, total: int) -> bool:
        now = self.clock()
        if self.last_sent is None or step >= total or now - self.last_sent >= self.interval_s:
            self.last_sent = now
            return True
        return False


class TakeProgress:
    """The on_progress callback handed to a backend: saves, publishes, and notices a cancel."""

    def __init__(self, take: Take, throttle: ProgressThrottle | None = None):
        self.take = take
        self.throttle = throttle or ProgressThrottle()

    def __call__(self, step: int, total: int) -> None:
        if not self.throttle.should_send(step, total):
            return
        still_wanted = take_service.take_record_progress(take=self.take, step=step, total=total, publish=True)
        if not still_wanted:
            raise RenderCancelled()


def media_paths(take: Take) -> dict[str, str]:
    """Storage names for a take's files. The take id makes them unique, so nothing is overwritten."""
    base = f"projects/{take.shot.scene.project_id}/takes/{take.shot_id}/take-{take.number:03d}-{take.id}"
    return {"video": f"{base}.mp4", "poster": f"{base}-poster.jpg", "last_frame": f"{base}-last.png"}


def run_take(take_id: int, *, redelivered: bool = False) -> None:
    max_attempts = settings.CONTINUITY_MAX_RENDER_ATTEMPTS
    if redelivered:
        _requeue_if_orphaned(take_id)
    take = take_service.take_claim(take_id=take_id, worker=worker_name(), max_attempts=max_attempts)
    if take is None:
        _fail_if_exhausted(take_id, max_attempts)
        return  # duplicate delivery, cancelled or finished: nothing to do
    if take.attempts > 1:
        _remove_leftovers_of_crashed_attempts(take)
    _render_claimed(take)


def _render_claimed(take: Take) -> None:
    started = time.monotonic()
    try:
        fields = _render_and_encode(take)
    except RenderCancelled:
        take_service.take_fail(take=take, error="Cancelled.", status=TakeStatus.CANCELLED,
                               compute_seconds=time.monotonic() - started)
    except (RenderError, media.MediaError) as exc:
        take_service.take_fail(take=take, error=str(exc), compute_seconds=time.monotonic() - started)
    except Exception as exc:  # a bug or an unexpected library error: fail the take, keep the worker
        logger.exception("render of take %s failed", take.id)
        take_service.take_fail(take=take, error=f"Unexpected error: {type(exc).__name__}: {exc}",
                               compute_seconds=time.monotonic() - started)
    else:
        take_service.take_succeed(take=take, compute_seconds=time.monotonic() - started, **fields)


def _render_and_encode(take: Take) -> dict:
    project = take.shot.scene.project
    request = RenderRequest.from_dict(take.request)
    backend = build_backend(take.backend)
    result = backend.render(request, TakeProgress(take))
    # Decoding and encoding send no progress reports: beat before them, and stop if the
    # reconciler presumed this worker dead and gave the take to another meanwhile.
    if not take_service.take_heartbeat(take=take):
        raise RenderCancelled()
    names = media_paths(take)
    root = Path(settings.MEDIA_ROOT)
    video_path = root / names["video"]
    video_path.parent.mkdir(parents=True, exist_ok=True)
    house = media.HouseFormat(width=project.width, height=project.height, fps=project.fps)
    encoded = media.encode_frames(result.frames, house, video_path, expected_frames=result.frame_count,
                                  timeout=settings.CONTINUITY_FFMPEG_TIMEOUT)
    media.extract_frame(video_path, root / names["poster"])
    media.extract_frame(video_path, root / names["last_frame"], last=True)
    provenance = {
        "backend": take.backend, "model": result.model, "revision": result.revision, "seed": request.seed,
        "prompt": request.prompt, "worker": worker_name(),
        "references": [{"handle": r.handle, "sha256s": list(r.image_sha256s)} for r in request.references],
        **result.provenance,
    }
    if "generation.pipeline_cache" in sys.modules:  # a diffusers backend ran in this worker
        stats = sys.modules["generation.pipeline_cache"].get_cache().stats()
        provenance["pipeline_cache"] = {"total_loads": stats["total_loads"], "evictions": stats["evictions"]}
    return {**names, "frames": encoded.frame_count, "duration_s": encoded.duration_s, "provenance": provenance}


def _remove_leftovers_of_crashed_attempts(take: Take) -> None:
    """A worker killed while encoding leaves media's hidden temporary files (".<name>.<hex>.partial<ext>",
    see media._temporary_sibling) beside the take's names; the retry owns those names now."""
    root = Path(settings.MEDIA_ROOT)
    for name in media_paths(take).values():
        path = root / name
        for leftover in path.parent.glob(f".{path.stem}.*.partial{path.suffix}"):
            leftover.unlink(missing_ok=True)


def _requeue_if_orphaned(take_id: int) -> None:
    """A redelivered message means the worker that ran it died: its running take is orphaned."""
    take = Take.objects.filter(pk=take_id, status=TakeStatus.RUNNING).first()
    if take is not None:
        take_service.take_requeue(take=take, reason="The worker stopped during the render; retrying.")


def _fail_if_exhausted(take_id: int, max_attempts: int) -> None:
    take = Take.objects.filter(pk=take_id, status=TakeStatus.QUEUED, attempts__gte=max_attempts).first()
    if take is not None:
        take_service.take_fail(take=take, error=f"Gave up after {take.attempts} attempts; the render kept crashing the worker.")


def run_export(export_id: int) -> None:
    from studio.services.exports import export_run

    export_run(export_id=export_id)
