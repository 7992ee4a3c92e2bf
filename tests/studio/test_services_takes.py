"""Takes: asking for a render (reuse by signature, numbering, enqueue after commit) and the worker's
side of the lifecycle (claim, progress, finish, cancel)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from generation.backends.animatic import REVISION as ANIMATIC_REVISION
from generation.backends.base import RenderRequest
from generation.signatures import file_sha256, render_signature
from studio.models import AuditEvent, Shot, Take, TakeStatus
from studio.services.cast import reference_image_add
from studio.services.reviews import review_decide
from studio.services.shots import scene_create, shot_create, shot_update
from studio.services.render_requests import take_request
from studio.services.renders import (take_claim, take_fail, take_record_phase, take_record_progress, take_requeue,
                                     take_succeed)
from studio.services.takes import take_cancel
from tests.conftest import png_bytes, require


@pytest.fixture
def enqueued(monkeypatch):
    """Take ids handed to Celery, in order; nothing reaches a broker."""
    ids: list[int] = []
    monkeypatch.setattr("studio.services.dispatch.enqueue_render", ids.append)
    return ids


@pytest.fixture
def sent(monkeypatch):
    """Events that would go to the channel layer: (project_id, type, payload)."""
    events: list[tuple] = []
    monkeypatch.setattr("studio.events.send_now", lambda project_id, kind, payload, **_: events.append((project_id, kind, payload)))
    return events


@pytest.fixture
def shot(scene, cast, alice):
    return shot_create(scene=scene, actor=alice, prompt="@mara crosses the @deck in the rain")


def finish(take: Take, *, name: str = "t", frames: int = 72) -> Take:
    """Run a take through the worker's side to SUCCEEDED, with a real last frame on disk."""
    claimed = take_claim(take_id=take.id, worker="test-worker", max_attempts=3)
    assert claimed is not None
    folder = Path(settings.MEDIA_ROOT) / "renders"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}-{take.id}-last.png").write_bytes(png_bytes(color=(take.id % 255, 90, 30)))
    assert take_succeed(take=claimed, video=f"renders/{name}-{take.id}.mp4", poster=f"renders/{name}-{take.id}.jpg",
                        last_frame=f"renders/{name}-{take.id}-last.png", frames=frames, duration_s=frames / 24,
                        compute_seconds=1.5, provenance={"model": "continuity-animatic"})
    return Take.objects.get(pk=take.id)


def test_first_request_queues_take_one_and_enqueues_after_commit(shot, alice, enqueued, sent,
                                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = take_request(shot=shot, actor=alice)
        assert enqueued == []  # not before the commit
    take = result.take
    assert result.dispatched is True
    assert enqueued == [take.id]
    assert (take.number, take.status, take.backend, take.requested_by) == (1, TakeStatus.QUEUED, "animatic", alice)
    request = RenderRequest.from_dict(take.request)
    assert request.prompt == shot.prompt
    assert [r.handle for r in request.references] == ["mara", "deck"]
    assert all(r.image_sha256s for r in request.references)
    assert take.signature == render_signature(backend="animatic", model="continuity-animatic", revision=ANIMATIC_REVISION, request=request)
    assert AuditEvent.objects.filter(verb="render requested", object_id=str(take.id)).exists()
    assert [kind for _, kind, _ in sent] == ["take.changed"]


def test_the_same_request_again_answers_with_the_same_take(shot, alice, enqueued, sent, django_capture_on_commit_callbacks):
    first = take_request(shot=shot, actor=alice).take
    with django_capture_on_commit_callbacks(execute=True):
        again = take_request(shot=shot, actor=alice)
    assert again.take.pk == first.pk and again.dispatched is False
    assert Take.objects.filter(shot=shot).count() == 1
    assert enqueued == []
    assert sent == []
    finish(first)
    after_success = take_request(shot=shot, actor=alice)
    assert after_success.take.pk == first.pk and after_success.dispatched is False


@pytest.mark.parametrize("final", ["failed", "cancelled"])
def test_a_failed_or_cancelled_take_is_not_reused(shot, alice, final):
    first = take_request(shot=shot, actor=alice).take
    if final == "failed":
        take_fail(take=first, error="boom")
    else:
        take_cancel(take=first, actor=alice)
    retry = take_request(shot=shot, actor=alice)
    assert retry.dispatched is True and retry.take.number == 2
    assert retry.take.signature == first.signature


def test_a_changed_prompt_makes_take_two(shot, alice):
    first = take_request(shot=shot, actor=alice).take
    shot_update(shot=shot, actor=alice, prompt="@mara stands on the @deck, dry")
    second = take_request(shot=shot, actor=alice)
    assert second.dispatched and second.take.number == 2
    assert second.take.signature != first.signature
    one_off = take_request(shot=shot, actor=alice, prompt="@mara alone")
    assert one_off.take.number == 3 and one_off.take.request["prompt"] == "@mara alone"
    assert Shot.objects.get(pk=shot.pk).prompt == "@mara stands on the @deck, dry"


def test_a_new_reference_image_changes_the_signature(shot, cast, alice):
    first = take_request(shot=shot, actor=alice).take
    reference_image_add(member=cast["mara"], actor=alice, data=png_bytes(size=(50, 50), color=(5, 200, 5)))
    second = take_request(shot=shot, actor=alice).take
    assert second.number == 2 and second.signature != first.signature


def test_force_makes_a_new_take_with_the_same_signature(shot, alice, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = take_request(shot=shot, actor=alice).take
        forced = take_request(shot=shot, actor=alice, force=True)
    assert forced.dispatched and forced.take.number == 2
    assert forced.take.signature == first.signature
    assert enqueued == [first.id, forced.take.id]


def test_a_finished_take_on_another_shot_is_reused_without_gpu_work(scene, shot, alice, enqueued, sent, monkeypatch,
                                                                      django_capture_on_commit_callbacks):
    scored: list[int] = []
    monkeypatch.setattr("studio.services.dispatch.enqueue_identity", scored.append)
    # Same code, scene, seed, prompt and cast: the render request is identical.
    twin = shot_create(scene=scene, actor=alice, prompt=shot.prompt, code=shot.code, seed=shot.seed)
    source = finish(take_request(shot=shot, actor=alice).take)
    with django_capture_on_commit_callbacks(execute=True):
        result = take_request(shot=twin, actor=alice)
    take = result.take
    assert result.dispatched is False
    assert enqueued == []
    assert take.shot_id == twin.id and take.number == 1
    assert (take.status, take.progress, take.reused_from_id) == (TakeStatus.SUCCEEDED, 1.0, source.id)
    assert take.signature == source.signature
    assert (take.video.name, take.last_frame.name, take.frames) == (source.video.name, source.last_frame.name, source.frames)
    assert take.finished_at is not None
    assert [payload["take"]["status"] for _, kind, payload in sent if kind == "take.changed"] == ["succeeded"]
    assert scored == [take.id]  # a reused take gets identity scores too (its own cast, on the identity queue)


def test_a_running_take_on_another_shot_is_not_reused(scene, shot, alice):
    twin = shot_create(scene=scene, actor=alice, prompt=shot.prompt, code=shot.code, seed=shot.seed)
    take_request(shot=shot, actor=alice)
    result = take_request(shot=twin, actor=alice)
    assert result.dispatched is True and result.take.status == TakeStatus.QUEUED and result.take.reused_from is None


def test_enqueue_does_not_happen_when_the_transaction_rolls_back(shot, alice, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                take_request(shot=shot, actor=alice)
                raise RuntimeError("the view failed after asking for the render")
    assert callbacks == []
    assert enqueued == []
    assert not Take.objects.exists()


def test_continue_from_previous_needs_an_approved_take_on_the_previous_shot(scene, shot, alice, users):
    follow = shot_create(scene=scene, actor=alice, prompt="@mara looks back", continue_from_previous=True)
    with pytest.raises(ValidationError, match="no approved take"):
        take_request(shot=follow, actor=alice)
    assert not Take.objects.filter(shot=follow).exists()

    done = finish(take_request(shot=shot, actor=alice).take, name="prev")
    with pytest.raises(ValidationError, match="no approved take"):
        take_request(shot=follow, actor=alice)  # finished is not approved
    review_decide(take=done, actor=users["carol"], decision="approved")
    take = take_request(shot=follow, actor=alice).take
    assert take.request["first_frame_path"] == done.last_frame.path
    assert file_sha256(done.last_frame.path)  # the signature reads the frame's bytes


def test_continuity_frame_content_is_part_of_the_signature(scene, shot, alice, users):
    follow = shot_create(scene=scene, actor=alice, prompt="@mara looks back", continue_from_previous=True)
    done = finish(take_request(shot=shot, actor=alice).take, name="prev")
    review_decide(take=done, actor=users["carol"], decision="approved")
    first = take_request(shot=follow, actor=alice).take
    Path(done.last_frame.path).write_bytes(png_bytes(color=(1, 1, 1)))
    second = take_request(shot=follow, actor=alice).take
    assert second.number == 2 and second.signature != first.signature


def test_the_first_shot_cannot_continue_from_a_previous_one(shot, alice):
    shot_update(shot=shot, actor=alice, continue_from_previous=True)
    with pytest.raises(ValidationError, match="first shot"):
        take_request(shot=shot, actor=alice)


def test_previous_shot_crosses_scene_boundaries(project, scene, shot, alice, users):
    later = scene_create(project=project, actor=alice, heading="EXT. PIER - DAWN")
    follow = shot_create(scene=later, actor=alice, prompt="@mara steps ashore", continue_from_previous=True)
    done = finish(take_request(shot=shot, actor=alice).take)
    review_decide(take=done, actor=users["carol"], decision="approved")
    assert take_request(shot=follow, actor=alice).take.request["first_frame_path"] == done.last_frame.path


def test_cancel_a_queued_take(shot, alice, sent):
    take = take_request(shot=shot, actor=alice).take
    cancelled = take_cancel(take=take, actor=alice)
    stored = Take.objects.get(pk=take.pk)
    assert cancelled.status == stored.status == TakeStatus.CANCELLED
    assert stored.finished_at is not None and stored.error
    assert AuditEvent.objects.filter(verb="render cancelled").count() == 1
    assert take_claim(take_id=take.id, worker="w", max_attempts=3) is None
    with pytest.raises(ValidationError, match="already cancelled"):
        take_cancel(take=stored, actor=alice)


def test_cancel_a_running_take_flags_it(shot, alice):
    take = take_request(shot=shot, actor=alice).take
    running = take_claim(take_id=take.id, worker="w", max_attempts=3)
    assert take_record_progress(take=running, step=1, total=4, publish=False) is True
    take_cancel(take=take, actor=alice)
    stored = Take.objects.get(pk=take.pk)
    assert (stored.status, stored.cancel_requested) == (TakeStatus.RUNNING, True)
    assert take_record_progress(take=running, step=2, total=4, publish=False) is False
    take_fail(take=running, error="Cancelled.", status=TakeStatus.CANCELLED)
    assert Take.objects.get(pk=take.pk).status == TakeStatus.CANCELLED


def test_a_progress_tick_of_a_wanted_take_is_one_write_and_a_stopped_one_says_stop(shot, alice, django_assert_num_queries):
    """The tick's write is conditional on the take being wanted, so the common tick reads nothing
    more; a cancelled or lost take is read once to say why it must stop."""
    take = take_request(shot=shot, actor=alice).take
    running = take_claim(take_id=take.id, worker="w", max_attempts=3)
    with django_assert_num_queries(1):
        assert take_record_progress(take=running, step=1, total=4, publish=False) is True
    take_cancel(take=take, actor=alice)
    with django_assert_num_queries(2):
        assert take_record_progress(take=running, step=2, total=4, publish=False) is False
    stored = Take.objects.get(pk=take.pk)
    assert (stored.step, stored.cancel_requested) == (1, True)  # a cancelled take's tick is not saved


def test_claim_is_conditional_and_counts_attempts(shot, alice, sent):
    take = take_request(shot=shot, actor=alice).take
    claimed = take_claim(take_id=take.id, worker="gpu-1:42", max_attempts=2)
    assert (claimed.status, claimed.attempts, claimed.worker) == (TakeStatus.RUNNING, 1, "gpu-1:42")
    assert claimed.started_at is not None
    assert take_claim(take_id=take.id, worker="gpu-2:7", max_attempts=2) is None  # duplicate delivery
    assert Take.objects.get(pk=take.pk).worker == "gpu-1:42"

    take_requeue(take=claimed, reason="worker lost")
    assert (claimed.status, claimed.error) == (TakeStatus.QUEUED, "worker lost")
    again = take_claim(take_id=take.id, worker="gpu-2:7", max_attempts=2)
    assert (again.attempts, again.worker) == (2, "gpu-2:7")
    take_requeue(take=again, reason="worker lost again")
    assert take_claim(take_id=take.id, worker="gpu-3:1", max_attempts=2) is None  # attempts used up
    assert Take.objects.get(pk=take.pk).status == TakeStatus.QUEUED


def test_claim_of_an_unknown_take_is_none(db):
    assert take_claim(take_id=987654, worker="w", max_attempts=3) is None


def test_progress_is_saved_only_while_running(shot, alice):
    take = take_request(shot=shot, actor=alice).take
    assert take_record_progress(take=take, step=1, total=4, publish=False) is True
    assert Take.objects.get(pk=take.pk).progress == 0.0  # not running yet
    running = take_claim(take_id=take.id, worker="w", max_attempts=3)
    take_record_progress(take=running, step=3, total=4, publish=True)
    stored = Take.objects.get(pk=take.pk)
    assert (stored.step, stored.total_steps, stored.progress) == (3, 4, 0.75)


def test_a_phase_tick_carries_its_phase_and_the_next_step_tick_clears_it(shot, alice, sent, settings,
                                                                        django_capture_on_commit_callbacks):
    """Before its first step a worker says what it is doing ("loading model… 40%"): the tick that
    carries it must hold it, or every page blanks the phase it should show."""
    settings.CONTINUITY_PROGRESS_COALESCE_S = 0  # every tick sent as it comes
    take = take_request(shot=shot, actor=alice).take
    running = take_claim(take_id=take.id, worker="w", max_attempts=3)
    with django_capture_on_commit_callbacks(execute=True):
        assert take_record_phase(take=running, phase="loading model… 40%") is True
        take_record_progress(take=running, step=1, total=4, publish=True)
    ticks = [payload["take"] for _project, kind, payload in sent if kind == "take.changed"]
    assert ticks[-2]["phase"] == "loading model… 40%"
    assert "phase" not in ticks[-1] and ticks[-1]["step"] == 1


def test_succeed_once(shot, alice, sent, django_capture_on_commit_callbacks):
    take = take_request(shot=shot, actor=alice).take
    running = take_claim(take_id=take.id, worker="w", max_attempts=3)
    take_record_progress(take=running, step=2, total=5, publish=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert take_succeed(take=running, video="v.mp4", poster="p.jpg", last_frame="l.png", frames=48, duration_s=2.0,
                            compute_seconds=3.25, provenance={"model": "m"}) is True
    stored = Take.objects.get(pk=take.pk)
    assert (stored.status, stored.progress, stored.step, stored.frames, stored.video.name) == (TakeStatus.SUCCEEDED, 1.0, 5, 48, "v.mp4")
    assert stored.finished_at is not None and stored.provenance == {"model": "m"} and stored.compute_seconds == 3.25
    assert take_succeed(take=running, video="other.mp4", poster="", last_frame="", frames=1, duration_s=0.1,
                        compute_seconds=0, provenance={}) is False
    assert Take.objects.get(pk=take.pk).video.name == "v.mp4"  # a finished take is never overwritten
    assert sent[-1][2]["take"]["status"] == "succeeded"


def test_succeed_after_cancel_is_refused(shot, alice):
    take = take_request(shot=shot, actor=alice).take
    take_cancel(take=take, actor=alice)
    assert take_succeed(take=take, video="v.mp4", poster="", last_frame="", frames=1, duration_s=0.1,
                        compute_seconds=0, provenance={}) is False
    stored = Take.objects.get(pk=take.pk)
    assert stored.status == TakeStatus.CANCELLED and not stored.video


def test_fail_records_the_error_and_leaves_final_takes_alone(shot, alice):
    take = take_request(shot=shot, actor=alice).take
    running = take_claim(take_id=take.id, worker="w", max_attempts=3)
    take_fail(take=running, error="x" * 5000, compute_seconds=2.0)
    stored = Take.objects.get(pk=take.pk)
    assert (stored.status, len(stored.error), stored.compute_seconds) == (TakeStatus.FAILED, 2000, 2.0)
    assert stored.finished_at is not None
    take_fail(take=stored, error="again", status=TakeStatus.CANCELLED)
    assert Take.objects.get(pk=take.pk).status == TakeStatus.FAILED


@pytest.mark.django_db(transaction=True)
def test_concurrent_forced_requests_number_takes_without_gaps_or_duplicates(monkeypatch, sent):
    require(connection.vendor == "postgresql", "PostgreSQL")
    from django.contrib.auth import get_user_model

    from studio.services.projects import project_create
    from studio.services.shots import scene_create

    monkeypatch.setattr("studio.services.dispatch.enqueue_render", lambda take_id: None)
    owner = get_user_model().objects.create_user("racer", "racer@example.com", "pw")
    project = project_create(owner=owner, name="Race")
    scene = scene_create(project=project, actor=owner, heading="INT. ROOM - DAY")
    target = shot_create(scene=scene, actor=owner, prompt="a door opens")
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def request_one():
        try:
            start.wait(timeout=30)
            take_request(shot=target, actor=owner, force=True)
        except BaseException as exc:  # collected and reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert sorted(Take.objects.filter(shot=target).values_list("number", flat=True)) == list(range(1, 9))


def _waiting_on_a_lock(backend_pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [backend_pid])
        row = cursor.fetchone()
    return bool(row) and row[0] == "Lock"


@pytest.mark.django_db(transaction=True)
def test_a_render_request_never_deadlocks_with_a_worker_holding_the_project_row(monkeypatch, sent):
    """What CI met (tests/e2e/test_priority.py): a worker's transaction referenced the project (a
    row pointing at it: a key-share lock on the project's row), then the shot; a render request
    locked the shot and then, through its join, the project. Each waited for the other and
    PostgreSQL killed one. The request now locks the shot's row alone."""
    require(connection.vendor == "postgresql", "PostgreSQL")
    from django.contrib.auth import get_user_model

    from studio.services.projects import project_create
    from studio.services.shots import scene_create

    monkeypatch.setattr("studio.services.dispatch.enqueue_render", lambda take_id: None)
    owner = get_user_model().objects.create_user("locker", "locker@example.com", "pw")
    project = project_create(owner=owner, name="Locks")
    target = shot_create(scene=scene_create(project=project, actor=owner, heading="INT. ROOM - DAY"), actor=owner,
                         prompt="a door opens")
    worker_holds_project, request_started = threading.Event(), threading.Event()
    request_pid: list[int] = []
    errors: list[BaseException] = []

    def worker():  # as a worker's transaction inserting rows that point at the project, then at the shot
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT id FROM studio_project WHERE id = %s FOR KEY SHARE", [project.pk])
                worker_holds_project.set()
                request_started.wait(timeout=30)
                deadline = time.monotonic() + 30  # until the request has finished or waits on a lock
                while request_thread.is_alive() and not _waiting_on_a_lock(request_pid[0]) and time.monotonic() < deadline:
                    time.sleep(0.02)
                cursor.execute("SELECT id FROM studio_shot WHERE id = %s FOR KEY SHARE", [target.pk])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    def request():
        try:
            worker_holds_project.wait(timeout=30)
            connection.ensure_connection()
            request_pid.append(connection.connection.info.backend_pid)
            request_started.set()
            take_request(shot=target, actor=owner, force=True)
        except BaseException as exc:
            errors.append(exc)
        finally:
            request_started.set()
            connection.close()

    request_thread = threading.Thread(target=request)
    worker_thread = threading.Thread(target=worker)
    request_thread.start()
    worker_thread.start()
    for thread in (request_thread, worker_thread):
        thread.join(timeout=60)
    assert not request_thread.is_alive() and not worker_thread.is_alive()
    assert errors == []  # before: psycopg.errors.DeadlockDetected in one of the two
    assert Take.objects.filter(shot=target).count() == 1


def test_a_broker_that_refuses_the_identity_message_costs_the_score_not_the_request(
        scene, shot, alice, enqueued, monkeypatch, django_capture_on_commit_callbacks):
    def broker_down(take_id):
        raise ConnectionError("the broker is away")

    monkeypatch.setattr("studio.services.dispatch.enqueue_identity", broker_down)
    twin = shot_create(scene=scene, actor=alice, prompt=shot.prompt, code=shot.code, seed=shot.seed)
    source = finish(take_request(shot=shot, actor=alice).take)
    with django_capture_on_commit_callbacks(execute=True):
        result = take_request(shot=twin, actor=alice)  # reuses source: scoring is asked for after commit
    assert result.take.reused_from_id == source.id
    assert Take.objects.get(pk=result.take.pk).status == TakeStatus.SUCCEEDED
