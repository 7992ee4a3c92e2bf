from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from studio.services.audit import audit_record


class StaleVersion(Exception):
    """Someone saved this object after you loaded it. Carries the current values for the UI (HTTP 409)."""

    def __init__(self, obj: models.Model, current: dict[str, Any]):
        self.obj = obj
        self.current = current
        super().__init__(f"{obj._meta.verbose_name.capitalize()} was changed by someone else; reload to see their edit.")


def snapshot_fields(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    return {name: _jsonable(getattr(obj, name)) for name in fields}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, models.Model):
        return value.pk
    return str(value)


def apply_changes(obj: models.Model, changes: dict[str, Any], *, allowed: set[str]) -> dict[str, list[Any]]:
    """Set the allowed fields, validate them, and return {field: [old, new]} for what really changed."""
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    diff = {}
    for name, value in changes.items():
        old = getattr(obj, name)
        if old != value:
            diff[name] = [_jsonable(old), _jsonable(value)]
            setattr(obj, name, value)
    unchanged = [f.name for f in obj._meta.fields if f.name not in changes]
    obj.full_clean(exclude=unchanged or None, validate_unique=False, validate_constraints=False)
    obj.validate_constraints()  # all of them: a rename can collide through a field it did not touch
    return diff


def save_versioned(obj: models.Model, *, expected_version: int | None, changes: dict[str, Any], allowed: set[str],
                   already_locked: bool = False) -> dict[str, list[Any]]:
    """Optimistic concurrency: the write succeeds only if nobody bumped the version meanwhile.
    `already_locked`: the caller read `obj` with select_for_update in this transaction; it is not read again."""
    model = type(obj)
    locked = obj if already_locked else model.objects.select_for_update().get(pk=obj.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(locked, snapshot_fields(locked, sorted(allowed | {"version"})))
    diff = apply_changes(locked, changes, allowed=allowed)
    if diff:
        locked.version += 1
        locked.save()
    obj.__dict__.update(locked.__dict__)
    return diff


def trash(obj: models.Model, *, actor, project_id: int) -> None:
    obj.deleted_at = timezone.now()
    obj.save(update_fields=["deleted_at"])
    audit_record(actor=actor, project_id=project_id, verb="trashed", obj=obj)


def restore(obj: models.Model, *, actor, project_id: int) -> None:
    obj.deleted_at = None
    obj.save(update_fields=["deleted_at"])
    audit_record(actor=actor, project_id=project_id, verb="restored", obj=obj)
