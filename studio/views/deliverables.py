"""Downloads a team prints: storyboards (per scene, whole project, per cut) and shot lists (CSV, PDF).
Any member may download them (viewers too); the pages are built in studio/services/deliverables.py."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from studio import access, selectors
from studio.models import Cut, Scene
from studio.services import deliverables


def _option(request, name: str, choices) -> str | None:
    """The query parameter `name` (default: the first choice), or None when it is not a choice."""
    value = request.GET.get(name, next(iter(choices)))
    return value if value in choices else None


def _printout(project, subtitle: str, outline: selectors.ScriptOutline) -> deliverables.Printout:
    block = outline.title_page | {"title": outline.title_page.get("title") or project.name}
    return deliverables.Printout(title_block=block, subtitle=subtitle, printed_on=timezone.localdate())


def _download(content: bytes | str, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


def _storyboard_response(request, project, rows, subtitle: str, filename: str):
    paper, layout = _option(request, "paper", deliverables.PAPERS), _option(request, "layout", deliverables.LAYOUTS)
    if paper is None or layout is None:
        return HttpResponseBadRequest("paper must be a4 or letter; layout 2x3 or 3x3.", content_type="text/plain")
    outline = selectors.script_outline(project)
    pictures = deliverables.panel_pictures(rows, aspect=project.height / project.width)
    pdf = deliverables.storyboard_pdf(_printout(project, subtitle, outline), rows, pictures, outline, paper=paper,
                                      layout=layout)
    return _download(pdf, f"{filename}-{paper}.pdf", "application/pdf")


@require_safe
@login_required
def project_storyboard(request, slug: str):
    """The whole project's storyboard, or one scene's with ?scene=<id>."""
    project = access.project_for(request.user, slug, access.Action.VIEW)
    scene_id = request.GET.get("scene")
    if scene_id is None:
        return _storyboard_response(request, project, selectors.deliverable_shots(project), "Storyboard",
                                    f"{project.slug}-storyboard")
    scene = get_object_or_404(Scene.objects.live(), pk=scene_id if scene_id.isdigit() else 0, project=project)
    rows = selectors.deliverable_shots(project, scene_id=scene.id)
    return _storyboard_response(request, project, rows, f"Storyboard · Scene {deliverables.scene_label(scene)}",
                                f"{project.slug}-storyboard-scene-{scene.scene_number or scene.order}")


@require_safe
@login_required
def cut_storyboard(request, slug: str, cut_id: int):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    cut = get_object_or_404(Cut.objects.live(), pk=cut_id, project=project)
    return _storyboard_response(request, project, selectors.cut_deliverable_shots(cut), f"Storyboard · Cut: {cut.name}",
                                f"{project.slug}-{cut.name}-storyboard")


@require_safe
@login_required
def shot_list_csv(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    text = deliverables.shot_list_csv(selectors.deliverable_shots(project))
    return _download(text.encode("utf-8"), f"{project.slug}-shot-list.csv", "text/csv; charset=utf-8")


@require_safe
@login_required
def shot_list_pdf(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    paper = _option(request, "paper", deliverables.PAPERS)
    if paper is None:
        return HttpResponseBadRequest("paper must be a4 or letter.", content_type="text/plain")
    outline = selectors.script_outline(project)
    pdf = deliverables.shot_list_pdf(_printout(project, "Shot list", outline), selectors.deliverable_shots(project), paper=paper)
    return _download(pdf, f"{project.slug}-shot-list-{paper}.pdf", "application/pdf")
