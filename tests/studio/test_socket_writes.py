"""Writing an event to a socket without waiting on it (ProjectConsumer.forward): the process's
fan-out goes through hundreds of sockets in one pass, and one slow client must not hold it up."""

from __future__ import annotations

import asyncio

from studio.consumers import _send_without_waiting


async def test_a_send_that_has_to_wait_finishes_on_its_own_and_does_not_hold_up_the_pass():
    """ProjectConsumer.forward writes without waiting: a client that keeps up is written to at
    once; one whose buffer is full finishes later on a task, and the pass goes on meanwhile."""
    written, writable = [], asyncio.Event()

    async def keeps_up(message):
        written.append(("fast", message["text"]))

    async def slow(message):
        await writable.wait()  # what uvicorn does while the transport is paused
        written.append(("slow", message["text"]))

    assert _send_without_waiting(keeps_up, {"type": "websocket.send", "text": "1"}) is None
    later = _send_without_waiting(slow, {"type": "websocket.send", "text": "2"})
    assert _send_without_waiting(keeps_up, {"type": "websocket.send", "text": "3"}) is None
    assert written == [("fast", "1"), ("fast", "3")] and not later.done()
    writable.set()
    await asyncio.wait_for(later, 5)
    assert written[-1] == ("slow", "2")
