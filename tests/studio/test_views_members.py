"""The members page: everyone in the project sees it; owners invite, change roles and remove;
the last owner cannot be demoted or removed. Also password change and reset (accounts)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from studio.models import Membership, Role
from tests.studio.views_helpers import client_for

pytestmark = pytest.mark.django_db


def _membership(project, user) -> Membership:
    return Membership.objects.get(project=project, user=user)


@pytest.mark.parametrize("name", ["alice", "bob", "carol", "dave"])
def test_every_member_sees_the_team(name, project, users):
    response = client_for(users[name]).get(reverse("members", args=[project.slug]))
    assert response.status_code == 200
    body = response.content.decode()
    assert all(f'data-user="{n}"' in body for n in ("alice", "bob", "carol", "dave"))
    assert (reverse("member_remove", args=[project.slug, _membership(project, users["bob"]).id]) in body) == (name == "alice")


def test_an_outsider_gets_404(project, users):
    assert client_for(users["eve"]).get(reverse("members", args=[project.slug])).status_code == 404


@pytest.mark.parametrize("who", ["eve", "EVE@example.com"])
def test_an_owner_invites_by_username_or_email(who, project, users):
    response = client_for(users["alice"]).post(reverse("members", args=[project.slug]), {"who": who, "role": Role.REVIEWER})
    assert response.status_code == 302
    assert _membership(project, users["eve"]).role == Role.REVIEWER


def test_inviting_an_unknown_or_existing_member_is_refused(project, users):
    client = client_for(users["alice"])
    url = reverse("members", args=[project.slug])
    before = Membership.objects.count()
    assert client.post(url, {"who": "nobody", "role": Role.VIEWER}).status_code == 422
    response = client.post(url, {"who": "bob", "role": Role.VIEWER})
    assert response.status_code == 422 and b"already a member" in response.content
    assert Membership.objects.count() == before and _membership(project, users["bob"]).role == Role.EDITOR


def test_an_editor_cannot_invite(project, users):
    response = client_for(users["bob"]).post(reverse("members", args=[project.slug]), {"who": "eve", "role": Role.OWNER})
    assert response.status_code == 403
    assert not Membership.objects.filter(user=users["eve"]).exists()


def test_an_owner_changes_a_role_and_removes_a_member(project, users):
    client = client_for(users["alice"])
    bob = _membership(project, users["bob"])
    assert client.post(reverse("member_role", args=[project.slug, bob.id]), {"role": Role.VIEWER}).status_code == 302
    bob.refresh_from_db()
    assert bob.role == Role.VIEWER
    assert client.post(reverse("member_remove", args=[project.slug, bob.id])).status_code == 302
    assert not Membership.objects.filter(pk=bob.pk).exists()
    assert client_for(users["bob"]).get(reverse("project_home", args=[project.slug])).status_code == 404


def test_the_last_owner_stays(project, users):
    client = client_for(users["alice"])
    alice = _membership(project, users["alice"])
    client.post(reverse("member_role", args=[project.slug, alice.id]), {"role": Role.EDITOR})
    client.post(reverse("member_remove", args=[project.slug, alice.id]))
    alice.refresh_from_db()
    assert alice.role == Role.OWNER


def test_a_member_of_another_project_cannot_be_touched_through_this_one(project, users):
    from studio.services.projects import project_create

    other = project_create(owner=users["eve"], name="Elsewhere")
    eve = _membership(other, users["eve"])
    response = client_for(users["alice"]).post(reverse("member_remove", args=[project.slug, eve.id]))
    assert response.status_code == 404
    assert Membership.objects.filter(pk=eve.pk).exists()


# --- Accounts -----------------------------------------------------------------------------------

def test_a_signed_in_user_changes_their_password(users):
    client = client_for(users["bob"])
    assert client.get(reverse("password_change")).status_code == 200
    response = client.post(reverse("password_change"), {
        "old_password": "pw-bob", "new_password1": "tide-lantern-47", "new_password2": "tide-lantern-47"})
    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    users["bob"].refresh_from_db()
    assert users["bob"].check_password("tide-lantern-47")


def test_password_change_needs_sign_in(db):
    from django.test import Client

    response = Client().get(reverse("password_change"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_password_reset_by_email_end_to_end(users, settings):
    from django.test import Client

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client = Client()
    login_page = client.get(reverse("login")).content.decode()
    assert reverse("password_reset") in login_page
    assert client.post(reverse("password_reset"), {"email": "carol@example.com"}).status_code == 302
    assert len(mail.outbox) == 1 and "carol" in mail.outbox[0].body
    link = re.search(r"https?://[^/]+(/accounts/password/reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and b"new_password1" in form_page.content
    response = client.post(form_page.redirect_chain[-1][0], {"new_password1": "quay-harbour-93", "new_password2": "quay-harbour-93"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_complete")
    users["carol"].refresh_from_db()
    assert users["carol"].check_password("quay-harbour-93")
