"""Pin which Ed25519 edge-case signatures Verifier.verify accepts.

Vectors: C2SP/CCTV ed25519vectors.json (tests/vectors/c2sp-cctv-ed25519), 914
signatures over low-order / mixed-order / non-canonical points A and R.

Pinned rule (the "ref10" cofactorless behaviour of cryptography's OpenSSL,
also Go's crypto/ed25519; see the CCTV README "Ecosystem behaviors"):

    accepted  <=>  neither ``non_canonical_R`` nor ``low_order_residue``

i.e. low-order or mixed-order A and R are ACCEPTED, non-canonical encodings
of A are ACCEPTED (k is hashed over A's bytes as given, so ``reencoded_k``
has no effect of its own), non-canonical R is REJECTED (R is compared by its
encoding), and signatures that only verify with the cofactored equation
are REJECTED. Outside the CCTV set: S >= L (non-canonical S) is REJECTED.

If a cryptography/OpenSSL upgrade changes any of this, these tests fail on
purpose: decide whether the new rule is acceptable, then update the rule here
and in ledger/note.py's docstring.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.note import Verifier, key_id

CCTV = Path(__file__).resolve().parents[1] / "vectors" / "c2sp-cctv-ed25519"
CASES: list[dict[str, Any]] = json.loads((CCTV / "ed25519vectors.json").read_text("utf-8"))

REJECTING_FLAGS = frozenset({"non_canonical_R", "low_order_residue"})
KNOWN_FLAGS = frozenset(
    {
        "low_order_A",
        "low_order_R",
        "low_order_component_A",
        "low_order_component_R",
        "non_canonical_A",
        "non_canonical_R",
        "low_order_residue",
        "reencoded_k",
    }
)
# Group order of edwards25519's prime-order subgroup (RFC 8032).
L = 2**252 + 27742317777372353535851937790883648493


def flags(case: dict[str, Any]) -> frozenset[str]:
    return frozenset(case["flags"] or ())  # one case has "flags": null


def expected_accept(case: dict[str, Any]) -> bool:
    return not flags(case) & REJECTING_FLAGS


def verifier_for(public: bytes) -> Verifier:
    return Verifier("cctv", key_id("cctv", public), Ed25519PublicKey.from_public_bytes(public))


def case_id(case: dict[str, Any]) -> str:
    return f"{case['number']:03d}-" + ("+".join(sorted(flags(case))) or "no_flags")


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_cctv_vector_acceptance_follows_the_pinned_rule(case: dict[str, Any]) -> None:
    verifier = verifier_for(bytes.fromhex(case["key"]))
    got = verifier.verify(case["msg"].encode("utf-8"), bytes.fromhex(case["sig"]))
    assert got is expected_accept(case), f"flags={sorted(flags(case))}"


def test_cctv_vector_file_has_the_expected_shape() -> None:
    # Guards the data itself: a truncated or replaced file would weaken the test above.
    assert len(CASES) == 914
    assert sorted(c["number"] for c in CASES) == list(range(914))
    assert set().union(*(flags(c) for c in CASES)) == KNOWN_FLAGS
    assert Counter(expected_accept(c) for c in CASES) == {True: 208, False: 706}


def test_cctv_every_non_rejecting_flag_occurs_on_some_accepted_case() -> None:
    # Each flag other than the two rejecting ones appears on accepted cases too,
    # so the rule really says "accepted despite the flag", not "never tested".
    accepted = set().union(*(flags(c) for c in CASES if expected_accept(c)))
    assert accepted == KNOWN_FLAGS - REJECTING_FLAGS


def _valid() -> tuple[Verifier, bytes, bytes]:
    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    msg = b"cylinder 0001\n"
    return verifier_for(private.public_key().public_bytes_raw()), msg, private.sign(msg)


def test_valid_signature_is_accepted() -> None:
    verifier, msg, sig = _valid()
    assert verifier.verify(msg, sig) is True


def test_non_canonical_s_is_rejected() -> None:
    verifier, msg, sig = _valid()
    s = int.from_bytes(sig[32:], "little")
    assert verifier.verify(msg, sig[:32] + (s + L).to_bytes(32, "little")) is False


def test_s_with_high_bits_set_is_rejected() -> None:
    verifier, msg, sig = _valid()
    assert verifier.verify(msg, sig[:63] + bytes([sig[63] | 0xE0])) is False


@pytest.mark.parametrize("length", [0, 1, 63, 65, 128])
def test_wrong_length_signature_is_a_clean_false(length: int) -> None:
    verifier, msg, sig = _valid()
    assert verifier.verify(msg, (sig * 2)[:length]) is False


@pytest.mark.parametrize(
    "public",
    [bytes([2]) + bytes(31), b"\xff" * 32],
    ids=["y=2-not-on-curve", "all-ones"],
)
def test_public_key_that_is_not_a_curve_point_verifies_nothing(public: bytes) -> None:
    _, msg, sig = _valid()
    assert verifier_for(public).verify(msg, sig) is False
