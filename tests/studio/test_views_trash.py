"""The trash page and restore (owners only), the purge of old trash with its files, and the
activity page (every member)."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from studio.models import AuditEvent, CastMember, Cut, Scene, Shot, Take
from studio.services.cast import cast_member_create, cast_member_trash
from studio.services.common import trash
from studio.services.cuts import cut_create, cut_trash
from studio.services.shots import shot_trash
from tests.studio.views_helpers import client_for, finished_take

pytestmark = pytest.mark.django_db


def _age(obj, days: int) -> None:
    type(obj).objects.filter(pk=obj.pk).update(deleted_at=timezone.now() - timedelta(days=days))


def test_the_owner_sees_recent_trash_and_restores_it(project, shot, alice, users):
    shot_trash(shot=shot, actor=alice)
    client = client_for(alice)
    page = client.get(reverse("trash", args=[project.slug]))
    assert page.status_code == 200 and f'id="trash-shot-{shot.id}"'.encode() in page.content
    response = client.post(reverse("trash_restore", args=[project.slug, "shot", shot.id]))
    assert response.status_code == 302
    shot.refresh_from_db()
    assert not shot.is_trashed
    assert AuditEvent.objects.filter(verb="restored", object_type="shot", object_id=str(shot.id)).exists()


def test_items_older_than_30_days_are_not_listed_or_restorable(project, shot, alice):
    shot_trash(shot=shot, actor=alice)
    _age(shot, 31)
    client = client_for(alice)
    assert f'id="trash-shot-{shot.id}"'.encode() not in client.get(reverse("trash", args=[project.slug])).content
    assert client.post(reverse("trash_restore", args=[project.slug, "shot", shot.id])).status_code == 404
    assert Shot.objects.get(pk=shot.pk).is_trashed


@pytest.mark.parametrize("name, status", [("bob", 403), ("carol", 403), ("dave", 403), ("eve", 404)])
def test_only_owners_see_and_restore_the_trash(name, status, project, shot, alice, users):
    shot_trash(shot=shot, actor=alice)
    client = client_for(users[name])
    assert client.get(reverse("trash", args=[project.slug])).status_code == status
    assert client.post(reverse("trash_restore", args=[project.slug, "shot", shot.id])).status_code == status
    assert Shot.objects.get(pk=shot.pk).is_trashed


@pytest.mark.parametrize("kind", ["scene", "cast", "cut", "take"])
def test_every_kind_restores(kind, project, shot, scene, alice):
    obj = {
        "scene": lambda: scene,
        "cast": lambda: cast_member_create(project=project, actor=alice, name="Gull"),
        "cut": lambda: cut_create(project=project, actor=alice, name="Rough"),
        "take": lambda: finished_take(shot),
    }[kind]()
    trash(obj, actor=alice, project_id=project.id)
    response = client_for(alice).post(reverse("trash_restore", args=[project.slug, kind, obj.id]))
    assert response.status_code == 302
    obj.refresh_from_db()
    assert not obj.is_trashed


def test_restoring_a_cast_member_whose_handle_was_reused_is_refused(project, alice):
    first = cast_member_create(project=project, actor=alice, name="Gull", handle="gull")
    cast_member_trash(member=first, actor=alice)
    cast_member_create(project=project, actor=alice, name="Gull again", handle="gull")
    client_for(alice).post(reverse("trash_restore", args=[project.slug, "cast", first.id]))
    assert CastMember.objects.get(pk=first.pk).is_trashed


def test_another_projects_trash_is_404(project, users, alice):
    from studio.services.projects import project_create
    from studio.services.shots import scene_create

    other = project_create(owner=alice, name="Elsewhere")
    foreign = scene_create(project=other, actor=alice, heading="INT. X")
    trash(foreign, actor=alice, project_id=other.id)
    assert client_for(alice).post(reverse("trash_restore", args=[project.slug, "scene", foreign.id])).status_code == 404
    assert Scene.objects.get(pk=foreign.pk).is_trashed


# --- purge_trash ---------------------------------------------------------------------------------

def _file(name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / name


def test_purge_deletes_old_trash_and_its_files_but_keeps_recent_and_shared(project, shot, scene, alice):
    old_take = finished_take(shot, 1)
    recent_take = finished_take(shot, 2)
    keeper = finished_take(shot, 3)
    shared = Take.objects.create(shot=shot, number=4, backend="animatic", request={}, signature="s4", status="succeeded",
                                 video=keeper.video.name, poster=keeper.poster.name, reused_from=keeper)
    trash(old_take, actor=alice, project_id=project.id)
    trash(recent_take, actor=alice, project_id=project.id)
    trash(shared, actor=alice, project_id=project.id)
    _age(old_take, 31)
    _age(shared, 40)
    old_cut = cut_create(project=project, actor=alice, name="Old")
    cut_trash(cut=old_cut, actor=alice)
    _age(old_cut, 45)

    call_command("purge_trash", stdout=io.StringIO())

    assert set(Take.objects.values_list("number", flat=True)) == {2, 3}
    assert not _file(old_take.video.name).exists() and not _file(old_take.poster.name).exists()
    assert _file(recent_take.video.name).exists()
    assert _file(keeper.video.name).exists()  # the purged take shared it with a live one
    assert not Cut.objects.filter(pk=old_cut.pk).exists()


def test_purging_an_old_shot_removes_its_takes_files(project, shot, alice):
    take = finished_take(shot)
    shot_trash(shot=shot, actor=alice)
    _age(shot, 31)
    call_command("purge_trash", stdout=io.StringIO())
    assert not Shot.objects.filter(pk=shot.pk).exists() and not Take.objects.filter(pk=take.pk).exists()
    assert not _file(take.video.name).exists()


def test_purge_leaves_live_rows_alone(project, shot, alice):
    take = finished_take(shot)
    call_command("purge_trash", stdout=io.StringIO())
    assert Take.objects.filter(pk=take.pk).exists() and _file(take.video.name).exists()


# --- Activity ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["alice", "bob", "carol", "dave"])
def test_every_member_reads_the_activity(name, project, shot, users):
    response = client_for(users[name]).get(reverse("activity", args=[project.slug]))
    assert response.status_code == 200
    assert b"member added" in response.content and b"Shot 1A" in response.content


def test_an_outsider_cannot_read_the_activity(project, users):
    assert client_for(users["eve"]).get(reverse("activity", args=[project.slug])).status_code == 404


# --- Takes -------------------------------------------------------------------------------------

def _take_trash(client, project, take):
    return client.post(reverse("take_trash", args=[project.slug, take.id]), headers={"HX-Request": "true"})


def test_an_editor_moves_a_take_to_the_trash_and_an_owner_restores_it(project, users):
    from studio.models import Take
    from studio.services.shots import scene_create, shot_create


    scene = scene_create(project=project, actor=users["alice"], heading="INT. HOLD - NIGHT")
    shot = shot_create(scene=scene, actor=users["alice"], prompt="crates shift")
    first, second = finished_take(shot, 1), finished_take(shot, 2)
    assert _take_trash(client_for(users["bob"]), project, first).status_code == 204
    assert Take.objects.get(pk=first.pk).is_trashed and not Take.objects.get(pk=second.pk).is_trashed
    review = client_for(users["bob"]).get(reverse("review", args=[project.slug, shot.id])).content.decode()
    assert f'?take={second.id}"' in review and f'?take={first.id}"' not in review  # gone from the version stack
    restore = client_for(users["alice"]).post(reverse("trash_restore", args=[project.slug, "take", first.id]))
    assert restore.status_code in (204, 302)
    assert not Take.objects.get(pk=first.pk).is_trashed


@pytest.mark.parametrize("situation", ["approved", "rendering", "in a cut"])
def test_a_take_that_something_depends_on_is_not_trashed_and_the_reason_is_given(project, users, situation):
    from studio.models import CutEntry, Take
    from studio.services.cuts import cut_create
    from studio.services.shots import scene_create, shot_create


    scene = scene_create(project=project, actor=users["alice"], heading="INT. HOLD - NIGHT")
    shot = shot_create(scene=scene, actor=users["alice"], prompt="crates shift")
    take = finished_take(shot)
    expected = {"approved": "approve another take first", "rendering": "cancel it first",
                "in a cut": "chosen in the cut Assembly"}[situation]
    if situation == "approved":
        Shot.objects.filter(pk=shot.pk).update(approved_take=take)
    elif situation == "rendering":
        Take.objects.filter(pk=take.pk).update(status="running")
    else:
        cut = cut_create(project=project, actor=users["alice"], name="Assembly")
        CutEntry.objects.filter(cut=cut, shot=shot).update(take=take)
    response = _take_trash(client_for(users["bob"]), project, take)
    assert response.status_code == 422
    assert expected in response.content.decode()
    assert not Take.objects.get(pk=take.pk).is_trashed


# --- Projects ----------------------------------------------------------------------------------

def test_an_owner_deletes_a_project_it_disappears_for_everyone_and_only_owners_restore_it(project, shot, users):
    from studio.models import Project

    home = reverse("project_home", args=[project.slug])
    response = client_for(users["alice"]).post(reverse("project_delete", args=[project.slug]), headers={"HX-Request": "true"})
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("project_list")
    for name in ("alice", "bob", "dave"):
        assert client_for(users[name]).get(home).status_code == 404
    owner_list = client_for(users["alice"]).get(reverse("project_list")).content.decode()
    assert "Recently deleted" in owner_list and project.name in owner_list
    assert project.name not in client_for(users["bob"]).get(reverse("project_list")).content.decode()
    restore_url = reverse("project_restore", args=[project.id])
    for name in ("bob", "eve"):  # an editor of it, and an outsider
        assert client_for(users[name]).post(restore_url).status_code == 404
    assert Project.objects.get(pk=project.pk).is_trashed
    assert client_for(users["alice"]).post(restore_url).status_code == 302
    assert client_for(users["bob"]).get(home).status_code == 200
    assert set(AuditEvent.objects.filter(project=project, object_type="project").values_list("verb", flat=True)) >= {"trashed", "restored"}


def test_a_project_deleted_more_than_30_days_ago_cannot_be_restored_and_is_purged_with_its_files(project, shot, users):
    from studio.models import Project
    from studio.services.projects import project_trash

    take = finished_take(shot)
    project_trash(project=project, actor=users["alice"])
    Project.objects.filter(pk=project.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    assert client_for(users["alice"]).post(reverse("project_restore", args=[project.id])).status_code == 404
    call_command("purge_trash", stdout=io.StringIO())
    assert not Project.objects.filter(pk=project.pk).exists() and not Take.objects.filter(pk=take.pk).exists()
    assert not _file(take.video.name).exists()


def test_purging_a_cast_member_still_named_on_a_live_shot_moves_the_project_on(project, shot, alice, django_capture_on_commit_callbacks):
    """A purged cast member takes its chips off live shots (the links cascade): the project's
    pages and cached boards, keyed by its event number, must hear of it."""
    from studio.models import Project, ShotCast

    member = cast_member_create(project=project, actor=alice, name="Ghost Diver", handle="diver")
    ShotCast.objects.create(shot=shot, cast_member=member, order=9)
    cast_member_trash(member=member, actor=alice)
    _age(member, 31)
    before = Project.objects.get(pk=project.pk).event_seq
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_trash", stdout=io.StringIO())
    assert not ShotCast.objects.filter(shot=shot, cast_member_id=member.id).exists()
    assert Project.objects.get(pk=project.pk).event_seq == before + 1
