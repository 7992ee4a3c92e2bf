"""The whole render loop with real parts: a Celery worker process, Redis, the ASGI app's WebSocket,
ffmpeg, the animatic and the tiny diffusers backends, and every export format."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ElementTree

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from studio.asgi import application
from studio.models import Export, ExportStatus, Take, TakeStatus
from studio.services.cuts import cut_create, cut_render, export_request
from studio.services.shots import shot_create
from tests.live_frames import messages_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("close_executor_connections")]

RENDER_TIMEOUT_S = 300


async def _connect(user, slug: str) -> WebsocketCommunicator:
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, f"/ws/projects/{slug}/", headers=[(b"cookie", cookie), (b"origin", b"http://localhost"), (b"host", b"localhost")]
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def _events_until(communicator, done, timeout: float) -> list[dict]:
    """Collect events until done(events) is true; fail on timeout."""
    received: list[dict] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done(received):
        remaining = deadline - loop.time()
        try:
            received.extend(messages_in(await communicator.receive_from(timeout=max(0.1, remaining))))
        except asyncio.TimeoutError:
            raise AssertionError(f"timed out; last events: {received[-5:]}") from None
    return received


def _final_takes(events: list[dict]) -> dict[int, dict]:
    latest = {}
    for event in events:
        if event.get("type") == "take.changed":
            latest[event["take"]["id"]] = event["take"]
    return {i: t for i, t in latest.items() if t["status"] in ("succeeded", "failed", "cancelled")}


def _setup_cut(project, alice, scene, cast):
    for prompt, backend in (("@mara looks out to sea", ""), ("@mara turns to the camera", ""), ("@mara walks away", "tiny")):
        shot_create(scene=scene, actor=alice, prompt=prompt, duration_s=1, backend=backend)
    return cut_create(project=project, actor=alice, name="Assembly")


async def test_cut_renders_live_and_exports_every_format(routed_to_worker, project, alice, scene, cast, tmp_path):
    from generation.media import decode_frame_count

    cut = await sync_to_async(_setup_cut)(project, alice, scene, cast)
    communicator = await _connect(alice, project.slug)
    snapshot = json.loads(await communicator.receive_from(timeout=10))
    assert snapshot["type"] == "snapshot" and snapshot["takes"] == []

    results = await sync_to_async(cut_render)(cut=cut, actor=alice)
    assert [r.dispatched for r in results] == [True, True, True]
    take_ids = {r.take.id for r in results}
    events = await _events_until(communicator, lambda ev: set(_final_takes(ev)) >= take_ids, RENDER_TIMEOUT_S)

    final = _final_takes(events)
    assert {final[i]["status"] for i in take_ids} == {"succeeded"}, [final[i]["error"] for i in take_ids]
    # Web and worker publish concurrently; numbers are never reused. A progress tick takes none: it
    # carries the last one sent before it, never one this client has not had yet (no false gap).
    sequence = [e["seq"] for e in events if "seq" in e and not e.get("tick")]
    assert len(set(sequence)) == len(sequence) and min(sequence) > snapshot["seq"]
    last = snapshot["seq"]
    for event in events:
        if event.get("tick"):
            assert event["seq"] <= last
        elif "seq" in event:
            last = max(last, event["seq"])
    running = [e["take"]["progress"] for e in events if e.get("type") == "take.changed" and e["take"]["status"] == "running"]
    assert running and max(running) <= 1.0

    takes = await sync_to_async(lambda: list(Take.objects.filter(pk__in=take_ids).order_by("shot__order")))()
    assert all(t.video and t.poster and t.last_frame for t in takes)
    tiny = [t for t in takes if t.backend == "tiny"][0]
    assert tiny.provenance["pipeline"].startswith("Wan")

    outputs = {}
    for fmt in ("mp4", "otio", "edl", "fcpxml", "manifest"):
        export = await sync_to_async(export_request)(cut=cut, actor=alice, fmt=fmt)
        await _events_until(
            communicator,
            lambda ev, export_id=export.id: any(
                e.get("type") == "export.changed" and e["export"]["id"] == export_id and e["export"]["status"] in ("succeeded", "failed")
                for e in ev
            ),
            120,
        )
        export = await sync_to_async(Export.objects.get)(pk=export.id)
        assert export.status == ExportStatus.SUCCEEDED, export.error
        outputs[fmt] = export.file.path
    await communicator.disconnect()

    assert decode_frame_count(outputs["mp4"]) == sum(t.frames for t in takes)
    import opentimelineio as otio

    timeline = otio.adapters.read_from_file(outputs["otio"])
    assert [c.name for c in timeline.find_clips()] == [f"{t.shot.code} T{t.number}" for t in await sync_to_async(
        lambda: list(Take.objects.filter(pk__in=take_ids).select_related("shot").order_by("shot__order")))()]
    edl = otio.adapters.read_from_file(outputs["edl"], adapter_name="cmx_3600", rate=project.fps)
    assert len(list(edl.find_clips())) == 3
    assert ElementTree.parse(outputs["fcpxml"]).getroot().tag == "xmeml"
    manifest = json.loads(open(outputs["manifest"]).read())
    assert [e["take_id"] for e in manifest["entries"]] == [t.id for t in takes]
    assert manifest["warnings"] == []


async def test_tiny_pipeline_loads_once_for_three_takes(routed_to_worker, project, alice, scene, cast):
    """Three renders of the same model on one worker: the pipeline is loaded once and reused."""

    def request_three():
        shots = [shot_create(scene=scene, actor=alice, prompt=f"@mara beat {n}", duration_s=1, backend="tiny") for n in range(3)]
        from studio.services.render_requests import take_request

        return [take_request(shot=s, actor=alice).take.id for s in shots]

    communicator = await _connect(alice, project.slug)
    await communicator.receive_from(timeout=10)
    take_ids = set(await sync_to_async(request_three)())
    await _events_until(communicator, lambda ev: set(_final_takes(ev)) >= take_ids, RENDER_TIMEOUT_S)
    await communicator.disconnect()
    takes = await sync_to_async(lambda: list(Take.objects.filter(pk__in=take_ids).order_by("id")))()
    assert all(t.status == TakeStatus.SUCCEEDED for t in takes), [t.error for t in takes]
    loads = [t.provenance["pipeline_cache"]["total_loads"] for t in takes]
    # Counters are per worker process: whatever ran before, these three added no load after the first.
    assert loads[1] == loads[0] and loads[2] == loads[0]
