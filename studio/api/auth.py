"""Who is calling: a personal access token (`Authorization: Bearer cty_...`) or the browser's
session (with DRF's CSRF check). What a token may do is limited by its scopes; a session may do
whatever its user's role allows."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from studio.models import TokenScope
from studio.services.api_tokens import api_token_authenticate

SAFE_METHODS = permissions.SAFE_METHODS


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header is `Bearer <token>`.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("That token is not valid.") from None
        token = api_token_authenticate(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("That token is not valid, has expired or was revoked.")
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword  # so an unauthenticated call is answered 401, not 403


def required_scope(request, view) -> str:
    """read for GET/HEAD/OPTIONS, render for render requests and cancels, write for every other write."""
    if request.method in SAFE_METHODS:
        return TokenScope.READ
    return getattr(view, "token_scope", None) or TokenScope.WRITE


class TokenScopeAllows(permissions.BasePermission):
    """A token call needs the scope of what it asks; a session call is decided by roles alone."""

    message = "This token does not have the scope this needs."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if token is None or not hasattr(token, "allows"):
            return True
        scope = required_scope(request, view)
        self.message = f"This token does not have the {scope!r} scope."
        return token.allows(scope)


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "studio.api.auth.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal access token (account settings → API tokens)."}
