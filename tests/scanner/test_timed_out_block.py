"""A fill check that times out after the server has decided and recorded a block: the
station blocks offline and queues the attempt, naming the check it tried first; the
server keeps one `fill_blocked` for the one attempt (the regulator's counts stay true).
A check that never reached the server leaves the offline block to be recorded."""

from __future__ import annotations

from typing import Any

import pytest

from scanner.client import Unavailable
from tests.conftest import bearer
from tests.scanner.conftest import Rig, register_cylinder


def _blocks(client: Any, code: str, token: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/cylinders/{code}/events", headers=bearer(token))
    assert response.status_code == 200
    return [e for e in response.get_json()["events"] if e["type"] == "fill_blocked"]


def _answer_lost(rig: Rig, monkeypatch: Any, *, reached: bool) -> None:
    """The station's next fill check times out: after the server answered, or before."""
    original = rig.station.client.fill_check

    def timed_out(station_id: int, scan: str, key: str) -> dict[str, Any]:
        if reached:
            original(station_id, scan, key)
        raise Unavailable("timed out")

    monkeypatch.setattr(rig.station.client, "fill_check", timed_out)


@pytest.mark.parametrize("reached", [True, False])
def test_a_block_whose_check_timed_out_is_recorded_once(
    rig: Rig, client: Any, demo: dict[str, Any], monkeypatch: Any, reached: bool
) -> None:
    rig.station.start()
    theirs = register_cylinder(client, demo["tokens"]["enterprise_b"])  # NOT_OWNED at A
    _answer_lost(rig, monkeypatch, reached=reached)
    outcome = rig.station.scan(theirs["qr"])
    assert not outcome.allowed and outcome.offline and outcome.queued
    (queued,) = rig.cache.pending()
    check_key = queued.body["payload"]["check_key"]
    assert len(check_key) == 36
    token = demo["tokens"]["enterprise_b"]
    assert len(_blocks(client, theirs["code"], token)) == (1 if reached else 0)

    monkeypatch.undo()
    assert rig.station.uplink.tick() is True
    (item,) = rig.cache.all()
    assert item.status == "sent", item.answer
    (block,) = _blocks(client, theirs["code"], token)  # one attempt, one record
    if reached:  # the server's own, decided online
        assert "offline" not in block["payload"] and block["payload"]["reasons"] == ["NOT_OWNED"]
    else:
        assert block["payload"]["offline"] is True and block["payload"]["check_key"] == check_key


def test_an_offline_block_decided_without_trying_the_server_names_no_check(
    rig: Rig, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    rig.station.start()
    theirs = register_cylinder(client, demo["tokens"]["enterprise_b"])
    _answer_lost(rig, monkeypatch, reached=False)
    rig.station.scan(theirs["qr"])  # fails: the next scans stay offline for a while
    rig.station.scan(theirs["qr"])
    first, second = rig.cache.pending()
    assert "check_key" in first.body["payload"]
    assert "check_key" not in second.body["payload"]
