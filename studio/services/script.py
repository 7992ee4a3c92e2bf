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
from studio.screenplay import (
    ParsedCharacter, ParsedScene, ParsedScript, decode_script, location_key, parse_fountain, slugify_handle,
)
from studio.services import webhooks
from studio.services.audit import audit_record
from studio.services.shots import shot_create

SCENE_FIELDS_FROM_SCRIPT = ("heading", "interior_exterior", "location", "time_of_day", "scene_number", "synopsis", "action",
                            "dialogue")
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
    # The board scene each scene of this version became, in script order: a revision's diff pairs
    # scenes across versions by these ids, as the import paired them (services/script_revisions.py).
    scene_ids: list[int] = field(default_factory=list)

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


def _canonical_location_keys(keys: list[tuple[str, ...]]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Each place key -> the key it is one place with. A bare name ("LAMP ROOM") is the sub-location
    of the one longer key that ends with it ("LIGHTHOUSE - LAMP ROOM"), when exactly one does; with
    two candidates ("HOUSE - KITCHEN", "HOTEL - KITCHEN") it stays its own place."""
    longer_by_last: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for key in keys:
        if len(key) > 1:
            longer_by_last[key[-1]].add(key)
    canonical = {}
    for key in keys:
        candidates = longer_by_last.get(key[-1], set()) if len(key) == 1 else set()
        canonical[key] = next(iter(candidates)) if len(candidates) == 1 else key
    return canonical


def _import_locations(project, handles: _FreeHandles, scenes: list[ParsedScene], report: ImportReport) -> dict[tuple[str, ...], CastMember]:
    """Location cast by place key (screenplay.location_key): INT./EXT., the time of day, a leading
    "THE" and the sub-location path do not make a new place. Existing members are matched by the
    key of their name, so a location imported before (or renamed to the same words) is reused."""
    existing = list(CastMember.objects.alive().filter(project=project, kind=CastKind.LOCATION).order_by("id"))
    member_keys = [(location_key(member.name), member) for member in existing]
    names = {}  # a scene's own place key -> its name as written
    for scene in scenes:
        if key := location_key(scene.location):
            names.setdefault(key, _location_name(scene))
    canonical = _canonical_location_keys([*(key for key, _ in member_keys if key), *names])
    by_place: dict[tuple[str, ...], CastMember] = {}
    for key, member in member_keys:
        if key:
            by_place.setdefault(canonical[key], member)
    by_key: dict[tuple[str, ...], CastMember] = {}
    for key in names:
        place = canonical[key]
        if place not in by_place:
            name = names.get(place) or names[key]
            by_place[place] = CastMember.objects.create(project=project, kind=CastKind.LOCATION, name=name,
                                                        handle=handles.take(name))
            report.cast_added.append(by_place[place].handle)
        by_key[key] = by_place[place]
    return by_key


def _location_name_of_key(key: tuple[str, ...]) -> str:
    return proper_case(" - ".join(key))[:120]


def _proper_case_word(word: str) -> str:
    """One word: all capitals -> "Keeper's" (str.title would give "Keeper'S"); a word the writer
    spelt with small letters keeps them, and only its capitals after the last small letter are
    lowered ("McKENZIE" -> "McKenzie", "MacDONALD" -> "MacDonald", "iPhone" stays)."""
    last_small = max((n for n, ch in enumerate(word) if ch.islower()), default=-1)
    if last_small == -1 or not any(ch.isupper() for ch in word):
        return re.sub(r"'S\b", "'s", word.title())
    head, tail = word[:last_small + 1], word[last_small + 1:]
    return head + (tail[:1] + tail[1:].lower() if tail else "")


def proper_case(name: str) -> str:
    """ "KEEPER'S COTTAGE" -> "Keeper's Cottage"; "McKENZIE" -> "McKenzie" (a forced @McKENZIE cue
    was written with its small letters on purpose)."""
    return " ".join(_proper_case_word(word) for word in name.split(" "))


def _location_name(scene: ParsedScene) -> str:
    """The cast name of a scene's place: its words as written, less a leading article."""
    return _location_name_of_key(location_key(scene.location)) if scene.location else ""


def _scene_values(parsed: ParsedScene) -> dict[str, Any]:
    return {
        "heading": parsed.heading[:300],
        "interior_exterior": parsed.interior_exterior,
        "location": parsed.location[:200],
        "time_of_day": parsed.time_of_day[:60],
        "scene_number": parsed.scene_number[:20],
        "synopsis": parsed.synopsis,
        "action": parsed.action_summary,
        "dialogue": scene_dialogue_text(parsed),
    }


def scene_dialogue_text(parsed: ParsedScene) -> str:
    """ "NAME: speech" per speech, one line each: what board search reads for dialogue."""
    return "\n".join(f"{name}: {' '.join(text.split())}" for name, text in parsed.dialogue)


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
        location = locations.get(location_key(scene_data.location))
        scene = pairs.get(order - 1)
        if scene is None:
            scene = Scene.objects.create(project=project, location_cast=location, **values)
            report.scenes_added.append(scene.heading)
            report.scene_ids.append(scene.id)
            created.append((scene, scene_data))
            continue
        report.scene_ids.append(scene.id)
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

