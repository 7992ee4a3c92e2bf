"""ETag / If-Match on versioned objects (412 for a stale tag, 409 for a stale body version), a
take's identity scores, and the printed deliverables (storyboards, shot lists) through the API."""

from __future__ import annotations

import csv
import io

import pytest
from pypdf import PdfReader

from studio.models import IdentityScore, IdentityStatus
from tests.api.conftest import session_client, token_client

pytestmark = pytest.mark.django_db

# collection -> (the world's object, a field a PATCH sets, the value bob sets, the value a stale client tries)
VERSIONED = {
    "shots": (lambda w: w["shot"], "lens_mm", 85, 24),
    "scenes": (lambda w: w["scene"], "synopsis", "The crossing", "The storm"),
    "cast": (lambda w: w["cast"]["mara"], "description", "The pilot", "The stowaway"),
    "cuts": (lambda w: w["cut"], "description", "First pass", "Second pass"),
}


def api(world, path: str) -> str:
    return f"/api/v1/projects/{world['project'].slug}/{path}"


@pytest.mark.parametrize("collection", VERSIONED)
def test_a_stale_if_match_is_412_a_stale_version_409_and_neither_changes_anything(collection, world, alice, users):
    object_of, field, value, stale_value = VERSIONED[collection]
    obj = object_of(world)
    url = api(world, f"{collection}/{obj.id}/")
    client = token_client(alice)
    read = client.get(url)
    version = read.json()["version"]
    assert read["ETag"] == f'"v{version}"'

    edited = token_client(users["bob"]).patch(url, {field: value}, format="json", HTTP_IF_MATCH=read["ETag"])
    assert edited.status_code == 200, edited.json()  # If-Match alone names the version
    assert edited["ETag"] == f'"v{version + 1}"' and edited.json()[field] == value

    stale = client.patch(url, {field: stale_value}, format="json", HTTP_IF_MATCH=read["ETag"])
    assert stale.status_code == 412
    assert stale.json()["current"][field] == value and stale["ETag"] == edited["ETag"]
    stale_body = client.patch(url, {field: stale_value, "version": version}, format="json")
    assert stale_body.status_code == 409 and stale_body.json()["current"]["version"] == version + 1
    stale_delete = client.delete(url, HTTP_IF_MATCH=read["ETag"])
    assert stale_delete.status_code == 412

    current = type(obj).objects.get(pk=obj.pk)
    assert getattr(current, field) == value and current.deleted_at is None and current.version == version + 1
    assert client.patch(url, {field: stale_value}, format="json", HTTP_IF_MATCH=f'W/"v{version}", "v{version + 1}"').status_code == 200
    assert client.delete(url, HTTP_IF_MATCH="*").status_code == 204
    assert type(obj).objects.get(pk=obj.pk).deleted_at is not None


def test_the_project_answers_its_etag_and_honours_if_match(world, alice):
    url, client = api(world, ""), token_client(alice)
    etag = client.get(url)["ETag"]
    assert client.patch(url, {"description": "Fog"}, format="json", HTTP_IF_MATCH='"v999"').status_code == 412
    assert client.patch(url, {"description": "Fog"}, format="json", HTTP_IF_MATCH=etag).status_code == 200


# --- Identity scores ----------------------------------------------------------------------------

def test_a_takes_identity_scores_are_read_per_cast_member(world, users):
    take, mara, deck = world["take"], world["cast"]["mara"], world["cast"]["deck"]
    url = api(world, f"takes/{take.id}/identity/")
    client = token_client(users["dave"], ["read"])  # viewers may read them
    assert client.get(url).json() == []  # not scored yet
    IdentityScore.objects.create(
        take=take, cast_member=mara, status=IdentityStatus.MATCH, score=0.31, threshold=0.6, method="face distance",
        verdict="Mara matches her references.", frames_sampled=5, frames_scored=4, references_used=1,
        best_frame_index=3, best_frame_time_s=0.125, worst_frame_index=40, worst_frame_time_s=1.67,
        model="dlib face_recognition", model_version="20.0.1")
    IdentityScore.objects.create(
        take=take, cast_member=deck, status=IdentityStatus.NO_FACE, score=None, threshold=12, method="local features",
        verdict="Nothing to compare.", frames_sampled=5, frames_scored=0, references_used=1,
        model="opencv sift", model_version="4.10")
    rows = client.get(url).json()
    assert [(r["handle"], r["status"], r["score"], r["frames_scored"], r["model"]) for r in rows] == [
        ("mara", "match", 0.31, 4, "dlib face_recognition"), ("deck", "no_face", None, 0, "opencv sift")]
    assert rows[0]["verdict"] == "Mara matches her references." and rows[0]["cast_member"] == mara.id
    assert rows[0]["model_version"] == "20.0.1" and rows[0]["best_frame_time_s"] == 0.125
    assert token_client(users["eve"], ["read"]).get(url).status_code == 404
    assert client.get(api(world, "takes/999999/identity/")).status_code == 404


# --- Storyboards and shot lists -------------------------------------------------------------------

def _pdf(response) -> PdfReader:
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf", response.content[:300]
    return PdfReader(io.BytesIO(response.content))


def test_storyboards_and_shot_lists_download_through_the_api(world, users):
    client = token_client(users["dave"], ["read"])
    board = _pdf(client.get(api(world, "storyboard/?paper=letter&layout=3x3")))
    assert "1A" in board.pages[0].extract_text() and round(float(board.pages[0].mediabox.width)) == 792  # US Letter, landscape
    scene_board = _pdf(client.get(api(world, f"storyboard/?scene={world['scene'].id}")))
    assert round(float(scene_board.pages[0].mediabox.width)) == 842  # A4 landscape, the default
    assert "1A" in _pdf(client.get(api(world, f"cuts/{world['cut'].id}/storyboard/"))).pages[0].extract_text()
    assert "1A" in _pdf(client.get(api(world, "shot-list/pdf/?paper=a4"))).pages[0].extract_text()

    shot_list = client.get(api(world, "shot-list/csv/"))
    assert shot_list.status_code == 200 and shot_list["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(shot_list.content.decode("utf-8-sig"))))
    assert any("1A" in row for row in rows[1:])
    browser = session_client(users["dave"]).get(f"/p/{world['project'].slug}/board/shot-list.csv")
    assert browser.content == shot_list.content  # the same service, the same bytes


def test_deliverable_options_are_checked_and_outsiders_see_nothing(world, users):
    client = token_client(users["dave"], ["read"])
    for query in ("storyboard/?paper=a3", "storyboard/?layout=4x4", "storyboard/?scene=abc", "shot-list/pdf/?paper=tabloid"):
        refused = client.get(api(world, query))
        assert refused.status_code == 400 and refused["Content-Type"] == "application/json", query
    assert round(float(_pdf(client.get(api(world, "storyboard/?paper=&layout="))).pages[0].mediabox.width)) == 842  # empty: defaults
    assert client.get(api(world, "storyboard/?scene=999999")).status_code == 404
    assert client.get(api(world, "cuts/999999/storyboard/")).status_code == 404
    outsider = token_client(users["eve"], ["read"])
    assert outsider.get(api(world, "storyboard/")).status_code == 404
    assert outsider.get(api(world, "shot-list/csv/")).status_code == 404


def test_every_deliverable_answers_options(world, users):
    """Found by schemathesis: the downloads' option check once shadowed the view's OPTIONS handler (500)."""
    client = token_client(users["dave"], ["read"])
    for path in ("storyboard/", "shot-list/csv/", "shot-list/pdf/", f"cuts/{world['cut'].id}/storyboard/"):
        assert client.options(api(world, path)).status_code == 200, path
