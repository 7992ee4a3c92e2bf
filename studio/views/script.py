"""The script: import a Fountain file (upload or paste), see what changed, read it with its scene
headings linked to the board."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent, ValidationError
from django.http.multipartparser import MultiPartParserError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from studio import access, selectors
from studio.body_limits import PAYLOAD_TOO_LARGE, script_upload_limit
from studio.forms import ScriptImportForm
from studio.screenplay import (
    Element,
    ScriptError,
    is_parenthetical,
    screenplay_elements,
    split_scene_number,
    without_lyric_mark,
)
from studio.services.revisions import shots_mark_for_rerender
from studio.services.script import script_import
from studio.views.common import UNPROCESSABLE, error_text, toast



class ScriptUploadRefused(Exception):
    """The request is refused before the form looks at it."""

    def __init__(self, message: str, status: int = PAYLOAD_TOO_LARGE):
        super().__init__(message)
        self.status = status


@require_http_methods(["GET", "POST"])
@login_required
def script_page(request, slug: str):
    action = access.Action.EDIT if request.method == "POST" else access.Action.VIEW
    project = access.project_for(request.user, slug, action)
    try:
        form = _posted_form(request)
    except ScriptUploadRefused as exc:
        messages.error(request, str(exc))  # the form never saw the request, so the page says why
        return _page(request, project, ScriptImportForm(), status=exc.status)
    if request.method == "POST" and form.is_valid():
        data, filename = form.script_bytes()
        try:
            report = script_import(project=project, actor=request.user, data=data, filename=filename)
        except (ValidationError, ScriptError) as exc:
            form.add_error(None, error_text(exc) if isinstance(exc, ValidationError) else str(exc))
        else:
            if report.unchanged_script:
                messages.info(request, f"The script is the same as version {report.version}; nothing changed.")
            else:
                messages.success(request, f"Script version {report.version} imported.")
            return redirect("script", slug=project.slug)
    return _page(request, project, form, status=UNPROCESSABLE if request.method == "POST" else 200)


def _posted_form(request) -> ScriptImportForm:
    """The import form, bound on POST. A body far larger than any screenplay is refused from its
    header, before it is read; one Django will not parse is refused in words, not with a bare 400."""
    if request.method != "POST":
        return ScriptImportForm()
    limit = script_upload_limit()  # the servers refuse such a body as it arrives; the same rule here
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit.max_bytes:
            raise ScriptUploadRefused(limit.message)
        return ScriptImportForm(request.POST, request.FILES)
    except RequestDataTooBig:
        raise ScriptUploadRefused(limit.message) from None
    except (TooManyFieldsSent, TooManyFilesSent):
        raise ScriptUploadRefused("The upload has far more parts than a script import sends: one file or one text.") from None
    except (MultiPartParserError, ValueError):
        raise ScriptUploadRefused("The upload could not be read; choose the file or paste the script again.", 400) from None


def _page(request, project, form: ScriptImportForm, *, status: int):
    script = selectors.latest_script(project)
    return render(request, "script/page.html", {
        "project": project,
        "form": form,
        "script": script,
        "blocks": script_blocks(script.text, selectors.live_scene_ids_by_heading(project)) if script else [],
        "can_edit": access.can(request.user, project, access.Action.EDIT),
        "revisions": selectors.script_revisions(project),
        "nav": "script",
    }, status=status)


def _revision_diff(project, version: int) -> selectors.RevisionDiff:
    found = selectors.script_revision_diff(project, version)
    if found is None:
        raise Http404("No such script revision.")
    return found


@require_safe
@login_required
def script_revision(request, slug: str, version: int):
    """One revision against the one before it: scenes added, removed, moved and changed (side by
    side), and the shots the change touched."""
    project = access.project_for(request.user, slug, access.Action.VIEW)
    return render(request, "script/revision.html", {
        "project": project,
        "found": _revision_diff(project, version),
        "can_edit": access.can(request.user, project, access.Action.EDIT),
        "nav": "script",
    })


@require_POST
@login_required
def script_revision_mark_touched(request, slug: str, version: int):
    """Mark the shots of the scenes this revision changed for re-render (they show as stale)."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    found = _revision_diff(project, version)
    reason = f"Script v{version} ({found.revision.colour}) changed the scene"
    marked = shots_mark_for_rerender(project=project, actor=request.user,
                                     shot_ids=[shot.id for shot in found.touched_shots], reason=reason)
    message = (f"{len(marked)} shot{'s' if len(marked) != 1 else ''} marked for re-render: "
               + ", ".join(shot.code for shot in marked)) if marked else "No shots to mark: the revision touched none."
    return toast(request, reverse("script_revision", args=[project.slug, version]), message)


@dataclass(frozen=True)
class Block:
    kind: str  # title_page, heading, character, parenthetical, dialogue, transition, action, note, centered, lyric, page_break
    text: str
    scene_id: int | None = None
    speaker: str = ""  # character: the name the import gave the cast member


# How the page shows what the parser found; synopses and sections are the writer's notes.
BLOCK_KIND = {"synopsis": "note", "section": "note"}


def script_blocks(text: str, scene_ids: dict[str, int]) -> list[Block]:
    """A screenplay laid out for reading, classified by the parser the import uses, so the page
    shows as headings and cues exactly what became scenes and characters. Headings carry the id
    of the board scene they became."""
    title_page, elements = screenplay_elements(text)
    blocks = [Block("title_page", "\n".join(f"{key.capitalize()}: {value}" for key, value in title_page.items()))] \
        if title_page else []
    for paragraph in _paragraphs(elements):
        if paragraph[0].kind == "action":
            blocks.append(Block("action", "\n".join(element.text for element in paragraph)))  # one paragraph, one block
        else:
            blocks.extend(_element_blocks(paragraph[0], scene_ids))
    return blocks


def _paragraphs(elements: Iterator[Element]) -> Iterator[list[Element]]:
    """Runs of action lines that share a paragraph, and every other element on its own."""
    run: list[Element] = []
    for element in elements:
        if run and not (element.kind == "action" and element.joined):
            yield run
            run = []
        if element.kind == "action":
            run.append(element)
        else:
            yield [element]
    if run:
        yield run


def _element_blocks(element: Element, scene_ids: dict[str, int]) -> list[Block]:
    if element.kind == "heading":
        heading, _number = split_scene_number(element.text)  # "#12#" is shown on the board, not here
        return [Block("heading", heading, scene_ids.get(" ".join(heading.upper().split())))]
    if element.kind == "dialogue":
        return [Block("character", element.cue, speaker=element.speaker)] + [
            Block("parenthetical", line) if is_parenthetical(line) else Block("dialogue", without_lyric_mark(line))
            for line in element.lines if line
        ]
    return [Block(BLOCK_KIND.get(element.kind, element.kind), element.text)]
