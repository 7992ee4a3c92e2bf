"""Does hostile script text cost more than a script? A 1 MB normal screenplay against 1 MB of text
built to make the parser backtrack (issue 13 hole 5).

    python bench/bench_script_import.py [--megabytes 1 --repeat 3]

Two scripts of the same size:
  normal   the demo script's scenes repeated with new headings (40 locations, scene numbers),
           about 1.5 KB a scene: the shape of a feature screenplay, just longer.
  hostile  every pattern that used to be quadratic, in equal shares (runs of "*a ", "_a ", "[[",
           "/*", "@", " (", a title key and headings and cues made of spaces, a paragraph of
           one-letter lines), a few scenes.
For each: parse_fountain (decode + parse), the script page's layout (script_blocks), the whole
import (script_import into a fresh project, first shots included, once) and a GET of the script
page through Django's test client. Parse and page are the best of --repeat runs. The verdict is
the ratio hostile / normal of the import and of the page GET in the same run (goal: at most 1.5),
and the hostile parse time at the full size over one eighth of it (linear: about 8).

Django runs on a throwaway SQLite database and media folder unless DATABASE_URL is set (then that
database is migrated and used); see bench/_env.py.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench._env import setup_django, throwaway_storage  # noqa: E402  (needs the repository on the path)

DEMO_SCRIPT = REPO_ROOT / "tests" / "fixtures" / "scripts" / "lighthouse_keeper.fountain"
LOCATIONS = 40
SCENE_HEADING_LINE = re.compile(r"^(?:INT|EXT)\. [^\n]*$", re.MULTILINE)
RATIO_GOAL = 1.5  # "about the time of a normal script"
GOAL_STEPS = ("import", "page GET")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=1.0, help="size of each script")
    parser.add_argument("--repeat", type=int, default=3, help="runs of parse and page (best is kept)")
    return parser.parse_args()


def normal_script(size: int) -> str:
    """The demo script's scene bodies, again and again, under new headings."""
    bodies = [body.strip() for body in SCENE_HEADING_LINE.split(DEMO_SCRIPT.read_text())[1:]]
    scenes, number, length = [], 0, 0
    while length < size:
        number += 1
        body = "\n\n".join(bodies[(number + n) % len(bodies)] for n in range(3))  # ~1.5 KB, as in a feature
        scene = f"EXT. LOCATION {number % LOCATIONS} - NIGHT #{number}#\n\n{body}\n\n"
        scenes.append(scene)
        length += len(scene)
    return "Title: The Long Lighthouse Keeper\n\n" + "".join(scenes)


HOSTILE_PATTERNS: dict[str, Callable[[int], str]] = {
    "emphasis stars": lambda n: "*a " * (n // 3),
    "emphasis underscores": lambda n: "_a " * (n // 3),
    "unclosed notes": lambda n: "[[" * (n // 2),
    "boneyard openers": lambda n: "/*" * (n // 2),
    "at signs": lambda n: "@" * n + "\nHello.",
    "parenthesis cue": lambda n: "A" + " (" * (n // 2) + "\nHello.",
    "cue of spaces": lambda n: "A" + " " * n + "a\nHello.",
    "heading of spaces": lambda n: "INT. HOUSE" + " " * n + "-x",
    "one-letter lines": lambda n: "a\n" * (n // 2),
}


def hostile_script(size: int) -> str:
    share = size // (len(HOSTILE_PATTERNS) + 1)
    title = "A" + " " * share + "b"  # a title key of spaces: the first line of the file
    parts = [f"INT. ROOM {n} - DAY\n\n{make(share)}" for n, make in enumerate(HOSTILE_PATTERNS.values())]
    return title + "\n\n" + "\n\n".join(parts) + "\n"


def best_seconds(function: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def measure(name: str, text: str, user, repeat: int) -> dict[str, float]:
    from django.test import Client
    from django.urls import reverse

    from studio.screenplay import decode_script, parse_fountain
    from studio.services.projects import project_create
    from studio.services.script import script_import
    from studio.views.script import script_blocks

    data = text.encode()
    figures = {
        "parse": best_seconds(lambda: parse_fountain(decode_script(data)), repeat),
        "page layout": best_seconds(lambda: script_blocks(text, {}), repeat),
    }
    project = project_create(owner=user, name=f"Script bench {name}")
    started = time.perf_counter()
    report = script_import(project=project, actor=user, data=data, filename=f"{name}.fountain")
    figures["import"] = time.perf_counter() - started
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    url = reverse("script", args=[project.slug])

    def view_page() -> None:
        assert client.get(url).status_code == 200

    figures["page GET"] = best_seconds(view_page, repeat)
    print(f"{name}: {len(data) / 1e6:.2f} MB, {len(report.scenes_added)} scenes, {report.shots_created} shots, "
          f"{len(report.cast_added)} cast added", flush=True)
    return figures


def main() -> None:
    args = parse_args()
    size = int(args.megabytes * 1024 * 1024)
    with throwaway_storage("bench-script-"):
        setup_django(migrate=True)
        from django.contrib.auth import get_user_model

        from studio.screenplay import decode_script, parse_fountain

        user = get_user_model().objects.create_user(f"bench{time.time_ns()}", password=None)
        print(f"script import: two scripts of {size / 1e6:.2f} MB, best of {args.repeat} for parse and page; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        normal, hostile = normal_script(size), hostile_script(size)
        figures = {"normal": measure("normal", normal, user, args.repeat),
                   "hostile": measure("hostile", hostile, user, args.repeat)}
        eighth = hostile_script(size // 8).encode()
        growth = best_seconds(lambda: parse_fountain(decode_script(hostile.encode())), args.repeat) / \
            best_seconds(lambda: parse_fountain(decode_script(eighth)), args.repeat)

    print("\n| step | normal s | hostile s | hostile / normal |\n|---|---|---|---|")
    for step in figures["normal"]:
        ratio = figures["hostile"][step] / figures["normal"][step]
        print(f"| {step} | {figures['normal'][step]:.3f} | {figures['hostile'][step]:.3f} | {ratio:.2f} |")
    print(f"\nhostile parse, full size / one eighth: {growth:.1f} (linear: about 8; quadratic: about 64)")
    # What people wait for: the import and the page. Parse and layout alone are printed for the why.
    worst = max(figures["hostile"][step] / figures["normal"][step] for step in GOAL_STEPS)
    print(f"goal (hostile {' and '.join(GOAL_STEPS)} within {RATIO_GOAL}x of normal): "
          f"{'met' if worst <= RATIO_GOAL else 'MISSED'}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
