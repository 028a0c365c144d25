"""Registering rows through the HTTP API (``POST /api/v1/cylinders``), for ``python -m labels``."""

from __future__ import annotations

import time
from typing import Any

import httpx

from labels.batch import Issued, Row, RowFailed, Stop, idempotency_key, no_label_reason
from labels.layout import LabelData

RETRIES = 3
LOOKUP = "/labels/registered"  # the enterprise's cylinder by manufacturer and serial


class Fatal(Stop):
    """A failure that no row can get past (a bad token, a server that is not the ledger)."""


def label_from_document(doc: dict[str, Any]) -> LabelData:
    """The label of a cylinder document as the API returns it."""
    owner = doc.get("owner") or {}
    return LabelData(
        code=str(doc["code"]),
        payload=str(doc["qr"]),
        owner=str(owner.get("name") or ""),
        model=str(doc.get("model") or ""),
        capacity_kg=doc.get("capacity_kg"),
    )


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"HTTP {response.status_code}: {detail or body}"


def _refused(response: httpx.Response) -> Fatal:
    return Fatal(f"服务器拒绝 / the server refused the token: {_problem(response)}")


class HttpRegistrar:
    """Registers one row per request with its Idempotency-Key; a retry never registers twice.

    Before each row it asks the server for the enterprise's cylinder with the row's
    manufacturer and serial (``GET /labels/registered``) and reprints it when found. A
    server without that lookup (404) leaves the Idempotency-Key alone to guard reruns:
    it catches the same row sent again by the same token, not by another admin.
    """

    def __init__(
        self, server: str, token: str, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.http = httpx.Client(
            base_url=server.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
            transport=transport,
        )
        self.enterprise_id: int | None = None
        self.can_look_up = True

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __call__(self, row: Row) -> Issued:
        """Reprint the row's cylinder if registered, else register it; RowFailed if refused."""
        enterprise_id = self._enterprise()
        existing = self._look_up(row)
        if existing is not None:
            refusal = no_label_reason(str(existing["code"]), existing.get("status"))
            if refusal is not None:
                raise RowFailed(refusal)
            return Issued(row.line, row.body["serial"], label_from_document(existing), False)
        response = self._send(
            "POST", "/cylinders", row.body, idempotency_key(enterprise_id, row.body)
        )
        if response.status_code in (401, 403):  # the token, not the row: stop the batch
            raise _refused(response)
        if response.status_code not in (200, 201):
            raise RowFailed(_problem(response))
        doc = response.json()
        # A retried key gets its first answer back (201) marked as replayed.
        fresh = response.status_code == 201 and "Idempotent-Replayed" not in response.headers
        return Issued(row.line, row.body["serial"], label_from_document(doc), fresh)

    def _enterprise(self) -> int:
        """The token's enterprise (asked once): part of every row's Idempotency-Key."""
        if self.enterprise_id is None:
            response = self._send("GET", "/actors/me")
            if response.status_code in (401, 403):
                raise _refused(response)
            if response.status_code != 200:
                raise Fatal(f"无法识别令牌 / GET /actors/me failed: {_problem(response)}")
            enterprise_id = response.json().get("enterprise_id")
            if not isinstance(enterprise_id, int):
                raise Fatal(
                    "此令牌不属于企业 / the token belongs to no enterprise: only an enterprise "
                    "administrator registers cylinders"
                )
            self.enterprise_id = enterprise_id
        return self.enterprise_id

    def _look_up(self, row: Row) -> dict[str, Any] | None:
        """The registered cylinder with the row's manufacturer and serial, if any."""
        if not self.can_look_up:
            return None
        params = {"manufacturer": row.body["manufacturer"], "serial": row.body["serial"]}
        response = self._send("GET", LOOKUP, params=params)
        if response.status_code == 404:  # an older server: the key alone guards reruns
            self.can_look_up = False
            return None
        if response.status_code in (401, 403):
            raise _refused(response)
        if response.status_code != 200:
            raise RowFailed(_problem(response))
        found: dict[str, Any] | None = response.json().get("cylinder")
        return found

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        for attempt in range(RETRIES):
            try:
                response = self.http.request(
                    method, path, json=body, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                if attempt == RETRIES - 1:
                    raise RowFailed(f"服务器无应答 / server unreachable: {exc}") from exc
            else:
                if response.status_code < 500 or attempt == RETRIES - 1:
                    return response
            time.sleep(0.5 * 2**attempt)  # the key (or a read) makes the retry safe
        raise AssertionError("unreachable")
