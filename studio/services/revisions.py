"""Script revisions: mark the shots a revision touched for re-render.

A marked shot shows as stale on the board (selectors.shot_board_status) until a take is asked for
after the mark; nothing is rendered or thrown away here, the team decides what to re-render."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from studio import events
from studio.models import Project, Shot
from studio.services.audit import audit_record

MAX_REASON_CHARS = 200


@transaction.atomic
def shots_mark_for_rerender(*, project: Project, actor, shot_ids: list[int], reason: str) -> list[Shot]:
    """Mark these live shots of the project stale with a reason ("script v3 changed the dialogue");
    ids of other projects' or trashed shots are ignored. Returns the shots marked."""
    shots = list(Shot.objects.live().select_for_update(of=("self",)).filter(scene__project=project, id__in=shot_ids)
                 .order_by("scene__order", "order", "id"))
    if not shots:
        return []
    now = timezone.now()
    Shot.objects.filter(id__in=[shot.id for shot in shots]).update(
        rerender_marked_at=now, rerender_reason=reason[:MAX_REASON_CHARS], updated_at=now)
    for shot in shots:
        shot.rerender_marked_at, shot.rerender_reason = now, reason[:MAX_REASON_CHARS]
    audit_record(actor=actor, project_id=project.id, verb="marked for re-render", obj=project,
                 changes={"shots": [shot.code for shot in shots], "reason": reason[:MAX_REASON_CHARS]})
    for scene_id in dict.fromkeys(shot.scene_id for shot in shots):  # one event per scene, not per shot
        events.publish(project.id, "scene.changed", {"scene": scene_id})
    return shots
