"""Editorial export: timelines written by our code and read back by OpenTimelineIO's own adapters."""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import opentimelineio as otio
import pytest
from opentimelineio.opentime import RationalTime, TimeRange

from generation.timeline import (
    AlternateTake,
    TimelineClip,
    build_timeline,
    provenance_manifest,
    unknown_rights,
    write_manifest,
    write_timeline,
)

FPS = 24


def shot_clip(folder: Path, shot_code: str, take: int, in_frame: int, out_frame: int, frames: int = 48, **kw) -> TimelineClip:
    return TimelineClip(
        name=kw.pop("name", f"{shot_code} take {take}"),
        shot_code=shot_code,
        take_number=take,
        media_path=folder / f"{shot_code} take {take}.mp4",
        fps=FPS,
        in_frame=in_frame,
        out_frame=out_frame,
        available_frames=frames,
        metadata={
            "prompt": f"{shot_code}: Anna boards the night ferry",
            "cast": ("anna", "ferry"),
            "backend": "animatic",
            "model": "animatic-v1",
            "seed": 1234,
            "take_id": 100 + take,
        },
        **kw,
    )


@pytest.fixture
def media_dir(tmp_path) -> Path:
    folder = tmp_path / "export" / "media"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def edit(media_dir) -> list[TimelineClip]:
    return [
        shot_clip(media_dir, "SC01_SH010", 3, 0, 48, alternates=[
            AlternateTake(1, media_dir / "SC01_SH010 take 1.mp4", 40, {"take_id": 101, "seed": 7}),
            AlternateTake(2, media_dir / "SC01_SH010 take 2.mp4", 44, {"take_id": 102}),
        ]),
        shot_clip(media_dir, "SC01_SH020", 1, 12, 36),
        shot_clip(media_dir, "SC01_SH030", 2, 5, 29, frames=30),
    ]


def test_otio_round_trip_keeps_names_ranges_metadata_and_alternates(edit, tmp_path):
    path = write_timeline(build_timeline("Night Ferry cut 1", FPS, edit), tmp_path / "cut.otio", "otio")

    timeline = otio.adapters.read_from_file(str(path))
    clips = list(timeline.find_clips())

    assert timeline.name == "Night Ferry cut 1"
    assert [c.name for c in clips] == ["SC01_SH010 take 3", "SC01_SH020 take 1", "SC01_SH030 take 2"]
    assert [c.source_range for c in clips] == [
        TimeRange(RationalTime(0, FPS), RationalTime(48, FPS)),
        TimeRange(RationalTime(12, FPS), RationalTime(24, FPS)),
        TimeRange(RationalTime(5, FPS), RationalTime(24, FPS)),
    ]
    first = clips[0]
    assert first.available_range() == TimeRange(RationalTime(0, FPS), RationalTime(48, FPS))
    assert first.media_reference.target_url == (edit[0].media_path.resolve()).as_uri()
    assert first.active_media_reference_key == "take_3"
    assert sorted(first.media_references()) == ["take_1", "take_2", "take_3"]
    assert first.media_references()["take_1"].available_range.duration == RationalTime(40, FPS)
    ours = first.metadata["continuity"]
    assert (ours["shot_code"], ours["take_number"], ours["seed"], ours["take_id"]) == ("SC01_SH010", 3, 1234, 103)
    assert ours["prompt"] == "SC01_SH010: Anna boards the night ferry"
    assert list(ours["cast"]) == ["anna", "ferry"]
    assert (ours["backend"], ours["model"]) == ("animatic", "animatic-v1")
    assert [(a["take_number"], a["take_id"], a["frames"]) for a in ours["alternates"]] == [(1, 101, 40), (2, 102, 44)]
    assert list(clips[1].media_references()) == ["take_1"]
    assert timeline.duration() == RationalTime(48 + 24 + 24, FPS)


def test_relative_media_urls_resolve_next_to_the_timeline(edit, media_dir):
    export = media_dir.parent
    timeline = build_timeline("cut", FPS, edit, relative_to=export)

    urls = [clip.media_reference.target_url for clip in timeline.find_clips()]

    assert urls[0] == "media/SC01_SH010%20take%203.mp4"
    assert all(not url.startswith(("/", "file:")) for url in urls)
    assert (export / unquote(urls[1])) == edit[1].media_path


def test_edl_round_trip_gives_events_with_source_timecodes(edit, tmp_path):
    path = write_timeline(build_timeline("Night Ferry", FPS, edit), tmp_path / "cut.edl", "edl")

    timeline = otio.adapters.read_from_file(str(path), "cmx_3600", rate=FPS)
    clips = list(timeline.find_clips())

    assert len(clips) == 3
    assert [(c.source_range.start_time.to_timecode(), c.source_range.end_time_exclusive().to_timecode()) for c in clips] == [
        ("00:00:00:00", "00:00:02:00"),
        ("00:00:00:12", "00:00:01:12"),
        ("00:00:00:05", "00:00:01:05"),
    ]
    events = [line for line in path.read_text().splitlines() if re.match(r"^\d{3}  ", line)]
    assert len(events) == 3
    assert events[1].split()[4:6] == ["00:00:00:12", "00:00:01:12"]  # source in / out
    assert events[1].split()[6:8] == ["00:00:02:00", "00:00:03:00"]  # record in / out


def test_edl_reels_are_short_unique_and_name_the_active_take(edit, tmp_path):
    path = write_timeline(build_timeline("Night Ferry", FPS, edit), tmp_path / "cut.edl", "edl")

    reels = [line[5:13] for line in path.read_text().splitlines() if re.match(r"^\d{3}  ", line)]
    text = path.read_text()

    assert all(len(reel.rstrip()) <= 8 and re.fullmatch(r"[A-Z0-9]+ *", reel) for reel in reels)
    assert len(set(reels)) == 3  # the shot codes share their first 8 characters
    assert "SC01_SH010%20take%203.mp4" in text
    assert "take%201.mp4" not in text.split("SC01_SH020")[0]  # alternates stay out of the EDL


def test_edl_reels_stay_unique_when_shortened_names_collide(media_dir, tmp_path):
    clips = [shot_clip(media_dir, code, 1, 0, 24) for code in ("ALPHA_SH0010", "BETA_SH0010", "GAMMA_SH0010")]
    path = write_timeline(build_timeline("cut", FPS, clips), tmp_path / "cut.edl", "edl")

    reels = [line[5:13] for line in path.read_text().splitlines() if re.match(r"^\d{3}  ", line)]

    assert reels[0] == "SH0010T1"
    assert len(set(reels)) == 3 and all(len(r.rstrip()) <= 8 for r in reels)
    timeline = otio.adapters.read_from_file(str(path), "cmx_3600", rate=FPS)
    assert len(list(timeline.find_clips())) == 3


def test_edl_clip_names_cannot_forge_lines(media_dir, tmp_path):
    clip = shot_clip(media_dir, "SH010", 1, 0, 24, name="evil\n002  BL V C 00:00:00:00")
    path = write_timeline(build_timeline("cut", FPS, [clip]), tmp_path / "cut.edl", "edl")

    events = [line for line in path.read_text().splitlines() if re.match(r"^\d{3}  ", line)]

    assert len(events) == 1


def test_fcp_xml_is_valid_xml_that_the_fcp_adapter_reads_back(edit, tmp_path):
    path = write_timeline(build_timeline("Night Ferry", FPS, edit), tmp_path / "cut.xml", "fcpxml")

    root = ET.parse(path).getroot()
    timeline = otio.adapters.read_from_file(str(path), "fcp_xml")
    clips = list(timeline.find_clips())

    assert root.tag == "xmeml"
    assert len(root.findall(".//sequence/media/video/track/clipitem")) == 3
    assert [c.name for c in clips] == [c.name for c in edit]
    assert [(c.source_range.start_time.value, c.source_range.duration.value) for c in clips] == [(0, 48), (12, 24), (5, 24)]
    assert clips[0].media_reference.target_url == edit[0].media_path.resolve().as_uri()


def test_writing_leaves_no_temporary_files_and_refuses_unknown_formats(edit, tmp_path):
    out = tmp_path / "exports"
    timeline = build_timeline("cut", FPS, edit)
    for fmt, name in (("otio", "cut.otio"), ("edl", "cut.edl"), ("fcpxml", "cut.xml")):
        write_timeline(timeline, out / name, fmt)

    assert sorted(p.name for p in out.iterdir()) == ["cut.edl", "cut.otio", "cut.xml"]
    with pytest.raises(ValueError, match="aaf"):
        write_timeline(timeline, out / "cut.aaf", "aaf")
    # Writing the EDL works on a copy: the timeline keeps its alternates.
    assert len(next(iter(timeline.find_clips())).media_references()) == 3


def test_clip_ranges_and_frame_rates_are_checked(media_dir):
    with pytest.raises(ValueError, match="inside"):
        shot_clip(media_dir, "SH010", 1, 10, 60)
    with pytest.raises(ValueError, match="25 fps"):
        build_timeline("cut", 25, [shot_clip(media_dir, "SH010", 1, 0, 24)])


# ---------------------------------------------------------------------------------------------
# Provenance


@pytest.fixture
def entries(tmp_path) -> list[dict]:
    anna = tmp_path / "anna.png"
    anna.write_bytes(b"anna's face")
    return [
        {
            "shot_code": "SH010", "take_id": 103, "take_number": 3, "frames": 48,
            "backend": "wan", "model": "Wan2.1-VACE-1.3B", "revision": "abc123", "seed": 1234,
            "prompt": "Anna boards the ferry",
            "references": [
                {"handle": "anna", "path": str(anna), "rights_status": "owned"},
                {"handle": "ferry", "path": "/nowhere/ferry.png", "sha256": "f" * 64, "rights_status": "unknown"},
            ],
        },
        {
            "shot_code": "SH020", "take_id": 201, "take_number": 1, "frames": 24,
            "backend": "animatic", "model": "animatic", "revision": "", "seed": 7, "prompt": "The ferry leaves",
            "references": [
                {"handle": "ferry", "path": "/nowhere/ferry.png", "sha256": "f" * 64, "rights_status": "unknown"},
                {"handle": "dock", "path": "/nowhere/dock.png", "sha256": "d" * 64},
            ],
        },
    ]


def test_manifest_lists_what_made_every_take(entries, tmp_path):
    manifest = provenance_manifest("Cut 1", "Night Ferry", entries)

    assert (manifest["project"], manifest["cut"]) == ("Night Ferry", "Cut 1")
    first = manifest["entries"][0]
    assert {k: first[k] for k in ("backend", "model", "revision", "seed", "prompt", "take_id", "take_number", "shot_code", "frames")} == {
        "backend": "wan", "model": "Wan2.1-VACE-1.3B", "revision": "abc123", "seed": 1234,
        "prompt": "Anna boards the ferry", "take_id": 103, "take_number": 3, "shot_code": "SH010", "frames": 48,
    }
    anna = first["references"][0]
    assert anna["sha256"] == hashlib.sha256(b"anna's face").hexdigest()  # computed from the file
    assert anna["rights_status"] == "owned"
    assert manifest["entries"][1]["references"][1]["rights_status"] == "unknown"  # missing means unknown


def test_unknown_rights_are_listed_once_per_image_with_their_shots(entries):
    found = unknown_rights(entries)

    assert [(item["handle"], item["shots"]) for item in found] == [("ferry", ["SH010", "SH020"]), ("dock", ["SH020"])]
    assert found[0]["sha256"] == "f" * 64


def test_manifest_warns_about_unknown_rights(entries):
    warnings = provenance_manifest("Cut 1", "Night Ferry", entries)["warnings"]

    assert len(warnings) == 2
    assert "ferry" in warnings[0] and "SH010, SH020" in warnings[0] and "unknown rights" in warnings[0]
    assert "dock" in warnings[1]


def test_no_warnings_when_every_right_is_known(entries):
    for entry in entries:
        for reference in entry["references"]:
            reference["rights_status"] = "licensed"

    assert unknown_rights(entries) == []
    assert provenance_manifest("Cut 1", "Night Ferry", entries)["warnings"] == []


def test_manifest_file_is_sorted_indented_json(entries, tmp_path):
    manifest = provenance_manifest("Cut 1", "Night Ferry", entries)
    path = write_manifest(manifest, tmp_path / "out" / "provenance.json")

    text = path.read_text()

    assert json.loads(text) == manifest
    assert text == json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert [p.name for p in path.parent.iterdir()] == ["provenance.json"]
