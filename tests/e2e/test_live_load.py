"""The live load bench at small N as a correctness test (issue 15; no timing is asserted): 10
WebSocket watchers (in two processes, as the bench splits them) through a real ASGI server (uvicorn, two processes behind one channel layer),
a real Celery worker publishing progress on 4 concurrent takes, edits over HTTP. Every watcher
must end with every progress tick, every final state, a complete "who is here" list, and every
edit, with no gap in the numbers."""

from __future__ import annotations

import uuid

import pytest

from bench.bench_live_load import TAKES, build_world, run_live
from tests.conftest import database_url_for_workers

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("layer", ["pubsub", "core"])
def test_ten_watchers_get_every_final_state_every_edit_and_everyone_present(layer, monkeypatch, tmp_path):
    from studio.services import dispatch

    monkeypatch.setattr(dispatch, "enqueue_render", lambda take_id: None)  # the bench task drives the takes
    world = build_world(board_shots=TAKES)
    for name, value in {"DATABASE_URL": database_url_for_workers(), "CONTINUITY_CHANNEL_LAYER": layer,
                        "CONTINUITY_CHANNEL_PREFIX": f"livetest{uuid.uuid4().hex[:8]}", "CONTINUITY_IDENTITY_SCORING": "0",
                        "DJANGO_ALLOW_ASYNC_UNSAFE": "",
                        "CONTINUITY_PROGRESS_COALESCE_S": "0",  # every tick sent, so every tick can be counted
                        # as the README runs ASGI servers: a connection pool per process (PostgreSQL)
                        "CONN_MAX_AGE": "0", "CONTINUITY_DB_POOL": "4"}.items():
        monkeypatch.setenv(name, value)
    result = run_live(kind="uvicorn", processes=2, world=world, clients=10, steps=4, interval_ms=250, edits=2,
                      scratch=tmp_path, watcher_processes=2)  # as the bench runs them: 5 watchers in each of 2 processes
    assert result["closed_by_server"] == 0
    assert result["presence_complete"] == 10  # every watcher sees all 10 connections
    assert result["finals_complete"] == 10  # every watcher got all 4 final states (live or by resync)
    assert result["edits_expected"] == 20 and result["edits_received"] == 20  # no lost edits
    assert result["progress_expected"] == 10 * TAKES * 4 and result["progress_received"] == result["progress_expected"]
    assert result["gaps"] == 0  # every numbered event in order, none missed
    assert len(result["edit_request_ms"]) == 2  # each edit's server part, matched by its event's publish time


def test_the_bare_floor_delivers_every_event_to_every_watcher():
    """The floor the bench prints the studio's figures over (bench/live_floor.py): its own servers
    and publisher on the real Redis. A floor that lost events would flatter it."""
    from bench.live_floor import run_floor

    result = run_floor(clients=6, processes=2, takes=TAKES, steps=3, interval_ms=50, watcher_processes=2)
    assert result["lost"] == 0
    assert len(result["latencies_ms"]) == 6 * TAKES * 3
