"""The permission matrix: which role may do what, and who learns that a project exists."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from studio import access
from studio.access import Action
from studio.models import Role

# Written out by hand, not derived from access.MINIMUM_ROLE, so a change there must be deliberate.
EXPECTED = {
    "owner": {Action.VIEW, Action.COMMENT, Action.REVIEW, Action.EDIT, Action.MANAGE},
    "editor": {Action.VIEW, Action.COMMENT, Action.REVIEW, Action.EDIT},
    "reviewer": {Action.VIEW, Action.COMMENT, Action.REVIEW},
    "viewer": {Action.VIEW},
    "outsider": set(),
    "anonymous": set(),
}
PEOPLE = {"owner": "alice", "editor": "bob", "reviewer": "carol", "viewer": "dave", "outsider": "eve"}


def _user(users, who):
    return AnonymousUser() if who == "anonymous" else users[PEOPLE[who]]


@pytest.mark.parametrize("role", [Role.OWNER, Role.EDITOR, Role.REVIEWER, Role.VIEWER, None])
@pytest.mark.parametrize("action", list(Action))
def test_role_allows_matrix(role, action):
    who = role or "outsider"
    assert access.role_allows(role, action) is (action in EXPECTED[who])


def test_role_allows_accepts_plain_strings():
    assert access.role_allows("editor", "edit")
    assert not access.role_allows("viewer", "comment")


@pytest.mark.parametrize("who", list(EXPECTED))
def test_can_matrix(project, users, who):
    user = _user(users, who)
    assert {action for action in Action if access.can(user, project, action)} == EXPECTED[who]


@pytest.mark.parametrize("who,role", [("owner", "owner"), ("editor", "editor"), ("reviewer", "reviewer"), ("viewer", "viewer"),
                                      ("outsider", None), ("anonymous", None)])
def test_role_of(project, users, who, role):
    assert access.role_of(_user(users, who), project) == role


@pytest.mark.parametrize("who", ["owner", "editor", "reviewer", "viewer"])
def test_project_for_members(project, users, who):
    assert access.project_for(_user(users, who), project.slug) == project


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_project_for_non_members_is_404_not_403(project, users, who):
    with pytest.raises(Http404):
        access.project_for(_user(users, who), project.slug)
    with pytest.raises(Http404):
        access.check(_user(users, who), project, Action.VIEW)


def test_project_for_unknown_slug_is_404(project, users):
    with pytest.raises(Http404):
        access.project_for(users["alice"], "no-such-project")


def test_trashed_project_is_404_even_for_its_owner(project, users):
    project.deleted_at = timezone.now()
    project.save(update_fields=["deleted_at"])
    for who in ("owner", "viewer", "outsider"):
        with pytest.raises(Http404):
            access.project_for(_user(users, who), project.slug)
    assert not access.can(users["alice"], project, Action.VIEW)


@pytest.mark.parametrize("who,action", [("viewer", Action.EDIT), ("viewer", Action.COMMENT), ("reviewer", Action.EDIT),
                                        ("editor", Action.MANAGE)])
def test_members_with_too_low_a_role_get_permission_denied(project, users, who, action):
    with pytest.raises(PermissionDenied):
        access.project_for(_user(users, who), project.slug, action)


def test_membership_in_another_project_grants_nothing_here(project, users):
    from studio.services.projects import project_create

    project_create(owner=users["eve"], name="Eve's own")
    assert not access.can(users["eve"], project, Action.VIEW)


def test_project_for_reads_project_and_role_in_one_query_and_a_membership_change_is_seen(
        project, users, django_assert_num_queries):
    from studio.models import Membership

    with django_assert_num_queries(1):
        found = access.project_for(users["bob"], project.slug, Action.EDIT)
        assert access.can(users["bob"], found, Action.EDIT)  # the role read with the project: no query
    Membership.objects.get(project=project, user=users["bob"]).delete()  # e.g. bob leaves in this request
    assert not access.can(users["bob"], found, Action.VIEW)


def test_project_for_answers_the_whole_project_as_the_orm_reads_it(project, users):
    """project_for's hand-written SQL (studio/access.py) must give back every field exactly as a
    plain ORM read does, with converted values (dates, numbers), on SQLite and PostgreSQL."""
    from studio.models import Project

    project.description = "A harbour at night"
    project.gpu_budget_seconds = 3600
    project.save()
    found = access.project_for(users["carol"], project.slug)
    expected = Project.objects.get(pk=project.pk)
    for field in Project._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    assert type(found.created_at) is type(expected.created_at)
    assert "caller_role" not in found.__dict__  # the role travels only as project_for's private note
