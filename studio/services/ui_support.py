"""Writes the browser studio needs that are more than one call of another service."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from studio import selectors
from studio.models import Shot
from studio.services.render_rate import RateLimited, RenderQuota
from studio.services.render_requests import take_request
from studio.services.usage import BudgetExceeded


@dataclass
class RenderBatch:
    queued: list[str] = field(default_factory=list)  # shot codes with a new render on its way
    reused: list[str] = field(default_factory=list)  # shot codes already rendered (or rendering) as they are
    refused: list[str] = field(default_factory=list)  # "12A: why" for shots that cannot render yet

    def summary(self) -> str:
        parts = []
        if self.queued:
            parts.append(f"{len(self.queued)} render{'s' if len(self.queued) != 1 else ''} queued")
        if self.reused:
            parts.append(f"{len(self.reused)} already rendered or rendering")
        if self.refused:
            parts.append(f"{len(self.refused)} refused: " + "; ".join(self.refused))
        return ", ".join(parts) or "Nothing to render."


def shots_render(*, shots: list[Shot], actor) -> RenderBatch:
    """Ask for a take of each shot, each in its own transaction, so one shot that cannot render
    (e.g. it continues from a shot with no approved take) does not stop the others.

    The whole batch is one request against the rate limit. RateLimited can only come from the
    first shot that needs new work, before anything was queued, so it refuses the batch whole; so
    does a spent GPU budget (BudgetExceeded), which would refuse every shot that needs new work.
    """
    batch, quota = RenderBatch(), RenderQuota()
    for shot in shots:
        try:
            result = take_request(shot=shot, actor=actor, quota=quota)
        except (RateLimited, BudgetExceeded):
            raise
        except ValidationError as exc:
            batch.refused.append(f"{shot.code}: {' '.join(exc.messages)}")
            continue
        (batch.queued if result.dispatched else batch.reused).append(shot.code)
    return batch


def chain_rerender(*, shot: Shot, actor) -> RenderBatch:
    """"Re-render the chain": a new take, from its upstream's current approved take, of every stale
    shot from `shot` to the end of its continuity chain. A later shot of the chain turns stale (and
    can be re-rendered the same way) once the new take before it is approved."""
    stale = [link for link in selectors.continuity_chain(shot) if link.continuity and link.continuity["stale"]]
    return shots_render(shots=stale, actor=actor)
