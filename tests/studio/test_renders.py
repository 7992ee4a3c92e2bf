"""The take lifecycle in-process (studio/services/renders.py): claim, render through the engine,
encode, record; and how each failure ends a take."""

from __future__ import annotations

import pytest

from generation import render
from generation.backends.base import RenderError
from studio.models import Take, TakeStatus
from studio.services.projects import project_create
from studio.services.shots import scene_create, shot_create
from studio.services import progress, renders
from studio.services.render_requests import take_request
from studio.services.takes import take_cancel

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_shot(alice, ffmpeg_available):
    project = project_create(owner=alice, name="Tiny frames", fps=12, width=160, height=90)
    scene = scene_create(project=project, actor=alice, heading="EXT. PIER - DAY")
    return shot_create(scene=scene, actor=alice, prompt="waves against the pier", duration_s=1)


def _queued_take(shot, alice, **shot_changes) -> Take:
    for name, value in shot_changes.items():
        setattr(shot, name, value)
    shot.save()
    return take_request(shot=shot, actor=alice).take


class TestProgressThrottle:
    def test_first_last_and_one_per_interval(self):
        now = [0.0]
        throttle = renders.ProgressThrottle(interval_s=0.25, clock=lambda: now[0])
        sent = []
        for step in range(1, 21):
            now[0] = step * 0.05
            if throttle.should_send(step, 20):
                sent.append(step)
        assert sent[0] == 1 and sent[-1] == 20
        assert sent == [1, 6, 11, 16, 20]


def test_animatic_take_succeeds_with_files_and_provenance(small_shot, alice, settings):
    take = _queued_take(small_shot, alice)
    renders.run_take(take.id)
    take.refresh_from_db()
    assert take.status == TakeStatus.SUCCEEDED, take.error
    assert take.frames == 12 and take.attempts == 1 and take.progress == 1.0
    assert take.provenance["backend"] == "animatic" and take.provenance["seed"] == small_shot.seed
    for field in (take.video, take.poster, take.last_frame):
        assert (settings.MEDIA_ROOT / field.name).is_file()
    assert take.compute_seconds > 0


def test_duplicate_delivery_renders_once(small_shot, alice):
    take = _queued_take(small_shot, alice)
    renders.run_take(take.id)
    first = Take.objects.get(pk=take.id)
    renders.run_take(take.id)  # the same message again
    again = Take.objects.get(pk=take.id)
    assert again.attempts == 1 and again.finished_at == first.finished_at and again.video == first.video


def test_missing_weights_fail_the_take_naming_the_setting(small_shot, alice):
    take = _queued_take(small_shot, alice, backend="wan")
    renders.run_take(take.id)
    take.refresh_from_db()
    assert take.status == TakeStatus.FAILED
    assert "CONTINUITY_MODELS_DIR" in take.error


def test_backend_error_fails_the_take_with_its_message(small_shot, alice, monkeypatch):
    class Broken:
        name = "animatic"

        def render(self, request, on_progress):
            raise RenderError("the reference image of @mara is unreadable")

    monkeypatch.setattr(render, "build_backend", lambda name, **options: Broken())
    take = _queued_take(small_shot, alice)
    renders.run_take(take.id)
    take.refresh_from_db()
    assert take.status == TakeStatus.FAILED and "unreadable" in take.error and not take.video


def test_unexpected_exception_fails_the_take_and_keeps_the_worker(small_shot, alice, monkeypatch):
    monkeypatch.setattr(render, "build_backend", lambda name, **options: (_ for _ in ()).throw(ZeroDivisionError("boom")))
    take = _queued_take(small_shot, alice)
    renders.run_take(take.id)
    take.refresh_from_db()
    assert take.status == TakeStatus.FAILED and "ZeroDivisionError" in take.error


def test_failing_ffmpeg_fails_the_take_and_leaves_no_file(small_shot, alice, monkeypatch, tmp_path, settings):
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'simulated encoder crash' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CONTINUITY_FFMPEG", str(fake))  # the engine's binary setting (generation/ffmpeg.py)
    take = _queued_take(small_shot, alice)
    renders.run_take(take.id)
    take.refresh_from_db()
    assert take.status == TakeStatus.FAILED and "ffmpeg" in take.error
    assert not list(settings.MEDIA_ROOT.glob("projects/*/takes/**/*.mp4"))


def test_cancel_mid_render_stops_at_the_next_progress_report(small_shot, alice, monkeypatch):
    real_build = render.build_backend

    class CancelsHalfway:
        name = "animatic"

        def __init__(self):
            self.inner = real_build("animatic")

        def render(self, request, on_progress):
            def progress(step, total):
                if step == total // 2:
                    take_cancel(take=Take.objects.get(pk=take.id), actor=alice)
                on_progress(step, total)

            return self.inner.render(request, progress)

    monkeypatch.setattr(render, "build_backend", lambda name, **options: CancelsHalfway())
    monkeypatch.setattr(progress, "PUBLISH_INTERVAL_S", 0.0)
    take = _queued_take(small_shot, alice)
    renders.run_take(take.id)
    take.refresh_from_db()
    assert take.status == TakeStatus.CANCELLED and not take.video
    assert 0 < take.step < take.total_steps


def test_cancelled_queued_take_is_never_claimed(small_shot, alice):
    take = _queued_take(small_shot, alice)
    take_cancel(take=take, actor=alice)
    renders.run_take(take.id)
    take.refresh_from_db()
    assert take.status == TakeStatus.CANCELLED and take.attempts == 0


def test_redelivery_after_a_dead_worker_renders_again_within_the_cap(small_shot, alice, settings):
    take = _queued_take(small_shot, alice)
    Take.objects.filter(pk=take.id).update(status=TakeStatus.RUNNING, attempts=1)  # a worker died mid-render
    renders.run_take(take.id, redelivered=True)
    take.refresh_from_db()
    assert take.status == TakeStatus.SUCCEEDED and take.attempts == 2


def test_exhausted_attempts_fail_the_take(small_shot, alice, settings):
    take = _queued_take(small_shot, alice)
    Take.objects.filter(pk=take.id).update(status=TakeStatus.RUNNING, attempts=settings.CONTINUITY_MAX_RENDER_ATTEMPTS)
    renders.run_take(take.id, redelivered=True)
    take.refresh_from_db()
    assert take.status == TakeStatus.FAILED and "attempts" in take.error
