"""Behaviour of ledger.note: keys, signing, opening and rejecting signed notes."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.note import (
    MAX_SIGNATURES,
    NoteError,
    Signature,
    Signer,
    Verifier,
    generate_signer_key,
    key_id,
    open_note,
    sign_note,
    signer_from_key,
    split_note,
    verifier_from_key,
    verifier_key_for,
)

TEXT = "cylinder CN-LPG-000123\nrefilled 2024-05-01\n"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_PUB = base64.b64decode(PETER_VKEY.split("+", 2)[2])[1:]


def make_signer(name: str, seed: int) -> Signer:
    private = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    return Signer(name, key_id(name, private.public_key().public_bytes_raw()), private)


def verifier_of(signer: Signer) -> Verifier:
    return verifier_from_key(verifier_key_for(signer))


ALICE = make_signer("example.com/alice", 1)
BOB = make_signer("example.com/bob", 2)
SIGNED = sign_note(TEXT, ALICE)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# --- keys ----------------------------------------------------------------------


def test_key_id_is_truncated_sha256_of_name_newline_alg_and_key() -> None:
    assert key_id("PeterNeumann", PETER_PUB) == bytes.fromhex("c74f20a3")


def test_generated_signer_key_parses_and_matches_its_verifier_key() -> None:
    skey = generate_signer_key("example.com/log")
    assert skey.startswith("PRIVATE+KEY+example.com/log+")
    signer = signer_from_key(skey)
    verifier = verifier_from_key(verifier_key_for(signer))
    assert (verifier.name, verifier.key_id) == (signer.name, signer.key_id)
    assert verifier.verify(b"m", signer.sign(b"m"))


def test_generated_signer_keys_are_random() -> None:
    assert generate_signer_key("n") != generate_signer_key("n")


@pytest.mark.parametrize(
    "name",
    ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u3000b", "a\x00b"],
    ids=["empty", "space", "plus", "tab", "nbsp", "ideographic-space", "nul"],
)
def test_invalid_key_names_are_rejected_everywhere(name: str) -> None:
    private = Ed25519PrivateKey.from_private_bytes(bytes(32))
    with pytest.raises(NoteError):
        generate_signer_key(name)
    with pytest.raises(NoteError):
        Signer(name, b"\0\0\0\0", private)
    with pytest.raises(NoteError):
        Verifier(name, b"\0\0\0\0", private.public_key())


@pytest.mark.parametrize("kid", [b"", b"\0\0\0", b"\0" * 5], ids=["0", "3", "5"])
def test_key_id_must_be_four_bytes(kid: bytes) -> None:
    with pytest.raises(NoteError, match="4 bytes"):
        Verifier("n", kid, ALICE.private.public_key())


PUB_B64 = PETER_VKEY.split("+", 2)[2]


@pytest.mark.parametrize(
    "vkey",
    [
        pytest.param("", id="empty"),
        pytest.param("PeterNeumann+c74f20a3", id="missing-key"),
        pytest.param(f"+c74f20a3+{PUB_B64}", id="empty-name"),
        pytest.param(f"Peter Neumann+c74f20a3+{PUB_B64}", id="space-in-name"),
        pytest.param(f"PeterNeumann+c74f20a+{PUB_B64}", id="short-key-id"),
        pytest.param(f"PeterNeumann+C74F20A3+{PUB_B64}", id="uppercase-key-id"),
        pytest.param(f"PeterNeumann+c74f20a4+{PUB_B64}", id="wrong-key-id"),
        pytest.param(f"PeterNeumann+zzzzzzzz+{PUB_B64}", id="non-hex-key-id"),
        pytest.param(f"PeterNeumann+c74f20a3+{PUB_B64[:-1]}", id="truncated-base64"),
        pytest.param(f"PeterNeumann+c74f20a3+{PUB_B64} ", id="trailing-space"),
        pytest.param(f"PeterNeumann+c74f20a3+{PUB_B64.replace('/', '_')}", id="urlsafe-base64"),
        pytest.param(f"PeterNeumann+c74f20a3+{b64(bytes([2]) + PETER_PUB)}", id="alg-0x02"),
        pytest.param(f"PeterNeumann+c74f20a3+{b64(bytes([1]) + PETER_PUB[:31])}", id="31-byte-key"),
        pytest.param("PeterNeumann+c74f20a3+", id="no-key-bytes"),
        pytest.param(PETER_SKEY, id="signer-key-as-verifier-key"),
    ],
)
def test_malformed_verifier_keys_are_rejected(vkey: str) -> None:
    with pytest.raises(NoteError):
        verifier_from_key(vkey)


SEED_B64 = PETER_SKEY.split("+", 4)[4]


@pytest.mark.parametrize(
    "skey",
    [
        pytest.param("", id="empty"),
        pytest.param(PETER_VKEY, id="verifier-key-as-signer-key"),
        pytest.param(PETER_SKEY.replace("PRIVATE+KEY", "PUBLIC+KEY"), id="wrong-prefix"),
        pytest.param(PETER_SKEY.replace("c74f20a3", "c74f20a4"), id="wrong-key-id"),
        pytest.param(f"PRIVATE+KEY+PeterNeumann+c74f20a3+{SEED_B64}=", id="extra-padding"),
        pytest.param(
            f"PRIVATE+KEY+PeterNeumann+c74f20a3+{b64(bytes([4]) + bytes(32))}", id="alg-0x04"
        ),
        pytest.param(
            f"PRIVATE+KEY+PeterNeumann+c74f20a3+{b64(bytes([1]) + bytes(33))}", id="33-byte-seed"
        ),
        pytest.param(f"PRIVATE+KEY+Peter+Neumann+c74f20a3+{SEED_B64}", id="plus-in-name"),
    ],
)
def test_malformed_signer_keys_are_rejected(skey: str) -> None:
    with pytest.raises(NoteError):
        signer_from_key(skey)


# --- signing and opening --------------------------------------------------------


def test_signed_note_is_text_blank_line_and_em_dash_signature_line() -> None:
    head, _, sig_line = SIGNED.partition("\n\n")
    assert head + "\n" == TEXT
    assert sig_line.startswith("\u2014 example.com/alice ") and sig_line.endswith("\n")
    raw = base64.b64decode(sig_line.split(" ")[2])
    assert raw[:4] == ALICE.key_id and len(raw) == 68


def test_signed_note_opens_and_reports_its_signer() -> None:
    note = open_note(SIGNED, [verifier_of(ALICE)])
    assert note.text == TEXT
    assert note.verified == [(ALICE.name, ALICE.key_id)]
    assert note.unverified == []


@pytest.mark.parametrize(
    "text",
    [
        "\n",
        "a\n\nb\n",
        "trailing blank line\n\n",
        "一瓶一码 液化石油气钢瓶\n",
        "— looks like a sig\n",
    ],
    ids=["only-newline", "inner-blank-line", "trailing-blank-line", "unicode", "em-dash-text"],
)
def test_note_texts_round_trip_exactly(text: str) -> None:
    assert open_note(sign_note(text, ALICE), [verifier_of(ALICE)]).text == text


def test_cosigned_note_opens_with_either_verifier_and_keeps_the_other_unverified() -> None:
    signed = sign_note(TEXT, ALICE, BOB)
    assert open_note(signed, [verifier_of(ALICE), verifier_of(BOB)]).verified == [
        (ALICE.name, ALICE.key_id),
        (BOB.name, BOB.key_id),
    ]
    note = open_note(signed, [verifier_of(BOB)])
    assert note.verified == [(BOB.name, BOB.key_id)]
    assert [s.name for s in note.unverified] == [ALICE.name]
    # The kept signature can be re-emitted verbatim (e.g. when adding a cosignature).
    bob_line = sign_note(TEXT, BOB).partition("\n\n")[2]
    assert signed == TEXT + "\n" + note.unverified[0].line() + bob_line


def test_repeated_signature_lines_are_reported_once() -> None:
    sig_line = SIGNED.partition("\n\n")[2]
    bob_line = sign_note(TEXT, BOB).partition("\n\n")[2]
    note = open_note(SIGNED + sig_line + bob_line + bob_line, [verifier_of(ALICE)])
    assert note.verified == [(ALICE.name, ALICE.key_id)]
    assert len(note.unverified) == 1


@pytest.mark.parametrize(
    "text",
    ["no newline", "", "tab\there\n", "cr\r\n", "bell\x07\n", "lone \ud800 surrogate\n"],
    ids=["no-final-newline", "empty", "tab", "carriage-return", "bell", "lone-surrogate"],
)
def test_sign_rejects_text_that_cannot_be_a_note(text: str) -> None:
    with pytest.raises(NoteError):
        sign_note(text, ALICE)


def test_sign_requires_a_signer() -> None:
    with pytest.raises(NoteError):
        sign_note(TEXT)


def test_sign_refuses_more_signers_than_open_would_accept() -> None:
    with pytest.raises(NoteError, match="more than 100"):
        sign_note(TEXT, *[ALICE] * (MAX_SIGNATURES + 1))


def test_verify_returns_false_for_other_message_or_short_signature() -> None:
    verifier = verifier_of(ALICE)
    assert verifier.verify(b"x", ALICE.sign(b"x")) is True
    assert verifier.verify(b"y", ALICE.sign(b"x")) is False
    assert verifier.verify(b"x", ALICE.sign(b"x")[:63]) is False


# --- verification failures -------------------------------------------------------


def test_flipped_byte_in_text_is_caught() -> None:
    tampered = SIGNED.replace("000123", "000124")
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(tampered, [verifier_of(ALICE)])


@pytest.mark.parametrize("index", [0, 31, 32, 63], ids=["R-first", "R-last", "S-first", "S-last"])
def test_flipped_byte_in_signature_is_caught(index: int) -> None:
    raw = bytearray(ALICE.key_id + ALICE.sign(TEXT.encode()))
    raw[4 + index] ^= 0x01
    tampered = f"{TEXT}\n\u2014 {ALICE.name} {b64(bytes(raw))}\n"
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(tampered, [verifier_of(ALICE)])


def test_note_from_another_key_is_rejected() -> None:
    with pytest.raises(NoteError, match="not signed by any known verifier"):
        open_note(SIGNED, [verifier_of(BOB)])


def test_no_verifiers_means_no_note() -> None:
    with pytest.raises(NoteError, match="not signed by any known verifier"):
        open_note(SIGNED, [])


def test_same_name_and_key_id_but_different_key_is_an_invalid_signature() -> None:
    # An attacker can grind a colliding key ID; the verifier must still fail.
    impostor = Verifier(ALICE.name, ALICE.key_id, BOB.private.public_key())
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(SIGNED, [impostor])


def test_same_name_other_key_id_is_just_unknown() -> None:
    other = Verifier(ALICE.name, b"\0\0\0\0", ALICE.private.public_key())
    with pytest.raises(NoteError, match="not signed by any known verifier"):
        open_note(SIGNED, [other])


def test_one_failing_known_signature_rejects_the_note_even_if_another_verifies() -> None:
    bad_bob = f"\u2014 {BOB.name} {b64(BOB.key_id + bytes(64))}\n"
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(SIGNED + bad_bob, [verifier_of(ALICE), verifier_of(BOB)])


def test_two_different_keys_under_one_name_and_key_id_are_ambiguous() -> None:
    impostor = Verifier(ALICE.name, ALICE.key_id, BOB.private.public_key())
    with pytest.raises(NoteError, match="ambiguous"):
        open_note(SIGNED, [verifier_of(ALICE), impostor])


def test_up_to_the_signature_limit_is_accepted_and_one_more_is_not() -> None:
    unknown = [f"\u2014 k{i} {b64(bytes([i]) * 68)}\n" for i in range(MAX_SIGNATURES)]
    at_limit = SIGNED + "".join(unknown[: MAX_SIGNATURES - 1])
    assert len(open_note(at_limit, [verifier_of(ALICE)]).unverified) == MAX_SIGNATURES - 1
    with pytest.raises(NoteError, match="more than 100"):
        open_note(SIGNED + "".join(unknown), [verifier_of(ALICE)])


SIG_LINE = SIGNED.partition("\n\n")[2]
SIG_B64 = SIG_LINE.split(" ")[2].rstrip("\n")
# 68 bytes -> one "=" and two unused low bits in the last character.
NONCANON_B64 = SIG_B64[:-2] + chr(ord(SIG_B64[-2]) + 1) + "="


@pytest.mark.parametrize(
    "note",
    [
        pytest.param("", id="empty"),
        pytest.param("\n\n", id="no-signature-lines"),
        pytest.param(TEXT + SIG_LINE, id="no-blank-line"),
        pytest.param(SIGNED[:-1], id="no-final-newline"),
        pytest.param(SIGNED + "\n", id="trailing-blank-line"),
        pytest.param(SIGNED + "\n" + SIG_LINE, id="blank-line-between-signatures"),
        pytest.param(SIGNED.replace("\u2014 ", "- "), id="hyphen-not-em-dash"),
        pytest.param(SIGNED.replace("\u2014 ", "\u2013 "), id="en-dash"),
        pytest.param(SIGNED.replace("\u2014 ", "\u2014"), id="no-space-after-dash"),
        pytest.param(SIGNED.replace(f"{ALICE.name} ", ALICE.name), id="no-space-after-name"),
        pytest.param(SIGNED.replace(f" {SIG_B64}", f"  {SIG_B64}"), id="double-space"),
        pytest.param(SIGNED.replace(SIG_B64, SIG_B64 + " "), id="trailing-space"),
        pytest.param(SIGNED.replace(SIG_B64, SIG_B64.rstrip("=")), id="unpadded-base64"),
        pytest.param(SIGNED.replace(SIG_B64, NONCANON_B64), id="non-canonical-base64"),
        pytest.param(SIGNED.replace(SIG_B64, "!" + SIG_B64[1:]), id="bad-base64-char"),
        pytest.param(SIGNED.replace(SIG_B64, ""), id="empty-signature"),
        pytest.param(SIGNED.replace(SIG_B64, b64(ALICE.key_id)), id="key-id-only"),
        pytest.param(SIGNED.replace(ALICE.name, "ex+ample"), id="plus-in-name"),
        pytest.param(SIGNED.replace(ALICE.name, "a\u00a0b"), id="nbsp-in-name"),
        pytest.param(SIGNED.replace("\n", "\r\n"), id="crlf"),
        pytest.param(SIGNED.replace("refilled", "re\tfilled"), id="tab-in-text"),
        pytest.param(SIGNED.replace("refilled", "re\ud800filled"), id="lone-surrogate"),
    ],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(NoteError):
        open_note(note, [verifier_of(ALICE)])


def test_non_canonical_base64_really_decodes_to_the_same_bytes() -> None:
    # Otherwise the "non-canonical-base64" case above would test nothing special.
    assert base64.b64decode(NONCANON_B64) == base64.b64decode(SIG_B64)


def test_split_note_parses_without_verifying() -> None:
    text, sigs = split_note(SIGNED.replace("000123", "000999"))
    assert text == TEXT.replace("000123", "000999")
    assert sigs == [Signature(ALICE.name, ALICE.key_id, ALICE.sign(TEXT.encode()))]
