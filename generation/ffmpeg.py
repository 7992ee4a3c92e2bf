"""The one ffmpeg layer: which binary runs, argument lists, the house encode arguments, probing,
timeouts and progress parsing. Everything else in the engine drives ffmpeg through here.

Which binary is an explicit engine setting, never an accident of PATH (CONTINUITY_FFMPEG):
  bundled   the static ffmpeg that the imageio-ffmpeg wheel ships (the default)
  system    the ffmpeg found on PATH (e.g. Debian's /usr/bin/ffmpeg)
  /a/path   that executable
Probing does not depend on the choice: it reads the container with PyAV (libavformat bound
in-process), so every install reads the same exact rational frame rates and time bases, the
wheel that ships no ffprobe included, and no text that a file name could forge is ever parsed.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Callable

import imageio_ffmpeg

BINARY_SETTING = "CONTINUITY_FFMPEG"
BUNDLED, SYSTEM = "bundled", "system"


class MediaError(Exception):
    """ffmpeg failed or a media file is not what we expected; the message is shown to the user."""


class NoVideoStream(MediaError):
    """The file is a readable container without a video stream."""


@dataclass(frozen=True)
class HouseFormat:
    width: int = 1280
    height: int = 720
    fps: int = 24

    @property
    def timescale(self) -> int:
        # A fixed MP4 timebase for every take of a project, so concatenated files share it.
        return self.fps * 1000


# --------------------------------------------------------------------------------------------
# Which ffmpeg


def binary_choice() -> str:
    """The CONTINUITY_FFMPEG setting as given: "bundled" (default), "system" or a path."""
    return os.environ.get(BINARY_SETTING, "").strip() or BUNDLED


def ffmpeg_binary() -> str:
    """The ffmpeg executable the setting names; MediaError when it cannot be found. Resolved on
    every call (microseconds next to starting ffmpeg), so a changed setting or PATH takes effect."""
    choice = binary_choice()
    if choice == BUNDLED:
        return imageio_ffmpeg.get_ffmpeg_exe()
    if choice == SYSTEM:
        found = shutil.which("ffmpeg")
        if found is None:
            raise MediaError(f"{BINARY_SETTING}=system but there is no ffmpeg on PATH")
        return found
    if not (os.path.isfile(choice) and os.access(choice, os.X_OK)):
        raise MediaError(f"{BINARY_SETTING}={choice} is not an executable file")
    return choice


@functools.lru_cache(maxsize=8)
def binary_version(binary: str) -> str:
    """The version ffmpeg reports for itself ("5.1.9-0+deb12u1", "n9.0.2-..."), for the system check."""
    try:
        completed = subprocess.run([binary, "-hide_banner", "-version"], stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MediaError(f"{binary} -version could not run: {exc}") from exc
    match = re.match(rb"ffmpeg version (\S+)", completed.stdout)
    if completed.returncode != 0 or match is None:
        raise MediaError(f"{binary} -version did not report an ffmpeg version")
    return match.group(1).decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# Running it: argument lists only, no stdin unless fed, always a time limit


def path_arg(path: Path) -> str:
    # Absolute, so a name like "a:b.mp4" can never be read as an ffmpeg protocol prefix.
    return str(Path(path).absolute())


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


def run_ffmpeg_feeding(args: list[str], feed: Callable[[IO[bytes]], bool], *, timeout: float) -> None:
    """Run ffmpeg reading stdin, which `feed(stdin)` writes; `feed` returns False when ffmpeg went
    away early (a broken pipe). A watchdog kills ffmpeg after `timeout` seconds. If `feed` raises,
    ffmpeg is killed and the exception propagates."""
    command = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostats", "-y", *args]
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
            fed_all = feed(process.stdin)
            returncode = process.wait()
        except BaseException:
            _kill(process)
            raise
        finally:
            watchdog.cancel()
        if timed_out.is_set():
            raise MediaError(f"ffmpeg took longer than {timeout:.0f} s and was stopped")
        if returncode != 0 or not fed_all:
            raise MediaError("ffmpeg failed: " + _stderr_tail(stderr_file))


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


# --------------------------------------------------------------------------------------------
# The house encode: one definition of the x264 settings, for takes and for trims alike

# veryfast with the cheapest motion search (diamond, subpel refinement 1) costs about a quarter
# less CPU than plain veryfast on animatic shots at the same or smaller size, which is what lets
# a 720p shot render and encode in half real time on two cores. crf 20 is visually clean for
# review. Every take and every trim uses the same settings, so they concatenate by stream copy.
X264_PRESET = "veryfast"
X264_PARAMS = "me=dia:subme=1"
X264_CRF = 20
HOUSE_CODEC = "h264"
HOUSE_PIX_FMT = "yuv420p"


def house_encode_args(fmt: HouseFormat, output_path: Path) -> list[str]:
    """The output half of every house-format encode: H.264 yuv420p, BT.709 tags, the project's
    frame rate and timebase, no audio, an MP4 with its index in front."""
    return [
        "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF), "-x264-params", X264_PARAMS,
        "-pix_fmt", HOUSE_PIX_FMT, "-r", str(fmt.fps),
        "-g", str(fmt.fps * 2),  # a keyframe every two seconds keeps review scrubbing snappy
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-video_track_timescale", str(fmt.timescale),
        "-movflags", "+faststart", "-an",
        "-f", "mp4", path_arg(output_path),
    ]


def letterbox_filter(fmt: HouseFormat) -> str:
    """Keep the aspect ratio and letterbox to the house size, converting with the BT.709 matrix we
    tag; the frames carry the tags too, since recent ffmpeg takes colour tags from frames."""
    return ",".join([
        f"scale={fmt.width}:{fmt.height}:force_original_aspect_ratio=decrease:force_divisible_by=2"
        ":out_color_matrix=bt709:out_range=tv",
        f"format={HOUSE_PIX_FMT}",
        f"pad={fmt.width}:{fmt.height}:(ow-iw)/2:(oh-ih)/2:color=black",
        "setsar=1",
        "setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709",
    ])


def encode_rgb_args(fmt: HouseFormat, frame_size: tuple[int, int], output_path: Path) -> list[str]:
    """Raw RGB frames of `frame_size` on stdin in, a letterboxed house-format MP4 out."""
    width, height = frame_size
    return [
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(fmt.fps), "-i", "pipe:",
        "-vf", letterbox_filter(fmt),
        *house_encode_args(fmt, output_path),
    ]


def watermark_args(fmt: HouseFormat, video_path: Path, overlay_png: Path, output_path: Path) -> list[str]:
    """A house-format video with a full-frame RGBA picture (the watermark) burnt onto every frame,
    re-encoded with the house settings."""
    return [
        "-f", "mp4", "-i", path_arg(video_path), "-loop", "1", "-i", path_arg(overlay_png),
        "-filter_complex", "[0:v:0][1:v]overlay=0:0:shortest=1:format=auto,"
        "setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709[v]",
        "-map", "[v]",
        *house_encode_args(fmt, output_path),
    ]


# --------------------------------------------------------------------------------------------
# Probing: the one parser


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
    frame_rate: Fraction  # exact: 24, 25, 30000/1001...
    time_base: Fraction  # exact: 1/24000 for a 24 fps house take
    duration: Fraction  # exact seconds, in the stream's own time base


def probe(path: Path, *, timeout: float = 60) -> MediaInfo:
    """Describe the first video stream of an MP4 (opened as MP4 whatever its bytes claim, so a
    playlist can never make us read other files), exactly: rates and time bases as fractions."""
    import av  # lazy: PyAV's libraries cost every web process ~27 MiB; only probing needs them

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path} does not exist")
    try:
        with av.open(str(path), format="mp4", timeout=timeout) as container:
            if not container.streams.video:
                raise NoVideoStream(f"{path.name} has no video stream")
            return _describe(container, container.streams.video[0])
    except av.FFmpegError as exc:
        raise MediaError(f"{path.name} cannot be read as an MP4 video ({exc})") from exc


def _describe(container, stream) -> MediaInfo:
    import av  # lazy: see probe

    context = stream.codec_context
    time_base = Fraction(stream.time_base) if stream.time_base else Fraction(0)
    frame_rate = Fraction(stream.average_rate or stream.base_rate or 0)
    # The MP4 index counts the samples; counting packets is the fallback for an index-less file.
    frame_count = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
    if stream.duration and time_base:
        duration = stream.duration * time_base
    elif container.duration:
        duration = Fraction(container.duration, av.time_base)
    else:
        duration = frame_count / frame_rate if frame_rate else Fraction(0)
    return MediaInfo(
        width=context.width,
        height=context.height,
        fps=float(frame_rate),
        frame_count=frame_count,
        duration_s=float(duration),
        codec=context.name,
        pix_fmt=context.pix_fmt or "",
        timescale=round(1 / time_base) if time_base else 0,
        frame_rate=frame_rate,
        time_base=time_base,
        duration=duration,
    )


# --------------------------------------------------------------------------------------------
# Progress: ffmpeg's "-progress" output, key=value lines in blocks that end with progress=...

def progress_args() -> list[str]:
    return ["-progress", "pipe:1", "-nostats"]


def parse_progress(text: str) -> list[dict[str, str]]:
    """Each block of `-progress` output as a dict, in order (the last one has progress=end)."""
    blocks, current = [], {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        current[key.strip()] = value.strip()
        if key.strip() == "progress":
            blocks.append(current)
            current = {}
    return blocks


def decode_frame_count(path: Path, *, timeout: float = 120) -> int:
    """Frames that really decode (slower than probe's count; proves a file is whole)."""
    completed = run_ffmpeg(["-i", path_arg(path), "-map", "0:v:0", "-f", "null", *progress_args(), "-"], timeout=timeout)
    blocks = parse_progress(completed.stdout.decode("utf-8", "replace"))
    return int(blocks[-1].get("frame", 0)) if blocks else 0
