"""Board search and filters (selectors.board_view): scene, status, cast, backend and free text over
prompts, dialogue and comments combine; every option counts the shots it would show; the filters
come from the URL. Built on a real Fountain script (tests/fixtures/scripts/night_ferry_v1.fountain)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from studio import selectors
from studio.models import CastMember, Comment, Scene, Shot, Take, TakeStatus
from studio.selectors import BoardFilters
from studio.services.script import script_import
from tests.conftest import require
from tests.studio.views_helpers import client_for, finished_take

pytestmark = pytest.mark.django_db

FERRY = (Path(__file__).resolve().parent.parent / "fixtures" / "scripts" / "night_ferry_v1.fountain").read_bytes()
COMMENT = "The gulls drown her line; loop it in ADR."


def ferry_board(project, user) -> dict[str, Shot]:
    """Five scenes, a first shot each: 1A approved, 2A and 3A waiting for review (2A with a comment),
    4A rendering, 5A not rendered and set to another backend. 1A: @mckenzie, @tomas at the harbour;
    2A: @mckenzie in the lamp room; 3A: @tomas in his truck; 4A: the lamp room again; 5A: @clerk."""
    script_import(project=project, actor=user, data=FERRY)
    shots = {shot.code: shot for shot in Shot.objects.filter(scene__project=project)}
    approved = finished_take(shots["1A"])
    Shot.objects.filter(pk=shots["1A"].pk).update(approved_take=approved)
    Comment.objects.create(take=finished_take(shots["2A"]), author=user, body=COMMENT, frame=12)
    finished_take(shots["3A"])
    Take.objects.create(shot=shots["4A"], number=1, backend="animatic", request={}, signature="x", status=TakeStatus.RUNNING)
    Shot.objects.filter(pk=shots["5A"].pk).update(backend="tiny")
    return shots


def _shown(project, **filters) -> list[str]:
    view = selectors.board_view(project, BoardFilters(**filters))
    return [shot.code for scene in view.scenes for shot in scene.board_shots]


def _member(project, handle: str) -> int:
    return CastMember.objects.get(project=project, handle=handle).id


def test_no_filter_shows_every_shot_with_its_status(project, alice):
    ferry_board(project, alice)
    view = selectors.board_view(project, BoardFilters())
    assert {s.code: s.board_status for scene in view.scenes for s in scene.board_shots} == {
        "1A": "approved", "2A": "needs_review", "3A": "needs_review", "4A": "rendering", "5A": "unrendered"}
    assert (view.total, view.shown) == (5, 5)


def test_each_filter_alone(project, alice):
    ferry_board(project, alice)
    truck = Scene.objects.get(project=project, heading="EXT. TOMAS'S TRUCK - MOVING")
    assert _shown(project, scene=truck.id) == ["3A"]
    assert _shown(project, status="needs_review") == ["2A", "3A"]
    assert _shown(project, cast=_member(project, "tomas")) == ["1A", "3A"]
    # The lamp room is one location (issue 16 item 8), so both of its scenes are found by it.
    assert _shown(project, cast=_member(project, "lighthouse_lamp_room")) == ["2A", "4A"]
    assert _shown(project, backend="tiny") == ["5A"]
    assert _shown(project, backend="animatic") == ["1A", "2A", "3A", "4A"]


def test_filters_combine(project, alice):
    ferry_board(project, alice)
    assert _shown(project, status="needs_review", cast=_member(project, "tomas")) == ["3A"]
    assert _shown(project, status="needs_review", cast=_member(project, "mckenzie")) == ["2A"]
    assert _shown(project, status="approved", cast=_member(project, "mckenzie"), backend="animatic") == ["1A"]
    assert _shown(project, status="rendering", cast=_member(project, "tomas")) == []
    assert _shown(project, text="tide", status="approved") == ["1A"]
    assert _shown(project, text="tide", status="needs_review") == []


@pytest.mark.parametrize("text, codes", [
    ("tide", ["1A"]),  # dialogue: "The tide was late."
    ("clerk stamps", ["5A"]),  # the prompt (the scene's action)
    ("ADR", ["2A"]),  # a comment on a take
    ("nothing like this", []),
])
def test_free_text_reads_prompts_dialogue_and_comments(project, alice, text, codes):
    ferry_board(project, alice)
    assert _shown(project, text=text) == codes


def test_a_trashed_comment_is_not_searched(project, alice):
    ferry_board(project, alice)
    Comment.objects.update(deleted_at=timezone.now())
    assert _shown(project, text="ADR") == []


def test_each_option_counts_what_it_would_show_with_the_other_filters_kept(project, alice):
    ferry_board(project, alice)
    tomas = _member(project, "tomas")
    view = selectors.board_view(project, BoardFilters(status="needs_review", cast=tomas))
    counts = {name: {o.label: o.count for o in options} for name, options in view.facets.items()}
    # Status counts keep the cast filter (Tomas: 1A approved, 3A waiting), not the status filter.
    assert counts["status"] == {"Unrendered": 0, "Rendering": 0, "Needs review": 1, "Approved": 1, "Stale": 0}
    assert counts["cast"]["@tomas"] == 1 and counts["cast"]["@mckenzie"] == 1  # needs review: 3A, 2A
    assert counts["backend"] == {"animatic": 1, "tiny": 0}
    assert [o.label for o in view.facets["status"] if o.selected] == ["Needs review"]
    assert (view.total, view.shown) == (5, 1)


def test_the_board_page_reads_its_filters_from_the_url(project, alice, users):
    shots = ferry_board(project, alice)
    tomas = _member(project, "tomas")
    page = client_for(users["dave"]).get(reverse("board", args=[project.slug]), {"status": "needs_review", "cast": tomas})
    html = page.content.decode()
    assert f'id="shot-{shots["3A"].id}"' in html
    assert not any(f'id="shot-{shots[code].id}"' in html for code in ("1A", "2A", "4A", "5A"))
    # The live refresh of the board keeps the filters.
    fragment = client_for(users["dave"]).get(reverse("board_scenes", args=[project.slug]),
                                             {"status": "needs_review", "cast": tomas}).content.decode()
    assert f'id="shot-{shots["3A"].id}"' in fragment and f'id="shot-{shots["2A"].id}"' not in fragment


def test_a_filter_that_does_not_parse_is_named_and_the_others_still_apply(project, alice, users):
    shots = ferry_board(project, alice)
    page = client_for(users["dave"]).get(reverse("board", args=[project.slug]), {"status": "lost", "backend": "tiny"})
    assert page.status_code == 200
    assert any("Status" in error for error in page.context["filter_errors"])
    html = page.content.decode()
    assert f'id="shot-{shots["5A"].id}"' in html and f'id="shot-{shots["1A"].id}"' not in html


def test_outsiders_get_no_board_whatever_the_filters(project, alice, users):
    ferry_board(project, alice)
    assert client_for(users["eve"]).get(reverse("board", args=[project.slug]), {"q": "tide"}).status_code == 404


@pytest.mark.services
def test_postgresql_full_text_search_finds_a_word_of_a_comment_by_its_stem(project, alice):
    """English stemming: "drowning gulls" finds "The gulls drown her line" (a substring search
    would not). Needs PostgreSQL; fails in CI without it."""
    require(connection.vendor == "postgresql", "PostgreSQL")
    ferry_board(project, alice)
    assert _shown(project, text="drowning gulls") == ["2A"]
    assert _shown(project, text='"drown her line"') == ["2A"]  # web-search syntax: a phrase
    assert _shown(project, text="gulls -ADR") == []  # and a word left out


def test_a_live_refresh_of_a_scene_keeps_the_filters(project, alice, users):
    shots = ferry_board(project, alice)
    harbour = shots["1A"].scene
    url = reverse("scene_fragment", args=[project.slug, harbour.id])
    client = client_for(users["dave"])
    assert f'id="shot-{shots["1A"].id}"' in client.get(url, {"status": "approved"}).content.decode()
    assert client.get(url, {"status": "needs_review"}).content == b""  # the scene leaves the filtered board
    board = client.get(reverse("board", args=[project.slug]), {"status": "approved"}).content.decode()
    assert f'{url}?status=approved"' in board  # each scene refreshes with the board's filters
    assert client_for(users["eve"]).get(url, {"status": "approved"}).status_code == 404
