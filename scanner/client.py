"""The station's HTTP client for the ledger API (``/api/v1``, bearer token).

Every failure is one of two kinds, because the station acts differently on each:
``Unavailable`` (no answer, a timeout, a 5xx, an answer that is not JSON, and the 4xx
answers a retry may change: 401, 408, 429 and any answer with ``Retry-After``, which the
server's idempotency layer does not keep) means "decide offline and retry later";
``Refused`` (any other 4xx problem+json) means the server answered and said no, which a
retry will not change. A 401 (token revoked or wrong) is retried, but its ``status`` is
kept so that the station can show it as the configuration problem it is.
"""

from __future__ import annotations

import base64
import binascii
from typing import IO, Any

import httpx

# 4xx answers that a retry may change (the server does not keep them for the key).
RETRYABLE = frozenset({401, 408, 429})


class Unavailable(Exception):
    """The server did not answer usefully (network, timeout, 5xx, garbage), or answered
    "not now" (401, 408, 429, ``Retry-After``); ``status`` is the HTTP status if any."""

    def __init__(
        self, message: str, status: int | None = None, problem: dict[str, Any] | None = None
    ) -> None:
        self.status = status
        self.problem = problem or {}
        super().__init__(message)


class Refused(Exception):
    """The server answered with a 4xx problem."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', '')}")

    @property
    def reasons(self) -> list[dict[str, Any]]:
        """The ``reasons`` of a 409 problem (as in a fill check), else empty."""
        reasons = self.problem.get("reasons")
        return [r for r in reasons if isinstance(r, dict)] if isinstance(reasons, list) else []


def _problem(response: httpx.Response) -> dict[str, Any]:
    """The problem+json of a 4xx answer (or its status line and text)."""
    try:
        problem = response.json()
    except ValueError:
        problem = {"title": response.reason_phrase, "detail": response.text[:200]}
    return problem if isinstance(problem, dict) else {}


def _checked(response: httpx.Response) -> httpx.Response:
    """``response`` if it is a 2xx or 3xx answer, else the failure it means (its body read)."""
    status = response.status_code
    if status >= 500:
        raise Unavailable(f"server error {status}", status)
    if status == 409 and "Retry-After" in response.headers:
        # The first request with this Idempotency-Key is still running (or died with
        # its worker): not a refusal, the queue retries it later.
        raise Unavailable("the same request is still being processed", status)
    if status >= 400 and (status in RETRYABLE or "Retry-After" in response.headers):
        # Not a "no": unauthorised (token revoked?), timed out, rate-limited. The
        # server keeps nothing for the key, so the same write is sent again later.
        raise Unavailable(f"server answered {status}, retry later", status, _problem(response))
    if status >= 400:
        raise Refused(status, _problem(response))
    return response


class LedgerClient:
    """Calls the ledger API on behalf of one station."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        timeout: float = 3.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = httpx.Client(
            base_url=server.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        idempotency_key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        try:
            response = self.http.request(method, path, json=body, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}") from exc
        return _checked(response)

    def _json(
        self,
        method: str,
        path: str,
        body: Any = None,
        idempotency_key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = self._call(method, path, body, idempotency_key, params)
        try:
            doc = response.json()
        except ValueError as exc:
            raise Unavailable(f"not JSON from {path}") from exc
        if not isinstance(doc, dict):
            raise Unavailable(f"unexpected answer from {path}")
        return doc

    def me(self) -> dict[str, Any]:
        """``GET /actors/me``: this station's actor id, station id and key id."""
        return self._json("GET", "/actors/me")

    def register_key(self, public_b64: str) -> dict[str, Any]:
        """``POST /actors/me/key``: register the device's public key (once)."""
        return self._json("POST", "/actors/me/key", {"public_key": public_b64})

    def registry_key(self) -> bytes:
        """``GET /ledger/registry-key``: the raw public key that signs printed codes."""
        text = self._call("GET", "/ledger/registry-key").text.strip()
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Unavailable("registry key is not base64") from exc
        if len(raw) != 32:
            raise Unavailable("registry key is not 32 bytes")
        return raw

    def sync(self, station_id: int, since: str | None, into: IO[bytes]) -> None:
        """``GET /stations/{id}/sync``: everything the station needs to decide offline
        (with ``since``, only the cylinders changed after that server time), written to
        ``into`` as it arrives (decompressed), never held whole (scanner/sync_file.py).
        A file that cannot be written raises OSError, the station's own failure."""
        params = {"since": since} if since else None
        path = f"/stations/{station_id}/sync"
        try:
            with self.http.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    response.read()  # the problem document, small
                for chunk in _checked(response).iter_bytes():
                    into.write(chunk)
        except httpx.HTTPError as exc:  # cut short, a broken gzip stream, a timeout
            raise Unavailable(f"{type(exc).__name__}: {exc}") from exc

    def fill_check(self, station_id: int, scan: str, idempotency_key: str) -> dict[str, Any]:
        """``POST /fill-checks``: may this cylinder be filled here now?"""
        return self._json(
            "POST", "/fill-checks", {"station_id": station_id, "scan": scan}, idempotency_key
        )

    def post_event(self, code: str, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """``POST /cylinders/{code}/events``: record an event (a ``filled``)."""
        return self._json("POST", f"/cylinders/{code}/events", body, idempotency_key)

    def cylinder(self, code: str) -> dict[str, Any]:
        """``GET /cylinders/{code}``: a cylinder's public document (its ``id`` among them);
        ``Refused`` 404 when the server has no cylinder with this code."""
        return self._json("GET", f"/cylinders/{code}")
