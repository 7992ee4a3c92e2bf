"""The cast library: characters, objects, locations and styles with their reference images."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent, ValidationError
from django.http import Http404, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from studio import access, selectors
from studio.body_limits import MAX_IMAGES_PER_UPLOAD, PAYLOAD_TOO_LARGE, image_upload_limit
from studio.forms import CastMemberEditForm, CastMemberForm, ImageRightsForm
from studio.images import image_slot
from studio.models import CastKind, CastMember, ImageRights, ReferenceImage
from studio.services import cast as cast_services
from studio.services.common import StaleVersion
from studio.views.common import CONFLICT, UNPROCESSABLE, after_write, error_text, posted_ids, refused, render_fragment




class UploadRefused(Exception):
    """The whole request is refused before any file in it is looked at."""

    def __init__(self, message: str, status: int = PAYLOAD_TOO_LARGE):
        super().__init__(message)
        self.status = status


def _library_url(project) -> str:
    return reverse("cast_library", args=[project.slug])


def _member(project, member_id: int) -> CastMember:
    return get_object_or_404(CastMember.objects.alive(), pk=member_id, project=project)


def _image(project, image_id: int) -> ReferenceImage:
    return get_object_or_404(
        ReferenceImage.objects.select_related("cast_member"),
        pk=image_id, cast_member__project=project, cast_member__deleted_at__isnull=True,
    )


def _card_context(request, project, member_id: int) -> dict:
    member = selectors.cast_library(project).filter(pk=member_id).first()
    if member is None:
        raise Http404("No such cast member.")
    return {"project": project, "member": member, "usage": selectors.cast_usage(project),
            "can_edit": access.can(request.user, project, access.Action.EDIT), "image_rights_choices": ImageRights.choices}


@require_safe
@login_required
def cast_library(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    members = list(selectors.cast_library(project))
    groups = [(kind, label, [m for m in members if m.kind == kind]) for kind, label in CastKind.choices]
    return render(request, "cast/library.html", {
        "project": project,
        "groups": groups,
        "usage": selectors.cast_usage(project),
        "form": CastMemberForm(),
        "can_edit": access.can(request.user, project, access.Action.EDIT),
        "image_rights_choices": ImageRights.choices,
        "nav": "cast",
    })


@require_safe
@login_required
def cast_member_card(request, slug: str, member_id: int):
    project = access.project_for(request.user, slug, access.Action.VIEW)
    return render(request, "cast/_card.html", _card_context(request, project, member_id))


@require_POST
@login_required
def cast_member_new(request, slug: str):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    form = CastMemberForm(request.POST)
    if form.is_valid():
        try:
            member = cast_services.cast_member_create(project=project, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            message = f"@{member.handle} added to the cast."
            if request.htmx:
                return _added(request, project, member, message)
            return after_write(request, _library_url(project) + f"#cast-{member.id}", message)
    return render_fragment(request, "cast/_new_form.html", {"project": project, "form": form}, status=UNPROCESSABLE)


def _added(request, project, member: CastMember, message: str):
    """htmx: a fresh form (a new request token) in place of the sent one, and the member's group
    with the new card swapped in out of band; the page stays where it is."""
    members = [m for m in selectors.cast_library(project) if m.kind == member.kind]
    response = render(request, "cast/_added.html", {
        "project": project, "form": CastMemberForm(), "kind": member.kind, "label": member.get_kind_display(),
        "members": members, "usage": selectors.cast_usage(project), "member_added": member,
        "can_edit": access.can(request.user, project, access.Action.EDIT), "oob": True,
    })
    response["HX-Trigger"] = json.dumps({"toast": {"message": message, "level": "success"}})
    response["HX-Trigger-After-Settle"] = json.dumps({"cast-added": {"id": member.id}})
    return response


@require_http_methods(["GET", "POST"])
@login_required
def cast_member_edit(request, slug: str, member_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    member = _member(project, member_id)
    if request.method == "GET":
        form = CastMemberEditForm(initial=_member_initial(member))
        return render_fragment(request, "cast/_edit_form.html", {"project": project, "member": member, "form": form})
    form = CastMemberEditForm(request.POST)
    status = UNPROCESSABLE
    context = {"project": project, "member": member, "form": form}
    if form.is_valid():
        try:
            cast_services.cast_member_update(member=member, actor=request.user,
                                             expected_version=form.cleaned_data["version"], **form.service_values())
        except StaleVersion as exc:
            context |= {"form": CastMemberEditForm(initial=exc.current), "stale": True, "yours": form.cleaned_data}
            status = CONFLICT
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            if not request.htmx:
                messages.success(request, f"@{member.handle} saved.")
            return render_fragment(request, "cast/_card.html", _card_context(request, project, member.id))
    return render_fragment(request, "cast/_edit_form.html", context, status=status)


def _member_initial(member: CastMember) -> dict:
    return {name: getattr(member, name) for name in
            ("name", "kind", "handle", "description", "rights_status", "rights_note", "version")}


@require_POST
@login_required
def cast_member_trash(request, slug: str, member_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    member = _member(project, member_id)
    cast_services.cast_member_trash(member=member, actor=request.user)
    return after_write(request, _library_url(project), f"@{member.handle} moved to the trash.")


@require_POST
@login_required
def reference_image_upload(request, slug: str, member_id: int):
    """One or more files. The browser's uploader sends one file per request (for its progress
    bar) and wants JSON back; a plain form may send several and goes back to the library."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    member = _member(project, member_id)
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        uploads = _uploaded_images(request)
    except UploadRefused as exc:
        return _upload_answer(request, project, wants_json, added=[], errors=[str(exc)], status=exc.status)
    if not uploads:
        return _upload_answer(request, project, wants_json, added=[], errors=["Choose at least one image."])
    added, errors = [], []
    for upload in uploads:
        try:
            with image_slot():  # a few images at a time per process, whatever the parallel uploads
                # One byte past the limit is enough for clean_image to refuse it; never hold a huge file.
                data = upload.read(settings.CONTINUITY_MAX_IMAGE_BYTES + 1)
                image = cast_services.reference_image_add(member=member, actor=request.user, data=data, label=upload.name)
        except ValidationError as exc:
            errors.append(error_text(exc))
        else:
            added.append(image.id)
    return _upload_answer(request, project, wants_json, added=added, errors=errors)


def _uploaded_images(request) -> list:
    """The posted files, or UploadRefused when the request is bigger or fuller than any allowed
    upload could be; the size is judged from the header, before the body is read."""
    # The servers refuse such a body as it arrives (studio/body_limits.py); this is the same rule
    # for whatever reaches the view another way.
    limit = image_upload_limit()
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit.max_bytes:
            raise UploadRefused(limit.message)
        uploads = request.FILES.getlist("images")
    except RequestDataTooBig:
        raise UploadRefused(limit.message) from None
    except (TooManyFieldsSent, TooManyFilesSent):
        raise UploadRefused(f"Send at most {MAX_IMAGES_PER_UPLOAD} images at a time.") from None
    except (MultiPartParserError, ValueError):
        raise UploadRefused("The upload could not be read; choose the images and send them again.", 400) from None
    if len(uploads) > MAX_IMAGES_PER_UPLOAD:
        raise UploadRefused(f"Send at most {MAX_IMAGES_PER_UPLOAD} images at a time; this upload has {len(uploads)}.")
    return uploads


def _upload_answer(request, project, wants_json: bool, *, added: list[int], errors: list[str], status: int = UNPROCESSABLE):
    if wants_json:
        return JsonResponse({"added": added, "errors": errors}, status=status if errors and not added else 200)
    for error in errors:
        messages.error(request, error)
    return after_write(request, _library_url(project), f"{len(added)} image(s) added." if added else "")


@require_POST
@login_required
def reference_images_reorder(request, slug: str, member_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    member = _member(project, member_id)
    try:
        cast_services.reference_images_reorder(member=member, actor=request.user, image_ids=posted_ids(request))
    except ValidationError as exc:
        return refused(request, _library_url(project), exc)
    return _card_or_library(request, project, member.id)


@require_POST
@login_required
def reference_image_primary(request, slug: str, image_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    image = _image(project, image_id)
    cast_services.reference_image_set_primary(image=image, actor=request.user)
    return _card_or_library(request, project, image.cast_member_id)


@require_POST
@login_required
def reference_image_delete(request, slug: str, image_id: int):
    project = access.project_for(request.user, slug, access.Action.EDIT)
    image = _image(project, image_id)
    cast_services.reference_image_delete(image=image, actor=request.user)
    return _card_or_library(request, project, image.cast_member_id)


@require_POST
@login_required
def reference_image_rights(request, slug: str, image_id: int):
    """Set one reference image's rights status, source and licence note."""
    project = access.project_for(request.user, slug, access.Action.EDIT)
    image = _image(project, image_id)
    form = ImageRightsForm(request.POST)
    url = _library_url(project) + f"#cast-{image.cast_member_id}"
    if not form.is_valid():
        return refused(request, url, ValidationError(form.errors.as_text()))
    try:
        cast_services.reference_image_set_rights(image=image, actor=request.user, **form.cleaned_data)
    except ValidationError as exc:
        return refused(request, url, exc)
    return _card_or_library(request, project, image.cast_member_id)


def _card_or_library(request, project, member_id: int):
    if request.htmx:
        return render(request, "cast/_card.html", _card_context(request, project, member_id))
    return after_write(request, _library_url(project) + f"#cast-{member_id}")
