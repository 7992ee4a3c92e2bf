"""Fountain screenplays (https://fountain.io/syntax) to scenes and characters.

Pure Python, no Django. A parse runs in three passes: decode strictly, remove what the spec says
is not part of the script (boneyard, notes, the title page), then classify the remaining lines
into elements (scene heading, action, dialogue, ...) and assemble those into scenes and a cast.
The script page reads the same elements (`screenplay_elements`), so what it shows as a heading or a
cue is what the import made a scene or a character.

Scripts come from users and may be 2 MB, so every pass is linear in the length of the text: no
regular expression here may backtrack over a run it has already tried (no nested or adjacent
quantifiers that can share characters, no lazy scan for a closer from every opener), and no loop
may rescan or copy what it has already passed. tests/studio/test_screenplay.py keeps it so.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

MAX_SCRIPT_BYTES = 2 * 1024 * 1024
MAX_SCENES = 2000  # a feature has ~150 scenes; far more means the file is not what it seems
MAX_CHARACTERS = 1000  # a feature has ~50 speaking parts; each becomes a cast member on import
ACTION_SUMMARY_CHARS = 300
MAX_NAME_CHARS = 120  # the cast name column; a longer "cue" is a line of action in capitals
MAX_HANDLE_CHARS = 50  # the cast handle column holds 60; leave room for a "_2" suffix on clashes


class ScriptError(ValueError):
    """The file cannot be imported; the message says why in words a writer understands."""


@dataclass(frozen=True)
class ParsedCharacter:
    """A speaking character. line_count counts speeches (dialogue blocks), not lines of text."""

    name: str
    handle: str
    first_scene_index: int
    line_count: int


@dataclass(frozen=True)
class ParsedScene:
    index: int
    heading: str
    interior_exterior: str
    location: str
    time_of_day: str
    scene_number: str
    synopsis: str
    characters: list[str]
    action_summary: str
    dialogue: list[tuple[str, str]]


@dataclass(frozen=True)
class ParsedScript:
    title_page: dict[str, str]
    scenes: list[ParsedScene]
    characters: list[ParsedCharacter]


# --- Decoding ---------------------------------------------------------------------------------

def decode_script(data: bytes) -> str:
    """Bytes of an uploaded file to text with LF line ends, or ScriptError saying what is wrong."""
    if len(data) > MAX_SCRIPT_BYTES:
        raise ScriptError(f"The file is larger than {MAX_SCRIPT_BYTES // (1024 * 1024)} MB, "
                          "which is far more than any screenplay; is it the right file?")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ScriptError("The file is saved as UTF-16; save it as UTF-8 text and upload it again.")
    if b"\x00" in data:
        raise ScriptError("This is a binary file, not a Fountain screenplay (plain UTF-8 text).")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # No latin-1 fallback: guessing an encoding silently garbles accented names.
        raise ScriptError(f"The file must be UTF-8 text; byte {exc.start} is not valid UTF-8. "
                          "Save it as UTF-8 in your editor and upload it again.") from None
    if _control_share(text) > 0.01:
        raise ScriptError("The file is full of control characters; it is not a Fountain screenplay (plain text).")
    return _normalise_newlines(text)


# Unicode category Cc, less tab, line feed, form feed and carriage return, which text files use.
CONTROL_CHARACTER = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def _control_share(text: str) -> float:
    return len(CONTROL_CHARACTER.findall(text)) / max(len(text), 1)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- Removing what is not script: boneyard, notes ---------------------------------------------

# A blank line separates paragraphs; a line of exactly two spaces deliberately does not.
BLANK_LINE = re.compile(r"\n(?!  \n)[^\S\n]*\n")


def _is_blank(line: str) -> bool:
    return line.strip() == "" and line != "  "


def _remove_spans(text: str, opener: str, closer: str, *, within_paragraph: bool) -> str:
    """Cut every opener...closer span out of text; a span alone on its lines takes the lines too,
    so a boneyard or note between two lines of dialogue does not split the speech in two."""
    kept, position, paragraph_end = [], 0, -1
    while (start := text.find(opener, position)) != -1:
        limit = len(text)
        if within_paragraph:
            if paragraph_end < start:  # found once per paragraph, so the pass stays linear
                blank = BLANK_LINE.search(text, start)
                paragraph_end = blank.start() if blank else len(text)
            limit = paragraph_end
        end = text.find(closer, start + len(opener), limit)
        if end == -1:
            if limit == len(text):
                break  # no closer anywhere after this point: the rest is ordinary text
            # No closer before the paragraph ends, so no later opener in it has one either: the rest
            # of the paragraph is literal text (searching again from each opener would be quadratic).
            kept.append(text[position:limit])
            position = limit
            continue
        cut_from, cut_to = _widen_to_whole_lines(text, start, end + len(closer))
        kept.append(text[position:cut_from])
        position = cut_to
    kept.append(text[position:])
    return "".join(kept)


def _widen_to_whole_lines(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end), or the whole lines around it with their newline if nothing else is on them."""
    line_start, line_end = start, end
    while line_start > 0 and text[line_start - 1] in " \t":
        line_start -= 1
    while line_end < len(text) and text[line_end] in " \t":
        line_end += 1
    alone_on_its_lines = (line_start == 0 or text[line_start - 1] == "\n") and \
                         (line_end == len(text) or text[line_end] == "\n")
    if not alone_on_its_lines:
        return start, end
    return line_start, min(line_end + 1, len(text))


# --- Title page -------------------------------------------------------------------------------

# Matched whole against the part before a line's first colon: one run of one class, so a failed
# match is a single pass (a lazy key followed by optional spaces was quadratic on a line of spaces).
TITLE_KEY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 _'-]*")


def _title_key(line: str) -> tuple[str, str] | None:
    """("key", "value") if the line is "Key: value" (key of letters, digits, spaces, _ ' -)."""
    key, colon, value = line.partition(":")
    key = key.rstrip()
    if not colon or not TITLE_KEY_NAME.fullmatch(key):
        return None
    return key, value.lstrip()


def _split_title_page(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """Key: value pairs at the very start, up to the first blank line, are the title page."""
    first = next((n for n, line in enumerate(lines) if not _is_blank(line)), len(lines))
    lines = lines[first:]  # one slice: dropping blank lines one at a time copied the list each time
    if not lines or not _title_key(lines[0]):
        return {}, lines
    end = next((n for n, line in enumerate(lines) if _is_blank(line)), len(lines))
    title_page = _title_page_values(lines[:end])
    if not any(title_page.values()):
        return {}, lines  # a lone "FADE IN:" is action, not a title page
    return title_page, lines[end + 1:]


def _title_page_values(lines: list[str]) -> dict[str, str]:
    values: dict[str, list[str]] = {}
    key = None
    for line in lines:
        pair = _title_key(line)
        if pair and not line[:1].isspace():
            key = " ".join(pair[0].lower().split())
            values[key] = [pair[1]]
        elif key is not None:
            values[key].append(line)  # indented continuation of a multi-line value
    return {key: _clean_title_value(parts) for key, parts in values.items()}


def _clean_title_value(parts: list[str]) -> str:
    lines = (part.strip().strip("*_") for part in parts)  # emphasis markers around a value
    return "\n".join(line for line in lines if line)


# --- Line classification ----------------------------------------------------------------------

HEADING = re.compile(r"^(INT\./EXT|INT/EXT|EXT\./INT|EXT/INT|I/E|INT|EXT|EST)[.\s]", re.IGNORECASE)
INT_EXT = {"INT": "INT", "EXT": "EXT", "EST": "EST"}  # every two-way prefix means "INT/EXT"
SCENE_NUMBER_TEXT = re.compile(r"[A-Za-z0-9.\-]+")
# The lookbehind lets a separator start only where a run of spaces starts; without it the search
# retried "\s+" from every space of a long run (quadratic on a heading of spaces).
TIME_SEPARATOR = re.compile(r"(?<!\s)\s+(?:--?|–|—)\s+")
PAGE_BREAK = re.compile(r"^={3,}$")
CENTERED = re.compile(r"^>.*<$")
EXTENSION = re.compile(r"\([^()]*\)")
NOT_A_CUE_START = ("!", ">", "=", "#", "~", ".", "[[", "/*")
DUAL_DIALOGUE = "^"


class Element(NamedTuple):
    """One piece of the script as the import and the script page both see it."""

    kind: str  # heading, action, dialogue, synopsis, section, transition, centered, lyric, page_break
    text: str  # for dialogue: the speech without parentheticals or lyric marks
    speaker: str = ""  # dialogue: the character's name, as the cast knows it
    cue: str = ""  # dialogue: the cue as written, less a forcing @ and the ^ of dual dialogue
    lines: tuple[str, ...] = ()  # dialogue: its lines as written, parentheticals included
    joined: bool = False  # the line above belongs to the same paragraph


def screenplay_elements(text: str) -> tuple[dict[str, str], Iterator[Element]]:
    """The title page and the classified elements of Fountain text, with the boneyard and notes
    removed. Never raises: whether the result is a screenplay is parse_fountain's question. The
    elements come one at a time, so a script of a million one-word lines is never all in memory."""
    text = _normalise_newlines(text).lstrip("\ufeff")
    text = _remove_spans(text, "/*", "*/", within_paragraph=False)  # boneyard: may span pages
    text = _remove_spans(text, "[[", "]]", within_paragraph=True)  # notes: never across a blank line
    title_page, lines = _split_title_page(text.split("\n"))
    return title_page, _elements(lines)


def _elements(lines: list[str]) -> Iterator[Element]:
    blank = [_is_blank(line) for line in lines] + [True]  # each line tested once; past the end is blank
    number = 0
    while number < len(lines):
        if blank[number]:
            number += 1
            continue
        line = lines[number]
        blank_before, blank_after = number == 0 or blank[number - 1], blank[number + 1]
        cue = _character_cue(line) if blank_before and not blank_after else None
        if cue:
            end = blank.index(True, number + 1)  # the speech runs to the end of the paragraph
            yield _dialogue(line, cue, lines[number + 1:end])
            number = end
            continue
        yield _classify(line.strip(), isolated=blank_before and blank_after, joined=not blank_before)
        number += 1


def _dialogue(cue_line: str, speaker: str, speech_lines: list[str]) -> Element:
    cue = cue_line.strip().removeprefix("@").removesuffix(DUAL_DIALOGUE).rstrip()
    return Element("dialogue", _speech(speech_lines), speaker=speaker, cue=cue,
                   lines=tuple(line.strip() for line in speech_lines))


def _classify(line: str, *, isolated: bool, joined: bool) -> Element:
    """One line outside dialogue. Headings and transitions must stand alone between blank lines."""
    if line.startswith("!"):
        return Element("action", line[1:], joined=joined)
    if isolated and (heading := _heading_text(line)) is not None:
        return Element("heading", heading, joined=joined)
    if PAGE_BREAK.match(line):
        return Element("page_break", "", joined=joined)
    if line.startswith("="):
        return Element("synopsis", line[1:].strip(), joined=joined)
    if line.startswith("#"):
        return Element("section", line.lstrip("#").strip(), joined=joined)
    if line.startswith("~"):
        return Element("lyric", line[1:].strip(), joined=joined)
    if CENTERED.match(line):
        return Element("centered", line[1:-1].strip(), joined=joined)
    if line.startswith(">") or (isolated and _is_transition(line)):
        return Element("transition", line.lstrip(">").strip(), joined=joined)
    return Element("action", line, joined=joined)


def _heading_text(line: str) -> str | None:
    if line.startswith(".") and len(line) > 1 and line[1].isalnum():
        return line[1:]  # forced; ".." or "..." opens an ellipsis in action instead
    return line if HEADING.match(line) else None


def _is_transition(line: str) -> bool:
    return line.endswith("TO:") and line == line.upper()


def _character_cue(line: str) -> str | None:
    """The character's name if this line is a dialogue cue. The caller checks the blank lines."""
    name = _cue_name(line.strip())
    return name if name and len(name) <= MAX_NAME_CHARS else None


def _cue_name(line: str) -> str | None:
    if line.startswith("@"):
        return _clean_name(line[1:])
    if line.startswith(NOT_A_CUE_START) or HEADING.match(line) or line.endswith("TO:"):
        return None
    name_part = EXTENSION.sub("", line)  # extensions may be lowercase: HANS (on the radio)
    if name_part != name_part.upper() or not any(ch.isupper() for ch in name_part):
        return None
    return _clean_name(line)


def _clean_name(cue: str) -> str | None:
    name = EXTENSION.sub("", cue).replace("^", "").replace("*", "").replace("_", " ")
    return " ".join(name.split()) or None


def is_parenthetical(line: str) -> bool:
    return line.startswith("(") and line.endswith(")")


def _speech(lines: list[str]) -> str:
    """Dialogue text with its line breaks; parentheticals such as (quietly) are left out."""
    spoken = []
    for line in (raw.strip() for raw in lines):
        if is_parenthetical(line):
            continue
        spoken.append(without_lyric_mark(line))
    return "\n".join(spoken).strip()


def without_lyric_mark(line: str) -> str:
    return line[1:].strip() if line.startswith("~") else line


# --- Headings ---------------------------------------------------------------------------------

def split_scene_number(heading: str) -> tuple[str, str]:
    """"INT. HOUSE - DAY #12A#" -> ("INT. HOUSE - DAY", "12A"); the number is the last #...#."""
    if heading.endswith("#"):
        opening = heading.rfind("#", 0, len(heading) - 1)
        number = heading[opening + 1:-1]
        if opening != -1 and SCENE_NUMBER_TEXT.fullmatch(number):
            return heading[:opening].rstrip(), number
    return heading, ""


# Words of the trailing parts of a heading that say when, not where: "- NIGHT", "- MOVING",
# "- CONTINUOUS", "- MOMENTS LATER", "- LATER THAT NIGHT", "(FLASHBACK)". A part is a time only
# if every word of it is one of these and one of them is more than a filler ("THE", "THAT", ...).
TIME_WORDS = frozenset("""
    DAY NIGHT DAWN DUSK MORNING AFTERNOON EVENING SUNSET SUNRISE TWILIGHT MIDDAY MIDNIGHT NOON
    DAYBREAK NIGHTFALL GOLDEN MAGIC HOUR LATER CONTINUOUS CONT CONT'D SAME TIME MOVING
    FLASHBACK PRESENT DREAM SEQUENCE INTERCUT MONTAGE
""".split())
TIME_FILLERS = frozenset("A AN THE THAT NEXT EARLY LATE FEW MOMENTS MOMENT MINUTES HOURS DAYS YEARS AGO BEFORE "
                         "AFTER ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN -".split())
LOCATION_ARTICLES = ("THE ", "A ", "AN ")


def _is_time_part(part: str) -> bool:
    """True for "NIGHT", "MOVING", "MOMENTS LATER", "(FLASHBACK)": one pass over the part's words."""
    words = part.replace("(", " ").replace(")", " ").replace(",", " ").replace(".", " ").upper().split()
    return bool(words) and all(w in TIME_WORDS or w in TIME_FILLERS or w.isdigit() for w in words) \
        and any(w in TIME_WORDS for w in words)


def _strip_time_parenthetical(location: str) -> tuple[str, str]:
    """"TRUCK (MOVING)" -> ("TRUCK", "MOVING"): a closing parenthetical that says when."""
    if location.endswith(")") and (opening := location.rfind("(")) > 0 and _is_time_part(location[opening:]):
        return location[:opening].rstrip(" -"), location[opening + 1:-1].strip()
    return location, ""


def _split_heading(heading: str) -> tuple[str, str, str]:
    """"INT. HOUSE - KITCHEN - NIGHT" -> ("INT", "HOUSE - KITCHEN", "NIGHT"). The trailing parts that
    say when ("NIGHT", "MOVING", "CONTINUOUS", "LATER") are the time, however many there are
    ("EXT. TRUCK - MOVING - NIGHT" -> "TRUCK", "MOVING - NIGHT"); the rest is the place, so a
    sub-location without a time stays whole ("INT. LIGHTHOUSE - LAMP ROOM")."""
    match = HEADING.match(heading)
    interior_exterior, rest = "", heading
    if match:
        interior_exterior = INT_EXT.get(match.group(1).upper(), "INT/EXT")
        rest = heading[match.end():]
    rest = rest.strip(" .")
    separators = list(TIME_SEPARATOR.finditer(rest))
    starts = [0, *(m.end() for m in separators)]
    ends = [*(m.start() for m in separators), len(rest)]
    parts = [rest[start:end].strip() for start, end in zip(starts, ends)]
    place = len(parts)
    while place > 1 and _is_time_part(parts[place - 1]):
        place -= 1
    location = rest[:ends[place - 1]].strip()
    time_of_day = rest[starts[place]:].strip() if place < len(parts) else ""
    location, when = _strip_time_parenthetical(location)
    return interior_exterior, location, " - ".join(filter(None, [when, time_of_day]))


def location_key(location: str) -> tuple[str, ...]:
    """How places are matched across headings: the parts of a location ("LIGHTHOUSE - LAMP ROOM"
    -> ("LIGHTHOUSE", "LAMP ROOM")), in capitals, spaces collapsed, curly apostrophes straightened,
    a leading article dropped ("THE LAMP ROOM" -> ("LAMP ROOM",)). A name that is only an article
    keeps it. Linear: one split on the separators, one pass over each part."""
    parts = []
    for part in TIME_SEPARATOR.split(location):
        words = " ".join(part.replace("\u2019", "'").upper().split())
        for article in LOCATION_ARTICLES:
            if words.startswith(article) and len(words) > len(article):
                words = words[len(article):]
                break
        if words:
            parts.append(words)
    return tuple(parts)


# --- Handles ----------------------------------------------------------------------------------

def slugify_handle(name: str) -> str:
    """A cast @handle: lowercase ASCII letters, digits and underscores ("DR. MORGAN" -> "dr_morgan").

    May be empty for a name with no Latin letters or digits; callers choose their own fallback."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"['`]", "", ascii_name)  # O'BRIEN -> obrien, not o_brien
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:MAX_HANDLE_CHARS].rstrip("_")


def _character_handle(name: str) -> str:
    # A name in a script without Latin letters still needs a distinct, stable handle.
    return slugify_handle(name) or "character_" + hashlib.sha1(name.encode()).hexdigest()[:8]


# --- Assembling scenes and cast ---------------------------------------------------------------

# *italic*, **bold**, ***both*** and _underline_, possibly nested; a lone or escaped marker stays,
# and so does the underscore inside a word such as file_name. An opener pairs with the first
# closer after it (as a lazy regex would), but closers are listed once per pass and looked up by
# bisection: a regex scanning for the closer from every opener was quadratic on "*a *a *a ...".

def _is_word_character(character: str) -> bool:
    return character.isalnum() or character == "_"  # what \w matches in a str pattern


def _closer_positions(text: str, marker: str, *, word_may_follow: bool) -> list[int]:
    """Where a closing `marker` may stand: after a character that is neither space nor backslash."""
    positions, position = [], text.find(marker, 1)
    while position != -1:
        before, after = text[position - 1], text[position + len(marker):position + len(marker) + 1]
        if not before.isspace() and before != "\\" and (word_may_follow or not _is_word_character(after)):
            positions.append(position)
        position = text.find(marker, position + 1)
    return positions


def _first_at_or_after(positions: list[int], start: int, end: int) -> int | None:
    index = bisect.bisect_left(positions, start)
    return positions[index] if index < len(positions) and positions[index] < end else None


def _strip_markers(text: str, marker: str, max_run: int, *, in_words: bool) -> str:
    """Remove every paired run of `marker` (up to max_run long) around text that starts and ends
    with a non-space. Underscores (in_words=False) pair only outside words, as in file_name."""
    closers = {length: _closer_positions(text, marker * length, word_may_follow=in_words)
               for length in range(1, max_run + 1)}
    line_ends = [match.start() for match in re.finditer("\n", text)]
    last_closer = max((positions[-1] for positions in closers.values() if positions), default=-1)
    kept, copied_to, position = [], 0, text.find(marker)
    while position != -1 and position < last_closer:  # an opener needs a closer after it
        matched = _pair_at(text, position, marker, max_run, closers, line_ends, in_words=in_words)
        if matched is None:
            position = text.find(marker, position + 1)
            continue
        length, closer = matched
        kept += [text[copied_to:position], text[position + length:closer]]
        copied_to = closer + length
        position = text.find(marker, copied_to)
    kept.append(text[copied_to:])
    return "".join(kept)


def _pair_at(text: str, position: int, marker: str, max_run: int, closers: dict[int, list[int]],
             line_ends: list[int], *, in_words: bool) -> tuple[int, int] | None:
    """(run length, closer position) for an opener at `position`, longest run first, or None."""
    before = text[position - 1] if position else ""
    if before == "\\" or (not in_words and before and _is_word_character(before)):
        return None
    run = 1
    while run < max_run and text.startswith(marker, position + run):
        run += 1
    for length in range(run, 0, -1):
        inner = position + length
        if inner >= len(text) or text[inner].isspace():
            continue
        line_end = _first_at_or_after(line_ends, inner, len(text))  # emphasis never spans lines
        closer = _first_at_or_after(closers[length], inner + 1, len(text) if line_end is None else line_end)
        if closer is not None:
            return length, closer
    return None


def strip_emphasis(text: str) -> str:
    """Text without its emphasis markers; twice over, for **_nested_** emphasis."""
    for _ in range(2):
        text = _strip_markers(text, "*", 3, in_words=True)
        text = _strip_markers(text, "_", 1, in_words=False)
    return text


@dataclass
class _SceneDraft:
    index: int
    heading: str
    scene_number: str
    synopsis: list[str] = field(default_factory=list)
    action: list[str] = field(default_factory=list)
    characters: dict[str, None] = field(default_factory=dict)  # handles in order; a dict for quick lookup
    dialogue: list[tuple[str, str]] = field(default_factory=list)

    def build(self) -> ParsedScene:
        interior_exterior, location, time_of_day = _split_heading(self.heading)
        return ParsedScene(
            index=self.index, heading=self.heading, interior_exterior=interior_exterior, location=location,
            time_of_day=time_of_day, scene_number=self.scene_number, synopsis=" ".join(self.synopsis),
            characters=list(self.characters), action_summary=_summarise(self.action), dialogue=list(self.dialogue),
        )


def _summarise(action: list[str]) -> str:
    """The scene's action as one paragraph of at most ACTION_SUMMARY_CHARS, cut after a sentence
    where one ends in the second half (a prompt reads better whole), else after a word."""
    text = strip_emphasis(" ".join(" ".join(action).split()))
    text = text.replace("\\*", "*").replace("\\_", "_")
    if len(text) <= ACTION_SUMMARY_CHARS:
        return text
    window = text[:ACTION_SUMMARY_CHARS + 1]
    sentence_end = max(window.rfind(stop) for stop in (". ", "! ", "? "))
    if sentence_end >= ACTION_SUMMARY_CHARS // 2:
        return window[:sentence_end + 1]
    return window.rsplit(" ", 1)[0].rstrip(" ,;:-")


@dataclass
class _Assembler:
    scenes: list[_SceneDraft] = field(default_factory=list)
    characters: dict[str, dict] = field(default_factory=dict)
    synopsis_target: _SceneDraft | None = None  # a synopsis after a section describes the section

    def add(self, element: Element) -> None:
        scene = self.scenes[-1] if self.scenes else None
        if element.kind == "heading":
            if len(self.scenes) == MAX_SCENES:
                raise ScriptError(f"The script has more than {MAX_SCENES} scene headings; split it into parts.")
            heading, number = split_scene_number(element.text)
            self.scenes.append(_SceneDraft(index=len(self.scenes), heading=heading, scene_number=number))
            self.synopsis_target = self.scenes[-1]
        elif element.kind == "section":
            self.synopsis_target = None
        elif element.kind == "synopsis" and self.synopsis_target and element.text:
            self.synopsis_target.synopsis.append(element.text)
        elif element.kind == "action" and scene and element.text.strip():
            scene.action.append(element.text)
        elif element.kind == "dialogue":
            self._add_speech(scene, element.speaker, element.text)

    def _add_speech(self, scene: _SceneDraft | None, name: str, text: str) -> None:
        handle = _character_handle(name)
        if handle not in self.characters and len(self.characters) == MAX_CHARACTERS:
            raise ScriptError(f"The script has more than {MAX_CHARACTERS} speaking characters; split it into parts.")
        # Dialogue before the first heading still introduces the character, from scene 0 on.
        entry = self.characters.setdefault(handle, {"name": name, "first": max(len(self.scenes) - 1, 0), "lines": 0})
        entry["lines"] += 1
        if scene is None:
            return
        scene.characters.setdefault(handle)
        scene.dialogue.append((name, text))

    def build(self, title_page: dict[str, str]) -> ParsedScript:
        characters = [
            ParsedCharacter(name=c["name"], handle=handle, first_scene_index=c["first"], line_count=c["lines"])
            for handle, c in self.characters.items()
        ]
        return ParsedScript(title_page=title_page, scenes=[s.build() for s in self.scenes], characters=characters)


def parse_fountain(text: str) -> ParsedScript:
    """Parse Fountain text into title page, scenes and speaking characters.

    Raises ScriptError for empty text and for text without a single scene heading, which we take
    to mean the file is not a screenplay at all."""
    if not text.lstrip("\ufeff").strip():
        raise ScriptError("The script is empty.")
    title_page, elements = screenplay_elements(text)
    assembler = _Assembler()
    for element in elements:
        assembler.add(element)
    if not assembler.scenes:
        raise ScriptError("The file has no scene headings (lines such as \"INT. KITCHEN - DAY\" or "
                          "\"EXT. BEACH - NIGHT\" with a blank line before and after), so it does not "
                          "look like a Fountain screenplay.")
    return assembler.build(title_page)
