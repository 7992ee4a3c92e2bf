"""Work reaches the workers by task name (services never import studio/tasks.py); with
CELERY_TASK_ALWAYS_EAGER it runs in the requesting process instead, as it did before the move."""

from __future__ import annotations

import pytest

from studio.celery import app
from studio.models import Take, TakeStatus
from studio.services.projects import project_create
from studio.services.render_requests import take_request
from studio.services.shots import scene_create, shot_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def always_eager():
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_with_always_eager_a_requested_take_renders_right_after_commit(alice, always_eager, ffmpeg_available,
                                                                        django_capture_on_commit_callbacks):
    project = project_create(owner=alice, name="Eager", fps=12, width=160, height=90)
    scene = scene_create(project=project, actor=alice, heading="EXT. QUAY - DAY")
    shot = shot_create(scene=scene, actor=alice, prompt="a rope uncoils", duration_s=1)
    with django_capture_on_commit_callbacks(execute=True):
        take = take_request(shot=shot, actor=alice).take
    take = Take.objects.get(pk=take.pk)
    assert take.status == TakeStatus.SUCCEEDED, take.error
    assert take.frames == 12 and take.enqueued_at is not None and take.task_id
