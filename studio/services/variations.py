"""Variations: one click renders N takes of a shot with different seeds (and, if asked, a sweep of
guidance), as one group shown side by side in the review room, counted as one render request."""

from __future__ import annotations

import secrets
import uuid

from django.core.exceptions import ValidationError
from django.db import transaction

from studio.models import Shot, Take
from studio.services.audit import audit_record
from studio.services.render_rate import RenderQuota
from studio.services.render_requests import take_request

DEFAULT_VARIATIONS = 4
MAX_VARIATIONS = 8
# Classifier-free guidance values a sweep walks through (backends that have no guidance ignore it).
GUIDANCE_SWEEP = (3.0, 5.0, 7.0, 9.0, 4.0, 6.0, 8.0, 10.0)
SEED_LIMIT = 2**31 - 1


def variation_parameters(count: int, *, base_seed: int, guidance_sweep: bool) -> list[tuple[int, dict]]:
    """(seed, extra) for each variation: distinct seeds from `base_seed`; with a sweep, each also a
    different guidance_scale."""
    return [((base_seed + i * 7919) % SEED_LIMIT, {"guidance_scale": GUIDANCE_SWEEP[i]} if guidance_sweep else {})
            for i in range(count)]


@transaction.atomic
def take_request_variations(*, shot: Shot, actor, count: int = DEFAULT_VARIATIONS, guidance_sweep: bool = False,
                            base_seed: int | None = None) -> list[Take]:
    """Queue `count` new takes of the shot, one variation group, one request against the rate limit."""
    if not 2 <= count <= MAX_VARIATIONS:
        raise ValidationError(f"Ask for between 2 and {MAX_VARIATIONS} variations.")
    quota, group = RenderQuota(), uuid.uuid4()
    base_seed = secrets.randbelow(SEED_LIMIT) if base_seed is None else base_seed
    takes = [
        take_request(shot=shot, actor=actor, seed=seed, extra=extra, quota=quota, variation_group=group, force=True).take
        for seed, extra in variation_parameters(count, base_seed=base_seed, guidance_sweep=guidance_sweep)
    ]
    audit_record(actor=actor, project_id=shot.scene.project_id, verb="variations requested", obj=shot,
                 changes={"takes": [t.number for t in takes], "guidance_sweep": guidance_sweep})
    return takes
