"""Codes and the signed QR payload (DESIGN §4)."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import codes
from ledger.keys import public_bytes
from ledger.note import generate_signer_key, signer_from_key

REGISTRY = signer_from_key(generate_signer_key("registry"))
PUB = public_bytes(REGISTRY)


def test_issued_codes_are_short_uppercase_alphanumeric_and_self_checking():
    for _ in range(200):
        code = codes.new_code()
        assert codes.is_valid_code(code) and len(code) == 12
        assert codes.has_valid_check_char(code)
        assert not set(code[:-1]) & set("ILOU")


def _issued_codes(n: int) -> list[str]:
    """Codes as the ledger issues them, from a fixed seed (the test is the same every run)."""
    rng = random.Random(7)
    bodies = ["".join(rng.choice(codes._RANDOM_ALPHABET) for _ in range(11)) for _ in range(n)]
    return [body + codes.check_char(body) for body in bodies]


def test_every_mistyped_character_is_caught_by_the_check_character():
    for code in _issued_codes(50):
        for i, ch in itertools.product(range(len(code)), codes._ISO7064_ALPHABET):
            if ch != code[i]:
                assert not codes.has_valid_check_char(code[:i] + ch + code[i + 1 :])


def test_nearly_every_swap_of_neighbours_is_caught_by_the_check_character():
    # ISO 7064 MOD 37,36 (a hybrid system) catches every single substitution but not every
    # transposition: about 1 in 700 adjacent swaps keeps the check character valid.
    swaps = [
        code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        for code in _issued_codes(500)
        for i in range(len(code) - 1)
        if code[i] != code[i + 1]
    ]
    missed = sum(codes.has_valid_check_char(s) for s in swaps)
    assert len(swaps) > 5000 and missed / len(swaps) < 0.005


def test_a_signed_qr_url_parses_back_and_verifies_offline():
    url = codes.qr_url("https://ledger.example/", "CQ2024A0001", REGISTRY)
    assert (
        url.startswith("https://ledger.example/c/CQ2024A0001?s=") and "=" not in url.split("s=")[1]
    )
    scan = codes.parse_scan(url)
    assert scan.code == "CQ2024A0001"
    assert scan.signature is not None and codes.verify_code(scan.code, scan.signature, PUB)


def test_a_signature_for_another_code_is_a_forgery():
    url = codes.qr_url("https://x", "AAA1", REGISTRY)
    forged = url.replace("/c/AAA1", "/c/AAA2")
    scan = codes.parse_scan(forged)
    assert scan.signature is not None and not codes.verify_code(scan.code, scan.signature, PUB)


def test_a_bare_code_from_a_keyboard_wedge_is_accepted_with_whitespace_and_lowercase():
    assert codes.parse_scan("  cq2024a0001\r\n") == codes.Scan("CQ2024A0001", None)


def test_a_url_without_a_signature_is_looked_up_online():
    assert codes.parse_scan("http://127.0.0.1:5000/c/ABC123") == codes.Scan("ABC123", None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ABC-123",
        "A" * 21,
        "https://example.com/other/ABC",
        "ftp://x/c/ABC",
        "https://x/c/ABC?s=%%%",
        "https://x/c/ABC?s=a&s=b",
        "https://x/c/abc!",
        "x" * 5000,
        "微信支付 https://wx.example/p/123",
    ],
)
def test_garbage_and_other_systems_payloads_are_refused_clearly(text):
    with pytest.raises(codes.ScanError):
        codes.parse_scan(text)


@given(st.text(max_size=300))
def test_parsing_any_text_either_yields_a_valid_code_or_a_scan_error(text):
    try:
        scan = codes.parse_scan(text)
    except codes.ScanError:
        return
    assert codes.is_valid_code(scan.code)


def test_a_code_typed_as_printed_in_groups_of_four_is_the_code():
    assert codes.parse_scan("ab12 cd34 ef56").code == "AB12CD34EF56"
    assert codes.parse_scan(" AB12 CD34 EF56\n").signature is None
    with pytest.raises(codes.ScanError):
        codes.parse_scan("hello world")  # not groups of four: garbage from a wedge


def test_a_code_never_ends_in_a_newline() -> None:
    code = codes.new_code()
    assert codes.is_valid_code(code) and not codes.is_valid_code(code + "\n")
    with pytest.raises(codes.ScanError):
        codes.parse_scan(f"https://ledger.example/c/{code}%0A")
    assert codes.parse_scan(code + "\n").code == code  # a keyboard wedge's Enter is stripped


@pytest.mark.parametrize(
    ("code", "typed"), [("CQ2024S0001", "cq2024ſ0001"), ("CI2024A0001", "cı2024a0001")]
)
def test_a_letter_that_upper_cases_onto_a_code_character_is_not_that_character(
    code: str, typed: str
) -> None:
    assert codes.parse_scan(code.lower()).code == code
    assert typed.upper() == code  # what str.upper() alone would have accepted
    with pytest.raises(codes.ScanError):
        codes.parse_scan(typed)
