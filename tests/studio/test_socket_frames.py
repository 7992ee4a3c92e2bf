"""One live event framed once and written as the same bytes to every uvicorn connection that
negotiated no extension (studio/socket_frames.py), through a real uvicorn server and a real
WebSocket client; a connection with permessage-deflate keeps the ordinary ASGI send."""

from __future__ import annotations

import asyncio

import pytest
import uvicorn
from websockets.asyncio.client import connect

from studio import socket_frames
from studio.uvicorn_worker import UvicornWorker
from tests.conftest import free_port


@pytest.fixture(params=["uvicorn's defaults", "the studio's worker"])
async def server(request):
    """A uvicorn server (its default WebSocket protocol) whose app writes two events to each
    connection directly when it can, else through the ASGI send, and says which it used. With
    uvicorn's defaults, or with the settings of the studio's gunicorn worker class."""
    written: list[bool] = []
    settings = {} if request.param == "uvicorn's defaults" else UvicornWorker.CONFIG_KWARGS

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

    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **{"lifespan": "off", **settings}))
    task = asyncio.create_task(uv.serve())
    while not uv.started:
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{port}/", written, request.param
    uv.should_exit = True
    await asyncio.wait_for(task, 10)


async def _texts(url: str, compression) -> list[str]:
    async with connect(url, compression=compression) as ws:
        return [await asyncio.wait_for(ws.recv(), 10) for _ in range(3)]


async def test_a_connection_without_extensions_gets_the_frame_built_once(server):
    url, written, _ = server
    assert await _texts(url, None) == ['{"seq":1}', '[{"seq":2},{"seq":3,"note":"caf\u00e9"}]', "direct"]
    for _ in range(100):
        if len(written) == 3:
            break
        await asyncio.sleep(0.02)
    assert written == [True, True, False]  # the last one after the client had gone


async def test_a_browser_asking_for_compression_gets_it_only_where_the_server_offers_it(server):
    """Browsers ask for permessage-deflate on every socket: uvicorn's defaults grant it, and the
    frame goes through the ASGI send (compressed per socket); the studio's worker declines it, so
    the same bytes go to every socket."""
    url, written, settings = server
    path = "asgi" if settings == "uvicorn's defaults" else "direct"
    assert await _texts(url, "deflate") == ['{"seq":1}', '[{"seq":2},{"seq":3,"note":"caf\u00e9"}]', path]
    assert (written == []) == (path == "asgi")


def test_a_send_that_is_not_uvicorns_has_no_direct_connection():
    async def send(message):
        pass

    assert socket_frames.direct_connection(send) is None
    assert socket_frames.direct_connection(None) is None
