"""What the API promises beyond who may call it: edit conflicts, tokens, CSRF for sessions,
filters, pinned query counts, rate limits, upload hardening and the script import report."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from studio.models import ApiToken, AuditEvent, Project, ReferenceImage, Shot, Take, TakeStatus
from studio.services.api_tokens import api_token_create, api_token_revoke
from studio.services.shots import scene_create, shot_create
from tests.api.conftest import token_client
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db
SCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "scripts"


def api(slug: str, path: str = "") -> str:
    return f"/api/v1/projects/{slug}/{path}"


# --- Edit conflicts ------------------------------------------------------------------------------

def test_a_stale_write_is_refused_with_409_and_the_current_values(world, alice, users):
    shot, slug = world["shot"], world["project"].slug
    read_version = shot.version
    first = token_client(users["bob"]).patch(api(slug, f"shots/{shot.id}/"), {"lens_mm": 85, "version": read_version}, format="json")
    assert first.status_code == 200 and first.json()["version"] == read_version + 1
    stale = token_client(alice).patch(api(slug, f"shots/{shot.id}/"), {"lens_mm": 24, "version": read_version}, format="json")
    assert stale.status_code == 409
    assert stale.json()["current"]["lens_mm"] == 85 and stale.json()["current"]["version"] == read_version + 1
    assert Shot.objects.get(pk=shot.pk).lens_mm == 85


def test_a_write_without_version_is_refused_with_400_and_changes_nothing(world, alice):
    shot, cut, slug = world["shot"], world["cut"], world["project"].slug
    client = token_client(alice)
    response = client.patch(api(slug, f"shots/{shot.id}/"), {"lens_mm": 24}, format="json")
    assert response.status_code == 400 and "version" in response.json()
    entry = client.patch(api(slug, f"cuts/{cut.id}/entries/{world['entry'].id}/"), {"in_frame": 3}, format="json")
    assert entry.status_code == 400 and "version" in entry.json()
    removal = client.delete(api(slug, f"cuts/{cut.id}/entries/{world['entry'].id}/"))
    assert removal.status_code == 400
    assert Shot.objects.get(pk=shot.pk).lens_mm == shot.lens_mm and cut.entries.count() == 1


def test_a_cut_entry_edit_against_an_old_cut_version_is_409(world, alice):
    cut, slug = world["cut"], world["project"].slug
    client = token_client(alice)
    client.post(api(slug, f"cuts/{cut.id}/entries/"), {"shot": world["shot"].id, "version": cut.version}, format="json")
    stale = client.patch(api(slug, f"cuts/{cut.id}/entries/{world['entry'].id}/"), {"in_frame": 2, "version": cut.version},
                         format="json")
    assert stale.status_code == 409 and stale.json()["current"]["version"] == cut.version + 1


# --- Tokens -----------------------------------------------------------------------------------------

def test_a_token_is_stored_hashed_and_found_by_its_prefix(alice):
    token, secret = api_token_create(user=alice, name="farm", scopes=["read"])
    stored = ApiToken.objects.get(pk=token.pk)
    assert secret.startswith(f"cty_{stored.prefix}_")
    assert stored.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(list(ApiToken.objects.values()))


def test_revoked_expired_and_forged_tokens_are_refused_with_401(alice):
    client = APIClient()
    token, secret = api_token_create(user=alice, name="farm", scopes=["read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/projects/").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Bearer {secret[:-2]}xx")
    assert forged.get("/api/v1/projects/").status_code == 401
    token.expires_at = timezone.now() - timedelta(seconds=1)  # as the admin would: a save drops the cached row
    token.save(update_fields=["expires_at"])
    assert client.get("/api/v1/projects/").status_code == 401
    token.expires_at = None
    token.save(update_fields=["expires_at"])
    assert client.get("/api/v1/projects/").status_code == 200  # cached again
    api_token_revoke(token=token, actor=alice)
    assert client.get("/api/v1/projects/").status_code == 401


def test_token_lookups_are_cached_and_a_revocation_takes_effect_on_the_next_call(project, alice, django_assert_num_queries):
    token, secret = api_token_create(user=alice, name="farm", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/projects/").status_code == 200  # reads the token, notes its use, caches it
    with django_assert_num_queries(2):  # the project list (count, page): no token query
        assert client.get("/api/v1/projects/").status_code == 200
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Bearer {secret[:-2]}xx")  # same prefix, so the cached row
    assert forged.get("/api/v1/projects/").status_code == 401
    api_token_revoke(token=ApiToken.objects.get(pk=token.pk), actor=alice)
    assert client.get("/api/v1/projects/").status_code == 401


def test_a_token_of_a_deactivated_user_is_refused(alice):
    client = token_client(alice, ["read"])
    alice.is_active = False
    alice.save()
    assert client.get("/api/v1/projects/").status_code == 401


def test_a_session_write_needs_the_csrf_token(world, users):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(users["bob"])
    url = api(world["project"].slug, "scenes/")
    assert client.get(url).status_code == 200
    refused = client.post(url, {"heading": "EXT. PIER - DAWN"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert not world["project"].scenes.filter(heading="EXT. PIER - DAWN").exists()


def test_the_token_page_shows_a_new_secret_once_lists_and_revokes(users, client):
    client.force_login(users["bob"])
    created = client.post("/accounts/tokens/", {"name": "dashboard", "scopes": ["read", "render"], "expires_in_days": "30"})
    token = ApiToken.objects.get(user=users["bob"])
    secret = created.context["secret"]
    assert created.status_code == 200 and secret.encode() in created.content and token.scopes == ["read", "render"]
    listing = client.get("/accounts/tokens/")
    assert secret.encode() not in listing.content and token.prefix.encode() in listing.content
    other = client.post(f"/accounts/tokens/{token.id}/revoke/")
    assert other.status_code == 302 and ApiToken.objects.get(pk=token.pk).revoked_at is not None
    eve = type(client)()
    eve.force_login(users["eve"])
    token2, _ = api_token_create(user=users["bob"], name="second", scopes=["read"])
    assert eve.post(f"/accounts/tokens/{token2.id}/revoke/").status_code == 404
    assert ApiToken.objects.get(pk=token2.pk).revoked_at is None


def test_the_token_page_refuses_a_token_without_scopes(users, client):
    client.force_login(users["bob"])
    response = client.post("/accounts/tokens/", {"name": "nothing", "expires_in_days": "30"})
    assert response.status_code == 422 and not ApiToken.objects.exists()


# --- Lists: filters, ordering, pinned query counts ------------------------------------------------

def test_shots_filter_by_scene_status_and_cast_and_order(world, alice):
    project, slug = world["project"], world["project"].slug
    other_scene = scene_create(project=project, actor=alice, heading="EXT. PIER - DAWN")
    lonely = shot_create(scene=other_scene, actor=alice, prompt="gulls over the water", code="2A", lens_mm=18)
    Take.objects.create(shot=lonely, number=1, backend="animatic", request={}, signature="x", status=TakeStatus.RUNNING)
    client = token_client(alice, ["read"])

    def codes(query: str) -> list[str]:
        response = client.get(api(slug, "shots/") + query)
        assert response.status_code == 200, response.content
        return [shot["code"] for shot in response.json()["results"]]

    assert codes("") == ["1A", "2A"]
    assert codes(f"?scene={other_scene.id}") == ["2A"]
    assert codes("?cast=mara") == ["1A"]
    assert codes("?status=rendering") == ["2A"]
    assert codes("?status=rendered") == ["1A"]
    assert codes("?status=unrendered") == ["2A"]
    assert codes("?status=approved") == []
    assert codes("?ordering=-code") == ["2A", "1A"]
    assert client.get(api(slug, "shots/") + "?status=lost").status_code == 400


def _content_changed(project) -> None:
    """What every event does once its transaction commits (the test's transaction never does)."""
    Project.objects.filter(pk=project.pk).update(event_seq=F("event_seq") + 1)


def _shot_list_queries(client, project) -> tuple[int, int]:
    """(queries of a listing that serialises the shots, queries of the same listing from the cache)."""
    url = api(project.slug, "shots/") + "?page_size=500"
    client.get(url)  # the token's first use of the minute also notes last_used_at
    _content_changed(project)
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(queries))
    return counts[0], counts[1]


def test_listing_shots_takes_the_same_queries_for_5_and_100_shots(project, scene, cast, alice):
    client = token_client(alice, ["read"])
    for n in range(5):
        shot_create(scene=scene, actor=alice, prompt=f"@mara on the @deck, angle {n}")
    with_five = _shot_list_queries(client, project)
    for n in range(95):
        shot_create(scene=scene, actor=alice, prompt=f"@mara on the @deck, angle {n + 5}")
    with_hundred = _shot_list_queries(client, project)
    # the project with the caller's role (the token is cached), then count, page and the cast
    # prefetch, or the listing from the cache
    assert with_five == with_hundred == (4, 1)
    assert len(client.get(api(project.slug, "shots/") + "?page_size=500").json()["results"]) == 100


def test_a_cached_shot_list_follows_every_change(world, alice, django_capture_on_commit_callbacks):
    client = token_client(alice)
    project, url = world["project"], api(world["project"].slug, "shots/")
    assert [s["lens_mm"] for s in client.get(url).json()["results"]] == [35]
    with django_capture_on_commit_callbacks(execute=True):  # the edit's event is published, as after a commit
        edited = client.patch(api(project.slug, f"shots/{world['shot'].id}/"), {"lens_mm": 85, "version": 1}, format="json")
    assert edited.status_code == 200
    assert [s["lens_mm"] for s in client.get(url).json()["results"]] == [85]


# --- Same rules as the browser: render rate, upload hardening, script import -----------------------

def test_render_requests_over_the_rate_are_429_with_retry_after(world, users, settings, monkeypatch):
    settings.CONTINUITY_RENDER_RATE = "2/10m"
    monkeypatch.setattr("studio.services.dispatch.enqueue_render", lambda take_id: None)
    client = token_client(users["bob"], ["render"])
    url = api(world["project"].slug, f"shots/{world['shot'].id}/render/")
    answers = [client.post(url, {"force": True}, format="json") for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert int(answers[2]["Retry-After"]) > 0 and "try again" in answers[2].json()["detail"]
    assert Take.objects.filter(shot=world["shot"], requested_by=users["bob"]).count() == 2


def test_an_image_upload_is_re_encoded_and_a_hostile_one_writes_nothing(world, users):
    client = token_client(users["bob"], ["write"])
    url = api(world["project"].slug, f"cast/{world['cast']['deck'].id}/images/")
    png = png_bytes(color=(1, 2, 3))
    good = client.post(url, {"image": _named(png + b"trailing payload", "deck.png")}, format="multipart")
    assert good.status_code == 201
    stored = ReferenceImage.objects.get(pk=good.json()["id"])
    assert b"trailing payload" not in Path(stored.image.path).read_bytes()
    before = (ReferenceImage.objects.count(), AuditEvent.objects.count())
    bad = client.post(url, {"image": _named(b"<?php echo 1; ?>", "x.png")}, format="multipart")
    assert bad.status_code == 400 and (ReferenceImage.objects.count(), AuditEvent.objects.count()) == before


def test_a_body_larger_than_any_image_is_refused_with_413(world, users, settings):
    settings.CONTINUITY_MAX_IMAGE_BYTES = 1024
    client = token_client(users["bob"], ["write"])
    url = api(world["project"].slug, f"cast/{world['cast']['deck'].id}/images/")
    response = client.post(url, {"image": _named(b"\x89PNG" + b"0" * 200_000, "big.png")}, format="multipart")
    assert response.status_code == 413


def test_script_import_reports_added_changed_and_removed(project, users):
    client = token_client(users["bob"], ["write"])
    url = api(project.slug, "script/")
    first = client.post(url, {"file": _named((SCRIPTS / "lighthouse_keeper.fountain").read_bytes(), "v1.fountain")},
                        format="multipart")
    assert first.status_code == 201 and first.json()["version"] == 1 and first.json()["scenes_added"]
    second = client.post(url, {"file": _named((SCRIPTS / "lighthouse_keeper_v2.fountain").read_bytes(), "v2.fountain")},
                         format="multipart")
    report = second.json()
    assert second.status_code == 201 and report["version"] == 2
    assert report["scenes_changed"] or report["scenes_removed"] or report["scenes_added"]
    again = client.post(url, {"file": _named((SCRIPTS / "lighthouse_keeper_v2.fountain").read_bytes(), "v2.fountain")},
                        format="multipart")
    assert again.status_code == 200 and again.json()["unchanged_script"] is True
    utf16 = client.post(url, {"file": _named("INT. X - DAY".encode("utf-16"), "x.fountain")}, format="multipart")
    assert utf16.status_code == 400 and "UTF-16" in utf16.json()["detail"]


def test_media_downloads_answer_ranges(world, alice):
    client = token_client(alice, ["read"])
    response = client.get(api(world["project"].slug, f"takes/{world['take'].id}/video/"), HTTP_RANGE="bytes=0-9")
    assert response.status_code == 206 and b"".join(response.streaming_content) == bytes(range(10))


def _named(data: bytes, name: str):
    import io

    upload = io.BytesIO(data)
    upload.name = name
    return upload


def test_outsiders_get_404_for_a_project_that_exists_and_one_that_does_not(world, users):
    eve = token_client(users["eve"])
    exists = eve.get(api(world["project"].slug, "shots/"))
    missing = eve.get(api("no-such-project", "shots/"))
    assert exists.status_code == missing.status_code == 404
    assert exists.json() == missing.json()


def test_the_docs_load_everything_from_the_studio_itself(client):
    """The CSP allows scripts and styles from 'self' only: Swagger UI comes from the sidecar's static
    files and its start-up script from the docs URL itself, never a CDN or an inline script."""
    import re

    from django.contrib.staticfiles import finders

    page = client.get("/api/v1/docs/")
    html = page.content.decode()
    assert page.status_code == 200 and "script-src 'self'" in page["Content-Security-Policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    scripts = re.findall(r"<script([^>]*)>", html)
    assert sources and all(source.startswith("/") and not source.startswith("//") for source in sources)
    assert all("src=" in attributes for attributes in scripts), "an inline <script> would be blocked by the CSP"
    for source in sources:
        if source.startswith("/static/"):
            assert finders.find(source.removeprefix("/static/")), source
        else:
            assert client.get(source).status_code == 200, source


def test_the_lean_shot_rows_are_what_drf_would_answer(world, alice):
    """ShotSerializer reads rows straight off the model for speed; DRF's own field-by-field answer
    is the reference, for a shot with every field set (decimals, dates, links, cast)."""
    from rest_framework import serializers as drf

    from studio import selectors
    from studio.api.serializers import ShotSerializer

    shot = world["shot"]
    Shot.objects.filter(pk=shot.pk).update(approved_take=world["take"], duration_s="2.50", backend="animatic")
    rows = list(selectors.api_shots(world["project"]))
    lean = ShotSerializer(rows, many=True).data
    reference = [drf.ModelSerializer.to_representation(ShotSerializer(), row) for row in rows]
    assert lean == reference
    assert lean[0]["approved_take"] == world["take"].id and lean[0]["duration_s"] == "2.50" and lean[0]["cast"]


def test_an_unknown_api_path_is_a_json_404_for_every_method(world, alice):
    """Found by schemathesis's stateful run: a POST to a path no route matches met Django's CSRF
    check and got an HTML 403."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    for method in ("get", "post", "patch", "delete"):
        response = getattr(client, method)(api(world["project"].slug, "takes/false/comments/"))
        assert (response.status_code, response["Content-Type"]) == (404, "application/json"), method


def test_a_request_with_a_foreign_host_is_a_json_400_under_the_api_and_django_s_page_elsewhere(world, alice):
    """Found by the schema fuzzer: a Host header that is not one of ours is refused before any view
    runs, and Django's answer was its HTML page, under /api/ too."""
    client = token_client(alice)
    answer = client.get(api(world["project"].slug, "shots/"), HTTP_HOST="script imported")
    assert (answer.status_code, answer["Content-Type"]) == (400, "application/json")
    assert answer.json() == {"detail": "Bad request."}
    page = client.get("/accounts/login/", HTTP_HOST="script imported")
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")


def test_a_revocation_in_another_process_reaches_this_one_within_its_local_seconds(project, alice, settings):
    """Another web process's revoke drops the shared entry (and its own); this process's memory
    keeps the token for CONTINUITY_API_TOKEN_LOCAL_S at most. With 0 it asks the shared cache."""
    from django.core.cache import cache, caches

    settings.CONTINUITY_API_TOKEN_LOCAL_S = 0
    token, secret = api_token_create(user=alice, name="farm", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/projects/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())  # what the other process wrote...
    cache.delete(f"api-token:{token.prefix}")  # ...and dropped from the shared cache
    assert client.get("/api/v1/projects/").status_code == 401

    settings.CONTINUITY_API_TOKEN_LOCAL_S = 60
    token, secret = api_token_create(user=alice, name="farm 2", scopes=["read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/projects/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    cache.delete(f"api-token:{token.prefix}")
    assert client.get("/api/v1/projects/").status_code == 200  # still in this process's memory
    caches["process"].delete(f"api-token:{token.prefix}")  # what its expiry does
    assert client.get("/api/v1/projects/").status_code == 401


def test_a_shot_edit_reads_the_shot_once_locked_and_only_its_cast_after(world, alice, django_assert_num_queries):
    """An edit's event goes out as soon as the write commits, so what comes before it is kept
    short (issue 15): the shot read once, locked, then written; the answer is the written shot,
    with its cast read once the write is done."""
    client = token_client(alice)
    url = api(world["project"].slug, f"shots/{world['shot'].id}/")
    version = client.get(url).json()["version"]
    # project and membership; the write's savepoint, locked read, update, audit row and release;
    # the cast for the answer. (The event is numbered after the commit, which this test's own
    # transaction never reaches.)
    with django_assert_num_queries(7) as captured:
        edited = client.patch(url, {"lens_mm": 85, "version": version}, format="json")
    assert edited.status_code == 200 and edited.json()["lens_mm"] == 85 and edited.json()["cast"]
    sql = [q["sql"] for q in captured.captured_queries]
    [shot_read] = [q for q in sql if q.startswith('SELECT "studio_shot".')]
    if connection.vendor == "postgresql":  # SQLite has no row locks: Django leaves the clause out
        assert shot_read.endswith('FOR UPDATE OF "studio_shot"')  # the scene row is not locked with it
    cast_reads = [n for n, q in enumerate(sql) if 'FROM "studio_shotcast"' in q]
    update = next(n for n, q in enumerate(sql) if q.startswith('UPDATE "studio_shot"'))
    assert len(cast_reads) == 1 and cast_reads[0] > update  # the cast is read only once the write is done


def test_a_shot_edit_answers_with_the_cast_a_read_gives_in_reference_order(world, alice):
    """The edit's answer reads the cast on its own (selectors.api_shot_with_cast), not as the
    shot list prefetches it: the same handles, in the prompt's order, either way round."""
    client = token_client(alice)
    url = api(world["project"].slug, f"shots/{world['shot'].id}/")
    for prompt, cast in (("@deck watches @mara climb", ["deck", "mara"]), ("@mara climbs past @deck", ["mara", "deck"]),
                         ("the empty deck at dawn", [])):
        edited = client.patch(url, {"prompt": prompt, "version": client.get(url).json()["version"]}, format="json")
        assert edited.status_code == 200 and edited.json()["cast"] == cast
        assert edited.json() == client.get(url).json()  # the whole answer, as a read gives it


def test_a_shot_edit_without_if_match_finds_only_a_live_shot_of_its_project(world, alice):
    from studio.models import Shot
    from studio.services.projects import project_create
    from studio.services.shots import scene_create, scene_trash, shot_create, shot_trash

    client = token_client(alice)
    elsewhere = project_create(owner=alice, name="Another film", default_backend="animatic")
    foreign = shot_create(scene=scene_create(project=elsewhere, actor=alice, heading="EXT. PIER - DAY"), actor=alice, prompt="gulls")
    slug = world["project"].slug
    assert client.patch(api(slug, f"shots/{foreign.id}/"), {"lens_mm": 85, "version": 1}, format="json").status_code == 404
    trashed = shot_create(scene=world["shot"].scene, actor=alice, prompt="cut from the script")
    shot_trash(shot=trashed, actor=alice)
    assert client.patch(api(slug, f"shots/{trashed.id}/"), {"lens_mm": 85, "version": 1}, format="json").status_code == 404
    assert client.patch(api(slug, "shots/999999/"), {"lens_mm": 85, "version": 1}, format="json").status_code == 404
    beyond_any_id = api(slug, f"shots/{2 ** 70}/")  # past the database's integers: still only "no such shot"
    assert client.patch(beyond_any_id, {"lens_mm": 85, "version": 1}, format="json").status_code == 404
    assert Shot.objects.get(pk=foreign.pk).lens_mm != 85 and Shot.objects.get(pk=trashed.pk).lens_mm != 85
    url = api(slug, f"shots/{world['shot'].id}/")
    read = client.get(url).json()["version"]
    assert client.patch(url, {"lens_mm": 85, "version": read}, format="json").status_code == 200
    stale = client.patch(url, {"lens_mm": 24, "version": read}, format="json")  # someone saved since
    assert stale.status_code == 409 and Shot.objects.get(pk=world["shot"].pk).lens_mm == 85
    in_a_trashed_scene = shot_create(scene=scene_create(project=world["project"], actor=alice, heading="INT. ATTIC - NIGHT"),
                                     actor=alice, prompt="dust")
    scene_trash(scene=in_a_trashed_scene.scene, actor=alice)
    assert client.patch(api(slug, f"shots/{in_a_trashed_scene.id}/"), {"lens_mm": 85, "version": 1}, format="json").status_code == 404
    assert Shot.objects.get(pk=in_a_trashed_scene.pk).lens_mm != 85


def test_a_stranger_s_malformed_shot_edit_is_a_404_not_a_400(world, users):
    client = token_client(users["eve"])  # not a member of the project
    response = client.patch(api(world["project"].slug, f"shots/{world['shot'].id}/"), {"lens_mm": "wide"}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize("edit", [
    {"lens_mm": 85},
    {"duration_s": "2.5", "camera_move": "push_in"},
    {"prompt": "@mara walks out alone", "seed": 7},  # the cast follows the prompt's mentions
    {"prompt": "an empty corridor", "code": "9Z"},  # and empties with them
])
def test_a_shot_edit_answers_what_reading_the_shot_afterwards_gives(world, alice, edit):
    """The PATCH answers with the shot it wrote instead of reading it again: the two must agree."""
    client = token_client(alice)
    url = api(world["project"].slug, f"shots/{world['shot'].id}/")
    before = client.get(url).json()
    edited = client.patch(url, {**edit, "version": before["version"]}, format="json")
    assert edited.status_code == 200, edited.content
    assert edited.json() == client.get(url).json()
    assert edited.json()["version"] == before["version"] + 1 and edited["ETag"] == f'"v{before["version"] + 1}"'
