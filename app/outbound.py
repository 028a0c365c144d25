"""POSTs to the URLs enterprises chose for their webhooks: never to a private network, and
never for long.

An enterprise's administrator names the URL its notifications go to
(``ledger.owner_webhooks``), and the scheduler that sends them sits inside the city's
network: a URL naming an internal address (the database, a cloud metadata service, an
intranet page) would let an owner reach what the internet cannot (SSRF). So, unless
``WEBHOOK_ALLOW_PRIVATE`` is set (tests, or a closed installation whose receivers are
internal): the host is resolved here, every address it resolves to must be public
(``ledger.addresses.is_public``), and the connection goes straight (no proxy) to the address
that was checked, with the ``Host`` header and the TLS certificate check (SNI) still on the
host's name, so a DNS answer that changes between the check and the connection
(rebinding) cannot send it elsewhere. Redirects are never followed, the answer's body is
never read, and a receiver that answers too slowly (even a byte at a time) is abandoned
after ``DEADLINE`` seconds, so one owner cannot hold up everyone's deliveries.
"""

from __future__ import annotations

import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

from ledger.addresses import ascii_host, is_public

TIMEOUT = 10.0  # seconds for each step (connect, each read)
DEADLINE = 30.0  # seconds for the whole POST, whatever each step does
DEFAULT_PORTS = {"https": 443, "http": 80}


class RefusedTarget(ValueError):
    """The URL's host is, or resolves to, an address that is not public: nothing was sent."""


def post(url: str, body: bytes, headers: dict[str, str], *, private_ok: bool) -> int:
    """POST ``body`` to ``url``; the answer's status. RefusedTarget (before any connection)
    when the host is not public and ``private_ok`` is False; TimeoutError past the
    deadline; httpx errors as they come."""
    if private_ok:
        return send(url, body, headers, {})
    parts = urlsplit(url)
    target, host_header, extensions = pinned(parts, public_address(parts))
    return send(target, body, {**headers, "Host": host_header}, extensions, direct=True)


def send(
    target: str,
    body: bytes,
    headers: dict[str, str],
    extensions: dict[str, Any],
    verify: ssl.SSLContext | bool = True,
    *,
    direct: bool = False,
) -> int:
    """One POST, no redirect followed, the answer's status only, within ``DEADLINE``.
    ``direct``: ignore the environment's proxy settings (a proxy would check the
    certificate against the pinned address, not the name)."""
    client = httpx.Client(
        timeout=TIMEOUT, verify=verify, follow_redirects=False, trust_env=not direct
    )
    waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook")

    def status() -> int:
        request = client.build_request(
            "POST", target, content=body, headers=headers, extensions=extensions
        )
        response = client.send(request, stream=True)  # the status, not the body
        response.close()
        return response.status_code

    try:
        return waiter.submit(status).result(timeout=DEADLINE)
    except Late:
        raise TimeoutError(
            f"{DEADLINE:g} 秒内未应答 / no answer within {DEADLINE:g} seconds"
        ) from None
    finally:
        client.close()  # closes the socket: a POST still waiting fails in its thread
        waiter.shutdown(wait=False)


def public_address(parts: SplitResult) -> str:
    """The first address the URL's host resolves to, if every one of them is public."""
    host = ascii_host(parts.hostname or "")
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 443)
    found = [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    for address in found:
        if not is_public(str(address)):
            raise RefusedTarget(
                f"{host} 解析为非公网地址 {address}，未发送 / {host} resolves to {address},"
                " not a public address: not sent"
            )
    if not found:  # getaddrinfo raises rather than answer nothing; kept for the type
        raise RefusedTarget(f"{host} 无地址 / {host} has no address")
    return str(found[0])


def pinned(parts: SplitResult, address: str) -> tuple[str, str, dict[str, Any]]:
    """The URL with its host replaced by ``address``, the ``Host`` header naming the host
    as the URL did (in ASCII), and the request extensions that verify TLS against it."""
    host = ascii_host(parts.hostname or "")
    netloc = f"[{address}]" if ":" in address else address
    named = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc, named = f"{netloc}:{parts.port}", f"{named}:{parts.port}"
    target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return target, named, extensions
