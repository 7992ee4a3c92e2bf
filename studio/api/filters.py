"""Query filters for the API's lists (django-filter)."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef

from studio.models import Take, TakeStatus


class ShotStatus:
    APPROVED = "approved"  # has an approved take
    RENDERING = "rendering"  # a take is queued or running
    RENDERED = "rendered"  # has a finished take
    UNRENDERED = "unrendered"  # no finished take yet
    CHOICES = [(APPROVED, "approved"), (RENDERING, "rendering"), (RENDERED, "rendered"), (UNRENDERED, "unrendered")]


def _takes_of_shot(*statuses):
    return Exists(Take.objects.alive().filter(shot=OuterRef("pk"), status__in=statuses))


class ShotFilter(django_filters.FilterSet):
    scene = django_filters.NumberFilter(field_name="scene_id", help_text="Scene id.")
    cast = django_filters.CharFilter(field_name="cast_links__cast_member__handle", distinct=True,
                                     help_text="Handle of a cast member the shot uses (without @).")
    status = django_filters.ChoiceFilter(choices=ShotStatus.CHOICES, method="filter_status")

    def filter_status(self, queryset, name, value):
        if value == ShotStatus.APPROVED:
            return queryset.filter(approved_take__isnull=False)
        if value == ShotStatus.RENDERING:
            return queryset.filter(_takes_of_shot(TakeStatus.QUEUED, TakeStatus.RUNNING))
        finished = _takes_of_shot(TakeStatus.SUCCEEDED)
        return queryset.filter(finished if value == ShotStatus.RENDERED else ~finished)


class TakeFilter(django_filters.FilterSet):
    shot = django_filters.NumberFilter(field_name="shot_id", help_text="Shot id.")
    status = django_filters.ChoiceFilter(choices=TakeStatus.choices)
