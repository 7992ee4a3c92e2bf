"""Review room and cut editor: timecoded comments with drawings, decisions, re-renders with an
edited prompt; trims, take swaps, stale cut edits (409) and exports."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from studio.models import Comment, Export, Take
from studio.services.cuts import cut_create, cut_update
from tests.studio.views_helpers import client_for, finished_take

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
DRAWING = {"strokes": [{"color": "#00ff00", "width": 0.01, "points": [[0.1, 0.2], [0.5, 1.7]]}]}


def test_a_timecoded_comment_with_a_drawing_is_saved_and_listed(project, take, users):
    url = reverse("comments", args=[project.slug, take.id])
    response = client_for(users["carol"]).post(url, {"body": "Her hand", "frame": 30, "annotation": json.dumps(DRAWING)}, headers=HTMX)
    assert response.status_code == 200
    comment = Comment.objects.get(take=take)
    assert comment.frame == 30
    assert comment.annotation == {"strokes": [{"color": "#00ff00", "width": 0.01, "points": [[0.1, 0.2], [0.5, 1.0]]}]}
    content = response.content.decode()
    assert "00:00:01:06" in content  # frame 30 at 24 fps
    assert 'id="comment-markers"' in content and '"frame": 30' in content


@pytest.mark.parametrize("data, message", [
    ({"body": "   "}, "Comment: This field is required."),
    ({"body": "x", "frame": 48}, "outside this take"),
    ({"body": "x", "annotation": "{not json"}, "could not be read"),
    ({"body": "x", "annotation": json.dumps({"strokes": [{"points": "nope"}]})}, "could not be read"),
])
def test_refused_comments_say_why_and_write_nothing(project, take, users, data, message):
    response = client_for(users["carol"]).post(reverse("comments", args=[project.slug, take.id]), data, headers=HTMX)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Comment.objects.exists()


def test_replies_and_resolving(project, take, users):
    client = client_for(users["carol"])
    client.post(reverse("comments", args=[project.slug, take.id]), {"body": "Too dark", "frame": 3}, headers=HTMX)
    parent = Comment.objects.get()
    client.post(reverse("comments", args=[project.slug, take.id]), {"body": "Agreed", "parent": parent.id}, headers=HTMX)
    assert Comment.objects.get(parent=parent).body == "Agreed"
    response = client.post(reverse("comment_resolve", args=[project.slug, parent.id]), {"resolved": "1"}, headers=HTMX)
    parent.refresh_from_db()
    assert parent.resolved and parent.resolved_by == users["carol"]
    assert "Reopen" in response.content.decode() and "Agreed" in response.content.decode()


def test_approving_makes_the_take_the_shots_approved_take(project, shot, take, users):
    response = client_for(users["carol"]).post(reverse("take_decide", args=[project.slug, take.id]), {"decision": "approved"})
    assert response.status_code == 302
    shot.refresh_from_db()
    assert shot.approved_take == take
    page = client_for(users["dave"]).get(reverse("review", args=[project.slug, shot.id])).content.decode()
    assert "This take is approved" not in page  # dave cannot review: no decision panel
    assert "Approved · carol" in page


def test_a_rerender_with_an_edited_prompt_makes_a_new_take_and_keeps_the_shot_prompt(project, shot, take, users):
    response = client_for(users["bob"]).post(reverse("take_rerender", args=[project.slug, take.id]), {"prompt": "@mara at dawn"})
    new = Take.objects.filter(shot=shot).exclude(pk=take.pk).get()
    assert response.status_code == 302 and response["Location"].endswith(f"?take={new.id}")
    assert new.request["prompt"] == "@mara at dawn"
    shot.refresh_from_db()
    assert shot.prompt == "@mara looks out over the @deck"


def test_a_rerender_conditions_on_cast_newly_mentioned_in_the_edited_prompt(project, shot, take, users, alice):
    from studio.services.cast import cast_member_create, reference_image_add
    from tests.conftest import png_bytes

    lamp = cast_member_create(project=project, actor=alice, name="Lamp", kind="object", handle="lamp")
    image = reference_image_add(member=lamp, actor=alice, data=png_bytes(color=(240, 200, 40)))
    response = client_for(users["bob"]).post(reverse("take_rerender", args=[project.slug, take.id]),
                                             {"prompt": "@mara lights the @lamp on the @deck"})
    assert response.status_code == 302
    new = Take.objects.filter(shot=shot).exclude(pk=take.pk).get()
    handles = [reference["handle"] for reference in new.request["references"]]
    assert handles == ["mara", "lamp", "deck"]
    assert new.request["references"][1]["image_sha256s"] == [image.sha256]
    shot.refresh_from_db()
    assert [link.cast_member.handle for link in shot.cast_links.order_by("order")] == ["mara", "deck"]  # shot untouched


def test_a_rerender_naming_unknown_cast_is_refused_and_writes_nothing(project, shot, take, users):
    response = client_for(users["bob"]).post(reverse("take_rerender", args=[project.slug, take.id]),
                                             {"prompt": "@mara meets @nobody"}, headers=HTMX)
    assert response.status_code == 422
    assert "@nobody" in response.content.decode()
    assert Take.objects.filter(shot=shot).count() == 1


def test_compare_shows_both_takes(project, shot, take, users):
    other = finished_take(shot, number=2)
    url = reverse("review", args=[project.slug, shot.id]) + f"?take={take.id}&compare={other.id}"
    content = client_for(users["dave"]).get(url).content.decode()
    assert 'id="video-main"' in content and 'id="video-compare"' in content
    assert other.video.name in content and take.video.name in content


def test_a_take_of_another_shot_is_404_in_the_review_room(project, scene, shot, take, users, alice):
    from studio.services.shots import shot_create

    stranger = finished_take(shot_create(scene=scene, actor=alice, prompt="x", code="9Z"))
    url = reverse("review", args=[project.slug, shot.id]) + f"?take={stranger.id}"
    assert client_for(users["dave"]).get(url).status_code == 404


@pytest.fixture
def cut(project, shot, take, alice):
    return cut_create(project=project, actor=alice, name="Assembly")


def test_the_cut_editor_lists_entries_with_running_time_and_a_playlist(project, cut, take, users):
    content = client_for(users["dave"]).get(reverse("cut_editor", args=[project.slug, cut.id])).content.decode()
    assert "00:00:02:00" in content  # 48 frames at 24 fps
    playlist = json.loads(content.split('id="cut-playlist" type="application/json">')[1].split("</script>")[0])
    assert playlist == [{"entry": cut.entries.get().id, "shot": "1A", "in": 0, "out": 48,
                         "src": reverse("project_media", args=[project.slug, take.video.name])}]


def test_trimming_an_entry_changes_the_running_time(project, cut, take, users):
    entry = cut.entries.get()
    response = client_for(users["bob"]).post(reverse("cut_entry_edit", args=[project.slug, entry.id]),
                                             {"in_frame": 12, "out_frame": 36, "version": cut.version, "take": take.id}, headers=HTMX)
    assert response.status_code == 200
    entry.refresh_from_db()
    assert (entry.in_frame, entry.out_frame, entry.take) == (12, 36, take)
    assert "00:00:01:00" in response.content.decode()


@pytest.mark.parametrize("approved", [True, False], ids=["approved take", "newest finished take"])
def test_a_trim_outside_the_take_is_refused_with_a_reason(project, cut, take, users, approved):
    from studio.services.reviews import review_decide

    if approved:
        review_decide(take=take, actor=users["carol"], decision="approved")
    entry = cut.entries.get()
    response = client_for(users["bob"]).post(reverse("cut_entry_edit", args=[project.slug, entry.id]),
                                             {"in_frame": 0, "out_frame": 480, "version": cut.version}, headers=HTMX)
    assert response.status_code == 422 and "The take has 48 frames" in response.content.decode()
    entry.refresh_from_db()
    assert entry.out_frame is None


def test_a_stale_cut_edit_returns_409_with_the_cut_as_it_is(project, cut, users):
    entry = cut.entries.get()
    loaded_version = cut.version
    cut_update(cut=cut, actor=users["alice"], description="changed meanwhile")
    response = client_for(users["bob"]).post(reverse("cut_entry_edit", args=[project.slug, entry.id]),
                                             {"in_frame": 5, "version": loaded_version}, headers=HTMX)
    assert response.status_code == 409
    content = response.content.decode()
    assert "Someone else changed this cut" in content and f'data-version="{loaded_version + 1}"' in content
    entry.refresh_from_db()
    assert entry.in_frame == 0


@pytest.mark.parametrize("version", [None, "", "latest"], ids=["left out", "empty", "not a number"])
@pytest.mark.parametrize("write", ["cut_reorder", "cut_entry_remove", "cut_entry_edit"])
def test_a_cut_write_without_its_version_is_refused_and_changes_nothing(project, scene, cut, users, alice, write, version):
    # An API client that leaves the version out must not slip past the edit-conflict check.
    from studio.models import CutEntry
    from studio.services.cuts import cut_entry_add
    from studio.services.shots import shot_create

    cut_entry_add(cut=cut, actor=alice, shot=shot_create(scene=scene, actor=alice, prompt="x", code="2A"))
    cut.refresh_from_db()
    first, second = cut.entries.order_by("order")
    before = (cut.version, list(CutEntry.objects.filter(cut=cut).order_by("order").values_list("id", "in_frame")))
    url, data = {
        "cut_reorder": (reverse("cut_reorder", args=[project.slug, cut.id]), {"ids": [second.id, first.id]}),
        "cut_entry_remove": (reverse("cut_entry_remove", args=[project.slug, first.id]), {}),
        "cut_entry_edit": (reverse("cut_entry_edit", args=[project.slug, first.id]), {"in_frame": 5}),
    }[write]
    if version is not None:
        data["version"] = version
    response = client_for(users["bob"]).post(url, data, headers=HTMX)
    assert response.status_code == 400
    assert "Send the cut's version" in response.content.decode()
    cut.refresh_from_db()
    assert (cut.version, list(CutEntry.objects.filter(cut=cut).order_by("order").values_list("id", "in_frame"))) == before


def test_swapping_to_a_take_of_another_shot_is_404(project, scene, cut, users, alice):
    from studio.services.shots import shot_create

    stranger = finished_take(shot_create(scene=scene, actor=alice, prompt="x", code="9Z"))
    entry = cut.entries.get()
    response = client_for(users["bob"]).post(reverse("cut_entry_edit", args=[project.slug, entry.id]),
                                             {"take": stranger.id, "in_frame": 0, "version": cut.version})
    assert response.status_code == 404


def test_exports_are_queued_and_listed(project, cut, users):
    # The cut's shot is not approved: "export anyway" is confirmed (tests/studio/test_deliverables.py asks first).
    response = client_for(users["bob"]).post(reverse("export_new", args=[project.slug, cut.id]),
                                             {"format": "edl", "confirm_draft": "1"}, headers=HTMX)
    assert response.status_code == 200
    export = Export.objects.get()
    assert export.format == "edl" and export.status == "queued"
    assert f'data-export-id="{export.id}"' in response.content.decode()
    assert "export queued" in json.loads(response["HX-Trigger"])["toast"]["message"]


def test_only_an_owner_may_override_unknown_rights(project, cut, users):
    response = client_for(users["bob"]).post(reverse("export_new", args=[project.slug, cut.id]),
                                             {"format": "mp4", "rights_override": "on"}, headers=HTMX)
    assert response.status_code == 422 and "owner" in response.content.decode()
    assert not Export.objects.exists()


def test_an_export_of_a_cut_with_unrendered_shots_asks_first(project, scene, cut, users, alice):
    from studio.services.cuts import cut_entry_add
    from studio.services.shots import shot_create

    cut_entry_add(cut=cut, actor=alice, shot=shot_create(scene=scene, actor=alice, prompt="x", code="2A"))
    response = client_for(users["bob"]).post(reverse("export_new", args=[project.slug, cut.id]), {"format": "edl"}, headers=HTMX)
    assert response.status_code == 200 and 'data-draft="missing">2A<' in response.content.decode()
    assert not Export.objects.exists()


def test_script_import_shows_the_report_and_links_headings_to_the_board(project, users):
    text = "Title: Ferry\n\nINT. CABIN - NIGHT\n\nMara wakes.\n\nMARA\nWhere are we?\n\nEXT. DECK - DAWN\n\nGulls.\n"
    client = client_for(users["bob"])
    response = client.post(reverse("script", args=[project.slug]), {"text": text}, follow=True)
    content = response.content.decode()
    assert response.status_code == 200
    assert "Script version 1 imported" in content
    assert "+ INT. CABIN - NIGHT" in content and "+ EXT. DECK - DAWN" in content
    from studio.models import Scene

    cabin = Scene.objects.get(project=project, heading="INT. CABIN - NIGHT")
    assert f'href="/p/{project.slug}/board/#scene-{cabin.id}"' in content
    assert '<p class="sp-character">MARA</p>' in content
    again = client.post(reverse("script", args=[project.slug]), {"text": text}, follow=True)
    assert "nothing changed" in again.content.decode()


def test_an_empty_script_import_is_refused(project, users):
    response = client_for(users["bob"]).post(reverse("script", args=[project.slug]), {"text": ""})
    assert response.status_code == 422 and "Choose a .fountain file or paste the script" in response.content.decode()
