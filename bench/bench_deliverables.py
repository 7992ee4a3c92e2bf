"""What does printing cost? A storyboard PDF and a shot list of N shots, against the bare work of
reading their pictures.

    python bench/bench_deliverables.py [--shots 100 --repeat 3]

N shots in N/10 scenes, each with a finished take whose poster is a real 1280×720 JPEG (a noisy
picture, so it compresses like a frame and not like a flat colour). Measured, best of --repeat,
in one process, with the studio's own functions over unsaved model rows (no database):
  floor        decode every poster and re-encode it at panel size with Pillow (what any
               storyboard must do with its pictures)
  pictures     studio.services.deliverables.panel_pictures (the floor's work plus file checks)
  storyboard   panel_pictures + storyboard_pdf, A4 2×3 and Letter 3×3
  shot list    shot_list_csv and shot_list_pdf
Reported: seconds, ms per shot, × floor, and the PDF's size. Goal: a storyboard within 2× the
floor (the page drawing costs less than the pictures), so a 100-shot storyboard answers in a
couple of seconds on two cores.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench._env import setup_django, throwaway_storage  # noqa: E402  (needs the repository on the path)

GOAL = 2.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    return parser.parse_args()


def build_rows(shots: int, media_root: Path):
    """Unsaved scenes, shots and takes, shaped as studio.selectors.deliverable_shots returns them."""
    from PIL import Image

    from studio.models import Scene, Shot, Take
    from studio.selectors import DeliverableShot

    rng = np.random.default_rng(7)
    scenes = [Scene(id=n + 1, order=n + 1, heading=f"INT. ROOM {n} - NIGHT", scene_number=str(n + 1),
                    action="The lamp swings over the table.") for n in range(max(1, shots // 10))]
    rows = []
    for n in range(shots):
        name = f"projects/1/takes/{n}/take1.jpg"
        path = media_root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (720 // 8, 1280 // 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).resize((1280, 720), Image.BILINEAR).save(path, "JPEG", quality=90)
        take = Take(id=n + 1, number=1, status="succeeded", poster=name, frames=72)
        shot = Shot(id=n + 1, scene=scenes[n % len(scenes)], code=f"{n + 1}A", order=n,
                    prompt=f"@mara crosses the room, beat {n}, and looks back at the door before she leaves",
                    approved_take=take)
        shot.approved_take_id = take.id
        shot.deliverable_cast = []
        rows.append(DeliverableShot(shot=shot, take=take, status="approved"))
    return rows


def floor(rows, media_root: Path) -> None:
    from PIL import Image

    for row in rows:
        with Image.open(media_root / row.take.poster.name) as image:
            image = image.convert("RGB")
            image.thumbnail((640, 640))
            image.save(io.BytesIO(), "JPEG", quality=85)


def best(repeat: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    args = parse_args()
    with throwaway_storage("bench-deliverables-") as scratch:
        setup_django()
        from studio.selectors import ScriptOutline
        from studio.services import deliverables

        media_root = Path(os.environ["MEDIA_ROOT"])
        rows = build_rows(args.shots, media_root)
        outline = ScriptOutline({}, {})
        printout = deliverables.Printout({"title": "Bench"}, "Storyboard", date.today())
        pictures = deliverables.panel_pictures(rows, aspect=9 / 16)
        steps = {
            "floor: decode + re-encode the posters": lambda: floor(rows, media_root),
            "pictures (panel_pictures)": lambda: deliverables.panel_pictures(rows, aspect=9 / 16),
            "storyboard A4 2×3 (pictures + PDF)": lambda: deliverables.storyboard_pdf(
                printout, rows, deliverables.panel_pictures(rows, aspect=9 / 16), outline),
            "storyboard Letter 3×3 (pictures + PDF)": lambda: deliverables.storyboard_pdf(
                printout, rows, deliverables.panel_pictures(rows, aspect=9 / 16), outline, paper="letter", layout="3x3"),
            "storyboard PDF only, A4 2×3": lambda: deliverables.storyboard_pdf(printout, rows, pictures, outline),
            "shot list CSV": lambda: deliverables.shot_list_csv(rows).encode(),
            "shot list PDF": lambda: deliverables.shot_list_pdf(printout, rows),
        }
        results = {name: best(args.repeat, work) for name, work in steps.items()}
        base = results["floor: decode + re-encode the posters"][0]
        print(f"{args.shots} shots, best of {args.repeat}; load average {os.getloadavg()[0]:.1f}")
        print("| what | s | ms per shot | × floor | output KB |")
        print("|---|---|---|---|---|")
        for name, (seconds, output) in results.items():
            size = f"{len(output) / 1024:.0f}" if isinstance(output, (bytes, str)) else "—"
            print(f"| {name} | {seconds:.3f} | {seconds * 1000 / args.shots:.1f} | {seconds / base:.2f} | {size} |")
        ratio = results["storyboard A4 2×3 (pictures + PDF)"][0] / base
        print(f"verdict: storyboard {ratio:.2f}× floor (goal ≤ {GOAL}×): {'met' if ratio <= GOAL else 'missed'}")
        del scratch


if __name__ == "__main__":
    main()
