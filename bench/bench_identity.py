"""What does identity scoring cost per take, on CPU?

Goal: scoring a 5 s, 720p, 24 fps take (120 frames) against its cast in at most 0.2x real time
(1 s) on two CPU cores, with the default sampling. Model loading is a once-per-worker cost and is
measured separately.

    python bench/bench_identity.py [--samples 3,5,8] [--repeat 3] [--seconds 5]

The take is real: a restyled public-domain portrait (matplotlib's grace_hopper.jpg) moving over a
location photograph (scikit-image's rocket), encoded to the house format with ffmpeg. Its cast is
one character (face embeddings) and one location (SIFT+RANSAC). Rows:

- floor: decoding every frame of the take with ffmpeg (nothing can score a take faster than
  reading it once), and reading only the sampled frames;
- scoring per sample count: the whole `score_video` (read + faces + features), best of --repeat,
  and for the default sampling the same scoring as it ran before (faces detected on the full-size
  frame, SIFT after dlib on one thread), so the change is measured in one run;
  with the cast's reference encodings already in the worker's cache, as wall seconds, CPU seconds
  (this process and ffmpeg), fraction of real time and ratio to the decode floor; for the default
  sampling also a worker's first take of this cast (references encoded too).

On a shared machine, read the CPU-second column and the printed load average, not only wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from PIL import Image, ImageEnhance, ImageOps  # noqa: E402

from generation import identity  # noqa: E402
from generation.identity import CastReferences, IdentityStatus, read_sampled_frames, score_video  # noqa: E402
from generation.media import HouseFormat, decode_frame_count, encode_frames  # noqa: E402


def photographs() -> tuple[np.ndarray, np.ndarray]:
    from matplotlib import cbook
    from skimage import data

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        return np.asarray(image.convert("RGB")), data.rocket()


def take_frames(face: np.ndarray, location: np.ndarray, fmt: HouseFormat, count: int):
    """The face (mirrored, 70 %, brightened, as a render might restyle it) crossing the location."""
    portrait = ImageOps.mirror(Image.fromarray(face))
    portrait = portrait.resize((int(portrait.width * 0.7), int(portrait.height * 0.7)), Image.Resampling.LANCZOS)
    portrait = ImageEnhance.Brightness(portrait).enhance(1.3)
    plate = ImageOps.fit(Image.fromarray(location), (fmt.width, fmt.height), Image.Resampling.LANCZOS)
    for index in range(count):
        frame = plate.copy()
        frame.paste(portrait, (int(80 + (fmt.width - portrait.width - 160) * index / max(count - 1, 1)), 120))
        yield np.asarray(frame)


@contextlib.contextmanager
def as_before():
    """Scoring as it was: faces detected on the full-size frame, SIFT after dlib on one thread."""
    saved = identity.FACE_DETECT_MAX_SIDE, identity.PARALLEL_FEATURES
    identity.FACE_DETECT_MAX_SIDE, identity.PARALLEL_FEATURES = 10**9, False
    try:
        yield
    finally:
        identity.FACE_DETECT_MAX_SIDE, identity.PARALLEL_FEATURES = saved


def cpu_seconds() -> float:
    """CPU seconds so far of this process and its finished children (ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(action, repeat: int) -> tuple[float, float, object]:
    """(best wall s, CPU s of that run, its result)."""
    runs = []
    for _ in range(repeat):
        wall_start, cpu_start = time.perf_counter(), cpu_seconds()
        result = action()
        runs.append((time.perf_counter() - wall_start, cpu_seconds() - cpu_start, result))
    return min(runs, key=lambda run: run[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default=f"3,{identity.DEFAULT_SAMPLES},8", help="sample counts to time")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    fmt = HouseFormat(1280, 720, 24)
    frames = int(round(args.seconds * fmt.fps))
    face, location = photographs()
    cast = [CastReferences("grace", "GRACE", "character", (face,)),
            CastReferences("pad", "LAUNCH PAD", "location", (location,))]

    # Once per worker process: the dlib models from disk, and OpenCV's import.
    wall_start = time.perf_counter()
    identity.face_models()
    face_load = time.perf_counter() - wall_start
    wall_start = time.perf_counter()
    import cv2  # noqa: F401  (timed: the first scoring call pays it)
    opencv_import = time.perf_counter() - wall_start
    print(f"model load (once per worker): dlib models {face_load:.2f} s, OpenCV import {opencv_import:.2f} s "
          f"[{identity.face_models().version}]")

    with tempfile.TemporaryDirectory(prefix="bench-identity-") as folder:
        clip = encode_frames(take_frames(face, location, fmt, frames), fmt, Path(folder) / "take.mp4").path
        print(f"take: {frames} frames, {fmt.width}x{fmt.height} @ {fmt.fps} fps ({args.seconds:g} s); "
              f"cast: 1 character, 1 location; best of {args.repeat}")
        floor_wall, floor_cpu, decoded = measure(lambda: decode_frame_count(clip), args.repeat)
        assert decoded == frames
        print(f"{'what':<34} {'wall s':>7} {'cpu s':>7} {'x real time':>12} {'x floor':>8}")
        print(f"{'floor: decode all frames':<34} {floor_wall:>7.2f} {floor_cpu:>7.2f} {floor_wall / args.seconds:>12.3f} {1:>8.1f}")
        for samples in (int(value) for value in args.samples.split(",")):
            read_wall, read_cpu, _ = measure(lambda: read_sampled_frames(clip, samples), args.repeat)
            print(f"{f'read {samples} sampled frames':<34} {read_wall:>7.2f} {read_cpu:>7.2f} "
                  f"{read_wall / args.seconds:>12.3f} {read_wall / floor_wall:>8.1f}")
            wall, cpu, scores = measure(lambda: score_video(clip, cast, samples), args.repeat)
            assert [score.status for score in scores] == [IdentityStatus.MATCH, IdentityStatus.MATCH], scores
            if samples == identity.DEFAULT_SAMPLES:  # a worker's first take of this cast: references encoded too
                identity.clear_reference_cache()
                cold_wall, cold_cpu, _ = measure(lambda: score_video(clip, cast, samples), 1)
                print(f"{f'score_video, {samples}, first of cast':<34} {cold_wall:>7.2f} {cold_cpu:>7.2f} "
                      f"{cold_wall / args.seconds:>12.3f} {cold_wall / floor_wall:>8.1f}")
            label = f"score_video, {samples} samples" + (" (default)" if samples == identity.DEFAULT_SAMPLES else "")
            print(f"{label:<34} {wall:>7.2f} {cpu:>7.2f} {wall / args.seconds:>12.3f} {wall / floor_wall:>8.1f}")
            if samples == identity.DEFAULT_SAMPLES:  # the same, as scoring ran before issue 12 item 7
                with as_before():
                    old_wall, old_cpu, old_scores = measure(lambda: score_video(clip, cast, samples), args.repeat)
                assert [score.status for score in old_scores] == [IdentityStatus.MATCH, IdentityStatus.MATCH], old_scores
                print(f"{f'  as before: full-size detection, sequential':<34} {old_wall:>7.2f} {old_cpu:>7.2f} "
                      f"{old_wall / args.seconds:>12.3f} {old_wall / floor_wall:>8.1f}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
