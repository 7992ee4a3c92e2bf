"""Projects and memberships: creation, format checks, optimistic versions, the last owner."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from studio.models import AuditEvent, Membership, Project, Role
from studio.services.common import StaleVersion
from studio.services.projects import (
    membership_add, membership_change_role, membership_remove, project_create, project_update,
)


def test_project_create_makes_the_creator_owner_and_audits(users):
    alice = users["alice"]
    project = project_create(owner=alice, name="  Harbour Lights ", fps=25, width=1920, height=1080)
    assert project.name == "Harbour Lights"
    assert project.slug == "harbour-lights"
    assert (project.fps, project.width, project.height) == (25, 1920, 1080)
    assert project.default_backend == "animatic"
    assert project.created_by == alice
    assert list(project.memberships.values_list("user__username", "role")) == [("alice", Role.OWNER)]
    event = AuditEvent.objects.get(project=project)
    assert (event.verb, event.actor, event.object_type, event.object_id) == ("created", alice, "project", str(project.id))


def test_slugs_are_unique(users):
    first = project_create(owner=users["alice"], name="Same Name")
    second = project_create(owner=users["bob"], name="Same Name")
    third = project_create(owner=users["bob"], name="Same Name")
    assert [first.slug, second.slug, third.slug] == ["same-name", "same-name-2", "same-name-3"]


def test_a_name_without_slug_characters_still_gets_a_slug(users):
    assert project_create(owner=users["alice"], name="!!!").slug == "project"


@pytest.mark.parametrize("fields", [
    {"fps": 0}, {"fps": 121}, {"width": 1281}, {"height": 719}, {"width": 32}, {"height": 8192},
    {"default_backend": "sora"},
])
def test_bad_format_or_backend_is_refused_and_nothing_is_written(users, fields):
    with pytest.raises(ValidationError):
        project_create(owner=users["alice"], name="Bad", **fields)
    assert not Project.objects.exists()
    assert not Membership.objects.exists()
    assert not AuditEvent.objects.exists()


def test_project_update_bumps_version_only_on_real_change(project, alice):
    assert project.version == 1
    project_update(project=project, actor=alice, expected_version=1, name="Night Ferry")
    assert Project.objects.get(pk=project.pk).version == 1
    project_update(project=project, actor=alice, expected_version=1, name="Day Ferry", fps=25)
    stored = Project.objects.get(pk=project.pk)
    assert (stored.name, stored.fps, stored.version) == ("Day Ferry", 25, 2)
    event = AuditEvent.objects.filter(project=project, verb="updated").get()
    assert event.changes == {"name": ["Night Ferry", "Day Ferry"], "fps": [24, 25]}


def test_project_update_with_stale_version_is_refused(project, alice):
    project_update(project=project, actor=alice, expected_version=1, name="Day Ferry")
    stale = Project.objects.get(pk=project.pk)
    stale.version = 1
    with pytest.raises(StaleVersion) as caught:
        project_update(project=stale, actor=alice, expected_version=1, name="Mine")
    assert caught.value.current["name"] == "Day Ferry"
    assert caught.value.current["version"] == 2
    assert Project.objects.get(pk=project.pk).name == "Day Ferry"


@pytest.mark.parametrize("fields", [{"fps": 500}, {"width": 333}, {"default_backend": "nope"}, {"slug": "x"}])
def test_project_update_refuses_bad_values_and_keeps_the_row(project, alice, fields):
    with pytest.raises(ValidationError):
        project_update(project=project, actor=alice, **fields)
    stored = Project.objects.get(pk=project.pk)
    assert (stored.fps, stored.width, stored.default_backend, stored.slug, stored.version) == (24, 1280, "animatic", project.slug, 1)


def test_membership_add_and_duplicate(project, users):
    membership = Membership.objects.get(project=project, user=users["bob"])
    assert (membership.role, membership.invited_by) == (Role.EDITOR, users["alice"])
    assert AuditEvent.objects.filter(project=project, verb="member added").count() == 3
    with pytest.raises(ValidationError, match="already a member"):
        membership_add(project=project, actor=users["alice"], user=users["bob"], role=Role.VIEWER)
    assert Membership.objects.get(project=project, user=users["bob"]).role == Role.EDITOR


def test_membership_add_refuses_unknown_role(project, users):
    with pytest.raises(ValueError):
        membership_add(project=project, actor=users["alice"], user=users["eve"], role="admin")
    assert not Membership.objects.filter(project=project, user=users["eve"]).exists()


def test_membership_change_role(project, users):
    membership = Membership.objects.get(project=project, user=users["dave"])
    membership_change_role(membership=membership, actor=users["alice"], role=Role.REVIEWER)
    assert Membership.objects.get(pk=membership.pk).role == Role.REVIEWER
    event = AuditEvent.objects.filter(verb="role changed").get()
    assert event.changes == {"role": [Role.VIEWER, Role.REVIEWER]}


def test_the_last_owner_cannot_be_demoted_or_removed(project, users):
    owner = Membership.objects.get(project=project, user=users["alice"])
    with pytest.raises(ValidationError, match="at least one owner"):
        membership_change_role(membership=owner, actor=users["alice"], role=Role.EDITOR)
    with pytest.raises(ValidationError, match="at least one owner"):
        membership_remove(membership=owner, actor=users["alice"])
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER


def test_an_owner_can_leave_once_there_is_another(project, users):
    bob = Membership.objects.get(project=project, user=users["bob"])
    membership_change_role(membership=bob, actor=users["alice"], role=Role.OWNER)
    alice = Membership.objects.get(project=project, user=users["alice"])
    membership_change_role(membership=alice, actor=users["bob"], role=Role.EDITOR)
    assert Membership.objects.get(pk=alice.pk).role == Role.EDITOR
    bob.refresh_from_db()
    with pytest.raises(ValidationError):
        membership_remove(membership=bob, actor=users["bob"])


def test_membership_remove(project, users):
    membership = Membership.objects.get(project=project, user=users["carol"])
    membership_remove(membership=membership, actor=users["alice"])
    assert not Membership.objects.filter(project=project, user=users["carol"]).exists()
    assert AuditEvent.objects.filter(project=project, verb="member removed").count() == 1
