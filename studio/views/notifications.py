"""Notifications: the bell's unread count, the page that lists them with the preferences, marking
read, and following a shot. Every row belongs to its recipient: anyone else gets 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from studio import access, selectors
from studio.models import EmailMode, Notification, NotificationKind, Shot
from studio.services import notifications as notification_services
from studio.views.common import UNPROCESSABLE, after_write, error_text


def _page_context(request) -> dict:
    preferences = notification_services.preferences_for(request.user)
    return {
        "notifications": selectors.user_notifications(request.user),
        "unread": notification_services.unread_count(request.user),
        "preferences": [(kind, label, preferences[kind]) for kind, label in NotificationKind.choices],
        "email_modes": EmailMode.choices,
        "has_email": bool(request.user.email),
    }


@require_http_methods(["GET", "POST"])
@login_required
def notifications_page(request):
    """GET: the list and the preferences. POST: save the preferences."""
    status = 200
    if request.method == "POST":
        choices = {kind: (request.POST.get(f"in_app_{kind}") == "1", request.POST.get(f"email_{kind}", EmailMode.INSTANT))
                   for kind in NotificationKind.values}
        try:
            notification_services.preferences_update(user=request.user, choices=choices)
        except ValidationError as exc:
            context = _page_context(request) | {"error": error_text(exc)}
            return render(request, "notifications/page.html", context, status=UNPROCESSABLE)
        return after_write(request, request.path, "Notification preferences saved.")
    return render(request, "notifications/page.html", _page_context(request), status=status)


@require_safe
@login_required
def bell_fragment(request):
    return render(request, "notifications/_bell.html", {"unread": notification_services.unread_count(request.user)})


@require_POST
@login_required
def notification_open(request, notification_id: int):
    """Mark one read and go where it points."""
    notification = get_object_or_404(Notification, pk=notification_id, recipient=request.user)
    notification_services.notification_mark_read(user=request.user, notification_id=notification.id)
    target = notification.url if url_has_allowed_host_and_scheme(notification.url, allowed_hosts=None) else ""
    return redirect(target or "notifications")


@require_POST
@login_required
def notifications_read_all(request):
    count = notification_services.notification_mark_read(user=request.user)
    return after_write(request, "/notifications/", f"{count} notification{'s' if count != 1 else ''} marked read.")


@require_POST
@login_required
def shot_follow(request, slug: str, shot_id: int):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    shot = get_object_or_404(Shot.objects.live(), pk=shot_id, scene__project=project)
    follow = request.POST.get("follow") == "1"
    if follow:
        notification_services.shot_follow(user=request.user, shot=shot)
    else:
        notification_services.shot_unfollow(user=request.user, shot=shot)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = f"/p/{project.slug}/shots/{shot.id}/review/"
    return after_write(request, back, f"{'Following' if follow else 'No longer following'} shot {shot.code}.")
