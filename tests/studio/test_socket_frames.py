"""One live event framed once and written as the same bytes to every uvicorn connection that
negotiated no extension (studio/socket_frames.py), through a real uvicorn server and a real
WebSocket client; a connection with permessage-deflate keeps the ordinary ASGI send."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn
from websockets.asyncio.client import connect

from studio import socket_frames


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def server():
    """A uvicorn server (its default WebSocket protocol) whose app writes two events to each
    connection directly when it can, else through the ASGI send, and says which it used."""
    written: list[bool] = []

    async def app(scope, receive, send):
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        connection = socket_frames.direct_connection(send)
        for text in ('{"seq":1}', '[{"seq":2},{"seq":3,"note":"caf\u00e9"}]'):
            frame = socket_frames.EventFrame(text)
            if connection is not None:
                written.append(socket_frames.write(connection, frame))
            else:
                await send({"type": "websocket.send", "text": frame.text})
        await send({"type": "websocket.send", "text": "direct" if connection is not None else "asgi"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        if connection is not None:  # closed: a write is refused, not raised
            written.append(socket_frames.write(connection, socket_frames.EventFrame("{}")))

    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(uv.serve())
    while not uv.started:
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{port}/", written
    uv.should_exit = True
    await asyncio.wait_for(task, 10)


async def _texts(url: str, compression) -> list[str]:
    async with connect(url, compression=compression) as ws:
        return [await asyncio.wait_for(ws.recv(), 10) for _ in range(3)]


async def test_a_connection_without_extensions_gets_the_frame_built_once(server):
    url, written = server
    assert await _texts(url, None) == ['{"seq":1}', '[{"seq":2},{"seq":3,"note":"caf\u00e9"}]', "direct"]
    for _ in range(100):
        if len(written) == 3:
            break
        await asyncio.sleep(0.02)
    assert written == [True, True, False]  # the last one after the client had gone


async def test_a_connection_with_compression_goes_through_the_asgi_send(server):
    url, written = server
    assert await _texts(url, "deflate") == ['{"seq":1}', '[{"seq":2},{"seq":3,"note":"caf\u00e9"}]', "asgi"]
    assert written == []


def test_a_send_that_is_not_uvicorns_has_no_direct_connection():
    async def send(message):
        pass

    assert socket_frames.direct_connection(send) is None
    assert socket_frames.direct_connection(None) is None
