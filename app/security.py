"""Security headers, a strict Content-Security-Policy, HSTS behind TLS, and rate limits.

- CSP: scripts only from this origin (no inline script; a ``type="application/json"``
  data block is not executed and needs no exception); WebAssembly for the phone's QR
  decoder. The API docs page's own inline bootstrap script is allowed by its hash only.
- HSTS only on a secure request: behind a TLS proxy, set ``PROXY_HOPS`` so ProxyFix takes
  the scheme and client address from ``X-Forwarded-*``.
- Rate limits (Flask-Limiter, per client address, an IPv6 one by its /64;
  ``RATELIMIT_STORAGE_URI``, default ``memory://`` — per worker; ``redis://host:6379``
  shares one limit between every worker and host): the public page and public reads,
  the report form, and the login form.
  A 429 is problem+json on the API and a Chinese page elsewhere. Tests run with the
  limiter off unless they turn it on (``RATELIMIT_ENABLED``).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import math
import re
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, make_response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from sqlalchemy.exc import DataError
from werkzeug.exceptions import TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app.pages.common import error_page, is_page_address, message
from app.problems import problem

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",  # charts and the docs UI set styles from scripts
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
NUMBER_OUT_OF_RANGE = "22003"  # PostgreSQL's SQLSTATE numeric_value_out_of_range
HSTS = "max-age=31536000; includeSubDomains"
DOCS_PATH = "/api/v1/docs"
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)

PUBLIC_ENDPOINTS = (
    "public.cylinder",
    "api.read",
    "api.checkpoint",
    "api.key",
    "api.registry_key",
    "api.inclusion",
    "api.consistency",
)
LIMITS = {
    "RATELIMIT_PUBLIC": "120 per minute",
    "RATELIMIT_REPORT": "10 per hour",
    "RATELIMIT_LOGIN": "10 per minute",
}


def client_key(address: str | None = None) -> str:
    """Whom a limit counts: an IPv4 address, or an IPv6 address's /64. A home or a phone
    gets a whole /64 and may rotate through it, so counting single IPv6 addresses would let
    one sender past every limit."""
    address = get_remote_address() if address is None else address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "?"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def csp_for(path: str, body: bytes) -> str:
    """The policy for one response: the docs page adds the hashes of its inline scripts."""
    if path != DOCS_PATH:
        return CSP
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s).digest()).decode() + "'"
        for s in INLINE_SCRIPT.findall(body)
    )
    return CSP.replace("script-src 'self'", f"script-src 'self' {hashes}", 1)


def _headers(response: Response) -> Response:
    present = {name.lower() for name, _ in response.headers}  # one pass, not one per header
    response.headers.extend((n, v) for n, v in HEADERS.items() if n.lower() not in present)
    body = response.get_data() if request.path == DOCS_PATH else b""
    response.headers["Content-Security-Policy"] = csp_for(request.path, body)
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = HSTS
    return response


def _signed_in() -> bool:
    """Callers with a valid bearer token are not held to the public limit (a junk one is)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return False
    from app.runtime import runtime
    from ledger.registry import actor_for_token
    from ledger.store import transaction

    with transaction(runtime().engine, write=False) as session:
        return actor_for_token(session, token.strip()) is not None


def _too_many(error: TooManyRequests) -> Any:
    retry = str(_seconds_to_reset())
    if request.path.startswith("/api/"):
        body, status, headers = problem(
            429, "Too Many Requests", "请求过于频繁，请稍后再试 / too many requests, retry later"
        )
        return body, status, {**headers, "Retry-After": retry}
    from app.pages.common import error_page
    from app.pages.public import report_too_frequent

    if request.endpoint == "public.report" and request.view_args:  # what was typed, kept
        response = make_response(report_too_frequent(str(request.view_args["code"])))
    else:
        page = error_page(429, "请求过于频繁，请稍后再试。/ Too many requests, try again later.")
        response = make_response(page)
    response.headers["Retry-After"] = retry
    return response


def _seconds_to_reset() -> int:
    """Seconds until the limit this request broke lets it through again (60 if unknown)."""
    limiter: Limiter | None = current_app.extensions.get("ledger_limiter")
    broken = limiter.current_limit if limiter is not None else None
    return max(1, math.ceil(broken.reset_at - time.time())) if broken is not None else 60


def _bad_data(error: DataError) -> Any:
    """Input the database cannot store (a NUL byte in text on PostgreSQL): 422, not 500.

    Found by schemathesis on PostgreSQL (``POST /labels/sheet`` with a NUL in a code); the
    transaction was rolled back, so nothing was recorded. A number out of the column's range
    (an id past 2³¹ − 1 in a page's address, say) is said as such. On a page address the
    answer is a page.
    """
    if getattr(error.orig, "sqlstate", None) == NUMBER_OUT_OF_RANGE:
        zh, en = "数字超出可保存的范围", "a number is out of the range that can be stored"
    else:
        zh, en = (
            "输入含有无法保存的字符（如 NUL）",
            "input holds characters that cannot be stored (such as NUL)",
        )
    if is_page_address(request.path):
        return error_page(422, message({"message_zh": zh, "message_en": en}))
    return problem(422, "Invalid Input", f"{zh} / {en}")


def _limit(
    limiter: Limiter, app: Flask, endpoint: str, value: Callable[[], str], **kw: Any
) -> None:
    view = app.view_functions[endpoint]
    limited: Any = limiter.limit(value, **kw)(view)
    app.view_functions[endpoint] = limited


def _views_check_their_own(app: Flask, limiter: Limiter) -> None:
    """Drop the limiter's check before every request when no default or application limit
    is configured: the limited views check their own limits (``limiter.limit`` wraps them),
    and the hook only spent 0.12 ms of each request finding nothing to count."""
    if any(app.config.get(k) for k in ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION")):
        return
    hooks = app.before_request_funcs.get(None, [])
    hooks[:] = [h for h in hooks if h != limiter._check_request_limit]


class BoundedInt(IntegerConverter):
    """``<int:…>`` path parts fit a 64-bit database integer; a larger one matches no route.

    Found by schemathesis: ``/ledger/leaves/5354290823761877794816`` overflowed SQLite's
    integer binding and answered 500; now it is a 404 like any other missing record.
    """

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(url_map, *args, **kwargs)


def bound_path_integers(app: Flask) -> None:
    """Install BoundedInt as ``int``: call before any blueprint is registered."""
    app.url_map.converters["int"] = BoundedInt


def init_app(app: Flask) -> None:
    """Install ProxyFix (when configured), the headers and the limiter."""
    cfg = app.config
    hops = int(cfg.get("PROXY_HOPS") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    cfg.setdefault("RATELIMIT_ENABLED", not app.testing)
    cfg.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    # Redis down: count in this worker's memory meanwhile (a looser limit, never a 500).
    cfg.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    cfg.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # The limiter's own seconds-to-reset under a name of its own: as Retry-After it replaced
    # the outage's 2 s on a 503 with the window's ~60 s (and came on every 200). A 429's
    # Retry-After is set by ``_too_many`` (the broken limit's reset) and the public report's
    # own count (``report_too_frequent``).
    cfg.setdefault("RATELIMIT_HEADER_RETRY_AFTER", "X-RateLimit-Retry-After")
    for name, value in LIMITS.items():
        cfg.setdefault(name, value)
    limiter = Limiter(client_key, app=app)
    app.extensions["ledger_limiter"] = limiter
    _views_check_their_own(app, limiter)
    for endpoint in PUBLIC_ENDPOINTS:
        _limit(limiter, app, endpoint, lambda: cfg["RATELIMIT_PUBLIC"], exempt_when=_signed_in)
    _limit(limiter, app, "public.report", lambda: cfg["RATELIMIT_REPORT"])
    _limit(limiter, app, "pages_auth.login_post", lambda: cfg["RATELIMIT_LOGIN"])
    app.after_request(_headers)
    app.register_error_handler(429, _too_many)
    app.register_error_handler(DataError, _bad_data)
