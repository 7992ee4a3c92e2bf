from __future__ import annotations

import re
import zlib
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from studio import events, selectors
from studio.backends import validate_backend_name
from studio.models import CastMember, Project, Scene, Shot, ShotCast
from studio.services.audit import audit_record
from studio.services.common import save_versioned, trash

MENTION = re.compile(r"(?<![\w@])@([a-z0-9_]+)", re.IGNORECASE)
SHOT_EDITABLE_FIELDS = {"code", "prompt", "shot_size", "camera_move", "lens_mm", "duration_s", "seed", "backend",
                        "continue_from_previous"}
SCENE_EDITABLE_FIELDS = {"heading", "interior_exterior", "location", "time_of_day", "synopsis", "location_cast", "scene_number"}
MAX_SHOT_SECONDS = Decimal("60")


def mentioned_handles(prompt: str) -> list[str]:
    """@handles in the order they first appear."""
    seen: list[str] = []
    for handle in (m.lower() for m in MENTION.findall(prompt)):
        if handle not in seen:
            seen.append(handle)
    return seen


def cast_for_prompt(project_id: int, prompt: str) -> list[CastMember]:
    """The live cast members a prompt @mentions, in order; ValidationError naming any unknown handle."""
    handles = mentioned_handles(prompt)
    found = {c.handle: c for c in CastMember.objects.alive().filter(project_id=project_id, handle__in=handles)}
    unknown = [h for h in handles if h not in found]
    if unknown:
        raise ValidationError("Unknown cast in the prompt: " + ", ".join(f"@{h}" for h in unknown) + ".")
    return [found[h] for h in handles]


def _set_shot_cast(shot: Shot, cast: list[CastMember]) -> None:
    ShotCast.objects.filter(shot=shot).delete()
    ShotCast.objects.bulk_create([ShotCast(shot=shot, cast_member=c, order=i) for i, c in enumerate(cast)])


def _relink_shot_cast(shot: Shot, cast: list[CastMember]) -> bool:
    """An edited shot's cast as its prompt names it now; False when it already was (nothing
    written). The same prompt can name other members than before: "@bob" trashed and a new
    "@bob" made, the shot saved unchanged."""
    linked = list(ShotCast.objects.filter(shot=shot).order_by("order").values_list("cast_member_id", flat=True))
    if linked == [member.id for member in cast]:
        return False
    _set_shot_cast(shot, cast)
    return True


def default_seed(scene: Scene, code: str) -> int:
    # Stable, so an untouched shot renders the same on every machine.
    return zlib.crc32(f"{scene.project_id}:{scene.pk}:{code}".encode())


def _next_code(scene: Scene) -> str:
    count = scene.shots.count()
    prefix = scene.scene_number or str(scene.order)
    return f"{prefix}{_letters(count)}"


def _letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _check_shot_values(shot: Shot) -> None:
    if not Decimal("0.25") <= Decimal(shot.duration_s) <= MAX_SHOT_SECONDS:
        raise ValidationError(f"A shot lasts between 0.25 and {MAX_SHOT_SECONDS} seconds.")
    if not 8 <= shot.lens_mm <= 600:
        raise ValidationError("Lens must be between 8 and 600 mm.")
    if shot.backend:
        validate_backend_name(shot.backend)


@transaction.atomic
def scene_create(*, project: Project, actor, heading: str, **fields) -> Scene:
    order = (project.scenes.aggregate(m=Max("order"))["m"] or 0) + 1
    scene = Scene.objects.create(project=project, order=order, heading=heading, **fields)
    audit_record(actor=actor, project_id=project.id, verb="created", obj=scene)
    events.publish(project.id, "scene.changed", {"scene": scene.id})
    return scene


@transaction.atomic
def scene_update(*, scene: Scene, actor, expected_version: int | None = None, **changes) -> Scene:
    diff = save_versioned(scene, expected_version=expected_version, changes=changes, allowed=SCENE_EDITABLE_FIELDS)
    if diff:
        audit_record(actor=actor, project_id=scene.project_id, verb="updated", obj=scene, changes=diff)
        events.publish(scene.project_id, "scene.changed", {"scene": scene.id})
    return scene


@transaction.atomic
def scene_trash(*, scene: Scene, actor) -> None:
    trash(scene, actor=actor, project_id=scene.project_id)
    events.publish(scene.project_id, "scene.changed", {"scene": scene.id})


@transaction.atomic
def shot_create(*, scene: Scene, actor, prompt: str = "", code: str = "", **fields) -> Shot:
    Scene.objects.select_for_update().get(pk=scene.pk)  # serialise orders and codes within the scene
    cast = cast_for_prompt(scene.project_id, prompt)
    code = code or _next_code(scene)
    order = (scene.shots.aggregate(m=Max("order"))["m"] or 0) + 1
    fields.setdefault("seed", default_seed(scene, code))
    shot = Shot(scene=scene, order=order, code=code, prompt=prompt, **fields)
    _check_shot_values(shot)
    shot.full_clean(exclude=["scene", "approved_take"])
    shot.save()
    _set_shot_cast(shot, cast)
    audit_record(actor=actor, project_id=scene.project_id, verb="created", obj=shot)
    events.publish(scene.project_id, "shot.changed", {"shot": shot.id, "scene": scene.id})
    return shot


@transaction.atomic
def shot_update(*, shot: Shot, actor, expected_version: int | None = None, **changes) -> Shot:
    """Save edits if nobody else saved since `expected_version`; mentions in the prompt become the cast."""
    return _shot_update(shot, actor, expected_version, changes, already_locked=False, project_id=shot.scene.project_id)


@transaction.atomic
def shot_update_in_project(*, project: Project, shot_id: int, actor, expected_version: int | None = None, **changes) -> Shot:
    """shot_update for a caller holding the project and the shot's id, not the shot (the API): the
    shot is read once, locked, instead of read by the caller and again locked here, so the edit's
    event goes out sooner (BENCHMARKS.md, issue 15). Shot.DoesNotExist when it is not a live shot
    of a live scene of the project."""
    shot = selectors.shot_to_edit(project, shot_id)
    return _shot_update(shot, actor, expected_version, changes, already_locked=True, project_id=project.id)


def _shot_update(shot: Shot, actor, expected_version: int | None, changes: dict, *, already_locked: bool,
                 project_id: int) -> Shot:
    cast = cast_for_prompt(project_id, changes["prompt"]) if "prompt" in changes else None
    diff = save_versioned(shot, expected_version=expected_version, changes=changes, allowed=SHOT_EDITABLE_FIELDS,
                          already_locked=already_locked)
    _check_shot_values(shot)
    relinked = cast is not None and _relink_shot_cast(shot, cast)
    if diff:
        audit_record(actor=actor, project_id=project_id, verb="updated", obj=shot, changes=diff)
    if diff or relinked:
        events.publish(project_id, "shot.changed", {"shot": shot.id, "scene": shot.scene_id, "version": shot.version})
    return shot


@transaction.atomic
def shot_duplicate(*, shot: Shot, actor) -> Shot:
    copy_fields = {name: getattr(shot, name) for name in SHOT_EDITABLE_FIELDS - {"code", "prompt", "seed"}}
    return shot_create(scene=shot.scene, actor=actor, prompt=shot.prompt, **copy_fields)


@transaction.atomic
def shots_reorder(*, scene: Scene, actor, shot_ids: list[int]) -> None:
    current = set(scene.shots.alive().values_list("id", flat=True))
    if set(shot_ids) != current or len(shot_ids) != len(current):
        raise ValidationError("The new order must list every shot of the scene exactly once.")
    for order, shot_id in enumerate(shot_ids, start=1):
        Shot.objects.filter(pk=shot_id).update(order=order)
    audit_record(actor=actor, project_id=scene.project_id, verb="shots reordered", obj=scene, changes={"order": shot_ids})
    events.publish(scene.project_id, "scene.reordered", {"scene": scene.id, "shots": shot_ids})


@transaction.atomic
def shot_trash(*, shot: Shot, actor) -> None:
    trash(shot, actor=actor, project_id=shot.scene.project_id)
    events.publish(shot.scene.project_id, "shot.changed", {"shot": shot.id, "scene": shot.scene_id, "trashed": True})
