"""The shot board: scenes in order with their shots; edit inline, reorder, duplicate, render."""

from __future__ import annotations

import gzip
import hashlib
import logging
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache, caches
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from studio import access, selectors
from studio.forms import BoardFilterForm, NewShotForm, SceneForm, ShotForm
from studio.models import Scene, Shot, Take, TakePriority
from studio.services import shots as shot_services
from studio.services import takes as take_services
from studio.services.common import StaleVersion
from studio.services.render_rate import RateLimited
from studio.services.render_requests import take_request
from studio.services.ui_support import chain_rerender, shots_render
from studio.services.usage import BudgetExceeded, budget_warning
from studio.views.common import CONFLICT, UNPROCESSABLE, after_write, error_text, posted_ids, refused, render_fragment, toast


logger = logging.getLogger(__name__)


def _board_url(project, anchor: str = "") -> str:
    return reverse("board", args=[project.slug]) + (f"#{anchor}" if anchor else "")


def _scene(project, scene_id: int) -> Scene:
    return get_object_or_404(Scene.objects.live(), pk=scene_id, project=project)


def _shot(project, shot_id: int) -> Shot:
    return get_object_or_404(Shot.objects.live().select_related("scene__project"), pk=shot_id, scene__project=project)


# Shots rendered with the page; scenes after them arrive as they scroll into view, so a board of
# 500 shots opens as fast as one of 40 (and the browser lays out only what is on screen).
BOARD_FIRST_SHOTS = 40
LATER_SCENE_ROW_PX, LATER_SCENE_COLUMNS = 190, 3  # the space a scene will take, so scrolling is steady

# A cached board is keyed by the project's event_seq, which every event but a progress tick
# bumps; the expiry only bounds the damage of an event lost between a commit and its publish.
BOARD_CACHE_S = 300


def _board_context(request, project, *, fresh: bool = False) -> dict:
    can_edit = access.can(request.user, project, access.Action.EDIT)
    form = BoardFilterForm(request.GET)
    filters = form.filters()
    html = _board_html(project, can_edit, filters, fresh=fresh)
    return {"project": project, "can_edit": can_edit, "scenes_html": html["scenes"], "filters_html": html["filters"],
            "filter_form": form, "filter_errors": form.error_messages_text(), "filters_active": filters.active,
            "filter_query": request.GET.urlencode() if filters.active else ""}


def _mark_later_scenes(scenes: list) -> list:
    """Scenes after the first BOARD_FIRST_SHOTS shots render as placeholders that load themselves."""
    shown = 0
    for scene in scenes:
        count = len(scene.board_shots)
        scene.later = shown >= BOARD_FIRST_SHOTS
        scene.later_height_px = 60 + LATER_SCENE_ROW_PX * max(1, -(-count // LATER_SCENE_COLUMNS))
        shown += count
    return scenes


def _board_html(project, can_edit: bool, filters: selectors.BoardFilters, *, fresh: bool = False) -> dict[str, str]:
    """Every scene and shot of the board as HTML, and the filter bar with its counts: the page's one
    big part (a second for 500 shots), rendered once per change of the project's content, per role
    and per filter, then served from the cache. It holds nothing personal (no CSRF token, no user):
    the page around it does. A filtered board shows every matching scene at once (a placeholder
    that loads itself would load the scene unfiltered)."""
    filters_key = hashlib.sha256(repr(filters).encode()).hexdigest()[:16] if filters.active else "all"
    key = f"board-scenes:{project.content_key}:{'edit' if can_edit else 'view'}:{filters_key}"

    def render_parts() -> dict[str, str]:
        view = selectors.board_view(project, filters)
        scenes = view.scenes if filters.active else _mark_later_scenes(view.scenes)
        context = {"project": project, "scenes": scenes, "can_edit": can_edit, "view": view}
        return {"scenes": render_to_string("board/_scenes.html", context),
                "filters": render_to_string("board/_filters.html", context)}

    return render_parts() if fresh else _cached(key, render_parts)


def _cached_per_content(project, name: str, compute):
    """A per-project part of the board under a versioned key (the project's event_seq, bumped by
    every event but a progress tick), so a change is never served stale and nothing is deleted."""
    return _cached(f"{name}:{project.content_key}", compute)


def _cached(key: str, compute):
    try:
        value = cache.get(key)
    except Exception:  # Redis is away: slower, never broken
        logger.warning("board cache unavailable", exc_info=True)
        return compute()
    if value is None:
        value = compute()
        try:
            cache.set(key, value, BOARD_CACHE_S)
        except Exception:
            logger.warning("board cache unavailable", exc_info=True)
    return value


@require_safe
@login_required
def board_page(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    if len(messages.get_messages(request)):  # a toast to show once: this load is not the usual page
        return HttpResponse(_board_page_html(request, project).replace(CSRF_PLACEHOLDER, get_token(request)))
    get_token(request)  # the CSRF cookie goes out with the page: its script fills the page's token from it
    if accepts_gzip(request.META.get("HTTP_ACCEPT_ENCODING", "")):
        response = HttpResponse(_page_bytes(request, project, compressed=True))
        response["Content-Encoding"] = "gzip"
    else:
        page = _page_bytes(request, project, compressed=False)
        response = HttpResponse(page.replace(CSRF_PLACEHOLDER.encode(), get_token(request).encode()))
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


# The whole board page is kept per person, project content, role and filter, with this in place of
# the CSRF token (which differs per browser). On a board everyone is watching, a page from the cache
# costs what the sign-in page costs (BENCHMARKS.md, issue 15). A browser that takes gzip (every one
# does) gets it compressed once, 180 KB -> 12 KB for 500 shots, with the placeholder still in it:
# the page's first script (static/studio/csrf-from-cookie.js) puts the browser's CSRF cookie in its
# place, which Django accepts as the token. So one compressed copy serves all of a person's
# browsers, and the compressed bytes hold no secret for a compression attack (BREACH) to guess.
# Anything else gets the page uncompressed with its token put in here, as before.
CSRF_PLACEHOLDER = "csrf-token-placeholder-0d5c2b7e"
ACCEPT_ENCODING_ITEM = re.compile(r"^\s*([\w*-]+)\s*(?:;\s*q\s*=\s*([\d.]+))?", re.IGNORECASE)
GZIP_LEVEL = 6  # zlib's default; the page is compressed once per change of the project, then served


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether the client takes gzip: named with a weight above 0 ("gzip;q=0" refuses it)."""
    for item in accept_encoding.split(","):
        match = ACCEPT_ENCODING_ITEM.match(item)
        if match and match.group(1).lower() == "gzip":
            try:
                return float(match.group(2) or 1) > 0
            except ValueError:
                return False
    return False


def _page_bytes(request, project, *, compressed: bool) -> bytes:
    """The page as UTF-8 bytes (both caches pickle what they keep, and unpickling 180 KB of text
    with a few characters past Latin-1 took 0.6 ms a load, bytes a copy), or gzipped, from this
    process's memory first (no round trip), then the shared cache, then made."""
    key = _board_page_key(request, project) + (":gzip" if compressed else "")
    page = caches["process"].get(key)
    if page is None:
        if compressed:  # mtime 0: the same page compresses to the same bytes in every process
            page = _cached(key, lambda: gzip.compress(_page_bytes(request, project, compressed=False), GZIP_LEVEL, mtime=0))
        else:
            page = _cached(key, lambda: _board_page_html(request, project).encode())
        caches["process"].set(key, page)  # for its own short while (settings.CACHES)
    return page


def _board_page_key(request, project) -> str:
    """Versioned like every part of the board (the project's event_seq), per person as the page
    shows them (name, staff link, role) and per filter."""
    user = request.user
    who = hashlib.sha256(f"{user.pk}:{user.get_username()}:{user.is_staff}:{access.role_of(user, project)}".encode()).hexdigest()[:16]
    query = hashlib.sha256(request.GET.urlencode().encode()).hexdigest()[:16]
    return f"board-page-bytes:{project.content_key}:{who}:{query}"


def _board_page_html(request, project) -> str:
    context = _board_context(request, project)
    context |= {"cast_handles": _cached_per_content(project, "board-cast", lambda: selectors.cast_handles(project)),
                "scene_form": SceneForm(), "nav": "board", "csrf_token": CSRF_PLACEHOLDER,
                # "New cut from approved takes" keeps the board's scene filter (?scene=…), if any
                "filter_scene_ids": [v for v in request.GET.getlist("scene") if v.isdigit()]}
    return render_to_string("board/page.html", context, request=request)


@require_safe
@login_required
def board_scenes_fragment(request, slug: str):
    """The scenes again, when an event asks the page for them. Events are published a moment
    before their number is committed (events.send_now), so a page that saw a number above the one
    read here asks for what that event changed: made afresh, not taken from (nor put in) the cache
    kept under the older number."""
    project = access.project_for(request.user, slug, access.Action.VIEW)
    seen = request.headers.get("X-Live-Seq", "")
    ahead = seen.isdigit() and len(seen) < 19 and int(seen) > project.event_seq
    return HttpResponse(_board_context(request, project, fresh=ahead)["scenes_html"])


def _scene_response(request, project, scene_id: int, *, status: int = 200):
    scene = selectors.board_scene(project, scene_id)
    if scene is None:
        raise Http404("No such scene.")
    context = {"project": project, "scene": scene, "can_edit": access.can(request.user, project, access.Action.EDIT)}
    return render_fragment(request, "board/_scene.html", context, status=status)


def _card_response(request, project, shot_id: int, *, status: int = 200):
    shot = selectors.board_shot(project, shot_id)
    if shot is None:  # trashed meanwhile: the card disappears
        return HttpResponse("", status=status)
    context = {"project": project, "scene": shot.scene, "shot": shot,
               "can_edit": access.can(request.user, project, access.Action.EDIT)}
    return render_fragment(request, "board/_shot.html", context, status=status)


@require_safe
@login_required
def scene_fragment(request, slug: str, scene_id: int):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    filters = BoardFilterForm(request.GET).filters()
    if filters.active:  # a live refresh on a filtered board: the scene's matching shots, or nothing
        return _filtered_scene_response(request, project, scene_id, filters)
    return _scene_response(request, project, scene_id)


def _filtered_scene_response(request, project, scene_id: int, filters):
    if selectors.board_scene(project, scene_id) is None:
        raise Http404("No such scene.")
    view = selectors.board_view(project, filters)
    scene = next((scene for scene in view.scenes if scene.id == scene_id), None)
    if scene is None:  # none of its shots match any more: the scene leaves the filtered board
        return HttpResponse("")
    context = {"project": project, "scene": scene, "view": view,
               "can_edit": access.can(request.user, project, access.Action.EDIT)}
    return render_fragment(request, "board/_scene.html", context)


@require_POST
@login_required
def scene_new(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    form = SceneForm(request.POST)
    if not form.is_valid():
        return refused(request, _board_url(project), ValidationError("A scene needs a heading."))
    scene = shot_services.scene_create(project=project, actor=request.user, heading=form.cleaned_data["heading"])
    return after_write(request, _board_url(project, f"scene-{scene.id}"))


@require_POST
@login_required
def shot_new(request, slug: str, scene_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    scene = _scene(project, scene_id)
    form = NewShotForm(request.POST)
    prompt = form.cleaned_data["prompt"] if form.is_valid() else ""
    try:
        shot = shot_services.shot_create(scene=scene, actor=request.user, prompt=prompt or scene.action[:1000])
    except ValidationError as exc:
        return refused(request, _board_url(project, f"scene-{scene.id}"), exc)
    if not request.htmx:
        return after_write(request, _board_url(project, f"shot-{shot.id}"))
    return _scene_response(request, project, scene.id)


@require_safe
@login_required
def shot_card(request, slug: str, shot_id: int):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    return _card_response(request, project, shot_id)


@require_http_methods(["GET", "POST"])
@login_required
def shot_edit(request, slug: str, shot_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    shot = _shot(project, shot_id)
    context = {"project": project, "shot": shot, "cast_handles": selectors.cast_handles(project),
               "prompt_sent": selectors.prompt_sent(shot, project)}
    if request.method == "GET":
        context["form"] = ShotForm.for_shot(shot, default_backend=project.default_backend)
        return render_fragment(request, "board/_shot_form.html", context)
    form = ShotForm(request.POST, default_backend=project.default_backend)
    context["form"] = form
    if not form.is_valid():
        return render_fragment(request, "board/_shot_form.html", context, status=UNPROCESSABLE)
    try:
        shot_services.shot_update(shot=shot, actor=request.user, expected_version=form.cleaned_data["version"],
                                  **form.service_values())
    except StaleVersion as exc:
        # Show their saved values in the form, and ours beside them, so nothing typed is lost.
        context |= {"form": ShotForm(initial=exc.current, default_backend=project.default_backend),
                    "stale": True, "yours": form.cleaned_data}
        return render_fragment(request, "board/_shot_form.html", context, status=CONFLICT)
    except ValidationError as exc:
        form.add_error(None, error_text(exc))
        return render_fragment(request, "board/_shot_form.html", context, status=UNPROCESSABLE)
    return _card_response(request, project, shot.id)


@require_POST
@login_required
def shot_duplicate(request, slug: str, shot_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    shot = _shot(project, shot_id)
    try:
        copy = shot_services.shot_duplicate(shot=shot, actor=request.user)
    except ValidationError as exc:
        return refused(request, _board_url(project), exc)
    if not request.htmx:
        return after_write(request, _board_url(project, f"shot-{copy.id}"))
    return _scene_response(request, project, shot.scene_id)


@require_POST
@login_required
def shot_delete(request, slug: str, shot_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    shot = _shot(project, shot_id)
    shot_services.shot_trash(shot=shot, actor=request.user)
    return toast(request, _board_url(project), f"Shot {shot.code} moved to the trash.", response=HttpResponse(""))


@require_POST
@login_required
def shots_reorder(request, slug: str, scene_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    scene = _scene(project, scene_id)
    try:
        shot_services.shots_reorder(scene=scene, actor=request.user, shot_ids=posted_ids(request))
    except ValidationError as exc:
        return refused(request, _board_url(project), exc)
    return toast(request, _board_url(project, f"scene-{scene.id}"), "Shots reordered.")


@require_POST
@login_required
def shot_render(request, slug: str, shot_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    shot = _shot(project, shot_id)
    try:
        result = take_request(shot=shot, actor=request.user)
    except ValidationError as exc:
        return refused(request, _board_url(project, f"shot-{shot.id}"), exc)
    message = (f"Take {result.take.number} of {shot.code} queued." if result.dispatched
               else f"{shot.code} take {result.take.number} already matches these settings.")
    if result.dispatched:
        sent = selectors.prompt_sent(shot, project)
        if sent:  # the render confirmation says what the model is told
            message += f" Prompt sent to {sent['backend']}: {sent['text']}"
        message += budget_warning(project)
    if not request.htmx:
        return toast(request, _board_url(project, f"shot-{shot.id}"), message)
    return toast(request, "", message, response=_card_response(request, project, shot.id))


@require_POST
@login_required
def scene_render(request, slug: str, scene_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    scene = _scene(project, scene_id)
    try:
        batch = shots_render(shots=list(scene.shots.alive().order_by("order", "id")), actor=request.user)
    except (RateLimited, BudgetExceeded) as exc:
        return refused(request, _board_url(project, f"scene-{scene.id}"), exc)
    response = _scene_response(request, project, scene.id) if request.htmx else None
    return toast(request, _board_url(project, f"scene-{scene.id}"), batch.summary() + budget_warning(project),
                 level="warning" if batch.refused else "info", response=response)


@require_POST
@login_required
def render_missing(request, slug: str):
    """Render every shot of the board; shots whose settings already have a take reuse it."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    shots = list(selectors.shots_in_order(project).filter(scene__omitted=False))
    try:
        batch = shots_render(shots=shots, actor=request.user)
    except (RateLimited, BudgetExceeded) as exc:
        return refused(request, _board_url(project), exc)
    response = None
    if request.htmx:
        project.refresh_from_db(fields=["event_seq"])  # the renders just asked for changed it
        response = HttpResponse(_board_context(request, project)["scenes_html"])
    return toast(request, _board_url(project), batch.summary() + budget_warning(project),
                 level="warning" if batch.refused else "info",
                 response=response)


@require_POST
@login_required
def shot_rerender_chain(request, slug: str, shot_id: int):
    """"Re-render the chain": new takes, from the current upstream, of the stale shots of this
    shot's continuity chain."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    shot = _shot(project, shot_id)
    try:
        batch = chain_rerender(shot=shot, actor=request.user)
    except (RateLimited, BudgetExceeded) as exc:
        return refused(request, _board_url(project, f"shot-{shot.id}"), exc)
    message = batch.summary() if batch.queued or batch.reused or batch.refused else f"Nothing in {shot.code}'s chain is stale."
    if batch.queued:
        message += " Later shots of the chain turn stale, to be re-rendered the same way, once you approve these."
    response = _card_response(request, project, shot.id) if request.htmx else None
    return toast(request, _board_url(project, f"shot-{shot.id}"), message,
                 level="warning" if batch.refused else "info", response=response)


@require_POST
@login_required
def shot_take_action(request, slug: str, shot_id: int, take_id: int, action: str):
    """The board card's Retry (failed or cancelled take) and Render next (queued take) buttons;
    answers the card, like Render."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    shot = _shot(project, shot_id)
    take = get_object_or_404(Take.objects.live(), pk=take_id, shot=shot)
    try:
        if action == "retry":
            result = take_services.take_retry(take=take, actor=request.user)
            message = f"{shot.code}: take {result.take.number} queued, a retry of take {take.number}."
        else:
            take_services.take_set_priority(take=take, actor=request.user, priority=TakePriority.URGENT)
            message = f"{shot.code} take {take.number} renders next."
    except ValidationError as exc:
        return refused(request, _board_url(project, f"shot-{shot.id}"), exc)
    if not request.htmx:
        return toast(request, _board_url(project, f"shot-{shot.id}"), message)
    return toast(request, "", message, response=_card_response(request, project, shot.id))
