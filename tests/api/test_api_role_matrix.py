"""Every API operation, for every role and for tokens with each scope.

OPERATIONS holds, for each route of studio/api/urls.py and each method it answers, the least
role that may use it, the token scope it needs, the success status and a valid request. A new
route or method without an entry fails test_every_api_operation_has_a_decision.

For each operation: anonymous callers get 401; outsiders (eve) get 404 whatever their token may
do; members below the least role get 403 and change nothing; members at or above it succeed;
a token without the needed scope gets 403 and one with only that scope succeeds. Each call runs
in a savepoint that is rolled back, so every role meets the same project.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from django.db import transaction
from django.urls import URLPattern, get_resolver, reverse

from studio.models import AuditEvent, Decision, Role, Take, TakeStatus
from studio.services.reviews import review_decide
from tests.api.conftest import session_client, token_client
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db

V, R, E, O = Role.VIEWER, Role.REVIEWER, Role.EDITOR, Role.OWNER
RANK = {V: 1, R: 2, E: 3, O: 4}
MEMBERS = {"dave": V, "carol": R, "bob": E, "alice": O}
FOUNTAIN = b"Title: Night Ferry\n\nINT. ENGINE ROOM - NIGHT\n\nMARA checks the gauges.\n\nMARA\nHold her steady.\n"


def _png():
    upload = io.BytesIO(png_bytes(color=(10, 200, 90)))
    upload.name = "mara-profile.png"
    return upload


def _fountain():
    upload = io.BytesIO(FOUNTAIN)
    upload.name = "night-ferry.fountain"
    return upload


@dataclass(frozen=True)
class Op:
    route: str
    method: str
    role: str  # least role that may do it
    scope: str  # the token scope it needs
    status: int  # the answer when allowed
    kwargs: Callable[[dict], dict[str, Any]] = lambda w: {}
    body: Callable[[dict], Any] = lambda w: None
    multipart: bool = False
    query: Callable[[dict], str] = lambda w: ""


def shot_id(w):
    return {"pk": w["shot"].id}


def _failed(take) -> int:
    """The queued take, failed (a retry makes a new take with its request)."""
    request = {"prompt": "@mara at the rail", "seed": 1}
    type(take).objects.filter(pk=take.pk).update(status="failed", error="worker exploded", request=request)
    return take.id


def take_id(w):
    return {"take_id": w["take"].id}


OPERATIONS: list[Op] = [
    Op("api_project", "get", V, "read", 200),
    Op("api_project", "patch", O, "write", 200, body=lambda w: {"description": "Fog", "version": w["project"].version}),
    Op("api_members", "get", V, "read", 200),
    Op("api_cast", "get", V, "read", 200),
    Op("api_cast", "post", E, "write", 201, body=lambda w: {"name": "Jonah", "kind": "character"}),
    Op("api_cast_member", "get", V, "read", 200, kwargs=lambda w: {"pk": w["cast"]["mara"].id}),
    Op("api_cast_member", "patch", E, "write", 200, kwargs=lambda w: {"pk": w["cast"]["mara"].id},
       body=lambda w: {"description": "The pilot", "version": w["cast"]["mara"].version}),
    Op("api_cast_member", "delete", E, "write", 204, kwargs=lambda w: {"pk": w["cast"]["mara"].id}),
    Op("api_reference_images", "get", V, "read", 200, kwargs=lambda w: {"member_id": w["cast"]["mara"].id}),
    Op("api_reference_images", "post", E, "write", 201, kwargs=lambda w: {"member_id": w["cast"]["mara"].id},
       body=lambda w: {"image": _png()}, multipart=True),
    Op("api_reference_image", "get", V, "read", 200, kwargs=lambda w: {"pk": w["image"].id}),
    Op("api_reference_image", "patch", E, "write", 200, kwargs=lambda w: {"pk": w["image"].id},
       body=lambda w: {"rights_status": "pending", "rights_source": "Agency", "licence_note": "Release asked"}),
    Op("api_reference_image", "delete", E, "write", 204, kwargs=lambda w: {"pk": w["image"].id}),
    Op("api_reference_image_file", "get", V, "read", 200, kwargs=lambda w: {"pk": w["image"].id}),
    Op("api_script", "post", E, "write", 201, body=lambda w: {"file": _fountain()}, multipart=True),
    Op("api_scenes", "get", V, "read", 200),
    Op("api_scenes", "post", E, "write", 201, body=lambda w: {"heading": "EXT. PIER - DAWN"}),
    Op("api_scene", "get", V, "read", 200, kwargs=lambda w: {"pk": w["scene"].id}),
    Op("api_scene", "patch", E, "write", 200, kwargs=lambda w: {"pk": w["scene"].id},
       body=lambda w: {"synopsis": "The crossing", "version": w["scene"].version}),
    Op("api_scene", "delete", E, "write", 204, kwargs=lambda w: {"pk": w["scene"].id}),
    Op("api_shots", "get", V, "read", 200),
    Op("api_shots", "post", E, "write", 201, body=lambda w: {"scene": w["scene"].id, "prompt": "@mara at the rail"}),
    Op("api_shot", "get", V, "read", 200, kwargs=shot_id),
    Op("api_shot", "patch", E, "write", 200, kwargs=shot_id, body=lambda w: {"lens_mm": 50, "version": w["shot"].version}),
    Op("api_shot", "delete", E, "write", 204, kwargs=shot_id),
    Op("api_shot_render", "post", E, "render", 201, kwargs=shot_id, body=lambda w: {"force": True}),
    Op("api_takes", "get", V, "read", 200),
    Op("api_take", "get", V, "read", 200, kwargs=lambda w: {"pk": w["take"].id}),
    Op("api_take_cancel", "post", E, "render", 200, kwargs=lambda w: {"pk": w["queued_take"].id}),
    Op("api_take_retry", "post", E, "render", 201, kwargs=lambda w: {"pk": _failed(w["queued_take"])}),
    Op("api_take_video", "get", V, "read", 200, kwargs=lambda w: {"pk": w["take"].id}),
    Op("api_take_poster", "get", V, "read", 200, kwargs=lambda w: {"pk": w["take"].id}),
    Op("api_take_identity", "get", V, "read", 200, kwargs=lambda w: {"pk": w["take"].id}),
    Op("api_storyboard", "get", V, "read", 200, query=lambda w: f"?scene={w['scene'].id}&paper=letter&layout=3x3"),
    Op("api_shot_list_csv", "get", V, "read", 200),
    Op("api_shot_list_pdf", "get", V, "read", 200, query=lambda w: "?paper=letter"),
    Op("api_cut_storyboard", "get", V, "read", 200, kwargs=lambda w: {"cut_id": w["cut"].id}),
    Op("api_comments", "get", V, "read", 200, kwargs=take_id),
    Op("api_comments", "post", R, "write", 201, kwargs=take_id, body=lambda w: {"body": "Softer light", "frame": 2}),
    Op("api_decisions", "get", V, "read", 200, kwargs=take_id),
    Op("api_decisions", "post", R, "write", 201, kwargs=take_id, body=lambda w: {"decision": "changes_requested", "note": "Wider"}),
    Op("api_comment_resolve", "post", R, "write", 200, kwargs=lambda w: {"pk": w["comment"].id}, body=lambda w: {"resolved": True}),
    Op("api_cuts", "get", V, "read", 200),
    Op("api_cuts", "post", E, "write", 201, body=lambda w: {"name": "Director's cut"}),
    Op("api_cut", "get", V, "read", 200, kwargs=lambda w: {"pk": w["cut"].id}),
    Op("api_cut", "patch", E, "write", 200, kwargs=lambda w: {"pk": w["cut"].id},
       body=lambda w: {"description": "First pass", "version": w["cut"].version}),
    Op("api_cut", "delete", E, "write", 204, kwargs=lambda w: {"pk": w["cut"].id}),
    Op("api_cut_render", "post", E, "render", 200, kwargs=lambda w: {"cut_id": w["cut"].id}),
    Op("api_cut_entries", "get", V, "read", 200, kwargs=lambda w: {"cut_id": w["cut"].id}),
    Op("api_cut_entries", "post", E, "write", 201, kwargs=lambda w: {"cut_id": w["cut"].id},
       body=lambda w: {"shot": w["shot"].id, "version": w["cut"].version}),
    Op("api_cut_entry", "patch", E, "write", 200, kwargs=lambda w: {"cut_id": w["cut"].id, "pk": w["entry"].id},
       body=lambda w: {"in_frame": 4, "version": w["cut"].version}),
    Op("api_cut_entry", "delete", E, "write", 204, kwargs=lambda w: {"cut_id": w["cut"].id, "pk": w["entry"].id},
       query=lambda w: f"?version={w['cut'].version}"),
    Op("api_cut_reorder", "post", E, "write", 200, kwargs=lambda w: {"cut_id": w["cut"].id},
       body=lambda w: {"entries": [w["entry"].id], "version": w["cut"].version}),
    Op("api_exports", "get", V, "read", 200, kwargs=lambda w: {"cut_id": w["cut"].id}),
    Op("api_exports", "post", E, "write", 201, kwargs=lambda w: {"cut_id": w["cut"].id}, body=lambda w: {"format": "edl"}),
    Op("api_export", "get", V, "read", 200, kwargs=lambda w: {"pk": w["export"].id}),
    Op("api_export_file", "get", V, "read", 200, kwargs=lambda w: {"pk": w["export"].id}),
]
ACCOUNT_OPERATIONS = {("api_projects", "get"), ("api_projects", "post"), ("api_schema", "get"), ("api_docs", "get")}


def api_routes() -> dict[str, set[str]]:
    """route name -> the methods its view answers (besides HEAD and OPTIONS)."""
    routes: dict[str, set[str]] = {}

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLPattern) and hasattr(pattern.callback, "view_class"):
                view = pattern.callback.view_class
                methods = {m for m in view.http_method_names if hasattr(view, m)} - {"head", "options"}
                routes[pattern.name] = methods
            elif not isinstance(pattern, URLPattern):
                walk(pattern.url_patterns)

    walk(get_resolver("studio.api.urls").url_patterns)
    return routes


def test_every_api_operation_has_a_decision():
    decided = {(op.route, op.method) for op in OPERATIONS} | ACCOUNT_OPERATIONS
    answered = {(route, method) for route, methods in api_routes().items() for method in methods}
    assert answered - decided == set(), "decide who may use these operations in OPERATIONS"
    assert decided - answered == set(), "OPERATIONS lists operations the API does not answer"


@pytest.fixture
def world(world, alice):  # noqa: F811  (extends tests/api/conftest.py's world)
    review_decide(take=world["take"], actor=alice, decision=Decision.APPROVED)
    queued = Take.objects.create(shot=world["shot"], number=2, backend="animatic", request={}, signature="queued",
                                 status=TakeStatus.QUEUED)
    return {**world, "queued_take": queued}


def call(client, op: Op, world: dict):
    url = reverse(op.route, kwargs={"slug": world["project"].slug, **op.kwargs(world)}) + op.query(world)
    body = op.body(world)
    if op.multipart:
        return getattr(client, op.method)(url, body, format="multipart")
    return getattr(client, op.method)(url, body, format="json") if body is not None else getattr(client, op.method)(url)


def call_and_roll_back(client, op: Op, world: dict):
    """The answer, and how many audit events the call wrote; then everything it wrote is undone."""
    with transaction.atomic():
        audit_before = AuditEvent.objects.count()
        response = call(client, op, world)
        written = AuditEvent.objects.count() - audit_before
        transaction.set_rollback(True)
    return response, written


def expected_for(role: str | None, op: Op) -> int:
    if role is None:
        return 404
    return op.status if RANK[role] >= RANK[op.role] else 403


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.route}")
def test_every_role_gets_what_its_role_allows(op, world, users):
    answers = {}
    for name in ["eve", *MEMBERS]:
        response, audited = call_and_roll_back(session_client(users[name]), op, world)
        answers[name] = response.status_code
        if response.status_code >= 400 and op.method != "get":
            assert audited == 0, f"{name}'s refused {op.method} wrote audit events"
        if response.status_code < 400 and op.method != "get" and op.route != "api_take_cancel":
            assert audited >= 1, f"{name}'s {op.method} {op.route} was not audited"
    assert answers == {name: expected_for(MEMBERS.get(name), op) for name in answers}


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.route}")
def test_anonymous_callers_get_401(op, world):
    response, _ = call_and_roll_back(session_client(None), op, world)
    assert response.status_code == 401


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.route}")
def test_a_token_needs_the_scope_of_the_operation(op, world, users):
    owner = users["alice"]
    others = [scope for scope in ("read", "write", "render") if scope != op.scope]
    with_scope, _ = call_and_roll_back(token_client(owner, [op.scope]), op, world)
    without, audited = call_and_roll_back(token_client(owner, others), op, world)
    outsider, _ = call_and_roll_back(token_client(users["eve"], ["read", "write", "render"]), op, world)
    assert (with_scope.status_code, without.status_code, audited, outsider.status_code) == (op.status, 403, 0, 404)


def test_account_operations(users):
    eve = token_client(users["eve"], ["read", "write"])
    assert eve.get("/api/v1/projects/").json()["results"] == []  # eve sees no project she is not in
    created = eve.post("/api/v1/projects/", {"name": "Eve's short", "fps": 24, "width": 640, "height": 360}, format="json")
    assert created.status_code == 201
    assert [p["slug"] for p in eve.get("/api/v1/projects/").json()["results"]] == [created.json()["slug"]]
    assert token_client(users["eve"], ["read"]).post("/api/v1/projects/", {"name": "No"}, format="json").status_code == 403
    assert session_client(None).get("/api/v1/projects/").status_code == 401


@pytest.mark.parametrize("scope", ["read", "write", "render"])
def test_account_operations_for_a_token_with_each_scope(scope, users, project):
    """Listing projects needs `read`, creating one `write`; each member sees the project, whatever role."""
    for name in ["eve", *MEMBERS]:
        client = token_client(users[name], [scope])
        listed = client.get("/api/v1/projects/")
        assert listed.status_code == (200 if scope == "read" else 403), (name, scope)
        if scope == "read":
            assert [p["slug"] for p in listed.json()["results"]] == ([] if name == "eve" else [project.slug])
        created = client.post("/api/v1/projects/", {"name": f"{name} {scope}", "fps": 24, "width": 640, "height": 360},
                              format="json")
        assert created.status_code == (201 if scope == "write" else 403), (name, scope)


def test_the_schema_and_its_docs_are_public():
    """What the API offers is no secret (clients and schemathesis read it before they have a token);
    what is in a project is."""
    from rest_framework.test import APIClient

    anonymous = APIClient()
    assert anonymous.get("/api/v1/schema/").status_code == 200
    assert anonymous.get("/api/v1/docs/").status_code == 200
