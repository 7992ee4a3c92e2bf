"""Every page a user opens costs the same number of queries for a small project and a big one.

Each project is built in bulk (`build_studio`) at two sizes; each page is opened with the test
client and its exact query count pinned with django_assert_num_queries. One expected number per
page, the same at both sizes: a page whose count grows with the project has an N+1.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from studio import access
from studio.models import (
    CastKind, CastMember, Comment, Cut, CutEntry, Export, ExportStatus, IdentityScore, IdentityStatus, Notification,
    NotificationKind, ReferenceImage, Scene, ScriptSource, Shot, ShotCast, Take, TakeStatus,
)
from studio.services.sharing import review_link_create
from tests.studio.views_helpers import client_for

pytestmark = pytest.mark.django_db

SIZES = (5, 100)  # shots; scenes, cast, takes of the reviewed shot, comments and exports grow with them
TAKES_PER_SHOT = 3  # two finished (one approved), one failed


@dataclass
class Studio:
    project: object
    shot: Shot  # the shot whose review room and edit form are opened
    take: Take  # its approved take, the one the room and the guest page show first
    cut: Cut
    token: str  # a guest review link to the cut


def build_studio(project, owner, shots: int) -> Studio:
    """A project with `shots` shots in shots/5 scenes, a cast, takes, comments, a cut of every shot,
    exports, a script and a guest link to the cut, built with bulk inserts so 100 shots is quick."""
    scale = max(1, shots // 5)
    cast = _cast(project, owner, members=scale + 2)
    scenes = Scene.objects.bulk_create([
        Scene(project=project, order=i + 1, heading=f"INT. ROOM {i} - DAY", location=f"ROOM {i}", location_cast=cast[-1])
        for i in range(scale)
    ])
    made = Shot.objects.bulk_create([
        Shot(scene=scenes[i % scale], order=i + 1, code=f"{i + 1}A", prompt=f"@{cast[0].handle} beat {i}") for i in range(shots)
    ])
    ShotCast.objects.bulk_create([ShotCast(shot=s, cast_member=cast[k], order=k) for s in made for k in (0, 1)])
    takes = _takes(project, made, per_shot=TAKES_PER_SHOT)
    # The reviewed shot has as many more takes as the project is big, and its take as many comments.
    takes += _takes(project, made[:1], per_shot=scale, first_number=TAKES_PER_SHOT + 1)
    for i, shot in enumerate(made):  # every third shot has no approved take yet: the cut plays its newest
        shot.approved_take = next(t for t in takes if t.shot_id == shot.id and t.number == 1) if i % 3 != 2 else None
    Shot.objects.bulk_update(made, ["approved_take"])
    _identity_scores(takes, cast[:2])
    reviewed = made[0].approved_take
    roots = Comment.objects.bulk_create([Comment(take=reviewed, author=owner, body=f"note {i}", frame=i) for i in range(scale)])
    Comment.objects.bulk_create([Comment(take=reviewed, author=owner, body="reply", parent=root) for root in roots])
    cut = Cut.objects.create(project=project, name="Assembly", created_by=owner)
    # Every other entry chooses take 2, so the timeline plays chosen and approved takes alike.
    CutEntry.objects.bulk_create([
        CutEntry(cut=cut, order=i + 1, shot=s, take=next(t for t in takes if t.shot_id == s.id and t.number == 2) if i % 2 else None)
        for i, s in enumerate(made)
    ])
    Export.objects.bulk_create([
        Export(cut=cut, format="mp4", status=ExportStatus.SUCCEEDED, requested_by=owner, file=f"projects/{project.id}/exports/a-{i}.mp4",
               finished_at=timezone.now())
        for i in range(scale)
    ])
    Take.objects.bulk_create([  # renders in flight, for the home page and the board
        Take(shot=shot, number=99, backend="animatic", request={}, signature=f"{shot.id}-99", status=TakeStatus.RUNNING,
             progress=0.5) for shot in made[:scale]
    ])
    Shot.objects.bulk_create([  # the trash: shots an owner can restore, in no list but the trash page's
        Shot(scene=scenes[i % scale], order=shots + i + 1, code=f"T{i}", deleted_at=timezone.now()) for i in range(scale)
    ])
    Notification.objects.bulk_create([  # the owner's bell and notifications page
        Notification(recipient=owner, kind=NotificationKind.MENTION, project=project, actor=owner, shot=made[i % shots],
                     take=reviewed, text=f"note {i}", url="/") for i in range(scale * 2)
    ])
    _script(project, owner, scenes)
    _, token = review_link_create(project=project, actor=owner, cut=cut)
    return Studio(project=project, shot=made[0], take=reviewed, cut=cut, token=token)


def _cast(project, owner, members: int) -> list[CastMember]:
    kinds = [CastKind.CHARACTER] * (members - 1) + [CastKind.LOCATION]
    cast = CastMember.objects.bulk_create([
        CastMember(project=project, kind=kind, name=f"Member {i}", handle=f"member_{i}") for i, kind in enumerate(kinds)
    ])
    ReferenceImage.objects.bulk_create([
        ReferenceImage(cast_member=member, image=f"projects/{project.id}/cast/{member.id}/{n}.png", sha256=f"{member.id:032d}{n}",
                       width=64, height=48, order=n, is_primary=n == 0, uploaded_by=owner)
        for member in cast for n in range(2)
    ])
    return cast


def _takes(project, shots: list[Shot], *, per_shot: int, first_number: int = 1) -> list[Take]:
    def status(number: int) -> str:
        return TakeStatus.FAILED if number == 3 else TakeStatus.SUCCEEDED

    return Take.objects.bulk_create([
        Take(shot=shot, number=n, backend="animatic", request={"prompt": shot.prompt, "seed": 1}, signature=f"{shot.id}-{n}",
             status=status(n), progress=1.0, frames=48, duration_s=2.0, finished_at=timezone.now(),
             video=f"projects/{project.id}/takes/{shot.id}/take{n}.mp4" if status(n) == TakeStatus.SUCCEEDED else "",
             poster=f"projects/{project.id}/takes/{shot.id}/take{n}.jpg" if status(n) == TakeStatus.SUCCEEDED else "")
        for shot in shots for n in range(first_number, first_number + per_shot)
    ])


def _identity_scores(takes: list[Take], members: list[CastMember]) -> None:
    """Every finished take scored against two cast members: the board badges, the take stack and
    the review room read them (with their members) in one query, however many there are."""
    IdentityScore.objects.bulk_create([
        IdentityScore(take=take, cast_member=member, status=IdentityStatus.DRIFT if take.number == 2 else IdentityStatus.MATCH,
                      score=0.7 if take.number == 2 else 0.4, threshold=0.6, verdict="scored", frames_sampled=5, frames_scored=5,
                      worst_frame_index=12, worst_frame_time_s=0.5, model="dlib", model_version="test")
        for take in takes if take.status == TakeStatus.SUCCEEDED for member in members
    ])


def _script(project, owner, scenes: list[Scene]) -> None:
    text = "Title: Night Ferry\n\n" + "".join(
        f"{scene.heading}\n\nThe lamp swings.\n\nMARA\nHold the line.\n\n" for scene in scenes
    )
    ScriptSource.objects.create(project=project, version=1, text=text, sha256=hashlib.sha256(text.encode()).hexdigest(),
                                title="Night Ferry", imported_by=owner, report={"scene_ids": [s.id for s in scenes]})
    # A second revision that changes every scene's dialogue: its diff page touches every shot.
    revised = text.replace("Hold the line.", "Let it go.")
    ScriptSource.objects.create(project=project, version=2, text=revised, sha256=hashlib.sha256(revised.encode()).hexdigest(),
                                title="Night Ferry", imported_by=owner, report={"scene_ids": [s.id for s in scenes]})


def _url(name: str, studio: Studio, *args) -> str:
    return reverse(name, args=[studio.project.slug, *args])


def _guest_media(studio: Studio) -> str:
    link = access.review_link_for(studio.token)
    return reverse("guest_media", args=[studio.token, studio.take.id]) + "?k=" + access.review_link_media_key(link, studio.take.id)


# page -> (its URL for a built studio, the exact number of queries it may make at every size).
# Signed-in pages count the user on a first load (1: the session comes from the cache,
# studio/sessions.py, and the user too after that, studio/auth_backends.py) and the project with
# the member's role (one query: studio/access.py project_for; a later role check reuses it).
PAGES = {
    "project list": (lambda s: reverse("project_list"), 3),
    "project home": (lambda s: _url("project_home", s), 11),
    "board": (lambda s: _url("board", s), 8),
    "board scenes": (lambda s: _url("board_scenes", s), 7),
    # Filters and full-text search: the same board queries, and one for the words.
    "board filtered": (lambda s: _url("board", s) + f"?status=approved&cast={s.shot.cast_links.first().cast_member_id}"
                       "&q=beat", 9),
    "scene": (lambda s: _url("scene_fragment", s, s.shot.scene_id), 7),
    "shot card": (lambda s: _url("shot_card", s, s.shot.id), 6),
    "shot edit": (lambda s: _url("shot_edit", s, s.shot.id), 4),
    # The review room: the takes each note asked for (1), following and the members to @mention (2).
    "review room": (lambda s: _url("review", s, s.shot.id), 12),
    "take stack": (lambda s: _url("take_stack", s, s.shot.id), 6),
    "comments": (lambda s: _url("comments", s, s.take.id), 6),
    "cast library": (lambda s: _url("cast_library", s), 5),
    "script": (lambda s: _url("script", s), 6),
    "script revision": (lambda s: _url("script_revision", s, 2), 5),
    "cut list": (lambda s: _url("cut_list", s), 4),
    "add to cut menu": (lambda s: _url("add_to_cut", s, s.shot.id), 4),
    "notifications": (lambda s: reverse("notifications"), 4),
    "notification bell": (lambda s: reverse("notifications_bell"), 2),
    # The cut's drift strip: the shots' cast links, the played takes' scores, their members (3).
    "cut editor": (lambda s: _url("cut_editor", s, s.cut.id), 9),
    "cut entries": (lambda s: _url("cut_entries", s, s.cut.id), 8),
    "exports list": (lambda s: _url("cut_exports", s, s.cut.id), 4),
    "members": (lambda s: _url("members", s), 3),
    "trash": (lambda s: _url("trash", s), 7),
    "activity": (lambda s: _url("activity", s), 3),
    "review links": (lambda s: _url("review_links", s), 5),
    # Five roll-ups, the totals, the budget and the chart's days (one grouped query each), and
    # the role again for the owner's budget form.
    "usage": (lambda s: _url("usage", s), 10),
    # A guest: no session, no user; the link (with its project and cut), then the cut's timeline.
    "guest page": (lambda s: reverse("guest_review", args=[s.token]), 5),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("page", PAGES)
def test_a_page_costs_the_same_queries_at_every_size(page, size, project, alice, django_assert_num_queries):
    studio = build_studio(project, alice, size)
    url, expected = PAGES[page][0](studio), PAGES[page][1]
    client = client_for(None if page.startswith("guest") else alice)
    with django_assert_num_queries(expected):
        response = client.get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("size", SIZES)
def test_a_cached_board_costs_the_same_queries_at_every_size(size, project, alice, django_assert_num_queries):
    """The board's scenes are cached per project content (studio/views/board.py; each test has its
    own cache prefix, tests/conftest.py): a second view reads them from the cache."""
    studio = build_studio(project, alice, size)
    client = client_for(alice)
    assert client.get(_url("board", studio)).status_code == 200  # fills the cache
    with django_assert_num_queries(1):  # the project with the member's role (user and session: from the cache)
        response = client.get(_url("board", studio))
    assert response.status_code == 200


@pytest.mark.parametrize("size", SIZES)
def test_a_guest_seek_costs_the_same_queries_at_every_size(size, project, alice, django_assert_num_queries):
    """A video player asks for a new byte range on every seek: each is the link and one check of
    the take, whatever the length of the cut (the page resolved the cut's takes once)."""
    studio = build_studio(project, alice, size)
    _write_take_files(studio.take)
    link = access.review_link_for(studio.token)
    url = reverse("guest_media", args=[studio.token, studio.take.id]) + "?k=" + access.review_link_media_key(link, studio.take.id)
    with django_assert_num_queries(2):
        response = client_for(None).get(url, headers={"Range": "bytes=0-9"})
    assert response.status_code == 206 and b"".join(response.streaming_content) == b"0123456789"


def _write_take_files(take: Take) -> None:
    path = Path(settings.MEDIA_ROOT) / take.video.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"0123456789" * 100)


@pytest.mark.parametrize("size", SIZES)
def test_the_workers_page_costs_the_same_queries_at_every_size(size, project, alice, django_assert_num_queries):
    """Operators' page: the user (the session from the cache); the worker reports come from Redis."""
    build_studio(project, alice, size)
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    client = client_for(alice)
    with django_assert_num_queries(1):
        response = client.get(reverse("workers"))
    assert response.status_code == 200
