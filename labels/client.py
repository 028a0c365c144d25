"""Registering rows through the HTTP API (``POST /api/v1/cylinders``), for ``python -m labels``."""

from __future__ import annotations

import time
from typing import Any

import httpx

from labels.batch import Issued, Row, RowFailed
from labels.layout import LabelData

RETRIES = 3


class Fatal(Exception):
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


class HttpRegistrar:
    """Registers one row per request with its Idempotency-Key; a retry never registers twice."""

    def __init__(
        self, server: str, token: str, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.http = httpx.Client(
            base_url=server.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __call__(self, row: Row) -> Issued:
        """Register the row; RowFailed when the server refuses it."""
        response = self._post(row)
        if response.status_code in (401, 403):  # the token, not the row: stop the batch
            raise Fatal(f"服务器拒绝 / the server refused the token: {_problem(response)}")
        if response.status_code not in (200, 201):
            raise RowFailed(_problem(response))
        doc = response.json()
        # A retried key gets its first answer back (201) marked as replayed.
        fresh = response.status_code == 201 and "Idempotent-Replayed" not in response.headers
        return Issued(row.line, row.body["serial"], label_from_document(doc), fresh)

    def _post(self, row: Row) -> httpx.Response:
        headers = {"Idempotency-Key": row.key}
        for attempt in range(RETRIES):
            try:
                response = self.http.post("/cylinders", json=row.body, headers=headers)
            except httpx.TransportError as exc:
                if attempt == RETRIES - 1:
                    raise RowFailed(f"服务器无应答 / server unreachable: {exc}") from exc
            else:
                if response.status_code < 500 or attempt == RETRIES - 1:
                    return response
            time.sleep(0.5 * 2**attempt)  # the key makes the retry safe
        raise AssertionError("unreachable")
