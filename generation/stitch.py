"""Concatenate takes into a cut with ffmpeg's concat demuxer and stream copy.

Every take is already in the house format (see media.py), so a cut is a copy of compressed
packets, not an encode: seconds for a feature-length previs instead of minutes.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable

from generation.ffmpeg import (
    HOUSE_CODEC,
    HOUSE_PIX_FMT,
    HouseFormat,
    MediaError,
    MediaInfo,
    NoVideoStream,
    house_encode_args,
    path_arg,
    probe,
    run_ffmpeg,
)

# on_progress(step, total_steps): one step per trim that has to be encoded, one for the concat.
ProgressCallback = Callable[[int, int], None]

PROBE_THREADS = min(8, os.cpu_count() or 1)  # clip headers read at once before a copy


@dataclass(frozen=True)
class ClipSpan:
    """The part of a take used in the cut: frames in_frame..out_frame (out exclusive)."""

    path: Path
    in_frame: int
    out_frame: int
    total_frames: int

    def __post_init__(self) -> None:
        if not 0 <= self.in_frame < self.out_frame <= self.total_frames:
            raise ValueError(
                f"span {self.in_frame}..{self.out_frame} must lie inside the clip's "
                f"{self.total_frames} frames and be at least one frame long"
            )

    @property
    def frame_count(self) -> int:
        return self.out_frame - self.in_frame

    @property
    def is_trimmed(self) -> bool:
        return self.in_frame != 0 or self.out_frame != self.total_frames

    @classmethod
    def whole(cls, path: Path, total_frames: int) -> "ClipSpan":
        return cls(Path(path), 0, total_frames, total_frames)


@dataclass(frozen=True)
class StitchResult:
    path: Path
    frame_count: int
    duration_s: float
    reencoded_spans: int  # trims encoded by this call; trims found in the cache are not counted
    cached_trims: int = 0  # trims reused from cache_dir


def stitch(
    spans: Iterable[ClipSpan],
    fmt: HouseFormat,
    output_path: Path,
    *,
    cache_dir: Path,
    timeout: float = 600,
    on_progress: ProgressCallback | None = None,
) -> StitchResult:
    """Write the spans, in order, to `output_path` as one house-format MP4.

    Untrimmed spans are copied packet for packet. Trimmed spans are re-encoded once into
    `cache_dir` (see trim_clip) and then copied like the rest. `timeout` bounds each ffmpeg run.
    The output appears only when everything succeeded; nothing is left behind on failure.
    """
    spans = list(spans)
    if not spans:
        raise ValueError("a cut needs at least one clip")
    output_path = Path(output_path)
    sources = [Path(span.path) for span in spans]
    _require_files(sources, clip_labels(sources))

    total_steps = sum(span.is_trimmed for span in spans) + 1
    copyable, encoded, cached = _replace_trims(spans, fmt, Path(cache_dir), timeout, on_progress, total_steps)
    # The copy checks every clip's format first, so a clip in another format is named, not copied.
    _concat_by_copy(copyable, fmt, output_path, timeout=timeout, labels=clip_labels(sources))
    _report(on_progress, total_steps, total_steps)
    frames = sum(span.frame_count for span in spans)
    return StitchResult(output_path, frames, frames / fmt.fps, reencoded_spans=encoded, cached_trims=cached)


def _replace_trims(
    spans: list[ClipSpan], fmt: HouseFormat, cache_dir: Path, timeout: float,
    on_progress: ProgressCallback | None, total_steps: int,
) -> tuple[list[ClipSpan], int, int]:
    """Swap each trimmed span for its whole trimmed clip; returns (spans, encoded now, from cache)."""
    copyable: list[ClipSpan] = []
    encoded = cached = 0
    for span in spans:
        if span.is_trimmed:
            trimmed, was_encoded = cached_trim(span, fmt, cache_dir, timeout=timeout)
            encoded += was_encoded
            cached += not was_encoded
            _report(on_progress, encoded + cached, total_steps)
            span = ClipSpan.whole(trimmed, span.frame_count)
        copyable.append(span)
    return copyable, encoded, cached


def _report(on_progress: ProgressCallback | None, step: int, total: int) -> None:
    if on_progress is not None:
        on_progress(step, total)


# ---------------------------------------------------------------------------------------------
# The concat list and the copy


def build_concat_list(spans: Iterable[ClipSpan], workdir: Path, durations: list[Fraction] | None = None) -> str:
    """The ffconcat text for `spans`, after linking each source into `workdir` as clip_0001.mp4...

    The list names only files we generated, never a path a user could influence, so no quoting,
    newline or "'; rm -rf" in a file name can ever change what ffmpeg reads. That also lets the
    concat demuxer keep its default safe mode (plain relative names only).

    `durations` (exact seconds per clip) become `duration` lines. Without them the demuxer starts
    each clip where the previous file's container duration ends, which ffmpeg before 7 rounds up
    to the millisecond: every join then gains a gap of a fraction of a frame (a 24 fps cut reads
    as 23.97 fps). They are written as cumulative microsecond marks, so rounding never adds up.
    """
    workdir = Path(workdir)
    lines = ["ffconcat version 1.0"]
    marks = _microsecond_steps(durations) if durations is not None else None
    for number, span in enumerate(spans, start=1):
        if span.is_trimmed:
            raise ValueError("stream copy cannot cut at arbitrary frames: trim the span with trim_clip first")
        source = Path(span.path)
        if not source.is_file():
            raise MediaError(f"clip {number} ({source.name}) does not exist")
        name = f"clip_{number:04d}.mp4"
        _link_or_copy(source, workdir / name)
        lines.append(f"file {name}")
        if marks is not None:
            lines.append(f"duration {marks[number - 1] // 1_000_000}.{marks[number - 1] % 1_000_000:06d}")
    return "\n".join(lines) + "\n"


def _microsecond_steps(durations: list[Fraction]) -> list[int]:
    """Each duration in whole microseconds (the concat demuxer's unit), chosen so that every
    clip's start, the running sum, stays within half a microsecond of the exact start."""
    steps, exact_end, written_end = [], Fraction(0), 0
    for duration in durations:
        exact_end += duration
        end = round(exact_end * 1_000_000)
        steps.append(end - written_end)
        written_end = end
    return steps


def _link_or_copy(source: Path, target: Path) -> None:
    # A hard link costs nothing and survives the source being renamed meanwhile; across file
    # systems fall back to a symlink, and where those are not allowed, to a copy.
    try:
        os.link(source, target)
        return
    except OSError:
        pass
    try:
        os.symlink(source.resolve(), target)
    except OSError:
        shutil.copyfile(source, target)


def _concat_by_copy(
    spans: list[ClipSpan], fmt: HouseFormat, output_path: Path, *, timeout: float, labels: list[str]
) -> None:
    """Copy `spans` into `output_path`; `labels` name the user's clips in error messages."""
    clips = _read_clips([Path(span.path) for span in spans], labels, timeout)
    _require_house_format([_stream_format(info) for info in clips], labels, fmt)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    # The workdir sits next to the output so the final rename is atomic (same file system).
    workdir = Path(tempfile.mkdtemp(prefix=".stitch-", dir=output_path.parent))
    try:
        list_path = workdir / "list.ffconcat"
        list_path.write_text(build_concat_list(spans, workdir, [info.duration for info in clips]), encoding="utf-8")
        temp_output = workdir / "out.tmp.mp4"
        run_ffmpeg(_concat_args(list_path, temp_output, fmt), timeout=timeout)
        os.replace(temp_output, output_path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _concat_args(list_path: Path, output: Path, fmt: HouseFormat) -> list[str]:
    return [
        "-f", "concat", "-i", path_arg(list_path),
        "-map", "0:v:0", "-c", "copy",
        "-video_track_timescale", str(fmt.timescale),
        "-movflags", "+faststart",
        "-f", "mp4", path_arg(output),
    ]


# ---------------------------------------------------------------------------------------------
# Trims
#
# Stream copy can only start a clip on a keyframe: H.264 frames in between depend on earlier
# ones, so the concat demuxer's inpoint/outpoint either drag in extra frames or leave frames that
# cannot be decoded. A trimmed span is therefore re-encoded once, frame-exact, into a short
# house-format clip with the same encoder settings as every take, cached by (source, in, out),
# and then copied like an untrimmed take. Only the trimmed shots pay for an encode, and only the
# first time they are exported.


def trim_clip(span: ClipSpan, fmt: HouseFormat, output_path: Path, *, timeout: float = 600) -> Path:
    """Encode frames in_frame..out_frame of `span.path` into a house-format clip at `output_path`."""
    output_path = Path(output_path)
    label = [Path(span.path).name]
    _require_files([span.path], label)
    _require_house_format(read_stream_formats([span.path], timeout=timeout, labels=label), label, fmt)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    temp_path = output_path.with_name(f".{output_path.stem}.{uuid.uuid4().hex}.tmp.mp4")
    try:
        run_ffmpeg(_trim_args(span, fmt, temp_path), timeout=timeout)
        frames = probe(temp_path, timeout=timeout).frame_count
        if frames != span.frame_count:
            raise MediaError(f"trimming {Path(span.path).name} gave {frames} frames instead of {span.frame_count}")
        os.replace(temp_path, output_path)
    finally:
        temp_path.unlink(missing_ok=True)
    return output_path


def _trim_args(span: ClipSpan, fmt: HouseFormat, output: Path) -> list[str]:
    # The house encode settings of every take, so the trimmed clip's H.264 headers match the
    # takes it is concatenated with.
    return [
        "-f", "mp4", "-i", path_arg(span.path),
        "-map", "0:v:0",
        "-vf", f"trim=start_frame={span.in_frame}:end_frame={span.out_frame},setpts=PTS-STARTPTS",
        *house_encode_args(fmt, output),
    ]


def cached_trim(span: ClipSpan, fmt: HouseFormat, cache_dir: Path, *, timeout: float = 600) -> tuple[Path, bool]:
    """(path of the trimmed clip, whether it had to be encoded now rather than found in the cache)."""
    cached = Path(cache_dir) / f"trim_{trim_cache_key(span, fmt)}.mp4"
    if cached.is_file():
        return cached, False
    return trim_clip(span, fmt, cached, timeout=timeout), True


def trim_cache_key(span: ClipSpan, fmt: HouseFormat) -> str:
    # Size and mtime guard against a file replaced under the same name (takes should be immutable,
    # but a stale trim in a cut would be silent and wrong).
    source = Path(span.path).resolve()
    stat = source.stat()
    identity = f"{source}\0{stat.st_size}\0{stat.st_mtime_ns}\0{span.in_frame}\0{span.out_frame}\0{fmt}"
    return hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:24]


# ---------------------------------------------------------------------------------------------
# House-format check: each clip's header, read by the one probe (generation/ffmpeg.py)


@dataclass(frozen=True)
class StreamFormat:
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: Fraction

    def describe(self) -> str:
        return f"{self.width}x{self.height} {self.codec} {self.pix_fmt} at {float(self.fps):g} fps"


def check_house_format(paths: list[Path], fmt: HouseFormat, *, timeout: float = 60) -> None:
    """Raise MediaError naming the first clip that is missing or not in the house format."""
    labels = clip_labels(paths)
    _require_files(paths, labels)
    _require_house_format(read_stream_formats(paths, timeout=timeout, labels=labels), labels, fmt)


def clip_labels(paths: list[Path]) -> list[str]:
    """How error messages name the clips of a cut: "clip 2 (SH020 take 3.mp4)"."""
    return [f"clip {number} ({Path(path).name})" for number, path in enumerate(paths, start=1)]


def _require_files(paths: list[Path], labels: list[str]) -> None:
    for path, label in zip(paths, labels):
        if not Path(path).is_file():
            raise MediaError(f"{label} does not exist")


def _require_house_format(formats: list[StreamFormat | None], labels: list[str], fmt: HouseFormat) -> None:
    expected = StreamFormat(HOUSE_CODEC, HOUSE_PIX_FMT, fmt.width, fmt.height, Fraction(fmt.fps))
    for label, found in zip(labels, formats):
        if found != expected:
            found_text = found.describe() if found else "no video stream"
            raise MediaError(
                f"{label} is {found_text}, but this cut needs {expected.describe()}; "
                "re-render the take in the project's house format"
            )


def read_stream_formats(
    paths: list[Path], *, timeout: float = 60, labels: list[str] | None = None
) -> list[StreamFormat | None]:
    """The first video stream's format of each file (None where there is no video stream)."""
    labels = labels or clip_labels(paths)
    return [_stream_format(info) for info in _read_clips(paths, labels, timeout)]


def _read_clips(paths: list[Path], labels: list[str], timeout: float) -> list[MediaInfo | None]:
    """Probe the clips in-process, a few at a time (libavformat releases the GIL while it reads a
    header, and reading one decodes its first frames); errors name the first bad clip by label."""
    def read(path: Path, label: str) -> MediaInfo | None:
        try:
            return _probe_unchanged(*_file_identity(path), timeout=timeout)
        except NoVideoStream:
            return None
        except MediaError as exc:
            raise MediaError(f"{label} cannot be read as an MP4 video ({exc})") from exc

    with ThreadPoolExecutor(max_workers=PROBE_THREADS) as pool:
        return list(pool.map(read, paths, labels))


def _file_identity(path: Path) -> tuple[str, int, int]:
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return str(resolved), stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=4096)
def _probe_unchanged(path: str, size: int, mtime_ns: int, *, timeout: float) -> MediaInfo:
    # Opening a clip decodes its first frame (about 2 ms at 720p): a long cut exported again
    # and again by the same worker reads each take's header once. Takes are immutable; size and
    # mtime guard against a file replaced under the same name, as in trim_cache_key.
    return probe(Path(path), timeout=timeout)


def _stream_format(info: MediaInfo | None) -> StreamFormat | None:
    if info is None:
        return None
    return StreamFormat(codec=info.codec, pix_fmt=info.pix_fmt, width=info.width, height=info.height, fps=info.frame_rate)
