"""Cast members and their reference images: handles, uploads made safe, primary and order."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image

from studio.models import AuditEvent, CastKind, CastMember, ReferenceImage, RightsStatus
from studio.services.cast import (
    cast_member_create, cast_member_trash, cast_member_update, reference_image_add, reference_image_delete,
    reference_image_set_primary, reference_images_reorder,
)
from studio.services.common import StaleVersion
from tests.conftest import png_bytes


def media_files() -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def primary_ids(member) -> list[int]:
    return list(ReferenceImage.objects.filter(cast_member=member, is_primary=True).values_list("id", flat=True))


@pytest.fixture
def mara(project, alice):
    return cast_member_create(project=project, actor=alice, name="Mara Quinn", description="Ferry pilot")


def test_cast_member_create_derives_a_handle_and_audits(project, mara, alice):
    assert mara.handle == "mara_quinn"
    assert (mara.kind, mara.rights_status, mara.name, mara.version) == (CastKind.CHARACTER, RightsStatus.UNKNOWN, "Mara Quinn", 1)
    assert str(mara) == "@mara_quinn"
    event = AuditEvent.objects.get(project=project, object_type="castmember")
    assert (event.verb, event.actor, event.object_id) == ("created", alice, str(mara.id))


def test_derived_handles_never_collide(project, mara, alice):
    second = cast_member_create(project=project, actor=alice, name="Mara Quinn")
    third = cast_member_create(project=project, actor=alice, name="mara quinn")
    assert [second.handle, third.handle] == ["mara_quinn_2", "mara_quinn_3"]


def test_explicit_handle_must_be_free_in_the_project(project, mara, alice, users):
    with pytest.raises(ValidationError, match="@mara_quinn is already used"):
        cast_member_create(project=project, actor=alice, name="Someone else", handle="mara_quinn")
    assert CastMember.objects.filter(project=project).count() == 1
    from studio.services.projects import project_create

    other = project_create(owner=users["eve"], name="Other film")
    elsewhere = cast_member_create(project=other, actor=users["eve"], name="Other Mara", handle="mara_quinn")
    assert elsewhere.handle == "mara_quinn"


def test_a_trashed_members_handle_can_be_reused(project, mara, alice):
    cast_member_trash(member=mara, actor=alice)
    assert CastMember.objects.get(pk=mara.pk).is_trashed
    assert AuditEvent.objects.filter(verb="trashed", object_id=str(mara.id)).exists()
    again = cast_member_create(project=project, actor=alice, name="Mara (recast)", handle="mara_quinn")
    assert again.handle == "mara_quinn" and again.pk != mara.pk
    assert cast_member_create(project=project, actor=alice, name="Mara Quinn").handle == "mara_quinn_2"


def test_cast_member_create_refuses_bad_kind(project, alice):
    with pytest.raises(ValidationError):
        cast_member_create(project=project, actor=alice, name="Thing", kind="dragon")
    assert not CastMember.objects.exists()


def test_cast_member_update_versions_and_handle_checks(project, mara, alice, users):
    other = cast_member_create(project=project, actor=alice, name="Jonah")
    with pytest.raises(ValidationError, match="already used"):
        cast_member_update(member=mara, actor=alice, handle="jonah")
    cast_member_update(member=mara, actor=alice, expected_version=1, rights_status=RightsStatus.CONSENT, handle="Captain Mara")
    stored = CastMember.objects.get(pk=mara.pk)
    assert (stored.rights_status, stored.handle, stored.version) == (RightsStatus.CONSENT, "captain_mara", 2)
    with pytest.raises(StaleVersion):
        cast_member_update(member=CastMember.objects.get(pk=other.pk), actor=users["bob"], expected_version=5, name="x")
    assert CastMember.objects.get(pk=other.pk).name == "Jonah"


def test_first_image_is_primary_and_files_are_named_by_content(project, mara, alice):
    upload = png_bytes(size=(64, 48))
    first = reference_image_add(member=mara, actor=alice, data=upload)
    second = reference_image_add(member=mara, actor=alice, data=png_bytes(size=(30, 40), color=(0, 120, 0)))
    assert (first.is_primary, second.is_primary) == (True, False)
    assert (first.order, second.order) == (1, 2)
    first.refresh_from_db()
    assert (first.width, first.height) == (64, 48)
    assert first.uploaded_by == alice
    assert first.image.name == f"projects/{project.id}/cast/{mara.id}/{first.sha256[:32]}.jpg"
    stored = Path(first.image.path).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == first.sha256
    assert first.sha256 != hashlib.sha256(upload).hexdigest()  # re-encoded, not the uploaded bytes
    assert Image.open(io.BytesIO(stored)).format == "JPEG"
    assert AuditEvent.objects.filter(verb="image added", object_id=str(mara.id)).count() == 2


def test_uploaded_metadata_is_not_stored(mara, alice):
    image = Image.new("RGB", (64, 48), (90, 90, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    stored = reference_image_add(member=mara, actor=alice, data=out.getvalue())
    data = Path(stored.image.path).read_bytes()
    assert b"SpyCam" not in data
    assert not Image.open(io.BytesIO(data)).getexif()


def test_transparent_images_stay_png(mara, alice):
    stored = reference_image_add(member=mara, actor=alice, data=png_bytes(alpha=True))
    assert stored.image.name.endswith(".png")
    assert Image.open(stored.image.path).mode == "RGBA"


def test_the_same_picture_twice_is_stored_once(mara, alice):
    first = reference_image_add(member=mara, actor=alice, data=png_bytes())
    files = media_files()
    again = reference_image_add(member=mara, actor=alice, data=png_bytes())
    assert again.pk == first.pk
    assert ReferenceImage.objects.filter(cast_member=mara).count() == 1
    assert media_files() == files


def test_image_limit_per_member(mara, alice, monkeypatch):
    monkeypatch.setattr("studio.services.cast.MAX_IMAGES_PER_CAST_MEMBER", 2)
    reference_image_add(member=mara, actor=alice, data=png_bytes(color=(1, 2, 3)))
    reference_image_add(member=mara, actor=alice, data=png_bytes(color=(200, 2, 3)))
    files = media_files()
    with pytest.raises(ValidationError, match="already has 2 reference images"):
        reference_image_add(member=mara, actor=alice, data=png_bytes(color=(1, 200, 3)))
    assert ReferenceImage.objects.filter(cast_member=mara).count() == 2
    assert media_files() == files


@pytest.mark.parametrize("data", [b"not an image at all", b"<svg xmlns='http://www.w3.org/2000/svg'/>", png_bytes()[:60], b""])
def test_bad_bytes_write_nothing(mara, alice, data):
    with pytest.raises(ValidationError):
        reference_image_add(member=mara, actor=alice, data=data, label="face.png")
    assert not ReferenceImage.objects.exists()
    assert media_files() == []
    assert not AuditEvent.objects.filter(verb="image added").exists()


def test_set_primary_keeps_exactly_one(mara, alice):
    a = reference_image_add(member=mara, actor=alice, data=png_bytes(color=(10, 10, 10)))
    b = reference_image_add(member=mara, actor=alice, data=png_bytes(color=(200, 10, 10)))
    reference_image_set_primary(image=b, actor=alice)
    assert primary_ids(mara) == [b.id]
    reference_image_set_primary(image=a, actor=alice)
    assert primary_ids(mara) == [a.id]
    assert list(mara.images.values_list("id", flat=True)) == [a.id, b.id]  # primary first


def test_reorder_images(mara, alice):
    a, b, c = (reference_image_add(member=mara, actor=alice, data=png_bytes(color=(i * 80, 10, 10))) for i in range(3))
    reference_images_reorder(member=mara, actor=alice, image_ids=[c.id, b.id, a.id])
    assert dict(ReferenceImage.objects.values_list("id", "order")) == {c.id: 1, b.id: 2, a.id: 3}
    for wrong in ([a.id, b.id], [a.id, b.id, c.id, 987654]):
        with pytest.raises(ValidationError):
            reference_images_reorder(member=mara, actor=alice, image_ids=wrong)
    assert dict(ReferenceImage.objects.values_list("id", "order")) == {c.id: 1, b.id: 2, a.id: 3}


def test_deleting_the_primary_promotes_the_next(mara, alice):
    a, b, c = (reference_image_add(member=mara, actor=alice, data=png_bytes(color=(i * 80, 10, 10))) for i in range(3))
    reference_images_reorder(member=mara, actor=alice, image_ids=[a.id, c.id, b.id])
    path = Path(a.image.path)
    reference_image_delete(image=ReferenceImage.objects.get(pk=a.pk), actor=alice)
    assert not ReferenceImage.objects.filter(pk=a.pk).exists()
    assert primary_ids(mara) == [c.id]
    assert path.exists()  # takes that used it keep their provenance
    reference_image_delete(image=ReferenceImage.objects.get(pk=b.pk), actor=alice)
    assert primary_ids(mara) == [c.id]
    assert AuditEvent.objects.filter(verb="image removed").count() == 2


def test_a_rotated_photo_is_stored_upright_with_its_upright_size(mara, alice):
    image = Image.new("RGB", (64, 48), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera says: rotate 90° to display
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    stored = reference_image_add(member=mara, actor=alice, data=out.getvalue())
    stored.refresh_from_db()
    assert Image.open(stored.image.path).size == (48, 64)
    assert (stored.width, stored.height) == (48, 64)


def test_one_form_sent_twice_adds_one_member(project, alice):
    first = cast_member_create(project=project, actor=alice, name="Tomas", request_token="form-1")
    again = cast_member_create(project=project, actor=alice, name="Tomas", request_token="form-1")
    other_form = cast_member_create(project=project, actor=alice, name="Tomas", request_token="form-2")
    assert again.pk == first.pk
    assert (first.handle, other_form.handle) == ("tomas", "tomas_2")
    assert CastMember.objects.alive().filter(project=project).count() == 2


def test_a_token_whose_member_went_to_the_trash_adds_a_new_one(project, alice):
    first = cast_member_create(project=project, actor=alice, name="Ines", request_token="form-3")
    cast_member_trash(member=first, actor=alice)
    again = cast_member_create(project=project, actor=alice, name="Ines", request_token="form-3")
    assert again.pk != first.pk and again.handle == "ines"
