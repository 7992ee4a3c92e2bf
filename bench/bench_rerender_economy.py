"""Does the studio skip work it has already done? Re-rendering a cut after a one-shot edit.

    python bench/bench_rerender_economy.py [--shots 20 --seconds 2 --size 320x180 --repeat 50]

A project of --shots animatic shots (two cast members with reference images) and a cut from the
board. Steps:
  1. cut_render: every shot dispatches a take; each is rendered by studio.services.renders.run_take in
     this process (no Celery: studio.services.dispatch.enqueue_render is replaced by a function that
     collects the take ids, and the bench runs them one after the other, as a worker would).
  2. cut_render again, nothing changed (expected: 0 jobs).
  3. one shot's prompt edited, cut_render again (goal: exactly 1 job), and that take rendered.
  4. take_request for an unchanged, rendered shot, --repeat times: the wall time until the call
     returns a finished take (goal: 0 jobs, < 100 ms), median and max, and its database queries.
The renders use a small frame (--size, default 320x180) so step 1 stays quick; what is measured in
steps 2-4 does not depend on the frame size.

Django runs on a throwaway SQLite database and media folder in a temporary directory unless
DATABASE_URL is set (then that database is migrated and used). CONTINUITY_VAR_DIR defaults to a
temporary directory too; events go to the channel layer of settings (embedded Redis by default).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench._env import setup_django, throwaway_storage  # noqa: E402  (needs the repository on the path)

TAKE_READY_GOAL_MS = 100.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of every shot")
    parser.add_argument("--size", default="320x180", help="the project's frame size for the renders")
    parser.add_argument("--repeat", type=int, default=50, help="re-requests of an unchanged shot")
    return parser.parse_args()


def build_project(shot_count: int, seconds: float, width: int, height: int):
    """A project with two painted cast members, one scene of `shot_count` shots and a cut from the board."""
    from django.contrib.auth import get_user_model

    from studio.models import CastKind, RightsStatus
    from studio.services.cast import cast_member_create, reference_image_add
    from studio.services.cuts import cut_create
    from studio.services.projects import project_create
    from studio.services.shots import scene_create, shot_create

    user = get_user_model().objects.create_user(f"bench{time.time_ns()}", password=None)
    project = project_create(owner=user, name="Rerender bench", width=width, height=height, default_backend="animatic")
    mara = cast_member_create(project=project, actor=user, name="Mara", rights_status=RightsStatus.OWNED)
    reference_image_add(member=mara, actor=user, data=painted_png((240, 320), (205, 70, 60)))
    deck = cast_member_create(project=project, actor=user, name="Ferry deck", kind=CastKind.LOCATION, handle="deck",
                              rights_status=RightsStatus.OWNED)
    reference_image_add(member=deck, actor=user, data=painted_png((640, 360), (30, 70, 140)))
    scene = scene_create(project=project, actor=user, heading="EXT. FERRY DECK - NIGHT", location_cast=deck)
    moves = ("static", "push_in", "pan_left", "orbit_left", "handheld")
    shots = [shot_create(scene=scene, actor=user, prompt=f"@mara on the @deck, beat {n}", duration_s=seconds,
                         camera_move=moves[n % len(moves)]) for n in range(1, shot_count + 1)]
    cut = cut_create(project=project, actor=user, name="Assembly")
    return user, shots, cut


def painted_png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).ellipse([width // 4, height // 8, 3 * width // 4, 7 * height // 8], fill=(235, 200, 170))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class CollectedJobs:
    """Stands in for enqueue_render: remembers the take ids that would have gone to Celery."""

    def __init__(self):
        self.take_ids: list[int] = []

    def __call__(self, take_id: int) -> None:
        self.take_ids.append(take_id)

    def take(self) -> list[int]:
        taken, self.take_ids = self.take_ids, []
        return taken


def render_all(take_ids: list[int]) -> float:
    """Run every collected take as a worker would; fail loudly if one did not succeed."""
    from studio.models import Take, TakeStatus
    from studio.services.renders import run_take

    started = time.perf_counter()
    for take_id in take_ids:
        run_take(take_id)
    elapsed = time.perf_counter() - started
    failed = list(Take.objects.filter(pk__in=take_ids).exclude(status=TakeStatus.SUCCEEDED).values_list("id", "error"))
    if failed:
        raise SystemExit(f"renders failed: {failed}")
    return elapsed


def timed_cut_render(cut, user, jobs: CollectedJobs) -> tuple[int, list[int], float]:
    """(takes reported dispatched, jobs actually enqueued, wall seconds) for one cut_render."""
    from studio.services.cuts import cut_render

    started = time.perf_counter()
    results = cut_render(cut=cut, actor=user)
    elapsed = time.perf_counter() - started
    return sum(r.dispatched for r in results), jobs.take(), elapsed


def time_rerequests(shot, user, jobs: CollectedJobs, repeat: int) -> tuple[list[float], int, int]:
    """(wall ms per take_request, jobs enqueued, queries of one request) for an unchanged shot."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from studio.models import TakeStatus
    from studio.services.render_requests import take_request

    with CaptureQueriesContext(connection) as queries:
        take_request(shot=shot, actor=user)  # warm-up, and the query count of one request
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = take_request(shot=shot, actor=user)
        ready = result.take.status == TakeStatus.SUCCEEDED and bool(result.take.video)
        timings.append((time.perf_counter() - started) * 1000)
        if result.dispatched or not ready:
            raise SystemExit(f"an unchanged shot was not answered by its finished take: {result}")
    return timings, len(jobs.take()), len(queries.captured_queries)


def main() -> None:
    args = parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    with throwaway_storage("bench-rerender-"):
        setup_django(migrate=True)
        run(args, width, height)


def run(args: argparse.Namespace, width: int, height: int) -> None:
    from django.conf import settings

    from studio.services import dispatch
    from studio.services.shots import shot_update

    jobs = CollectedJobs()
    dispatch.enqueue_render = jobs  # no Celery: the bench is the worker
    user, shots, cut = build_project(args.shots, args.seconds, width, height)
    print(f"rerender economy: {args.shots} animatic shots of {args.seconds:g} s at {width}x{height} (small, to keep "
          f"the first render quick), database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    dispatched, first_jobs, request_s = timed_cut_render(cut, user, jobs)
    render_s = render_all(first_jobs)
    rows = [("first cut_render", f"{len(first_jobs)} (dispatched {dispatched})", f"{args.shots}",
             f"request {request_s * 1000:.0f} ms, render {render_s:.1f} s ({render_s / len(first_jobs):.2f} s/take)")]

    dispatched, again_jobs, request_s = timed_cut_render(cut, user, jobs)
    rows.append(("cut_render, nothing changed", f"{len(again_jobs)} (dispatched {dispatched})", "0",
                 f"request {request_s * 1000:.0f} ms for {args.shots} shots"))

    edited = shots[len(shots) // 2]
    shot_update(shot=edited, actor=user, prompt=edited.prompt + ", looking back")
    dispatched, edit_jobs, request_s = timed_cut_render(cut, user, jobs)
    edit_render_s = render_all(edit_jobs)
    rows.append((f"cut_render after editing {edited.code}", f"{len(edit_jobs)} (dispatched {dispatched})", "1",
                 f"request {request_s * 1000:.0f} ms, render {edit_render_s:.2f} s"))

    timings, rerequest_jobs, queries = time_rerequests(shots[0], user, jobs, args.repeat)
    median, worst = statistics.median(timings), max(timings)
    rows.append((f"take_request unchanged x{args.repeat}", f"{rerequest_jobs}", f"0, < {TAKE_READY_GOAL_MS:.0f} ms",
                 f"median {median:.1f} ms, max {worst:.1f} ms, {queries} queries each"))

    print_table(rows)
    met_jobs = len(again_jobs) == 0 and len(edit_jobs) == 1 and rerequest_jobs == 0
    met_time = worst < TAKE_READY_GOAL_MS
    print(f"goal jobs (0 unchanged, exactly 1 after one edit): {'met' if met_jobs else 'MISSED'}; "
          f"goal re-request < {TAKE_READY_GOAL_MS:.0f} ms: {'met' if met_time else 'MISSED'} "
          f"(median {median:.1f} ms, max {worst:.1f} ms)")


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    headers = ("step", "jobs", "goal jobs", "time")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    for row in (headers, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


if __name__ == "__main__":
    main()
