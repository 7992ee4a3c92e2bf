"""The project's trash (owners restore what was deleted in the last 30 days) and its activity log
(everyone in the project reads who did what)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from studio import access, selectors
from studio.services import trash as trash_services
from studio.views.common import after_write, refused

ACTIVITY_LIMIT = 200


@require_safe
@login_required
def trash_page(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.MANAGE)
    return render(request, "trash/page.html", {
        "project": project,
        "trash": selectors.project_trash(project),
        "keep_days": selectors.TRASH_KEEP_DAYS,
        "nav": "trash",
    })


@require_POST
@login_required
def trash_restore(request, slug: str, kind: str, object_id: int):
    project = access.project_for(request.user, slug, access.Action.MANAGE)
    url = reverse("trash", args=[project.slug])
    try:
        obj = trash_services.trash_restore(project=project, actor=request.user, kind=kind, object_id=object_id)
    except trash_services.NotInTrash:
        raise Http404("No such item in this project's trash.") from None
    except ValidationError as exc:
        return refused(request, url, exc)
    return after_write(request, url, f"Restored {obj}.")


@require_safe
@login_required
def activity_page(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    return render(request, "trash/activity.html", {
        "project": project,
        "events": selectors.project_activity(project, limit=ACTIVITY_LIMIT),
        "limit": ACTIVITY_LIMIT,
        "nav": "activity",
    })
