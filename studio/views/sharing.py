"""Guest review links. Owners create and revoke them on the project's links page; a guest opens
/r/<token>/, gives the password if there is one, watches the cut's takes (or the shot's), and
comments under a name. Every decision about what a guest may see is studio/access.py's."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from studio import access, selectors, throttle
from studio.models import Cut, ReviewLink, Shot
from studio.services import reviews as review_services
from studio.services import sharing as sharing_services
from studio.services.reviews import MAX_COMMENT_CHARS
from studio.views import media
from studio.views.common import TOO_MANY_REQUESTS, UNPROCESSABLE, after_write, error_text


# --- Owners: the project's links ------------------------------------------------------------------

class ReviewLinkForm(forms.Form):
    target = forms.ChoiceField(label="Share", choices=())
    label = forms.CharField(max_length=120, required=False)
    days = forms.IntegerField(label="Days valid", min_value=1, max_value=sharing_services.MAX_LINK_DAYS, initial=7)
    password = forms.CharField(required=False, max_length=128, widget=forms.PasswordInput(render_value=False),
                               help_text="Optional: guests must type it once per browser session.")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        cuts = [(f"cut:{c.id}", f"Cut: {c.name}") for c in selectors.project_cuts(project)]
        shots = [(f"shot:{s.id}", f"Shot {s.code} · {s.scene.heading}") for s in selectors.shots_in_order(project)]
        self.fields["target"].choices = cuts + shots

    def target_kwargs(self, project) -> dict:
        kind, _, object_id = self.cleaned_data["target"].partition(":")
        if kind == "cut":
            return {"cut": get_object_or_404(Cut.objects.live(), pk=int(object_id), project=project)}
        shots = Shot.objects.live().select_related("scene")
        return {"shot": get_object_or_404(shots, pk=int(object_id), scene__project=project)}


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

class GuestPasswordForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, max_length=128)


class GuestCommentForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=80)
    body = forms.CharField(label="Comment", max_length=MAX_COMMENT_CHARS, widget=forms.Textarea(attrs={"rows": 3}))
    frame = forms.IntegerField(label="At frame", required=False, min_value=0, help_text="Optional.")


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
    take = _chosen_take(takes, request.GET.get("take"))
    return _guest_page(request, link, takes, take, GuestCommentForm(initial={"name": request.session.get("guest_name", "")}))


def _guest_subjects(request, link: ReviewLink) -> list[str]:
    """Tries are counted per link (many addresses guessing one password) and per address."""
    return [f"link:{link.id}", f"address:{throttle.client_address(request)}"]


def _password_page(request, link: ReviewLink):
    form = GuestPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        subjects, rate = _guest_subjects(request, link), throttle.rate_setting("CONTINUITY_GUEST_PASSWORD_RATE")
        try:  # checked before the password, so a throttled guess learns nothing
            throttle.check("guest-password", subjects, rate)
        except throttle.Throttled as exc:
            return _throttled(request, "sharing/guest_password.html", {"link": link, "form": GuestPasswordForm()},
                              f"Too many wrong passwords; try again in {throttle.minutes_text(exc.retry_after_s)}.", exc)
        if access.review_link_unlock(link, request.session, form.cleaned_data["password"]):
            return redirect(guest_url(link))
        throttle.record("guest-password", subjects, rate)
        form.add_error("password", "That password is not right.")
    status = UNPROCESSABLE if request.method == "POST" else 200
    return render(request, "sharing/guest_password.html", {"link": link, "form": form}, status=status)


def _throttled(request, template: str, context: dict, message: str, exc: throttle.Throttled):
    response = render(request, template, {**context, "throttled": message}, status=TOO_MANY_REQUESTS)
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
    subjects, rate = _guest_subjects(request, link), throttle.rate_setting("CONTINUITY_GUEST_COMMENT_RATE")
    try:
        throttle.check("guest-comment", subjects, rate)
    except throttle.Throttled as exc:
        context = _guest_context(link, access.review_link_takes(link), take, form)
        return _throttled(request, "sharing/guest_review.html", context,
                          f"Too many comments from here; try again in {throttle.minutes_text(exc.retry_after_s)}.", exc)
    if form.is_valid():
        try:
            review_services.comment_create(take=take, author=None, guest_name=form.cleaned_data["name"], review_link=link,
                                           body=form.cleaned_data["body"], frame=form.cleaned_data["frame"])
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            throttle.record("guest-comment", subjects, rate)
            request.session["guest_name"] = form.cleaned_data["name"]
            return after_write(request, guest_url(link, take.id), "Thank you: your comment was sent.")
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
