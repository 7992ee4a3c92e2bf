"""Guest review links: an owner shares one cut or one shot's takes with someone who has no
account, for a few days, optionally behind a password. Access decisions live in studio/access.py."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from studio import selectors
from studio.models import Cut, Project, ReviewLink, Shot, Take, TakeStatus
from studio.services.audit import audit_record
from studio.services.references import ImageRightsBook, describe_image, take_images, uncleared_images

MAX_LINK_DAYS = 90


@transaction.atomic
def review_link_create(*, project: Project, actor, cut: Cut | None = None, shot: Shot | None = None, days: int = 7,
                       password: str = "", label: str = "") -> tuple[ReviewLink, str]:
    """A new link to exactly one live cut or shot of this project. Returns (link, token)."""
    _check_target(project, cut, shot)
    _check_rights(project, cut, shot)
    if not 1 <= days <= MAX_LINK_DAYS:
        raise ValidationError(f"A review link lasts between 1 and {MAX_LINK_DAYS} days.")
    token = secrets.token_urlsafe(24)
    link = ReviewLink.objects.create(
        project=project, token=token, cut=cut, shot=shot, label=label.strip()[:120],
        password_hash=make_password(password) if password else "",
        expires_at=timezone.now() + timedelta(days=days), created_by=actor,
    )
    audit_record(actor=actor, project_id=project.id, verb="review link created", obj=link,
                 changes={"days": days, "password": bool(password)})
    return link, token


def _check_target(project: Project, cut: Cut | None, shot: Shot | None) -> None:
    if (cut is None) == (shot is None):
        raise ValidationError("A review link shares either a cut or a shot.")
    if cut is not None and (cut.project_id != project.id or cut.is_trashed):
        raise ValidationError("That cut is not part of this project.")
    if shot is not None and (shot.scene.project_id != project.id or shot.is_trashed or shot.scene.is_trashed):
        raise ValidationError("That shot is not part of this project.")


def _check_rights(project: Project, cut: Cut | None, shot: Shot | None) -> None:
    """A guest link is a deliverable: every reference image used by a take it shows must be cleared."""
    if cut is not None:
        shown = [(row.entry.shot.code, row.take) for row in selectors.cut_timeline(cut) if row.take is not None]
    else:
        takes = Take.objects.alive().filter(shot=shot, status=TakeStatus.SUCCEEDED)
        shown = [(shot.code, take) for take in takes]
    book = ImageRightsBook(project.id, [take for _, take in shown])
    uncleared = uncleared_images([{"shot_code": code, "references": take_images(take, book)} for code, take in shown])
    if uncleared:
        raise ValidationError("A guest link is a deliverable, and these reference images are not cleared: "
                              + "; ".join(map(describe_image, uncleared))
                              + ". Clear their rights on the cast page first.")


def takes_cleared(project_id: int, takes: list[Take]) -> bool:
    """Whether every reference image these takes used is cleared now (one query): a link made
    while they were pauses when an image's rights are withdrawn later."""
    book = ImageRightsBook(project_id, takes)
    return not uncleared_images([{"shot_code": "", "references": take_images(take, book)} for take in takes])


@transaction.atomic
def review_link_revoke(*, link: ReviewLink, actor) -> ReviewLink:
    """Stop the link working at once; its guests' comments stay."""
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        audit_record(actor=actor, project_id=link.project_id, verb="review link revoked", obj=link)
    return link
