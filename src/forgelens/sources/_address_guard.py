"""Where a forge request may connect, checked where the connection is made (SSRF, OWASP API7).

Collections the service runs (triggers, webhooks, schedules) name hosts it was asked to
reach. Checking a host's addresses when the trigger arrives and connecting later lets DNS
answer differently in between (rebinding), and turns a resolver outage of ours into the
caller's mistake. ``GuardedTransport`` resolves each host once per client, refuses an address
that is not public unless the host is explicitly allowed to be private, and connects to that
very address (TLS still checks the certificate against the host name). A failed resolution is
a network error: the client retries it, and the job fails retryably.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Collection

import httpx

from forgelens.errors import BadInput

Resolver = Callable[[str], list[str]]


def is_public_address(text: str) -> bool:
    """True only for globally routable unicast addresses (v4-mapped and 6to4 unwrapped)."""
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        inner = addr.ipv4_mapped or addr.sixtofour
        if inner is not None:
            return is_public_address(str(inner))
        if addr.teredo is not None:
            return False
    return bool(addr.is_global and not addr.is_multicast and not addr.is_reserved)


def system_resolver(host: str) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA); ``httpx.ConnectError`` if none."""
    try:
        infos = socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise httpx.ConnectError(f"the host {host!r} cannot be resolved ({exc})") from exc
    return sorted({str(info[4][0]) for info in infos})


class GuardedTransport(httpx.HTTPTransport):
    """An ``httpx.HTTPTransport`` that connects only to the address it checked."""

    def __init__(
        self,
        *,
        private_hosts: Collection[str] = (),
        resolver: Resolver = system_resolver,
        inner: httpx.BaseTransport | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.private_hosts = {h.lower() for h in private_hosts}
        self.resolver = resolver
        self.inner = inner  # tests: where the pinned request goes instead of the network
        self._pinned: dict[str, str] = {}
        self._lock = threading.Lock()

    def address(self, host: str) -> str:
        """The one address ``host`` is reached at, checked once."""
        with self._lock:
            if host in self._pinned:
                return self._pinned[host]
        try:
            ipaddress.ip_address(host)
            addresses = [host]
        except ValueError:
            addresses = self.resolver(host)
        if not addresses:
            raise httpx.ConnectError(f"the host {host!r} resolves to no address")
        if host.lower() not in self.private_hosts:
            refused = [a for a in addresses if not is_public_address(a)]
            if refused:
                raise BadInput(
                    f"{host} resolves to a non-public address ({refused[0]}); refused. Allow "
                    "a self-hosted forge on a private network with FORGELENS_FORGE_PRIVATE_HOSTS"
                )
        with self._lock:
            return self._pinned.setdefault(host, addresses[0])

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        ip = self.address(host)
        if ip != host:
            request.url = request.url.copy_with(host=ip)  # Host header keeps the name
            request.extensions = {**request.extensions, "sni_hostname": host}
        if self.inner is not None:
            return self.inner.handle_request(request)
        return super().handle_request(request)
