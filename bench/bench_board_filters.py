"""Board filters and search on a 500-shot project: CPU time of the one selector (board_view)
against its floor, the unfiltered board read (shot_board), measured in the same run.

    python bench/bench_board_filters.py [--shots 500 --repeat 7]

board_view reads the whole board (shot_board's queries) and filters and counts in Python; free
text adds one query (PostgreSQL full-text search when DATABASE_URL is PostgreSQL, a substring
match on SQLite). Each case is timed `--repeat` times in-process (wall clock, best and median; the ratio uses the best, the run least disturbed by other jobs);
queries are counted per call. The project is the board bench's (bench_board_page.build_project:
two finished takes per shot, the second approved, one shot in ten rendering), plus a review
comment on every fourth shot's approved take, and every third shot marked for re-render.

Django uses a throwaway SQLite database unless DATABASE_URL is set (then it writes one project
into that database), and the embedded Redis of a temporary var folder unless REDIS_URL is set.
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


def timed(function, repeat: int) -> tuple[float, float, int]:
    """(best ms, median ms, queries of one call)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        function()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return min(times), statistics.median(times), len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with throwaway_storage("bench-filters-"):
        setup_django(migrate=True)
        measure(args)


def measure(args) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from bench.bench_board_page import build_project
    from studio import selectors
    from studio.models import CastMember, Comment, Shot
    from studio.selectors import BoardFilters

    owner = get_user_model().objects.create_user(f"bench{time.time_ns()}", password=None)
    project = build_project(owner, args.shots, f"Filter bench {time.time_ns()}")
    shots = list(Shot.objects.filter(scene__project=project).select_related("approved_take").order_by("id"))
    Comment.objects.bulk_create([
        Comment(take=shot.approved_take, author=owner, frame=10, body=f"Shot {n}: the foghorns drown the line, loop it")
        for n, shot in enumerate(shots) if n % 4 == 0])
    Shot.objects.filter(id__in=[shot.id for n, shot in enumerate(shots) if n % 3 == 0]).update(
        rerender_marked_at=timezone.now(), rerender_reason="bench")
    mara = CastMember.objects.get(project=project, handle="mara").id
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (shared with other jobs), "
          f"database {connection.vendor}, {args.shots} shots")
    cases = {
        "floor: shot_board (the unfiltered read)": lambda: selectors.shot_board(project),
        "board_view, no filter (counts only)": lambda: selectors.board_view(project, BoardFilters()),
        "board_view, status + cast": lambda: selectors.board_view(project, BoardFilters(status="stale", cast=mara)),
        "board_view, text (a comment's word)": lambda: selectors.board_view(project, BoardFilters(text="foghorns")),
        "board_view, text + status + cast": lambda: selectors.board_view(
            project, BoardFilters(text="foghorns", status="stale", cast=mara)),
    }
    floor = None
    print("| case | best ms | median ms | queries | × floor (best) |")
    print("|---|---|---|---|---|")
    for name, function in cases.items():
        best, median, queries = timed(function, args.repeat)
        floor = floor or best  # the best of a few runs: the least disturbed by other jobs on the machine
        print(f"| {name} | {best:.1f} | {median:.1f} | {queries} | {best / floor:.2f} |")
    shown = selectors.board_view(project, BoardFilters(text="foghorns", status="stale", cast=mara)).shown
    print(f"text + status + cast shows {shown} shots; load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
