"""Screenplay import: a Fountain file becomes scenes and cast, and re-imports update in place.

Matching on re-import, in this order: a scene whose heading (and scene number) is unchanged keeps
its row; a new heading that sits where an unmatched old scene sat is that scene, changed; what is
left of the new script is added, and what is left of the old one is marked omitted (its shots
are kept, as production scripts keep OMITTED scenes rather than renumbering).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from studio import events
from studio.models import CastKind, CastMember, Project, Scene, ScriptSource
from studio.screenplay import ParsedCharacter, ParsedScene, ParsedScript, decode_script, parse_fountain, slugify_handle
from studio.services import webhooks
from studio.services.audit import audit_record
from studio.services.shots import shot_create

SCENE_FIELDS_FROM_SCRIPT = ("heading", "interior_exterior", "location", "time_of_day", "scene_number", "synopsis", "action")
DEFAULT_SHOT_SECONDS = 4


@dataclass
class ImportReport:
    version: int
    unchanged_script: bool = False
    scenes_added: list[str] = field(default_factory=list)
    scenes_changed: list[dict[str, Any]] = field(default_factory=list)
    scenes_removed: list[str] = field(default_factory=list)
    scenes_unchanged: int = 0
    cast_added: list[str] = field(default_factory=list)
    shots_created: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def script_import(*, project: Project, actor, data: bytes, filename: str = "", create_shots: bool = True) -> ImportReport:
    """Parse first (outside the transaction), then apply everything in one transaction."""
    text = decode_script(data)
    parsed = parse_fountain(text)
    return _apply(project=project, actor=actor, text=text, parsed=parsed, filename=filename, create_shots=create_shots)


@transaction.atomic
def _apply(*, project: Project, actor, text: str, parsed: ParsedScript, filename: str, create_shots: bool) -> ImportReport:
    Project.objects.select_for_update().get(pk=project.pk)  # one import at a time per project
    sha = hashlib.sha256(text.encode()).hexdigest()
    latest = project.scripts.order_by("-version").first()
    if latest and latest.sha256 == sha:
        return ImportReport(version=latest.version, unchanged_script=True)

    version = (latest.version if latest else 0) + 1
    report = ImportReport(version=version)
    handles = _FreeHandles(project)
    characters = _import_characters(project, handles, parsed.characters, report)
    locations = _import_locations(project, handles, parsed.scenes, report)
    new_scenes = _import_scenes(project, actor, parsed.scenes, locations, report)
    if create_shots:
        _create_first_shots(actor, new_scenes, characters, report)

    ScriptSource.objects.create(
        project=project, version=version, filename=filename[:200], text=text, sha256=sha,
        title=parsed.title_page.get("title", "")[:200], report=report.as_dict(), imported_by=actor,
    )
    audit_record(actor=actor, project_id=project.id, verb="script imported", obj=project, changes=report.as_dict())
    events.publish(project.id, "script.imported", {"version": version})
    webhooks.script_imported(project, report, actor)
    return report


class _FreeHandles:
    """Cast handles for new members, chosen as services.cast.unique_handle chooses them (name_2,
    name_3, ...) but from one query: a query per try made a script of many clashing names
    quadratic. The import holds the project's row lock, so nobody takes a handle meanwhile."""

    def __init__(self, project: Project):
        self.taken = set(CastMember.objects.alive().filter(project=project).values_list("handle", flat=True))
        self.next_suffix: dict[str, int] = {}

    def take(self, name: str) -> str:
        base = slugify_handle(name) or "cast"
        handle, suffix = base, self.next_suffix.get(base, 2)
        while handle in self.taken:
            handle, suffix = f"{base}_{suffix}", suffix + 1
        self.next_suffix[base] = suffix
        self.taken.add(handle)
        return handle


def _import_characters(project, handles: _FreeHandles, parsed: list[ParsedCharacter], report: ImportReport) -> dict[str, CastMember]:
    existing = list(CastMember.objects.alive().filter(project=project, kind=CastKind.CHARACTER))
    by_name = {c.name.lower(): c for c in existing}
    by_handle = {c.handle: c for c in existing}
    result = {}
    for character in parsed:
        member = by_name.get(character.name.lower()) or by_handle.get(character.handle)
        if member is None:
            member = CastMember.objects.create(
                project=project, kind=CastKind.CHARACTER, name=proper_case(character.name),
                handle=handles.take(character.handle),
            )
            report.cast_added.append(member.handle)
        result[character.handle] = member
    return result


def _import_locations(project, handles: _FreeHandles, scenes: list[ParsedScene], report: ImportReport) -> dict[str, CastMember]:
    existing = {c.name.lower(): c for c in CastMember.objects.alive().filter(project=project, kind=CastKind.LOCATION)}
    for scene in scenes:
        name = _location_name(scene)
        if name and name.lower() not in existing:
            member = CastMember.objects.create(project=project, kind=CastKind.LOCATION, name=name, handle=handles.take(name))
            existing[name.lower()] = member
            report.cast_added.append(member.handle)
    return existing


def proper_case(name: str) -> str:
    """ "KEEPER'S COTTAGE" -> "Keeper's Cottage" (str.title would give "Keeper'S")."""
    return re.sub(r"'S\b", "'s", name.title())


def _location_name(scene: ParsedScene) -> str:
    return proper_case(scene.location)[:120] if scene.location else ""


def _scene_values(parsed: ParsedScene) -> dict[str, Any]:
    return {
        "heading": parsed.heading[:300],
        "interior_exterior": parsed.interior_exterior,
        "location": parsed.location[:200],
        "time_of_day": parsed.time_of_day[:60],
        "scene_number": parsed.scene_number[:20],
        "synopsis": parsed.synopsis,
        "action": parsed.action_summary,
    }


def _match_key(heading: str, number: str) -> tuple[str, str]:
    return (" ".join(heading.upper().split()), number)


def _pair_scenes(old: list[Scene], new: list[ParsedScene]) -> dict[int, Scene]:
    """Map new scene index -> old scene: exact headings first, then unmatched neighbours by position.
    Linear in the scenes (a feature re-import compares thousands), by keys and a moving cursor."""
    pairs: dict[int, Scene] = {}
    by_key: dict[tuple[str, str], deque[Scene]] = defaultdict(deque)
    for scene in old:
        by_key[_match_key(scene.heading, scene.scene_number)].append(scene)
    for i, parsed in enumerate(new):
        same_heading = by_key.get(_match_key(parsed.heading, parsed.scene_number))
        if same_heading:
            pairs[i] = same_heading.popleft()  # the first unused old scene with this heading
    pairs.update(_pair_neighbours(old, len(new), pairs))
    return pairs


def _pair_neighbours(old: list[Scene], new_count: int, exact: dict[int, Scene]) -> dict[int, Scene]:
    """An unmatched new scene takes the first unused old scene that sits between the old scenes of
    its matched neighbours (lower: any pair before it; upper: the exact pairs after it)."""
    position = {s.pk: n for n, s in enumerate(old)}
    used = {s.pk for s in exact.values()}
    upper_from = [len(old)] * (new_count + 1)  # upper_from[i]: lowest old position paired at i or later
    for i in range(new_count - 1, -1, -1):
        upper_from[i] = min(upper_from[i + 1], position[exact[i].pk]) if i in exact else upper_from[i + 1]
    pairs: dict[int, Scene] = {}
    lower, cursor = -1, 0  # old scenes before the cursor are used or not after `lower`
    for i in range(new_count):
        if i in exact:
            lower = max(lower, position[exact[i].pk])
            continue
        cursor = max(cursor, lower + 1)
        while cursor < len(old) and old[cursor].pk in used:
            cursor += 1
        if cursor < upper_from[i + 1]:
            pairs[i], lower = old[cursor], cursor
            used.add(old[cursor].pk)
    return pairs


def _import_scenes(project, actor, parsed: list[ParsedScene], locations, report: ImportReport) -> list[tuple[Scene, ParsedScene]]:
    old = list(Scene.objects.alive().filter(project=project).order_by("order", "id"))
    pairs = _pair_scenes(old, parsed)
    created = []
    for order, scene_data in enumerate(parsed, start=1):
        values = {**_scene_values(scene_data), "order": order, "omitted": False}
        location = locations.get(_location_name(scene_data).lower())
        scene = pairs.get(order - 1)
        if scene is None:
            scene = Scene.objects.create(project=project, location_cast=location, **values)
            report.scenes_added.append(scene.heading)
            created.append((scene, scene_data))
            continue
        changes = {k: [getattr(scene, k), v] for k, v in values.items() if getattr(scene, k) != v and k != "order"}
        for name, value in values.items():
            setattr(scene, name, value)
        if "location" in changes or scene.location_cast is None:
            scene.location_cast = location
        if changes:
            scene.version += 1
            report.scenes_changed.append({"heading": scene.heading, "changes": changes})
        else:
            report.scenes_unchanged += 1
        scene.save()
    _omit_unmatched(old, set(s.pk for s in pairs.values()), parsed_count=len(parsed), report=report)
    return created


def _omit_unmatched(old: list[Scene], matched: set[int], *, parsed_count: int, report: ImportReport) -> None:
    next_order = parsed_count + 1
    for scene in old:
        if scene.pk in matched:
            continue
        if not scene.omitted:
            report.scenes_removed.append(scene.heading)
        scene.omitted, scene.order = True, next_order
        next_order += 1
        scene.save(update_fields=["omitted", "order", "updated_at"])


def _create_first_shots(actor, new_scenes, characters: dict[str, CastMember], report: ImportReport) -> None:
    """A first shot per new scene: its action as the prompt, its location and speakers as the cast."""
    for scene, parsed in new_scenes:
        mentions = [f"@{characters[h].handle}" for h in parsed.characters if h in characters]
        if scene.location_cast:
            mentions.insert(0, f"@{scene.location_cast.handle}")
        prompt = " ".join([parsed.action_summary or parsed.heading, *mentions]).strip()
        shot_create(scene=scene, actor=actor, prompt=prompt, duration_s=DEFAULT_SHOT_SECONDS)
        report.shots_created += 1

