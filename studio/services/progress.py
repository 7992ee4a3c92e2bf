"""How often a long job's progress is published: a few events per second, first and last always.

The database row is saved with every published value; the values in between are skipped, since
a progress bar cannot show more and every event costs each open socket a message."""

from __future__ import annotations

import time

PUBLISH_INTERVAL_S = 0.25


class ProgressThrottle:
    """Decides which progress reports are published: the first, the last, and one per interval."""

    def __init__(self, interval_s: float | None = None, clock=time.monotonic):
        self.interval_s = PUBLISH_INTERVAL_S if interval_s is None else interval_s
        self.clock = clock
        self.last_sent: float | None = None

    def should_send(self, step: int, total: int) -> bool:
        now = self.clock()
        if self.last_sent is None or step >= total or now - self.last_sent >= self.interval_s:
            self.last_sent = now
            return True
        return False
