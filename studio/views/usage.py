"""A project's Usage page: GPU and wall seconds by scene, shot, cut, member, backend and day, a
small chart of the last two weeks, and the GPU budget (owners set it and lift its stop)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from studio import access, usage_selectors
from studio.services import usage as usage_services
from studio.views.common import after_write, refused

CHART_DAYS = 14
CHART_WIDTH, CHART_HEIGHT = 560, 120


def usage_url(project) -> str:
    return reverse("usage", args=[project.slug])


@require_safe
@login_required
def usage_page(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    rollups = {by: usage_selectors.usage_by(project, by) for by in ("scene", "member", "shot", "cut", "backend")}
    return render(request, "usage/page.html", {
        "project": project,
        "nav": "usage",
        "totals": usage_selectors.usage_totals(project),
        "budget": usage_selectors.budget_state(project),
        "rollups": rollups,
        "chart": chart_bars(usage_selectors.daily_chart(project, days=CHART_DAYS)),
        "chart_width": CHART_WIDTH, "chart_height": CHART_HEIGHT,
        "can_manage": access.can(request.user, project, access.Action.MANAGE),
    })


def chart_bars(days: list[usage_selectors.UsageRow]) -> list[dict]:
    """Bars for the inline SVG chart: x, y, width, height per day (no JavaScript, no chart library)."""
    top = max((day.gpu_seconds for day in days), default=0) or 1
    slot = CHART_WIDTH / max(1, len(days))
    bars = []
    for i, day in enumerate(days):
        height = round((CHART_HEIGHT - 16) * day.gpu_seconds / top, 1)
        bars.append({"x": round(i * slot + 2, 1), "width": round(slot - 4, 1), "y": round(CHART_HEIGHT - 14 - height, 1),
                     "height": height, "label": day.label[5:], "seconds": day.gpu_seconds, "day": day.label})
    return bars


@require_POST
@login_required
def budget_update(request, slug: str):
    """An owner sets the budget (empty: none) or lifts / restores the stop at 100%."""
    project = access.project_for(request.user, slug, access.Action.MANAGE)
    url = usage_url(project)
    action = request.POST.get("action", "set")
    try:
        if action == "lift":
            usage_services.budget_lift(project=project, actor=request.user, lifted=True)
            return after_write(request, url, "Budget stop lifted: renders go on past 100%.")
        if action == "restore":
            usage_services.budget_lift(project=project, actor=request.user, lifted=False)
            return after_write(request, url, "Budget stop restored.")
        raw = request.POST.get("seconds", "").strip().replace(",", "")
        try:
            seconds = int(raw) if raw else None
        except ValueError:
            raise ValidationError(f"{raw!r} is not a whole number of GPU seconds.") from None
        usage_services.budget_set(project=project, actor=request.user, seconds=seconds)
    except ValidationError as exc:
        return refused(request, url, exc)
    return after_write(request, url, "GPU budget saved." if seconds else "GPU budget removed.")
