"""The trash: an owner restores what was deleted in the last 30 days; older rows are purged, with
the files only they used (take videos and posters, reference images, exports)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction

from studio import events, media_store, selectors
from studio.models import CastMember, Cut, CutEntry, Export, Project, ReferenceImage, Scene, Shot, Take
from studio.services.common import restore

# kind (as the trash page posts it) -> (model, the lookup from that model to its project)
TRASHABLE_KINDS: dict[str, tuple[type[models.Model], str]] = {
    "scene": (Scene, "project"),
    "shot": (Shot, "scene__project"),
    "cast": (CastMember, "project"),
    "cut": (Cut, "project"),
    "take": (Take, "shot__scene__project"),
}
TAKE_FILE_FIELDS = ("video", "poster", "last_frame")


class NotInTrash(ValidationError):
    """No such row of this project in the restorable trash (views answer 404)."""


def trashed_object(*, project: Project, kind: str, object_id: int) -> models.Model:
    """A row of this project still in the restorable trash; NotInTrash when there is none."""
    if kind not in TRASHABLE_KINDS:
        raise NotInTrash(f"Nothing of kind {kind!r} can be restored.")
    model, to_project = TRASHABLE_KINDS[kind]
    obj = model.objects.filter(pk=object_id, deleted_at__gte=selectors.trash_cutoff(), **{to_project: project}).first()
    if obj is None:
        raise NotInTrash("That item is no longer in the trash.")
    return obj


@transaction.atomic
def trash_restore(*, project: Project, actor, kind: str, object_id: int) -> models.Model:
    obj = trashed_object(project=project, kind=kind, object_id=object_id)
    _check_no_live_twin(obj)
    restore(obj, actor=actor, project_id=project.id)
    _publish_restored(project.id, kind, obj)
    return obj


def _check_no_live_twin(obj: models.Model) -> None:
    # Handles and cut names are unique among live rows: restoring must not collide with a newer one.
    if isinstance(obj, CastMember) and CastMember.objects.alive().filter(project_id=obj.project_id, handle=obj.handle).exists():
        raise ValidationError(f"Another cast member now uses @{obj.handle}; rename it before restoring this one.")
    if isinstance(obj, Cut) and Cut.objects.alive().filter(project_id=obj.project_id, name=obj.name).exists():
        raise ValidationError(f"Another cut is now named {obj.name!r}; rename it before restoring this one.")


def _publish_restored(project_id: int, kind: str, obj: models.Model) -> None:
    # The same events the board, cast library and cut pages already refresh on.
    if kind == "scene":
        events.publish(project_id, "scene.changed", {"scene": obj.id})
    elif kind == "shot":
        events.publish(project_id, "shot.changed", {"shot": obj.id, "scene": obj.scene_id, "version": obj.version})
    elif kind == "cast":
        events.publish(project_id, "cast.changed", {"cast_member": obj.id})
    elif kind == "cut":
        events.publish(project_id, "cut.changed", {"cut": obj.id})
    else:
        events.publish(project_id, "take.changed", {"take": selectors.take_payload(obj)})


# --- Purge ---------------------------------------------------------------------------------------

def trash_purge(*, days: int = selectors.TRASH_KEEP_DAYS) -> dict[str, int]:
    """Delete rows trashed more than `days` ago (and what cascades from them), then the files no
    surviving row uses. Takes reused by signature share files, so a file goes only when no take,
    image or export left in the database names it."""
    cutoff = selectors.trash_cutoff(days)
    doomed_takes = Take.objects.filter(
        models.Q(deleted_at__lt=cutoff) | models.Q(shot__deleted_at__lt=cutoff) | models.Q(shot__scene__deleted_at__lt=cutoff)
        | models.Q(shot__scene__project__deleted_at__lt=cutoff)
    )
    doomed_images = ReferenceImage.objects.filter(
        models.Q(cast_member__deleted_at__lt=cutoff) | models.Q(cast_member__project__deleted_at__lt=cutoff))
    doomed_exports = Export.objects.filter(models.Q(cut__deleted_at__lt=cutoff) | models.Q(cut__project__deleted_at__lt=cutoff))
    files = (_file_names(doomed_takes, TAKE_FILE_FIELDS) | _file_names(doomed_images, ("image",))
             | _file_names(doomed_exports, ("file",)))
    counts = {}
    with transaction.atomic():
        _announce_purged_cast(cutoff)
        for kind, (model, _) in TRASHABLE_KINDS.items():
            counts[kind] = model.objects.filter(deleted_at__lt=cutoff).delete()[1].get(model._meta.label, 0)
        counts["project"] = Project.objects.filter(deleted_at__lt=cutoff).delete()[1].get(Project._meta.label, 0)
        # Entries removed from a cut (kept for "undo") and never brought back.
        counts["cut entry"] = CutEntry.objects.filter(deleted_at__lt=cutoff).delete()[1].get(CutEntry._meta.label, 0)
    counts["files"] = _delete_unused_files(files)
    return counts


def _announce_purged_cast(cutoff) -> None:
    """A cast member purged takes its links to live shots and scenes with it (the chips on the board
    and in the API, a scene's location): tell their live projects, so pages and cached boards
    keyed by the project's event number move on (after the commit, as every event)."""
    purged = CastMember.objects.filter(deleted_at__lt=cutoff, project__deleted_at__isnull=True)
    for cast_member_id, project_id in purged.values_list("id", "project_id"):
        events.publish(project_id, "cast.changed", {"cast_member": cast_member_id})


def _file_names(queryset, fields: tuple[str, ...]) -> set[str]:
    names = set()
    for row in queryset.values_list(*fields):
        names.update(name for name in row if name)
    return names


def _still_used(name: str) -> bool:
    return (
        Take.objects.filter(models.Q(video=name) | models.Q(poster=name) | models.Q(last_frame=name)).exists()
        or ReferenceImage.objects.filter(image=name).exists()
        or Export.objects.filter(file=name).exists()
    )


def _delete_unused_files(names: set[str]) -> int:
    root = Path(settings.MEDIA_ROOT).resolve()
    deleted = 0
    for name in sorted(names):
        path = (root / name).resolve()
        # Only stored names under projects/ are ours to delete; anything else is left alone.
        if not path.is_relative_to(root / "projects") or _still_used(name):
            continue
        try:
            deleted += media_store.delete(name)  # the local file, or the object in a remote store
        except media_store.MediaMissing:
            continue
    return deleted
