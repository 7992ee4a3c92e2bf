"""Team → Webhooks: owners register endpoints, choose events, read the delivery log, send a test
event, redeliver, and enable an endpoint the studio disabled. Owners only (studio/access.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from studio import access
from studio.forms import WebhookEndpointForm
from studio.models import WebhookDelivery, WebhookEndpoint
from studio.services import webhooks as webhook_services
from studio.views.common import UNPROCESSABLE, after_write, error_text, refused

DELIVERIES_SHOWN = 20


def webhooks_url(project) -> str:
    return reverse("webhooks", args=[project.slug])


@require_http_methods(["GET", "POST"])
@login_required
def webhooks_page(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.MANAGE)
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = webhook_services.endpoint_create(project=project, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error("url", error_text(exc))
        else:
            return after_write(request, f"{webhooks_url(project)}#endpoint-{endpoint.id}",
                               "Endpoint added. Copy its signing secret into your receiver.")
    endpoints = list(WebhookEndpoint.objects.filter(project=project))
    for endpoint in endpoints:
        endpoint.recent_deliveries = list(endpoint.deliveries.all()[:DELIVERIES_SHOWN])
    return render(request, "webhooks/page.html", {
        "project": project, "endpoints": endpoints, "form": form, "nav": "members",
    }, status=UNPROCESSABLE if request.method == "POST" else 200)


def _endpoint(request, slug: str, endpoint_id: int):
    project = access.project_for(request.user, slug, access.Action.MANAGE)
    return project, get_object_or_404(WebhookEndpoint, pk=endpoint_id, project=project)


@require_POST
@login_required
def webhook_test(request, slug: str, endpoint_id: int):
    project, endpoint = _endpoint(request, slug, endpoint_id)
    webhook_services.endpoint_send_test(endpoint=endpoint, actor=request.user)
    return after_write(request, webhooks_url(project), "Test event queued: its delivery appears in the log.")


@require_POST
@login_required
def webhook_enable(request, slug: str, endpoint_id: int):
    project, endpoint = _endpoint(request, slug, endpoint_id)
    webhook_services.endpoint_enable(endpoint=endpoint, actor=request.user)
    return after_write(request, webhooks_url(project), "Endpoint enabled.")


@require_POST
@login_required
def webhook_delete(request, slug: str, endpoint_id: int):
    project, endpoint = _endpoint(request, slug, endpoint_id)
    webhook_services.endpoint_delete(endpoint=endpoint, actor=request.user)
    return after_write(request, webhooks_url(project), "Endpoint removed.")


@require_POST
@login_required
def webhook_redeliver(request, slug: str, delivery_id: int):
    project = access.project_for(request.user, slug, access.Action.MANAGE)
    delivery = get_object_or_404(WebhookDelivery.objects.select_related("endpoint"), pk=delivery_id, endpoint__project=project)
    try:
        webhook_services.delivery_redeliver(delivery=delivery, actor=request.user)
    except ValidationError as exc:
        return refused(request, webhooks_url(project), exc)
    return after_write(request, webhooks_url(project), "Event queued again.")
