"""Hypothesis on what comes from outside: scans (the QR parser) and the canonical encoding."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import codes
from ledger.events import EVENT_TYPES, PayloadError, canonical, parse_rfc3339
from ledger.keys import public_bytes
from ledger.note import generate_signer_key, signer_from_key
from ledger.payloads import validate_payload

REGISTRY = signer_from_key(generate_signer_key("registry"))
PUB = public_bytes(REGISTRY)
code_st = st.builds(lambda _: codes.new_code(), st.integers())
junk = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@st.composite
def hostile_urls(draw: Any) -> str:
    """URLs shaped like a label's, with hostile parts anywhere."""
    scheme = draw(st.sampled_from(["http", "https", "HTTPS", "javascript", "ftp", "data", ""]))
    host = draw(st.sampled_from(["ledger.test", "evil.example", "", "[::1]", "a:99999"]))
    code = draw(st.one_of(code_st, junk))
    path = draw(st.sampled_from(["/c/{}", "/c/{}/", "/x/c/{}", "/c/{}/../..", "/C/{}", "{}"]))
    sig = draw(st.one_of(st.none(), st.binary(max_size=80).map(b64url), junk))
    extra = draw(st.sampled_from(["", "&s=AAAA", "&s=", "#frag", "&x=1", "%00"]))
    query = "" if sig is None else f"?s={sig}"
    return f"{scheme}://{host}{path.format(code)}{query}{extra}"


@settings(max_examples=400)
@given(st.one_of(hostile_urls(), junk, st.text(max_size=3000)))
def test_a_hostile_scan_is_a_scan_error_or_a_valid_code(text: str) -> None:
    try:
        scan = codes.parse_scan(text)
    except codes.ScanError:
        return
    assert codes.is_valid_code(scan.code)
    assert scan.signature is None or isinstance(scan.signature, bytes)


@settings(max_examples=200)
@given(code_st, st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_a_tampered_signature_never_verifies(code: str, where: int, flip: int) -> None:
    url = codes.qr_url("https://ledger.test", code, REGISTRY)
    scan = codes.parse_scan(url)
    assert scan.code == code and scan.signature is not None
    assert codes.verify_code(code, scan.signature, PUB)
    bad = bytearray(scan.signature)
    bad[where % len(bad)] ^= flip
    assert not codes.verify_code(code, bytes(bad), PUB)
    other = codes.new_code()
    assert other == code or not codes.verify_code(other, scan.signature, PUB)  # no cloning


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    # floats past 2**53 that are whole numbers print as integers outside I-JSON's domain
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300)
@given(json_values)
def test_canonical_bytes_are_deterministic_parse_back_and_ignore_key_order(value: Any) -> None:
    raw = canonical(value)
    assert raw == canonical(json.loads(raw))  # a fixed point: re-encoding changes nothing
    raw.decode("utf-8")  # always UTF-8
    if isinstance(value, dict):
        reordered = dict(reversed(list(value.items())))
        assert canonical(reordered) == raw


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=5), st.text(), min_size=1, max_size=4))
def test_different_objects_never_share_canonical_bytes(value: dict[str, str]) -> None:
    changed = {**value, next(iter(value)): next(iter(value.values())) + "\u0000"}
    assert canonical(changed) != canonical(value)


@settings(max_examples=400)
@given(st.sampled_from(sorted(EVENT_TYPES)), st.one_of(json_values, st.dictionaries(
    st.sampled_from(["station_id", "gross_kg", "net_kg", "tare_kg", "vehicle", "kind", "result",
                     "customer_id", "checklist", "next_due", "reason", "new_code",
                     "to_enterprise", "driver"]), json_values, max_size=6)))  # fmt: skip
def test_any_payload_is_accepted_or_refused_with_a_payload_error(kind: str, payload: Any) -> None:
    try:
        clean = validate_payload(kind, payload)
    except PayloadError:
        return
    canonical(clean)  # anything accepted can be hashed


@given(st.text(max_size=60))
def test_any_timestamp_text_parses_to_utc_or_is_a_payload_error(text: str) -> None:
    try:
        value = parse_rfc3339(text)
    except PayloadError:
        return
    assert value.utcoffset() is not None and value.utcoffset().total_seconds() == 0


def test_a_url_with_an_unbalanced_bracket_is_a_scan_error_not_a_crash(
    client: Any, demo: Any
) -> None:
    # Found by the property above: urlsplit raised ValueError, the fill check answered 500.
    for text in ("http://[/c/AB12CD34EF56", "https://a]/c/AB12CD34EF56?s=AA"):
        try:
            codes.parse_scan(text)
        except codes.ScanError:
            pass
        else:  # pragma: no cover
            raise AssertionError(text)
    resp = client.post(
        "/api/v1/fill-checks",
        json={"station_id": demo["stations"]["a"], "scan": "http://[/c/AB12CD34EF56"},
        headers={"Authorization": f"Bearer {demo['tokens']['station_a']}"},
    )
    assert 400 <= resp.status_code < 500
    assert resp.content_type == "application/problem+json"
