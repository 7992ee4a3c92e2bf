"""Single-row rules on the models: allowed status transitions, the trash, string forms."""

from __future__ import annotations

import itertools

import pytest

from studio.models import Export, ExportStatus, InvalidTransition, Take, TakeStatus

TAKE_ALLOWED = {
    (TakeStatus.QUEUED, TakeStatus.RUNNING),
    (TakeStatus.QUEUED, TakeStatus.CANCELLED),
    (TakeStatus.QUEUED, TakeStatus.FAILED),
    (TakeStatus.RUNNING, TakeStatus.SUCCEEDED),
    (TakeStatus.RUNNING, TakeStatus.FAILED),
    (TakeStatus.RUNNING, TakeStatus.CANCELLED),
    (TakeStatus.RUNNING, TakeStatus.QUEUED),  # a worker died: the render is retried
}

EXPORT_ALLOWED = {
    (ExportStatus.QUEUED, ExportStatus.RUNNING),
    (ExportStatus.QUEUED, ExportStatus.FAILED),
    (ExportStatus.RUNNING, ExportStatus.SUCCEEDED),
    (ExportStatus.RUNNING, ExportStatus.FAILED),
    (ExportStatus.RUNNING, ExportStatus.QUEUED),
}


@pytest.mark.parametrize("old,new", list(itertools.product(TakeStatus.values, repeat=2)))
def test_take_transition_matrix(old, new):
    take = Take(status=old)
    expected = (old, new) in TAKE_ALLOWED
    assert take.can_transition(new) is expected
    if expected:
        take.check_transition(new)  # does not raise
    else:
        with pytest.raises(InvalidTransition, match=f"{old} take cannot become {new}"):
            take.check_transition(new)


@pytest.mark.parametrize("final", [TakeStatus.SUCCEEDED, TakeStatus.FAILED, TakeStatus.CANCELLED])
def test_finished_takes_are_final_and_frozen(final):
    take = Take(status=final)
    assert take.is_final
    assert not any(take.can_transition(s) for s in TakeStatus.values)


@pytest.mark.parametrize("status", [TakeStatus.QUEUED, TakeStatus.RUNNING])
def test_unfinished_takes_are_not_final(status):
    assert not Take(status=status).is_final


@pytest.mark.parametrize("old,new", list(itertools.product(ExportStatus.values, repeat=2)))
def test_export_transition_matrix(old, new):
    assert Export(status=old).can_transition(new) is ((old, new) in EXPORT_ALLOWED)


def test_trash_queryset_and_str_forms(project, scene, alice):
    from studio.models import Scene
    from studio.services.shots import scene_trash, shot_create

    shot = shot_create(scene=scene, actor=alice, prompt="A gull lands on the rail.")
    assert str(shot) == f"Shot {shot.code}"
    assert shot.project_id == project.id
    assert str(project) == "Night Ferry"
    assert project.resolution == "1280×720"
    other = Scene.objects.create(project=project, order=2, heading="EXT. PIER - DAWN")
    scene_trash(scene=other, actor=alice)
    other.refresh_from_db()
    assert other.is_trashed and not scene.is_trashed
    assert list(Scene.objects.filter(project=project).alive()) == [scene]
    assert list(Scene.objects.filter(project=project).trashed()) == [other]
