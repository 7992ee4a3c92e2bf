"""A project's members: everyone in the project sees who is in it; owners invite, change roles
and remove (the service refuses to leave a project without an owner)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from studio import access, selectors
from studio.forms import InviteForm, RoleForm
from studio.models import Membership, Role
from studio.services import projects as project_services
from studio.views.common import UNPROCESSABLE, after_write, error_text, refused


def members_url(project) -> str:
    return reverse("members", args=[project.slug])


@require_http_methods(["GET", "POST"])
@login_required
def members_page(request, slug: str):
    """GET: the list. POST: an owner invites an existing account with a role."""
    action = access.Action.MANAGE if request.method == "POST" else access.Action.VIEW
    project = access.project_for(request.user, slug, action)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = selectors.user_by_username_or_email(form.cleaned_data["who"])
        if user is None:
            form.add_error("who", "No account has that username or e-mail address.")
        else:
            try:
                project_services.membership_add(project=project, actor=request.user, user=user, role=form.cleaned_data["role"])
            except ValidationError as exc:
                form.add_error(None, error_text(exc))
            else:
                return after_write(request, members_url(project), f"{user.get_username()} joined as {form.cleaned_data['role']}.")
    return render(request, "members/page.html", {
        "project": project,
        "members": selectors.project_members(project),
        "form": form,
        "roles": Role.choices,
        "can_manage": access.can(request.user, project, access.Action.MANAGE),
        "nav": "members",
    }, status=UNPROCESSABLE if request.method == "POST" else 200)


def _membership(project, membership_id: int) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user", "project"), pk=membership_id, project=project)


@require_POST
@login_required
def member_role(request, slug: str, membership_id: int):
    project = access.project_for(request.user, slug, access.Action.MANAGE)
    membership = _membership(project, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return refused(request, members_url(project), ValidationError("Choose a role."))
    try:
        project_services.membership_change_role(membership=membership, actor=request.user, role=form.cleaned_data["role"])
    except ValidationError as exc:
        return refused(request, members_url(project), exc)
    return after_write(request, members_url(project), f"{membership.user.get_username()} is now {membership.role}.")


@require_POST
@login_required
def member_remove(request, slug: str, membership_id: int):
    project = access.project_for(request.user, slug, access.Action.MANAGE)
    membership = _membership(project, membership_id)
    name = membership.user.get_username()
    try:
        project_services.membership_remove(membership=membership, actor=request.user)
    except ValidationError as exc:
        return refused(request, members_url(project), exc)
    # Removing yourself (an owner leaving, with another owner left) ends your access to the page.
    url = members_url(project) if access.can(request.user, project, access.Action.VIEW) else reverse("project_list")
    return after_write(request, url, f"{name} was removed from the project.")
