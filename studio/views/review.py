"""The review room of a shot: its takes as a version stack, a frame-accurate player, timecoded
comments with drawings, side-by-side compare, decisions, and re-rendering with an edited prompt."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from studio import access, selectors
from studio.forms import CommentForm, DecisionForm, RerenderForm
from studio.models import Comment, Shot, Take, TakePriority, TakeStatus
from studio.services import notes as note_services
from studio.services import notifications as notification_services
from studio.services import reviews as review_services
from studio.services import takes as take_services
from studio.services import variations as variation_services
from studio.services.render_requests import take_request
from studio.views.common import after_write, refused, toast


def _shot(project, shot_id: int) -> Shot:
    return get_object_or_404(Shot.objects.live().select_related("scene", "approved_take"), pk=shot_id, scene__project=project)


def _take(project, take_id: int) -> Take:
    return get_object_or_404(Take.objects.live().select_related("shot__scene"), pk=take_id, shot__scene__project=project)


def _takes(shot: Shot) -> list[Take]:
    """The shot's takes, newest first, each with the identity badge its prefetched scores give."""
    takes = list(selectors.shot_takes(shot))
    for take in takes:
        take.identity_badge = selectors.identity_badge(take)
    return takes


def review_url(project, shot_id: int, take_id: int | None = None) -> str:
    url = reverse("review", args=[project.slug, shot_id])
    return f"{url}?take={take_id}" if take_id else url


def _pick(takes: list[Take], wanted: str | None, fallback: Take | None) -> Take | None:
    if wanted:
        chosen = next((t for t in takes if str(t.id) == wanted), None)
        if chosen is None:
            raise Http404("No such take of this shot.")
        return chosen
    return fallback


def _default_take(takes: list[Take], shot: Shot) -> Take | None:
    approved = next((t for t in takes if t.id == shot.approved_take_id), None)
    finished = next((t for t in takes if t.status == TakeStatus.SUCCEEDED), None)
    return approved or finished or (takes[0] if takes else None)


@require_safe
@login_required
def review_room(request, slug: str, shot_id: int):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    shot = _shot(project, shot_id)
    takes = _takes(shot)
    take = _pick(takes, request.GET.get("take"), _default_take(takes, shot))
    compare = _pick(takes, request.GET.get("compare"), None)
    rerender_prompt = (take.request or {}).get("prompt", shot.prompt) if take else shot.prompt
    note_prompt = (take.request or {}).get("prompt", shot.prompt) if take else ""
    comments = _with_note_prompts(list(selectors.take_comments(take, with_results=True)), note_prompt) if take else []
    return render(request, "review/room.html", {
        "project": project,
        "shot": shot,
        "takes": takes,
        "take": take,
        "compare": compare if compare and compare != take else None,
        "comments": comments,
        "markers": comment_markers(comments),
        "note_prompt": note_prompt,
        # What the identity panel shows and the player's "worst frame" jumps use (prefetched).
        "identity_scores": [selectors.identity_score_payload(s) for s in take.identity_scores.all()] if take else [],
        "comment_form": CommentForm(),
        "decision_form": DecisionForm(),
        "rerender_form": RerenderForm(initial={"prompt": rerender_prompt}),
        # What a re-render with the edited prompt sends to a text-conditioned backend (wan, ltx).
        "prompt_sent": selectors.prompt_sent(shot, project, rerender_prompt),
        "continuity": selectors.take_continuity(take, shot) if take else None,
        "rerender_comparison": selectors.rerender_comparison(take),
        "cast_handles": selectors.cast_handles(project),
        "following": notification_services.is_following(request.user, shot),
        "mention_people": selectors.project_member_handles(project),
        "variations": variation_group(takes, take),
        "can_comment": access.can(request.user, project, access.Action.COMMENT),
        "can_review": access.can(request.user, project, access.Action.REVIEW),
        "can_edit": access.can(request.user, project, access.Action.EDIT),
        "nav": "board",
    })


def variation_group(takes: list[Take], take: Take | None) -> list[Take]:
    """The takes rendered as variations together with `take`, oldest first (none: not a variation)."""
    if take is None or take.variation_group is None:
        return []
    return sorted((t for t in takes if t.variation_group == take.variation_group), key=lambda t: t.number)


@require_POST
@login_required
def shot_variations(request, slug: str, shot_id: int):
    """Render N variations of the shot (different seeds, optionally a guidance sweep): one request."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    shot = _shot(project, shot_id)
    url = review_url(project, shot.id)
    try:
        count = int(request.POST.get("count", variation_services.DEFAULT_VARIATIONS))
        takes = variation_services.take_request_variations(shot=shot, actor=request.user, count=count,
                                                           guidance_sweep=request.POST.get("guidance_sweep") == "1")
    except ValueError:
        return refused(request, url, ValidationError("The number of variations must be a number."))
    except ValidationError as exc:
        return refused(request, url, exc)
    return after_write(request, review_url(project, shot.id, takes[0].id), f"{len(takes)} variations of {shot.code} queued.")


@require_safe
@login_required
def take_stack_fragment(request, slug: str, shot_id: int):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    shot = _shot(project, shot_id)
    takes = _takes(shot)
    current = _pick(takes, request.GET.get("take"), _default_take(takes, shot))
    return render(request, "review/_take_stack.html", {"project": project, "shot": shot, "takes": takes, "take": current})


def _with_note_prompts(comments: list[Comment], prompt: str) -> list[Comment]:
    """Each comment carries the prompt "re-render with this note" proposes: the take's, note appended."""
    for comment in comments:
        comment.note_prompt = note_services.note_prompt(prompt, comment.body)
    return comments


def comment_markers(comments) -> list[dict]:
    """What the player's timeline draws: a marker per timecoded comment, with its drawing."""
    return [{"id": c.id, "frame": c.frame, "resolved": c.resolved, "annotation": c.annotation, "body": c.body[:140]}
            for c in comments if c.frame is not None]


def _comment_list_context(request, project, take: Take) -> dict:
    prompt = (take.request or {}).get("prompt", take.shot.prompt)
    comments = _with_note_prompts(list(selectors.take_comments(take, with_results=True)), prompt)
    role = access.role_of(request.user, project)
    return {"project": project, "take": take, "comments": comments, "markers": comment_markers(comments),
            "can_comment": access.role_allows(role, access.Action.COMMENT),
            "can_edit": access.role_allows(role, access.Action.EDIT), "note_prompt": prompt}


def _comments_response(request, project, take: Take):
    if not request.htmx:
        return after_write(request, review_url(project, take.shot_id, take.id))
    return render(request, "review/_comment_list.html", _comment_list_context(request, project, take))


@require_http_methods(["GET", "POST"])
@login_required
def comments(request, slug: str, take_id: int):
    action = access.Action.COMMENT if request.method == "POST" else access.Action.VIEW
    project = access.project_for(request.user, slug, action)
    take = _take(project, take_id)
    url = review_url(project, take.shot_id, take.id)
    if request.method == "GET":
        return render(request, "review/_comment_list.html", _comment_list_context(request, project, take))
    form = CommentForm(request.POST)
    if not form.is_valid():
        return refused(request, url, ValidationError(_form_errors(form)))
    parent = None
    if form.cleaned_data["parent"]:
        parent = get_object_or_404(Comment.objects.alive(), pk=form.cleaned_data["parent"], take=take)
    try:
        review_services.comment_create(take=take, author=request.user, body=form.cleaned_data["body"],
                                       frame=form.cleaned_data["frame"], parent=parent,
                                       annotation=form.cleaned_data["annotation"])
    except ValidationError as exc:
        return refused(request, url, exc)
    return _comments_response(request, project, take)


def _form_errors(form) -> str:
    return " ".join(f"{form[name].label}: {error}" if name in form.fields else error
                    for name, errors in form.errors.items() for error in errors)


@require_POST
@login_required
def comment_resolve(request, slug: str, comment_id: int):
    project = access.project_for(request.user, slug, access.Action.COMMENT)
    comment = get_object_or_404(Comment.objects.alive().select_related("take__shot__scene"), pk=comment_id,
                                take__shot__scene__project=project)
    review_services.comment_set_resolved(comment=comment, actor=request.user, resolved=request.POST.get("resolved") == "1")
    return _comments_response(request, project, comment.take)


def _comment_for_rerender(request, slug: str, comment_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    comment = get_object_or_404(Comment.objects.alive().select_related("take__shot__scene__project"), pk=comment_id,
                                take__shot__scene__project=project, take__in=Take.objects.live())
    return project, comment


def _rerendered(request, project, comment: Comment, rerender) -> HttpResponse:
    url = review_url(project, comment.take.shot_id, comment.take_id)
    form = RerenderForm(request.POST)
    if not form.is_valid():
        return refused(request, url, ValidationError("The prompt cannot be empty."))
    try:
        result = rerender(comment=comment, actor=request.user, prompt=form.cleaned_data["prompt"])
    except ValidationError as exc:
        return refused(request, url, exc)
    number = result.take.number
    message = f"Take {number} queued from the note." if result.dispatched else f"Take {number} already answers this note."
    return after_write(request, review_url(project, comment.take.shot_id, comment.take_id) + f"#comment-{comment.id}", message)


@require_POST
@login_required
def comment_rerender(request, slug: str, comment_id: int):
    """"Re-render with this note": a new take with the prompt the user confirmed (the note appended)."""
    project, comment = _comment_for_rerender(request, slug, comment_id)
    return _rerendered(request, project, comment, note_services.take_rerender_from_note)


@require_POST
@login_required
def comment_rerender_region(request, slug: str, comment_id: int):
    """"Re-render this region": the comment's drawing as the mask over its take."""
    project, comment = _comment_for_rerender(request, slug, comment_id)
    return _rerendered(request, project, comment, note_services.take_rerender_region)


@require_POST
@login_required
def take_decide(request, slug: str, take_id: int):
    project = access.project_for(request.user, slug, access.Action.REVIEW)
    take = _take(project, take_id)
    url = review_url(project, take.shot_id, take.id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return refused(request, url, ValidationError("Choose approve or request changes."))
    try:
        review_services.review_decide(take=take, actor=request.user, decision=form.cleaned_data["decision"],
                                      note=form.cleaned_data["note"])
    except ValidationError as exc:
        return refused(request, url, exc)
    return after_write(request, url, f"Take {take.number}: {form.cleaned_data['decision'].replace('_', ' ')}.")


@require_POST
@login_required
def take_rerender(request, slug: str, take_id: int):
    """A new take of the same shot with an edited prompt; the shot's own prompt is unchanged."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    take = _take(project, take_id)
    url = review_url(project, take.shot_id, take.id)
    form = RerenderForm(request.POST)
    if not form.is_valid():
        return refused(request, url, ValidationError("The prompt cannot be empty."))
    try:
        result = take_request(shot=take.shot, actor=request.user, prompt=form.cleaned_data["prompt"])
    except ValidationError as exc:
        return refused(request, url, exc)
    message = f"Take {result.take.number} queued." if result.dispatched else f"Take {result.take.number} already matches this prompt."
    return after_write(request, review_url(project, take.shot_id, result.take.id), message)


@require_POST
@login_required
def take_rerender_exact(request, slug: str, take_id: int):
    """"Render exactly this take again": same backend, revision, seed, reference bytes, parameters."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    take = _take(project, take_id)
    url = review_url(project, take.shot_id, take.id)
    try:
        again = take_services.take_rerender_exact(take=take, actor=request.user)
    except ValidationError as exc:
        return refused(request, url, exc)
    return after_write(request, review_url(project, take.shot_id, again.id),
                       f"Take {again.number} queued: exactly take {take.number} again.")


@require_POST
@login_required
def take_cancel(request, slug: str, take_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    take = _take(project, take_id)
    url = review_url(project, take.shot_id, take.id)
    try:
        take_services.take_cancel(take=take, actor=request.user)
    except ValidationError as exc:
        return refused(request, url, exc)
    return toast(request, url, f"Take {take.number}: cancel requested.")


@require_POST
@login_required
def take_retry(request, slug: str, take_id: int):
    """A failed or cancelled take again: a new take with the same request (services/takes.py says why)."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    take = _take(project, take_id)
    url = review_url(project, take.shot_id, take.id)
    try:
        result = take_services.take_retry(take=take, actor=request.user)
    except ValidationError as exc:
        return refused(request, url, exc)
    message = (f"Take {result.take.number} queued: a retry of take {take.number}." if result.dispatched
               else f"Take {result.take.number} already renders (or rendered) this request.")
    return after_write(request, review_url(project, take.shot_id, result.take.id), message)


@require_POST
@login_required
def take_render_next(request, slug: str, take_id: int):
    """Move a queued take to the front of the GPU queue (urgent priority)."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    take = _take(project, take_id)
    url = review_url(project, take.shot_id, take.id)
    try:
        take_services.take_set_priority(take=take, actor=request.user, priority=TakePriority.URGENT)
    except ValidationError as exc:
        return refused(request, url, exc)
    return after_write(request, url, f"Take {take.number} renders next.")


@require_POST
@login_required
def take_trash(request, slug: str, take_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    take = _take(project, take_id)
    try:
        take_services.take_trash(take=take, actor=request.user)
    except ValidationError as exc:
        return refused(request, review_url(project, take.shot_id, take.id), exc)
    return after_write(request, review_url(project, take.shot_id), f"Take {take.number} moved to the trash.")
