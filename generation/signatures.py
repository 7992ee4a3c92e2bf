"""The content hash of everything that determines a render.

Two requests with the same signature produce the same frames, so a finished take can be reused
without GPU work. Reference images enter by the sha256 of their bytes, never by path, so moving
media or re-uploading the same picture does not defeat the cache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from generation.backends.base import RenderRequest
from generation.backends.registry import SHOT_FIELDS, used_shot_fields

SIGNATURE_VERSION = 2  # 2: only the shot fields the backend uses


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def signature_payload(*, backend: str, model: str, revision: str, request: RenderRequest) -> dict:
    """What the signature hashes: only the shot fields the backend declares it uses (registry), so
    e.g. a caption edit on a wan shot, which wan never sees, does not force a new render."""
    data = request.to_dict()
    for unused in SHOT_FIELDS - used_shot_fields(backend):
        data.pop(unused)
    for reference in data["references"]:
        reference.pop("image_paths")
    first_frame = data.pop("first_frame_path")
    data["first_frame_sha256"] = file_sha256(first_frame) if first_frame else ""
    for stand_in in (data.get("extra") or {}).get("stand_ins", {}).values():
        if isinstance(stand_in, dict):  # a stand-in's pictures enter by their bytes' sha256, like references
            stand_in.pop("image_paths", None)
    # A region re-render: the source take's and the mask's bytes, never their paths. Left out of an
    # ordinary request, so its signature is what it was before region edits existed.
    for name in ("source_video", "region_mask"):
        path = data.pop(f"{name}_path", None)
        if path:
            data[f"{name}_sha256"] = file_sha256(path)
    return {"v": SIGNATURE_VERSION, "backend": backend, "model": model, "revision": revision, "request": data}


def render_signature(*, backend: str, model: str, revision: str, request: RenderRequest) -> str:
    payload = signature_payload(backend=backend, model=model, revision=revision, request=request)
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
