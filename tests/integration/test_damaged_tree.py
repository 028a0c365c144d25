"""A damaged stored tile: the proof routes answer a clear problem, never a 500 (and
``ledger audit`` names the tile)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from ledger.model import MerkleTile
from ledger.store import transaction


def test_a_proof_over_a_damaged_tile_is_a_problem_not_a_500(app: Any, client: Any, runner: Any):
    runner.invoke(args=["ledger", "checkpoint"])
    with transaction(app.extensions["ledger"].engine) as s:
        s.execute(update(MerkleTile).values(hashes=b"\x00" * 5))  # not a whole hash
    for path in ("inclusion?index=0&size=5", "consistency?old=2&new=5"):
        resp = client.get(f"/api/v1/ledger/proofs/{path}")
        assert resp.status_code == 422, (path, resp.status_code)
        assert resp.mimetype == "application/problem+json"
        assert "damaged" in resp.get_json()["detail"]
