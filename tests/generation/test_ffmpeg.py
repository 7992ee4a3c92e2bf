"""generation/ffmpeg.py: the binary is an explicit setting, probing is exact and the same for every
binary, the house encode has one definition, and ffmpeg's -progress output is parsed."""

from __future__ import annotations

import stat
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from generation import ffmpeg
from generation import stitch as stitch_module
from generation.ffmpeg import (
    BINARY_SETTING,
    HouseFormat,
    MediaError,
    binary_version,
    decode_frame_count,
    ffmpeg_binary,
    house_encode_args,
    parse_progress,
    probe,
    run_ffmpeg,
)
from generation.media import encode_frames
from generation.stitch import ClipSpan, build_concat_list, stitch, trim_clip

FMT = HouseFormat(width=160, height=90, fps=24)


def fake_ffmpeg(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fake = folder / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'ffmpeg version 0.0-fake Copyright'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake


# --- Which binary -------------------------------------------------------------------------------

def test_the_wheel_binary_is_the_default_even_with_an_ffmpeg_on_path(tmp_path, monkeypatch):
    fake = fake_ffmpeg(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.delenv(BINARY_SETTING, raising=False)

    assert ffmpeg_binary() == imageio_ffmpeg.get_ffmpeg_exe()


def test_system_means_the_ffmpeg_on_path(tmp_path, monkeypatch):
    fake = fake_ffmpeg(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.setenv(BINARY_SETTING, "system")

    assert ffmpeg_binary() == str(fake)
    assert binary_version(ffmpeg_binary()) == "0.0-fake"


def test_a_path_setting_names_the_binary_and_a_bad_one_is_a_clear_error(tmp_path, monkeypatch):
    fake = fake_ffmpeg(tmp_path / "bin")
    monkeypatch.setenv(BINARY_SETTING, str(fake))
    assert ffmpeg_binary() == str(fake)

    monkeypatch.setenv(BINARY_SETTING, str(tmp_path / "nowhere" / "ffmpeg"))
    with pytest.raises(MediaError, match="is not an executable file"):
        ffmpeg_binary()

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv(BINARY_SETTING, "system")
    with pytest.raises(MediaError, match="no ffmpeg on PATH"):
        ffmpeg_binary()


def test_every_run_uses_the_chosen_binary(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    fake = tmp_path / "logging-ffmpeg"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > '{marker}'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv(BINARY_SETTING, str(fake))

    run_ffmpeg(["-version"], timeout=10)

    assert marker.read_text().split() == ["-nostdin", "-hide_banner", "-y", "-version"]


# --- One house encode ---------------------------------------------------------------------------

def test_takes_and_trims_share_the_one_x264_parameter_set(tmp_path):
    house = house_encode_args(FMT, tmp_path / "out.mp4")
    x264 = house[house.index("-c:v"): house.index("-pix_fmt")]

    take_args = ffmpeg.encode_rgb_args(FMT, (160, 90), tmp_path / "out.mp4")
    trim_args = stitch_module._trim_args(ClipSpan(tmp_path / "in.mp4", 1, 3, 5), FMT, tmp_path / "out.mp4")

    assert x264 == ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-x264-params", "me=dia:subme=1"]
    assert take_args[-len(house):] == house
    assert trim_args[-len(house):] == house


# --- Probing and stitching give the same answers whichever binary wrote the file -----------------

def grey_frames(count: int):
    for index in range(count):
        yield np.full((FMT.height, FMT.width, 3), 10 * index, dtype=np.uint8)


@pytest.fixture(scope="module")
def takes(ffmpeg_choice, tmp_path_factory) -> list[Path]:
    """Three house-format takes of 5, 7 and 9 frames, encoded by the binary under test."""
    folder = tmp_path_factory.mktemp(f"takes-{ffmpeg_choice}")
    return [encode_frames(grey_frames(n), FMT, folder / f"take{n}.mp4").path for n in (5, 7, 9)]


def test_probe_reads_exact_rates_and_time_bases(takes):
    info = probe(takes[0])

    assert (info.frame_rate, info.time_base, info.duration) == (Fraction(24), Fraction(1, 24000), Fraction(5, 24))
    assert (info.fps, info.timescale, info.frame_count) == (24.0, 24000, 5)
    assert (info.codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", 160, 90)


def test_a_stitched_cut_is_exactly_24_fps_whichever_binary_stitched_it(takes, tmp_path):
    result = stitch([ClipSpan.whole(path, n) for path, n in zip(takes, (5, 7, 9))], FMT, tmp_path / "cut.mp4",
                    cache_dir=tmp_path / "cache")

    info = probe(result.path)
    assert (info.frame_rate, info.duration, info.frame_count) == (Fraction(24), Fraction(21, 24), 21)
    assert decode_frame_count(result.path) == 21


def test_a_trimmed_clip_probes_exactly(takes, tmp_path):
    out = trim_clip(ClipSpan(takes[2], 2, 8, 9), FMT, tmp_path / "trim.mp4")

    info = probe(out)
    assert (info.frame_rate, info.time_base, info.duration, info.frame_count) == (Fraction(24), Fraction(1, 24000), Fraction(6, 24), 6)


def test_concat_durations_never_drift_over_a_long_cut(tmp_path):
    # 5 frames at 24 fps is 208333.33 us: rounding each clip alone would lose a frame's timebase
    # tick after a few dozen clips; the running marks stay within half a microsecond.
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"x")
    workdir = tmp_path / "work"
    workdir.mkdir()
    spans = [ClipSpan.whole(clip, 5)] * 300

    text = build_concat_list(spans, workdir, [Fraction(5, 24)] * 300)

    microseconds = [int(line.split()[1].replace(".", "")) for line in text.splitlines() if line.startswith("duration ")]
    assert len(microseconds) == 300
    for count in range(1, 301):
        assert abs(Fraction(sum(microseconds[:count]), 1_000_000) - count * Fraction(5, 24)) <= Fraction(1, 2_000_000)


def test_probe_of_a_readable_container_without_video(tmp_path):
    audio = tmp_path / "tone.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=0.2", "-c:a", "aac", "-f", "mp4", str(audio)], timeout=60)

    with pytest.raises(MediaError, match="has no video stream"):
        probe(audio)


# --- Progress -------------------------------------------------------------------------------------

def test_parse_progress_reads_every_block_in_order():
    text = "frame=3\nfps=0.0\nout_time_us=125000\nprogress=continue\nframe=12\nout_time_us=500000\nprogress=end\n"

    blocks = parse_progress(text)

    assert [(b["frame"], b["progress"]) for b in blocks] == [("3", "continue"), ("12", "end")]
    assert blocks[1]["out_time_us"] == "500000"
    assert parse_progress("") == []
