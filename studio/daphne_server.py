"""Daphne, with request bodies capped while they arrive and kept on disk, not in memory.

Run it like daphne itself:  python -m studio.daphne_server -b 127.0.0.1 -p 8000 studio.asgi:application

Stock Daphne (4.2) has Twisted read the whole body first (into a temporary file, or memory under
100 kB) with no limit at all, parse it if it is multipart, and then puts every chunk of it on
the application's asyncio queue at once: a 20 MB upload is 20 MB of bytes objects in the server
before Django reads the first one, and twelve at a time multiply that. An ASGI middleware runs
too late to prevent any of it. So, at Twisted's level:

- the route's cap (studio.body_limits) is checked against Content-Length when the headers end and
  counted against every chunk as it arrives, chunked or not; past it the client gets 413 at once
  and the rest of its body is read and dropped, never stored;
- the body Twisted spooled to its temporary file is handed to the application a chunk at a time
  as the application asks for it (Django writes it to its own spooled file), instead of queued;
- Twisted's own parse of multipart bodies (in memory, through the email package, about 13× the
  body, for request.args that Daphne never reads) is turned off. That parse, not the queue, was
  most of the 2.7 GB in the issue;
- glibc is told to give large buffers back when they are freed (give_large_buffers_back).
"""

from __future__ import annotations

import asyncio
import ctypes
import io
from functools import partial
from urllib.parse import unquote

from daphne.cli import CommandLineInterface  # first: daphne installs the asyncio reactor on import
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from twisted.internet import reactor

from studio import body_limits

# After a 413 the connection stays open this long, reading and dropping what the client still
# sends, so the client reads our answer instead of a reset (nginx's lingering close, in short).
LINGER_SECONDS = 5
# Chunks handed to the application: small enough to bound memory, large enough to be few.
BODY_CHUNK_BYTES = 256 * 1024


class CappedWebRequest(WebRequest):
    body_file = None
    body_size = 0
    refused = False

    def __init__(self, *args, **kwargs):
        # Twisted parses every multipart POST body itself, in memory, through the email package
        # (about 13× the body: +270 MB for one 20 MB image), into request.args, which Daphne
        # never uses.
        super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)

    def gotLength(self, length):
        super().gotLength(length)  # Twisted's choice: memory under 100 kB, else a temporary file
        # The request line's target; Twisted gives it to the request only once the body is in.
        target = getattr(self.channel, "_path", b"/")
        path = unquote(target.split(b"?", 1)[0].decode("latin-1"))
        self.body_limit = body_limits.body_limit_for(path)
        self.body_received = 0
        if length is not None and length > self.body_limit.max_bytes:
            self._refuse()

    def handleContentChunk(self, data):
        if self.refused:
            return
        self.body_received += len(data)
        if self.body_received > self.body_limit.max_bytes:
            self._refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        if not self.refused:  # a refused request has had its answer
            super().requestReceived(command, path, version)

    def process(self):
        # The application reads the body from this file through BodyFileQueue; Daphne's own loop
        # sees an empty body and queues one empty message, which BodyFileQueue drops.
        self.body_file, self.content = self.content, io.BytesIO()
        self.body_size = self.body_file.seek(0, io.SEEK_END)
        self.body_file.seek(0)
        if self.requestHeaders.hasHeader(b"transfer-encoding"):
            # Twisted has decoded the chunks; the application sees a plain body of known length
            # (Django reads a body without Content-Length as empty).
            self.requestHeaders.removeHeader(b"transfer-encoding")
            self.requestHeaders.setRawHeaders(b"content-length", [str(self.body_size).encode()])
        return super().process()

    def connectionLost(self, reason):
        if self.body_file is not None:
            self.body_file.close()
        super().connectionLost(reason)

    def _refuse(self):
        self.refused = True
        # Refused before the body: Twisted must not follow our 413 with "100 Continue".
        self.requestHeaders.removeHeader(b"expect")
        accept = b",".join(self.requestHeaders.getRawHeaders(b"accept", [])).decode("latin-1")
        content_type, payload = body_limits.refusal_body(self.body_limit, accept)
        transport = self.channel.transport
        transport.write(
            b"HTTP/1.1 413 Content Too Large\r\nContent-Type: " + content_type
            + b"\r\nContent-Length: " + str(len(payload)).encode() + b"\r\nConnection: close\r\n\r\n" + payload
        )
        self.content.close()
        self.content = io.BytesIO()
        if hasattr(transport, "loseWriteConnection"):
            transport.loseWriteConnection()
            reactor.callLater(LINGER_SECONDS, transport.loseConnection)
        else:
            transport.loseConnection()


class BodyFileQueue(asyncio.Queue):
    """The application's input queue; its request body comes from the spooled file, a chunk per
    receive(), so at most one chunk of it is in memory here at a time."""

    def __init__(self, body_file, body_size: int, chunk_size: int):
        super().__init__()
        self.body_file, self.body_left, self.chunk_size = body_file, body_size, chunk_size

    def put_nowait(self, message):
        if message["type"] == "http.request" and self.body_file is not None:
            return  # Daphne's placeholder for the body we serve from the file
        super().put_nowait(message)

    async def get(self):
        if self.body_file is None or self.body_file.closed:
            return await super().get()
        chunk = self.body_file.read(min(self.chunk_size, self.body_left))
        self.body_left -= len(chunk)
        if not chunk or self.body_left <= 0:
            self.body_file.close()
        return {"type": "http.request", "body": chunk, "more_body": not self.body_file.closed}


class CappedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = CappedWebRequest
        return protocol


class CappedServer(Server):
    @property
    def http_factory(self):
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory):
        # Server.run() builds Daphne's own factory; serve with ours, which makes CappedWebRequests.
        self._http_factory = CappedHTTPFactory(self)

    def create_application(self, protocol, scope):
        """Daphne's, with a BodyFileQueue in place of a plain asyncio.Queue."""
        assert "application_instance" not in self.connections[protocol]
        input_queue = BodyFileQueue(getattr(protocol, "body_file", None), getattr(protocol, "body_size", 0),
                                    max(self.request_buffer_size, BODY_CHUNK_BYTES))
        scope.setdefault("asgi", {"version": "3.0"})
        application_instance = self.application(scope=scope, receive=input_queue.get,
                                                send=partial(self.handle_reply, protocol))
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            application_instance, loop=asyncio.get_event_loop())
        return input_queue


class CappedCommandLineInterface(CommandLineInterface):
    server_class = CappedServer


def give_large_buffers_back() -> None:
    """Make glibc serve every allocation over 128 kB with its own mapping, returned on free.

    Under ASGI each request's view runs on a thread of its own, and glibc gives threads their own
    arenas; by default it raises its mmap threshold after the first large free, so later 20 MB
    reads and decoded images land in those arenas and stay resident after they are freed (twelve
    parallel image uploads: +731 MB over idle, against +200 MB with this; BENCHMARKS.md)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    m_mmap_threshold = -3  # mallopt's M_MMAP_THRESHOLD; setting it also stops the adjustment
    libc.mallopt(m_mmap_threshold, 128 * 1024)


if __name__ == "__main__":
    give_large_buffers_back()
    CappedCommandLineInterface.entrypoint()
