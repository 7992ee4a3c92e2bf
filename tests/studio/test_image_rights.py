"""Rights per reference image (studio/services/references.py, exports.py, sharing.py, cast.py):
deliverables refuse uncleared images and name them, the manifest lists each image's rights, and an
internal draft goes ahead with "NOT CLEARED" burnt into its frames (real ffmpeg, a decoded frame)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from generation.media import HouseFormat, encode_frames
from studio.models import Export, ExportStatus, ImageRights, Project, ReferenceImage, RightsStatus, Take, TakeStatus
from studio.services.cast import cast_member_create, cast_member_update, reference_image_add, reference_image_set_rights
from studio.services.cuts import cut_create, export_request
from studio.services.exports import export_run
from studio.services.render_requests import render_request_for
from studio.services.sharing import review_link_create
from tests.conftest import png_bytes
from tests.studio.views_helpers import client_for

pytestmark = pytest.mark.django_db(transaction=True)

SMALL = HouseFormat(width=160, height=90, fps=12)
BLUE = (30, 90, 160)


def rendered_take(shot) -> Take:
    """A finished take of `shot` with a real house-format clip (plain blue) and the request the
    studio would record for it (its cast's reference images and their sha256)."""
    name = f"projects/{shot.scene.project_id}/takes/{shot.id}-rights.mp4"
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_frames((np.full((SMALL.height, SMALL.width, 3), BLUE, dtype=np.uint8) for _ in range(6)), SMALL, path)
    return Take.objects.create(
        shot=shot, number=1, backend="animatic", request=render_request_for(shot).to_dict(), signature=f"sig-{shot.id}",
        status=TakeStatus.SUCCEEDED, frames=6, progress=1.0, video=name, finished_at=timezone.now(),
    )


@pytest.fixture
def cut(project, shot, alice, ffmpeg_available):
    """A one-shot cut whose take used @mara's and @deck's images (both cleared: their members are owned)."""
    Project.objects.filter(pk=project.pk).update(width=SMALL.width, height=SMALL.height, fps=SMALL.fps)
    rendered_take(shot)
    return cut_create(project=project, actor=alice, name="Assembly")


def mara_image(cast) -> ReferenceImage:
    return cast["mara"].images.get()


def test_a_new_image_takes_its_members_status_and_an_imported_character_starts_unknown(project, alice, cast):
    assert mara_image(cast).rights_status == ImageRights.CLEARED  # @mara is owned
    imported = cast_member_create(project=project, actor=alice, name="Stranger")  # as the script import does
    image = reference_image_add(member=imported, actor=alice, data=png_bytes(color=(10, 200, 10)))
    assert (imported.rights_status, image.rights_status) == (RightsStatus.UNKNOWN, ImageRights.UNKNOWN)


def test_recording_a_members_rights_clears_its_undecided_images_only(project, alice):
    member = cast_member_create(project=project, actor=alice, name="Stranger")  # unknown, as imported
    undecided = reference_image_add(member=member, actor=alice, data=png_bytes(color=(10, 200, 10)))
    pending = reference_image_add(member=member, actor=alice, data=png_bytes(color=(200, 200, 10)))
    reference_image_set_rights(image=pending, actor=alice, rights_status=ImageRights.PENDING, rights_source="Agency")

    cast_member_update(member=member, actor=alice, rights_status=RightsStatus.LICENSED, rights_note="Stock licence 7")

    undecided.refresh_from_db()
    pending.refresh_from_db()
    assert (undecided.rights_status, undecided.rights_source, undecided.licence_note) == ("cleared", "Licensed", "Stock licence 7")
    assert (pending.rights_status, pending.rights_source) == ("pending", "Agency")


def test_the_migration_carries_each_members_status_to_its_images(project, alice, cast):
    from importlib import import_module

    migration = import_module("studio.migrations.0015_rights_per_image")
    consented = cast_member_create(project=project, actor=alice, name="Ines", rights_status=RightsStatus.CONSENT,
                                   rights_note="Release form 12")
    reference_image_add(member=consented, actor=alice, data=png_bytes(color=(10, 10, 200)))
    unknown = cast_member_create(project=project, actor=alice, name="Stranger")
    reference_image_add(member=unknown, actor=alice, data=png_bytes(color=(10, 200, 10)))
    ReferenceImage.objects.update(rights_status=ImageRights.UNKNOWN, rights_source="", licence_note="")  # as before 0018

    migration.member_rights_to_images(apps, None)

    rows = {i.cast_member.handle: (i.rights_status, i.rights_source, i.licence_note)
            for i in ReferenceImage.objects.select_related("cast_member")}
    assert rows["ines"] == (ImageRights.CLEARED, "Consent on file", "Release form 12")
    assert rows["mara"][0] == ImageRights.CLEARED
    assert rows["stranger"] == (ImageRights.UNKNOWN, "", "")


def test_an_export_with_an_uncleared_image_is_refused_and_names_the_image(cut, cast, alice):
    image = reference_image_set_rights(image=mara_image(cast), actor=alice, rights_status=ImageRights.PENDING)

    with pytest.raises(ValidationError) as refused:
        export_request(cut=cut, actor=alice, fmt="mp4")

    message = refused.value.messages[0]
    assert f"@mara image {image.sha256[:12]} (pending; used in 1A)" in message
    assert "@deck" not in message  # cleared images are not listed
    assert not Export.objects.exists()  # nothing queued


def test_rights_withdrawn_after_queuing_fail_the_export_on_the_worker(cut, cast, alice):
    export = export_request(cut=cut, actor=alice, fmt="mp4")
    image = reference_image_set_rights(image=mara_image(cast), actor=alice, rights_status=ImageRights.REFUSED)

    export_run(export_id=export.id)

    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED and not export.file
    assert f"@mara image {image.sha256[:12]} (refused" in export.error


def test_the_manifest_lists_each_images_rights(cut, cast, alice):
    reference_image_set_rights(image=cast["deck"].images.get(), actor=alice, rights_status=ImageRights.CLEARED,
                               rights_source="Location scout, own photo", licence_note="Ours")
    export = export_request(cut=cut, actor=alice, fmt="manifest")
    export_run(export_id=export.id)

    export.refresh_from_db()
    assert export.status == ExportStatus.SUCCEEDED, export.error
    manifest = json.loads(export.file.read())
    images = {ref["handle"]: ref for ref in manifest["entries"][0]["references"]}
    assert images["deck"]["rights_status"] == "cleared"
    assert (images["deck"]["rights_source"], images["deck"]["licence_note"]) == ("Location scout, own photo", "Ours")
    assert images["mara"]["rights_status"] == "cleared" and images["mara"]["image_id"] == mara_image(cast).id
    assert manifest["rights"] == {"all_cleared": True, "not_cleared": False, "internal_draft": False, "uncleared_images": []}


def decoded_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def test_an_internal_draft_with_an_unknown_image_is_watermarked_named_and_marked(cut, cast, alice):
    image = reference_image_set_rights(image=mara_image(cast), actor=alice, rights_status=ImageRights.UNKNOWN)
    video = export_request(cut=cut, actor=alice, fmt="mp4", internal_draft=True)
    manifest = export_request(cut=cut, actor=alice, fmt="manifest", internal_draft=True)
    export_run(export_id=video.id)
    export_run(export_id=manifest.id)

    video.refresh_from_db()
    manifest.refresh_from_db()
    assert video.status == ExportStatus.SUCCEEDED, video.error
    assert "NOT CLEARED" in video.file.name and "NOT CLEARED" in manifest.file.name
    assert any(image.sha256[:12] in warning and "NOT CLEARED" in warning for warning in video.warnings)
    frame = decoded_frame(Path(video.file.path)).astype(int)
    middle, top = frame[SMALL.height // 2, :8].mean(axis=0), frame[4, :8].mean(axis=0)
    assert middle[0] > 150 and middle[1] < 90 and middle[2] < 110, middle  # the red band across the middle
    assert abs(top - np.array(BLUE)).max() < 25, top  # the take's own picture elsewhere
    rights = json.loads(manifest.file.read())["rights"]
    assert (rights["not_cleared"], rights["internal_draft"], rights["all_cleared"]) == (True, True, False)
    assert [(i["handle"], i["sha256"], i["rights_status"], i["shots"]) for i in rights["uncleared_images"]] == [
        ("mara", image.sha256, "unknown", ["1A"])]


def test_a_deliverable_of_a_cleared_cut_is_not_watermarked(cut, alice):
    export = export_request(cut=cut, actor=alice, fmt="mp4")
    export_run(export_id=export.id)

    export.refresh_from_db()
    assert export.status == ExportStatus.SUCCEEDED, export.error
    assert "NOT CLEARED" not in export.file.name
    middle = decoded_frame(Path(export.file.path)).astype(int)[SMALL.height // 2, :8].mean(axis=0)
    assert abs(middle - np.array(BLUE)).max() < 25, middle


def test_refused_consent_blocks_even_an_internal_draft(cut, cast, alice):
    reference_image_set_rights(image=mara_image(cast), actor=alice, rights_status=ImageRights.REFUSED)
    with pytest.raises(ValidationError, match="@mara image .* \\(refused"):
        export_request(cut=cut, actor=alice, fmt="mp4", internal_draft=True)


def test_an_owners_override_lets_unknown_through_but_never_pending(cut, cast, alice):
    reference_image_set_rights(image=mara_image(cast), actor=alice, rights_status=ImageRights.UNKNOWN)
    assert export_request(cut=cut, actor=alice, fmt="edl", rights_override=True).internal_draft is False
    reference_image_set_rights(image=mara_image(cast), actor=alice, rights_status=ImageRights.PENDING)
    with pytest.raises(ValidationError, match="pending"):
        export_request(cut=cut, actor=alice, fmt="edl", rights_override=True)


def test_a_guest_link_to_a_cut_with_an_uncleared_image_is_refused(cut, cast, alice, project, shot):
    image = reference_image_set_rights(image=mara_image(cast), actor=alice, rights_status=ImageRights.PENDING)
    for target in ({"cut": cut}, {"shot": shot}):
        with pytest.raises(ValidationError) as refused:
            review_link_create(project=project, actor=alice, **target)
        assert f"@mara image {image.sha256[:12]} (pending; used in 1A)" in refused.value.messages[0]

    reference_image_set_rights(image=mara_image(cast), actor=alice, rights_status=ImageRights.CLEARED)
    link, _token = review_link_create(project=project, actor=alice, cut=cut)
    assert link.cut_id == cut.id


def test_the_cast_page_edits_an_images_rights_and_a_viewer_cannot(project, cast, users):
    image = mara_image(cast)
    url = reverse("reference_image_rights", args=[project.slug, image.id])
    posted = {"rights_status": "pending", "rights_source": "Agency X", "licence_note": "Awaiting the signed release"}

    assert client_for(users["dave"]).post(url, posted).status_code in (403, 404)
    assert client_for(users["eve"]).post(url, posted).status_code == 404
    image.refresh_from_db()
    assert image.rights_status == ImageRights.CLEARED

    response = client_for(users["bob"]).post(url, posted, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    image.refresh_from_db()
    assert (image.rights_status, image.rights_source, image.licence_note) == ("pending", "Agency X", "Awaiting the signed release")
    assert "NOT CLEARED: Pending" in response.content.decode()

    bad = client_for(users["bob"]).post(url, {"rights_status": "maybe"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 422 and "rights_status" in bad.content.decode()
    image.refresh_from_db()
    assert image.rights_status == ImageRights.PENDING  # bad input loses nothing


def test_a_guest_link_pauses_while_an_images_rights_are_withdrawn(cut, cast, alice, project):
    link, token = review_link_create(project=project, actor=alice, cut=cut)
    page = reverse("guest_review", args=[token])
    assert client_for(None).get(page).status_code == 200

    reference_image_set_rights(image=mara_image(cast), actor=alice, rights_status=ImageRights.PENDING)
    paused = client_for(None).get(page)
    assert paused.status_code == 451 and b"paused" in paused.content
    assert reverse("guest_media", args=[token, Take.objects.get().id]).encode() not in paused.content

    reference_image_set_rights(image=mara_image(cast), actor=alice, rights_status=ImageRights.CLEARED)
    assert client_for(None).get(page).status_code == 200


def test_the_api_sets_an_images_rights_and_an_export_request_then_names_it(cut, cast, users, project):
    from tests.api.conftest import token_client

    image = mara_image(cast)
    api = token_client(users["bob"])
    answer = api.patch(f"/api/v1/projects/{project.slug}/images/{image.id}/",
                       {"rights_status": "refused", "rights_source": "Agency X"}, format="json")
    assert answer.status_code == 200 and (answer.json()["rights_status"], answer.json()["rights_source"]) == ("refused", "Agency X")

    refused = api.post(f"/api/v1/projects/{project.slug}/cuts/{cut.id}/exports/", {"format": "mp4"}, format="json")
    assert refused.status_code == 400 and f"@mara image {image.sha256[:12]} (refused" in refused.content.decode()
    bad = api.patch(f"/api/v1/projects/{project.slug}/images/{image.id}/", {"rights_status": "maybe"}, format="json")
    assert bad.status_code == 400
    image.refresh_from_db()
    assert image.rights_status == ImageRights.REFUSED
