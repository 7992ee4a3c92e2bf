"""What a WebSocket frame from the studio holds: one message, or an array of events that reached the
server's fan-out together (in order). live.js reads frames the same way."""

from __future__ import annotations

import json


def messages_in(frame: str) -> list[dict]:
    data = json.loads(frame)
    return data if isinstance(data, list) else [data]
