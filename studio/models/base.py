"""Shared model pieces: timestamps, the trash (soft delete) and optimistic-concurrency versions."""

from django.db import models


class TrashableQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def trashed(self):
        return self.filter(deleted_at__isnull=False)


class Timestamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Trashable(models.Model):
    """Deleting moves a row to the trash; an owner can restore it for 30 days."""

    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = TrashableQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_trashed(self) -> bool:
        return self.deleted_at is not None


class Versioned(models.Model):
    """A counter bumped on every save through a service; a stale save is refused (HTTP 409)."""

    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True
