"""Render requests per person in a sliding window, counted in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from studio.models import Take
from studio.services.shots import shot_create
from studio.services.render_rate import RateLimited, check_render_rate, render_rate
from studio.services.render_requests import take_request

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def three_per_ten_minutes(settings, monkeypatch):
    settings.CONTINUITY_RENDER_RATE = "3/10m"
    monkeypatch.setattr("studio.services.dispatch.enqueue_render", lambda take_id: None)


@pytest.fixture
def shot(scene, alice):
    return shot_create(scene=scene, actor=alice, prompt="the ferry horn sounds", duration_s=1)


def _ask(shot, user, times: int) -> list[Take]:
    return [take_request(shot=shot, actor=user, force=True).take for _ in range(times)]


def _age(takes: list[Take], minutes: float) -> None:
    Take.objects.filter(pk__in=[t.pk for t in takes]).update(created_at=timezone.now() - timedelta(minutes=minutes))


def test_the_request_over_the_limit_is_refused_with_when_to_retry(shot, alice):
    _ask(shot, alice, 3)
    with pytest.raises(RateLimited) as refused:
        take_request(shot=shot, actor=alice, force=True)
    assert refused.value.messages == ["You have asked for renders 3 times in the last 10 minutes; try again in 10 minutes."]
    assert (refused.value.count, refused.value.window_s) == (3, 600)
    assert 595 <= refused.value.retry_after_s <= 601
    assert Take.objects.count() == 3  # the refused request left nothing behind


def test_it_is_a_validation_error_so_every_form_shows_the_message(shot, alice):
    _ask(shot, alice, 3)
    with pytest.raises(ValidationError, match="try again in"):
        take_request(shot=shot, actor=alice, force=True)


def test_the_wait_is_until_the_oldest_counted_request_leaves_the_window(shot, alice):
    oldest = _ask(shot, alice, 1)
    _age(oldest, minutes=7.5)
    _ask(shot, alice, 2)
    with pytest.raises(RateLimited) as refused:
        take_request(shot=shot, actor=alice, force=True)
    assert "try again in 3 minutes" in refused.value.messages[0]
    assert 140 <= refused.value.retry_after_s <= 151


def test_requests_older_than_the_window_no_longer_count(shot, alice):
    _age(_ask(shot, alice, 3), minutes=10.5)
    assert len(_ask(shot, alice, 3)) == 3


def test_the_limit_is_per_person(shot, alice, users):
    _ask(shot, alice, 3)
    assert _ask(shot, users["bob"], 1)[0].requested_by == users["bob"]


def test_answers_without_new_work_do_not_count(scene, shot, alice):
    """The same request again is answered by its take; a twin shot reuses the finished files."""
    first = take_request(shot=shot, actor=alice).take
    for _ in range(5):
        assert take_request(shot=shot, actor=alice).take == first
    Take.objects.filter(pk=first.pk).update(status="succeeded", video="v.mp4", frames=24)
    # Same code, seed, prompt and length: the render request is identical.
    twins = [shot_create(scene=scene, actor=alice, prompt=shot.prompt, code=shot.code, duration_s=1, seed=shot.seed)
             for _ in range(4)]
    reused = [take_request(shot=twin, actor=alice).take for twin in twins]
    assert all(t.reused_from_id is not None for t in reused)
    assert len(_ask(shot, alice, 2)) == 2  # 1 real render so far, so 2 more fit in 3


def test_failed_and_cancelled_renders_still_count(shot, alice):
    """They took worker time, and a loop of failing requests is exactly what the limit is for."""
    taken = _ask(shot, alice, 3)
    Take.objects.filter(pk__in=[t.pk for t in taken]).update(status="failed")
    with pytest.raises(RateLimited):
        take_request(shot=shot, actor=alice, force=True)


def test_requests_by_no_one_are_not_limited(alice):
    check_render_rate(None)


@pytest.mark.parametrize(("text", "rate"), [("60/10m", (60, 600)), ("5/30s", (5, 30)), ("100/1h", (100, 3600)), ("2/90", (2, 90))])
def test_the_setting_reads_renders_per_window(settings, text, rate):
    settings.CONTINUITY_RENDER_RATE = text
    assert render_rate() == rate


def test_a_malformed_setting_says_what_it_should_look_like(settings, alice):
    settings.CONTINUITY_RENDER_RATE = "sixty a minute"
    with pytest.raises(ValueError, match="60/10m"):
        check_render_rate(alice)


def test_the_message_uses_singular_minutes(shot, alice, settings):
    settings.CONTINUITY_RENDER_RATE = "1/1m"
    _ask(shot, alice, 1)
    with pytest.raises(RateLimited, match=r"^\['You have asked for renders 1 time in the last 1 minute; try again in 1 minute.'\]$"):
        take_request(shot=shot, actor=alice, force=True)


@pytest.mark.parametrize("htmx", [True, False])
def test_the_render_button_answers_429_with_when_to_retry(client, shot, alice, htmx):
    from django.urls import reverse

    from studio.services.shots import shot_update

    _ask(shot, alice, 3)
    shot_update(shot=shot, actor=alice, prompt="the ferry horn sounds twice")  # new work, not a reuse
    client.force_login(alice)
    headers = {"HX-Request": "true"} if htmx else {}
    takes_before = Take.objects.count()
    response = client.post(reverse("shot_render", args=[shot.scene.project.slug, shot.id]), headers=headers)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "asked for renders 3 times in the last" in response.content.decode()
    assert Take.objects.count() == takes_before


# --- A request for many shots counts once -------------------------------------------------------

def _shots(scene, alice, count: int) -> list:
    return [shot_create(scene=scene, actor=alice, prompt=f"the ferry, angle {n}", duration_s=1) for n in range(count)]


def test_rendering_a_scene_is_one_request_however_many_shots(client, scene, alice):
    from django.urls import reverse

    _shots(scene, alice, 5)  # more shots than the limit of 3
    client.force_login(alice)
    response = client.post(reverse("scene_render", args=[scene.project.slug, scene.id]))
    assert response.status_code == 302
    takes = Take.objects.filter(shot__scene=scene)
    assert takes.count() == 5
    assert takes.values("request_batch").distinct().count() == 1
    _ask(Take.objects.first().shot, alice, 2)  # 1 + 2 = 3 requests
    with pytest.raises(RateLimited, match="3 times"):
        take_request(shot=Take.objects.first().shot, actor=alice, force=True)


@pytest.mark.parametrize("route", ["scene_render", "render_missing"])
def test_a_batch_over_the_limit_is_refused_whole_with_429(client, scene, shot, alice, route):
    from django.urls import reverse

    _ask(shot, alice, 3)
    _shots(scene, alice, 4)
    before = Take.objects.count()
    client.force_login(alice)
    args = [scene.project.slug, scene.id] if route == "scene_render" else [scene.project.slug]
    response = client.post(reverse(route, args=args), headers={"HX-Request": "true"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "try again in" in response.content.decode()
    assert Take.objects.count() == before


def test_a_batch_with_nothing_new_to_render_is_not_refused_at_the_limit(client, scene, shot, alice):
    from django.urls import reverse

    take_request(shot=shot, actor=alice)  # the shot as it is, in flight
    _ask(shot, alice, 2)
    client.force_login(alice)
    response = client.post(reverse("render_missing", args=[scene.project.slug]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert Take.objects.count() == 3


def test_rendering_a_cut_is_one_request(scene, alice):
    from studio.services.cuts import cut_create, cut_render

    _shots(scene, alice, 6)
    cut = cut_create(project=scene.project, actor=alice, name="Assembly")
    results = cut_render(cut=cut, actor=alice)
    assert sum(r.dispatched for r in results) == 6
    assert len({r.take.request_batch for r in results}) == 1
    assert len(_ask(results[0].take.shot, alice, 2)) == 2  # 1 + 2 = 3 requests


def test_separate_requests_for_one_shot_are_separate_batches(shot, alice):
    takes = _ask(shot, alice, 3)
    assert len({t.request_batch for t in takes}) == 3
