"""Which addresses the internet routes, and how a URL's host is named on the wire.

The policy behind owners' webhooks (``ledger.owner_webhooks`` checks a URL when it is set,
``app.outbound`` every address a name resolves to when sending): no owner reaches this
host or a private network through its webhook. No DNS query is made here.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
from urllib.parse import urlsplit

GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")  # the only IPv6 the internet routes
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 addresses reached through a NAT64 gateway
NOT_PUBLIC_V4 = (ipaddress.ip_network("192.0.0.0/24"),)  # IETF assignments (3.11 says global)


def is_public(address: str) -> bool:
    """Whether an IP address is one of the internet's: not loopback, private, link-local
    (cloud metadata services), shared (carrier NAT), reserved, site-local or multicast; an
    IPv6 address only in global unicast (2000::/3), or one carrying a public IPv4 address
    (mapped, 6to4, NAT64's well-known prefix)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(str(embedded))
        if ip not in GLOBAL_UNICAST:
            return False
    elif any(ip in network for network in NOT_PUBLIC_V4):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def ascii_host(host: str) -> str:
    """A URL's host as DNS and TLS name it: a Chinese domain in IDNA (xn--…), full-width
    digits as digits; ASCII names and IP literals unchanged. UnicodeError when it cannot be."""
    return host if host.isascii() else host.encode("idna").decode("ascii")


def names_this_host_or_private(host: str) -> bool:
    """Whether a URL's host is a local name or a non-public IP address in any of its
    spellings (``127.1``, ``2130706433``, ``0x7f.0.0.1``…); other names are resolved when
    sending (``app.outbound``)."""
    name = ascii_host(host).rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:  # numbers only, as the resolver would read them: no DNS query is made
        infos = socket.getaddrinfo(name, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return False  # a name, not an address
    return any(not is_public(str(info[4][0])) for info in infos)


def server_url(value: str) -> str:
    """The ``--server`` of the station and label programs (an argparse type): an http:// or
    https:// URL with a host and, if any, a port that is a number, said at once rather than
    as every request's "server unreachable"."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (a port that is no number, or past 65535, raises)
    except ValueError:  # that, or an unbalanced "["
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"须为 http:// 或 https:// 地址 / must be an http:// or https:// URL: {value[:80]!r}"
        )
    return value
