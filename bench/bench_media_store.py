"""What media on S3 and NOT CLEARED drafts cost (issue 17, items 6 and 7).

    python bench/bench_media_store.py [--refs 20 --ref-kb 300 --takes 8 --seconds 2 --size 640x360 --repeat 3]

(1) Reference images on an S3-compatible server (moto's, started here on a free port):
    (a) floor: boto3 get_object of each image, read whole (what any download costs)
    (b) media_store.local_reference, cold cache: download + sha256 check + atomic rename
    (c) media_store.local_reference, warm cache: what every later render on that worker pays
(2) An internal draft's watermark: a NOT CLEARED MP4 is a stitch (stream copy) plus one re-encode
    with the band burnt in; the floor is the plain stitch of the same takes in the same run.
Prints medians of --repeat runs; wall seconds (the machine may be shared: see `uptime`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench._env import throwaway_storage  # noqa: E402

BUCKET = "bench-media"


def main() -> None:
    args = parse_args()
    with throwaway_storage("bench-media-store-") as scratch:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        os.environ.update({"CONTINUITY_MEDIA_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": BUCKET,
                           "AWS_S3_ENDPOINT_URL": f"http://{host}:{port}", "AWS_S3_ADDRESSING_STYLE": "path",
                           "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_S3_REGION_NAME": "us-east-1",
                           "CONTINUITY_MEDIA_CACHE": str(scratch / "cache")})
        import django

        django.setup()
        try:
            references = bench_references(args, scratch)
            watermark = bench_watermark(args, scratch)
        finally:
            server.stop()
    report(args, references, watermark)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refs", type=int, default=20)
    parser.add_argument("--ref-kb", type=int, default=300)
    parser.add_argument("--takes", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    return parser.parse_args()


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def bench_references(args, scratch: Path) -> dict[str, float]:
    import boto3
    from django.conf import settings

    from studio import media_store

    client = boto3.client("s3", endpoint_url=settings.AWS_S3_ENDPOINT_URL, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
    client.create_bucket(Bucket=BUCKET)
    images = []
    for index in range(args.refs):
        data = os.urandom(args.ref_kb * 1024)
        name = f"projects/1/cast/{index}/{index:04d}.png"
        client.put_object(Bucket=BUCKET, Key=name, Body=data)
        images.append((name, hashlib.sha256(data).hexdigest()))
    floor, cold, warm = [], [], []
    for run in range(args.repeat):
        settings.CONTINUITY_MEDIA_CACHE = scratch / f"cache-{run}"  # a worker that has never fetched them
        floor.append(timed(lambda: [client.get_object(Bucket=BUCKET, Key=name)["Body"].read() for name, _ in images]))
        cold.append(timed(lambda: [media_store.local_reference(name, sha) for name, sha in images]))
        warm.append(timed(lambda: [media_store.local_reference(name, sha) for name, sha in images]))
    return {"floor": statistics.median(floor), "cold": statistics.median(cold), "warm": statistics.median(warm)}


def bench_watermark(args, scratch: Path) -> dict[str, float]:
    from generation.media import HouseFormat, burn_watermark, run_ffmpeg
    from generation.stitch import ClipSpan, stitch

    width, height = (int(v) for v in args.size.lower().split("x"))
    fmt = HouseFormat(width=width, height=height, fps=args.fps)
    frames = args.seconds * args.fps
    takes = []
    for index in range(args.takes):
        path = scratch / f"take-{index}.mp4"
        run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={args.fps}:duration={args.seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-r", str(args.fps),
                    "-video_track_timescale", str(fmt.timescale), "-an", "-f", "mp4", str(path)], timeout=300)
        takes.append(ClipSpan(path=path, in_frame=0, out_frame=frames, total_frames=frames))
    plain, marked = [], []
    with tempfile.TemporaryDirectory(dir=scratch) as work:
        work = Path(work)
        for run in range(args.repeat):
            plain.append(timed(lambda: stitch(takes, fmt, work / f"plain-{run}.mp4", cache_dir=work / "trims", timeout=600)))

            def draft():
                stitch(takes, fmt, work / f"stitched-{run}.mp4", cache_dir=work / "trims", timeout=600)
                burn_watermark(work / f"stitched-{run}.mp4", work / f"draft-{run}.mp4", "NOT CLEARED", fmt, timeout=600)

            marked.append(timed(draft))
    return {"plain": statistics.median(plain), "marked": statistics.median(marked)}


def report(args, references: dict[str, float], watermark: dict[str, float]) -> None:
    print(f"load average at the end: {os.getloadavg()}")
    print(f"(1) {args.refs} reference images of {args.ref_kb} KB on moto's S3 server, median of {args.repeat}:")
    print(f"    (a) floor, boto3 get_object: {references['floor']:.3f} s")
    print(f"    (b) local_reference, cold:   {references['cold']:.3f} s  (b/a {references['cold'] / references['floor']:.2f})")
    print(f"    (c) local_reference, warm:   {references['warm']:.4f} s  (c/a {references['warm'] / references['floor']:.4f})")
    print(f"(2) {args.takes} takes x {args.seconds} s at {args.size}, median of {args.repeat}:")
    print(f"    plain stitch (floor): {watermark['plain']:.3f} s")
    print(f"    NOT CLEARED draft:    {watermark['marked']:.3f} s  (x{watermark['marked'] / watermark['plain']:.1f} the stitch)")


if __name__ == "__main__":
    main()
