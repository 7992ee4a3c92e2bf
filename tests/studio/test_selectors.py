"""Reads: the board in a fixed number of queries, progress numbers, the cast library, who sees
which project, and the snapshot a browser gets on (re)connect."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from studio import selectors
from studio.models import (CastKind, CastMember, Cut, CutEntry, Export, Project, ReferenceImage, Scene, Shot, ShotCast, Take,
                           TakeStatus)
from studio.services.projects import project_create
from studio.services.render_requests import render_request_for
from studio.services.reviews import comment_create
from studio.services.shots import scene_create, shot_create, shot_trash

BOARD_QUERY_LIMIT = 8


def build_board(project, shots: int, scenes: int = 5) -> None:
    """Scenes with `shots` shots in all, each with two cast links and two takes (bulk, so 500 is quick)."""
    cast = CastMember.objects.bulk_create([
        CastMember(project=project, name=f"Member {i}", handle=f"member_{i}") for i in range(3)
    ])
    made = Scene.objects.bulk_create([Scene(project=project, order=i + 1, heading=f"INT. ROOM {i} - DAY", location_cast=cast[2])
                                      for i in range(scenes)])
    shot_rows = Shot.objects.bulk_create([
        Shot(scene=made[i % scenes], order=i, code=f"{i % scenes + 1}{i}", prompt=f"beat {i}") for i in range(shots)
    ])
    ShotCast.objects.bulk_create([ShotCast(shot=s, cast_member=cast[k], order=k) for s in shot_rows for k in (0, 1)])
    takes = Take.objects.bulk_create([
        Take(shot=s, number=n, backend="animatic", request={}, signature=f"{s.id}-{n}",
             status=TakeStatus.SUCCEEDED if n == 1 else TakeStatus.RUNNING, frames=48)
        for s in shot_rows for n in (1, 2)
    ])
    for shot, take in zip(shot_rows, takes[::2]):
        shot.approved_take = take
    Shot.objects.bulk_update(shot_rows, ["approved_take"])


def walk_board(board) -> int:
    """Touch everything a board page renders; returns how many shots it saw."""
    seen = 0
    for scene in board:
        _ = scene.location_cast and scene.location_cast.handle
        for shot in scene.board_shots:
            _ = shot.approved_take and shot.approved_take.number
            _ = [link.cast_member.handle for link in shot.cast_links.all()]
            _ = [take.status for take in shot.takes_newest_first]
            seen += 1
    return seen


def count_board_queries(project, expected_shots: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert walk_board(selectors.shot_board(project)) == expected_shots
    return len(queries)


def test_shot_board_query_count_does_not_grow_with_the_board(project, alice):
    large = project_create(owner=alice, name="Feature length")
    build_board(project, 10)
    build_board(large, 500)
    small_count = count_board_queries(project, 10)
    assert small_count <= BOARD_QUERY_LIMIT
    assert count_board_queries(large, 500) == small_count


def test_shot_board_shape(project, scene, cast, alice):
    later = scene_create(project=project, actor=alice, heading="EXT. PIER - DAWN")
    b1 = shot_create(scene=later, actor=alice, prompt="@deck empty")
    a1 = shot_create(scene=scene, actor=alice, prompt="@mara on the @deck")
    a2 = shot_create(scene=scene, actor=alice, prompt="@deck then @mara")
    gone = shot_create(scene=scene, actor=alice, prompt="cut")
    shot_trash(shot=gone, actor=alice)
    Take.objects.bulk_create([Take(shot=a1, number=n, backend="animatic", request={}, signature=str(n)) for n in (1, 3, 2)])
    trashed_scene = scene_create(project=project, actor=alice, heading="INT. GONE - DAY")
    Scene.objects.filter(pk=trashed_scene.pk).update(deleted_at=timezone.now())

    board = selectors.shot_board(project)
    assert [s.pk for s in board] == [scene.pk, later.pk]
    assert [s.pk for s in board[0].board_shots] == [a1.pk, a2.pk]
    assert [s.pk for s in board[1].board_shots] == [b1.pk]
    first, second = board[0].board_shots
    assert [link.cast_member.handle for link in first.cast_links.all()] == ["mara", "deck"]
    assert [link.cast_member.handle for link in second.cast_links.all()] == ["deck", "mara"]
    assert [t.number for t in first.takes_newest_first] == [3, 2, 1]
    assert second.takes_newest_first == []


def test_project_progress(project, scene, alice):
    a = shot_create(scene=scene, actor=alice)
    b = shot_create(scene=scene, actor=alice)
    trashed = shot_create(scene=scene, actor=alice)
    shot_trash(shot=trashed, actor=alice)
    omitted = scene_create(project=project, actor=alice, heading="INT. CUT SCENE - DAY")
    shot_create(scene=omitted, actor=alice)
    Scene.objects.filter(pk=omitted.pk).update(omitted=True)
    done = Take.objects.create(shot=a, number=1, backend="animatic", request={}, signature="a1", status=TakeStatus.SUCCEEDED,
                               compute_seconds=2.5)
    Take.objects.create(shot=a, number=2, backend="animatic", request={}, signature="a2", status=TakeStatus.RUNNING, compute_seconds=1.0)
    Take.objects.create(shot=b, number=1, backend="animatic", request={}, signature="b1", status=TakeStatus.QUEUED)
    Take.objects.create(shot=b, number=2, backend="animatic", request={}, signature="b2", status=TakeStatus.FAILED)
    Shot.objects.filter(pk=a.pk).update(approved_take=done)
    assert selectors.project_progress(project) == {
        "scenes": 1, "shots": 2, "approved_shots": 1, "renders_running": 2, "compute_seconds": 3.5,
    }


def test_project_progress_of_an_empty_project(project):
    assert selectors.project_progress(project) == {
        "scenes": 0, "shots": 0, "approved_shots": 0, "renders_running": 0, "compute_seconds": 0.0,
    }


def test_cast_library_counts_live_shots(project, scene, cast, alice):
    from studio.services.cast import cast_member_create, cast_member_trash

    shot_create(scene=scene, actor=alice, prompt="@mara on the @deck")
    shot_create(scene=scene, actor=alice, prompt="@mara alone, @mara again")
    gone = shot_create(scene=scene, actor=alice, prompt="@deck at dawn")
    shot_trash(shot=gone, actor=alice)
    unused = cast_member_create(project=project, actor=alice, name="Lamp", kind="object")
    trashed = cast_member_create(project=project, actor=alice, name="Ghost")
    cast_member_trash(member=trashed, actor=alice)
    library = {m.handle: m for m in selectors.cast_library(project)}
    assert set(library) == {"mara", "deck", unused.handle}
    assert (library["mara"].shot_count, library["deck"].shot_count, library[unused.handle].shot_count) == (2, 1, 0)
    with CaptureQueriesContext(connection) as queries:
        images = {h: [i.is_primary for i in m.images.all()] for h, m in library.items()}
    assert len(queries) == 0
    assert images["mara"] == [True]


def test_projects_for_user(project, users, alice):
    mine = project_create(owner=alice, name="Another of Alice's")
    project_create(owner=users["eve"], name="Eve's")
    trashed = project_create(owner=alice, name="Old")
    trashed.deleted_at = timezone.now()
    trashed.save(update_fields=["deleted_at"])
    assert list(selectors.projects_for_user(alice)) == [mine, project]  # by name
    assert list(selectors.projects_for_user(users["dave"])) == [project]
    assert [p.name for p in selectors.projects_for_user(users["eve"])] == ["Eve's"]
    assert list(selectors.projects_for_user(AnonymousUser())) == []


def test_projects_for_user_counts_live_shots(project, scene, alice):
    shot_create(scene=scene, actor=alice)
    shot_trash(shot=shot_create(scene=scene, actor=alice), actor=alice)
    assert [p.shot_count for p in selectors.projects_for_user(alice)] == [1]


def test_project_snapshot(project, scene, alice):
    from studio import events

    shot = shot_create(scene=scene, actor=alice)
    rows = {status: Take.objects.create(shot=shot, number=n, backend="animatic", request={}, signature=str(n), status=status,
                                        finished_at=timezone.now() if status in ("succeeded", "failed") else None)
            for n, status in enumerate(["queued", "running", "succeeded", "failed"], start=1)}
    cut = Cut.objects.create(project=project, name="A")
    pending = Export.objects.create(cut=cut, format="mp4")
    Export.objects.create(cut=cut, format="edl", status="succeeded")
    events.send_now(project.id, "ping", {})
    events.send_now(project.id, "ping", {})
    events.send_now(project.id, "tick", {}, progress_only=True)  # a tick: no number of its own, the content the same

    snapshot = selectors.project_snapshot(Project.objects.get(pk=project.pk))  # as a socket's access check reads it
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 2
    ids = [t["id"] for t in snapshot["takes"]]
    assert ids[:2] == [rows["queued"].id, rows["running"].id]  # active work first
    assert set(ids[2:]) == {rows["succeeded"].id, rows["failed"].id}
    assert snapshot["takes"][1]["status"] == "running" and snapshot["takes"][1]["shot_id"] == shot.id
    assert [e["id"] for e in snapshot["exports"]] == [pending.id]


def test_snapshot_of_another_project_holds_none_of_ours(project, scene, alice, users):
    Take.objects.create(shot=shot_create(scene=scene, actor=alice), number=1, backend="animatic", request={}, signature="x")
    other = project_create(owner=users["eve"], name="Other")
    assert selectors.project_snapshot(other)["takes"] == []


def test_previous_shot_follows_board_order(project, scene, alice):
    a = shot_create(scene=scene, actor=alice)
    b = shot_create(scene=scene, actor=alice)
    later = scene_create(project=project, actor=alice, heading="EXT. PIER - DAWN")
    c = shot_create(scene=later, actor=alice)
    assert selectors.previous_shot(a) is None
    assert selectors.previous_shot(b) == a
    assert selectors.previous_shot(c) == b
    shot_trash(shot=b, actor=alice)
    assert selectors.previous_shot(c) == a


def test_shot_takes_and_comments(project, scene, alice, users):
    shot = shot_create(scene=scene, actor=alice)
    t1 = Take.objects.create(shot=shot, number=1, backend="animatic", request={}, signature="1", status="succeeded", frames=48)
    t2 = Take.objects.create(shot=shot, number=2, backend="animatic", request={}, signature="2")
    root = comment_create(take=t1, author=users["carol"], body="late", frame=20)
    early = comment_create(take=t1, author=users["carol"], body="early", frame=3)
    reply = comment_create(take=t1, author=users["bob"], body="fixed", parent=root)
    takes = list(selectors.shot_takes(shot))
    assert [(t.number, t.comment_count) for t in takes] == [(2, 0), (1, 3)]
    threads = list(selectors.take_comments(t1))
    assert [c.pk for c in threads] == [early.pk, root.pk]
    assert [r.pk for r in threads[1].replies.all()] == [reply.pk]
    assert t2.pk in {t.pk for t in takes}


def test_payloads_are_plain_data(project, scene, alice):
    import json

    shot = shot_create(scene=scene, actor=alice)
    take = Take.objects.create(shot=shot, number=1, backend="animatic", request={}, signature="1", video="renders/a.mp4",
                               progress=0.123456)
    payload = selectors.take_payload(take)
    assert payload["video"] == "/media/renders/a.mp4" and payload["poster"] == "" and payload["progress"] == 0.1235
    json.dumps(payload)
    export = Export.objects.create(cut=Cut.objects.create(project=project, name="A"), format="mp4", file="projects/1/exports/a-1.mp4")
    assert selectors.export_payload(export)["file"] == "a-1.mp4"
    json.dumps(selectors.export_payload(export))


# --- The cut: one timeline for the editor, the guest player, exports and renders ------------------

def finished(shot, number: int, **fields) -> Take:
    return Take.objects.create(shot=shot, number=number, backend="animatic", request={"prompt": shot.prompt},
                               signature=f"{shot.id}-{number}", status=TakeStatus.SUCCEEDED, frames=48,
                               video=f"projects/{shot.scene.project_id}/takes/{shot.id}/{number}.mp4", **fields)


def count_queries(action) -> int:
    with CaptureQueriesContext(connection) as queries:
        action()
    return len(queries)


def walk_timeline(cut) -> int:
    """Touch everything the editor, the guest page and the exports read; returns the entries seen."""
    rows = selectors.cut_timeline(cut)
    for row in rows:
        _ = (row.entry.shot.code, row.entry.shot.scene.heading, row.take and row.take.video.name, row.frames)
        _ = row.entry.shot.approved_take and row.entry.shot.approved_take.number
        _ = [(t.number, t.shot.code) for t in row.alternates] + [t.id for t in row.finished_takes]
    return len(rows)


def test_cut_timeline_is_two_queries_at_any_length(project, alice):
    from studio.services.cuts import cut_create

    large = project_create(owner=alice, name="Feature length")
    build_board(project, 10)
    build_board(large, 100)
    small_cut, large_cut = (cut_create(project=p, actor=alice, name="Assembly") for p in (project, large))
    assert count_queries(lambda: walk_timeline(small_cut)) == 2
    assert count_queries(lambda: walk_timeline(large_cut)) == 2
    assert walk_timeline(large_cut) == 100


def test_cut_timeline_plays_chosen_then_approved_then_newest_finished(project, scene, alice):
    from studio.services.cuts import cut_create

    shot = shot_create(scene=scene, actor=alice)
    cut = cut_create(project=project, actor=alice, name="Assembly")
    entry = cut.entries.get()
    [row] = selectors.cut_timeline(cut)
    assert row.take is None and (row.in_frame, row.out_frame, row.frames) == (0, 0, 0)
    t1, t2, t3 = finished(shot, 1), finished(shot, 2), finished(shot, 3)
    Take.objects.create(shot=shot, number=4, backend="animatic", request={}, signature="failed", status=TakeStatus.FAILED)
    assert selectors.cut_timeline(cut)[0].take == t3  # the newest finished
    Shot.objects.filter(pk=shot.pk).update(approved_take=t1)
    assert selectors.cut_timeline(cut)[0].take == t1  # the approved one
    CutEntry.objects.filter(pk=entry.pk).update(take=t2, in_frame=10, out_frame=90)
    [row] = selectors.cut_timeline(cut)
    assert row.take == t2 and (row.in_frame, row.out_frame) == (10, 48)  # chosen, trimmed within the take
    assert [t.number for t in row.alternates] == [1, 3]
    Take.objects.filter(pk=t2.pk).update(deleted_at=timezone.now())
    assert selectors.cut_timeline(cut)[0].take == t1  # a trashed choice is passed over


def test_a_trashed_scene_leaves_the_cut_for_exports_and_renders(project, scene, alice, monkeypatch):
    from studio.services import exports
    from studio.services.cuts import cut_create, cut_render
    from studio.services.shots import scene_trash

    kept = shot_create(scene=scene, actor=alice, prompt="the ferry horn sounds")
    pier = scene_create(project=project, actor=alice, heading="EXT. PIER - DAWN")
    gone = shot_create(scene=pier, actor=alice, prompt="gulls")
    kept_take, _ = finished(kept, 1), finished(gone, 1)
    cut = cut_create(project=project, actor=alice, name="Assembly")
    scene_trash(scene=pier, actor=alice)

    assert [item["take"] for item in exports.cut_plan(cut)] == [kept_take]
    monkeypatch.setattr("studio.services.dispatch.enqueue_render", lambda take_id: None)
    assert [result.take.shot_id for result in cut_render(cut=cut, actor=alice)] == [kept.id]
    assert [row.entry.shot_id for row in selectors.cut_timeline(cut)] == [kept.id]
    assert [c.entry_count for c in selectors.project_cuts(project)] == [1]


def test_export_timelines_read_alternates_without_a_query_per_entry(project, alice):
    """Editorial exports offer every other finished take of a shot as an alternate."""
    from studio.services import exports
    from studio.services.cuts import cut_create

    def clips(cut) -> list:
        return exports._timeline_clips(exports.cut_plan(cut), 24, on_progress=lambda step, total: None)

    large = project_create(owner=alice, name="Feature length")
    counts = []
    for target, size in ((project, 5), (large, 50)):
        build_board(target, size)
        Take.objects.filter(shot__scene__project=target).update(video=f"projects/{target.id}/takes/t.mp4")
        for shot in Shot.objects.filter(scene__project=target):
            finished(shot, 3)  # an alternate to the approved take 1
        cut = cut_create(project=target, actor=alice, name="Assembly")
        counts.append(count_queries(lambda: clips(cut)))
        assert [[a.take_number for a in clip.alternates] for clip in clips(cut)] == [[3]] * size
    # The timeline's two, the takes' identity scores, their comments; the images' rights (studio/services/references.py)
    # are one more query when a take used reference images (none here).
    assert counts[0] == counts[1] == 4


def test_previous_shot_is_one_query_at_any_board_size(project, alice):
    large = project_create(owner=alice, name="Feature length")
    build_board(project, 10)
    build_board(large, 200)
    for target in (project, large):
        last = selectors.shots_in_order(target).last()
        assert count_queries(lambda: selectors.previous_shot(last)) == 1


def test_previous_shot_orders_scenes_with_equal_order_by_id_and_skips_trashed_scenes(project, alice):
    from studio.services.shots import scene_trash

    first, second, third = (Scene.objects.create(project=project, order=1, heading=f"INT. ROOM {i} - DAY") for i in range(3))
    a, b, c = (shot_create(scene=s, actor=alice) for s in (first, second, third))
    assert [selectors.previous_shot(s) for s in (a, b, c)] == [None, a, b]
    scene_trash(scene=second, actor=alice)
    assert selectors.previous_shot(Shot.objects.get(pk=c.pk)) == a


def test_a_render_request_reads_its_references_in_a_fixed_number_of_queries(project, scene, alice):
    """The references of a render: the shot's cast in order, then the scene's location, each with
    its images primary first. No query per cast member."""
    def shot_with_cast(members: int):
        cast = CastMember.objects.bulk_create([
            CastMember(project=project, name=f"M{members}-{i}", handle=f"m{members}_{i}") for i in range(members)
        ])
        ReferenceImage.objects.bulk_create([
            ReferenceImage(cast_member=m, image=f"projects/{project.id}/cast/{m.id}/{n}.png", sha256=f"{m.id}-{n}",
                           order=n, is_primary=n == 1) for m in cast for n in range(2)
        ])
        location = CastMember.objects.create(project=project, kind=CastKind.LOCATION, name=f"Deck {members}",
                                             handle=f"deck_{members}")
        ReferenceImage.objects.create(cast_member=location, image="projects/x/deck.png", sha256=f"deck-{members}")
        place = Scene.objects.create(project=project, order=members, heading=f"INT. DECK {members}", location_cast=location)
        shot = Shot.objects.create(scene=place, code=f"{members}A")
        ShotCast.objects.bulk_create([ShotCast(shot=shot, cast_member=m, order=members - i) for i, m in enumerate(cast)])
        return Shot.objects.select_related("scene__project").get(pk=shot.pk)

    small, big = shot_with_cast(2), shot_with_cast(12)
    assert count_queries(lambda: render_request_for(small)) == count_queries(lambda: render_request_for(big))
    references = render_request_for(big).references
    assert [r.handle for r in references] == [f"m12_{i}" for i in reversed(range(12))] + ["deck_12"]
    assert [sha[-1] for sha in references[0].image_sha256s] == ["1", "0"]  # the primary image first


def test_live_rows_are_neither_trashed_nor_inside_anything_trashed(project, scene, alice):
    """The one helper every selector lists with: a row is live while it and every parent up to the
    project are out of the trash."""
    shot = shot_create(scene=scene, actor=alice)
    take = finished(shot, 1)
    cut = Cut.objects.create(project=project, name="A")
    entry = CutEntry.objects.create(cut=cut, shot=shot)
    now = timezone.now()
    rows = {Take: take, Shot: shot, Scene: scene, CutEntry: entry}

    def live() -> set:
        return {model for model, row in rows.items() if model.objects.live().filter(pk=row.pk).exists()}

    assert live() == set(rows)
    for model, parent, gone in ((Cut, cut, {CutEntry}), (Scene, scene, {Scene, Shot, Take, CutEntry}),
                                (type(project), project, set(rows))):
        model.objects.filter(pk=parent.pk).update(deleted_at=now)
        assert live() == set(rows) - gone, model
        model.objects.filter(pk=parent.pk).update(deleted_at=None)
    Take.objects.filter(pk=take.pk).update(deleted_at=now)
    assert live() == set(rows) - {Take}
