"""Does a warm worker skip the pipeline load? Three takes on the tiny wan backend in one process.

    python bench/bench_warm_workers.py [--takes 3] [--steps 3] [--models-dir bench/out/models]

The first take pays for importing torch/diffusers, loading the pipeline from disk and the first
forward pass; later takes reuse the pipeline from the per-worker cache (generation/pipeline_cache.py).
Prints the wall and CPU seconds of every take (CPU seconds of this process are the load-independent
measure on a shared machine), the cold / warm ratio, and the cache's loads per model (expected: one
load whatever the number of takes). Building the tiny weights (first run only) is timed apart.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from generation.backends.base import Reference, RenderRequest  # noqa: E402
from generation.backends.tiny import TinyBackend, ensure_tiny_models  # noqa: E402
from generation.pipeline_cache import get_cache  # noqa: E402


def make_references(folder: Path) -> tuple[Reference, ...]:
    rng = np.random.default_rng(0)
    references = []
    for handle in ("mara", "deck"):
        path = folder / f"{handle}.png"
        Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(path)
        references.append(Reference(handle=handle, name=handle.title(), kind="character", image_paths=(str(path),)))
    return tuple(references)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--takes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "bench" / "out" / "models")
    args = parser.parse_args()

    started = time.perf_counter()
    ensure_tiny_models(args.models_dir)
    print(f"tiny models ready in {time.perf_counter() - started:.2f} s ({args.models_dir})")

    backend = TinyBackend(args.models_dir)
    with tempfile.TemporaryDirectory() as scratch:
        references = make_references(Path(scratch))
        seconds, cpu_seconds = [], []
        for take in range(args.takes):
            request = RenderRequest(prompt="a woman opens the door at night", references=references,
                                    seed=take, steps=args.steps)
            started, cpu_started = time.perf_counter(), time.process_time()
            result = backend.render(request, lambda step, total: None)
            seconds.append(time.perf_counter() - started)
            cpu_seconds.append(time.process_time() - cpu_started)
            print(f"take {take + 1}: {seconds[-1]:.2f} s wall, {cpu_seconds[-1]:.2f} s CPU  {result.frame_count} frames "
                  f"{result.provenance['rendered']['width']}x{result.provenance['rendered']['height']} "
                  f"{result.provenance['pipeline']}")

    if len(seconds) >= 2:
        print(f"cold (take 1) {seconds[0]:.2f} s vs warm (take 2) {seconds[1]:.2f} s wall "
              f"({seconds[0] / seconds[1]:.1f}x); CPU {cpu_seconds[0]:.2f} s vs {cpu_seconds[1]:.2f} s")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    stats = get_cache().stats()
    for (pipeline, folder, revision, device), loads in stats["loads"].items():
        print(f"loads: {loads}  {pipeline}  {Path(folder).name} @ {revision}  on {device}")
    print(f"total loads {stats['total_loads']} for {args.takes} takes; evictions {stats['evictions']}")


if __name__ == "__main__":
    main()
