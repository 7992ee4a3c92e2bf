"""My projects, a new project, and a project's home: progress at a glance, renders, members."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from studio import access, selectors
from studio.forms import ProjectForm
from studio.services import projects as project_services
from studio.services.projects import project_create
from studio.views.common import UNPROCESSABLE, after_write, error_text

RECENT_ACTIVITY = 12


@require_safe
@login_required
def project_list(request):
    return render(request, "projects/list.html", {
        "projects": selectors.projects_for_user(request.user),
        "trashed": selectors.trashed_projects_owned_by(request.user),
        "form": ProjectForm(),
    })


@require_POST
@login_required
def project_delete(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.MANAGE)
    project_services.project_trash(project=project, actor=request.user)
    return after_write(request, reverse("project_list"),
                       f"{project.name} moved to the trash; you can restore it from here for 30 days.")


@require_POST
@login_required
def project_restore(request, project_id: int):
    project = access.trashed_project_for_owner(request.user, project_id)
    project_services.project_restore(project=project, actor=request.user)
    return after_write(request, reverse("project_home", args=[project.slug]), f"{project.name} restored.")


@require_http_methods(["GET", "POST"])
@login_required
def project_new(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(owner=request.user, **form.service_values())
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            return redirect("project_home", slug=project.slug)
    status = UNPROCESSABLE if request.method == "POST" else 200
    return render(request, "projects/new.html", {"form": form}, status=status)


@require_safe
@login_required
def project_home(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    return render(request, "projects/home.html", {
        "project": project,
        "progress": selectors.project_progress(project),
        "members": selectors.project_members(project),
        "active_takes": selectors.active_takes(project),
        "cuts": selectors.project_cuts(project),
        "activity": selectors.project_activity(project, limit=RECENT_ACTIVITY),
        "can_manage": access.can(request.user, project, access.Action.MANAGE),
        "nav": "home",
    })


@require_safe
@login_required
def active_renders_fragment(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    return render(request, "projects/_active_renders.html", {
        "project": project,
        "progress": selectors.project_progress(project),
        "active_takes": selectors.active_takes(project),
    })


def project_url(project, name: str = "project_home") -> str:
    return reverse(name, args=[project.slug])
