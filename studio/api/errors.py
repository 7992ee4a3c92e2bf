"""Domain refusals as API answers: the same meanings the browser gets, as JSON.

ValidationError (a refused value) -> 400; StaleVersion (someone saved first) -> 409 with the
current values; PreconditionFailed (a stale If-Match) -> 412 with the current values; RateLimited -> 429 with Retry-After; Http404 / PermissionDenied as DRF answers them.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from studio.models import InvalidTransition
from studio.screenplay import ScriptError
from studio.services.common import StaleVersion
from studio.services.render_rate import RateLimited


class PreconditionFailed(APIException):
    """`If-Match` named a version the object is no longer at: 412, with its current values."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"

    def __init__(self, current: dict):
        super().__init__("The object changed since the version your If-Match names; `current` holds its values.")
        self.current = current


def exception_handler(exc, context):
    if isinstance(exc, PreconditionFailed):
        response = Response({"detail": str(exc.detail), "current": exc.current}, status=exc.status_code)
        response["ETag"] = f'"v{exc.current["version"]}"'
        return response
    if isinstance(exc, RateLimited):
        response = Response({"detail": " ".join(exc.messages)}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        response["Retry-After"] = str(exc.retry_after_s)
        return response
    if isinstance(exc, DjangoValidationError):
        return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, (ScriptError,)):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, StaleVersion):
        return Response({"detail": str(exc), "current": exc.current}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, InvalidTransition):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    response = drf_exception_handler(exc, context)
    if response is not None and not isinstance(response.data, dict):
        response.data = {"detail": " ".join(str(item) for item in response.data)}  # one shape for every error
    return response
