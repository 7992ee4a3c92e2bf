"""What a person does to a take that exists: cancel its render, move it to the trash.

Asking for a take is in render_requests.py, the render rate in render_rate.py, and the worker's
side of its lifecycle in renders.py.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from studio import events, selectors
from studio.models import CutEntry, Take, TakeStatus
from studio.services.audit import audit_record
from studio.services.common import trash


@transaction.atomic
def take_cancel(*, take: Take, actor) -> Take:
    """Queued takes are cancelled at once; running ones are flagged and stop at the next step."""
    take = Take.objects.select_for_update().get(pk=take.pk)
    if take.is_final:
        raise ValidationError(f"Take {take.number} is already {take.status}.")
    if take.status == TakeStatus.QUEUED:
        _finish(take, TakeStatus.CANCELLED, error="Cancelled before it started.")
    else:
        Take.objects.filter(pk=take.pk).update(cancel_requested=True)
        take.cancel_requested = True
    audit_record(actor=actor, project_id=take.shot.scene.project_id, verb="render cancelled", obj=take)
    return take


@transaction.atomic
def take_trash(*, take: Take, actor) -> Take:
    """Move a finished take to the trash (an owner restores it for 30 days). Refused while it is
    rendering, while it is the shot's approved take, or while a cut plays it by choice: each of
    those would change something else without anyone asking."""
    take = Take.objects.select_for_update().select_related("shot__scene").get(pk=take.pk)
    if take.status in (TakeStatus.QUEUED, TakeStatus.RUNNING):
        raise ValidationError(f"Take {take.number} is still rendering; cancel it first.")
    if take.shot.approved_take_id == take.id:
        raise ValidationError(f"Take {take.number} is the approved take of {take.shot.code}; approve another take first.")
    cuts = sorted(CutEntry.objects.filter(take=take, cut__deleted_at__isnull=True).values_list("cut__name", flat=True).distinct())
    if cuts:
        raise ValidationError(f"Take {take.number} is chosen in the cut{'s' if len(cuts) > 1 else ''} "
                              f"{', '.join(cuts)}; choose another take there first.")
    trash(take, actor=actor, project_id=take.shot.scene.project_id)
    events.publish(take.shot.scene.project_id, "take.changed", {"take": selectors.take_payload(take)})
    return take


def _finish(take: Take, status: str, *, error: str = "") -> None:
    take.check_transition(status)
    take.status, take.error, take.finished_at = status, error, timezone.now()
    take.save(update_fields=["status", "error", "finished_at"])
    events.publish(take.shot.scene.project_id, "take.changed", {"take": selectors.take_payload(take)})
