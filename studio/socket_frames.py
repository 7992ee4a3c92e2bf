"""One live event, framed once, written to hundreds of sockets.

Under uvicorn (its default WebSocket protocol, websockets' sans-I/O one) an ASGI send frames the
text again for every socket before writing it: for a 250-socket process that framing was as much
as the write itself (BENCHMARKS.md, issue 15). A server-to-client text frame is the same bytes
for every connection that negotiated no extension (no masking, no per-connection compression
state), so the fan-out builds it once, with websockets' own framing, and hands the same bytes to
each connection's transport.

Everything else (Daphne, a connection with permessage-deflate, a test's communicator) goes
through the ordinary ASGI send: `direct_connection` answers None for it.
"""

from __future__ import annotations

from functools import cached_property

from websockets.frames import Frame, Opcode
from websockets.protocol import State

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # uvicorn is optional: Daphne serves `make run`
    WebSocketsSansIOProtocol = None


class EventFrame:
    """A live event's text and, built on first use, its wire bytes as a WebSocket text frame."""

    def __init__(self, text: str):
        self.text = text

    @cached_property
    def wire(self) -> bytes:
        return Frame(Opcode.TEXT, self.text.encode()).serialize(mask=False, extensions=[])


def direct_connection(server_send):
    """uvicorn's connection behind `server_send` when frames can be written to it as they are
    (its protocol is websockets' sans-I/O one and no extension was negotiated), else None."""
    connection = getattr(server_send, "__self__", None)
    if WebSocketsSansIOProtocol is None or not isinstance(connection, WebSocketsSansIOProtocol):
        return None
    return None if connection.conn.extensions else connection


def write(connection, frame: EventFrame) -> bool:
    """Write `frame` now; False when the connection cannot take it: closing, or its transport
    paused because the client is not reading (then the caller skips the event and the client,
    seeing the gap in the numbers, asks for a snapshot)."""
    if connection.conn.state is not State.OPEN or connection.transport.is_closing() or not connection.writable.is_set():
        return False
    connection.transport.write(frame.wire)
    return True
