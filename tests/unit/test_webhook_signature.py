"""The owners' webhook signature: ``Ledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from ledger.owner_delivery import body_bytes, signature, verify_signature

SECRET = "0" * 64
T = 1_733_300_000
BODY = b'{"id":1}'
# Computed apart from this code: printf '1733300000.{"id":1}' | openssl dgst -sha256 -hmac 000…0
VECTOR = "3bca324369da4b920b3be94a3aaa738b35e7dc8170749b78ca60e023d4b47c1e"


def test_the_signature_is_hmac_sha256_of_the_time_a_dot_and_the_body() -> None:
    assert signature(SECRET, T, BODY) == f"t={T},v1={VECTOR}"


def test_a_signature_verifies_within_the_tolerance_either_way() -> None:
    header = signature(SECRET, T, BODY)
    for now in (T, T + 300, T - 300, T + 0.5):
        assert verify_signature(SECRET, header, BODY, now)
    assert verify_signature(SECRET, f"t={T}, v1={VECTOR}", BODY, T)  # spaces after commas


def test_a_tampered_body_fails() -> None:
    header = signature(SECRET, T, BODY)
    assert not verify_signature(SECRET, header, b'{"id":2}', T)
    assert not verify_signature(SECRET, header, BODY + b" ", T)


def test_a_wrong_secret_fails() -> None:
    header = signature(SECRET, T, BODY)
    assert not verify_signature("1" + SECRET[1:], header, BODY, T)


def test_a_stale_or_future_timestamp_fails() -> None:
    header = signature(SECRET, T, BODY)
    assert not verify_signature(SECRET, header, BODY, T + 301)
    assert not verify_signature(SECRET, header, BODY, T - 301)
    assert verify_signature(SECRET, header, BODY, T + 1000, tolerance=1000)


def test_a_timestamp_changed_after_signing_fails() -> None:
    mac = signature(SECRET, T, BODY).partition(",v1=")[2]
    assert not verify_signature(SECRET, f"t={T + 1},v1={mac}", BODY, T)


@pytest.mark.parametrize(
    "header",
    ["", "t=", f"v1={VECTOR}", f"t=soon,v1={VECTOR}", f"t={T}", f"t={T},v1=", f"t={T},v1=é",
     f"t={T},v0={VECTOR}", VECTOR],
)  # fmt: skip
def test_a_malformed_header_fails_and_never_raises(header: str) -> None:
    assert not verify_signature(SECRET, header, BODY, T)


def test_the_body_is_compact_sorted_utf8_json() -> None:
    body = body_bytes({"message": "钢瓶 A1 已超过", "id": 7, "code": "A1"})
    assert body == '{"code":"A1","id":7,"message":"钢瓶 A1 已超过"}'.encode()
    assert json.loads(body)["message"] == "钢瓶 A1 已超过"


def _docs_receiver() -> Any:
    """The receiver's check as docs/deploy.md prints it, run as written."""
    text = (Path(__file__).parents[2] / "docs" / "deploy.md").read_text()
    block = re.search(r"```python\n(import hashlib, hmac, time\n.*?)```", text, re.S)
    assert block is not None
    scope: dict[str, Any] = {}
    exec(block.group(1), scope)
    return scope["verified"]


def test_the_receivers_check_in_the_docs_accepts_ours_and_refuses_the_rest() -> None:
    verified = _docs_receiver()
    now = int(time.time())
    header = signature(SECRET, now, BODY)
    assert verified(SECRET, header, BODY)
    assert not verified(SECRET, header, BODY + b" ")
    assert not verified("1" + SECRET[1:], header, BODY)
    assert not verified(SECRET, signature(SECRET, now - 301, BODY), BODY)  # a replay
    for forged in ("", "v1=00", "t=²,v1=00", f"t={now}", "t=-1,v1=00", "t=1e9,v1=00"):
        assert not verified(SECRET, forged, BODY)  # refused, never an exception
