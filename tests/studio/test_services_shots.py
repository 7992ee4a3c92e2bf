"""Scenes and shots: codes, @mentions as the cast, optimistic versions, order, duplicates, trash."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from studio.models import AuditEvent, Scene, Shot, ShotCast
from studio.services.common import StaleVersion
from studio.services.shots import (
    default_seed, mentioned_handles, scene_create, scene_trash, scene_update, shot_create, shot_duplicate, shot_trash,
    shot_update, shots_reorder,
)


def cast_handles(shot: Shot) -> list[str]:
    return list(ShotCast.objects.filter(shot=shot).order_by("order").values_list("cast_member__handle", flat=True))


def test_mentioned_handles_in_first_appearance_order():
    prompt = "@Deck at night; @mara looks at @deck. mail me@example.com, @@x, (@mara_2)"
    assert mentioned_handles(prompt) == ["deck", "mara", "mara_2"]


def test_scene_create_orders_and_audits(project, scene, alice):
    second = scene_create(project=project, actor=alice, heading="EXT. PIER - DAWN")
    assert (scene.order, second.order) == (1, 2)
    assert AuditEvent.objects.filter(project=project, verb="created", object_type="scene").count() == 2


def test_shot_codes_follow_the_scene(project, scene, alice):
    codes = [shot_create(scene=scene, actor=alice, prompt=f"beat {i}").code for i in range(3)]
    assert codes == ["1A", "1B", "1C"]
    numbered = scene_create(project=project, actor=alice, heading="EXT. PIER - DAWN", scene_number="12")
    assert shot_create(scene=numbered, actor=alice).code == "12A"
    assert shot_create(scene=numbered, actor=alice, code="12X").code == "12X"


def test_shot_codes_past_z(project, scene, alice):
    Shot.objects.bulk_create([Shot(scene=scene, order=i, code=f"x{i}") for i in range(26)])
    assert shot_create(scene=scene, actor=alice).code == "1AA"


def test_shot_create_orders_seeds_and_audits(scene, alice):
    first = shot_create(scene=scene, actor=alice, prompt="a")
    second = shot_create(scene=scene, actor=alice, prompt="b", seed=42)
    assert (first.order, second.order) == (1, 2)
    assert first.seed == default_seed(scene, "1A") and second.seed == 42
    assert first.version == 1
    assert AuditEvent.objects.filter(verb="created", object_type="shot", object_id=str(first.id)).exists()


def test_mentions_become_the_shot_cast_in_mention_order(scene, cast, alice):
    shot = shot_create(scene=scene, actor=alice, prompt="Wide on the @deck; @mara enters, @deck lights flicker")
    assert cast_handles(shot) == ["deck", "mara"]
    assert list(shot.cast.order_by("shot_links__order")) == [cast["deck"], cast["mara"]]


def test_unknown_mention_is_refused_and_no_shot_is_made(scene, cast, alice):
    with pytest.raises(ValidationError, match="@ghost"):
        shot_create(scene=scene, actor=alice, prompt="@mara meets @ghost")
    assert not Shot.objects.exists()
    assert not ShotCast.objects.exists()


def test_a_trashed_cast_member_cannot_be_mentioned(scene, cast, alice):
    from studio.services.cast import cast_member_trash

    cast_member_trash(member=cast["mara"], actor=alice)
    with pytest.raises(ValidationError, match="@mara"):
        shot_create(scene=scene, actor=alice, prompt="@mara")


def test_cast_of_another_project_is_unknown(scene, alice, users):
    from studio.services.cast import cast_member_create
    from studio.services.projects import project_create

    other = project_create(owner=users["eve"], name="Other")
    cast_member_create(project=other, actor=users["eve"], name="Stranger", handle="stranger")
    with pytest.raises(ValidationError):
        shot_create(scene=scene, actor=alice, prompt="@stranger")


@pytest.mark.parametrize("fields", [{"duration_s": Decimal("0.1")}, {"duration_s": Decimal("61")}, {"lens_mm": 4},
                                    {"lens_mm": 1000}, {"backend": "sora"}, {"shot_size": "HUGE"}])
def test_bad_shot_values_are_refused(scene, alice, fields):
    with pytest.raises(ValidationError):
        shot_create(scene=scene, actor=alice, **fields)
    assert not Shot.objects.exists()


def test_shot_update_saves_changes_and_bumps_version(scene, cast, alice):
    shot = shot_create(scene=scene, actor=alice, prompt="@mara waits")
    shot_update(shot=shot, actor=alice, expected_version=1, prompt="@deck is empty, then @mara", duration_s=Decimal("5.5"))
    stored = Shot.objects.get(pk=shot.pk)
    assert (stored.prompt, stored.duration_s, stored.version) == ("@deck is empty, then @mara", Decimal("5.5"), 2)
    assert shot.version == 2  # the caller's object is refreshed too
    assert cast_handles(stored) == ["deck", "mara"]
    event = AuditEvent.objects.get(verb="updated", object_id=str(shot.id))
    assert event.changes["prompt"] == ["@mara waits", "@deck is empty, then @mara"]
    assert event.changes["duration_s"] == ["3.00", "5.5"]


def test_shot_update_without_a_real_change_keeps_the_version(scene, alice):
    shot = shot_create(scene=scene, actor=alice, prompt="same", lens_mm=50)
    shot_update(shot=shot, actor=alice, expected_version=1, prompt="same", lens_mm=50)
    assert Shot.objects.get(pk=shot.pk).version == 1
    assert not AuditEvent.objects.filter(verb="updated").exists()


def test_a_prompt_saved_unchanged_that_now_names_another_member_relinks_the_shot_and_says_so(
        scene, cast, alice, django_capture_on_commit_callbacks):
    """"@mara" trashed and a new "@mara" made: the shot saved as it was now names the new one, and
    the board hears of it (its cached pages are keyed by the project's event number)."""
    from studio.models import Project
    from studio.services.cast import cast_member_create, cast_member_trash

    shot = shot_create(scene=scene, actor=alice, prompt="@mara on the @deck")
    cast_member_trash(member=cast["mara"], actor=alice)
    new_mara = cast_member_create(project=scene.project, actor=alice, name="Mara Two", handle="mara")
    before = Project.objects.get(pk=scene.project_id).event_seq
    with django_capture_on_commit_callbacks(execute=True):
        shot_update(shot=shot, actor=alice, expected_version=1, prompt="@mara on the @deck")
    assert list(shot.cast.order_by("shot_links__order")) == [new_mara, cast["deck"]]
    assert Project.objects.get(pk=scene.project_id).event_seq == before + 1
    with django_capture_on_commit_callbacks(execute=True):  # saved again as it is: nothing to say
        shot_update(shot=shot, actor=alice, expected_version=1, prompt="@mara on the @deck")
    assert Project.objects.get(pk=scene.project_id).event_seq == before + 1
    assert Shot.objects.get(pk=shot.pk).version == 1


def test_stale_shot_update_is_refused_with_the_current_values(scene, alice, users):
    shot = shot_create(scene=scene, actor=alice, prompt="first")
    mine = Shot.objects.get(pk=shot.pk)
    shot_update(shot=shot, actor=users["bob"], expected_version=1, prompt="bob's edit", lens_mm=85)
    with pytest.raises(StaleVersion) as caught:
        shot_update(shot=mine, actor=alice, expected_version=1, prompt="alice's edit")
    assert caught.value.current["prompt"] == "bob's edit"
    assert caught.value.current["lens_mm"] == 85
    assert caught.value.current["version"] == 2
    assert "changed by someone else" in str(caught.value)
    stored = Shot.objects.get(pk=shot.pk)
    assert (stored.prompt, stored.version) == ("bob's edit", 2)


def test_shot_update_with_unknown_mention_changes_nothing(scene, cast, alice):
    shot = shot_create(scene=scene, actor=alice, prompt="@mara")
    with pytest.raises(ValidationError):
        shot_update(shot=shot, actor=alice, prompt="@mara and @ghost")
    stored = Shot.objects.get(pk=shot.pk)
    assert (stored.prompt, stored.version) == ("@mara", 1)
    assert cast_handles(stored) == ["mara"]


def test_shot_update_with_bad_duration_changes_nothing(scene, alice):
    shot = shot_create(scene=scene, actor=alice, prompt="x")
    with pytest.raises(ValidationError):
        shot_update(shot=shot, actor=alice, duration_s=Decimal("100"))
    stored = Shot.objects.get(pk=shot.pk)
    assert (stored.duration_s, stored.version) == (Decimal("3"), 1)


def test_shot_update_refuses_fields_that_are_not_editable(scene, alice):
    shot = shot_create(scene=scene, actor=alice)
    with pytest.raises(ValidationError, match="cannot be changed"):
        shot_update(shot=shot, actor=alice, scene=scene, order=9)


def test_shots_reorder(scene, alice):
    a, b, c = (shot_create(scene=scene, actor=alice, prompt=p) for p in "abc")
    shots_reorder(scene=scene, actor=alice, shot_ids=[c.id, a.id, b.id])
    assert list(Shot.objects.filter(scene=scene).order_by("order").values_list("id", flat=True)) == [c.id, a.id, b.id]
    for wrong in ([a.id, b.id], [a.id, b.id, c.id, c.id], [a.id, b.id, c.id, 999999]):
        with pytest.raises(ValidationError):
            shots_reorder(scene=scene, actor=alice, shot_ids=wrong)
    assert list(Shot.objects.filter(scene=scene).order_by("order").values_list("id", flat=True)) == [c.id, a.id, b.id]


def test_shots_reorder_ignores_trashed_shots(scene, alice):
    a, b, c = (shot_create(scene=scene, actor=alice, prompt=p) for p in "abc")
    shot_trash(shot=b, actor=alice)
    shots_reorder(scene=scene, actor=alice, shot_ids=[c.id, a.id])
    assert list(Shot.objects.alive().filter(scene=scene).order_by("order").values_list("id", flat=True)) == [c.id, a.id]


def test_shot_duplicate(scene, cast, alice):
    original = shot_create(scene=scene, actor=alice, prompt="@mara at the @deck rail", shot_size="CU", camera_move="push_in",
                           lens_mm=85, duration_s=Decimal("4.5"), continue_from_previous=False)
    copy = shot_duplicate(shot=original, actor=alice)
    assert copy.pk != original.pk
    assert copy.code == "1B" and copy.order == 2
    assert (copy.prompt, copy.shot_size, copy.camera_move, copy.lens_mm, copy.duration_s) == (
        original.prompt, "CU", "push_in", 85, Decimal("4.5"))
    assert copy.seed == default_seed(scene, "1B")
    assert cast_handles(copy) == ["mara", "deck"]
    assert copy.approved_take is None and copy.version == 1


def test_shot_trash_sets_deleted_at_and_audits(scene, alice):
    shot = shot_create(scene=scene, actor=alice)
    shot_trash(shot=shot, actor=alice)
    stored = Shot.objects.get(pk=shot.pk)
    assert stored.deleted_at is not None and stored.is_trashed
    assert not Shot.objects.alive().filter(pk=shot.pk).exists()
    event = AuditEvent.objects.get(verb="trashed")
    assert (event.object_type, event.object_id, event.actor) == ("shot", str(shot.id), alice)


def test_scene_update_and_trash(project, scene, alice, users):
    scene_update(scene=scene, actor=alice, expected_version=1, synopsis="Mara takes the wheel.")
    stored = Scene.objects.get(pk=scene.pk)
    assert (stored.synopsis, stored.version) == ("Mara takes the wheel.", 2)
    with pytest.raises(StaleVersion):
        scene_update(scene=Scene.objects.get(pk=scene.pk), actor=users["bob"], expected_version=1, synopsis="x")
    scene_trash(scene=scene, actor=alice)
    assert Scene.objects.get(pk=scene.pk).is_trashed
    assert AuditEvent.objects.filter(verb="trashed", object_type="scene").count() == 1
