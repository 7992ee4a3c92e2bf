"""How close is our stitch() to a bare ffmpeg stream copy, and how much does it save over re-encoding?

    python bench/bench_export.py [--takes 20 --seconds 5 --size 1280x720 --repeat 5]

Takes are generated once (lavfi testsrc2, libx264 ultrafast, house format) into bench/out/ and
reused. Then it times:
  (a) bare ffmpeg: concat demuxer + stream copy of the same files (same flags as stitch uses)
  (b) re-encoding concat: concat demuxer + libx264 at its default preset (run once: it is slow)
  (c) stitch(): our export, with its house-format check, links, list and atomic rename
  (c cold) stitch() in a worker that has not read these takes' headers yet (first export)
  (d) stitch() with one trimmed span, cold trim cache (the price of the first export of a trim)
Goals: c <= 1.5 x a (cold too), b >= 50 x c. The ffmpeg is the one CONTINUITY_FFMPEG names.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from generation import stitch as stitch_module  # noqa: E402
from generation.ffmpeg import binary_choice, binary_version, ffmpeg_binary  # noqa: E402
from generation.media import HouseFormat, decode_frame_count, run_ffmpeg  # noqa: E402
from generation.stitch import ClipSpan, stitch  # noqa: E402

OUT_DIR = REPO_ROOT / "bench" / "out"


def main() -> None:
    args = parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    fmt = HouseFormat(width=width, height=height, fps=args.fps)
    frames = args.seconds * args.fps
    takes = ensure_takes(fmt, args.takes, frames)
    work = Path(tempfile.mkdtemp(prefix="bench-export-", dir=OUT_DIR))
    try:
        report(run_all(takes, fmt, frames, work, args.repeat, not args.no_reencode), args, fmt)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--takes", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=5, help="runs of (a) and (c); the median is reported")
    parser.add_argument("--no-reencode", action="store_true", help="skip (b), the slow re-encoding baseline")
    return parser.parse_args()


def ensure_takes(fmt: HouseFormat, count: int, frames: int) -> list[Path]:
    folder = OUT_DIR / f"takes_{fmt.width}x{fmt.height}_{fmt.fps}fps_{frames}f"
    folder.mkdir(parents=True, exist_ok=True)
    takes = [folder / f"take_{number:03d}.mp4" for number in range(1, count + 1)]
    for number, take in enumerate(takes):
        if not take.exists():
            print(f"generating {take.name} ...", flush=True)
            generate_take(take, fmt, frames, start_s=number * 7)
    return takes


def generate_take(path: Path, fmt: HouseFormat, frames: int, start_s: float) -> None:
    temp = path.with_suffix(".tmp.mp4")
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", f"testsrc2=size={fmt.width}x{fmt.height}:rate={fmt.fps}",
            "-ss", str(start_s), "-frames:v", str(frames),
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(fmt.fps * 2),
            "-video_track_timescale", str(fmt.timescale), "-movflags", "+faststart", "-an",
            "-f", "mp4", str(temp),
        ],
        timeout=600,
    )
    temp.replace(path)


def write_bare_list(takes: list[Path], work: Path) -> Path:
    # The bare baseline gets the easy version: absolute paths straight into the list.
    list_path = work / "bare.ffconcat"
    list_path.write_text("ffconcat version 1.0\n" + "".join(f"file '{take}'\n" for take in takes))
    return list_path


def bare_copy(list_path: Path, output: Path) -> None:
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(list_path), "-c", "copy", "-movflags", "+faststart", str(output)], timeout=600)


def reencode(list_path: Path, output: Path) -> None:
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(list_path), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-an", str(output)], timeout=3600)


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run_all(takes: list[Path], fmt: HouseFormat, frames: int, work: Path, repeat: int, with_reencode: bool) -> dict[str, float]:
    list_path = write_bare_list(takes, work)
    spans = [ClipSpan.whole(take, frames) for take in takes]
    cache = work / "trim-cache"

    def ours() -> None:
        stitch(spans, fmt, work / "c.mp4", cache_dir=cache)

    def ours_cold() -> None:
        stitch_module._probe_unchanged.cache_clear()  # as in a worker that has not seen these takes
        ours()

    bare_copy(list_path, work / "a.mp4")  # warm the page cache for everyone
    a_times, c_times, cold_times = [], [], []
    for _ in range(repeat):  # interleaved, so neither side gets a warmer machine
        a_times.append(timed(lambda: bare_copy(list_path, work / "a.mp4")))
        cold_times.append(timed(ours_cold))
        c_times.append(timed(ours))
    expected = len(takes) * frames
    for name in ("a.mp4", "c.mp4"):
        counted = decode_frame_count(work / name, timeout=600)
        assert counted == expected, f"{name}: {counted} frames, expected {expected}"

    b_time = None
    if with_reencode:
        print("re-encoding once (slow) ...", flush=True)
        b_time = timed(lambda: reencode(list_path, work / "b.mp4"))

    trimmed = [*spans[:1], ClipSpan(takes[1], 5, frames - 5, frames), *spans[2:]]
    d_time = timed(lambda: stitch(trimmed, fmt, work / "d.mp4", cache_dir=work / "cold-cache"))
    return {"a": statistics.median(a_times), "b": b_time, "c": statistics.median(c_times),
            "c_cold": statistics.median(cold_times), "d": d_time}


def report(times: dict[str, float], args: argparse.Namespace, fmt: HouseFormat) -> None:
    print()
    binary = ffmpeg_binary()
    print(f"ffmpeg: CONTINUITY_FFMPEG={binary_choice()} ({binary}, version {binary_version(binary)})")
    print(f"{args.takes} takes x {args.seconds} s at {fmt.width}x{fmt.height} {fmt.fps} fps; median of {args.repeat} for a and c")
    print(f"{'case':<48} {'seconds':>9}")
    rows = [
        ("(a) bare ffmpeg concat, stream copy", times["a"]),
        ("(b) concat re-encode, libx264 default preset", times["b"]),
        ("(c) stitch()", times["c"]),
        ("(c cold) stitch(), headers not read yet", times["c_cold"]),
        ("(d) stitch(), one trimmed span, cold cache", times["d"]),
    ]
    for label, seconds in rows:
        print(f"{label:<48} {'skipped' if seconds is None else f'{seconds:.3f}':>9}")
    for name, key in (("c / a", "c"), ("c cold / a", "c_cold")):
        ratio = times[key] / times["a"]
        print(f"{name + ' (goal <= 1.5)':<48} {ratio:>9.2f}  {'ok' if ratio <= 1.5 else 'MISSED'}")
    if times["b"] is not None:
        b_over_c = times["b"] / times["c"]
        print(f"{'b / c (goal >= 50)':<48} {b_over_c:>9.1f}  {'ok' if b_over_c >= 50 else 'MISSED'}")


if __name__ == "__main__":
    main()
