"""Helpers for the studio tests: finished takes with real files and a logged-in client (the shared
fixtures are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.test import Client

from studio.models import Take, TakeStatus

VIDEO_BYTES = bytes(range(256)) * 40  # 10,240 bytes: enough to ask for ranges inside it


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def finished_take(shot, number: int = 1, *, frames: int = 48) -> Take:
    project_id = shot.scene.project_id
    base = f"projects/{project_id}/takes/{shot.id}"
    folder = Path(settings.MEDIA_ROOT) / base
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"take{number}.mp4").write_bytes(VIDEO_BYTES)
    (folder / f"take{number}.jpg").write_bytes(b"\xff\xd8\xff\xe0poster")
    return Take.objects.create(
        shot=shot, number=number, backend="animatic", request={"prompt": shot.prompt, "seed": shot.seed},
        signature=f"sig-{shot.id}-{number}", status=TakeStatus.SUCCEEDED, progress=1.0, frames=frames,
        duration_s=frames / 24, video=f"{base}/take{number}.mp4", poster=f"{base}/take{number}.jpg",
    )
