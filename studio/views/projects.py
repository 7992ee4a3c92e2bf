"""My projects, a new project, and a project's home: progress at a glance, renders, members."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from studio import access, selectors
from studio.forms import ProjectForm
from studio.services.projects import project_create
from studio.views.common import UNPROCESSABLE, error_text

RECENT_ACTIVITY = 12


@require_safe
@login_required
def project_list(request):
    return render(request, "projects/list.html", {
        "projects": selectors.projects_for_user(request.user),
        "form": ProjectForm(),
    })


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
