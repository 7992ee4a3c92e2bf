"""What every view module shares: fragments for htmx, the page around them otherwise, and the
translation of domain errors (ValidationError, StaleVersion) into responses people can act on."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults

from studio.services.render_rate import RateLimited

# 422: the request was understood but its values were refused; htmx is configured to swap it in.
UNPROCESSABLE = 422
CONFLICT = 409
TOO_MANY_REQUESTS = 429


def render_fragment(request: HttpRequest, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    """htmx swaps the fragment in place; a plain request (no JavaScript) gets it inside the layout."""
    if request.htmx:
        return render(request, template, context, status=status)
    return render(request, "fragment_page.html", {**context, "fragment_template": template}, status=status)


def error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def after_write(request: HttpRequest, url: str, message: str = "") -> HttpResponse:
    """A successful form post: htmx refreshes what it targets; a plain form goes back to the page."""
    if message:
        messages.success(request, message)
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def refused(request: HttpRequest, url: str, exc: ValidationError) -> HttpResponse:
    """A write the domain refused: say why, write nothing. htmx shows the message as a toast."""
    if isinstance(exc, RateLimited):
        response = HttpResponse(error_text(exc), status=TOO_MANY_REQUESTS, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(exc.retry_after_s)
        return response
    if request.htmx:
        return HttpResponse(error_text(exc), status=UNPROCESSABLE, content_type="text/plain; charset=utf-8")
    messages.error(request, error_text(exc))
    return redirect(url)


def posted_ids(request: HttpRequest, name: str = "ids") -> list[int]:
    """A list of ids from a reorder post; anything that is not a number is refused by the service."""
    try:
        return [int(value) for value in request.POST.getlist(name)]
    except ValueError:
        raise ValidationError("The new order contains something that is not an id.") from None


def toast(request: HttpRequest, url: str, message: str, *, level: str = "info", response: HttpResponse | None = None) -> HttpResponse:
    """Tell the user what happened. htmx shows a toast (HX-Trigger) and keeps the page; a plain
    form goes back to the page, which shows the message."""
    if not request.htmx:
        getattr(messages, level if level in {"info", "success", "warning", "error"} else "info")(request, message)
        return redirect(url)
    response = response if response is not None else HttpResponse(status=204)
    response["HX-Trigger"] = json.dumps({"toast": {"message": message, "level": level}})
    return response


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's answer to a request it refuses before any view runs (a Host header that is not one
    of ours, a malformed multipart body): JSON under /api/, as every other API answer is, where
    Django's own page is HTML that a pipeline's client cannot read (found by the schema fuzzer)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)
