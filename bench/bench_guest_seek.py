"""A guest seeking in a cut review link's player: queries and time per HTTP Range request.

    python bench/bench_guest_seek.py [--shots 10,100,500 --seeks 300]

A video player asks for a new byte range on every seek (and several while it plays). The guest
page works out once which take each cut entry plays; each Range request should then cost the same
whatever the length of the cut (issue 11, item 4). For each cut length the bench builds a project
in bulk (one shot per entry, two finished takes each, every third shot with no approved take and
every other entry choosing its take), opens the guest page as a guest, takes the player's video
URL from it, and times `--seeks` Range requests to it in-process (Django's test client, no
server). The floor, measured in the same run: the same Range request through a review link to
that one shot (the link, then one query).

Django uses a throwaway SQLite database and media folder unless DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench._env import setup_django, throwaway_storage  # noqa: E402  (needs the repository on the path)

VIDEO_BYTES = bytes(range(256)) * 4096  # 1 MiB


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", default="10,100,500", help="cut lengths, comma separated")
    parser.add_argument("--seeks", type=int, default=300, help="Range requests timed per cut")
    return parser.parse_args()


def build_cut(owner, shots: int):
    """A project whose cut plays `shots` entries; returns (cut, the shot of the first entry)."""
    from django.conf import settings

    from studio.models import Cut, CutEntry, Scene, Shot, Take, TakeStatus
    from studio.services.projects import project_create

    project = project_create(owner=owner, name=f"Cut of {shots}")
    scenes = Scene.objects.bulk_create([Scene(project=project, order=i, heading=f"INT. ROOM {i} - DAY") for i in range(shots // 10 + 1)])
    made = Shot.objects.bulk_create([Shot(scene=scenes[i // 10], order=i, code=f"{i + 1}A") for i in range(shots)])
    takes = Take.objects.bulk_create([
        Take(shot=s, number=n, backend="animatic", request={}, signature=f"{s.id}-{n}", status=TakeStatus.SUCCEEDED,
             frames=48, video=f"projects/{project.id}/takes/{s.id}/{n}.mp4") for s in made for n in (1, 2)
    ])
    for i, shot in enumerate(made):
        shot.approved_take = takes[2 * i] if i % 3 != 2 else None
    Shot.objects.bulk_update(made, ["approved_take"])
    cut = Cut.objects.create(project=project, name="Assembly")
    CutEntry.objects.bulk_create([CutEntry(cut=cut, order=i, shot=s, take=takes[2 * i + 1] if i % 2 else None)
                                  for i, s in enumerate(made)])
    for take in takes[:2]:  # the first entry's files, which the player asks for
        path = Path(settings.MEDIA_ROOT) / take.video.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(VIDEO_BYTES)
    return cut, made[0]


def player_video_url(client, token: str) -> str:
    from django.urls import reverse

    body = client.get(reverse("guest_review", args=[token])).content.decode()
    return re.search(r'<video id="guest-video" src="([^"]+)"', body).group(1).replace("&amp;", "&")


def time_seeks(client, url: str, seeks: int) -> tuple[float, int]:
    """(ms per Range request, queries per Range request)."""
    from django.db import connection

    queries = []
    with connection.execute_wrapper(lambda execute, sql, *rest: queries.append(sql) or execute(sql, *rest)):
        response = client.get(url, headers={"Range": "bytes=1000-1999"})
        assert response.status_code == 206, response.status_code
        b"".join(response.streaming_content)
    started = time.perf_counter()
    for i in range(seeks):
        response = client.get(url, headers={"Range": f"bytes={i * 1000}-{i * 1000 + 999}"})
        b"".join(response.streaming_content)
    return (time.perf_counter() - started) * 1000 / seeks, len(queries)


def main() -> None:
    args = parse_args()
    with throwaway_storage("bench-guest-seek-"):
        setup_django(migrate=True)
        from django.contrib.auth import get_user_model
        from django.test import Client

        from studio.services.sharing import review_link_create

        owner = get_user_model().objects.create_user("owner", "owner@example.com", "pw")
        print(f"{'shots':>6} {'seek ms':>8} {'queries':>7} {'floor ms':>8} {'floor q':>7} {'ratio':>6}")
        for shots in (int(n) for n in args.shots.split(",")):
            cut, first_shot = build_cut(owner, shots)
            _, cut_token = review_link_create(project=cut.project, actor=owner, cut=cut)
            _, shot_token = review_link_create(project=cut.project, actor=owner, shot=first_shot)
            client = Client()
            seek_ms, seek_queries = time_seeks(client, player_video_url(client, cut_token), args.seeks)
            floor_ms, floor_queries = time_seeks(client, player_video_url(client, shot_token), args.seeks)
            print(f"{shots:>6} {seek_ms:>8.2f} {seek_queries:>7} {floor_ms:>8.2f} {floor_queries:>7} {seek_ms / floor_ms:>6.2f}")


if __name__ == "__main__":
    main()
