"""Review (comments, decisions) and cuts (assembly from the board, trims, order, export requests)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from studio import selectors
from studio.models import AuditEvent, Comment, Cut, CutEntry, Export, ExportStatus, ReviewDecision, Scene, Shot, Take, TakeStatus
from studio.services.common import StaleVersion
from studio.services.cuts import (
    cut_create, cut_entry_add, cut_entry_remove, cut_entry_update, cut_reorder, cut_trash, export_request,
)
from studio.services.reviews import comment_create, comment_set_resolved, review_decide
from studio.services.shots import scene_create, shot_create, shot_trash


def make_take(shot: Shot, number: int = 1, *, status: str = TakeStatus.SUCCEEDED, frames: int = 48) -> Take:
    finished = status == TakeStatus.SUCCEEDED
    return Take.objects.create(
        shot=shot, number=number, backend="animatic", request={"prompt": shot.prompt}, signature=f"sig-{shot.id}-{number}",
        status=status, frames=frames if finished else 0, progress=1.0 if finished else 0.0,
        video=f"renders/{shot.id}-{number}.mp4" if finished else "", finished_at=timezone.now() if finished else None,
    )


@pytest.fixture
def shot(scene, alice):
    return shot_create(scene=scene, actor=alice, prompt="The ferry horn sounds.")


@pytest.fixture
def take(shot):
    return make_take(shot, 1, frames=72)


@pytest.fixture
def enqueued_exports(monkeypatch):
    ids: list[int] = []
    monkeypatch.setattr("studio.services.dispatch.enqueue_export", ids.append)
    return ids


# --- Comments ------------------------------------------------------------------------------------

def test_comment_create(take, users):
    carol = users["carol"]
    comment = comment_create(take=take, author=carol, body="  Hold the horn longer.  ", frame=12)
    assert (comment.body, comment.frame, comment.author, comment.parent) == ("Hold the horn longer.", 12, carol, None)
    assert comment.author_name == "carol"
    assert AuditEvent.objects.filter(verb="commented", actor=carol, object_id=str(comment.id)).exists()


def test_guest_comment(take):
    comment = comment_create(take=take, guest_name=" Director Friend ", body="Lovely")
    assert comment.author is None and comment.author_name == "Director Friend (guest)"


@pytest.mark.parametrize("body", ["", "   \n\t "])
def test_empty_comment_is_refused(take, users, body):
    with pytest.raises(ValidationError, match="needs some text"):
        comment_create(take=take, author=users["carol"], body=body)
    assert not Comment.objects.exists()


def test_too_long_comment_is_refused(take, users):
    comment_create(take=take, author=users["carol"], body="x" * 5000)
    with pytest.raises(ValidationError, match="at most 5000"):
        comment_create(take=take, author=users["carol"], body="x" * 5001)
    assert Comment.objects.count() == 1


@pytest.mark.parametrize("frame,ok", [(0, True), (71, True), (72, False), (1000, False), (-1, False)])
def test_comment_frame_must_be_inside_the_take(take, users, frame, ok):
    if ok:
        assert comment_create(take=take, author=users["carol"], body="here", frame=frame).frame == frame
    else:
        with pytest.raises(ValidationError):
            comment_create(take=take, author=users["carol"], body="here", frame=frame)
        assert not Comment.objects.exists()


def test_negative_frame_is_refused_on_an_unfinished_take(shot, users):
    queued = make_take(shot, 2, status=TakeStatus.QUEUED)
    with pytest.raises(ValidationError):
        comment_create(take=queued, author=users["carol"], body="early note", frame=-5)
    assert comment_create(take=queued, author=users["carol"], body="early note").frame is None


def test_replies_stay_on_their_take_and_thread_under_the_root(shot, take, users):
    root = comment_create(take=take, author=users["carol"], body="Too dark")
    reply = comment_create(take=take, author=users["bob"], body="Brightened in take 2", parent=root)
    reply_to_reply = comment_create(take=take, author=users["carol"], body="Thanks", parent=reply)
    assert reply.parent == root and reply_to_reply.parent == root
    other = make_take(shot, 2)
    with pytest.raises(ValidationError, match="same take"):
        comment_create(take=other, author=users["bob"], body="misplaced", parent=root)
    assert Comment.objects.filter(take=other).count() == 0


def test_resolve_and_reopen(take, users):
    comment = comment_create(take=take, author=users["carol"], body="Fix the sky")
    comment_set_resolved(comment=comment, actor=users["bob"], resolved=True)
    stored = Comment.objects.get(pk=comment.pk)
    assert (stored.resolved, stored.resolved_by, stored.edited_at is not None) == (True, users["bob"], True)
    comment_set_resolved(comment=stored, actor=users["carol"], resolved=False)
    stored = Comment.objects.get(pk=comment.pk)
    assert (stored.resolved, stored.resolved_by) == (False, None)
    assert list(AuditEvent.objects.filter(object_type="comment").order_by("id").values_list("verb", flat=True)) == [
        "commented", "resolved", "reopened"]


# --- Decisions -----------------------------------------------------------------------------------

def test_approve_sets_the_shots_approved_take(shot, take, users):
    record = review_decide(take=take, actor=users["carol"], decision="approved", note="Print it")
    assert (record.decision, record.note, record.decided_by) == ("approved", "Print it", users["carol"])
    assert Shot.objects.get(pk=shot.pk).approved_take == take
    second = make_take(shot, 2)
    review_decide(take=second, actor=users["carol"], decision="approved")
    assert Shot.objects.get(pk=shot.pk).approved_take == second


def test_changes_requested_on_the_approved_take_clears_it(shot, take, users):
    review_decide(take=take, actor=users["carol"], decision="approved")
    other = make_take(shot, 2)
    review_decide(take=other, actor=users["carol"], decision="changes_requested")
    assert Shot.objects.get(pk=shot.pk).approved_take == take  # another take's notes change nothing
    review_decide(take=take, actor=users["carol"], decision="changes_requested", note="The horn is early")
    assert Shot.objects.get(pk=shot.pk).approved_take is None
    assert ReviewDecision.objects.filter(take=take).count() == 2  # the history is kept


@pytest.mark.parametrize("status", [TakeStatus.QUEUED, TakeStatus.RUNNING, TakeStatus.FAILED, TakeStatus.CANCELLED])
def test_unfinished_takes_cannot_be_reviewed(shot, users, status):
    unfinished = make_take(shot, 1, status=status)
    with pytest.raises(ValidationError, match="Only a finished take"):
        review_decide(take=unfinished, actor=users["carol"], decision="approved")
    assert not ReviewDecision.objects.exists()
    assert Shot.objects.get(pk=shot.pk).approved_take is None


def test_unknown_decision_is_refused(take, users):
    with pytest.raises(ValueError):
        review_decide(take=take, actor=users["carol"], decision="love_it")
    assert not ReviewDecision.objects.exists()


# --- Cuts ----------------------------------------------------------------------------------------

@pytest.fixture
def board(project, scene, alice):
    """Scene 1: 1A, 1B; scene 2: 2A; an omitted scene 3 with 3A; scene 2 comes before it."""
    a = shot_create(scene=scene, actor=alice, prompt="a")
    b = shot_create(scene=scene, actor=alice, prompt="b")
    second = scene_create(project=project, actor=alice, heading="EXT. PIER - DAWN")
    c = shot_create(scene=second, actor=alice, prompt="c")
    dropped = scene_create(project=project, actor=alice, heading="INT. CABIN - NIGHT")
    d = shot_create(scene=dropped, actor=alice, prompt="d")
    Scene.objects.filter(pk=dropped.pk).update(omitted=True)
    return {"1A": a, "1B": b, "2A": c, "3A": d}


def entry_codes(cut: Cut) -> list[str]:
    return list(CutEntry.objects.filter(cut=cut, deleted_at__isnull=True).order_by("order").values_list("shot__code", flat=True))


def test_cut_create_from_the_board_in_order_without_omitted_scenes(project, board, alice):
    shots_reorder_scene1 = [board["1B"].id, board["1A"].id]
    from studio.services.shots import shots_reorder

    shots_reorder(scene=board["1A"].scene, actor=alice, shot_ids=shots_reorder_scene1)
    cut = cut_create(project=project, actor=alice, name="Assembly")
    assert entry_codes(cut) == ["1B", "1A", "2A"]
    assert list(cut.entries.order_by("order").values_list("order", flat=True)) == [1, 2, 3]
    assert all(e.take is None for e in cut.entries.all())
    assert (cut.created_by, cut.version) == (alice, 1)
    assert AuditEvent.objects.filter(verb="created", object_type="cut").count() == 1


def test_cut_create_skips_trashed_shots_and_can_start_empty(project, board, alice):
    shot_trash(shot=board["1B"], actor=alice)
    assert entry_codes(cut_create(project=project, actor=alice, name="Assembly")) == ["1A", "2A"]
    assert entry_codes(cut_create(project=project, actor=alice, name="Blank", from_board=False)) == []


def test_cut_names_are_unique_among_live_cuts(project, board, alice):
    first = cut_create(project=project, actor=alice, name="Assembly")
    with pytest.raises(ValidationError, match="already a cut"):
        cut_create(project=project, actor=alice, name="Assembly")
    with pytest.raises(ValidationError, match="already a cut"):
        cut_create(project=project, actor=alice, name="  Assembly ")
    assert Cut.objects.count() == 1
    cut_trash(cut=first, actor=alice)
    assert cut_create(project=project, actor=alice, name="Assembly").pk != first.pk


def test_cut_entry_add_and_remove(project, board, alice, users):
    cut = cut_create(project=project, actor=alice, name="Selects", from_board=False)
    entry = cut_entry_add(cut=cut, actor=alice, shot=board["2A"])
    cut_entry_add(cut=cut, actor=alice, shot=board["1A"], expected_version=2)
    assert entry_codes(cut) == ["2A", "1A"]
    assert Cut.objects.get(pk=cut.pk).version == 3
    with pytest.raises(StaleVersion):
        cut_entry_add(cut=cut, actor=alice, shot=board["1B"], expected_version=2)
    with pytest.raises(ValidationError):
        cut_entry_add(cut=cut, actor=alice, shot=board["1A"], take=make_take(board["1B"], 1))
    from studio.services.projects import project_create

    foreign_scene = scene_create(project=project_create(owner=users["eve"], name="Other"), actor=users["eve"], heading="X")
    foreign = shot_create(scene=foreign_scene, actor=users["eve"])
    with pytest.raises(ValidationError):
        cut_entry_add(cut=cut, actor=alice, shot=foreign)
    assert entry_codes(cut) == ["2A", "1A"]
    cut_entry_remove(entry=entry, actor=alice)
    assert entry_codes(cut) == ["1A"]


def test_cut_entry_update_trims_within_the_take(project, board, alice):
    cut = cut_create(project=project, actor=alice, name="Assembly")
    entry = cut.entries.get(shot=board["1A"])
    take = make_take(board["1A"], 1, frames=48)
    cut_entry_update(entry=entry, actor=alice, take=take, in_frame=6, out_frame=40, expected_version=1)
    stored = CutEntry.objects.get(pk=entry.pk)
    assert (stored.take, stored.in_frame, stored.out_frame) == (take, 6, 40)
    assert Cut.objects.get(pk=cut.pk).version == 2
    for in_frame, out_frame in ((10, 10), (10, 5), (-1, 10), (48, None), (0, 49)):
        with pytest.raises(ValidationError):
            cut_entry_update(entry=entry, actor=alice, take=take, in_frame=in_frame, out_frame=out_frame)
    cut_entry_update(entry=entry, actor=alice, take=take, in_frame=0, out_frame=48)
    with pytest.raises(ValidationError, match="another shot"):
        cut_entry_update(entry=entry, actor=alice, take=make_take(board["1B"], 1), in_frame=0)
    with pytest.raises(StaleVersion):
        cut_entry_update(entry=entry, actor=alice, take=take, in_frame=1, expected_version=1)
    stored = CutEntry.objects.get(pk=entry.pk)
    assert (stored.in_frame, stored.out_frame) == (0, 48)


def test_trim_is_checked_against_the_approved_take_when_none_is_chosen(project, board, alice, users):
    take = make_take(board["1A"], 1, frames=24)
    review_decide(take=take, actor=users["carol"], decision="approved")
    cut = cut_create(project=project, actor=alice, name="Assembly")
    entry = cut.entries.get(shot=board["1A"])
    with pytest.raises(ValidationError, match="24 frames"):
        cut_entry_update(entry=CutEntry.objects.get(pk=entry.pk), actor=alice, in_frame=0, out_frame=30)
    cut_entry_update(entry=CutEntry.objects.get(pk=entry.pk), actor=alice, in_frame=2, out_frame=20)
    assert CutEntry.objects.get(pk=entry.pk).take is None


def test_cut_reorder(project, board, alice):
    cut = cut_create(project=project, actor=alice, name="Assembly")
    ids = list(cut.entries.order_by("order").values_list("id", flat=True))
    cut_reorder(cut=cut, actor=alice, entry_ids=[ids[2], ids[0], ids[1]], expected_version=1)
    assert entry_codes(cut) == ["2A", "1A", "1B"]
    for wrong in (ids[:2], [*ids, ids[0]], [*ids[:2], 999999]):
        with pytest.raises(ValidationError):
            cut_reorder(cut=cut, actor=alice, entry_ids=wrong)
    with pytest.raises(StaleVersion):
        cut_reorder(cut=cut, actor=alice, entry_ids=ids, expected_version=1)
    assert entry_codes(cut) == ["2A", "1A", "1B"]


def plays(entry: CutEntry) -> Take | None:
    """The take the cut's timeline (the one answer to "which take does this entry play?") gives the entry."""
    return next(row.take for row in selectors.cut_timeline(entry.cut) if row.entry.id == entry.pk)


def test_the_cut_plays_the_chosen_take_then_approved_then_newest_finished_chosen_then_approved_then_newest_finished(project, board, alice, users):
    cut = cut_create(project=project, actor=alice, name="Assembly")
    entry = cut.entries.get(shot=board["1A"])
    assert plays(entry) is None
    t1, t2 = make_take(board["1A"], 1), make_take(board["1A"], 2)
    make_take(board["1A"], 3, status=TakeStatus.FAILED)
    assert plays(entry) == t2
    review_decide(take=t1, actor=users["carol"], decision="approved")
    assert plays(entry) == t1
    cut_entry_update(entry=entry, actor=alice, take=t2)
    assert plays(entry) == t2


def test_export_request_asks_before_exporting_shots_without_a_finished_take(project, board, alice, enqueued_exports):
    """They export as slates (tests/studio/test_cut_warnings.py), so the export is a draft: asked first."""
    from studio.services.cuts import DraftNotConfirmed

    cut = cut_create(project=project, actor=alice, name="Assembly")
    make_take(board["1A"], 1)
    make_take(board["2A"], 1, status=TakeStatus.RUNNING)
    with pytest.raises(DraftNotConfirmed) as asked:
        export_request(cut=cut, actor=alice, fmt="mp4", require_draft_confirmation=True)
    assert asked.value.report.missing == ["1B", "2A"]
    assert not Export.objects.exists()


def test_export_request_queues_and_enqueues_after_commit(project, board, alice, users, enqueued_exports,
                                                        django_capture_on_commit_callbacks):
    cut = cut_create(project=project, actor=alice, name="Assembly")
    for code in ("1A", "1B", "2A"):
        make_take(board[code], 1)
    with django_capture_on_commit_callbacks(execute=True):
        export = export_request(cut=cut, actor=users["bob"], fmt="edl")
        assert enqueued_exports == []
    assert enqueued_exports == [export.id]
    assert (export.status, export.format, export.requested_by, export.rights_override) == (ExportStatus.QUEUED, "edl", users["bob"], False)
    with pytest.raises(PermissionDenied):
        export_request(cut=cut, actor=users["bob"], fmt="mp4", rights_override=True)
    assert export_request(cut=cut, actor=alice, fmt="mp4", rights_override=True).rights_override is True
    with pytest.raises(ValueError):
        export_request(cut=cut, actor=alice, fmt="avi")


def test_renaming_a_cut_onto_another_live_cut_is_a_validation_error(project, board, alice):
    from studio.services.cuts import cut_update

    cut_create(project=project, actor=alice, name="Assembly")
    second = cut_create(project=project, actor=alice, name="Director's cut", from_board=False)
    with pytest.raises(ValidationError):
        cut_update(cut=second, actor=alice, name="Assembly")
    assert Cut.objects.get(pk=second.pk).name == "Director's cut"
    cut_update(cut=second, actor=alice, expected_version=1, name="Fine cut")
    assert (Cut.objects.get(pk=second.pk).name, Cut.objects.get(pk=second.pk).version) == ("Fine cut", 2)
