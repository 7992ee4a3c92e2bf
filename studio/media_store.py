"""Where the studio's media live, for the code that needs a local file (the engine, ffmpeg, PIL).

Media (reference images, takes, exports) are stored under names like "projects/<id>/...", in
Django's default storage: the local MEDIA_ROOT (the embedded default), or, with
CONTINUITY_MEDIA_STORAGE=s3, an S3-compatible bucket through django-storages. The engine only
ever sees local paths; this module turns stored names into local files and back:

- `local_file(name)`: the file, downloaded once into this machine's cache (CONTINUITY_MEDIA_CACHE)
  when the store is remote. Takes and exports are immutable under their names, so the name is
  their cache key.
- `local_reference(name, sha256)`: a reference image, cached by its content hash (the same bytes
  under several names or projects are fetched once per worker) and checked against it.
- `work_path(name)` + `upload(path, name)`: where a worker writes a file it makes, and handing it
  to the store (nothing to do locally: the file is already in MEDIA_ROOT).
- `request_hint(field)` / `localised(request)`: what a render request records for an image (the
  absolute path locally, the stored name with s3) and the same request with local paths.
- `signed_url(name)`: where a browser fetches a remote file (short-lived, signed by the store).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import uuid
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from generation.backends.base import RenderRequest

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024


class MediaMissing(FileNotFoundError):
    """A stored file that is not there (or whose bytes are not the ones recorded)."""


def is_remote() -> bool:
    return getattr(settings, "CONTINUITY_MEDIA_STORAGE", "local") == "s3"


def cache_root() -> Path:
    return Path(settings.CONTINUITY_MEDIA_CACHE)


def _inside(root: Path, name: str) -> Path:
    """root/name, refusing names that would leave root (we generate names, but never trust them)."""
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or "\\" in name or any(p in {"..", "."} for p in parts):
        raise MediaMissing(f"not a stored name: {name!r}")
    return root.joinpath(*parts)


def work_path(name: str) -> Path:
    """The local path of the file stored (or to be stored) as `name`: in MEDIA_ROOT locally, in
    this machine's cache with a remote store."""
    return _inside(Path(settings.MEDIA_ROOT) if not is_remote() else cache_root() / "files", name)


def local_file(name: str) -> Path:
    """A local path holding the stored file `name`; MediaMissing if there is none."""
    path = work_path(name)
    if path.is_file():
        return path
    if not is_remote():
        raise MediaMissing(f"{name} is missing")
    _download(name, path)
    return path


def local_reference(path_or_name: str, sha256: str) -> Path:
    """A reference image as a local file. An absolute path (what a request records with local
    storage) is returned as it is; a stored name is fetched into the cache under its sha256,
    once per machine, and refused if its bytes are not the ones the request recorded."""
    if os.path.isabs(path_or_name):
        return Path(path_or_name)
    cached = cache_root() / "refs" / sha256[:2] / f"{sha256}{PurePosixPath(path_or_name).suffix.lower()}"
    if cached.is_file():
        return cached
    if not is_remote():
        return local_file(path_or_name)
    _download(path_or_name, cached, sha256=sha256)
    logger.info("media_store: fetched reference %s (sha256 %s) into the cache", path_or_name, sha256[:12])
    return cached


def _download(name: str, target: Path, *, sha256: str | None = None) -> None:
    """Stream a stored file to a temporary sibling of `target`, check it, rename it into place
    (so a half-written file is never taken for a cached one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
    digest = hashlib.sha256()
    try:
        source = _open_stored(name)
        with source, open(temp, "wb") as out:
            while chunk := source.read(CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
        if sha256 and digest.hexdigest() != sha256:
            raise MediaMissing(f"{name} in the media store is not the image the render recorded (sha256 differs)")
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _open_stored(name: str):
    """A readable stream of a stored file. From S3, one GET streamed as it arrives (django-storages'
    own open() asks HEAD twice and spools the whole object to a temporary file first)."""
    bucket = getattr(default_storage, "bucket", None) if is_remote() else None
    if bucket is None or not hasattr(default_storage, "_normalize_name"):
        try:
            return default_storage.open(name, "rb")
        except OSError as exc:
            raise MediaMissing(f"{name} is missing from the media store") from exc
    from botocore.exceptions import ClientError  # lazy: boto3 comes with the s3 extra only
    from storages.utils import clean_name  # lazy: likewise

    try:
        return bucket.Object(default_storage._normalize_name(clean_name(name))).get()["Body"]  # a context manager
    except ClientError as exc:
        raise MediaMissing(f"{name} is missing from the media store ({exc.response.get('Error', {}).get('Code', exc)})") from exc


def upload(path: Path, name: str) -> str:
    """Hand a file a worker made to the store under `name`; returns the stored name. Locally the
    file already lies at MEDIA_ROOT/name. Remotely the store may pick a free name if `name` is
    taken; the cached copy follows it."""
    if not is_remote():
        return name
    with open(path, "rb") as handle:
        stored = default_storage.save(name, File(handle, name=PurePosixPath(name).name))
    if stored != name:
        final = work_path(stored)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, final)
    return stored


def delete(name: str) -> bool:
    """Remove a stored file (the trash's purge decides when). Returns whether one was there."""
    if not is_remote():
        path = work_path(name)
        if path.is_file():
            path.unlink()
            return True
        return False
    existed = default_storage.exists(name)
    if existed:
        default_storage.delete(name)
    work_path(name).unlink(missing_ok=True)  # this machine's cached copy
    return existed


def exists(name: str) -> bool:
    return work_path(name).is_file() if not is_remote() else default_storage.exists(name)


def signed_url(name: str, *, download_as: str = "") -> str:
    """A short-lived URL the store itself answers (with Range support): only for a remote store."""
    parameters = {"ResponseContentDisposition": f'attachment; filename="{download_as}"'} if download_as else None
    return default_storage.url(name, parameters=parameters)


def request_hint(field) -> str:
    """What a render request records for a stored image: its absolute path locally (as always),
    its stored name with a remote store (each worker fetches it into its own cache)."""
    return field.path if not is_remote() else field.name


def localised(request: RenderRequest, *, references: bool = True) -> RenderRequest:
    """The request with local paths for its images: reference images by content hash, the
    continuity frame by name. A request recorded with local storage comes back unchanged."""
    changes = {}
    if references and any(_stored_names(ref) for ref in request.references):
        changes["references"] = tuple(
            dataclasses.replace(ref, image_paths=tuple(str(local_reference(path, sha))
                                                        for path, sha in zip(ref.image_paths, ref.image_sha256s)))
            if _stored_names(ref) else ref
            for ref in request.references
        )
    for name in ("first_frame_path", "source_video_path", "region_mask_path"):  # stored files, by name
        value = getattr(request, name)
        if value and not os.path.isabs(value):
            changes[name] = str(local_file(value))
    stand_ins = (request.extra or {}).get("stand_ins") or {}
    if references and any(not os.path.isabs(p) for s in stand_ins.values() for p in s.get("image_paths", [])):
        changes["extra"] = {**request.extra, "stand_ins": {
            handle: {**s, "image_paths": [str(local_reference(path, sha)) if not os.path.isabs(path) else path
                                          for path, sha in zip(s.get("image_paths", []), s.get("image_sha256s", []))]}
            for handle, s in stand_ins.items()}}
    return dataclasses.replace(request, **changes) if changes else request


def _stored_names(ref) -> bool:
    """Whether a reference records stored names (a remote store) rather than local paths."""
    return len(ref.image_paths) == len(ref.image_sha256s) and any(not os.path.isabs(p) for p in ref.image_paths)
