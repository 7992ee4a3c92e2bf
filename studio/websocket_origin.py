"""The WebSocket origin check: a browser may open a socket only from a page of this site, i.e. an
Origin with the same scheme, host and port as the socket's own Host (Django's CSRF origin rule), or
one listed in CSRF_TRUSTED_ORIGINS. Channels' AllowedHostsOriginValidator compares host names
only, so a page on any other port of an allowed host (another app on localhost:9999) passed."""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the scheme's default port filled in; None for anything else
    ("null", a file: page, a malformed port)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin1")
    return ""


def _site_scheme(scope) -> str:
    """The scheme the browser sees: https for wss, or behind a TLS proxy when the header named by
    SECURE_PROXY_SSL_HEADER says so (as Django decides request.is_secure())."""
    if scope.get("scheme") in ("wss", "https"):
        return "https"
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        meta_name, secure_value = proxy_header
        name = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin1")
        if _header(scope, name).split(",")[0].strip() == secure_value:
            return "https"
    return "http"


def _trusted(origin: tuple[str, str, int]) -> bool:
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:  # "https://*.example.com[:port]", matched as Django's CSRF check does
            parts = urlsplit(trusted)
            netloc = origin[1] if origin[2] == DEFAULT_PORTS[origin[0]] else f"{origin[1]}:{origin[2]}"
            if parts.scheme == origin[0] and is_same_domain(netloc, parts.netloc.lstrip("*")):
                return True
        elif _origin(trusted) == origin:
            return True
    return False


def origin_allowed(scope) -> bool:
    origin = _origin(_header(scope, b"origin"))
    if origin is None:
        return False
    host = _header(scope, b"host")
    domain, _ = split_domain_port(host)
    if domain and validate_host(domain, settings.ALLOWED_HOSTS) and origin == _origin(f"{_site_scheme(scope)}://{host}"):
        return True
    return _trusted(origin)


class SameOriginValidator:
    """ASGI middleware for the websocket router: refuses the handshake unless origin_allowed."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
