"""Editorial export of a cut: OpenTimelineIO, CMX 3600 EDL, FCP 7 XML, bundles and a provenance manifest.

Everything here takes plain data (no Django objects), so the export service decides what goes
into a cut and this module only decides how each format spells it.

Bundles carry the media beside the timeline with relative references, so an editor who downloads
one relinks nothing: an `.otioz` (OpenTimelineIO's own bundle layout: version.txt, content.otio,
media/) and an editorial zip (EDL, FCP 7 XML and OTIO over the same media/ folder). Both hold the
provenance manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
import uuid
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

METADATA_NAMESPACE = "continuity"

# Our format names -> OpenTimelineIO adapter names (otio-cmx3600-adapter, otio-fcp-adapter).
ADAPTERS = {"otio": "otio_json", "edl": "cmx_3600", "fcpxml": "fcp_xml"}

# CMX 3600 puts the reel name in a fixed 8-character column.
EDL_REEL_LENGTH = 8

UNKNOWN_RIGHTS = "unknown"

# OpenTimelineIO's .otioz layout (opentimelineio.adapters.file_bundle_utils), so its own reader opens ours.
BUNDLE_VERSION = ("version.txt", "1.0.0")
BUNDLE_TIMELINE = "content.otio"
BUNDLE_MEDIA_DIR = "media"
BUNDLE_MANIFEST = "provenance.json"
BUNDLE_FORMATS = ("otioz", "editorial_zip")

# FCP 7 XML has no "several media per clip": alternates go on disabled tracks above the cut,
# lined up with the clip they could replace, where an editor swaps them in by hand.
FCP_ALTERNATE_TRACK = "ALT {n}"


@dataclass(frozen=True)
class TimelineMarker:
    """A review comment at a frame of the take (the take's own frame numbers, not the cut's)."""

    frame: int
    name: str
    note: str = ""


@dataclass(frozen=True)
class AlternateTake:
    """Another take of the same shot, offered to the editor as a swap-in."""

    take_number: int
    media_path: Path
    frames: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TimelineClip:
    """One event of the cut: the chosen take of a shot, used from in_frame to out_frame (exclusive)."""

    name: str
    shot_code: str
    take_number: int
    media_path: Path
    fps: int
    in_frame: int
    out_frame: int
    available_frames: int
    metadata: dict[str, Any] = field(default_factory=dict)  # prompt, cast, backend, model, seed, take_id...
    alternates: list[AlternateTake] = field(default_factory=list)
    markers: list[TimelineMarker] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 <= self.in_frame < self.out_frame <= self.available_frames:
            raise ValueError(
                f"{self.name}: in/out {self.in_frame}..{self.out_frame} must lie inside the take's "
                f"{self.available_frames} frames and be at least one frame long"
            )


def media_reference_key(take_number: int) -> str:
    return f"take_{take_number}"


# ---------------------------------------------------------------------------------------------
# Building the timeline


def build_timeline(
    name: str, fps: int, clips: list[TimelineClip], *, relative_to: Path | None = None,
    urls: dict[Path, str] | None = None,
) -> otio.schema.Timeline:
    """One video track with a clip per event; alternates ride along as extra media references,
    comments as markers.

    With `relative_to`, media URLs are paths relative to that folder, so an export folder holding
    the timeline next to its media can be moved or sent as a whole and still open in an NLE.
    `urls` names the URL to write for a media path outright (bundles: where it lies inside).
    """
    timeline = otio.schema.Timeline(name=name)
    timeline.global_start_time = RationalTime(0, fps)
    timeline.metadata[METADATA_NAMESPACE] = {"fps": fps}
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for clip in clips:
        if clip.fps != fps:
            raise ValueError(f"{clip.name} is {clip.fps} fps but the timeline is {fps} fps")
        track.append(_otio_clip(clip, fps, _Urls(relative_to, urls or {})))
    return timeline


@dataclass(frozen=True)
class _Urls:
    relative_to: Path | None
    overrides: dict[Path, str]

    def __call__(self, path: Path) -> str:
        return self.overrides.get(Path(path)) or media_url(path, self.relative_to)


def _otio_clip(clip: TimelineClip, fps: int, url_for: _Urls) -> otio.schema.Clip:
    otio_clip = otio.schema.Clip(
        name=clip.name,
        source_range=TimeRange(RationalTime(clip.in_frame, fps), RationalTime(clip.out_frame - clip.in_frame, fps)),
    )
    active_key = media_reference_key(clip.take_number)
    references = {active_key: _media_reference(url_for(clip.media_path), clip.available_frames, fps)}
    alternates = [alt for alt in clip.alternates if media_reference_key(alt.take_number) not in references]
    for alt in alternates:
        references[media_reference_key(alt.take_number)] = _media_reference(url_for(alt.media_path), alt.frames, fps)
    # OTIO 0.17+ keeps several media references per clip with one active: NLEs and tools that
    # understand it can switch takes; the others just see the active one.
    otio_clip.set_media_references(references, active_key)
    otio_clip.metadata[METADATA_NAMESPACE] = _clip_metadata(clip, alternates, url_for)
    otio_clip.markers.extend(_otio_marker(marker, fps) for marker in clip.markers
                             if clip.in_frame <= marker.frame < clip.out_frame)
    return otio_clip


def _otio_marker(marker: TimelineMarker, fps: int) -> otio.schema.Marker:
    # In the clip's media time, where OTIO and FCP 7 XML both keep a clip's markers.
    otio_marker = otio.schema.Marker(
        name=" ".join(marker.name.split()),
        marked_range=TimeRange(RationalTime(marker.frame, fps), RationalTime(0, fps)),
        color=otio.schema.MarkerColor.RED,
    )
    otio_marker.comment = marker.note
    otio_marker.metadata["fcp_xml"] = {"comment": marker.note}  # the FCP adapter writes these as elements
    return otio_marker


def _media_reference(url: str, frames: int, fps: int) -> otio.schema.ExternalReference:
    return otio.schema.ExternalReference(
        target_url=url, available_range=TimeRange(RationalTime(0, fps), RationalTime(frames, fps)),
    )


def media_url(path: Path, relative_to: Path | None = None) -> str:
    """An absolute file:// URL, or a percent-encoded relative URL when `relative_to` is given."""
    absolute = Path(path).resolve()
    if relative_to is None:
        return absolute.as_uri()
    relative = os.path.relpath(absolute, Path(relative_to).resolve())
    return urllib.parse.quote(Path(relative).as_posix())


def _clip_metadata(clip: TimelineClip, alternates: list[AlternateTake], url_for: _Urls) -> dict[str, Any]:
    metadata = _plain(clip.metadata)
    metadata.update(
        shot_code=clip.shot_code,
        take_number=clip.take_number,
        media_reference_key=media_reference_key(clip.take_number),
        alternates=[
            {
                **_plain(alt.metadata),
                "take_number": alt.take_number,
                "media_reference_key": media_reference_key(alt.take_number),
                "media_url": url_for(alt.media_path),
                "frames": alt.frames,
            }
            for alt in alternates
        ],
    )
    return metadata


def _plain(value: Any) -> Any:
    """Metadata as OTIO (and JSON) can store it: dicts, lists, strings, numbers, booleans, None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


# ---------------------------------------------------------------------------------------------
# Writing the timeline


def write_timeline(timeline: otio.schema.Timeline, path: Path, fmt: str) -> Path:
    """Write `timeline` as "otio", "edl" or "fcpxml" to `path`, atomically (temp file, then rename)."""
    if fmt not in ADAPTERS:
        raise ValueError(f"unknown timeline format {fmt!r}; expected one of {sorted(ADAPTERS)}")
    return write_text_atomically(Path(path), timeline_text(timeline, fmt))


def timeline_text(timeline: otio.schema.Timeline, fmt: str) -> str:
    if fmt == "edl":
        return otio.adapters.write_to_string(_edl_ready(timeline), ADAPTERS[fmt], rate=_timeline_fps(timeline))
    if fmt == "fcpxml":
        return otio.adapters.write_to_string(_fcp_ready(timeline), ADAPTERS[fmt])
    return otio.adapters.write_to_string(timeline, ADAPTERS[fmt])


def _timeline_fps(timeline: otio.schema.Timeline) -> float:
    fps = timeline.metadata.get(METADATA_NAMESPACE, {}).get("fps")
    if fps:
        return fps
    return timeline.global_start_time.rate if timeline.global_start_time else 24


def _edl_ready(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy the CMX 3600 writer can spell: one media reference per clip, 8-character reels and
    single-line clip names.

    An EDL event names one source, so only the active take goes in. The adapter would truncate
    long names itself, which can give two different takes the same reel; we pick unique reels.
    """
    copy = timeline.deepcopy()
    reels_by_url: dict[str, str] = {}
    for clip in copy.find_clips():
        # One event is a handful of lines: a newline in a clip name would forge extra ones.
        clip.name = " ".join(clip.name.split())
        key = clip.active_media_reference_key
        # clone(): handing the clip its own reference back frees it under OTIO 0.18 (segfault).
        clip.set_media_references({key: clip.media_reference.clone()}, key)
        url = getattr(clip.media_reference, "target_url", None) or clip.name
        if url not in reels_by_url:
            reels_by_url[url] = _unique_reel(clip, set(reels_by_url.values()))
        clip.metadata["cmx_3600"] = {**clip.metadata.get("cmx_3600", {}), "reel": reels_by_url[url]}
    return copy


def _fcp_ready(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy the FCP 7 XML writer can spell: the cut on V1 with each clip's active take, and every
    alternate on a disabled track above, at the same record time, trimmed like the clip it could
    replace (as far as its own length allows)."""
    copy = timeline.deepcopy()
    main = copy.tracks[0]
    alternate_tracks: list[otio.schema.Track] = []
    for index, clip in enumerate(list(main)):
        if not isinstance(clip, otio.schema.Clip):
            continue
        start = main.range_of_child_at_index(index).start_time
        key = clip.active_media_reference_key
        others = {k: ref for k, ref in clip.media_references().items() if k != key}
        clip.set_media_references({key: clip.media_reference.clone()}, key)
        for n, (other_key, reference) in enumerate(sorted(others.items()), start=1):
            if len(alternate_tracks) < n:
                alternate_tracks.append(otio.schema.Track(name=FCP_ALTERNATE_TRACK.format(n=n), kind=otio.schema.TrackKind.Video))
            _place(alternate_tracks[n - 1], start, _alternate_clip(clip, other_key, reference))
    for track in alternate_tracks:
        copy.tracks.append(track)
    return copy


def _alternate_clip(clip: otio.schema.Clip, key: str, reference: otio.schema.ExternalReference) -> otio.schema.Clip:
    available = reference.available_range
    source = clip.source_range.clamped(available) if available else clip.source_range
    if source.duration.value <= 0:  # the alternate is shorter than the clip's in point: from its start
        source = TimeRange(available.start_time, min(clip.source_range.duration, available.duration))
    take_number = key.removeprefix("take_")
    shot_code = clip.metadata.get(METADATA_NAMESPACE, {}).get("shot_code", clip.name)
    alternate = otio.schema.Clip(name=f"{shot_code} T{take_number} (alternate)", source_range=source)
    alternate.set_media_references({key: reference.clone()}, key)
    alternate.metadata[METADATA_NAMESPACE] = {"alternate_of": clip.name, "media_reference_key": key}
    alternate.metadata["fcp_xml"] = {"enabled": "FALSE"}  # written as <enabled>: it plays only when switched on
    return alternate


def _place(track: otio.schema.Track, start: RationalTime, clip: otio.schema.Clip) -> None:
    """Append `clip` to `track` at record time `start`, filling the time before it with a gap."""
    end = track.duration() if len(track) else RationalTime(0, start.rate)
    if start > end:
        track.append(otio.schema.Gap(source_range=TimeRange(RationalTime(0, start.rate), start - end)))
    track.append(clip)


def _unique_reel(clip: otio.schema.Clip, taken: set[str]) -> str:
    ours = clip.metadata.get(METADATA_NAMESPACE, {})
    take = f"T{ours.get('take_number', '')}"
    shot = re.sub(r"[^A-Za-z0-9]", "", str(ours.get("shot_code") or clip.name)).upper()
    # The end of a shot code (SC01_SH010 -> ...SH010) tells shots apart better than its start.
    reel = (shot[-(EDL_REEL_LENGTH - len(take)):] + take)[-EDL_REEL_LENGTH:] if len(take) < EDL_REEL_LENGTH else ""
    counter = 1
    while reel in taken or not reel:
        reel = f"R{counter:0{EDL_REEL_LENGTH - 1}d}"
        counter += 1
    return reel


def write_text_atomically(path: Path, text: str) -> Path:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # open(..., "x") rather than mkstemp: the file gets the usual umask permissions, not 0600.
    temp_path = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp_path, "x", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp_path, path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------------------------------
# Bundles: the timeline with its media beside it, references relative


def write_bundle(name: str, fps: int, clips: list[TimelineClip], path: Path, fmt: str,
                 *, manifest: dict[str, Any] | None = None) -> Path:
    """Write an "otioz" or an "editorial_zip" holding every take the cut plays or offers as an
    alternate under media/, named after its shot and take, and the manifest. Clip names match the
    media files' names (what an NLE relinks by). Atomic like write_text_atomically."""
    if fmt not in BUNDLE_FORMATS:
        raise ValueError(f"unknown bundle format {fmt!r}; expected one of {list(BUNDLE_FORMATS)}")
    media = bundle_media_names(clips)
    urls = {source: urllib.parse.quote(arcname) for source, arcname in media.items()}
    named = [replace(clip, name=Path(media[Path(clip.media_path)]).stem) for clip in clips]
    timeline = build_timeline(name, fps, named, urls=urls)
    if fmt == "otioz":
        texts = {BUNDLE_VERSION[0]: BUNDLE_VERSION[1], BUNDLE_TIMELINE: timeline_text(timeline, "otio")}
    else:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "timeline"
        texts = {f"{stem}.{ext}": timeline_text(timeline, kind) for kind, ext in (("edl", "edl"), ("fcpxml", "xml"), ("otio", "otio"))}
    if manifest is not None:
        texts[BUNDLE_MANIFEST] = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    return _write_zip_atomically(Path(path), texts, media)


def bundle_media_names(clips: list[TimelineClip]) -> dict[Path, str]:
    """Each media file the clips use (active or alternate) -> its unique name inside the bundle."""
    names: dict[Path, str] = {}
    for clip in clips:
        takes = [(clip.media_path, clip.take_number)] + [(alt.media_path, alt.take_number) for alt in clip.alternates]
        for source, take_number in takes:
            source = Path(source)
            if source in names:
                continue
            stem = re.sub(r"[^A-Za-z0-9_-]+", "_", f"{clip.shot_code}_T{take_number}").strip("_") or "take"
            candidate, counter = stem, 1
            while f"{BUNDLE_MEDIA_DIR}/{candidate}{source.suffix}" in names.values():
                counter += 1
                candidate = f"{stem}_{counter}"
            names[source] = f"{BUNDLE_MEDIA_DIR}/{candidate}{source.suffix}"
    return names


def _write_zip_atomically(path: Path, texts: dict[str, str], media: dict[Path, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_path = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with zipfile.ZipFile(temp_path, "x") as bundle:
            for arcname, text in texts.items():
                bundle.writestr(arcname, text, compress_type=zipfile.ZIP_DEFLATED)
            for source, arcname in media.items():
                # Video is already compressed: stored, so opening the bundle costs no inflation.
                bundle.write(source, arcname, compress_type=zipfile.ZIP_STORED)
        os.replace(temp_path, path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------------------------------
# Provenance


def provenance_manifest(cut_name: str, project_name: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """What made every take in the cut: backend, model, revision, seed, prompt and reference images.

    Each entry is a dict with shot_code, take_id, take_number, frames, backend, model, revision,
    seed, prompt and references (dicts with handle, path, sha256, rights_status). A reference
    without a rights status counts as "unknown"; every unknown one is listed under "warnings".
    """
    normalised = [_manifest_entry(entry) for entry in entries]
    return {
        "format": "continuity-provenance/1",
        "project": project_name,
        "cut": cut_name,
        "entries": normalised,
        "warnings": [_rights_warning(item) for item in unknown_rights(normalised)],
    }


def _manifest_entry(entry: dict[str, Any]) -> dict[str, Any]:
    plain = _plain(entry)
    for key in ("shot_code", "take_id", "take_number", "frames", "backend", "model", "revision", "seed", "prompt"):
        plain.setdefault(key, None)
    plain["references"] = [_manifest_reference(ref) for ref in entry.get("references", ())]
    return plain


def _manifest_reference(reference: dict[str, Any]) -> dict[str, Any]:
    plain = _plain(reference)
    plain.setdefault("handle", None)
    plain.setdefault("path", None)
    plain["rights_status"] = plain.get("rights_status") or UNKNOWN_RIGHTS
    if not plain.get("sha256"):
        plain["sha256"] = _sha256_of(plain["path"])
    return plain


def _sha256_of(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unknown_rights(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reference images whose rights status is unknown (or missing), once per image, with the shots
    that use them, in order of first use. The export service refuses to export these by default."""
    found: dict[str, dict[str, Any]] = {}
    for entry in entries:
        for reference in entry.get("references", ()):
            if str(reference.get("rights_status") or UNKNOWN_RIGHTS).lower() != UNKNOWN_RIGHTS:
                continue
            identity = reference.get("sha256") or reference.get("path") or reference.get("handle") or ""
            item = found.setdefault(
                str(identity),
                {"handle": reference.get("handle"), "path": _plain(reference.get("path")),
                 "sha256": reference.get("sha256"), "shots": []},
            )
            shot = entry.get("shot_code")
            if shot not in item["shots"]:
                item["shots"].append(shot)
    return list(found.values())


def _rights_warning(item: dict[str, Any]) -> str:
    digest = f" (sha256 {item['sha256'][:12]})" if item.get("sha256") else ""
    shots = ", ".join(str(shot) for shot in item["shots"])
    return f"reference {item.get('handle') or item.get('path')!s}{digest} used in {shots} has unknown rights status"


def write_manifest(manifest: dict[str, Any], path: Path) -> Path:
    """JSON with sorted keys and two-space indents, so manifests diff cleanly between exports."""
    return write_text_atomically(Path(path), json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n")
