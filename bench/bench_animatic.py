"""How fast is the animatic, rendered and encoded to the house format?

Goal: a 5 s, 720p, 24 fps shot (120 frames) with three references, rendered and encoded in at most
half real time (2.5 s) on two CPU cores.

    python bench/bench_animatic.py [--moves static,push_in] [--repeat 3] [--seconds 5]

Prints one row per camera move: wall time (best of --repeat), frames per second, fraction of real
time, CPU seconds spent rendering (this process) and encoding (ffmpeg) -- a load-independent
measure: on an idle two-core machine the wall time cannot be below their sum / 2 -- the bitrate,
and peak resident memory of this process and of ffmpeg.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from generation.backends.animatic import AnimaticBackend  # noqa: E402
from generation.backends.base import Reference, RenderRequest  # noqa: E402
from generation.media import HouseFormat, encode_frames, probe  # noqa: E402

DEFAULT_MOVES = ("static", "push_in", "pan_left", "orbit_left", "handheld")


def make_references(folder: Path) -> tuple[Reference, ...]:
    """A gradient location plate and two drawn characters with alpha, like real cut-outs."""
    width, height = 1920, 1080
    plate = np.zeros((height, width, 3), dtype=np.uint8)
    plate[..., 0] = np.linspace(30, 210, width, dtype=np.uint8)[None, :]
    plate[..., 1] = np.linspace(70, 150, height, dtype=np.uint8)[:, None]
    plate[..., 2] = 110
    location = Image.fromarray(plate)
    draw = ImageDraw.Draw(location)
    for x in range(0, width, 160):  # some structure, so compression and motion are realistic
        draw.rectangle([x + 20, 420, x + 120, 760], fill=(60 + x % 90, 50, 70))
    location.save(folder / "location.jpg", quality=92)
    references = [Reference("diner", "Diner", "location", (str(folder / "location.jpg"),))]
    for handle, colour in (("mara", (205, 70, 60)), ("joe", (60, 100, 205))):
        figure = Image.new("RGBA", (600, 1200), (0, 0, 0, 0))
        draw = ImageDraw.Draw(figure)
        draw.ellipse([200, 60, 400, 260], fill=(235, 200, 170, 255))
        draw.rounded_rectangle([130, 280, 470, 1180], radius=90, fill=(*colour, 255))
        figure.save(folder / f"{handle}.png")
        references.append(Reference(handle, handle.title(), "character", (str(folder / f"{handle}.png"),)))
    return tuple(references)


def cpu_seconds() -> tuple[float, float]:
    """(this process, finished children i.e. ffmpeg) CPU seconds so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def render_and_encode(backend: AnimaticBackend, request: RenderRequest, fmt: HouseFormat, output: Path) -> tuple[float, float, float]:
    """(wall, render CPU, ffmpeg CPU) seconds for one render piped into one encode."""
    wall_start, (own_start, ffmpeg_start) = time.perf_counter(), cpu_seconds()
    result = backend.render(request, lambda step, total: None)
    encoded = encode_frames(result.frames, fmt, output, expected_frames=result.frame_count)
    wall = time.perf_counter() - wall_start
    own_end, ffmpeg_end = cpu_seconds()
    assert encoded.frame_count == request.frames
    return wall, own_end - own_start, ffmpeg_end - ffmpeg_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", default=",".join(DEFAULT_MOVES))
    parser.add_argument("--shot-size", default="MS")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    fmt = HouseFormat(1280, 720, 24)
    frames = int(round(args.seconds * fmt.fps))
    backend = AnimaticBackend()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        references = make_references(folder)
        print(f"animatic render + encode: {frames} frames, {fmt.width}x{fmt.height} @ {fmt.fps} fps, "
              f"{len(references)} references, shot size {args.shot_size}, best of {args.repeat}")
        print(f"{'move':<12} {'wall s':>7} {'frames/s':>9} {'x real time':>12} {'cpu render':>11} {'cpu ffmpeg':>11} {'kbit/s':>7}")
        for move in args.moves.split(","):
            request = RenderRequest(
                prompt="Mara slides the letter across the counter; Joe does not touch it.",
                references=references, frames=frames, fps=fmt.fps, width=fmt.width, height=fmt.height,
                shot_size=args.shot_size, camera_move=move, seed=7,
                extra={"shot_code": "12A", "take_number": 3},
            )
            output = folder / f"{move}.mp4"
            runs = [render_and_encode(backend, request, fmt, output) for _ in range(args.repeat)]
            wall, render_cpu, ffmpeg_cpu = min(runs)
            kbits = output.stat().st_size * 8 / 1000
            info = probe(output)
            assert (info.width, info.height, info.frame_count) == (fmt.width, fmt.height, frames)
            print(f"{move:<12} {wall:>7.2f} {frames / wall:>9.1f} {wall / args.seconds:>12.2f} {render_cpu:>11.2f} "
                  f"{ffmpeg_cpu:>11.2f} {kbits / args.seconds:>7.0f}")
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ffmpeg_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: this process {own_peak:.0f} MiB, largest ffmpeg {ffmpeg_peak:.0f} MiB")


if __name__ == "__main__":
    main()
