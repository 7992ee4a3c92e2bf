"""Cuts: the approved takes in order, trimmed, played back in the browser, and exported."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from studio import access, selectors
from studio.forms import CutEntryForm, CutForm, CutFromApprovedForm, ExportForm
from studio.models import Cut, CutEntry, ExportFormat, Shot, Take
from studio.services import cuts as cut_services
from studio.services.common import StaleVersion
from studio.templatetags.studio_ui import media_url
from studio.views.common import (
    CONFLICT, UNPROCESSABLE, after_write, error_text, posted_ids, refused, render_fragment, toast,
)


def _cut(project, cut_id: int) -> Cut:
    return get_object_or_404(Cut.objects.live(), pk=cut_id, project=project)


def _editor_url(project, cut: Cut) -> str:
    return reverse("cut_editor", args=[project.slug, cut.id])


def _entries_context(request, project, cut: Cut) -> dict:
    rows = selectors.cut_timeline(cut)
    total = sum(row.frames for row in rows)
    playlist = [{"entry": r.entry.id, "shot": r.entry.shot.code, "src": media_url(project, r.take.video),
                 "in": r.in_frame, "out": r.out_frame} for r in rows if r.take and r.take.video]
    return {"project": project, "cut": cut, "rows": rows, "total_frames": total, "playlist": playlist,
            "drift_strips": selectors.cut_drift_strips(rows),
            "can_edit": access.can(request.user, project, access.Action.EDIT)}


@require_http_methods(["GET", "POST"])
@login_required
def cut_list(request, slug: str):
    action = access.Action.EDIT if request.method == "POST" else access.Action.VIEW
    project = access.project_for(request.user, slug, action)
    form = CutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            cut = cut_services.cut_create(project=project, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            return redirect("cut_editor", slug=project.slug, cut_id=cut.id)
    return render(request, "cuts/list.html", {
        "project": project, "cuts": selectors.project_cuts(project), "form": form,
        "approved_form": CutFromApprovedForm(scenes=selectors.project_scene_choices(project)),
        "can_edit": access.can(request.user, project, access.Action.EDIT), "nav": "cuts",
    }, status=UNPROCESSABLE if request.method == "POST" else 200)


@require_POST
@login_required
def cut_new_from_approved(request, slug: str):
    """A new cut of the approved takes: whole project, chosen scenes, or the shots a board filter
    shows (posted as `shot` ids by the board's button)."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    url = reverse("cut_list", args=[project.slug])
    form = CutFromApprovedForm(request.POST, scenes=selectors.project_scene_choices(project))
    if not form.is_valid():
        return refused(request, url, ValidationError(" ".join(e for errors in form.errors.values() for e in errors)))
    try:
        shot_ids = posted_ids(request, "shot") if "shot" in request.POST else None
        cut = cut_services.cut_create_from_approved(
            project=project, actor=request.user, name=form.cleaned_data["name"], description=form.cleaned_data["description"],
            scene_ids=form.cleaned_data["scene"] or None, shot_ids=shot_ids)
    except ValidationError as exc:
        return refused(request, url, exc)
    return after_write(request, _editor_url(project, cut), f"Cut {cut.name!r}: {cut.entries.filter(deleted_at__isnull=True).count()} approved shots.")


@require_http_methods(["GET", "POST"])
@login_required
def add_to_cut(request, slug: str, shot_id: int):
    """GET: the small "add to cut" form (a menu of the project's cuts). POST: append the shot (with
    the chosen take, if any) to a cut."""
    action = access.Action.EDIT if request.method == "POST" else access.Action.VIEW
    project = access.project_for(request.user, slug, action)
    shot = get_object_or_404(Shot.objects.live().select_related("scene"), pk=shot_id, scene__project=project)
    if request.method == "GET":
        return render_fragment(request, "cuts/_add_to_cut.html", {
            "project": project, "shot": shot, "cuts": selectors.project_cut_choices(project),
            "take_id": request.GET.get("take", ""), "can_edit": access.can(request.user, project, access.Action.EDIT)})
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("board", args=[project.slug])
    try:
        cut = _cut(project, int(request.POST.get("cut", "")))
        take_id = int(request.POST["take"]) if request.POST.get("take") else None
    except ValueError:
        return refused(request, back, ValidationError("Choose a cut (and a take by its number)."))
    take = get_object_or_404(Take.objects.alive(), pk=take_id, shot=shot) if take_id else None
    try:
        cut_services.cut_entry_add(cut=cut, actor=request.user, shot=shot, take=take)
    except ValidationError as exc:
        return refused(request, back, exc)
    return toast(request, back, f"Shot {shot.code}{f' (T{take.number})' if take else ''} added to {cut.name}.", level="success")


@require_safe
@login_required
def cut_editor(request, slug: str, cut_id: int):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    cut = _cut(project, cut_id)
    return render(request, "cuts/editor.html", _entries_context(request, project, cut) | {
        "exports": selectors.cut_exports(cut),
        "export_formats": ExportFormat.choices,
        "can_manage": access.can(request.user, project, access.Action.MANAGE),
        "nav": "cuts",
    })


@require_safe
@login_required
def cut_entries_fragment(request, slug: str, cut_id: int):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    return render(request, "cuts/_entries.html", _entries_context(request, project, _cut(project, cut_id)))


def _entries_response(request, project, cut: Cut, *, status: int = 200, message: str = ""):
    cut.refresh_from_db()
    context = _entries_context(request, project, cut) | {"message": message}
    return render_fragment(request, "cuts/_entries.html", context, status=status)


STALE_CUT = "Someone else changed this cut while you were editing; here it is as it is now. Your change was not saved."
MISSING_VERSION = ("Send the cut's version (the 'version' field, a number) with every change to it, so that a change "
                   "made on an old copy of the cut is refused instead of overwriting someone else's. Nothing was changed.")


def _posted_version(request) -> int | None:
    try:
        return int(request.POST["version"])
    except (KeyError, ValueError):
        return None


def _version_missing():
    # 400, not 409: without a version the conflict check cannot be made, and a service would
    # otherwise take "no version" as "whatever the current one is" and overwrite blindly.
    return HttpResponseBadRequest(MISSING_VERSION, content_type="text/plain; charset=utf-8")


@require_POST
@login_required
def cut_reorder(request, slug: str, cut_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    cut = _cut(project, cut_id)
    version = _posted_version(request)
    if version is None:
        return _version_missing()
    try:
        cut_services.cut_reorder(cut=cut, actor=request.user, entry_ids=posted_ids(request), expected_version=version)
    except StaleVersion:
        return _entries_response(request, project, cut, status=CONFLICT, message=STALE_CUT)
    except ValidationError as exc:
        return _entries_response(request, project, cut, status=UNPROCESSABLE, message=error_text(exc))
    return _entries_response(request, project, cut)


def _entry(project, entry_id: int) -> CutEntry:
    return get_object_or_404(CutEntry.objects.live().select_related("cut", "shot__approved_take"), pk=entry_id,
                             cut__project=project)


@require_POST
@login_required
def cut_entry_edit(request, slug: str, entry_id: int):
    """Swap the take (empty: the approved one) and trim in/out."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    entry = _entry(project, entry_id)
    if _posted_version(request) is None:
        return _version_missing()
    form = CutEntryForm(request.POST)
    if not form.is_valid():
        return _entries_response(request, project, entry.cut, status=UNPROCESSABLE,
                                 message="In and out must be frame numbers, out after in.")
    take = None
    if form.cleaned_data["take"]:
        take = get_object_or_404(Take.objects.alive(), pk=form.cleaned_data["take"], shot_id=entry.shot_id)
    try:
        cut_services.cut_entry_update(entry=entry, actor=request.user, take=take, in_frame=form.cleaned_data["in_frame"],
                                      out_frame=form.cleaned_data["out_frame"], expected_version=form.cleaned_data["version"])
    except StaleVersion:
        return _entries_response(request, project, entry.cut, status=CONFLICT, message=STALE_CUT)
    except ValidationError as exc:
        return _entries_response(request, project, entry.cut, status=UNPROCESSABLE, message=error_text(exc))
    return _entries_response(request, project, entry.cut)


@require_POST
@login_required
def cut_entry_remove(request, slug: str, entry_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    entry = _entry(project, entry_id)
    version = _posted_version(request)
    if version is None:
        return _version_missing()
    try:
        cut_services.cut_entry_remove(entry=entry, actor=request.user, expected_version=version)
    except StaleVersion:
        return _entries_response(request, project, entry.cut, status=CONFLICT, message=STALE_CUT)
    return _entries_response(request, project, entry.cut)


@require_POST
@login_required
def cut_entries_bulk(request, slug: str, cut_id: int):
    """The cut editor's selection: remove (undoable), undo a removal, move to the start or the end."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    cut = _cut(project, cut_id)
    version = _posted_version(request)
    if version is None:
        return _version_missing()
    action = request.POST.get("action", "")
    undo: list[int] = []
    message = ""
    try:
        ids = posted_ids(request)
        if action == "remove":
            undo = cut_services.cut_entries_remove(cut=cut, actor=request.user, entry_ids=ids, expected_version=version)
        elif action == "undo":
            restored = cut_services.cut_entries_restore(cut=cut, actor=request.user, entry_ids=ids, expected_version=version)
            message = f"{restored} entr{'y' if restored == 1 else 'ies'} back in the cut."
        elif action in ("start", "end"):
            cut_services.cut_entries_move(cut=cut, actor=request.user, entry_ids=ids, to=action, expected_version=version)
        else:
            raise ValidationError("Unknown action: remove, undo, start or end.")
    except StaleVersion:
        return _entries_response(request, project, cut, status=CONFLICT, message=STALE_CUT)
    except ValidationError as exc:
        return _entries_response(request, project, cut, status=UNPROCESSABLE, message=error_text(exc))
    cut.refresh_from_db()
    context = _entries_context(request, project, cut) | {"undo_ids": undo, "notice": message}
    return render_fragment(request, "cuts/_entries.html", context)


def _exports_context(project, cut: Cut) -> dict:
    return {"project": project, "cut": cut, "exports": selectors.cut_exports(cut)}


@require_safe
@login_required
def exports_fragment(request, slug: str, cut_id: int):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    return render(request, "cuts/_exports.html", _exports_context(project, _cut(project, cut_id)))


@require_POST
@login_required
def export_new(request, slug: str, cut_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    cut = _cut(project, cut_id)
    url = _editor_url(project, cut)
    form = ExportForm(request.POST)
    if not form.is_valid():
        return refused(request, url, ValidationError("Choose an export format."))
    try:
        export = cut_services.export_request(cut=cut, actor=request.user, fmt=form.cleaned_data["format"],
                                             rights_override=form.cleaned_data["rights_override"],
                                             internal_draft=form.cleaned_data["internal_draft"],
                                             require_draft_confirmation=not form.cleaned_data["confirm_draft"])
    except cut_services.DraftNotConfirmed as exc:
        # Nothing is queued: the answer lists the shots that are not final and offers "export anyway".
        return render_fragment(request, "cuts/_export_confirm.html", _exports_context(project, cut) | {
            "draft": exc.report, "export_format": form.cleaned_data["format"],
            "rights_override": form.cleaned_data["rights_override"], "internal_draft": form.cleaned_data["internal_draft"]})
    except PermissionDenied as exc:
        return refused(request, url, ValidationError(str(exc)))
    except ValidationError as exc:
        return refused(request, url, exc)
    response = render(request, "cuts/_exports.html", _exports_context(project, cut)) if request.htmx else None
    return toast(request, url, f"{export.get_format_display()} export queued.", response=response)
