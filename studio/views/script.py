"""The script: import a Fountain file (upload or paste), see what changed, read it with its scene
headings linked to the board."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent, ValidationError
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from studio import access, selectors
from studio.body_limits import PAYLOAD_TOO_LARGE, script_upload_limit
from studio.forms import ScriptImportForm
from studio.screenplay import HEADING, SCENE_NUMBER, ScriptError
from studio.services.script import script_import
from studio.views.common import UNPROCESSABLE, error_text



class ScriptUploadRefused(Exception):
    """The request is refused before the form looks at it."""

    def __init__(self, message: str, status: int = PAYLOAD_TOO_LARGE):
        super().__init__(message)
        self.status = status


CHARACTER_CUE = re.compile(r"^@?[A-Z0-9][A-Z0-9 .'\-#]*(\s*\(.*\))?\s*\^?$")


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
        "nav": "script",
    }, status=status)


@dataclass(frozen=True)
class Block:
    kind: str  # heading, character, parenthetical, dialogue, transition, action, note
    text: str
    scene_id: int | None = None


def script_blocks(text: str, scene_ids: dict[str, int]) -> list[Block]:
    """A screenplay laid out for reading. Headings carry the id of the board scene they became."""
    blocks: list[Block] = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [line.rstrip() for line in paragraph.strip("\n").split("\n") if line.strip()]
        if lines:
            blocks.extend(_paragraph_blocks(lines, scene_ids))
    return blocks


def _paragraph_blocks(lines: list[str], scene_ids: dict[str, int]) -> list[Block]:
    first = lines[0].strip()
    if len(lines) == 1 and _is_heading(first):
        heading = SCENE_NUMBER.sub("", first.removeprefix(".")).strip()  # "#12#" is shown on the board, not here
        return [Block("heading", heading, scene_ids.get(" ".join(heading.upper().split())))]
    if len(lines) == 1 and (first.startswith(">") and not first.endswith("<") or (first.endswith("TO:") and first.isupper())):
        return [Block("transition", first.lstrip("> "))]
    if first.startswith(("=", "#", "[[", "/*")):
        return [Block("note", "\n".join(lines))]
    if len(lines) > 1 and CHARACTER_CUE.match(first) and not HEADING.match(first):
        return [Block("character", first.lstrip("@"))] + [
            Block("parenthetical" if line.strip().startswith("(") else "dialogue", line.strip()) for line in lines[1:]
        ]
    return [Block("action", "\n".join(line.removeprefix("!") for line in lines))]


def _is_heading(line: str) -> bool:
    return bool(HEADING.match(line)) or (line.startswith(".") and len(line) > 1 and line[1].isalnum())
