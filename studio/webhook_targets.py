"""Where a webhook may go, and the one HTTP request that takes it there (SSRF protection).

A webhook URL is chosen by a project owner, but the request leaves from our servers: without care
it could reach the database, Redis, a cloud metadata service or anything else on the private
network. So the host is resolved at send time, every address it resolves to is checked, and the
connection goes to the address that was checked (no second lookup a rebinding DNS could answer
differently). Private, loopback, link-local and reserved addresses are refused unless the operator
sets CONTINUITY_WEBHOOK_ALLOW_PRIVATE=1; redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from dataclasses import dataclass

import urllib3

EXCERPT_BYTES = 1000


class TargetRefused(Exception):
    """The URL may not be called (scheme, credentials, or an address we do not send to)."""


class SendFailed(Exception):
    """No HTTP answer: the host did not resolve, refused the connection, or timed out."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str


def parse_target(url: str) -> Target:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("Only http:// and https:// URLs can receive webhooks.")
    if not parts.hostname:
        raise TargetRefused("The URL has no host.")
    if parts.username or parts.password:
        raise TargetRefused("Put no user name or password in the URL; verify the signature instead.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused(f"The URL's port is not valid: {exc}") from None
    path = parts.path or "/"
    return Target(parts.scheme, parts.hostname, port, f"{path}?{parts.query}" if parts.query else path)


def refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_private: bool) -> str | None:
    """Why this address may not receive a webhook, or None."""
    if address.version == 6 and address.ipv4_mapped:  # ::ffff:127.0.0.1 is 127.0.0.1
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast:
        return "multicast" if address.is_multicast else "unspecified"
    if allow_private:
        return None
    for kind, applies in (("loopback", address.is_loopback), ("link-local", address.is_link_local),
                          ("reserved", address.is_reserved), ("private", address.is_private)):
        if applies:
            return kind
    return None if address.is_global else "non-public"


def resolve(target: Target, *, allow_private: bool) -> str:
    """The address to connect to, after checking every address the host resolves to."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SendFailed(f"{target.host} does not resolve: {exc.strerror}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        reason = refusal(address, allow_private=allow_private)
        if reason:
            raise TargetRefused(f"{target.host} resolves to {address}, a {reason} address; webhooks are not sent there.")
    return addresses[0]


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse now what a send would refuse (when the host resolves at all)."""
    target = parse_target(url)
    try:
        resolve(target, allow_private=allow_private)
    except SendFailed:
        pass  # a host that does not resolve yet may later; each send checks again


def post(url: str, body: bytes, headers: dict[str, str], *, timeout_s: float, allow_private: bool) -> Answer:
    """POST `body` to `url` at the address we checked; never follow a redirect. Any HTTP answer is
    returned (the caller decides what counts as delivered); no answer raises SendFailed."""
    target = parse_target(url)
    address = resolve(target, allow_private=allow_private)
    pool = _pool(target, address, timeout_s)
    try:
        response = pool.urlopen("POST", target.path, body=body, headers={**headers, "Host": target.host_header},
                                redirect=False, retries=False, preload_content=False, assert_same_host=False)
        try:
            excerpt = response.read(EXCERPT_BYTES, decode_content=False)
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}") from None
    finally:
        pool.close()
    return Answer(response.status, excerpt.decode("utf-8", errors="replace"))


def _pool(target: Target, address: str, timeout_s: float) -> urllib3.HTTPConnectionPool:
    timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
    if target.scheme == "https":
        # Connect to the checked address, but speak TLS to (and verify the certificate of) the host.
        return urllib3.HTTPSConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1,
                                           server_hostname=target.host, assert_hostname=target.host)
    return urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1)
