"""GPU budgets: whether a project may start another render, and the owner's budget settings.

What was spent is read by studio/usage_selectors.py (measured on the worker: services/renders.py
records each take's GPU seconds, which the engine measures around the model call). A budget warns
from 80% and stops new renders at 100% until an owner raises it or lifts the stop. Only renders
that would cost worker time are refused: a request answered by a reused take costs nothing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from studio import usage_selectors
from studio.models import Project
from studio.services.audit import audit_record

TOP_SPENDERS = 3


class BudgetExceeded(ValidationError):
    """The project's GPU budget is spent; the message says how much, by whom, and who can lift it."""

    def __init__(self, state: usage_selectors.BudgetState, spenders: list[usage_selectors.UsageRow]):
        self.state = state
        by_whom = ", ".join(f"{row.label} {seconds_text(row.gpu_seconds)}" for row in spenders[:TOP_SPENDERS] if row.gpu_seconds)
        super().__init__(
            f"This project's GPU budget is used up: {seconds_text(state.spent_seconds)} of "
            f"{seconds_text(state.budget_seconds or 0)} spent" + (f" ({by_whom})" if by_whom else "")
            + ". An owner can raise the budget or lift the stop on the Usage page."
        )


def seconds_text(seconds: float) -> str:
    return f"{seconds:,.0f} GPU s" if seconds >= 10 else f"{seconds:,.1f} GPU s"


def budget_check(project: Project) -> None:
    """Raise BudgetExceeded when the project's budget refuses new GPU work (100% and not lifted)."""
    if project.gpu_budget_seconds is None or project.gpu_budget_lifted:
        return  # no budget, or the stop is lifted: no query at all
    state = usage_selectors.budget_state(project)
    if state.refuses_renders:
        raise BudgetExceeded(state, usage_selectors.usage_by(project, "member"))


def budget_warning(project: Project) -> str:
    """"" or a sentence for the person who just asked for a render, from 80% of the budget on."""
    if project.gpu_budget_seconds is None:
        return ""  # no budget: no query
    state = usage_selectors.budget_state(project)
    if state.level in ("warning", "lifted"):
        return (f" GPU budget: {seconds_text(state.spent_seconds)} of {seconds_text(state.budget_seconds)} spent"
                f" ({state.fraction:.0%}).")
    return ""


@transaction.atomic
def budget_set(*, project: Project, actor, seconds: int | None) -> Project:
    """Set (or with None remove) the project's GPU budget. A new budget re-arms the stop."""
    if seconds is not None and seconds < 1:
        raise ValidationError("A GPU budget is a whole number of seconds, at least 1 (leave it empty for no budget).")
    project = Project.objects.select_for_update().get(pk=project.pk)
    project.gpu_budget_seconds, project.gpu_budget_lifted = seconds, False
    project.save(update_fields=["gpu_budget_seconds", "gpu_budget_lifted", "updated_at"])
    audit_record(actor=actor, project_id=project.pk, verb="GPU budget set", obj=project,
                 changes={"gpu_budget_seconds": seconds})
    return project


@transaction.atomic
def budget_lift(*, project: Project, actor, lifted: bool = True) -> Project:
    """Let renders go on past 100% (or put the stop back). The warning stays."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    project.gpu_budget_lifted = lifted
    project.save(update_fields=["gpu_budget_lifted", "updated_at"])
    audit_record(actor=actor, project_id=project.pk, verb="GPU budget stop lifted" if lifted else "GPU budget stop restored",
                 obj=project)
    return project
