"""GPU accounting and budgets: the roll-ups' values (per member, per scene, per cut...), a budget
at 100% refusing a render with who spent what, the owner lifting it, reused takes costing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from studio import usage_selectors
from studio.models import Cut, CutEntry, Take, TakeStatus
from studio.services import usage as usage_services
from studio.services.render_requests import render_request_for, request_signature, take_request
from studio.services.shots import scene_create, shot_create
from studio.services.ui_support import shots_render
from tests.studio.views_helpers import client_for

pytestmark = pytest.mark.django_db


def spent(shot, number: int, *, gpu: float, wall: float, by, backend: str = "animatic", reused_from=None, days_ago: int = 0):
    return Take.objects.create(
        shot=shot, number=number, backend=backend, request={}, signature=f"s-{shot.id}-{number}",
        status=TakeStatus.SUCCEEDED, gpu_seconds=gpu, compute_seconds=wall, requested_by=by, reused_from=reused_from,
        finished_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def spending(project, scene, shot, users):
    """alice spent 100 + 30 GPU s on the deck scene, bob 50 on the hold scene (wan), plus a reuse."""
    hold = scene_create(project=project, actor=users["alice"], heading="INT. HOLD - NIGHT")
    hold_shot = shot_create(scene=hold, actor=users["alice"], prompt="@mara in the hold", code="2A")
    first = spent(shot, 1, gpu=100, wall=120, by=users["alice"], days_ago=1)
    spent(shot, 2, gpu=30, wall=40, by=users["alice"])
    spent(hold_shot, 1, gpu=50, wall=55, by=users["bob"], backend="wan")
    spent(hold_shot, 2, gpu=0, wall=0, by=users["bob"], reused_from=first)  # a cache hit: free, saves 100
    return {"hold": hold, "hold_shot": hold_shot}


def by_label(rows):
    return {row.label: (row.gpu_seconds, row.wall_seconds, row.takes, row.saved_seconds) for row in rows}


def test_gpu_seconds_per_member_and_per_scene(project, scene, spending):
    assert by_label(usage_selectors.usage_by(project, "member")) == {"alice": (130, 160, 2, 0), "bob": (50, 55, 2, 100)}
    assert by_label(usage_selectors.usage_by(project, "scene")) == {
        scene.heading: (130, 160, 2, 0), "INT. HOLD - NIGHT": (50, 55, 2, 100)}
    assert [row.label for row in usage_selectors.usage_by(project, "member")] == ["alice", "bob"]  # biggest first


def test_gpu_seconds_per_shot_backend_day_and_cut(project, scene, shot, spending, alice):
    assert by_label(usage_selectors.usage_by(project, "backend")) == {"animatic": (130, 160, 3, 100), "wan": (50, 55, 1, 0)}
    shots = {row.key: row.gpu_seconds for row in usage_selectors.usage_by(project, "shot")}
    assert shots == {shot.id: 130, spending["hold_shot"].id: 50}
    days = usage_selectors.usage_by(project, "day")
    assert [row.gpu_seconds for row in days] == [100, 80]  # yesterday, today
    cut = Cut.objects.create(project=project, name="Hold only", created_by=alice)
    CutEntry.objects.create(cut=cut, shot=spending["hold_shot"], order=1)
    CutEntry.objects.create(cut=cut, shot=spending["hold_shot"], order=2)  # twice in the cut: counted once
    Cut.objects.create(project=project, name="Empty", created_by=alice)
    assert by_label(usage_selectors.usage_by(project, "cut")) == {"Hold only": (50, 55, 2, 100), "Empty": (0, 0, 0, 0)}
    chart = usage_selectors.daily_chart(project, days=3)
    assert [row.gpu_seconds for row in chart] == [0, 100, 80]


def test_an_unknown_rollup_is_refused(project):
    with pytest.raises(ValueError, match="Unknown roll-up"):
        usage_selectors.usage_by(project, "planet")


def test_a_budget_at_100_percent_refuses_a_render_saying_what_was_spent_and_by_whom(project, shot, spending, users):
    usage_services.budget_set(project=project, actor=users["alice"], seconds=180)  # spent: 180
    shot.prompt = "@mara looks back"
    shot.save(update_fields=["prompt"])
    before = Take.objects.count()
    with pytest.raises(usage_services.BudgetExceeded) as refused:
        take_request(shot=shot, actor=users["bob"])
    message = " ".join(refused.value.messages)
    assert "GPU budget is used up: 180 GPU s of 180 GPU s spent (alice 130 GPU s, bob 50 GPU s)" in message
    assert "An owner can raise the budget or lift the stop" in message
    assert Take.objects.count() == before  # nothing queued, nothing lost


def test_at_80_percent_a_warning_at_100_a_stop_an_owner_lifts(project, shot, spending, users):
    usage_services.budget_set(project=project, actor=users["alice"], seconds=200)
    project.refresh_from_db()
    assert usage_selectors.budget_state(project).level == "warning"  # 180 of 200
    take_request(shot=shot, actor=users["bob"], prompt="@mara at 90%")  # still allowed
    usage_services.budget_set(project=project, actor=users["alice"], seconds=150)
    project.refresh_from_db()
    assert usage_selectors.budget_state(project).level == "exceeded"
    usage_services.budget_lift(project=project, actor=users["alice"])
    project.refresh_from_db()
    assert usage_selectors.budget_state(project).level == "lifted"
    assert take_request(shot=shot, actor=users["bob"], prompt="@mara past the budget").dispatched


def test_a_spent_budget_still_answers_with_a_reused_take(project, shot, take, users):
    """Cache hits cost nothing, so a spent budget does not refuse them."""
    Take.objects.filter(pk=take.pk).update(gpu_seconds=10)
    usage_services.budget_set(project=project, actor=users["alice"], seconds=10)
    take.refresh_from_db()
    Take.objects.filter(pk=take.pk).update(signature=request_signature("animatic", render_request_for(shot)))
    result = take_request(shot=shot, actor=users["bob"])
    assert result.take.pk == take.pk and not result.dispatched


def test_a_spent_budget_refuses_a_whole_batch_with_one_message(project, scene, shot, spending, users):
    usage_services.budget_set(project=project, actor=users["alice"], seconds=100)
    with pytest.raises(usage_services.BudgetExceeded):
        shots_render(shots=[shot, spending["hold_shot"]], actor=users["alice"])


def test_budget_page_post_is_for_owners_and_bad_input_is_refused(project, users):
    url = reverse("budget_update", args=[project.slug])
    assert client_for(users["bob"]).post(url, {"seconds": "100"}).status_code == 403
    assert client_for(users["eve"]).post(url, {"seconds": "100"}).status_code == 404
    owner = client_for(users["alice"])
    owner.post(url, {"seconds": "ten"})
    project.refresh_from_db()
    assert project.gpu_budget_seconds is None  # refused, nothing changed
    owner.post(url, {"seconds": "3,600"})
    project.refresh_from_db()
    assert project.gpu_budget_seconds == 3600


def test_the_usage_page_shows_the_selector_values(project, scene, spending, users):
    response = client_for(users["dave"]).get(reverse("usage", args=[project.slug]))  # a viewer may look
    assert response.status_code == 200
    assert by_label(response.context["rollups"]["member"]) == by_label(usage_selectors.usage_by(project, "member"))
    assert by_label(response.context["rollups"]["scene"]) == by_label(usage_selectors.usage_by(project, "scene"))
    assert response.context["totals"].saved_seconds == 100
    assert client_for(users["eve"]).get(reverse("usage", args=[project.slug])).status_code == 404


def test_the_board_refuses_render_everything_with_the_budget_message(project, shot, spending, users):
    usage_services.budget_set(project=project, actor=users["alice"], seconds=100)
    before = Take.objects.count()
    response = client_for(users["bob"]).post(reverse("render_missing", args=[project.slug]), HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "GPU budget is used up: 180 GPU s of 100 GPU s spent (alice 130 GPU s, bob 50 GPU s)" in response.content.decode()
    assert Take.objects.count() == before


def test_from_80_percent_a_render_request_is_told_how_much_is_spent(project, shot, spending, users):
    import json

    url = reverse("shot_render", args=[project.slug, shot.id])
    shot.prompt = "@mara at 90 percent"
    shot.save(update_fields=["prompt"])
    usage_services.budget_set(project=project, actor=users["alice"], seconds=200)  # 180 spent: 90%
    response = client_for(users["bob"]).post(url, HTTP_HX_REQUEST="true")
    message = json.loads(response["HX-Trigger"])["toast"]["message"]
    assert message.endswith("queued. GPU budget: 180 GPU s of 200 GPU s spent (90%).")
    usage_services.budget_set(project=project, actor=users["alice"], seconds=1000)  # 18%: nothing to say
    shot.prompt = "@mara at 18 percent"
    shot.save(update_fields=["prompt"])
    response = client_for(users["bob"]).post(url, HTTP_HX_REQUEST="true")
    assert "GPU budget" not in json.loads(response["HX-Trigger"])["toast"]["message"]
