"""Which take a cut plays for a shot: one read rule shared by the cut editor, guest links and exports.

It sits outside services so that access.py (guest links) and services can both ask it without an
import cycle.
"""

from __future__ import annotations

from studio.models import CutEntry, Shot, Take, TakeStatus


def entry_take(entry: CutEntry) -> Take | None:
    return playing_take(entry.shot, chosen=entry.take)


def playing_take(shot: Shot, *, chosen: Take | None = None) -> Take | None:
    """The take a cut plays for a shot: the chosen one, else the approved one, else the newest
    finished one (as a playlist shows the latest version until someone approves)."""
    for take in (chosen, shot.approved_take):
        if take is not None and take.status == TakeStatus.SUCCEEDED and not take.is_trashed:
            return take
    return shot.takes.alive().filter(status=TakeStatus.SUCCEEDED).order_by("-number").first()
