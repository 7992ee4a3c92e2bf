"""Editorial export: timelines written by our code and read back by OpenTimelineIO's own adapters."""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from urllib.parse import unquote

import opentimelineio as otio
import pytest
from opentimelineio.opentime import RationalTime, TimeRange

from generation.timeline import (
    AlternateTake,
    TimelineClip,
    TimelineMarker,
    build_timeline,
    provenance_manifest,
    unknown_rights,
    write_bundle,
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

    cut_track = timeline.video_tracks()[0]
    chosen = list(cut_track.find_clips())

    assert root.tag == "xmeml"
    # The cut is V1; alternates ride on tracks above it (test_fcp_xml_carries_alternates_...).
    assert len(root.findall(".//sequence/media/video/track")[0].findall("clipitem")) == 3
    assert [c.name for c in chosen] == [c.name for c in edit]
    assert [(c.source_range.start_time.value, c.source_range.duration.value) for c in chosen] == [(0, 48), (12, 24), (5, 24)]
    assert chosen[0].media_reference.target_url == edit[0].media_path.resolve().as_uri()
    assert len(clips) == 3 + 2  # the cut's three clips and SC01_SH010's two alternates


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
# Alternates and comments in FCP 7 XML and OTIO; bundles with their media


@pytest.fixture
def reviewed_edit(media_dir) -> list[TimelineClip]:
    """The same edit with real files on disk (bundles copy them) and review comments on two takes."""
    clips = [
        shot_clip(media_dir, "SC01_SH010", 3, 0, 48, alternates=[
            AlternateTake(1, media_dir / "SC01_SH010 take 1.mp4", 40, {"take_id": 101}),
            AlternateTake(2, media_dir / "SC01_SH010 take 2.mp4", 44, {"take_id": 102}),
        ], markers=[TimelineMarker(10, "carol: hold longer", "hold longer on the rope"),
                    TimelineMarker(47, "bob: cut here", "cut here")]),
        shot_clip(media_dir, "SC01_SH020", 1, 12, 36, markers=[
            TimelineMarker(5, "outside the trim", "before the in point"),
            TimelineMarker(20, "alice: colour", "warmer"),
        ]),
        shot_clip(media_dir, "SC01_SH030", 2, 5, 29, frames=30),
    ]
    for clip in clips:
        for path in [clip.media_path, *(alt.media_path for alt in clip.alternates)]:
            path.write_bytes(f"video of {path.name}".encode())
    return clips


def test_otio_keeps_comments_as_markers_at_their_frames(reviewed_edit):
    timeline = build_timeline("cut", FPS, reviewed_edit)
    clips = list(timeline.find_clips())

    first = [(m.name, m.marked_range.start_time, m.comment) for m in clips[0].markers]
    assert first == [("carol: hold longer", RationalTime(10, FPS), "hold longer on the rope"),
                     ("bob: cut here", RationalTime(47, FPS), "cut here")]
    # A comment outside the clip's trim would sit on footage the cut does not play.
    assert [m.name for m in clips[1].markers] == ["alice: colour"]
    assert list(clips[2].markers) == []


def test_fcp_xml_carries_alternates_on_disabled_tracks_and_comments_as_markers(reviewed_edit, tmp_path):
    path = write_timeline(build_timeline("Night Ferry", FPS, reviewed_edit), tmp_path / "cut.xml", "fcpxml")

    root = ET.parse(path).getroot()
    tracks = root.findall(".//sequence/media/video/track")
    timeline = otio.adapters.read_from_file(str(path), "fcp_xml")
    read_tracks = timeline.video_tracks()

    assert len(tracks) == 3  # the cut, then one track per alternate of the shot with the most
    cut_items = tracks[0].findall("clipitem")
    assert [item.findtext("name") for item in cut_items] == [c.name for c in reviewed_edit]
    alternates = [item for track in tracks[1:] for item in track.findall("clipitem")]
    assert [item.findtext("name") for item in alternates] == ["SC01_SH010 T1 (alternate)", "SC01_SH010 T2 (alternate)"]
    assert [item.findtext("enabled") for item in alternates] == ["FALSE", "FALSE"]
    assert [unquote(item.find("file/pathurl").text).endswith(name) for item, name in
            zip(alternates, ("SC01_SH010 take 1.mp4", "SC01_SH010 take 2.mp4"))] == [True, True]
    # Lined up under the clip they could replace, trimmed to their own length (take 1 has 40 frames).
    alt_clips = [list(track.find_clips())[0] for track in read_tracks[1:]]
    assert [c.range_in_parent().start_time.value for c in alt_clips] == [0, 0]
    assert [c.source_range.duration.value for c in alt_clips] == [40, 44]
    markers = [(m.findtext("name"), m.findtext("in"), m.findtext("comment")) for m in cut_items[0].findall("marker")]
    assert markers == [("carol: hold longer", "10", "hold longer on the rope"), ("bob: cut here", "47", "cut here")]
    assert [m.name for m in list(read_tracks[0].find_clips())[1].markers] == ["alice: colour"]


def _resolves_inside(url: str, names: set[str]) -> bool:
    return not url.startswith(("/", "file:")) and unquote(url) in names


def test_otioz_opens_with_otio_and_every_media_reference_resolves_inside_it(reviewed_edit, tmp_path):
    manifest = {"format": "continuity-provenance/1", "cut": "Cut 1"}
    path = write_bundle("Night Ferry", FPS, reviewed_edit, tmp_path / "out" / "cut.otioz", "otioz", manifest=manifest)

    timeline = otio.adapters.read_from_file(str(path))
    with zipfile.ZipFile(path) as bundle:
        names = set(bundle.namelist())
        contents = {name: bundle.read(name) for name in names}
    clips = list(timeline.find_clips())
    references = [ref for clip in clips for ref in clip.media_references().values()]

    assert len(clips) == 3 and len(references) == 5  # three takes in the cut, two alternates
    assert all(_resolves_inside(ref.target_url, names) for ref in references)
    assert [clip.name for clip in clips] == ["SC01_SH010_T3", "SC01_SH020_T1", "SC01_SH030_T2"]
    assert [Path(unquote(clip.media_reference.target_url)).stem for clip in clips] == [clip.name for clip in clips]
    assert contents[unquote(clips[0].media_reference.target_url)] == b"video of SC01_SH010 take 3.mp4"
    assert contents[unquote(clips[0].media_references()["take_1"].target_url)] == b"video of SC01_SH010 take 1.mp4"
    assert json.loads(contents["provenance.json"]) == manifest
    assert [m.name for m in clips[0].markers] == ["carol: hold longer", "bob: cut here"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["cut.otioz"]  # no temporary file left


def test_editorial_zip_holds_edl_fcp_xml_and_media_named_like_the_clips(reviewed_edit, tmp_path):
    path = write_bundle("Night Ferry", FPS, reviewed_edit, tmp_path / "cut.zip", "editorial_zip", manifest={"cut": "Cut 1"})

    extracted = tmp_path / "unzipped"
    with zipfile.ZipFile(path) as bundle:
        bundle.extractall(extracted)
        names = set(bundle.namelist())
    edl = otio.adapters.read_from_file(str(extracted / "Night_Ferry.edl"), "cmx_3600", rate=FPS)
    fcp = otio.adapters.read_from_file(str(extracted / "Night_Ferry.xml"), "fcp_xml")
    media = sorted(name for name in names if name.startswith("media/"))

    assert {"Night_Ferry.edl", "Night_Ferry.xml", "Night_Ferry.otio", "provenance.json"} <= names
    assert media == ["media/SC01_SH010_T1.mp4", "media/SC01_SH010_T2.mp4", "media/SC01_SH010_T3.mp4",
                     "media/SC01_SH020_T1.mp4", "media/SC01_SH030_T2.mp4"]
    for timeline in (edl, fcp):
        cut = list(timeline.video_tracks()[0].find_clips())
        assert [clip.name for clip in cut] == ["SC01_SH010_T3", "SC01_SH020_T1", "SC01_SH030_T2"]
        for clip in cut:
            assert (extracted / unquote(clip.media_reference.target_url)).read_bytes().startswith(b"video of ")
    fcp_urls = [clip.media_reference.target_url for clip in fcp.find_clips()]
    assert len(fcp_urls) == 5 and all(_resolves_inside(url, names) for url in fcp_urls)


def test_bundle_refuses_unknown_formats_and_missing_media(reviewed_edit, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="aaf"):
        write_bundle("cut", FPS, reviewed_edit, out / "cut.aaf", "aaf")
    missing = shot_clip(tmp_path, "SC09_SH010", 1, 0, 24)  # no file on disk
    with pytest.raises(FileNotFoundError):
        write_bundle("cut", FPS, [*reviewed_edit, missing], out / "cut.otioz", "otioz")
    assert list(out.glob("*")) == []  # nothing half-written left behind


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
