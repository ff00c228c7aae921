"""Fetching a document by URL without letting the URL reach into the server's network.

A URL given by a user is a request the server makes on their behalf (SSRF): without
care it reads the cloud metadata service, an admin page on localhost or a database on
the LAN. So every hop (the URL and each redirect) is resolved, every address it
resolves to is checked, and the connection goes to the address that was checked (the
host name is kept for the Host header and TLS), so a DNS answer that changes between
the check and the connection (rebinding) cannot send it elsewhere.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from causerie.errors import InvalidRequest, PayloadTooLarge
from causerie.knowledge.service import Cancelled

MAX_REDIRECTS = 5
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

# Kinds of address a server on an intranet may legitimately fetch from, when allowed.
PRIVATE_KINDS = frozenset({"loopback", "private", "shared (CGNAT)"})
# Link-local stays refused even then: it holds cloud metadata services (169.254.169.254).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_V4_PRIVATE = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
_V6_PRIVATE = ipaddress.IPv6Network("fc00::/7")  # unique local addresses


class UrlRefused(InvalidRequest):
    """The URL points at an address the server does not fetch from."""

    code = "url_refused"


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def address_kind(ip: IPAddress) -> str | None:
    """What kind of non-public address ip is ('loopback', 'private'...), or None if public."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return address_kind(inner)
    checks = [
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("shared (CGNAT)", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
        ("private", any(ip in n for n in _V4_PRIVATE) or ip in _V6_PRIVATE),
        ("reserved", ip.is_reserved or not ip.is_global),
    ]
    return next((kind for kind, hit in checks if hit), None)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """One hop: the URL as given, and the checked address to connect to."""

    url: httpx.URL
    address: str


def check_url(url: str | httpx.URL, allow_private: bool, resolve: Resolver) -> Target:
    """The URL's checked address, or UrlRefused if it is not one to fetch from."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise InvalidRequest(f"'{url}' is not a valid URL.", param="url") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidRequest("Only http:// and https:// URLs can be fetched.", param="url")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = resolve(parsed.raw_host.decode("ascii"), port)  # IDNA as httpx encodes it
    except (OSError, UnicodeError):
        addresses = []
    if not addresses:
        raise InvalidRequest(f"The host '{parsed.host}' could not be resolved.", param="url")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        kind = address_kind(ip)
        if kind is None or (allow_private and kind in PRIVATE_KINDS):
            continue
        hint = (
            " Set knowledge.allow_private_urls = true to fetch from private networks."
            if kind in PRIVATE_KINDS
            else ""
        )
        raise UrlRefused(
            f"Refused to fetch {parsed}: '{parsed.host}' is a {kind} address ({ip}).{hint}",
            param="url",
        )
    return Target(parsed, addresses[0])


def redirect_url(current: httpx.URL, location: str) -> httpx.URL:
    """Where a redirect's Location header leads, relative to the URL that answered."""
    try:
        return current.join(location).copy_with(fragment=None)
    except httpx.InvalidURL:
        raise InvalidRequest(f"{current} redirects to an invalid URL.", param="url") from None


class Fetcher:
    """GETs a URL within a size and a total time limit, checking every hop's address."""

    def __init__(
        self,
        *,
        max_bytes: int,
        timeout: float,
        allow_private: bool,
        resolve: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.allow_private = allow_private
        self.resolve = resolve
        # Building one costs 40-150 ms of CPU (the CA bundle is parsed): a caller fetching
        # at question time passes one made once (knowledge/webpages.py).
        self.ssl_context = ssl_context

    def check(self, url: str | httpx.URL) -> Target:
        """The URL's checked address (UrlRefused if refused)."""
        return check_url(url, self.allow_private, self.resolve)

    def fetch(self, url: str, cancelled: threading.Event | None = None) -> tuple[bytes, str | None]:
        """The body and content type at url, following (and checking) redirects.

        The whole fetch is bounded by the timeout and stops when cancelled is set, even
        while a server trickles its headers (httpx's timeouts are per read).
        """
        deadline = time.monotonic() + self.timeout
        cancelled = cancelled or threading.Event()
        current = httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            target = self.check(current)
            try:
                with Watchdog(deadline, cancelled) as watchdog:
                    location, body, media_type = self._get(target, deadline, watchdog.trace)
            except httpx.HTTPError as exc:
                if cancelled.is_set():
                    raise Cancelled from None
                if isinstance(exc, httpx.TimeoutException) or time.monotonic() >= deadline:
                    raise InvalidRequest(
                        f"Fetching {current} took longer than {self.timeout:g} s."
                    ) from None
                raise InvalidRequest(f"Fetching {current} failed: {exc}") from None
            if location is None:
                return body, media_type
            current = redirect_url(current, location)
        raise InvalidRequest(f"{url} redirects more than {MAX_REDIRECTS} times.")

    def _get(
        self, target: Target, deadline: float, trace: Callable[[str, dict], None]
    ) -> tuple[str | None, bytes, str | None]:
        """One GET to the checked address: (redirect location, body, content type)."""
        url = target.url
        pinned = url.copy_with(host=target.address)
        headers = {"Host": url.netloc.decode("ascii"), "User-Agent": "Causerie"}
        # trust_env=False: a proxy from the environment would connect somewhere unchecked.
        # One client per hop: a pooled connection to this address may carry another name.
        timeout = httpx.Timeout(max(0.1, deadline - time.monotonic()))
        with (
            httpx.Client(
                timeout=timeout, trust_env=False, verify=self.ssl_context or True
            ) as client,
            client.stream(
                "GET",
                pinned,
                headers=headers,
                extensions={"sni_hostname": url.raw_host.decode("ascii"), "trace": trace},
            ) as resp,
        ):
            if resp.is_redirect:
                return resp.headers["location"], b"", None
            if resp.status_code != 200:
                raise InvalidRequest(f"Fetching {url} failed: HTTP {resp.status_code}.")
            too_large = PayloadTooLarge(
                f"{url} is larger than the limit of {self.max_bytes} bytes."
            )
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise too_large
            body = bytearray()
            for part in resp.iter_bytes():
                body += part
                if len(body) > self.max_bytes:
                    raise too_large
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("total time limit")
            return None, bytes(body), resp.headers.get("content-type")


class Watchdog:
    """Shuts a fetch's socket down at its deadline or on cancel, waking a blocked read."""

    POLL = 0.2  # how soon a cancel takes effect

    def __init__(self, deadline: float, cancelled: threading.Event):
        self.deadline = deadline
        self.cancelled = cancelled
        self._done = threading.Event()
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._watch, name="causerie-fetch-watchdog")

    def trace(self, event: str, info: dict) -> None:
        """httpcore's trace hook: remember the socket (the TLS one once wrapped)."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            if stream is not None:
                self._socket = stream.get_extra_info("socket")

    def _watch(self) -> None:
        while not self._done.wait(self.POLL):
            if self.cancelled.is_set() or time.monotonic() >= self.deadline:
                sock = self._socket
                if sock is not None:
                    with contextlib.suppress(OSError):  # already closed: it is ending
                        sock.shutdown(socket.SHUT_RDWR)
                return

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
