"""Fixtures for the API tests: clients with a session or a token, and a project with one of
everything (scene, cast with an image, shot, finished take with real files, comment, cut, export)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from studio.models import Export, ExportFormat, ExportStatus
from studio.services.api_tokens import api_token_create
from studio.services.cuts import cut_create
from studio.services.reviews import comment_create
from tests.studio.views_helpers import finished_take

ALL_SCOPES = ["read", "write", "render"]


def session_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def token_client(user, scopes=ALL_SCOPES) -> APIClient:
    _, secret = api_token_create(user=user, name="tests", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def world(project, scene, cast, shot, alice):  # noqa: F811  (shot is the fixture)
    take = finished_take(shot)
    comment = comment_create(take=take, author=alice, body="Hold the look a beat longer.", frame=3)
    cut = cut_create(project=project, actor=alice, name="Assembly")
    export = _finished_export(cut, alice)
    return {"project": project, "scene": scene, "cast": cast, "shot": shot, "take": take, "comment": comment,
            "cut": cut, "entry": cut.entries.get(), "export": export, "image": cast["mara"].images.get()}


def _finished_export(cut, user) -> Export:
    name = f"projects/{cut.project_id}/exports/assembly-test.mp4"
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42 export bytes")
    return Export.objects.create(cut=cut, format=ExportFormat.MP4, status=ExportStatus.SUCCEEDED, progress=1.0,
                                 file=name, requested_by=user)
