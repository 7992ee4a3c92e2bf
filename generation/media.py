"""Encode frames to the house format and read media back (frames, images), through the one
ffmpeg layer (generation/ffmpeg.py).

The house format is what makes exports cheap: every take is encoded once to the same codec,
pixel format, size, frame rate and timebase, so a cut is a stream copy (see stitch.py).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

# The house format, errors, probing and running ffmpeg live in the ffmpeg layer; they are
# re-exported here (see __all__) because the rest of the studio has always called them media.X.
from generation.ffmpeg import (
    X264_CRF,
    X264_PARAMS,
    X264_PRESET,
    HouseFormat,
    MediaError,
    MediaInfo,
    decode_frame_count,
    encode_rgb_args,
    ffmpeg_binary,
    path_arg,
    probe,
    run_ffmpeg,
    run_ffmpeg_feeding,
    watermark_args,
)

__all__ = [
    "EncodedMedia", "encode_frames", "extract_frame", "read_frames_rgb", "read_image_rgb", "burn_watermark",
    "watermark_png",
    # re-exported from generation.ffmpeg
    "HouseFormat", "MediaError", "MediaInfo", "probe", "decode_frame_count", "run_ffmpeg", "ffmpeg_binary",
    "X264_PRESET", "X264_PARAMS", "X264_CRF",
]


@dataclass(frozen=True)
class EncodedMedia:
    path: Path
    frame_count: int
    duration_s: float


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
    written = 0

    def feed(stdin) -> bool:
        nonlocal written
        written, pipe_broke = _write_frames(stdin, first, frame_iter, frame_size)
        return not pipe_broke

    run_ffmpeg_feeding(encode_rgb_args(fmt, frame_size, temp_path), feed, timeout=timeout)
    return written


def _write_frames(stdin, first: np.ndarray, frame_iter: Iterator[np.ndarray], frame_size: tuple[int, int]) -> tuple[int, bool]:
    """Write every frame to ffmpeg's stdin; returns (frames written, whether ffmpeg went away)."""
    count = 0
    frame = first
    try:
        while frame is not None:
            stdin.write(np.ascontiguousarray(frame).data)
            count += 1
            frame = next(frame_iter, None)
            if frame is not None:
                _checked_frame_size(frame, index=count, expected=frame_size)
        stdin.close()
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
# Reading media back: frames and images
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
        "-i", path_arg(video_path),
        "-map", "0:v:0",
        "-vf", f"select=eq(n\\,{frame_index})",
        "-fps_mode", "passthrough",
        "-frames:v", "1",
        "-update", "1",
        *quality,
        path_arg(image_path),
    ]


def read_frames_rgb(video_path: Path, *, width: int, height: int, max_frames: int, timeout: float = 120) -> list[np.ndarray]:
    """The first `max_frames` frames of a video, scaled to `width` x `height`, as (H, W, 3) uint8
    arrays, in one ffmpeg pass (a region re-render keeps these outside the region)."""
    if width < 1 or height < 1 or max_frames < 1:
        raise MediaError(f"cannot read {max_frames} frames at {width}x{height}")
    completed = run_ffmpeg([
        "-loglevel", "error",
        "-i", path_arg(Path(video_path)),
        "-map", "0:v:0",
        "-frames:v", str(max_frames),
        "-vf", f"scale={width}:{height}:flags=bicubic",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ], timeout=timeout)
    frame_bytes = width * height * 3
    count = len(completed.stdout) // frame_bytes
    if count == 0:
        raise MediaError(f"{Path(video_path).name} has no video frames")
    pixels = np.frombuffer(completed.stdout[:count * frame_bytes], dtype=np.uint8).reshape(count, height, width, 3)
    return list(pixels)


def read_image_rgb(path: Path, max_side: int | None = None) -> np.ndarray:
    """An image file as an (H, W, 3) uint8 array, EXIF-rotated, optionally shrunk to `max_side`."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise MediaError(f"cannot read image {Path(path).name}: {exc}") from exc
    if max_side is not None and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(image)


# --------------------------------------------------------------------------------------------
# Watermark: a visible mark burnt into a cut that must not leave the studio (e.g. NOT CLEARED)

WATERMARK_RGBA = (220, 20, 20, 200)  # a red band across the middle, white text on it


def watermark_png(text: str, fmt: HouseFormat, path: Path) -> Path:
    """A transparent picture of the house size with a red band and `text` across its middle."""
    image = Image.new("RGBA", (fmt.width, fmt.height), (0, 0, 0, 0))
    band = max(12, fmt.height // 5)
    top = (fmt.height - band) // 2
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, top, fmt.width, top + band], fill=WATERMARK_RGBA)
    font = ImageFont.load_default(size=max(8, int(band * 0.6)))
    box = draw.textbbox((0, 0), text, font=font)
    x = (fmt.width - (box[2] - box[0])) // 2 - box[0]
    y = top + (band - (box[3] - box[1])) // 2 - box[1]
    draw.text((x, y), text, fill=(255, 255, 255, 255), font=font)
    image.save(path, format="PNG")
    return path


def burn_watermark(video_path: Path, output_path: Path, text: str, fmt: HouseFormat, *, timeout: float = 600) -> Path:
    """Re-encode `video_path` to `output_path` (house format) with `text` burnt in on every frame;
    written to a temporary name and renamed into place."""
    output_path = Path(output_path)
    temp_path = _temporary_sibling(output_path)
    overlay = output_path.with_name(f".{output_path.stem}.{uuid.uuid4().hex}.watermark.png")
    try:
        watermark_png(text, fmt, overlay)
        run_ffmpeg(watermark_args(fmt, Path(video_path), overlay, temp_path), timeout=timeout)
        os.replace(temp_path, output_path)
    finally:
        _remove_quietly(temp_path)
        _remove_quietly(overlay)
    return output_path
