"""Template helpers for the studio: media URLs behind the access check, timecode, running time."""

from __future__ import annotations

import json

from django import template
from django.urls import reverse

from generation.timecode import timecode as format_timecode

register = template.Library()


@register.simple_tag
def media_url(project, file) -> str:
    """The URL of a stored file through the project's access-checked media view ('' if none)."""
    name = getattr(file, "name", file) or ""
    if not name:
        return ""
    return reverse("project_media", args=[project.slug, name])


@register.filter
def timecode(frame, fps) -> str:
    """Frame number -> HH:MM:SS:FF at the project's frame rate (non-drop-frame)."""
    try:
        frame, fps = int(frame), int(fps)
    except (TypeError, ValueError):
        return ""
    if fps <= 0:
        return ""
    return format_timecode(frame, fps)


@register.filter
def percent(value) -> int:
    try:
        return max(0, min(100, round(float(value) * 100)))
    except (TypeError, ValueError):
        return 0


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
