"""The API's views: parse, ask studio/access.py, call one service or selector, answer.

Every project URL starts with the project's slug; the project is looked up through the access
module for the action the method needs, so outsiders get 404 and members whose role is too low
get 403, exactly as in the browser. Writes go through studio/services (audited, events after
commit); versioned objects refuse a stale write with 409 and a write without `version` with 400.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache, caches
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from studio import access, selectors
from studio.access import Action
from studio.api import serializers as s
from studio.api.errors import PreconditionFailed
from studio.api.filters import ShotFilter, TakeFilter
from studio.models import (
    CastMember, Comment, Cut, CutEntry, Export, ExportStatus, Membership, ReferenceImage, Scene, Shot, Take, TokenScope,
)
from studio.services import cast as cast_services
from studio.services import cuts as cut_services
from studio.services import projects as project_services
from studio.services import reviews as review_services
from studio.services import shots as shot_services
from studio.services import takes as take_services
from studio.services.render_requests import take_request
from studio.services.script import script_import
from studio.views import deliverables as deliverable_views
from studio.views.media import serve_project_file

logger = logging.getLogger(__name__)

MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers around the one file


class PayloadTooLarge(APIException):
    status_code = 413
    default_code = "payload_too_large"


def files_of_type(*content_types: str) -> dict:
    """A download's documented answer: the file's bytes, as one of these types."""
    return {(200, content_type): OpenApiTypes.BINARY for content_type in content_types}


IMAGE_FILE = files_of_type("image/png", "image/jpeg", "image/webp")
EXPORT_FILE = files_of_type("video/mp4", "application/json", "text/plain; charset=utf-8", "application/xml",
                            "application/octet-stream")


@csrf_exempt  # it changes nothing; without this a POST to a mistyped path met the CSRF check's HTML 403
def not_found(request, rest: str = ""):
    """Any other path under /api/v1/: a JSON 404, like every other API answer, for every method."""
    return JsonResponse({"detail": "No such API endpoint."}, status=404)


# Cached answers are keyed by the project's event_seq, which every event but a progress tick
# bumps (studio/events.py); the expiry only bounds an event lost between a commit and its publish.
CONTENT_CACHE_S = 300


def content_cache_key(kind: str, project, request) -> str:
    """One entry per project state and per URL (filters, ordering, page and the host of its links).
    Nothing personal is in such an answer; who may read it was decided before."""
    url = hashlib.sha256(request.build_absolute_uri().encode()).hexdigest()[:32]
    return f"{kind}:{project.content_key}:{url}"


def _cache_get(key: str):
    """From this process's memory first (no round trip), then from the shared cache."""
    body = caches["process"].get(key)
    if body is not None:
        return body
    try:
        body = cache.get(key)
    except Exception:  # Redis is away: the answer is slower, never wrong
        logger.warning("API cache unavailable", exc_info=True)
        return None
    if body is not None:
        caches["process"].set(key, body)  # for its own short while (settings.CACHES)
    return body


def _cache_set(key: str, data) -> None:
    caches["process"].set(key, data)
    try:
        cache.set(key, data, CONTENT_CACHE_S)
    except Exception:
        logger.warning("API cache unavailable", exc_info=True)


def _edit(serializer_class, request, if_match: int | None = None) -> tuple[int, dict]:
    """(version, changes) from a versioned edit; 400 when `version` is missing (and no If-Match
    gave it) or a value is refused."""
    data = request.data
    if if_match is not None and hasattr(data, "copy") and "version" not in data:
        data = data.copy()
        data["version"] = if_match
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    changes = dict(serializer.validated_data)
    return changes.pop("version"), changes


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _refuse_large_body(request, limit: int, what: str) -> None:
    """A body far larger than the file we accept is refused from its header, before it is read."""
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit + MULTIPART_OVERHEAD_BYTES:
        raise PayloadTooLarge(f"The upload is larger than {limit // (1024 * 1024)} MB, the most a {what} may be.")


def _uploaded_bytes(uploaded, limit: int, what: str) -> bytes:
    if uploaded.size > limit:
        raise ValidationError(f"The {what} is larger than {limit // (1024 * 1024)} MB.")
    return uploaded.read()


class ProjectScoped(generics.GenericAPIView):
    """A view under /projects/<slug>/: the project, checked for the action this method needs."""

    write_action = Action.EDIT
    model = None

    @property
    def project(self):
        if not hasattr(self, "_project"):
            action = Action.VIEW if self.request.method in SAFE_METHODS else self.write_action
            self._project = access.project_for(self.request.user, self.kwargs["slug"], action)
        return self._project

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no project
            return self.model.objects.none()
        return self.project_queryset(self.project)

    def project_queryset(self, project):
        raise NotImplementedError

    def get_object(self):
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


class ReadOnlyList(ProjectScoped, generics.ListAPIView):
    pass


# --- ETag / If-Match on versioned objects ------------------------------------------------------------
# Every versioned object answers `ETag: "v<version>"`. A PATCH or DELETE that sends `If-Match` is
# refused with 412 (and the current values) when the object has moved on; one that sends `version`
# in its body is refused with 409 as in the browser. Either is enough for a PATCH; both may be sent.

IF_MATCH = OpenApiParameter(
    "If-Match", str, OpenApiParameter.HEADER, required=False,
    description='The ETag you read (`"v<version>"`): a write against a newer version is refused with 412.')
ETAG = OpenApiParameter("ETag", str, OpenApiParameter.HEADER, response=[200],
                        description='The object\'s version as an entity tag, `"v<version>"`.')


def etag_of(version: int) -> str:
    return f'"v{version}"'


def _versions_named(header: str) -> set[int] | None:
    """The versions an If-Match header names; None for `*` (any)."""
    versions = set()
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*":
            return None
        tag = tag.removeprefix("W/").strip('"')
        if tag[:1] == "v" and tag[1:].isdigit() and len(tag) < 20:
            versions.add(int(tag[1:]))
    return versions


class VersionedDetail(ProjectScoped):
    def answer(self, obj) -> Response:
        data = self.serializer_class(obj).data
        return Response(data, headers={"ETag": etag_of(data["version"])})

    def if_match(self, obj) -> int | None:
        """The version If-Match names when it is the object's; 412 when it is not; None without it."""
        header = self.request.headers.get("If-Match")
        if header is None:
            return None
        versions = _versions_named(header)
        if versions is not None and obj.version not in versions:
            raise PreconditionFailed(self.serializer_class(obj).data)
        return obj.version


# --- Projects and members --------------------------------------------------------------------------

class ProjectList(generics.ListCreateAPIView):
    serializer_class = s.ProjectSerializer
    ordering_fields = ["name", "created_at", "updated_at"]

    def get_queryset(self):
        return selectors.projects_for_user(self.request.user)

    @extend_schema(request=s.ProjectCreateSerializer, responses={201: s.ProjectSerializer})
    def post(self, request, *args, **kwargs):
        project = project_services.project_create(owner=request.user, **_valid(s.ProjectCreateSerializer, request))
        return Response(s.ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetail(VersionedDetail):
    serializer_class = s.ProjectSerializer
    write_action = Action.MANAGE
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(parameters=[ETAG], responses={200: s.ProjectSerializer})
    def get(self, request, slug):
        return self.answer(self.project)

    @extend_schema(request=s.ProjectEditSerializer, parameters=[IF_MATCH, ETAG], responses={200: s.ProjectSerializer})
    def patch(self, request, slug):
        version, changes = _edit(s.ProjectEditSerializer, request, self.if_match(self.project))
        project = project_services.project_update(project=self.project, actor=request.user, expected_version=version, **changes)
        return self.answer(project)


class MemberList(ReadOnlyList):
    serializer_class = s.MemberSerializer
    model = Membership

    def project_queryset(self, project):
        return selectors.project_members(project)


# --- Cast and reference images ----------------------------------------------------------------------

class CastList(ProjectScoped, generics.ListAPIView):
    serializer_class = s.CastMemberSerializer
    model = CastMember
    filterset_fields = ["kind", "rights_status"]
    ordering_fields = ["name", "handle", "kind", "created_at"]

    def project_queryset(self, project):
        return selectors.cast_library(project)

    @extend_schema(request=s.CastMemberCreateSerializer, responses={201: s.CastMemberSerializer})
    def post(self, request, slug):
        member = cast_services.cast_member_create(project=self.project, actor=request.user,
                                                  **_valid(s.CastMemberCreateSerializer, request))
        return Response(s.CastMemberSerializer(member).data, status=status.HTTP_201_CREATED)


class CastDetail(VersionedDetail):
    serializer_class = s.CastMemberSerializer
    model = CastMember
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def project_queryset(self, project):
        return selectors.cast_library(project)

    @extend_schema(parameters=[ETAG], responses={200: s.CastMemberSerializer})
    def get(self, request, slug, pk):
        return self.answer(self.get_object())

    @extend_schema(request=s.CastMemberEditSerializer, parameters=[IF_MATCH, ETAG], responses={200: s.CastMemberSerializer})
    def patch(self, request, slug, pk):
        member = self.get_object()
        version, changes = _edit(s.CastMemberEditSerializer, request, self.if_match(member))
        cast_services.cast_member_update(member=member, actor=request.user, expected_version=version, **changes)
        return self.answer(self.get_object())

    @extend_schema(parameters=[IF_MATCH], responses={204: None})
    def delete(self, request, slug, pk):
        member = self.get_object()
        self.if_match(member)
        cast_services.cast_member_trash(member=member, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReferenceImageList(ProjectScoped, generics.ListAPIView):
    serializer_class = s.ReferenceImageSerializer
    model = ReferenceImage
    parser_classes = [MultiPartParser]

    def project_queryset(self, project):
        return ReferenceImage.objects.filter(cast_member=self.member).order_by("-is_primary", "order", "id")

    @property
    def member(self):
        return get_object_or_404(CastMember.objects.alive(), project=self.project, pk=self.kwargs["member_id"])

    @extend_schema(request={"multipart/form-data": s.ImageUploadSerializer}, responses={201: s.ReferenceImageSerializer})
    def post(self, request, slug, member_id):
        member = self.member  # access first: an outsider learns nothing from the size check
        _refuse_large_body(request, settings.CONTINUITY_MAX_IMAGE_BYTES, "reference image")
        uploaded = _valid(s.ImageUploadSerializer, request)["image"]
        data = _uploaded_bytes(uploaded, settings.CONTINUITY_MAX_IMAGE_BYTES, "image")
        image = cast_services.reference_image_add(member=member, actor=request.user, data=data, label=uploaded.name[:80])
        return Response(s.ReferenceImageSerializer(image).data, status=status.HTTP_201_CREATED)


class ReferenceImageDetail(ProjectScoped):
    serializer_class = s.ReferenceImageSerializer
    model = ReferenceImage
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def project_queryset(self, project):
        return ReferenceImage.objects.select_related("cast_member").filter(
            cast_member__project=project, cast_member__deleted_at__isnull=True)

    def get(self, request, slug, pk):
        return Response(s.ReferenceImageSerializer(self.get_object()).data)

    @extend_schema(request=s.ImageRightsSerializer, responses={200: s.ReferenceImageSerializer})
    def patch(self, request, slug, pk):
        """Set the image's rights status (cleared / pending / refused / unknown), source and licence note."""
        image = self.get_object()
        values = _valid(s.ImageRightsSerializer, request)
        image = cast_services.reference_image_set_rights(image=image, actor=request.user, **values)
        return Response(s.ReferenceImageSerializer(image).data)

    @extend_schema(responses={204: None})
    def delete(self, request, slug, pk):
        cast_services.reference_image_delete(image=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReferenceImageFile(ReferenceImageDetail):
    http_method_names = ["get", "head", "options"]

    @extend_schema(responses=IMAGE_FILE)
    def get(self, request, slug, pk):
        return serve_project_file(request._request, self.project.id, self.get_object().image.name)


# --- Script, scenes and shots ------------------------------------------------------------------------

class ScriptImport(ProjectScoped):
    serializer_class = s.ScriptReportSerializer
    parser_classes = [MultiPartParser]
    http_method_names = ["post", "options"]

    @extend_schema(request={"multipart/form-data": s.ScriptUploadSerializer}, responses={201: s.ScriptReportSerializer})
    def post(self, request, slug):
        project = self.project
        _refuse_large_body(request, settings.CONTINUITY_MAX_SCRIPT_BYTES, "screenplay")
        values = _valid(s.ScriptUploadSerializer, request)
        data = _uploaded_bytes(values["file"], settings.CONTINUITY_MAX_SCRIPT_BYTES, "screenplay")
        report = script_import(project=project, actor=request.user, data=data, filename=values["file"].name or "",
                               create_shots=values["create_shots"])
        return Response(report.as_dict(), status=status.HTTP_200_OK if report.unchanged_script else status.HTTP_201_CREATED)


class SceneList(ProjectScoped, generics.ListAPIView):
    serializer_class = s.SceneSerializer
    model = Scene
    filterset_fields = ["omitted"]
    ordering_fields = ["order", "heading", "created_at"]

    def project_queryset(self, project):
        return selectors.api_scenes(project)

    @extend_schema(request=s.SceneCreateSerializer, responses={201: s.SceneSerializer})
    def post(self, request, slug):
        values = _with_location(self.project, _valid(s.SceneCreateSerializer, request))
        scene = shot_services.scene_create(project=self.project, actor=request.user, **values)
        return Response(s.SceneSerializer(scene).data, status=status.HTTP_201_CREATED)


def _with_location(project, values: dict) -> dict:
    """`location_cast` arrives as an id; it must be a live cast member of this project."""
    if values.get("location_cast") is not None:
        member = CastMember.objects.alive().filter(project=project, pk=values["location_cast"]).first()
        if member is None:
            raise ValidationError("No such cast member in this project.")
        values["location_cast"] = member
    return values


class SceneDetail(VersionedDetail):
    serializer_class = s.SceneSerializer
    model = Scene
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def project_queryset(self, project):
        return selectors.api_scenes(project)

    @extend_schema(parameters=[ETAG], responses={200: s.SceneSerializer})
    def get(self, request, slug, pk):
        return self.answer(self.get_object())

    @extend_schema(request=s.SceneEditSerializer, parameters=[IF_MATCH, ETAG], responses={200: s.SceneSerializer})
    def patch(self, request, slug, pk):
        scene = self.get_object()
        version, changes = _edit(s.SceneEditSerializer, request, self.if_match(scene))
        scene = shot_services.scene_update(scene=scene, actor=request.user, expected_version=version,
                                           **_with_location(self.project, changes))
        return self.answer(scene)

    @extend_schema(parameters=[IF_MATCH], responses={204: None})
    def delete(self, request, slug, pk):
        scene = self.get_object()
        self.if_match(scene)
        shot_services.scene_trash(scene=scene, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ShotList(ProjectScoped, generics.ListAPIView):
    """Pages of the board's shots, kept in the cache per change of the project (as the board page
    is): a script polling a 500-shot project costs a cache read, not a serialisation."""

    serializer_class = s.ShotSerializer
    model = Shot
    filterset_class = ShotFilter
    ordering_fields = ["order", "code", "duration_s", "created_at", "updated_at"]

    def project_queryset(self, project):
        return selectors.api_shots(project)

    def list(self, request, *args, **kwargs):
        if request.accepted_renderer.format != "json":  # the browsable page renders every time
            return super().list(request, *args, **kwargs)
        key = content_cache_key("api-shots", self.project, request)
        body = _cache_get(key)
        if body is None:  # kept as the JSON bytes: a hit is neither serialised nor encoded again
            body = JSONRenderer().render(super().list(request, *args, **kwargs).data)
            _cache_set(key, body)
        return HttpResponse(body, content_type="application/json")

    @extend_schema(request=s.ShotCreateSerializer, responses={201: s.ShotSerializer})
    def post(self, request, slug):
        values = _valid(s.ShotCreateSerializer, request)
        scene = Scene.objects.alive().filter(project=self.project, pk=values.pop("scene")).first()
        if scene is None:
            raise ValidationError("No such scene in this project.")
        shot = shot_services.shot_create(scene=scene, actor=request.user, **values)
        return Response(s.ShotSerializer(self.project_queryset(self.project).get(pk=shot.pk)).data,
                        status=status.HTTP_201_CREATED)


class ShotDetail(VersionedDetail):
    serializer_class = s.ShotSerializer
    model = Shot
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def project_queryset(self, project):
        return selectors.api_shots(project)

    @extend_schema(parameters=[ETAG], responses={200: s.ShotSerializer})
    def get(self, request, slug, pk):
        return self.answer(self.get_object())

    def shot_to_write(self) -> Shot:
        """The shot as the API lists it, without the cast it answers with: a write reads the cast
        afterwards anyway (answer), and the prefetch was a third of what an edit took before its
        event went out (BENCHMARKS.md, issue 15)."""
        return get_object_or_404(self.get_queryset().prefetch_related(None).order_by(), pk=self.kwargs["pk"])

    @extend_schema(request=s.ShotEditSerializer, parameters=[IF_MATCH, ETAG], responses={200: s.ShotSerializer})
    def patch(self, request, slug, pk):
        project = self.project  # access first: a stranger's malformed body is a 404, not a 400
        if "If-Match" in request.headers:  # checked against the shot as read, answered with a 412
            shot = self.shot_to_write()
            version, changes = _edit(s.ShotEditSerializer, request, self.if_match(shot))
            shot = shot_services.shot_update(shot=shot, actor=request.user, expected_version=version, **changes)
        else:  # the shot read once, locked, by the service
            version, changes = _edit(s.ShotEditSerializer, request)
            try:
                shot = shot_services.shot_update_in_project(project=project, shot_id=pk, actor=request.user,
                                                            expected_version=version, **changes)
            except Shot.DoesNotExist:
                raise Http404 from None
        # The written shot holds every column as committed (save_versioned); only its cast is read
        # for the answer. Reading the shot again cost a third of the PATCH, in the process whose
        # event loop writes the live events (BENCHMARKS.md, issue 15).
        return self.answer(selectors.api_shot_with_cast(shot))

    @extend_schema(parameters=[IF_MATCH], responses={204: None})
    def delete(self, request, slug, pk):
        shot = self.shot_to_write()
        self.if_match(shot)
        shot_services.shot_trash(shot=shot, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ShotRender(ProjectScoped):
    """Ask for a take of the shot: reused when one with the same inputs exists, else queued."""

    serializer_class = s.RenderAnswerSerializer
    model = Shot
    token_scope = TokenScope.RENDER
    http_method_names = ["post", "options"]

    def project_queryset(self, project):
        return selectors.api_shots(project)

    @extend_schema(request=s.RenderRequestSerializer, responses={201: s.RenderAnswerSerializer, 200: s.RenderAnswerSerializer})
    def post(self, request, slug, pk):
        shot = self.get_object()
        result = take_request(shot=shot, actor=request.user, force=_valid(s.RenderRequestSerializer, request)["force"])
        answer = {"take": s.TakeSerializer(result.take).data, "dispatched": result.dispatched}
        return Response(answer, status=status.HTTP_201_CREATED if result.dispatched else status.HTTP_200_OK)


# --- Takes, comments and decisions -------------------------------------------------------------------

class TakeList(ReadOnlyList):
    serializer_class = s.TakeSerializer
    model = Take
    filterset_class = TakeFilter
    ordering_fields = ["created_at", "finished_at", "number"]

    def project_queryset(self, project):
        return selectors.api_takes(project)


class TakeDetail(ProjectScoped, generics.RetrieveAPIView):
    serializer_class = s.TakeSerializer
    model = Take

    def project_queryset(self, project):
        return selectors.api_takes(project)


class TakeCancel(ProjectScoped):
    serializer_class = s.TakeSerializer
    model = Take
    token_scope = TokenScope.RENDER
    http_method_names = ["post", "options"]

    def project_queryset(self, project):
        return selectors.api_takes(project)

    @extend_schema(request=None, responses={200: s.TakeSerializer})
    def post(self, request, slug, pk):
        take = take_services.take_cancel(take=self.get_object(), actor=request.user)
        return Response(s.TakeSerializer(take).data)


class TakeRetry(ProjectScoped):
    """Retry a failed or cancelled take: a new take with the same request (201), or the take
    already rendering or rendered with it (200)."""

    serializer_class = s.RenderAnswerSerializer
    model = Take
    token_scope = TokenScope.RENDER
    http_method_names = ["post", "options"]

    def project_queryset(self, project):
        return selectors.api_takes(project)

    @extend_schema(request=None, responses={201: s.RenderAnswerSerializer, 200: s.RenderAnswerSerializer})
    def post(self, request, slug, pk):
        result = take_services.take_retry(take=self.get_object(), actor=request.user)
        answer = {"take": s.TakeSerializer(result.take).data, "dispatched": result.dispatched}
        return Response(answer, status=status.HTTP_201_CREATED if result.dispatched else status.HTTP_200_OK)


class TakeFile(ProjectScoped):
    """The take's video (H.264 MP4) or poster (JPEG), with Range support."""

    model = Take
    serializer_class = s.TakeSerializer
    kind = "video"
    http_method_names = ["get", "head", "options"]

    def project_queryset(self, project):
        return selectors.api_takes(project)

    @extend_schema(responses=files_of_type("video/mp4"))
    def get(self, request, slug, pk):
        field = getattr(self.get_object(), self.kind)
        if not field:
            raise Http404(f"This take has no {self.kind} (yet).")
        return serve_project_file(request._request, self.project.id, field.name)


class TakePoster(TakeFile):
    kind = "poster"

    @extend_schema(responses=files_of_type("image/jpeg"))
    def get(self, request, slug, pk):
        return super().get(request, slug, pk)


class TakeIdentity(ProjectScoped, generics.ListAPIView):
    """The take's identity scores, one per cast member of its shot; empty until it has been scored
    (scoring runs on its own queue after the take finishes)."""

    serializer_class = s.IdentityScoreSerializer
    model = Take
    pagination_class, filter_backends = None, []  # a handful of rows, one per cast member

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Take.objects.none()
        take = get_object_or_404(selectors.api_takes(self.project), pk=self.kwargs["pk"])
        return selectors.api_take_identity_scores(take)


class TakeScoped(ProjectScoped):
    """A list under one take of the project."""

    @property
    def take(self):
        return get_object_or_404(selectors.api_takes(self.project), pk=self.kwargs["take_id"])


class CommentList(TakeScoped, generics.ListAPIView):
    serializer_class = s.CommentSerializer
    model = Comment
    write_action = Action.COMMENT

    def project_queryset(self, project):
        return selectors.api_take_comments(self.take)

    @extend_schema(request=s.CommentCreateSerializer, responses={201: s.CommentSerializer})
    def post(self, request, slug, take_id):
        take = self.take
        values = _valid(s.CommentCreateSerializer, request)
        parent_id = values.pop("parent", None)
        parent = get_object_or_404(selectors.api_take_comments(take), pk=parent_id) if parent_id else None
        comment = review_services.comment_create(take=take, author=request.user, parent=parent, **values)
        return Response(s.CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class CommentResolve(ProjectScoped):
    serializer_class = s.CommentSerializer
    model = Comment
    write_action = Action.COMMENT
    http_method_names = ["post", "options"]

    def project_queryset(self, project):
        return Comment.objects.alive().filter(take__shot__scene__project=project).select_related("author", "take__shot__scene")

    @extend_schema(request=s.ResolveSerializer, responses={200: s.CommentSerializer})
    def post(self, request, slug, pk):
        comment = review_services.comment_set_resolved(comment=self.get_object(), actor=request.user,
                                                       resolved=_valid(s.ResolveSerializer, request)["resolved"])
        return Response(s.CommentSerializer(comment).data)


class DecisionList(TakeScoped, generics.ListAPIView):
    """Approve a take or ask for changes; the latest decision is the take's review state."""

    serializer_class = s.DecisionSerializer
    write_action = Action.REVIEW

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Take.objects.none()
        return selectors.api_take_decisions(self.take)

    @extend_schema(request=s.DecisionCreateSerializer, responses={201: s.DecisionSerializer})
    def post(self, request, slug, take_id):
        take = self.take
        record = review_services.review_decide(take=take, actor=request.user, **_valid(s.DecisionCreateSerializer, request))
        return Response(s.DecisionSerializer(record).data, status=status.HTTP_201_CREATED)


# --- Deliverables: storyboards and shot lists (the browser's downloads, studio/services/deliverables.py)

PDF_FILE = files_of_type("application/pdf")


class Deliverable(ProjectScoped):
    """A download the browser offers too: its options are checked here (a refused one is a JSON
    400), then the browser's view builds it, so both answer the same bytes under the same rules."""

    serializer_class = s.StoryboardOptionsSerializer
    http_method_names = ["get", "head", "options"]
    pagination_class, filter_backends = None, []

    checked_options: dict = {}  # (not `options`: that is the view's OPTIONS handler)

    def options_from_query(self, serializer_class) -> None:
        """Checked options (defaults filled in) become the only query the browser's view reads."""
        options = serializer_class(data=self.request.query_params)
        options.is_valid(raise_exception=True)
        self.checked_options = options.validated_data

    def browser(self, view, **kwargs):
        """The browser's view asks studio/access.py (an outsider's Http404 becomes the API's JSON 404)."""
        query = QueryDict(mutable=True)
        query.update({name: str(value) for name, value in self.checked_options.items()})
        self.request._request.GET = query
        return view(self.request._request, slug=self.kwargs["slug"], **kwargs)


class ProjectStoryboard(Deliverable):
    serializer_class = s.ProjectStoryboardOptionsSerializer

    @extend_schema(parameters=[s.ProjectStoryboardOptionsSerializer], responses=PDF_FILE)
    def get(self, request, slug):
        self.options_from_query(s.ProjectStoryboardOptionsSerializer)
        return self.browser(deliverable_views.project_storyboard)


class CutStoryboard(Deliverable):
    @extend_schema(parameters=[s.StoryboardOptionsSerializer], responses=PDF_FILE)
    def get(self, request, slug, cut_id):
        self.options_from_query(s.StoryboardOptionsSerializer)
        return self.browser(deliverable_views.cut_storyboard, cut_id=cut_id)


class ShotListCsv(Deliverable):
    serializer_class = s.PaperSerializer

    @extend_schema(responses=files_of_type("text/csv; charset=utf-8"))
    def get(self, request, slug):
        return self.browser(deliverable_views.shot_list_csv)


class ShotListPdf(Deliverable):
    serializer_class = s.PaperSerializer

    @extend_schema(parameters=[s.PaperSerializer], responses=PDF_FILE)
    def get(self, request, slug):
        self.options_from_query(s.PaperSerializer)
        return self.browser(deliverable_views.shot_list_pdf)


# --- Cuts, entries and exports ----------------------------------------------------------------------

class CutList(ProjectScoped, generics.ListAPIView):
    serializer_class = s.CutSerializer
    model = Cut
    ordering_fields = ["name", "created_at", "updated_at"]

    def project_queryset(self, project):
        return selectors.project_cuts(project)

    @extend_schema(request=s.CutCreateSerializer, responses={201: s.CutSerializer})
    def post(self, request, slug):
        cut = cut_services.cut_create(project=self.project, actor=request.user, **_valid(s.CutCreateSerializer, request))
        return Response(s.CutSerializer(cut).data, status=status.HTTP_201_CREATED)


class CutScoped(ProjectScoped):
    @property
    def cut(self):
        return get_object_or_404(selectors.project_cuts(self.project), pk=self.kwargs["cut_id"])


class CutDetail(VersionedDetail):
    serializer_class = s.CutSerializer
    model = Cut
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def project_queryset(self, project):
        return selectors.project_cuts(project)

    @extend_schema(parameters=[ETAG], responses={200: s.CutSerializer})
    def get(self, request, slug, pk):
        return self.answer(self.get_object())

    @extend_schema(request=s.CutEditSerializer, parameters=[IF_MATCH, ETAG], responses={200: s.CutSerializer})
    def patch(self, request, slug, pk):
        cut = self.get_object()
        version, changes = _edit(s.CutEditSerializer, request, self.if_match(cut))
        return self.answer(cut_services.cut_update(cut=cut, actor=request.user, expected_version=version, **changes))

    @extend_schema(parameters=[IF_MATCH], responses={204: None})
    def delete(self, request, slug, pk):
        cut = self.get_object()
        self.if_match(cut)
        cut_services.cut_trash(cut=cut, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CutRender(CutScoped):
    """Ask for a take of every shot in the cut: one request against the render rate limit."""

    serializer_class = s.RenderAnswerSerializer
    model = Cut
    token_scope = TokenScope.RENDER
    http_method_names = ["post", "options"]
    pagination_class, filter_backends = None, []  # answers a list, but is not a list view

    @extend_schema(request=None, responses={200: s.RenderAnswerSerializer(many=True)})
    def post(self, request, slug, cut_id):
        results = cut_services.cut_render(cut=self.cut, actor=request.user)
        return Response([{"take": s.TakeSerializer(r.take).data, "dispatched": r.dispatched} for r in results])


class CutEntryList(CutScoped, generics.ListAPIView):
    serializer_class = s.CutEntrySerializer
    model = CutEntry
    pagination_class = None  # a cut is read whole, in order

    def project_queryset(self, project):
        return selectors.api_cut_entries(self.cut)

    @extend_schema(request=s.CutEntryCreateSerializer, responses={201: s.CutEntrySerializer})
    def post(self, request, slug, cut_id):
        cut = self.cut
        values = _valid(s.CutEntryCreateSerializer, request)
        shot = Shot.objects.alive().filter(scene__project=self.project, pk=values["shot"]).select_related("scene").first()
        take = _take_of(self.project, values.get("take"))
        if shot is None:
            raise ValidationError("No such shot in this project.")
        entry = cut_services.cut_entry_add(cut=cut, actor=request.user, shot=shot, take=take, expected_version=values["version"])
        return Response(s.CutEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


def _take_of(project, take_id: int | None):
    if take_id is None:
        return None
    take = selectors.api_takes(project).filter(pk=take_id).first()
    if take is None:
        raise ValidationError("No such take in this project.")
    return take


class CutEntryDetail(CutScoped):
    serializer_class = s.CutEntrySerializer
    model = CutEntry
    http_method_names = ["patch", "delete", "options"]

    def project_queryset(self, project):
        return selectors.api_cut_entries(self.cut)

    @extend_schema(request=s.CutEntryEditSerializer, responses={200: s.CutEntrySerializer})
    def patch(self, request, slug, cut_id, pk):
        entry = self.get_object()
        values = _valid(s.CutEntryEditSerializer, request)
        entry = cut_services.cut_entry_update(entry=entry, actor=request.user, take=_take_of(self.project, values.get("take")),
                                              in_frame=values["in_frame"], out_frame=values.get("out_frame"),
                                              expected_version=values["version"])
        return Response(s.CutEntrySerializer(entry).data)

    @extend_schema(parameters=[OpenApiParameter("version", int, required=True, description=s.VERSION_HELP + " (the cut's)")],
                   responses={204: None})
    def delete(self, request, slug, cut_id, pk):
        entry = self.get_object()
        version = s.CutVersionSerializer(data=request.query_params)
        version.is_valid(raise_exception=True)
        cut_services.cut_entry_remove(entry=entry, actor=request.user, expected_version=version.validated_data["version"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class CutReorder(CutScoped):
    serializer_class = s.CutEntrySerializer
    model = Cut
    http_method_names = ["post", "options"]
    pagination_class, filter_backends = None, []  # answers a list, but is not a list view

    @extend_schema(request=s.CutReorderSerializer, responses={200: s.CutEntrySerializer(many=True)})
    def post(self, request, slug, cut_id):
        cut = self.cut
        values = _valid(s.CutReorderSerializer, request)
        cut_services.cut_reorder(cut=cut, actor=request.user, entry_ids=values["entries"], expected_version=values["version"])
        return Response(s.CutEntrySerializer(selectors.api_cut_entries(cut), many=True).data)


class ExportList(CutScoped, generics.ListAPIView):
    serializer_class = s.ExportSerializer
    model = Export

    def project_queryset(self, project):
        return selectors.cut_exports(self.cut)

    @extend_schema(request=s.ExportCreateSerializer, responses={201: s.ExportSerializer})
    def post(self, request, slug, cut_id):
        values = _valid(s.ExportCreateSerializer, request)
        export = cut_services.export_request(cut=self.cut, actor=request.user, fmt=values["format"],
                                             rights_override=values["rights_override"],
                                             internal_draft=values["internal_draft"])
        return Response(s.ExportSerializer(export).data, status=status.HTTP_201_CREATED)


class ExportDetail(ProjectScoped, generics.RetrieveAPIView):
    serializer_class = s.ExportSerializer
    model = Export

    def project_queryset(self, project):
        return selectors.api_project_exports(project)


class ExportFile(ExportDetail):
    @extend_schema(responses=EXPORT_FILE)
    def get(self, request, slug, pk):
        export = self.get_object()
        if export.status != ExportStatus.SUCCEEDED or not export.file:
            raise Http404(f"The export is {export.status}; its file is there once it has succeeded.")
        return serve_project_file(request._request, self.project.id, export.file.name)

