"""Every route under /p/<slug>/, taken from the URLconf, against every role.

Each route has an entry in ROUTES saying the least role that may GET it and the least role that
may POST to it (None: the method is not allowed). A new route without an entry fails
test_every_project_route_has_a_decision, so whoever adds it decides who may use it.

For each route: anonymous visitors are sent to sign in, outsiders get 404, members below the
needed role get 403, and a refused POST changes nothing in the database. One project's ids in
another project's URLs are 404 even for someone who owns both.
"""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from studio.models import Export, Membership, Role, ScriptSource, WebhookDelivery, WebhookEndpoint
from studio.services.cuts import cut_create
from studio.services.reviews import comment_create
from studio.services.sharing import review_link_create
from studio.services.shots import shot_create, shot_trash
from tests.studio.views_helpers import finished_take

pytestmark = pytest.mark.django_db

PROJECT_PREFIX = "p/<slug:slug>/"
V, R, E, O = Role.VIEWER, Role.REVIEWER, Role.EDITOR, Role.OWNER
RANK = {None: 0, V: 1, R: 2, E: 3, O: 4}
MEMBERS = {"dave": V, "carol": R, "bob": E, "alice": O}

# route name -> (least role that may GET, least role that may POST); None: method not allowed (405)
ROUTES: dict[str, tuple[str | None, str | None]] = {
    "project_home": (V, None),
    "project_delete": (None, O),
    "active_renders": (V, None),
    "cast_library": (V, None),
    "cast_member_new": (None, E),
    "cast_member_card": (V, None),
    "cast_member_edit": (E, E),
    "cast_member_trash": (None, E),
    "reference_image_upload": (None, E),
    "reference_images_reorder": (None, E),
    "reference_image_primary": (None, E),
    "reference_image_delete": (None, E),
    "reference_image_rights": (None, E),
    "script": (V, E),
    "script_revision": (V, None),
    "script_revision_mark_touched": (None, E),
    "board": (V, None),
    "board_scenes": (V, None),
    "scene_new": (None, E),
    "render_missing": (None, E),
    "scene_fragment": (V, None),
    "shot_new": (None, E),
    "shots_reorder": (None, E),
    "scene_render": (None, E),
    "shot_card": (V, None),
    "shot_edit": (E, E),
    "shot_duplicate": (None, E),
    "shot_delete": (None, E),
    "shot_render": (None, E),
    "shot_rerender_chain": (None, E),
    "shot_follow": (None, V),  # following a shot only changes what you are told
    "add_to_cut": (V, E),
    "shot_variations": (None, E),
    "review": (V, None),
    "take_stack": (V, None),
    "comments": (V, R),
    "take_decide": (None, R),
    "take_rerender": (None, E),
    "take_rerender_exact": (None, E),
    "take_cancel": (None, E),
    "take_retry": (None, E),
    "take_render_next": (None, E),
    "shot_take_retry": (None, E),
    "shot_take_render_next": (None, E),
    "usage": (V, None),
    "budget_update": (None, O),
    "take_trash": (None, E),
    "comment_resolve": (None, R),
    "comment_rerender": (None, E),  # "re-render with this note": a render, so editors
    "comment_rerender_region": (None, E),
    "cut_list": (V, E),
    "cut_editor": (V, None),
    "cut_entries": (V, None),
    "cut_reorder": (None, E),
    "cut_new_from_approved": (None, E),
    "cut_entries_bulk": (None, E),
    "export_new": (None, E),
    "cut_exports": (V, None),
    "project_storyboard": (V, None),
    "shot_list_csv": (V, None),
    "shot_list_pdf": (V, None),
    "cut_storyboard": (V, None),
    "cut_entry_edit": (None, E),
    "cut_entry_remove": (None, E),
    "members": (V, O),
    "member_role": (None, O),
    "member_remove": (None, O),
    "trash": (O, None),
    "trash_restore": (None, O),
    "activity": (V, None),
    "review_links": (O, O),
    "review_link_revoke": (None, O),
    "webhooks": (O, O),
    "webhook_test": (None, O),
    "webhook_enable": (None, O),
    "webhook_delete": (None, O),
    "webhook_redeliver": (None, O),
    "project_media": (V, None),
}


# A live-refreshed card whose shot is gone answers an empty 200 so htmx swaps the card away (it
# would ignore a 404); for a foreign id it must then be empty too, showing nothing of the shot.
EMPTY_INSTEAD_OF_404 = {"shot_card"}


def project_routes() -> dict[str, list[str]]:
    """name -> the names of its URL arguments, for every named route under /p/<slug>/."""
    found: dict[str, list[str]] = {}

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and route.startswith(PROJECT_PREFIX):
                assert entry.name, f"the route {route!r} has no name"
                found[entry.name] = re.findall(r"<(?:\w+:)?(\w+)>", route)

    walk(get_resolver().url_patterns, "")
    return found


ALL_ROUTES = project_routes()


def test_every_project_route_has_a_decision():
    missing = sorted(set(ALL_ROUTES) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(ALL_ROUTES))
    assert not missing, f"decide who may use these routes and add them to ROUTES: {missing}"
    assert not stale, f"these ROUTES entries name no route any more: {stale}"


@pytest.fixture
def world(project, shot, cast, alice, users):
    take = finished_take(shot)
    cut = cut_create(project=project, actor=alice, name="Assembly")
    comment = comment_create(take=take, author=alice, body="Warmer light", frame=3)
    Export.objects.create(cut=cut, format="manifest", requested_by=alice)
    link, _ = review_link_create(project=project, actor=alice, shot=shot)
    endpoint = WebhookEndpoint.objects.create(project=project, url="https://hooks.example.com/in", secret="whsec_c2VjcmV0",
                                              events=["take.approved"], active=False, disabled_reason="too many failures")
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event_id="msg_1", event_type="take.approved", payload={},
                                              status="failed")
    ScriptSource.objects.create(project=project, version=1, text="INT. DECK - NIGHT\n\nMara waits.\n", sha256="v1",
                                report={"scene_ids": [shot.scene_id]})
    trashed = shot_create(scene=shot.scene, actor=alice, prompt="gone", code="9Z")
    shot_trash(shot=trashed, actor=alice)
    return {
        "slug": project.slug, "scene_id": shot.scene_id, "shot_id": shot.id, "take_id": take.id, "comment_id": comment.id,
        "cut_id": cut.id, "entry_id": cut.entries.first().id, "member_id": cast["mara"].id,
        "image_id": cast["mara"].images.first().id, "name": take.video.name,
        "membership_id": Membership.objects.get(project=project, user=users["dave"]).id,
        "link_id": link.id, "kind": "shot", "object_id": trashed.id, "endpoint_id": endpoint.id, "delivery_id": delivery.id,
        "version": 1,
    }


def url_for(name: str, world: dict, slug: str | None = None) -> str:
    kwargs = {arg: world[arg] for arg in ALL_ROUTES[name]}
    if slug is not None:
        kwargs["slug"] = slug
    return reverse(name, kwargs=kwargs)


def database_state() -> dict:
    """Rows per studio model, live rows of trashable ones, and the fields a refused write might flip."""
    state = {}
    for model in apps.get_app_config("studio").get_models():
        state[model.__name__] = model.objects.count()
        if any(f.name == "deleted_at" for f in model._meta.fields):
            state[model.__name__ + ".alive"] = model.objects.filter(deleted_at__isnull=True).count()
        if any(f.name == "version" for f in model._meta.fields):
            state[model.__name__ + ".versions"] = sorted(model.objects.values_list("pk", "version"))
    state["roles"] = sorted(Membership.objects.values_list("pk", "role"))
    state["approved"] = sorted(apps.get_model("studio", "Shot").objects.values_list("pk", "approved_take"))
    state["resolved"] = sorted(apps.get_model("studio", "Comment").objects.values_list("pk", "resolved"))
    state["links"] = sorted(apps.get_model("studio", "ReviewLink").objects.values_list("pk", "revoked_at"))
    state["webhooks"] = sorted(WebhookEndpoint.objects.values_list("pk", "active"))
    return state


def client_as(users, name: str | None) -> Client:
    client = Client()  # the test client does not enforce CSRF
    if name is not None:
        client.force_login(users[name])
    return client


def expected_get(name: str, who: str | None) -> int:
    least = ROUTES[name][0]
    if least is None:
        return 405
    if who is None:
        return 302
    if who == "eve":
        return 404
    return 200 if RANK[MEMBERS[who]] >= RANK[least] else 403


def check_get(name: str, url: str, users) -> None:
    for who in (None, "eve", "dave", "carol", "bob", "alice"):
        response = client_as(users, who).get(url)
        assert response.status_code == expected_get(name, who), ("GET", who, url, response.content[:300])
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("login"))


def check_refused_posts(name: str, url: str, users) -> None:
    least = ROUTES[name][1]
    if least is None:
        refused = [(who, 405) for who in (None, "eve", *MEMBERS)]
    else:
        refused = [(None, 302), ("eve", 404)] + [(who, 403) for who, role in MEMBERS.items() if RANK[role] < RANK[least]]
    before = database_state()
    for who, status in refused:
        response = client_as(users, who).post(url, {})
        assert response.status_code == status, ("POST", who, url, response.content[:300])
    assert database_state() == before, ("a refused POST changed the database", url)


def check_foreign_ids(name: str, world: dict, users) -> None:
    """This project's ids under another project's slug, by someone who owns both: 404."""
    from studio.services.projects import project_create

    if not set(ALL_ROUTES[name]) - {"slug"}:
        return
    other = project_create(owner=users["alice"], name="Other production")
    url = url_for(name, world, slug=other.slug)
    client = client_as(users, "alice")
    before = database_state()
    get, post = ROUTES[name]
    if get is not None:
        response = client.get(url)
        if name in EMPTY_INSTEAD_OF_404:
            assert (response.status_code, response.content) == (200, b""), url
        else:
            assert response.status_code == 404, ("GET", url)
    if post is not None:
        assert client.post(url, {}).status_code == 404, ("POST", url)
    assert database_state() == before


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_the_route_answers_every_role_as_decided(name, world, users):
    """One test per route (the world is costly to build): GET for everyone, refused POSTs writing
    nothing, and foreign ids."""
    url = url_for(name, world)
    before = database_state()
    check_get(name, url, users)
    assert database_state() == before, "a GET changed the database"
    check_refused_posts(name, url, users)
    check_foreign_ids(name, world, users)
