"""Stitching takes into a cut: real ffmpeg on tiny house-format clips (160x90, a few frames)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from generation import stitch as stitch_module
from generation.media import HouseFormat, MediaError, decode_frame_count, probe, run_ffmpeg
from generation.stitch import ClipSpan, build_concat_list, check_house_format, stitch, trim_clip

pytestmark = pytest.mark.usefixtures("ffmpeg_choice")

FMT = HouseFormat(width=160, height=90, fps=24)
EVIL_NAME = "take 'one' \"two\"\n'; rm -rf ~ #.mp4"


def make_clip(path: Path, frames: int, *, size: str = "160x90", start_s: float = 0.0) -> Path:
    """A house-format clip from lavfi's testsrc2; start_s makes clips differ from one another."""
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=24",
            "-ss", f"{start_s}", "-frames:v", str(frames),
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-video_track_timescale", "24000", "-movflags", "+faststart", "-an",
            "-f", "mp4", str(path),
        ],
        timeout=60,
    )
    return path


@pytest.fixture(scope="module")
def clips(ffmpeg_choice, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "a": make_clip(folder / "a.mp4", 5, start_s=0),
        "b": make_clip(folder / "b.mp4", 7, start_s=10),
        "c": make_clip(folder / "c.mp4", 9, start_s=20),
    }


def whole(path: Path, frames: int) -> ClipSpan:
    return ClipSpan(path, 0, frames, frames)


def frame_hashes(path: Path) -> list[str]:
    completed = run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"], timeout=60)
    lines = completed.stdout.decode().splitlines()
    return [line.rsplit(",", 1)[1].strip() for line in lines if line and not line.startswith("#")]


def gray_frames(path: Path) -> np.ndarray:
    completed = run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "gray", "-"], timeout=60)
    return np.frombuffer(completed.stdout, dtype=np.uint8).reshape(-1, FMT.height, FMT.width).astype(np.int16)


def test_whole_clips_are_copied_into_one_house_format_file(clips, tmp_path):
    spans = [whole(clips["a"], 5), whole(clips["b"], 7), whole(clips["c"], 9)]

    result = stitch(spans, FMT, tmp_path / "cut.mp4", cache_dir=tmp_path / "cache")

    assert result.path == tmp_path / "cut.mp4"
    assert (result.frame_count, result.reencoded_spans) == (21, 0)
    assert result.duration_s == pytest.approx(21 / 24)
    assert decode_frame_count(result.path) == 21
    info = probe(result.path)
    assert (info.codec, info.pix_fmt, info.width, info.height, info.fps) == ("h264", "yuv420p", 160, 90, 24)
    assert info.timescale == FMT.timescale
    # A stream copy: every decoded frame is bit-identical to the takes', in order.
    expected = frame_hashes(clips["a"]) + frame_hashes(clips["b"]) + frame_hashes(clips["c"])
    assert frame_hashes(result.path) == expected


def test_trimmed_span_is_reencoded_frame_exact(clips, tmp_path):
    spans = [whole(clips["a"], 5), ClipSpan(clips["b"], 2, 6, 7), whole(clips["c"], 9)]

    result = stitch(spans, FMT, tmp_path / "cut.mp4", cache_dir=tmp_path / "cache")

    assert (result.frame_count, result.reencoded_spans) == (5 + 4 + 9, 1)
    assert decode_frame_count(result.path) == 18
    hashes = frame_hashes(result.path)
    assert hashes[:5] == frame_hashes(clips["a"])
    assert hashes[9:] == frame_hashes(clips["c"])
    # The four middle frames are b's frames 2..5: each is nearest to exactly that source frame.
    source, cut = gray_frames(clips["b"]), gray_frames(result.path)[5:9]
    nearest = [int(np.argmin([np.abs(frame - s).mean() for s in source])) for frame in cut]
    assert nearest == [2, 3, 4, 5]


def test_second_export_reuses_the_cached_trim(clips, tmp_path):
    spans = [whole(clips["a"], 5), ClipSpan(clips["b"], 2, 6, 7)]
    cache = tmp_path / "cache"
    first = stitch(spans, FMT, tmp_path / "one.mp4", cache_dir=cache)
    [cached_file] = list(cache.iterdir())
    mtime = cached_file.stat().st_mtime_ns

    second = stitch(spans, FMT, tmp_path / "two.mp4", cache_dir=cache)

    assert (first.reencoded_spans, first.cached_trims) == (1, 0)
    assert (second.reencoded_spans, second.cached_trims) == (0, 1)
    assert list(cache.iterdir()) == [cached_file]
    assert cached_file.stat().st_mtime_ns == mtime
    assert frame_hashes(tmp_path / "one.mp4") == frame_hashes(tmp_path / "two.mp4")


def test_a_different_trim_of_the_same_clip_gets_its_own_cache_entry(clips, tmp_path):
    cache = tmp_path / "cache"
    stitch([ClipSpan(clips["b"], 2, 6, 7)], FMT, tmp_path / "one.mp4", cache_dir=cache)
    result = stitch([ClipSpan(clips["b"], 1, 6, 7)], FMT, tmp_path / "two.mp4", cache_dir=cache)

    assert result.reencoded_spans == 1
    assert len(list(cache.iterdir())) == 2
    assert decode_frame_count(result.path) == 5


def test_trim_clip_writes_exactly_the_requested_frames(clips, tmp_path):
    out = trim_clip(ClipSpan(clips["c"], 3, 8, 9), FMT, tmp_path / "trims" / "t.mp4")

    assert decode_frame_count(out) == 5
    assert probe(out).timescale == FMT.timescale
    assert [p.name for p in out.parent.iterdir()] == ["t.mp4"]


def test_clip_of_another_size_is_rejected_by_name(clips, tmp_path):
    odd = make_clip(tmp_path / "odd size.mp4", 5, size="320x180")
    spans = [whole(clips["a"], 5), whole(odd, 5)]

    with pytest.raises(MediaError, match=r"clip 2 \(odd size\.mp4\) is 320x180") as caught:
        stitch(spans, FMT, tmp_path / "cut.mp4", cache_dir=tmp_path / "cache")

    assert "160x90" in str(caught.value)
    assert not (tmp_path / "cut.mp4").exists()


def test_trimmed_clip_of_another_size_is_rejected_before_encoding(clips, tmp_path):
    odd = make_clip(tmp_path / "odd.mp4", 5, size="320x180")
    spans = [whole(clips["a"], 5), ClipSpan(odd, 1, 4, 5)]

    with pytest.raises(MediaError, match=r"odd\.mp4 is 320x180"):
        stitch(spans, FMT, tmp_path / "cut.mp4", cache_dir=tmp_path / "cache")

    assert not (tmp_path / "cache").exists()
    assert not (tmp_path / "cut.mp4").exists()


def test_a_long_cut_names_the_odd_clip_by_its_place(clips, tmp_path):
    odd = make_clip(tmp_path / "odd.mp4", 5, size="320x180")
    good = [whole(clips["a"], 5), whole(clips["b"], 7), whole(clips["c"], 9)]

    result = stitch(good, FMT, tmp_path / "good.mp4", cache_dir=tmp_path / "cache")
    with pytest.raises(MediaError, match=r"clip 4 \(odd\.mp4\) is 320x180"):
        stitch([*good, whole(odd, 5)], FMT, tmp_path / "bad.mp4", cache_dir=tmp_path / "cache")

    assert decode_frame_count(result.path) == 21
    assert not (tmp_path / "bad.mp4").exists()


def test_a_clip_replaced_under_the_same_name_is_checked_again(clips, tmp_path):
    take = tmp_path / "take.mp4"
    shutil.copyfile(clips["a"], take)
    stitch([whole(take, 5)], FMT, tmp_path / "one.mp4", cache_dir=tmp_path / "cache")
    os.replace(make_clip(tmp_path / "odd.mp4", 5, size="320x180"), take)

    with pytest.raises(MediaError, match=r"clip 1 \(take\.mp4\) is 320x180"):
        stitch([whole(take, 5)], FMT, tmp_path / "two.mp4", cache_dir=tmp_path / "cache")


def test_check_house_format_accepts_house_clips(clips):
    check_house_format([clips["a"], clips["b"], clips["c"]], FMT)


def test_clip_at_another_frame_rate_is_rejected(clips):
    with pytest.raises(MediaError, match=r"clip 1 \(a\.mp4\) is 160x90 h264 yuv420p at 24 fps"):
        check_house_format([clips["a"]], HouseFormat(width=160, height=90, fps=25))


def test_concat_list_names_only_generated_files(clips, tmp_path):
    evil = tmp_path / EVIL_NAME
    evil.write_bytes(clips["b"].read_bytes())
    workdir = tmp_path / "work"
    workdir.mkdir()

    text = build_concat_list([whole(clips["a"], 5), whole(evil, 7)], workdir)

    assert text.splitlines() == ["ffconcat version 1.0", "file clip_0001.mp4", "file clip_0002.mp4"]
    assert (workdir / "clip_0002.mp4").read_bytes() == evil.read_bytes()


def test_stitch_handles_a_hostile_file_name(clips, tmp_path):
    evil = tmp_path / EVIL_NAME
    evil.write_bytes(clips["b"].read_bytes())

    result = stitch([whole(evil, 7), ClipSpan(evil, 1, 3, 7)], FMT, tmp_path / "cut.mp4", cache_dir=tmp_path / "c")

    assert decode_frame_count(result.path) == 9
    assert not (tmp_path / "~").exists()


def test_a_file_name_cannot_forge_the_format_check(clips, tmp_path):
    # ffmpeg echoes input names in the text the check parses; this name imitates a good header.
    forged = "x.mp4':\nInput #1, mov, from 'y':\n  Stream #1:0: Video: h264 (High), yuv420p, 160x90, 24 fps\n"
    odd = make_clip(tmp_path / "odd.mp4", 5, size="320x180")
    disguised = tmp_path / forged
    odd.rename(disguised)

    with pytest.raises(MediaError, match="320x180"):
        check_house_format([clips["a"], disguised], FMT)


def test_missing_clip_is_rejected(clips, tmp_path):
    missing = tmp_path / "gone.mp4"
    with pytest.raises(MediaError, match=r"clip 2 \(gone\.mp4\) does not exist"):
        build_concat_list([whole(clips["a"], 5), whole(missing, 5)], tmp_path)
    with pytest.raises(MediaError, match="gone.mp4"):
        stitch([whole(missing, 5)], FMT, tmp_path / "cut.mp4", cache_dir=tmp_path / "cache")


def test_concat_list_refuses_trimmed_spans(clips, tmp_path):
    with pytest.raises(ValueError, match="trim"):
        build_concat_list([ClipSpan(clips["a"], 1, 5, 5)], tmp_path)


def test_failing_ffmpeg_leaves_no_output(clips, tmp_path, monkeypatch):
    real_run = stitch_module.run_ffmpeg

    def fail_during_concat(args, **kwargs):
        if "concat" not in args:
            return real_run(args, **kwargs)
        Path(args[-1]).write_bytes(b"half a file")  # ffmpeg died mid-write
        raise MediaError("ffmpeg failed: simulated")

    monkeypatch.setattr(stitch_module, "run_ffmpeg", fail_during_concat)
    out = tmp_path / "out" / "cut.mp4"

    with pytest.raises(MediaError, match="simulated"):
        stitch([whole(clips["a"], 5), whole(clips["b"], 7)], FMT, out, cache_dir=tmp_path / "cache")

    assert list(out.parent.iterdir()) == []


def test_file_that_is_not_video_is_an_error_and_leaves_nothing(clips, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video\n")
    out = tmp_path / "out" / "cut.mp4"

    with pytest.raises(MediaError, match=r"clip 2 \(junk\.mp4\) cannot be read"):
        stitch([whole(clips["a"], 5), whole(junk, 5)], FMT, out, cache_dir=tmp_path / "cache")

    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_progress_is_reported_per_trim_and_for_the_copy(clips, tmp_path):
    seen = []
    spans = [ClipSpan(clips["a"], 1, 4, 5), whole(clips["b"], 7), ClipSpan(clips["c"], 0, 2, 9)]

    stitch(spans, FMT, tmp_path / "cut.mp4", cache_dir=tmp_path / "cache", on_progress=lambda s, t: seen.append((s, t)))

    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_output_replaces_an_earlier_export(clips, tmp_path):
    out = tmp_path / "exports" / "cut.mp4"
    out.parent.mkdir()
    out.write_bytes(b"old export")

    stitch([whole(clips["a"], 5)], FMT, out, cache_dir=tmp_path / "cache")

    assert decode_frame_count(out) == 5
    assert [p.name for p in out.parent.iterdir()] == ["cut.mp4"]


def test_empty_cut_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        stitch([], FMT, tmp_path / "cut.mp4", cache_dir=tmp_path)


@pytest.mark.parametrize("in_frame,out_frame", [(-1, 3), (3, 3), (4, 2), (0, 6)])
def test_span_must_lie_inside_the_clip(in_frame, out_frame):
    with pytest.raises(ValueError):
        ClipSpan(Path("x.mp4"), in_frame, out_frame, 5)
