"""Media behind the access check: only members, only this project's folder, no traversal, and
Range requests (206) so the video player can seek."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from studio.services.projects import project_create
from studio.views.media import requested_range
from tests.studio.views_helpers import VIDEO_BYTES, client_for

pytestmark = pytest.mark.django_db


def media(project, name: str) -> str:
    return reverse("project_media", args=[project.slug, name])


def read(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_a_member_gets_the_whole_file_with_safe_headers(project, take, users):
    response = client_for(users["dave"]).get(media(project, take.video.name))
    assert response.status_code == 200
    assert read(response) == VIDEO_BYTES
    assert response["Content-Type"] == "video/mp4"
    assert response["Accept-Ranges"] == "bytes"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(VIDEO_BYTES))
    assert "Content-Disposition" not in response


@pytest.mark.parametrize("header, start, end", [
    ("bytes=0-99", 0, 99),
    ("bytes=100-", 100, len(VIDEO_BYTES) - 1),
    ("bytes=-256", len(VIDEO_BYTES) - 256, len(VIDEO_BYTES) - 1),
    ("bytes=10000-999999", 10000, len(VIDEO_BYTES) - 1),
])
def test_range_requests_get_206_with_exactly_those_bytes(project, take, users, header, start, end):
    response = client_for(users["dave"]).get(media(project, take.video.name), headers={"Range": header})
    assert response.status_code == 206
    assert read(response) == VIDEO_BYTES[start:end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(VIDEO_BYTES)}"
    assert response["Content-Length"] == str(end - start + 1)


def test_a_range_outside_the_file_is_416(project, take, users):
    response = client_for(users["dave"]).get(media(project, take.video.name), headers={"Range": "bytes=999999-"})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(VIDEO_BYTES)}"


def test_a_head_request_has_the_headers_and_no_body(project, take, users):
    response = client_for(users["dave"]).head(media(project, take.video.name))
    assert response.status_code == 200 and read(response) == b""


def test_outsiders_and_anonymous_visitors_get_nothing(project, take, users):
    assert client_for(users["eve"]).get(media(project, take.video.name)).status_code == 404
    anonymous = client_for(None).get(media(project, take.video.name))
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]


def test_a_file_of_another_project_is_404_even_for_its_own_members(project, take, users):
    # bob owns "Elsewhere" and edits "Night Ferry": the Night Ferry file is not Elsewhere's.
    elsewhere = project_create(owner=users["bob"], name="Elsewhere")
    assert client_for(users["bob"]).get(media(elsewhere, take.video.name)).status_code == 404
    assert client_for(users["bob"]).get(media(project, take.video.name)).status_code == 200


@pytest.mark.parametrize("name", [
    "projects/{id}/../{other}/secret.txt",
    "projects/{id}/takes/../../{other}/secret.txt",
    "projects/{id}/./takes/x.mp4",
    "projects/{id}\\..\\{other}\\secret.txt",
    "../secret.txt",
    "projects/{id}",
    "secret_key",
])
def test_traversal_is_refused(project, take, users, name):
    other = project_create(owner=users["eve"], name="Secret")
    secret = Path(settings.MEDIA_ROOT) / f"projects/{other.id}/secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("not yours")
    (Path(settings.MEDIA_ROOT) / "secret.txt").write_text("not yours")
    url = reverse("project_media", args=[project.slug, "x"])[:-1] + name.format(id=project.id, other=other.id)
    response = client_for(users["alice"]).get(url)
    assert response.status_code == 404
    assert b"not yours" not in read(response)


def test_a_symlink_out_of_the_project_folder_is_refused(project, take, users, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours")
    link = Path(settings.MEDIA_ROOT) / f"projects/{project.id}/takes/link.mp4"
    link.symlink_to(outside)
    assert client_for(users["alice"]).get(media(project, f"projects/{project.id}/takes/link.mp4")).status_code == 404


def test_exports_download_as_attachments(project, users):
    name = f"projects/{project.id}/exports/assembly-1.edl"
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("TITLE: Assembly\n")
    response = client_for(users["dave"]).get(media(project, name))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="assembly-1.edl"'
    assert read(response) == b"TITLE: Assembly\n"


def test_pages_link_media_through_the_checked_view(project, take, users):
    content = client_for(users["dave"]).get(reverse("review", args=[project.slug, take.shot_id])).content.decode()
    assert media(project, take.video.name) in content
    assert 'src="/media/' not in content


@pytest.mark.parametrize("header, size, expected", [
    ("", 100, None), ("bytes=0-0", 100, (0, 0)), ("bytes=5-", 100, (5, 99)), ("bytes=-0", 100, "unsatisfiable"),
    ("bytes=50-10", 100, "unsatisfiable"), ("bytes=0-1,5-6", 100, None), ("items=0-5", 100, None), ("bytes=-", 100, None),
])
def test_range_parsing(header, size, expected):
    assert requested_range(header, size) == expected


@pytest.mark.parametrize("name", [
    "projects/{id}/../{other}/secret.txt", "projects/{other}/secret.txt", "projects/{id}/takes/../../{other}/secret.txt",
    "/etc/passwd", "projects/{id}/takes/\x00.mp4", "projects/{id}/missing.mp4",
])
def test_resolving_a_name_refuses_anything_outside_the_project(project, users, name):
    from django.http import Http404

    from studio.views.media import resolve_project_file

    other = project_create(owner=users["eve"], name="Secret")
    secret = Path(settings.MEDIA_ROOT) / f"projects/{other.id}/secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("not yours")
    with pytest.raises(Http404):
        resolve_project_file(project.id, name.format(id=project.id, other=other.id))
    assert resolve_project_file(other.id, f"projects/{other.id}/secret.txt") == secret.resolve()
