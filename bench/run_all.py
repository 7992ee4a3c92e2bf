"""Run every bench/bench_*.py one after the other and print what each said.

    python bench/run_all.py [--only export,animatic] [--timeout 900]

Each script runs in its own process with the same Python, from the repository root, under a
time limit; a script that fails or runs out of time is reported and the others still run. The exit
status is 1 if any script failed. Benches compete for the CPU, so they never run in parallel.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_TIMEOUT_S = 900  # the export bench re-encodes 100 s of 720p once: minutes on two cores


def bench_scripts(only: set[str] | None) -> list[Path]:
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in only or s.stem in only]
    return scripts


def run_one(script: Path, timeout_s: float) -> tuple[str, float]:
    """Run one bench, streaming its output. Returns (outcome, seconds)."""
    started = time.monotonic()
    try:
        completed = subprocess.run([sys.executable, str(script)], cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                   timeout=timeout_s, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        outcome = "ok" if completed.returncode == 0 else f"failed (exit {completed.returncode})"
    except subprocess.TimeoutExpired:
        outcome = f"timed out after {timeout_s:.0f} s"
    return outcome, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated names, e.g. export,rerender_economy")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per script")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None

    outcomes = []
    for script in bench_scripts(only):
        print(f"\n=== {script.name} ===", flush=True)
        outcome, seconds = run_one(script, args.timeout)
        outcomes.append((script.name, outcome, seconds))
        print(f"--- {script.name}: {outcome} in {seconds:.0f} s", flush=True)

    print("\n=== summary ===")
    for name, outcome, seconds in outcomes:
        print(f"{name:<32} {outcome:<28} {seconds:>6.0f} s")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    sys.exit(0 if all(outcome == "ok" for _, outcome, _ in outcomes) else 1)


if __name__ == "__main__":
    main()
