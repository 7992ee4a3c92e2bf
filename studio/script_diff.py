"""What a script revision changed, scene by scene: added, removed, moved, and the action and
dialogue lines changed inside a scene, side by side.

Pure Python, no Django, like screenplay.py, whose element classifier it reads scripts with (so a
heading here is a scene there). Lines are compared with the standard library's difflib. Scenes are
paired across the two versions by the ids the import gave them when they exist (it matched them
already, and the board's shots hang off those ids), else by heading and scene number.
"""

from __future__ import annotations

import difflib
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Sequence

from studio.screenplay import screenplay_elements, split_scene_number

ADDED, REMOVED, MOVED, CHANGED, UNCHANGED = "added", "removed", "moved", "changed", "unchanged"


@dataclass(frozen=True)
class SceneLine:
    kind: str  # action, dialogue, transition, centered, lyric
    text: str  # dialogue: "NAME: the speech (parentheticals included)"


@dataclass(frozen=True)
class SceneText:
    """One scene of one version, as the reader sees it."""

    heading: str
    number: str
    lines: tuple[SceneLine, ...]


@dataclass(frozen=True)
class DiffRow:
    """One row of the side-by-side view: the old line on the left, the new one on the right."""

    tag: str  # equal, replace, delete, insert (difflib's opcodes)
    old: SceneLine | None
    new: SceneLine | None


@dataclass
class SceneChange:
    old_index: int | None
    new_index: int | None
    old: SceneText | None
    new: SceneText | None
    scene_id: int | None = None  # the board scene, where the import's ids are known
    moved: bool = False
    rows: list[DiffRow] = field(default_factory=list)

    @property
    def heading(self) -> str:
        return (self.new or self.old).heading

    @property
    def what(self) -> list[str]:
        """What changed inside the scene: "heading", "action", "dialogue" (and other kinds)."""
        kinds = {"heading"} if self.old and self.new and (self.old.heading, self.old.number) != (
            self.new.heading, self.new.number) else set()
        for row in self.rows:
            if row.tag != "equal":
                kinds.update(line.kind for line in (row.old, row.new) if line)
        order = ["heading", "action", "dialogue"]
        return sorted(kinds, key=lambda kind: (order.index(kind) if kind in order else len(order), kind))

    @property
    def status(self) -> str:
        if self.old is None:
            return ADDED
        if self.new is None:
            return REMOVED
        if self.what:
            return CHANGED
        return MOVED if self.moved else UNCHANGED

    @property
    def content_changed(self) -> bool:
        """The scene reads differently (its shots may no longer match it): changed, whether moved or not."""
        return self.old is not None and self.new is not None and bool(self.what)


@dataclass
class ScriptDiff:
    scenes: list[SceneChange]  # the new script's scenes in order, then the removed ones in old order

    def _with(self, test) -> list[SceneChange]:
        return [change for change in self.scenes if test(change)]

    @property
    def added(self) -> list[SceneChange]:
        return self._with(lambda c: c.status == ADDED)

    @property
    def removed(self) -> list[SceneChange]:
        return self._with(lambda c: c.status == REMOVED)

    @property
    def moved(self) -> list[SceneChange]:
        return self._with(lambda c: c.moved and c.old is not None and c.new is not None)

    @property
    def changed(self) -> list[SceneChange]:
        return self._with(lambda c: c.content_changed)

    @property
    def unchanged_count(self) -> int:
        return len(self._with(lambda c: c.status == UNCHANGED))


def script_scenes(text: str) -> list[SceneText]:
    """The scenes of a Fountain text with their action paragraphs and speeches, in order; what
    comes before the first heading belongs to no scene (as on import)."""
    scenes: list[tuple[str, str, list[SceneLine]]] = []
    for element in screenplay_elements(text)[1]:
        if element.kind == "heading":
            heading, number = split_scene_number(element.text)
            scenes.append((heading, number, []))
            continue
        if not scenes:
            continue
        lines = scenes[-1][2]
        if element.kind == "action":
            if element.joined and lines and lines[-1].kind == "action":
                lines[-1] = SceneLine("action", f"{lines[-1].text}\n{element.text}")  # one paragraph, one line
            elif element.text.strip():
                lines.append(SceneLine("action", element.text))
        elif element.kind == "dialogue":
            lines.append(SceneLine("dialogue", f"{element.speaker}: {' '.join(' '.join(element.lines).split())}"))
        elif element.kind in ("transition", "centered", "lyric") and element.text:
            lines.append(SceneLine(element.kind, element.text))
    return [SceneText(heading, number, tuple(lines)) for heading, number, lines in scenes]


def _key(scene: SceneText) -> tuple[str, str]:
    return " ".join(scene.heading.upper().split()), scene.number


def _pairs_by_id(old_ids: Sequence[int], new_ids: Sequence[int]) -> dict[int, int]:
    """new index -> old index for the scenes the import gave the same board scene."""
    old_at = {scene_id: index for index, scene_id in enumerate(old_ids)}
    return {index: old_at[scene_id] for index, scene_id in enumerate(new_ids) if scene_id in old_at}


def _pairs_by_heading(old: list[SceneText], new: list[SceneText]) -> dict[int, int]:
    """Without the import's ids (revisions imported before they were kept): the same heading and
    number first, then the same scene number alone."""
    by_key: dict[tuple[str, str], deque[int]] = defaultdict(deque)
    for index, scene in enumerate(old):
        by_key[_key(scene)].append(index)
    pairs = {}
    for index, scene in enumerate(new):
        if by_key.get(_key(scene)):
            pairs[index] = by_key[_key(scene)].popleft()
    used = set(pairs.values())
    by_number = {scene.number: index for index, scene in enumerate(old) if scene.number and index not in used}
    for index, scene in enumerate(new):
        if index not in pairs and scene.number and scene.number in by_number:
            pairs[index] = by_number.pop(scene.number)
    return pairs


def _rows(old: SceneText, new: SceneText) -> list[DiffRow]:
    matcher = difflib.SequenceMatcher(None, [line.text for line in old.lines], [line.text for line in new.lines],
                                      autojunk=False)
    rows = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = old.lines[i1:i2], new.lines[j1:j2]
        for n in range(max(len(left), len(right))):
            old_line = left[n] if n < len(left) else None
            new_line = right[n] if n < len(right) else None
            row_tag = tag if tag != "replace" or (old_line and new_line) else ("delete" if old_line else "insert")
            rows.append(DiffRow(row_tag, old_line, new_line))
    return rows


def diff_scripts(old_text: str, new_text: str, *, old_ids: Sequence[int] | None = None,
                 new_ids: Sequence[int] | None = None) -> ScriptDiff:
    """Scene by scene, what the new text changed from the old one. With `old_ids`/`new_ids` (the
    board scene of each scene, in order, as the import recorded them) scenes pair as the import
    paired them; ids that do not fit the texts are ignored."""
    old, new = script_scenes(old_text), script_scenes(new_text)
    ids_fit = old_ids is not None and new_ids is not None and len(old_ids) == len(old) and len(new_ids) == len(new)
    pairs = _pairs_by_id(old_ids, new_ids) if ids_fit else _pairs_by_heading(old, new)
    # Moved: paired scenes outside the longest runs that keep their order (difflib's matching blocks).
    new_order = sorted(pairs)
    old_order = sorted(pairs.values())
    matcher = difflib.SequenceMatcher(None, old_order, [pairs[i] for i in new_order], autojunk=False)
    in_place = {old_order[block.a + n] for block in matcher.get_matching_blocks() for n in range(block.size)}
    changes = []
    for index, scene in enumerate(new):
        old_index = pairs.get(index)
        previous = old[old_index] if old_index is not None else None
        change = SceneChange(old_index, index, previous, scene, scene_id=new_ids[index] if ids_fit else None,
                             moved=old_index is not None and old_index not in in_place)
        if previous is not None:
            change.rows = _rows(previous, scene)
        changes.append(change)
    paired_old = set(pairs.values())
    changes += [SceneChange(index, None, scene, None, scene_id=old_ids[index] if ids_fit else None)
                for index, scene in enumerate(old) if index not in paired_old]
    return ScriptDiff(changes)
