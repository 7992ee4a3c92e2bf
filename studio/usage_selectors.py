"""Reads for GPU accounting: what a project's takes cost, rolled up by one question at a time.

Each roll-up is one grouped query over the project's takes (trashed ones too: the time was spent).
`gpu_seconds` is measured on the worker around the model call (the engine reports it);
`wall_seconds` is the worker's whole time on the take (claim to end, encode included). A reused
take (same signature, no GPU work) costs 0 and counts as saved time: what its source cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, FloatField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from studio.models import Cut, CutEntry, Project, Take

ROLLUPS = ("shot", "scene", "cut", "member", "backend", "day")

# group key -> (fields that name the group, how the label is read from them)
_GROUPS = {
    "shot": (("shot_id", "shot__code", "shot__scene__heading"), lambda r: f"{r['shot__code']} · {r['shot__scene__heading']}"),
    "scene": (("shot__scene_id", "shot__scene__heading"), lambda r: r["shot__scene__heading"]),
    "member": (("requested_by_id", "requested_by__username"), lambda r: r["requested_by__username"] or "(nobody)"),
    "backend": (("backend",), lambda r: r["backend"]),
}


@dataclass(frozen=True)
class UsageRow:
    key: object  # the group's id (shot, scene, cut, user), backend name or day
    label: str
    gpu_seconds: float
    wall_seconds: float
    takes: int
    saved_seconds: float  # GPU seconds reused takes did not spend


@dataclass(frozen=True)
class BudgetState:
    budget_seconds: int | None
    spent_seconds: float
    lifted: bool

    @property
    def fraction(self) -> float | None:
        return None if not self.budget_seconds else self.spent_seconds / self.budget_seconds

    @property
    def level(self) -> str:
        """"none", "ok", "warning" (80% and more), "exceeded" (100% and more) or "lifted" (over, stop lifted)."""
        fraction = self.fraction
        if fraction is None:
            return "none"
        if fraction >= 1:
            return "lifted" if self.lifted else "exceeded"
        return "warning" if fraction >= 0.8 else "ok"

    @property
    def refuses_renders(self) -> bool:
        return self.level == "exceeded"


def project_takes(project: Project) -> QuerySet[Take]:
    return Take.objects.filter(shot__scene__project=project).order_by()


def _sums():
    return {
        "gpu": Coalesce(Sum("gpu_seconds"), Value(0.0), output_field=FloatField()),
        "wall": Coalesce(Sum("compute_seconds"), Value(0.0), output_field=FloatField()),
        "takes": Count("id"),
        "saved": Coalesce(Sum("reused_from__gpu_seconds", filter=Q(reused_from__isnull=False)), Value(0.0),
                          output_field=FloatField()),
    }


def _row(key, label: str, r: dict) -> UsageRow:
    return UsageRow(key=key, label=label, gpu_seconds=float(r["gpu"] or 0), wall_seconds=float(r["wall"] or 0),
                    takes=int(r["takes"] or 0), saved_seconds=float(r["saved"] or 0))


def usage_by(project: Project, by: str) -> list[UsageRow]:
    """GPU and wall seconds per shot, scene, cut, member (who asked), backend or day: one query,
    largest spender first (days in date order)."""
    if by not in ROLLUPS:
        raise ValueError(f"Unknown roll-up {by!r}; one of {', '.join(ROLLUPS)}.")
    if by == "cut":
        return _usage_by_cut(project)
    if by == "day":
        rows = (project_takes(project).filter(finished_at__isnull=False).annotate(day=TruncDate("finished_at"))
                .values("day").annotate(**_sums()).order_by("day"))
        return [_row(r["day"], r["day"].isoformat(), r) for r in rows]
    fields, label = _GROUPS[by]
    rows = project_takes(project).values(*fields).annotate(**_sums()).order_by("-gpu", *fields)
    return [_row(r[fields[0]], label(r), r) for r in rows]


def _usage_by_cut(project: Project) -> list[UsageRow]:
    """Every take of every shot a cut uses (a shot in two cuts counts in both), one query."""
    takes_of_cut = Take.objects.filter(
        shot__in=CutEntry.objects.filter(cut_id=OuterRef(OuterRef("pk"))).values("shot_id")
    ).order_by().values("shot__scene__project_id")

    def total(expression):
        return Coalesce(Subquery(takes_of_cut.annotate(v=expression).values("v")), Value(0.0), output_field=FloatField())

    cuts = (Cut.objects.alive().filter(project=project)
            .annotate(gpu=total(Sum("gpu_seconds")), wall=total(Sum("compute_seconds")),
                      takes=Coalesce(Subquery(takes_of_cut.annotate(v=Count("id")).values("v")), Value(0)),
                      saved=total(Sum("reused_from__gpu_seconds")))
            .values("id", "name", "gpu", "wall", "takes", "saved").order_by("-gpu", "name"))
    return [_row(r["id"], r["name"], r) for r in cuts]


def usage_totals(project: Project) -> UsageRow:
    r = project_takes(project).aggregate(**_sums())
    return _row(project.pk, project.name, r)


def budget_state(project: Project) -> BudgetState:
    spent = project_takes(project).aggregate(s=Coalesce(Sum("gpu_seconds"), Value(0.0), output_field=FloatField()))["s"]
    return BudgetState(budget_seconds=project.gpu_budget_seconds, spent_seconds=float(spent),
                       lifted=project.gpu_budget_lifted)


def daily_chart(project: Project, *, days: int = 14, today: date | None = None) -> list[UsageRow]:
    """The last `days` days, every day present (0 when nothing ran), for the Usage page's chart."""
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    spent = {row.key: row for row in usage_by(project, "day")}
    return [spent.get(first + timedelta(days=i)) or UsageRow(first + timedelta(days=i), (first + timedelta(days=i)).isoformat(),
                                                               0.0, 0.0, 0, 0.0) for i in range(days)]

