from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from studio import access, events, selectors
from studio.models import Cut, CutEntry, Export, ExportFormat, Project, Shot, Take
from studio.services import dispatch, exports
from studio.services.audit import audit_record
from studio.services.common import StaleVersion, save_versioned, snapshot_fields, trash
from studio.services.render_rate import RenderQuota
from studio.services.render_requests import take_request

CUT_EDITABLE_FIELDS = {"name", "description"}


@transaction.atomic
def cut_create(*, project: Project, actor, name: str, description: str = "", from_board: bool = True) -> Cut:
    """A new cut; by default every live shot in board order, each playing its approved take."""
    name = name.strip()  # check the name that will be stored, or " A" slips past and hits the constraint
    if Cut.objects.alive().filter(project=project, name=name).exists():
        raise ValidationError(f"There is already a cut named {name!r}.")
    cut = Cut.objects.create(project=project, name=name.strip(), description=description, created_by=actor)
    if from_board:
        shots = selectors.shots_in_order(project).filter(scene__omitted=False)
        CutEntry.objects.bulk_create([CutEntry(cut=cut, order=i, shot=s) for i, s in enumerate(shots, start=1)])
    audit_record(actor=actor, project_id=project.id, verb="created", obj=cut)
    events.publish(project.id, "cut.changed", {"cut": cut.id})
    return cut


@transaction.atomic
def cut_create_from_approved(*, project: Project, actor, name: str, description: str = "", scene_ids: list[int] | None = None,
                             shot_ids: list[int] | None = None) -> Cut:
    """A new cut of the shots that have an approved take, in board order: the whole project, some
    scenes, or the shots a board filter shows (`shot_ids`). Each entry plays its approved take."""
    shots = selectors.approved_shots_in_order(project, scene_ids=scene_ids, shot_ids=shot_ids)
    if not shots:
        raise ValidationError("No shot here has an approved take yet: approve takes in the review room first.")
    cut = cut_create(project=project, actor=actor, name=name, description=description, from_board=False)
    CutEntry.objects.bulk_create([CutEntry(cut=cut, order=i, shot=s) for i, s in enumerate(shots, start=1)])
    audit_record(actor=actor, project_id=project.id, verb="filled from approved takes", obj=cut,
                 changes={"shots": [s.code for s in shots]})
    return cut


@transaction.atomic
def cut_update(*, cut: Cut, actor, expected_version: int | None = None, **changes) -> Cut:
    diff = save_versioned(cut, expected_version=expected_version, changes=changes, allowed=CUT_EDITABLE_FIELDS)
    if diff:
        audit_record(actor=actor, project_id=cut.project_id, verb="updated", obj=cut, changes=diff)
        events.publish(cut.project_id, "cut.changed", {"cut": cut.id})
    return cut


def _bump(cut: Cut, expected_version: int | None) -> None:
    locked = Cut.objects.select_for_update().get(pk=cut.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(locked, snapshot_fields(locked, ["name", "description", "version"]))
    locked.version += 1
    locked.save(update_fields=["version", "updated_at"])
    cut.version = locked.version


@transaction.atomic
def cut_entry_add(*, cut: Cut, actor, shot: Shot, take: Take | None = None, expected_version: int | None = None) -> CutEntry:
    if shot.scene.project_id != cut.project_id or (take and take.shot_id != shot.id):
        raise ValidationError("That shot or take is not part of this cut's project.")
    _bump(cut, expected_version)
    order = (cut.entries.aggregate(m=Max("order"))["m"] or 0) + 1
    entry = CutEntry.objects.create(cut=cut, order=order, shot=shot, take=take)
    audit_record(actor=actor, project_id=cut.project_id, verb="entry added", obj=cut, changes={"shot": shot.code})
    events.publish(cut.project_id, "cut.changed", {"cut": cut.id})
    return entry


@transaction.atomic
def cut_entry_update(*, entry: CutEntry, actor, take: Take | None = None, in_frame: int = 0, out_frame: int | None = None,
                     expected_version: int | None = None) -> CutEntry:
    """Swap the take ("None" means the approved one) and trim; frames are checked against the take."""
    if take is not None and take.shot_id != entry.shot_id:
        raise ValidationError("That take belongs to another shot.")
    playing = selectors.shot_playing_take(entry.shot, chosen=take)
    length = playing.frames if playing else None
    if in_frame < 0 or (out_frame is not None and out_frame <= in_frame):
        raise ValidationError("The out point must come after the in point.")
    if length and (in_frame >= length or (out_frame or 0) > length):
        raise ValidationError(f"The take has {length} frames; trim within 0–{length}.")
    _bump(entry.cut, expected_version)
    entry.take, entry.in_frame, entry.out_frame = take, in_frame, out_frame
    entry.save(update_fields=["take", "in_frame", "out_frame"])
    audit_record(actor=actor, project_id=entry.cut.project_id, verb="entry changed", obj=entry.cut,
                 changes={"shot": entry.shot.code, "take": take.number if take else None, "in": in_frame, "out": out_frame})
    events.publish(entry.cut.project_id, "cut.changed", {"cut": entry.cut_id})
    return entry


@transaction.atomic
def cut_entry_remove(*, entry: CutEntry, actor, expected_version: int | None = None) -> None:
    cut_entries_remove(cut=entry.cut, actor=actor, entry_ids=[entry.id], expected_version=expected_version)


def _present(cut: Cut):
    return cut.entries.filter(deleted_at__isnull=True)


@transaction.atomic
def cut_entries_remove(*, cut: Cut, actor, entry_ids: list[int], expected_version: int | None = None) -> list[int]:
    """Take entries out of the cut, softly: `cut_entries_restore` undoes it. Returns their ids."""
    entries = list(_present(cut).filter(pk__in=entry_ids).select_related("shot"))
    if not entry_ids or len(entries) != len(set(entry_ids)):
        raise ValidationError("Choose entries of this cut to remove.")
    _bump(cut, expected_version)
    CutEntry.objects.filter(pk__in=[e.id for e in entries]).update(deleted_at=timezone.now())
    audit_record(actor=actor, project_id=cut.project_id, verb="entries removed", obj=cut,
                 changes={"shots": [e.shot.code for e in entries]})
    events.publish(cut.project_id, "cut.changed", {"cut": cut.id})
    return [e.id for e in entries]


@transaction.atomic
def cut_entries_restore(*, cut: Cut, actor, entry_ids: list[int], expected_version: int | None = None) -> int:
    """Undo a removal: the entries come back where they were."""
    removed = cut.entries.filter(pk__in=entry_ids, deleted_at__isnull=False)
    if not entry_ids or removed.count() != len(set(entry_ids)):
        raise ValidationError("Those entries are not removed from this cut, so there is nothing to undo.")
    _bump(cut, expected_version)
    codes = list(removed.values_list("shot__code", flat=True))
    restored = removed.update(deleted_at=None)
    audit_record(actor=actor, project_id=cut.project_id, verb="entries restored", obj=cut, changes={"shots": codes})
    events.publish(cut.project_id, "cut.changed", {"cut": cut.id})
    return restored


@transaction.atomic
def cut_entries_move(*, cut: Cut, actor, entry_ids: list[int], to: str, expected_version: int | None = None) -> None:
    """Move the chosen entries (keeping their order) to the start or the end of the cut."""
    if to not in ("start", "end"):
        raise ValidationError("Move entries to the start or the end.")
    order = list(_present(cut).order_by("order", "id").values_list("id", flat=True))
    chosen = [i for i in order if i in set(entry_ids)]
    if not entry_ids or len(chosen) != len(set(entry_ids)):
        raise ValidationError("Choose entries of this cut to move.")
    rest = [i for i in order if i not in set(chosen)]
    cut_reorder(cut=cut, actor=actor, entry_ids=chosen + rest if to == "start" else rest + chosen,
                expected_version=expected_version)


@transaction.atomic
def cut_reorder(*, cut: Cut, actor, entry_ids: list[int], expected_version: int | None = None) -> None:
    current = set(_present(cut).values_list("id", flat=True))
    if set(entry_ids) != current or len(entry_ids) != len(current):
        raise ValidationError("The new order must list every entry of the cut exactly once.")
    _bump(cut, expected_version)
    for order, entry_id in enumerate(entry_ids, start=1):
        CutEntry.objects.filter(pk=entry_id).update(order=order)
    audit_record(actor=actor, project_id=cut.project_id, verb="reordered", obj=cut, changes={"order": entry_ids})
    events.publish(cut.project_id, "cut.changed", {"cut": cut.id})


@transaction.atomic
def cut_trash(*, cut: Cut, actor) -> None:
    trash(cut, actor=actor, project_id=cut.project_id)
    events.publish(cut.project_id, "cut.changed", {"cut": cut.id, "trashed": True})


def cut_render(*, cut: Cut, actor) -> list:
    """Ask for a take of every shot in the cut; unchanged shots reuse their finished take.

    One request against the rate limit, however many shots the cut has."""
    quota = RenderQuota()
    return [take_request(shot=row.entry.shot, actor=actor, quota=quota) for row in selectors.cut_timeline(cut)]


class DraftNotConfirmed(Exception):
    """The cut would export as a draft (shots not approved, changed or failed) and nobody said
    "export anyway" yet. `report` names the shots."""

    def __init__(self, report: selectors.CutDraftReport):
        super().__init__("This export would be a draft.")
        self.report = report


@transaction.atomic
def export_request(*, cut: Cut, actor, fmt: str, rights_override: bool = False, internal_draft: bool = False,
                   require_draft_confirmation: bool = False) -> Export:
    """Queue an export. With `require_draft_confirmation`, a cut whose shots are not all final is
    refused with DraftNotConfirmed (the edge asks, then asks again without it); either way such an
    export is named "(draft)" and lists those shots (studio/services/exports.py)."""
    ExportFormat(fmt)
    if rights_override and not access.can(actor, cut.project, access.Action.MANAGE):
        raise PermissionDenied("Only an owner can override unknown rights.")
    draft = selectors.cut_draft_report(cut)
    # Shots with no finished take are exported as slates (services/exports.py), a draft like the rest.
    refusal = exports.rights_refusal(cut=cut, internal_draft=internal_draft, rights_override=rights_override)
    if refusal:
        raise ValidationError(refusal)
    if draft.is_draft and require_draft_confirmation:
        raise DraftNotConfirmed(draft)
    export = Export.objects.create(cut=cut, format=fmt, requested_by=actor, rights_override=rights_override,
                                   internal_draft=internal_draft)
    audit_record(actor=actor, project_id=cut.project_id, verb="export requested", obj=export,
                 changes={"format": fmt, "rights_override": rights_override, "internal_draft": internal_draft})
    events.publish(cut.project_id, "export.changed", {"export": selectors.export_payload(export)})
    transaction.on_commit(lambda: dispatch.enqueue_export(export.id))
    return export
