"""Every write endpoint refuses a viewer (403) and an outsider (404) and writes nothing; members
with the right role get their change made through the service (an audit event is the witness)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studio.models import AuditEvent, Comment, ReferenceImage, Shot, Take
from studio.services.cuts import cut_create
from studio.services.reviews import comment_create
from tests.conftest import png_bytes
from tests.studio.views_helpers import client_for, finished_take

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(project, shot, cast, alice):
    take = finished_take(shot)
    cut = cut_create(project=project, actor=alice, name="Assembly")
    comment = comment_create(take=take, author=alice, body="Warmer light", frame=3)
    image = cast["mara"].images.first()
    return {"project": project, "shot": shot, "scene": shot.scene, "take": take, "cut": cut, "comment": comment,
            "image": image, "member": cast["mara"], "entry": cut.entries.first()}


def write_requests(w) -> dict[str, tuple[str, dict, str]]:
    """name -> (url, data, the least role that may do it)."""
    slug, shot, take, cut = w["project"].slug, w["shot"], w["take"], w["cut"]
    return {
        "cast_new": (reverse("cast_member_new", args=[slug]), {"name": "Gull", "kind": "object", "rights_status": "owned"}, "bob"),
        "cast_edit": (reverse("cast_member_edit", args=[slug, w["member"].id]),
                      {"name": "Mara", "kind": "character", "handle": "mara", "rights_status": "licensed", "version": w["member"].version}, "bob"),
        "cast_trash": (reverse("cast_member_trash", args=[slug, w["member"].id]), {}, "bob"),
        "image_primary": (reverse("reference_image_primary", args=[slug, w["image"].id]), {}, "bob"),
        "image_delete": (reverse("reference_image_delete", args=[slug, w["image"].id]), {}, "bob"),
        "images_reorder": (reverse("reference_images_reorder", args=[slug, w["member"].id]), {"ids": [w["image"].id]}, "bob"),
        "script": (reverse("script", args=[slug]), {"text": "INT. HOUSE - DAY\n\nA door opens.\n"}, "bob"),
        "scene_new": (reverse("scene_new", args=[slug]), {"heading": "EXT. PIER - NIGHT"}, "bob"),
        "shot_new": (reverse("shot_new", args=[slug, w["scene"].id]), {"prompt": "A gull"}, "bob"),
        "shot_edit": (reverse("shot_edit", args=[slug, shot.id]), shot_form(shot, prompt="A wide view"), "bob"),
        "shot_duplicate": (reverse("shot_duplicate", args=[slug, shot.id]), {}, "bob"),
        "shot_delete": (reverse("shot_delete", args=[slug, shot.id]), {}, "bob"),
        "shots_reorder": (reverse("shots_reorder", args=[slug, w["scene"].id]), {"ids": [shot.id]}, "bob"),
        "shot_render": (reverse("shot_render", args=[slug, shot.id]), {}, "bob"),
        "scene_render": (reverse("scene_render", args=[slug, w["scene"].id]), {}, "bob"),
        "render_missing": (reverse("render_missing", args=[slug]), {}, "bob"),
        "comment": (reverse("comments", args=[slug, take.id]), {"body": "Too dark", "frame": 5}, "carol"),
        "resolve": (reverse("comment_resolve", args=[slug, w["comment"].id]), {"resolved": "1"}, "carol"),
        "decide": (reverse("take_decide", args=[slug, take.id]), {"decision": "approved"}, "carol"),
        "rerender": (reverse("take_rerender", args=[slug, take.id]), {"prompt": "@mara at dawn"}, "bob"),
        "cut_new": (reverse("cut_list", args=[slug]), {"name": "Director's cut", "from_board": "on"}, "bob"),
        "cut_reorder": (reverse("cut_reorder", args=[slug, cut.id]), {"ids": [w["entry"].id], "version": cut.version}, "bob"),
        "entry_edit": (reverse("cut_entry_edit", args=[slug, w["entry"].id]), {"in_frame": 2, "out_frame": 40, "version": cut.version}, "bob"),
        "entry_remove": (reverse("cut_entry_remove", args=[slug, w["entry"].id]), {"version": cut.version}, "bob"),
        "export": (reverse("export_new", args=[slug, cut.id]), {"format": "manifest", "confirm_draft": "1"}, "bob"),
    }


def shot_form(shot, **changes) -> dict:
    data = {"code": shot.code, "prompt": shot.prompt, "shot_size": shot.shot_size, "camera_move": shot.camera_move,
            "lens_mm": shot.lens_mm, "duration_s": str(shot.duration_s), "seed": shot.seed, "backend": shot.backend,
            "version": shot.version}
    if shot.continue_from_previous:
        data["continue_from_previous"] = "on"
    return data | changes


WRITES = ["cast_new", "cast_edit", "cast_trash", "image_primary", "image_delete", "images_reorder", "script", "scene_new",
          "shot_new", "shot_edit", "shot_duplicate", "shot_delete", "shots_reorder", "shot_render", "scene_render",
          "render_missing", "comment", "resolve", "decide", "rerender", "cut_new", "cut_reorder", "entry_edit",
          "entry_remove", "export"]


def state() -> tuple:
    return (AuditEvent.objects.count(), Take.objects.count(), Comment.objects.count(), Shot.objects.alive().count(),
            ReferenceImage.objects.count())


@pytest.mark.parametrize("name", WRITES)
def test_a_viewer_is_refused_with_403_and_nothing_is_written(name, world, users):
    url, data, _ = write_requests(world)[name]
    before = state()
    assert client_for(users["dave"]).post(url, data).status_code == 403
    assert state() == before


@pytest.mark.parametrize("name", WRITES)
def test_an_outsider_gets_404_and_nothing_is_written(name, world, users):
    url, data, _ = write_requests(world)[name]
    before = state()
    assert client_for(users["eve"]).post(url, data).status_code == 404
    assert state() == before


@pytest.mark.parametrize("name", WRITES)
def test_the_least_role_allowed_makes_the_change(name, world, users):
    url, data, least = write_requests(world)[name]
    before = AuditEvent.objects.count()
    response = client_for(users[least]).post(url, data, headers={"HX-Request": "true"})
    assert response.status_code in (200, 204, 302), response.content[:600]
    assert AuditEvent.objects.count() > before


def test_a_reviewer_cannot_edit_shots(world, users):
    url, data, _ = write_requests(world)["shot_edit"]
    assert client_for(users["carol"]).post(url, data).status_code == 403


def test_writes_refuse_get(world, users):
    url, _, _ = write_requests(world)["shot_render"]
    assert client_for(users["alice"]).get(url).status_code == 405


def test_a_post_without_the_csrf_token_is_refused(world, users):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(users["alice"])
    url, data, _ = write_requests(world)["shot_render"]
    assert client.post(url, data).status_code == 403


def test_uploads_go_through_the_image_service(world, users):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = reverse("reference_image_upload", args=[world["project"].slug, world["member"].id])
    files = [SimpleUploadedFile("a.png", png_bytes(color=(1, 2, 3))), SimpleUploadedFile("b.png", png_bytes(color=(9, 8, 7)))]
    before = world["member"].images.count()
    response = client_for(users["bob"]).post(url, {"images": files}, headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert len(response.json()["added"]) == 2
    assert world["member"].images.count() == before + 2
    assert all(name.endswith((".png", ".jpg")) for name in world["member"].images.values_list("image", flat=True))


def test_a_file_that_is_not_an_image_is_refused_with_a_reason(world, users):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = reverse("reference_image_upload", args=[world["project"].slug, world["member"].id])
    before = ReferenceImage.objects.count()
    response = client_for(users["bob"]).post(url, {"images": [SimpleUploadedFile("x.png", b"<svg></svg>")]},
                                             headers={"Accept": "application/json"})
    assert response.status_code == 422
    assert "PNG, JPEG or WebP" in response.json()["errors"][0]
    assert ReferenceImage.objects.count() == before
    denied = client_for(users["dave"]).post(url, {"images": [SimpleUploadedFile("a.png", png_bytes())]})
    assert denied.status_code == 403 and ReferenceImage.objects.count() == before
