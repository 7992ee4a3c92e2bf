"""The shot board: inline edits with optimistic concurrency (409), clear refusals (422), renders,
reordering, and a page whose query count does not grow with the number of shots."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

from studio.models import AuditEvent, Scene, Shot, Take
from studio.services.shots import shot_create, shot_update
from studio.views.board import BOARD_FIRST_SHOTS
from tests.studio.test_views_writes import shot_form
from tests.studio.views_helpers import client_for, finished_take

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
ROOT = Path(__file__).resolve().parents[2]


def test_an_inline_edit_saves_and_returns_the_updated_card(project, shot, users):
    url = reverse("shot_edit", args=[project.slug, shot.id])
    response = client_for(users["bob"]).post(url, shot_form(shot, prompt="@deck at dawn", lens_mm=85), headers=HTMX)
    assert response.status_code == 200
    shot.refresh_from_db()
    assert (shot.prompt, shot.lens_mm, shot.version) == ("@deck at dawn", 85, 2)
    assert f'id="shot-{shot.id}"' in response.content.decode() and "85 mm" in response.content.decode()


def test_the_edit_form_shows_the_current_values(project, shot, users):
    response = client_for(users["bob"]).get(reverse("shot_edit", args=[project.slug, shot.id]), headers=HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert 'name="version" value="1"' in content and "@mara looks out" in content and "data-mention" in content


def test_a_stale_save_returns_409_with_the_current_values_and_writes_nothing(project, shot, users):
    form = shot_form(shot, prompt="Bob's prompt")  # bob loaded version 1...
    shot_update(shot=shot, actor=users["alice"], expected_version=1, prompt="Alice's prompt @mara")  # ...alice saved first
    response = client_for(users["bob"]).post(reverse("shot_edit", args=[project.slug, shot.id]), form, headers=HTMX)
    content = response.content.decode()
    assert response.status_code == 409
    assert "Someone else saved this shot" in content
    assert "Alice&#x27;s prompt @mara" in content  # their version fills the form
    assert 'name="version" value="2"' in content  # so the next save goes through
    assert "Bob&#x27;s prompt" in content  # and what bob typed is still on screen
    shot.refresh_from_db()
    assert (shot.prompt, shot.version) == ("Alice's prompt @mara", 2)


def test_a_stale_save_without_htmx_is_a_full_page_with_409(project, shot, users):
    form = shot_form(shot, prompt="late")
    shot_update(shot=shot, actor=users["alice"], expected_version=1, prompt="first")
    response = client_for(users["bob"]).post(reverse("shot_edit", args=[project.slug, shot.id]), form)
    assert response.status_code == 409
    assert "<html" in response.content.decode() and "Someone else saved this shot" in response.content.decode()


@pytest.mark.parametrize("changes, message", [
    ({"prompt": "@nobody walks in"}, "Unknown cast in the prompt: @nobody"),
    ({"lens_mm": 2}, "Ensure this value is greater than or equal to 8"),
    ({"duration_s": "120"}, "less than or equal to 60"),
    ({"backend": "nope"}, "Select a valid choice"),
])
def test_refused_values_say_why_and_write_nothing(project, shot, users, changes, message):
    before = AuditEvent.objects.count()
    response = client_for(users["bob"]).post(reverse("shot_edit", args=[project.slug, shot.id]),
                                             shot_form(shot, **changes), headers=HTMX)
    assert response.status_code == 422
    assert message in response.content.decode()
    shot.refresh_from_db()
    assert shot.version == 1 and AuditEvent.objects.count() == before


def test_render_asks_for_a_take_and_a_second_click_reuses_it(project, shot, users):
    url = reverse("shot_render", args=[project.slug, shot.id])
    client = client_for(users["bob"])
    first = client.post(url, headers=HTMX)
    assert first.status_code == 200 and json.loads(first["HX-Trigger"])["toast"]["message"].endswith("queued.")
    second = client.post(url, headers=HTMX)
    assert "already matches" in json.loads(second["HX-Trigger"])["toast"]["message"]
    assert Take.objects.filter(shot=shot).count() == 1
    assert 'data-take-id="' in second.content.decode()


def test_render_everything_renders_each_shot_once(project, scene, shot, users, alice):
    other = shot_create(scene=scene, actor=alice, prompt="@deck empty", code="1B")
    finished = finished_take(other)  # noqa: F841  (a take with another signature does not count)
    response = client_for(users["bob"]).post(reverse("render_missing", args=[project.slug]), headers=HTMX)
    assert response.status_code == 200
    assert "2 renders queued" in json.loads(response["HX-Trigger"])["toast"]["message"]
    again = client_for(users["bob"]).post(reverse("render_missing", args=[project.slug]), headers=HTMX)
    assert "2 already rendered or rendering" in json.loads(again["HX-Trigger"])["toast"]["message"]


def test_a_shot_that_cannot_render_is_reported_and_the_others_still_render(project, scene, shot, users, alice):
    blocked = shot_create(scene=scene, actor=alice, prompt="@deck", code="1B", continue_from_previous=True)
    response = client_for(users["bob"]).post(reverse("scene_render", args=[project.slug, scene.id]), headers=HTMX)
    toast = json.loads(response["HX-Trigger"])["toast"]
    assert toast["level"] == "warning" and "1B" in toast["message"] and "1 render queued" in toast["message"]
    assert Take.objects.filter(shot=shot).count() == 1 and not Take.objects.filter(shot=blocked).exists()


def test_reorder_duplicate_and_delete(project, scene, shot, users, alice):
    client = client_for(users["bob"])
    copy = client.post(reverse("shot_duplicate", args=[project.slug, shot.id]), headers=HTMX)
    assert copy.status_code == 200
    twin = Shot.objects.alive().exclude(pk=shot.pk).get(scene=scene)
    assert twin.prompt == shot.prompt and f'id="shot-{twin.id}"' in copy.content.decode()
    assert client.post(reverse("shots_reorder", args=[project.slug, scene.id]), {"ids": [twin.id, shot.id]}, headers=HTMX).status_code == 204
    assert list(Shot.objects.alive().filter(scene=scene).order_by("order").values_list("id", flat=True)) == [twin.id, shot.id]
    bad = client.post(reverse("shots_reorder", args=[project.slug, scene.id]), {"ids": [twin.id]}, headers=HTMX)
    assert bad.status_code == 422 and "every shot" in bad.content.decode()
    gone = client.post(reverse("shot_delete", args=[project.slug, shot.id]), headers=HTMX)
    assert gone.status_code == 200 and gone.content == b""
    assert Shot.objects.alive().filter(scene=scene).count() == 1


def test_shots_of_another_project_are_404(project, shot, users):
    from studio.services.projects import project_create

    elsewhere = project_create(owner=users["bob"], name="Elsewhere")
    assert client_for(users["bob"]).post(reverse("shot_render", args=[elsewhere.slug, shot.id])).status_code == 404


def test_the_board_embeds_the_cast_for_the_autocomplete(project, shot, cast, users):
    content = client_for(users["dave"]).get(reverse("board", args=[project.slug])).content.decode()
    assert 'id="cast-handles"' in content and '"handle": "mara"' in content and '"handle": "deck"' in content


def test_a_viewer_sees_the_board_without_edit_buttons(project, shot, users):
    content = client_for(users["dave"]).get(reverse("board", args=[project.slug])).content.decode()
    assert "@mara looks out" in content
    assert reverse("shot_edit", args=[project.slug, shot.id]) not in content
    assert reverse("shot_edit", args=[project.slug, shot.id]) in client_for(users["bob"]).get(reverse("board", args=[project.slug])).content.decode()


def build_board(project, shots: int) -> None:
    from studio.models import CastMember, Scene, ShotCast, TakeStatus

    members = CastMember.objects.bulk_create([CastMember(project=project, name=f"M{i}", handle=f"m{i}") for i in range(2)])
    scenes = Scene.objects.bulk_create([Scene(project=project, order=i + 1, heading=f"INT. ROOM {i} - DAY", location_cast=members[0])
                                        for i in range(5)])
    rows = Shot.objects.bulk_create([Shot(scene=scenes[i % 5], order=i, code=f"S{i}", prompt=f"beat {i} @m0") for i in range(shots)])
    ShotCast.objects.bulk_create([ShotCast(shot=s, cast_member=m, order=k) for s in rows for k, m in enumerate(members)])
    takes = Take.objects.bulk_create([
        Take(shot=s, number=n, backend="animatic", request={}, signature=f"{s.id}-{n}", frames=24,
             status=TakeStatus.SUCCEEDED if n == 1 else TakeStatus.RUNNING, poster=f"projects/{project.id}/p{s.id}.jpg")
        for s in rows for n in (1, 2)
    ])
    for s, take in zip(rows, takes[::2]):
        s.approved_take = take
    Shot.objects.bulk_update(rows, ["approved_take"])


@pytest.mark.parametrize(("shots", "cards", "later_scenes"), [(10, 10, 0), (100, BOARD_FIRST_SHOTS, 3)])
def test_the_board_costs_the_same_number_of_queries_for_10_or_100_shots(shots, cards, later_scenes, project, users,
                                                                         django_assert_max_num_queries):
    build_board(project, shots)
    client = client_for(users["dave"])
    with django_assert_max_num_queries(12):
        response = client.get(reverse("board", args=[project.slug]))
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('class="shot card approved"') == cards  # 5 scenes: whole scenes until 40 shots
    assert page.count('class="scene scene-later') == later_scenes


def test_scenes_after_the_first_40_shots_load_when_they_scroll_into_view(project, users):
    build_board(project, 100)  # 5 scenes of 20
    client = client_for(users["dave"])
    page = client.get(reverse("board", args=[project.slug])).content.decode()
    later = list(Scene.objects.filter(project=project).order_by("order"))[2:]
    for scene in later:  # a placeholder with the scene's header and where to fetch the rest
        assert f'id="scene-{scene.id}"' in page and scene.heading in page
        assert f'hx-get="{reverse("scene_fragment", args=[project.slug, scene.id])}"' in page
    assert 'hx-trigger="revealed, focus, live-refresh"' in page
    fragment = client.get(reverse("scene_fragment", args=[project.slug, later[0].id]), headers=HTMX).content.decode()
    assert fragment.count('class="shot card approved"') == 20 and "scene-later" not in fragment


# --- The cached board: served again without rendering, fresh after any change -------------------

def _board(client, project) -> str:
    response = client.get(reverse("board", args=[project.slug]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_second_load_of_an_unchanged_board_skips_the_shot_queries(project, users, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    build_board(project, 20)
    client = client_for(users["dave"])
    with CaptureQueriesContext(connection) as first:
        _board(client, project)
    with CaptureQueriesContext(connection) as second:
        page = _board(client, project)
    assert page.count('class="shot card approved"') == 20  # the same board, from the cache
    assert not any('"studio_shot"' in q["sql"] and "approved_take" in q["sql"] for q in second.captured_queries)
    assert len(second) < len(first)


@pytest.mark.parametrize("shots", [10, 100])
def test_the_gzipped_board_costs_the_queries_of_the_plain_one_and_a_cached_load_fewer(shots, project, users,
                                                                                    django_assert_max_num_queries):
    """Pinned like the plain page: compressing adds no query, whatever the number of shots, and a
    second load comes from the cache (the compressed copy) without the board's queries."""
    import gzip

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    build_board(project, shots)
    client = client_for(users["dave"])
    url, browser = reverse("board", args=[project.slug]), {"Accept-Encoding": "gzip, deflate, br"}
    with django_assert_max_num_queries(12):
        first = client.get(url, headers=browser)
    with CaptureQueriesContext(connection) as cached_load:
        second = client.get(url, headers=browser)
    assert first["Content-Encoding"] == second["Content-Encoding"] == "gzip" and first.content == second.content
    assert gzip.decompress(second.content).decode().count('class="shot card approved"') == min(shots, BOARD_FIRST_SHOTS)
    # The project and role in one query (session and user come from the cache): no scene, shot or take.
    assert len(cached_load) == 1, [q["sql"] for q in cached_load.captured_queries]


def test_the_cached_board_is_per_role_and_never_holds_a_csrf_token(project, users):
    build_board(project, 3)
    viewer_page, editor_page = _board(client_for(users["dave"]), project), _board(client_for(users["bob"]), project)
    assert "Render scene" not in viewer_page and "Render scene" in editor_page  # each role its own copy
    from django.core.cache import cache

    cached = cache.get(f"board-scenes:{project.content_key}:edit:all")
    assert cached and all("csrfmiddlewaretoken" not in html and "bob" not in html for html in cached.values())


@pytest.mark.django_db(transaction=True)
def test_any_change_but_progress_shows_on_the_next_load(project, shot, users):
    """Committed changes bump the project's event_seq (studio/events.py), which keys the cache."""
    from studio.models import Project
    from studio.services.renders import take_claim, take_record_progress

    client = client_for(users["dave"])
    assert "@mara looks out" in _board(client, project)
    shot_update(shot=shot, actor=users["alice"], prompt="@mara turns away")
    assert "@mara turns away" in _board(client, project)

    take = finished_take(shot)  # a running render's progress ticks do not throw the cached board away
    Take.objects.filter(pk=take.pk).update(status="queued")
    take = take_claim(take_id=take.pk, worker="test", max_attempts=3)
    before = Project.objects.get(pk=project.pk)
    _board(client, project)
    take_record_progress(take=take, step=3, total=10, publish=True)
    after = Project.objects.get(pk=project.pk)
    # a tick takes no number of its own (events.send_tick): the page content is the same
    assert after.event_seq == before.event_seq


def test_the_cached_cast_handles_follow_a_cast_change(project, users, django_capture_on_commit_callbacks):
    """The board's @cast list is cached per project content (a versioned key): a new cast member
    shows on the next load, with no deletion needed."""
    from studio.services.cast import cast_member_create

    client = client_for(users["bob"])
    url = reverse("board", args=[project.slug])

    def handles() -> list[str]:
        page = client.get(url).content.decode()
        found = page.split('id="cast-handles" type="application/json">', 1)[1].split("</script>", 1)[0]
        return [c["handle"] for c in json.loads(found)]

    assert handles() == [] and handles() == []  # the second from the cache
    with django_capture_on_commit_callbacks(execute=True):
        cast_member_create(project=project, actor=users["alice"], name="Wren")
    assert handles() == ["wren"]


def _csrf_in(html: str) -> str:
    import re

    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


def test_the_board_from_the_cache_carries_each_browsers_own_csrf_token_and_its_forms_post(project, shot, users):
    """The whole board page is cached per person and project content, with the CSRF token put back
    per request: two browsers of the same person each get a token their own cookie accepts."""
    from django.test import Client

    url = reverse("board", args=[project.slug])
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    for browser in (first, second):
        browser.force_login(users["bob"])
    pages = [browser.get(url).content.decode() for browser in (first, second, first)]  # the last two from the cache
    assert "csrf-token-placeholder" not in "".join(pages)
    assert pages[1].replace(_csrf_in(pages[1]), "T") == pages[2].replace(_csrf_in(pages[2]), "T")  # the same page
    response = second.post(reverse("scene_new", args=[project.slug]), {"heading": "EXT. PIER - DAWN"},
                           headers={"X-CSRFToken": _csrf_in(pages[1])})
    assert response.status_code in (200, 302) and Scene.objects.filter(heading="EXT. PIER - DAWN").exists()
    refused = first.post(reverse("scene_new", args=[project.slug]), {"heading": "EXT. NOWHERE"},
                         headers={"X-CSRFToken": "x" * 64})
    assert refused.status_code == 403  # a wrong token is still refused: the cache did not weaken the check


def test_the_cached_board_follows_changes_roles_and_messages(project, shot, users, django_capture_on_commit_callbacks):
    from studio.models import Membership, Role

    url = reverse("board", args=[project.slug])
    bob = client_for(users["bob"])
    assert "Render everything not yet rendered" in bob.get(url).content.decode()  # editor
    refused = bob.post(reverse("scene_new", args=[project.slug]), {"heading": ""})  # a plain form, refused
    assert refused.status_code == 302
    assert "A scene needs a heading." in bob.get(url).content.decode()  # the one-time message is shown...
    assert "A scene needs a heading." not in bob.get(url).content.decode()  # ...once, then the cached page again
    with django_capture_on_commit_callbacks(execute=True):  # its event bumps the project's event_seq
        shot_create(scene=shot.scene, actor=users["alice"], prompt="a gull lands on @deck")
    assert "a gull lands on" in bob.get(url).content.decode()  # a change: the page is made again
    Membership.objects.filter(project=project, user=users["bob"]).update(role=Role.VIEWER)
    assert "Render everything not yet rendered" not in bob.get(url).content.decode()  # his role now


def test_a_browser_taking_gzip_gets_one_compressed_page_with_no_token_and_its_cookie_posts(project, shot, users):
    """Browsers take gzip: the cached board goes out compressed once for all of a person's browsers,
    with the placeholder where the token goes (the page's first script fills it from the cookie), so
    the compressed bytes hold no secret. The cookie's value is a token Django accepts."""
    import gzip

    from django.conf import settings
    from django.test import Client

    from studio.views.board import CSRF_PLACEHOLDER

    url = reverse("board", args=[project.slug])
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    for browser in (first, second):
        browser.force_login(users["bob"])
    answers = [browser.get(url, headers={"Accept-Encoding": "gzip, deflate, br"}) for browser in (first, second)]
    for answer in answers:
        assert answer["Content-Encoding"] == "gzip" and "Accept-Encoding" in answer["Vary"]
    assert answers[0].content == answers[1].content  # one compressed copy for both browsers
    page = gzip.decompress(answers[0].content).decode()
    assert CSRF_PLACEHOLDER in page and _csrf_in(page) == CSRF_PLACEHOLDER
    assert f'value="{CSRF_PLACEHOLDER}"' in page  # the plain forms' hidden inputs too
    assert len(answers[0].content) * 3 < len(page.encode())  # a one-shot board: 10.8 KB -> 3.2 KB
    cookies = [browser.cookies[settings.CSRF_COOKIE_NAME].value for browser in (first, second)]
    assert cookies[0] != cookies[1] and all(cookie not in page for cookie in cookies)
    created = second.post(reverse("scene_new", args=[project.slug]), {"heading": "EXT. DOCKS - NIGHT"},
                          headers={"X-CSRFToken": cookies[1]})  # what the script puts in the page
    assert created.status_code in (200, 302) and Scene.objects.filter(heading="EXT. DOCKS - NIGHT").exists()
    crossed = first.post(reverse("scene_new", args=[project.slug]), {"heading": "EXT. NOWHERE"},
                         headers={"X-CSRFToken": cookies[1]})  # another browser's cookie is not this one's token
    assert crossed.status_code == 403 and not Scene.objects.filter(heading="EXT. NOWHERE").exists()
    plain = first.get(url)  # a client without gzip: the page with its own token put in, as before
    assert "Content-Encoding" not in plain and CSRF_PLACEHOLDER not in plain.content.decode()


def test_the_page_script_knows_the_placeholder_and_can_read_the_csrf_cookie(project, users):
    """The script that fills the token is loaded first on every page, names the view's placeholder
    and reads the cookie Django sets (not an httpOnly one, not a session-kept token)."""
    from django.conf import settings

    from studio.views.board import CSRF_PLACEHOLDER

    script = (ROOT / "static" / "studio" / "csrf-from-cookie.js").read_text()
    assert f'"{CSRF_PLACEHOLDER}"' in script and f"{settings.CSRF_COOKIE_NAME}=" in script
    assert not settings.CSRF_COOKIE_HTTPONLY and not settings.CSRF_USE_SESSIONS
    page = client_for(users["bob"]).get(reverse("board", args=[project.slug])).content.decode()
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page)
    assert "csrf-from-cookie" in scripts[0], scripts


@pytest.mark.parametrize(("accept_encoding", "gzipped"), [
    ("gzip, deflate, br", True), ("GZIP", True), ("br;q=1.0, gzip;q=0.8", True),
    ("gzip;q=0", False), ("gzip; q=0.0, identity", False), ("deflate, br", False), ("", False), ("xgzip", False),
])
def test_the_board_is_gzipped_only_for_a_client_that_takes_gzip(project, shot, users, accept_encoding, gzipped):
    answer = client_for(users["bob"]).get(reverse("board", args=[project.slug]), headers={"Accept-Encoding": accept_encoding})
    assert answer.status_code == 200 and (answer.get("Content-Encoding") == "gzip") is gzipped
    if not gzipped:
        assert "INT." in answer.content.decode() or shot.scene.heading in answer.content.decode()


def test_a_cached_board_is_not_served_by_another_release(project, shot, users, monkeypatch):
    """Cached pages outlive a deploy (Redis is not redeployed with the image): a page rendered by the
    last release names static files the new one does not have. The release is in the key."""
    from studio import release

    url = reverse("board", args=[project.slug])
    bob = client_for(users["bob"])
    monkeypatch.setenv("CONTINUITY_RELEASE", "2026.12.1")
    release.fingerprint.cache_clear()
    assert "EXT. SEA WALL" not in bob.get(url).content.decode()
    Scene.objects.create(project=project, heading="EXT. SEA WALL - DAY", order=99)  # no event: the cached page stays
    assert "EXT. SEA WALL" not in bob.get(url).content.decode()
    monkeypatch.setenv("CONTINUITY_RELEASE", "2026.12.2")
    release.fingerprint.cache_clear()
    assert "EXT. SEA WALL" in bob.get(url).content.decode()
    monkeypatch.delenv("CONTINUITY_RELEASE")
    release.fingerprint.cache_clear()


def test_a_release_is_named_by_its_files_where_the_build_names_none(monkeypatch):
    from studio import release

    monkeypatch.delenv("CONTINUITY_RELEASE", raising=False)
    release.fingerprint.cache_clear()
    by_files = release.fingerprint()
    monkeypatch.setattr(release, "RELEASE_SUFFIXES", {".py"})  # other files, another name
    release.fingerprint.cache_clear()
    assert release.fingerprint() != by_files and len(by_files) == 12
    release.fingerprint.cache_clear()


def test_a_page_that_saw_an_event_not_yet_committed_gets_the_scenes_made_afresh(project, shot, users):
    """An event reaches the page a moment before its number is committed (events.send_now): the
    refresh it asks for, sent that fast, must not be answered from the cache kept under the number
    before. The page says the last number it saw (X-Live-Seq)."""
    from studio.models import Project

    url = reverse("board_scenes", args=[project.slug])
    bob = client_for(users["bob"])
    assert "EXT. SEA WALL" not in bob.get(url).content.decode()  # cached under the current number
    Scene.objects.create(project=project, heading="EXT. SEA WALL - DAY", order=99)  # its number not yet committed
    current = Project.objects.get(pk=project.pk).event_seq
    assert "EXT. SEA WALL" not in bob.get(url, headers={"X-Live-Seq": str(current)}).content.decode()
    assert "EXT. SEA WALL" in bob.get(url, headers={"X-Live-Seq": str(current + 1)}).content.decode()
    assert "EXT. SEA WALL" not in bob.get(url, headers={"X-Live-Seq": "junk"}).content.decode()
