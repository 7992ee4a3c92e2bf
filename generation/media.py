"""Encode frames to the house format and inspect media files, always through ffmpeg argument lists.

The house format is what makes exports cheap: every take is encoded once to the same codec,
pixel format, size, frame rate and timebase, so a cut is a stream copy (see stitch.py).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np


class MediaError(Exception):
    """ffmpeg failed or a media file is not what we expected; the message is shown to the user."""


@dataclass(frozen=True)
class HouseFormat:
    width: int = 1280
    height: int = 720
    fps: int = 24

    @property
    def timescale(self) -> int:
        # A fixed MP4 timebase for every take of a project, so concatenated files share it.
        return self.fps * 1000


@functools.lru_cache(maxsize=1)
def ffmpeg_binary() -> str:
    """ffmpeg from PATH, else the static binary that the imageio-ffmpeg wheel ships."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: list[str], *, timeout: float, input_bytes: bytes | None = None) -> subprocess.CompletedProcess:
    """Run ffmpeg with an argument list (never a shell), no stdin unless given, and a time limit."""
    command = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-y", *args]
    if input_bytes is not None:
        command.remove("-nostdin")
    try:
        completed = subprocess.run(
            command,
            input=input_bytes,
            stdin=None if input_bytes is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"ffmpeg took longer than {timeout:.0f} s and was stopped") from exc
    except OSError as exc:
        raise MediaError(f"ffmpeg could not be started: {exc}") from exc
    if completed.returncode != 0:
        tail = completed.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise MediaError("ffmpeg failed: " + " | ".join(tail))
    return completed


# --------------------------------------------------------------------------------------------
# Encoding frames to the house format
# --------------------------------------------------------------------------------------------

# veryfast with the cheapest motion search (diamond, subpel refinement 1) costs about a quarter
# less CPU than plain veryfast on animatic shots at the same or smaller size, which is what lets
# a 720p shot render and encode in half real time on two cores. crf 20 is visually clean for
# review. Every take uses the same settings, so takes can be concatenated by stream copy.
X264_PRESET = "veryfast"
X264_PARAMS = "me=dia:subme=1"
X264_CRF = 20


@dataclass(frozen=True)
class EncodedMedia:
    path: Path
    frame_count: int
    duration_s: float


@dataclass(frozen=True)
class MediaInfo:
    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    codec: str
    pix_fmt: str
    timescale: int


def encode_frames(
    frames: Iterable[np.ndarray],
    fmt: HouseFormat,
    output_path: Path,
    *,
    expected_frames: int | None = None,
    timeout: float = 600,
) -> EncodedMedia:
    """Pipe RGB frames (H, W, 3 uint8, one size per call) into ffmpeg and write a house-format MP4.

    The file appears under `output_path` only when everything succeeded. If the frame source
    raises (a failed or cancelled render), ffmpeg is killed, the partial file removed, and the
    source's own exception re-raised. `timeout` bounds the life of the ffmpeg process.
    """
    output_path = Path(output_path)
    temp_path = _temporary_sibling(output_path)
    frame_iter = iter(frames)
    try:
        count = _pipe_frames_to_ffmpeg(frame_iter, fmt, temp_path, timeout)
        if expected_frames is not None and count != expected_frames:
            raise MediaError(f"expected {expected_frames} frames but the render produced {count}")
        os.replace(temp_path, output_path)
    except BaseException:
        _close_quietly(frame_iter)
        _remove_quietly(temp_path)
        raise
    return EncodedMedia(path=output_path, frame_count=count, duration_s=count / fmt.fps)


def _pipe_frames_to_ffmpeg(frame_iter: Iterator[np.ndarray], fmt: HouseFormat, temp_path: Path, timeout: float) -> int:
    first = next(frame_iter, None)
    if first is None:
        raise MediaError("the render produced no frames")
    frame_size = _checked_frame_size(first, index=0, expected=None)
    command = _encode_command(fmt, frame_size, temp_path)
    # stderr goes to a file, not a pipe: a chatty ffmpeg can then never block on a full pipe.
    with tempfile.TemporaryFile() as stderr_file:
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr_file)
        except OSError as exc:
            raise MediaError(f"ffmpeg could not be started: {exc}") from exc
        timed_out = threading.Event()
        watchdog = threading.Timer(timeout, _expire, args=(process, timed_out))
        watchdog.daemon = True
        watchdog.start()
        try:
            count, pipe_broke = _write_frames(process, first, frame_iter, frame_size)
            returncode = process.wait()
        except BaseException:
            _kill(process)
            raise
        finally:
            watchdog.cancel()
        if timed_out.is_set():
            raise MediaError(f"ffmpeg took longer than {timeout:.0f} s and was stopped")
        if returncode != 0 or pipe_broke:
            raise MediaError("ffmpeg failed: " + _stderr_tail(stderr_file))
    return count


def _write_frames(process: subprocess.Popen, first: np.ndarray, frame_iter: Iterator[np.ndarray], frame_size: tuple[int, int]) -> tuple[int, bool]:
    """Write every frame to ffmpeg's stdin; returns (frames written, whether ffmpeg went away)."""
    count = 0
    frame = first
    try:
        while frame is not None:
            process.stdin.write(np.ascontiguousarray(frame).data)
            count += 1
            frame = next(frame_iter, None)
            if frame is not None:
                _checked_frame_size(frame, index=count, expected=frame_size)
        process.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        # ffmpeg exited early; its stderr says why. Stop the frame source too.
        _close_quietly(frame_iter)
        return count, True
    return count, False


def _checked_frame_size(frame: np.ndarray, *, index: int, expected: tuple[int, int] | None) -> tuple[int, int]:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise MediaError(f"frame {index} must be an (H, W, 3) uint8 array, got shape {shape} dtype {dtype}")
    size = (frame.shape[1], frame.shape[0])
    if expected is not None and size != expected:
        raise MediaError(f"frame {index} is {size[0]}x{size[1]} but earlier frames were {expected[0]}x{expected[1]}")
    return size


def _encode_command(fmt: HouseFormat, frame_size: tuple[int, int], output_path: Path) -> list[str]:
    """The ffmpeg argument list, built with ffmpeg-python: raw RGB in, letterboxed H.264 out."""
    import ffmpeg  # ffmpeg-python: only builds the argument list; we run the process ourselves

    width, height = frame_size
    stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=fmt.fps)
    # Keep the aspect ratio and letterbox to the house size; convert with the BT.709 matrix we tag.
    stream = stream.filter(
        "scale", fmt.width, fmt.height,
        force_original_aspect_ratio="decrease", force_divisible_by=2,
        out_color_matrix="bt709", out_range="tv",
    )
    stream = stream.filter("format", "yuv420p")
    stream = stream.filter("pad", fmt.width, fmt.height, "(ow-iw)/2", "(oh-ih)/2", color="black")
    stream = stream.filter("setsar", 1)
    # Tag the frames themselves: recent ffmpeg takes colour tags from frames, not only from options.
    stream = stream.filter("setparams", range="tv", color_primaries="bt709", color_trc="bt709", colorspace="bt709")
    stream = stream.output(
        _ffmpeg_path(output_path),
        format="mp4",
        vcodec="libx264",
        preset=X264_PRESET,
        crf=X264_CRF,
        **{"x264-params": X264_PARAMS},
        pix_fmt="yuv420p",
        r=fmt.fps,
        g=fmt.fps * 2,  # a keyframe every two seconds keeps review scrubbing snappy
        video_track_timescale=fmt.timescale,
        movflags="+faststart",
        colorspace="bt709",
        color_primaries="bt709",
        color_trc="bt709",
        an=None,
    )
    compiled = stream.compile(cmd=ffmpeg_binary())
    # Global options go first; ffmpeg-python would append them after the output name.
    return [compiled[0], "-hide_banner", "-loglevel", "error", "-nostats", "-y", *compiled[1:]]


def _ffmpeg_path(path: Path) -> str:
    # Absolute, so a name like "a:b.mp4" can never be read as an ffmpeg protocol prefix.
    return str(Path(path).absolute())


def _expire(process: subprocess.Popen, timed_out: threading.Event) -> None:
    timed_out.set()
    _kill(process)


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a kill that does not take is an OS problem
        pass
    if process.stdin and not process.stdin.closed:
        try:
            process.stdin.close()
        except OSError:
            pass


def _stderr_tail(stderr_file, lines: int = 5) -> str:
    stderr_file.seek(0)
    text = stderr_file.read().decode("utf-8", "replace").strip()
    tail = text.splitlines()[-lines:]
    return " | ".join(tail) if tail else "no error output"


def _temporary_sibling(path: Path) -> Path:
    """A hidden name next to `path` (same directory, so os.replace is atomic), same extension."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.partial{path.suffix}")


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _close_quietly(iterator) -> None:
    close = getattr(iterator, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:  # the source already failed or finished; its own error is the one that matters
        pass


# --------------------------------------------------------------------------------------------
# Reading media back: frames, probing, images
# --------------------------------------------------------------------------------------------

def extract_frame(
    video_path: Path,
    image_path: Path,
    *,
    frame_index: int | None = None,
    last: bool = False,
    timeout: float = 60,
) -> Path:
    """Write one frame as PNG/JPEG (by `image_path`'s extension), atomically.

    Default is the middle frame (a poster); `last=True` gives the last frame (continuity for the
    next shot); `frame_index` picks an exact frame.
    """
    video_path, image_path = Path(video_path), Path(image_path)
    if frame_index is None:
        frame_count = probe(video_path, timeout=timeout).frame_count
        if frame_count < 1:
            raise MediaError(f"{video_path.name} has no video frames")
        frame_index = frame_count - 1 if last else frame_count // 2
    if frame_index < 0:
        raise MediaError(f"frame index must not be negative, got {frame_index}")
    temp_path = _temporary_sibling(image_path)
    try:
        run_ffmpeg(_extract_args(video_path, temp_path, frame_index), timeout=timeout)
        if not temp_path.exists() or temp_path.stat().st_size == 0:
            raise MediaError(f"{video_path.name} has no frame {frame_index}")
        os.replace(temp_path, image_path)
    except BaseException:
        _remove_quietly(temp_path)
        raise
    return image_path


def _extract_args(video_path: Path, image_path: Path, frame_index: int) -> list[str]:
    quality = ["-q:v", "2"] if image_path.suffix.lower() in (".jpg", ".jpeg") else []
    return [
        "-loglevel", "error",
        "-i", _ffmpeg_path(video_path),
        "-map", "0:v:0",
        "-vf", f"select=eq(n\\,{frame_index})",
        "-fps_mode", "passthrough",
        "-frames:v", "1",
        "-update", "1",
        *quality,
        _ffmpeg_path(image_path),
    ]


_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO_RE = re.compile(r"Stream #0:\d+\S*: Video: (\w+)[^,\n]*, (\w+)[^\n]*?, (\d+)x(\d+)[^\n]*")
_FPS_RE = re.compile(r", ([\d.]+)(k?) fps")
_TBN_RE = re.compile(r", ([\d.]+)(k?) tbn")
_PROGRESS_FRAME_RE = re.compile(r"^frame=(\d+)\s*$", re.MULTILINE)


def probe(path: Path, *, timeout: float = 60) -> MediaInfo:
    """Describe the first video stream. imageio-ffmpeg ships no ffprobe, so read `ffmpeg -i`
    and count frames by stream-copying to the null muxer (no decoding, so it is fast)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path} does not exist")
    completed = run_ffmpeg(_count_args(path, decode=False), timeout=timeout)
    stderr = completed.stderr.decode("utf-8", "replace")
    input_section = stderr.split("Output #0", 1)[0]
    video = _VIDEO_RE.search(input_section)
    if video is None:
        raise MediaError(f"{path.name} has no video stream")
    stream_line = video.group(0)
    frame_count = _progress_frame_count(completed.stdout)
    fps = _number_with_k(_FPS_RE.search(stream_line))
    duration = _duration_seconds(input_section)
    return MediaInfo(
        width=int(video.group(3)),
        height=int(video.group(4)),
        fps=fps,
        frame_count=frame_count,
        duration_s=duration if duration is not None else (frame_count / fps if fps else 0.0),
        codec=video.group(1),
        pix_fmt=video.group(2),
        timescale=int(_number_with_k(_TBN_RE.search(stream_line))),
    )


def decode_frame_count(path: Path, *, timeout: float = 120) -> int:
    """Frames that really decode (slower than probe's packet count; proves a file is whole)."""
    completed = run_ffmpeg(_count_args(Path(path), decode=True), timeout=timeout)
    return _progress_frame_count(completed.stdout)


def _count_args(path: Path, *, decode: bool) -> list[str]:
    codec = [] if decode else ["-c", "copy"]
    return ["-i", _ffmpeg_path(path), "-map", "0:v:0", *codec, "-f", "null", "-progress", "pipe:1", "-nostats", "-"]


def _progress_frame_count(stdout: bytes) -> int:
    counts = _PROGRESS_FRAME_RE.findall(stdout.decode("utf-8", "replace"))
    return int(counts[-1]) if counts else 0


def _number_with_k(match: re.Match | None) -> float:
    if match is None:
        return 0.0
    value = float(match.group(1))
    return value * 1000 if match.group(2) == "k" else value


def _duration_seconds(text: str) -> float | None:
    match = _DURATION_RE.search(text)
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def read_image_rgb(path: Path, max_side: int | None = None) -> np.ndarray:
    """An image file as an (H, W, 3) uint8 array, EXIF-rotated, optionally shrunk to `max_side`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise MediaError(f"cannot read image {Path(path).name}: {exc}") from exc
    if max_side is not None and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(image)
