"""Issue 12, items 3, 4 and 6 on the studio side, with real animatic renders in-process (ffmpeg):
stale continuity takes appear and clear, "re-render the chain", exact re-renders and their
content-hash comparison (service, review room, management command), and camera fields that cost a
render only on a backend that uses them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from generation.backends import registry
from studio import selectors
from studio.models import Take, TakeStatus
from studio.services import renders
from studio.services.cast import cast_member_create, reference_image_add
from studio.services.projects import project_create
from studio.services.render_requests import take_request
from studio.services.reviews import review_decide
from studio.services.shots import scene_create, shot_create, shot_update
from studio.services.takes import take_rerender_exact
from tests.conftest import png_bytes
from tests.studio.views_helpers import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture
def chain(alice, ffmpeg_available):
    """A small animatic project: 1A, then 1B which continues from 1A's last frame; @gull is cast."""
    project = project_create(owner=alice, name="Pier", fps=12, width=160, height=90)
    gull = cast_member_create(project=project, actor=alice, name="Gull", kind="object", handle="gull")
    reference_image_add(member=gull, actor=alice, data=png_bytes(color=(240, 240, 240)))
    scene = scene_create(project=project, actor=alice, heading="EXT. PIER - DAY")
    first = shot_create(scene=scene, actor=alice, prompt="waves against the pier", duration_s=1, code="1A")
    second = shot_create(scene=scene, actor=alice, prompt="a @gull lands", duration_s=1, code="1B",
                         continue_from_previous=True)
    return project, first, second


def rendered(shot, actor, **request) -> Take:
    take = take_request(shot=shot, actor=actor, **request).take
    renders.run_take(take.id)  # the worker's task body, in-process
    take.refresh_from_db()
    assert take.status == TakeStatus.SUCCEEDED, take.error
    return take


def approve(take: Take, actor) -> None:
    review_decide(take=take, actor=actor, decision="approved")


def board_state(project, shot) -> dict:
    shots = {s.id: s for scene in selectors.shot_board(project) for s in scene.board_shots}
    return shots[shot.id].continuity


def card_html(project, shot, user) -> str:
    return client_for(user).get(reverse("shot_card", args=[project.slug, shot.id])).content.decode()


def review_html(project, take, user) -> str:
    url = reverse("review", args=[project.slug, take.shot_id]) + f"?take={take.id}"
    return client_for(user).get(url).content.decode()


# --- Item 3: stale downstream takes ------------------------------------------------------------

def test_a_new_approved_upstream_take_marks_the_downstream_take_stale_until_the_chain_is_re_rendered(chain, alice):
    project, first, second = chain
    a1 = rendered(first, alice)
    approve(a1, alice)
    b1 = rendered(second, alice)
    approve(b1, alice)
    assert b1.continued_from == a1
    assert board_state(project, second)["stale"] is False
    assert 'data-stale="false"' in review_html(project, b1, alice)

    a2 = rendered(first, alice, prompt="waves crash against the pier")
    assert board_state(project, second)["stale"] is False  # a re-render nobody approved changes nothing yet
    approve(a2, alice)

    state = board_state(project, second)
    assert state["stale"] is True and state["upstream_code"] == "1A" and state["upstream_take_number"] == 2
    card = card_html(project, second, alice)
    assert 'data-stale="true"' in card and "Stale: 1A changed" in card and "Re-render the chain" in card
    assert 'data-stale="true"' not in card_html(project, first, alice)
    room = review_html(project, b1, alice)
    assert 'data-stale="true"' in room and "Re-render the chain" in room and "(now take 2)" in room
    assert "Re-render the chain" not in card_html(project, second, users_viewer(project))  # viewers see, not act

    response = client_for(alice).post(reverse("shot_rerender_chain", args=[project.slug, second.id]))
    assert response.status_code == 302
    b2 = Take.objects.filter(shot=second).exclude(pk=b1.pk).get()
    assert b2.continued_from == a2 and b2.request["first_frame_path"] == a2.last_frame.path
    assert board_state(project, second)["stale"] is False  # cleared: re-rendered from the current upstream
    renders.run_take(b2.id)
    b2.refresh_from_db()
    assert 'data-stale="false"' in review_html(project, b2, alice)
    assert 'data-stale="true"' in review_html(project, b1, alice)  # the old take itself stays stale


def users_viewer(project):
    from django.contrib.auth import get_user_model

    from studio.models import Role
    from studio.services.projects import membership_add

    viewer = get_user_model().objects.create_user("vic", "vic@example.com", "pw")
    membership_add(project=project, actor=project.memberships.get(role=Role.OWNER).user, user=viewer, role=Role.VIEWER)
    return viewer


def test_re_rendering_a_chain_with_nothing_stale_queues_nothing(chain, alice):
    project, first, second = chain
    approve(rendered(first, alice), alice)
    approve(rendered(second, alice), alice)
    before = Take.objects.count()
    response = client_for(alice).post(reverse("shot_rerender_chain", args=[project.slug, first.id]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert Take.objects.count() == before
    assert "stale" in response.headers.get("HX-Trigger", "") + response.content.decode()


# --- Item 6: render exactly this take again -----------------------------------------------------

def test_an_exact_re_render_repeats_the_request_renders_for_real_and_says_the_frames_match(chain, alice):
    project, first, second = chain
    approve(rendered(first, alice), alice)
    original = rendered(second, alice)
    again = take_rerender_exact(take=original, actor=alice)
    assert again.rerender_of == original and again.number == 2 and again.status == TakeStatus.QUEUED
    again.refresh_from_db()
    assert again.request == original.request and again.signature == original.signature  # not reused: rendered again
    assert again.continued_from_id == original.continued_from_id
    assert "compared with it once this take is finished" in review_html(project, again, alice)

    renders.run_take(again.id)
    again.refresh_from_db()
    assert again.provenance["frames_sha256"] == original.provenance["frames_sha256"]
    assert selectors.rerender_comparison(again)["status"] == "match"
    assert 'data-rerender="match"' in review_html(project, again, alice)

    Take.objects.filter(pk=original.pk).update(provenance={**original.provenance, "frames_sha256": "0" * 64})
    assert 'data-rerender="differ"' in review_html(project, again, alice)


def test_the_review_room_button_renders_the_take_again(chain, alice):
    project, first, _ = chain
    original = rendered(first, alice)
    assert "Render take 1 again exactly" in review_html(project, original, alice)
    response = client_for(alice).post(reverse("take_rerender_exact", args=[project.slug, original.id]))
    again = Take.objects.get(rerender_of=original)
    assert response.status_code == 302 and response["Location"].endswith(f"?take={again.id}")


def test_an_exact_re_render_finds_the_same_bytes_elsewhere_or_refuses(chain, alice):
    project, first, second = chain
    approve(rendered(first, alice), alice)
    original = rendered(second, alice)
    used = Path(original.request["references"][0]["image_paths"][0])
    spare = cast_member_create(project=project, actor=alice, name="Spare", handle="spare")
    reference_image_add(member=spare, actor=alice, data=png_bytes(color=(240, 240, 240)))  # the same upload again
    used.unlink()
    again = take_rerender_exact(take=original, actor=alice)
    again.refresh_from_db()
    assert again.request["references"][0]["image_sha256s"] == original.request["references"][0]["image_sha256s"]
    assert again.request["references"][0]["image_paths"] != original.request["references"][0]["image_paths"]

    Path(again.request["references"][0]["image_paths"][0]).unlink()
    with pytest.raises(ValidationError, match="@gull .* no longer in the project"):
        take_rerender_exact(take=original, actor=alice)
    assert Take.objects.filter(rerender_of=original).count() == 1


def test_an_exact_re_render_is_refused_when_the_model_revision_changed(chain, alice):
    project, first, _ = chain
    original = rendered(first, alice)
    Take.objects.filter(pk=original.pk).update(provenance={**original.provenance, "revision": "0"})
    original.refresh_from_db()
    with pytest.raises(ValidationError, match="revision 0"):
        take_rerender_exact(take=original, actor=alice)
    response = client_for(alice).post(reverse("take_rerender_exact", args=[project.slug, original.id]), headers={"HX-Request": "true"})
    assert response.status_code == 422 and "revision 0" in response.content.decode()
    assert not Take.objects.filter(rerender_of=original).exists()


def test_only_a_finished_take_can_be_rendered_again_exactly(chain, alice):
    _, first, _ = chain
    queued = take_request(shot=first, actor=alice).take
    with pytest.raises(ValidationError, match="only a finished take"):
        take_rerender_exact(take=queued, actor=alice)


def test_the_rerender_take_command(chain, alice):
    _, first, _ = chain
    original = rendered(first, alice)
    out = io.StringIO()
    call_command("rerender_take", str(original.id), stdout=out)
    again = Take.objects.get(rerender_of=original)
    assert f"take {again.number} (id {again.id}) queued as an exact re-render of take 1" in out.getvalue()
    with pytest.raises(CommandError, match="No take with id"):
        call_command("rerender_take", "999999", stdout=io.StringIO())


# --- Item 4: camera fields mean something or cost nothing ---------------------------------------

def test_shot_size_on_a_wan_shot_changes_the_prompt_sent_and_the_signature(project, scene, cast, alice):
    shot = shot_create(scene=scene, actor=alice, prompt="@mara looks out over the @deck", backend="wan")
    first = take_request(shot=shot, actor=alice).take
    before = selectors.prompt_sent(shot, project)
    shot_update(shot=shot, actor=alice, shot_size="CU")
    after = selectors.prompt_sent(shot, project)
    second = take_request(shot=shot, actor=alice)
    assert before == {"backend": "wan", "text": "@mara looks out over the @deck. Camera: medium shot, static camera, 35mm lens."}
    assert after["text"] == "@mara looks out over the @deck. Camera: close-up, static camera, 35mm lens."
    assert second.dispatched and second.take.signature != first.signature
    card = card_html(project, shot, alice)
    assert "Prompt sent to wan: @mara looks out over the @deck. Camera: close-up, static camera, 35mm lens." in card
    form = client_for(alice).get(reverse("shot_edit", args=[project.slug, shot.id])).content.decode()
    assert "Prompt sent to wan (as saved)" in form and "Camera: close-up" in form
    shot_update(shot=shot, actor=alice, camera_move="pan_left")
    response = client_for(alice).post(reverse("shot_render", args=[project.slug, shot.id]), headers={"HX-Request": "true"})
    confirmation = json.loads(response["HX-Trigger"])["toast"]["message"]
    assert confirmation.endswith("Prompt sent to wan: @mara looks out over the @deck. Camera: close-up, camera pans left, 35mm lens.")


class FramelessBackend:
    """A backend that declares it ignores shot size (registered for one test)."""

    name = "frameless"

    def __init__(self, models_dir=None):
        pass

    def describe_model(self, request):
        return "frameless", "1"


def test_shot_size_on_a_backend_that_ignores_it_costs_no_render(project, scene, cast, alice, monkeypatch):
    monkeypatch.setitem(registry.BACKENDS, "frameless", registry.BackendEntry(
        __name__, "FramelessBackend", "ignores shot size", 1, frozenset({"camera_move", "lens_mm", "caption"})))
    shot = shot_create(scene=scene, actor=alice, prompt="@mara looks out over the @deck", backend="frameless")
    first = take_request(shot=shot, actor=alice).take
    shot_update(shot=shot, actor=alice, shot_size="CU")
    same = take_request(shot=shot, actor=alice)
    assert not same.dispatched and same.take == first  # the existing take answers: no render
    assert selectors.prompt_sent(shot, project) is None  # it sends no camera words either
    shot_update(shot=shot, actor=alice, lens_mm=85)
    assert take_request(shot=shot, actor=alice).dispatched  # a field it uses still costs a render


def test_approving_an_upstream_take_tells_browsers_to_refresh_the_continuing_shot(chain, alice, monkeypatch,
                                                                                   django_capture_on_commit_callbacks):
    project, first, second = chain
    sent = []
    monkeypatch.setattr("studio.events.send_now", lambda project_id, kind, payload, **_: sent.append((kind, payload)))
    a1 = rendered(first, alice)
    with django_capture_on_commit_callbacks(execute=True):
        approve(a1, alice)
    b1 = rendered(second, alice)
    with django_capture_on_commit_callbacks(execute=True):
        approve(b1, alice)
    reviewed = [payload for kind, payload in sent if kind == "take.reviewed"]
    assert [(p["shot"], p["downstream"]) for p in reviewed] == [(first.id, [second.id]), (second.id, [])]
