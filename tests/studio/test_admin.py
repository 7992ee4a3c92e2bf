"""Every registered admin renders: changelist (plain and searched), add and change pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from studio.models import (
    AuditEvent, CutEntry, Export, Membership, ReferenceImage, ReviewDecision, ReviewLink, ScriptSource, ShotCast, Take,
    WebhookDelivery, WebhookEndpoint,
)
from studio.services.api_tokens import api_token_create

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
NO_ADD = {"studio.Take", "studio.AuditEvent", "studio.ApiToken"}


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")


@pytest.fixture
def everything(project, scene, cast, alice, users):
    """At least one row of every registered model."""
    from studio.services.cuts import cut_create
    from studio.services.reviews import comment_create, review_decide
    from studio.services.shots import shot_create

    shot = shot_create(scene=scene, actor=alice, prompt="@mara on the @deck")
    take = Take.objects.create(shot=shot, number=1, backend="animatic", request={"prompt": shot.prompt}, signature="s",
                               status="succeeded", frames=48, video="renders/a.mp4")
    comment = comment_create(take=take, author=users["carol"], body="Nice", frame=4)
    comment_create(take=take, author=users["bob"], body="Thanks", parent=comment)
    review_decide(take=take, actor=users["carol"], decision="approved")
    cut = cut_create(project=project, actor=alice, name="Assembly")
    Export.objects.create(cut=cut, format="mp4", requested_by=alice)
    ReviewLink.objects.create(project=project, token="t" * 32, cut=cut, created_by=alice,
                              expires_at=timezone.now() + timedelta(days=7))
    ScriptSource.objects.create(project=project, version=1, text="INT. FERRY DECK - NIGHT", sha256="0" * 64, report={"a": 1})
    Group.objects.create(name="Producers")
    api_token_create(user=alice, name="render farm dashboard", scopes=["read"])
    endpoint = WebhookEndpoint.objects.create(project=project, url="https://hooks.example.com/continuity", secret="whsec_dGVzdA==",
                                              events=["take.approved"], created_by=alice)
    WebhookDelivery.objects.create(endpoint=endpoint, event_id="msg_1", event_type="take.approved", payload={"a": 1})
    # A mention notifies bob (a Notification) and makes alice follow the shot (a ShotFollow); bob
    # chooses a daily digest for mentions (a NotificationPreference).
    from studio.services.notifications import preferences_update  # lazy: only this fixture needs them

    comment_create(take=take, author=alice, body="@bob the lamp flickers here", frame=3)
    preferences_update(user=users["bob"], choices={"mention": (True, "digest")})
    assert ShotCast.objects.exists() and CutEntry.objects.exists() and ReferenceImage.objects.exists()
    assert Membership.objects.exists() and AuditEvent.objects.exists() and ReviewDecision.objects.exists()
    return project


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_studio_model_is_in_the_admin():
    from django.apps import apps

    studio_models = set(apps.get_app_config("studio").get_models())
    inlined = {inline.model for model_admin in admin.site._registry.values() for inline in model_admin.inlines}
    assert studio_models - set(admin.site._registry) - inlined == set()


@pytest.mark.parametrize("model,model_admin", REGISTERED, ids=[m._meta.label for m, _ in REGISTERED])
def test_admin_pages_render(client, superuser, everything, model, model_admin):
    client.force_login(superuser)
    changelist = client.get(url(model, "changelist"))
    assert changelist.status_code == 200, changelist.content[:500]
    if model_admin.search_fields:
        assert client.get(url(model, "changelist"), {"q": "a"}).status_code == 200
    add = client.get(url(model, "add"))
    assert add.status_code == (403 if model._meta.label in NO_ADD else 200)
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"no {model._meta.label} row to open"
    change = client.get(url(model, "change", obj.pk))
    assert change.status_code == 200, change.content[:500]


def test_admin_is_closed_to_non_staff(client, project, users):
    client.force_login(users["alice"])
    response = client.get(reverse("admin:studio_project_changelist"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_audit_events_are_read_only_in_the_admin(client, superuser, everything):
    client.force_login(superuser)
    event = AuditEvent.objects.order_by("pk").first()
    response = client.post(url(AuditEvent, "change", event.pk), {"verb": "tampered"})
    assert response.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).verb != "tampered"
