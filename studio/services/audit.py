from __future__ import annotations

from typing import Any

from django.db import models

from studio.models import AuditEvent


def audit_record(*, actor, project_id: int | None, verb: str, obj: models.Model, changes: dict[str, Any] | None = None) -> AuditEvent:
    return AuditEvent.objects.create(
        project_id=project_id,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        verb=verb,
        object_type=obj._meta.model_name,
        object_id=str(obj.pk or ""),
        object_repr=str(obj)[:200],
        changes=changes or {},
    )
