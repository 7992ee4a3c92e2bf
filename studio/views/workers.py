"""The Workers page for operators (staff): every render worker's last report from Redis."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from studio import worker_selectors


@require_safe
@staff_member_required
def workers_page(request):
    rows, problem = worker_selectors.worker_rows()
    return render(request, "workers/page.html", {"workers": rows, "problem": problem})
