"""Shared model pieces: timestamps, the trash (soft delete) and optimistic-concurrency versions."""

from django.db import models


def live_q(model, prefix: str = "") -> models.Q:
    """The condition for a row of `model` (reached through `prefix`, e.g. "shot__") to be live: not
    in the trash itself, nor inside anything that is (a take of a shot whose scene is trashed is
    gone for everyone, guests included). Each model names its parents in `trash_parents`."""
    condition = models.Q(**{f"{prefix}deleted_at__isnull": True}) if hasattr(model, "deleted_at") else models.Q()
    for parent in model.trash_parents:
        parent_model = model._meta.get_field(parent).related_model
        condition &= live_q(parent_model, f"{prefix}{parent}__")
    return condition


class LiveQuerySet(models.QuerySet):
    def live(self):
        """Rows that are not trashed, nor in a trashed parent: what every selector lists."""
        return self.filter(live_q(self.model))


class TrashableQuerySet(LiveQuerySet):
    def alive(self):
        """Not trashed itself. For rows whose parent is already known to be live (a prefetch under
        a live shot, an object fetched through access checks); otherwise use live()."""
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
    # Foreign keys to the rows this one lives inside; trashing any of them hides this one (live_q).
    trash_parents: tuple[str, ...] = ()

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
