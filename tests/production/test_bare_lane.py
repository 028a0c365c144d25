"""bench/load.py --bare's lane (bench/floor.py ``bare()``) does the real check's work: its
answer is the route's, and a refusal is recorded on the chain as the route records it. Its
throughput is only a ceiling for the route if that holds."""

from __future__ import annotations

from typing import Any

import pytest

from bench.floor import BARE_PATH, bare
from tests import flows
from tests.conftest import bearer


@pytest.fixture
def lane(app: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The bare lane's app, built from the environment as gunicorn builds it, on the test
    app's database, keys and instance folder."""
    for name, key in [
        ("DATABASE_URL", "DATABASE_URL"), ("LEDGER_KEYS_DIR", "KEYS_DIR"),
        ("PUBLIC_BASE_URL", "PUBLIC_BASE_URL"), ("LEDGER_ORIGIN", "LEDGER_ORIGIN"),
    ]:  # fmt: skip
        monkeypatch.setenv(name, str(app.config[key]))
    monkeypatch.setenv("INTEGRATE_AFTER_WRITE", "0")
    web = bare()
    yield web
    web.extensions["ledger"].engine.dispose()


def _bare_check(lane: Any, demo: dict[str, Any], code: str) -> Any:
    return lane.test_client().post(
        BARE_PATH,
        json={"station_id": demo["stations"]["a"], "scan": code},
        headers=bearer(demo["tokens"]["station_a"]),
    )


@pytest.mark.parametrize("held", [False, True], ids=["allowed", "refused"])
def test_the_bare_lane_answers_as_the_route_and_records_as_it(
    app: Any, client: Any, demo: dict[str, Any], lane: Any, held: bool
) -> None:
    code = flows.register(client, demo)
    if held:
        flows.event(client, demo, code, "regulator", "held", {"reason": "抽查"})
    route = flows.check(client, demo, code)
    bare_answer = _bare_check(lane, demo, code)
    assert route.status_code == bare_answer.status_code == 200
    mine, theirs = route.get_json(), bare_answer.get_json()
    assert mine.pop("check_id") != theirs.pop("check_id")
    if held:  # each refusal moved the chain by one event: the heads differ by it
        assert mine["cylinder"].pop("head_hash") != theirs["cylinder"].pop("head_hash")
        assert theirs["cylinder"].pop("events") == mine["cylinder"].pop("events") + 1
    assert theirs == mine
    history = client.get(
        f"/api/v1/cylinders/{code}/events", headers=bearer(demo["tokens"]["regulator"])
    )
    blocked = [e for e in history.get_json()["events"] if e["type"] == "fill_blocked"]
    assert len(blocked) == (2 if held else 0)
