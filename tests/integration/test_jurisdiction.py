"""Jurisdiction parameters: where they are read from, what a bad file says, and that an
application built with other values answers differently through the API."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.params import Jurisdiction
from ledger.settings import load_jurisdiction
from tests import flows
from tests.conftest import bearer


def test_a_dict_setting_overrides_the_national_defaults(tmp_path):
    params = load_jurisdiction({"inspection_interval_years": 3}, tmp_path)
    assert params.inspection_interval_years == 3
    assert params.service_life_years == Jurisdiction().service_life_years


def test_a_file_named_by_the_setting_is_read(tmp_path):
    path = tmp_path / "chongqing.json"
    path.write_text(json.dumps({"clone_refill_hours": 12, "disabled_reasons": ["NOT_OWNED"]}))
    params = load_jurisdiction(str(path), tmp_path / "instance")
    assert params.clone_refill_hours == 12.0 and params.disabled_reasons == {"NOT_OWNED"}


def test_the_instance_file_is_read_and_without_one_the_defaults_hold(tmp_path):
    assert load_jurisdiction(None, tmp_path) == Jurisdiction()
    (tmp_path / "jurisdiction.json").write_text('{"offline_record_max_days": 3}')
    assert load_jurisdiction(None, tmp_path).offline_record_max_days == 3


def test_a_missing_file_stops_the_start_up_naming_it(tmp_path):
    with pytest.raises(RuntimeError, match=r"does not exist: '.*nowhere\.json'"):
        load_jurisdiction(str(tmp_path / "nowhere.json"), tmp_path)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"inspection_every": 3}', "'inspection_every'"),
        ('{"inspection_interval_years": "four"}', "'inspection_interval_years'"),
        ("{not json", "bad.json"),
        ("[3]", "one JSON object"),
    ],
)
def test_a_bad_file_stops_the_start_up_naming_what_is_wrong(tmp_path, text, words):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(RuntimeError, match=r"bad\.json") as caught:
        load_jurisdiction(str(path), tmp_path)
    assert words in str(caught.value)


def test_an_unknown_key_in_a_dict_setting_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="unknown jurisdiction parameter 'inspect'"):
        load_jurisdiction({"inspect": 3}, tmp_path)


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("inspection_interval_years", 100000, "须在 1 到 20 之间"),  # broke every date after
        ("service_life_years", 99999999999, "须在 1 到 50 之间"),
        ("fill_check_valid_minutes", 0, "须在 1 到 1440 之间"),
        ("max_travel_kmh", 1e9, "must be from 1 to 2000"),
        ("fill_tolerance_kg", float("nan"), "has a bad value"),
        ("clone_refill_hours", float("inf"), "has a bad value"),
    ],
)
def test_a_parameter_past_what_any_rule_sets_is_refused_naming_it(tmp_path, key, value, says):
    path = tmp_path / "city.json"
    path.write_text(json.dumps({key: value}))  # NaN and Infinity as Python's json writes them
    with pytest.raises(RuntimeError, match=r"city\.json") as caught:
        load_jurisdiction(str(path), tmp_path)
    assert key in str(caught.value) and says in str(caught.value)


@pytest.fixture
def local_app(app: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A second application on the demo's database and keys, with other parameters."""
    from app import create_app

    overrides: dict[str, Any] = request.param
    other = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "INSTANCE_PATH": app.instance_path,
            "KEYS_DIR": app.config["KEYS_DIR"],
            "PUBLIC_BASE_URL": "https://ledger.test",
            "LEDGER_ORIGIN": "ledger.test/log",
            "JURISDICTION": overrides,
        }
    )
    yield other
    other.extensions["ledger"].engine.dispose()


def made_years_ago(years: float) -> str:
    return (flows.local_today() - dt.timedelta(days=round(years * 365.25))).isoformat()


@pytest.mark.parametrize("local_app", [{"inspection_interval_years": 3}], indirect=True)
def test_a_three_year_inspection_interval_blocks_what_four_years_allow(client, demo, local_app):
    code = flows.register(client, demo, manufactured_on=made_years_ago(3.5))
    assert flows.check(client, demo, code).get_json()["allowed"] is True
    local = flows.check(local_app.test_client(), demo, code).get_json()
    assert local["allowed"] is False
    assert [r["code"] for r in local["reasons"]] == ["INSPECTION_OVERDUE"]


@pytest.mark.parametrize("local_app", [{"clone_refill_hours": 0}], indirect=True)
def test_a_jurisdiction_without_the_refill_window_allows_a_second_fill(client, demo, local_app):
    code = flows.register(client, demo)
    assert flows.fill(client, demo, code).status_code == 201
    again = flows.check(client, demo, code).get_json()
    assert [r["code"] for r in again["reasons"]] == ["ALREADY_FILLED"]  # the same station
    local = flows.check(local_app.test_client(), demo, code).get_json()
    assert local["allowed"] is True and local["reasons"] == []


@pytest.mark.parametrize("local_app", [{"offline_record_max_days": 1}], indirect=True)
def test_a_shorter_offline_bound_refuses_an_older_offline_fill(client, demo, local_app):
    code = flows.register(client, demo)
    two_days_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).isoformat()
    payload = {"station_id": demo["stations"]["a"], "gross_kg": 31.8, "tare_kg": 16.8,
               "net_kg": 15.0, "offline": True}  # fmt: skip
    body = {"type": "filled", "payload": payload, "occurred_at": two_days_ago}
    headers = bearer(demo["tokens"]["station_a"])
    local = local_app.test_client().post(
        f"/api/v1/cylinders/{code}/events", json=body, headers=headers
    )
    assert local.status_code == 422 and "older than 1 days" in local.get_json()["detail"]
    default = client.post(f"/api/v1/cylinders/{code}/events", json=body, headers=headers)
    assert default.status_code == 201, default.get_json()


def test_the_station_sync_carries_the_parameters(client, demo):
    resp = client.get(
        f"/api/v1/stations/{demo['stations']['a']}/sync",
        headers=bearer(demo["tokens"]["station_a"]),
    )
    assert resp.get_json()["jurisdiction"]["offline_record_max_days"] == 7
