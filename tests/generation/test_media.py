"""generation.media against the real ffmpeg binary: encode, probe, decode, extract, and failures."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from generation.media import (
    EncodedMedia,
    HouseFormat,
    MediaError,
    decode_frame_count,
    encode_frames,
    extract_frame,
    probe,
    read_image_rgb,
)

pytestmark = pytest.mark.usefixtures("ffmpeg_choice")

SMALL = HouseFormat(width=320, height=180, fps=24)


def coloured_frames(count: int, width: int = 320, height: int = 180):
    """Frame i is a flat grey whose level encodes i, with a white bar on the left quarter."""
    for index in range(count):
        frame = np.full((height, width, 3), 20 + 15 * index, dtype=np.uint8)
        frame[:, : width // 4] = 255
        yield frame


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def clip(tmp_path) -> Path:
    path = tmp_path / "clip.mp4"
    encode_frames(coloured_frames(12), SMALL, path, expected_frames=12)
    return path


def test_encode_writes_house_format_h264(tmp_path):
    path = tmp_path / "take.mp4"

    result = encode_frames(coloured_frames(12), SMALL, path, expected_frames=12)

    assert result == EncodedMedia(path=path, frame_count=12, duration_s=pytest.approx(0.5))
    info = probe(path)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height) == (320, 180)
    assert info.fps == pytest.approx(24.0)
    assert info.timescale == SMALL.timescale == 24000
    assert info.frame_count == 12
    assert info.duration_s == pytest.approx(0.5, abs=0.05)
    assert leftovers(tmp_path) == ["take.mp4"]  # no temp file left beside it


def test_decode_frame_count_matches_frames_written(clip):
    assert decode_frame_count(clip) == 12


def test_other_sizes_are_letterboxed_to_the_house_size(tmp_path):
    path = tmp_path / "square.mp4"
    white_square = (np.full((100, 100, 3), 255, dtype=np.uint8) for _ in range(6))

    encode_frames(white_square, SMALL, path)

    info = probe(path)
    assert (info.width, info.height) == (320, 180)
    still = read_image_rgb(extract_frame(path, tmp_path / "still.png", frame_index=0))
    assert still.shape == (180, 320, 3)
    assert still[90, 160].min() > 230  # the square, scaled to full height, fills the centre
    assert still[90, 10].max() < 25  # black pillarbox bars at the sides
    assert still[90, 310].max() < 25


def test_a_failing_frame_source_leaves_nothing_and_reraises(tmp_path):
    class Boom(Exception):
        pass

    def failing_source():
        yield from coloured_frames(5)
        raise Boom("render died")

    with pytest.raises(Boom, match="render died"):
        encode_frames(failing_source(), SMALL, tmp_path / "take.mp4")

    assert leftovers(tmp_path) == []


def test_an_existing_file_is_not_touched_when_encoding_fails(tmp_path):
    path = tmp_path / "take.mp4"
    path.write_bytes(b"the take a reviewer saw")

    def failing_source():
        yield from coloured_frames(2)
        raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError):
        encode_frames(failing_source(), SMALL, path)

    assert path.read_bytes() == b"the take a reviewer saw"
    assert leftovers(tmp_path) == ["take.mp4"]


def test_frames_of_changing_size_are_refused(tmp_path):
    def changing():
        yield np.zeros((180, 320, 3), dtype=np.uint8)
        yield np.zeros((90, 160, 3), dtype=np.uint8)

    with pytest.raises(MediaError, match="160x90"):
        encode_frames(changing(), SMALL, tmp_path / "take.mp4")
    assert leftovers(tmp_path) == []


def test_wrong_frame_type_and_empty_source_are_refused(tmp_path):
    with pytest.raises(MediaError, match="uint8"):
        encode_frames([np.zeros((180, 320, 3), dtype=np.float32)], SMALL, tmp_path / "a.mp4")
    with pytest.raises(MediaError, match="no frames"):
        encode_frames(iter(()), SMALL, tmp_path / "b.mp4")
    assert leftovers(tmp_path) == []


def test_a_frame_count_other_than_expected_is_an_error(tmp_path):
    with pytest.raises(MediaError, match="expected 12 frames"):
        encode_frames(coloured_frames(10), SMALL, tmp_path / "take.mp4", expected_frames=12)
    assert leftovers(tmp_path) == []


def test_ffmpeg_failure_raises_media_error_with_its_message(tmp_path, monkeypatch):
    fake = tmp_path / "fake-ffmpeg"
    fake.write_text("#!/bin/sh\necho 'Unknown encoder libx264' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CONTINUITY_FFMPEG", str(fake))
    output_dir = tmp_path / "out"
    output_dir.mkdir()

    with pytest.raises(MediaError, match="Unknown encoder libx264"):
        encode_frames(coloured_frames(24), SMALL, output_dir / "take.mp4")
    assert leftovers(output_dir) == []


def test_unwritable_output_directory_raises_media_error(tmp_path):
    missing_dir = tmp_path / "no" / "such" / "dir"
    with pytest.raises(MediaError, match="ffmpeg failed"):
        encode_frames(coloured_frames(3), SMALL, missing_dir / "take.mp4")


def test_ffmpeg_that_hangs_is_stopped_by_the_timeout(tmp_path, monkeypatch):
    fake = tmp_path / "slow-ffmpeg"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CONTINUITY_FFMPEG", str(fake))

    with pytest.raises(MediaError, match="longer than"):
        encode_frames(coloured_frames(200), SMALL, tmp_path / "take.mp4", timeout=0.5)
    assert leftovers(tmp_path) == ["slow-ffmpeg"]


def test_extract_frame_defaults_to_the_middle_frame(clip, tmp_path):
    poster = extract_frame(clip, tmp_path / "poster.png")

    pixels = read_image_rgb(poster)
    assert pixels.shape == (180, 320, 3)
    # Frame 6 of coloured_frames is grey level 20 + 15 * 6 = 110 (give or take H.264 and YUV).
    assert abs(int(pixels[90, 240].mean()) - 110) <= 6


def test_extract_last_frame_and_exact_index(clip, tmp_path):
    last = read_image_rgb(extract_frame(clip, tmp_path / "last.jpg", last=True))
    first = read_image_rgb(extract_frame(clip, tmp_path / "first.png", frame_index=0))

    assert abs(int(last[90, 240].mean()) - (20 + 15 * 11)) <= 6
    assert abs(int(first[90, 240].mean()) - 20) <= 6
    assert sorted(p.suffix for p in tmp_path.iterdir() if p.name != "clip.mp4") == [".jpg", ".png"]


def test_extract_frame_beyond_the_end_fails_without_leaving_a_file(clip, tmp_path):
    with pytest.raises(MediaError):
        extract_frame(clip, tmp_path / "nothing.png", frame_index=500)
    assert not (tmp_path / "nothing.png").exists()
    assert leftovers(tmp_path) == ["clip.mp4"]


def test_probe_rejects_missing_and_non_video_files(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        probe(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video")
    with pytest.raises(MediaError):
        probe(junk)


def test_read_image_rgb_converts_and_shrinks(tmp_path):
    from PIL import Image

    Image.new("RGBA", (400, 200), (10, 200, 30, 128)).save(tmp_path / "card.png")

    pixels = read_image_rgb(tmp_path / "card.png", max_side=100)

    assert pixels.shape == (50, 100, 3)
    assert pixels.dtype == np.uint8
    with pytest.raises(MediaError, match="broken.png"):
        (tmp_path / "broken.png").write_bytes(b"not a png")
        read_image_rgb(tmp_path / "broken.png")


def test_a_burnt_in_watermark_keeps_the_house_format_and_every_frame(clip, tmp_path):
    from generation.media import burn_watermark

    out = burn_watermark(clip, tmp_path / "marked.mp4", "NOT CLEARED", SMALL, timeout=60)

    before, after = probe(clip), probe(out)
    assert (after.width, after.height, after.frame_count, after.codec, after.pix_fmt, after.timescale) == \
        (before.width, before.height, before.frame_count, "h264", "yuv420p", SMALL.timescale)
    marked = read_video_frame(out, 3)
    band, above = marked[SMALL.height // 2, SMALL.width // 2 + 60], marked[10, SMALL.width // 2 + 60]
    assert band[0] > 150 and band[1] < 90, band  # the red band across the middle
    assert abs(int(above[0]) - int(above[1])) < 20  # grey, as encoded, outside it
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != clip.name) == ["marked.mp4"]  # no leftovers


def read_video_frame(path: Path, index: int) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == index:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"{path.name} has no frame {index}")
