"""Canonical bytes of events: the fast assembly is exactly RFC 8785 of the documents."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ledger.events import (
    SIGNATURE_CONTEXT,
    EventFields,
    PayloadError,
    event_hash,
    hashed_bytes,
    payload_text,
    rfc3339,
    signing_message,
)
from ledger.payloads import validate_payload

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
)
payloads = st.dictionaries(
    st.text(),
    st.recursive(
        json_leaf,
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(), c, max_size=3),
        max_leaves=8,
    ),
    max_size=5,
)
times = st.datetimes(timezones=st.just(dt.UTC))
ids = st.integers(1, 2**31 - 1)


any_fields = st.builds(
    EventFields, st.text(), st.text(), st.text(), times, times, ids, st.none() | ids,
    st.none() | ids, payloads, st.binary(min_size=32, max_size=32), st.text(),
)  # fmt: skip


@given(any_fields, st.booleans())
def test_the_assembled_bytes_are_the_rfc8785_bytes_of_the_documents(fields, payload_known):
    if payload_known:
        fields = replace(fields, payload_json=payload_text(fields.payload))
    assert hashed_bytes(fields) == rfc8785.dumps(fields.hashed())
    assert event_hash(fields) == hashlib.sha256(rfc8785.dumps(fields.hashed())).digest()
    assert signing_message(fields) == SIGNATURE_CONTEXT + rfc8785.dumps(fields.claim())


def test_timestamps_are_utc_with_microseconds():
    tz = dt.timezone(dt.timedelta(hours=8))
    assert (
        rfc3339(dt.datetime(2026, 11, 23, 14, 0, 0, 5, tzinfo=tz)) == "2026-11-23T06:00:00.000005Z"
    )
    with pytest.raises(ValueError):
        rfc3339(dt.datetime(2026, 11, 23))


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("filled", {"station_id": 1, "gross_kg": 31.8}),
        ("filled", {"station_id": 2**31, "gross_kg": 31.8, "net_kg": 15}),
        ("filled", {"station_id": 1, "gross_kg": -1, "net_kg": 15}),
        ("delivered", {"customer_id": 1, "checklist": {"valve": True}}),
        ("inspected", {"result": "maybe"}),
        ("inspected", {"result": "pass", "next_due": "soon"}),
        ("reported", {"kind": "borrowed"}),
        ("held", {}),
        ("teleported", {}),
        ("returned", []),
    ],
)
def test_payloads_outside_their_schema_are_refused(event_type, payload):
    with pytest.raises(PayloadError):
        validate_payload(event_type, payload)
