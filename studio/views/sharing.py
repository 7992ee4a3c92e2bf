"""Guest review links. Owners create and revoke them on the project's links page; a guest opens
/r/<token>/, gives the password if there is one, watches the cut's takes (or the shot's), and
comments under a name. Every decision about what a guest may see is studio/access.py's."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from studio import access, selectors, throttle
from studio.forms import GuestCommentForm, GuestPasswordForm, ReviewLinkForm
from studio.models import ReviewLink
from studio.services import guests as guest_services
from studio.services import sharing as sharing_services
from studio.views import media
from studio.views.common import TOO_MANY_REQUESTS, UNPROCESSABLE, after_write, error_text


# --- Owners: the project's links ------------------------------------------------------------------

def links_url(project) -> str:
    return reverse("review_links", args=[project.slug])


@require_http_methods(["GET", "POST"])
@login_required
def review_links(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.MANAGE)
    form = ReviewLinkForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        try:
            sharing_services.review_link_create(
                project=project, actor=request.user, days=form.cleaned_data["days"], password=form.cleaned_data["password"],
                label=form.cleaned_data["label"], **form.target_kwargs(project))
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            return after_write(request, links_url(project), "Review link created: copy it from the list.")
    return render(request, "sharing/links.html", {
        "project": project, "links": selectors.project_review_links(project), "form": form, "nav": "links",
    }, status=UNPROCESSABLE if request.method == "POST" else 200)


@require_POST
@login_required
def review_link_revoke(request, slug: str, link_id: int):
    project = access.project_for(request.user, slug, access.Action.MANAGE)
    link = get_object_or_404(ReviewLink, pk=link_id, project=project)
    sharing_services.review_link_revoke(link=link, actor=request.user)
    return after_write(request, links_url(project), "The link no longer works.")


# --- Guests -------------------------------------------------------------------------------------

def guest_url(link: ReviewLink, take_id: int | None = None) -> str:
    url = reverse("guest_review", args=[link.token])
    return f"{url}?take={take_id}" if take_id else url


@never_cache
@require_http_methods(["GET", "POST"])
def guest_review(request, token: str):
    """The guest's page. Locked: a password form (POST unlocks). Unlocked: takes, player, comments."""
    link = access.review_link_for(token)
    if not access.review_link_unlocked(link, request.session):
        return _password_page(request, link)
    if request.method == "POST":
        return redirect(guest_url(link))
    takes = access.review_link_takes(link)
    if not sharing_services.takes_cleared(link.project_id, takes):
        # A guest link is a deliverable: paused (not revoked) while an image's rights are not cleared.
        return render(request, "sharing/guest_paused.html", {"link": link}, status=UNAVAILABLE_FOR_LEGAL_REASONS)
    take = _chosen_take(takes, request.GET.get("take"))
    return _guest_page(request, link, takes, take, GuestCommentForm(initial={"name": request.session.get("guest_name", "")}))


UNAVAILABLE_FOR_LEGAL_REASONS = 451


def _password_page(request, link: ReviewLink):
    form = GuestPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            unlocked = guest_services.guest_unlock(link=link, session=request.session, password=form.cleaned_data["password"],
                                                   address=throttle.client_address(request))
        except guest_services.GuestThrottled as exc:
            return _throttled(request, "sharing/guest_password.html", {"link": link, "form": GuestPasswordForm()}, exc)
        if unlocked:
            return redirect(guest_url(link))
        form.add_error("password", "That password is not right.")
    status = UNPROCESSABLE if request.method == "POST" else 200
    return render(request, "sharing/guest_password.html", {"link": link, "form": form}, status=status)


def _throttled(request, template: str, context: dict, exc: guest_services.GuestThrottled):
    response = render(request, template, {**context, "throttled": str(exc)}, status=TOO_MANY_REQUESTS)
    response["Retry-After"] = str(exc.retry_after_s)
    return response


def _chosen_take(takes: list, wanted: str | None):
    if wanted:
        chosen = next((t for t in takes if str(t.id) == wanted), None)
        if chosen is None:
            raise Http404("No such take on this link.")
        return chosen
    return takes[0] if takes else None


def _guest_context(link: ReviewLink, takes: list, take, form: GuestCommentForm) -> dict:
    return {
        "link": link,
        "shared": link.cut or link.shot,
        "fps": link.project.fps,
        "aspect": f"{link.project.width} / {link.project.height}",
        "takes": takes,
        "take": take,
        "media_key": access.review_link_media_key(link, take.id) if take else "",
        "comments": selectors.take_comments(take) if take else [],
        "form": form,
    }


def _guest_page(request, link: ReviewLink, takes: list, take, form: GuestCommentForm, *, status: int = 200):
    return render(request, "sharing/guest_review.html", _guest_context(link, takes, take, form), status=status)


@require_POST
def guest_comment(request, token: str, take_id: int):
    link = access.review_link_for(token)
    if not access.review_link_unlocked(link, request.session):
        raise Http404("No such review link.")
    take = access.review_link_take(link, take_id)
    form = GuestCommentForm(request.POST)
    address = throttle.client_address(request)
    try:
        guest_services.guest_comment_check(link=link, address=address)  # throttled before the form is read
        if form.is_valid():
            guest_services.guest_comment_create(link=link, take=take, address=address, name=form.cleaned_data["name"],
                                                body=form.cleaned_data["body"], frame=form.cleaned_data["frame"])
            request.session["guest_name"] = form.cleaned_data["name"]
            return after_write(request, guest_url(link, take.id), "Thank you: your comment was sent.")
    except guest_services.GuestThrottled as exc:
        context = _guest_context(link, access.review_link_takes(link), take, form)
        return _throttled(request, "sharing/guest_review.html", context, exc)
    except ValidationError as exc:
        form.add_error(None, error_text(exc))
    return _guest_page(request, link, access.review_link_takes(link), take, form, status=UNPROCESSABLE)


@require_safe
def guest_media(request, token: str, take_id: int, kind: str = "video"):
    """A take's video (Range-aware, for seeking) or poster, for a guest of a link that shows it.
    Asked once per seek, so it checks the key the page signed rather than re-reading the cut."""
    link = access.review_link_for(token)
    if not access.review_link_unlocked(link, request.session):
        raise Http404("No such review link.")
    take = access.review_link_media_take(link, take_id, request.GET.get("k", ""))
    name = (take.poster if kind == "poster" else take.video).name
    if not name:
        raise Http404("No such file.")
    return media.serve_project_file(request, link.project_id, name)
