"""Which release of the studio this process runs, as a short name for its code, templates and
static files: part of the keys of cached pages (Project.content_key).

Cached pages outlive a deploy (Redis is not redeployed with the web image): keyed by the
project's content alone, a board whose project had no event since would be served as the old
release rendered it, naming hashed static files the new image no longer has. CONTINUITY_RELEASE
names the release where the build sets it; otherwise the files themselves are hashed once per
process (229 files, 2 MB: a few milliseconds as the process starts).
"""

from __future__ import annotations

import functools
import hashlib
import os

from django.conf import settings

RELEASE_FOLDERS = ("studio", "templates", "static")
RELEASE_SUFFIXES = {".py", ".html", ".js", ".css"}


@functools.cache
def fingerprint() -> str:
    named = os.environ.get("CONTINUITY_RELEASE", "").strip()
    if named:
        return hashlib.sha256(named.encode()).hexdigest()[:12]
    digest = hashlib.sha256()
    for folder in RELEASE_FOLDERS:
        root = settings.BASE_DIR / folder
        for path in sorted(root.rglob("*")):
            if path.suffix in RELEASE_SUFFIXES and "__pycache__" not in path.parts and path.is_file():
                digest.update(str(path.relative_to(settings.BASE_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]
