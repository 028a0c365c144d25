"""Published signed-note vectors (tests/vectors/signed-notes) must pass byte for byte.

The checkpoint entries of the same file are covered in test_checkpoint.py;
test_every_vector_entry_is_covered fails if the file gains an entry nobody reads.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.note import (
    NoteError,
    Signature,
    key_id,
    open_note,
    sign_note,
    signer_from_key,
    split_note,
    verifier_from_key,
    verifier_key_for,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "signed-notes"
DATA: dict[str, Any] = json.loads((VECTORS / "signed_note_vectors.json").read_text("utf-8"))

PETER = DATA["golang_mod_sumdb_note_PeterNeumann"]
FOO = DATA["c2sp_signed_note_example_com_foo"]
TD_KEYS = DATA["transparency_dev_formats_test_keys"]["keys"]
TD_IDS = [k["vkey"].split("+")[0] for k in TD_KEYS]
C2SP_CHECKPOINT = DATA["c2sp_checkpoint_example_unverifiable"]

COVERED_HERE = {
    "golang_mod_sumdb_note_PeterNeumann",
    "c2sp_signed_note_example_com_foo",
    "transparency_dev_formats_test_keys",
    "c2sp_checkpoint_example_unverifiable",  # note part here, body in test_checkpoint.py
}
COVERED_IN_TEST_CHECKPOINT = {"checkpoint_body_examples", "c2sp_checkpoint_example_unverifiable"}


def test_every_vector_entry_is_covered() -> None:
    assert set(DATA) == COVERED_HERE | COVERED_IN_TEST_CHECKPOINT


# --- golang/mod PeterNeumann -------------------------------------------------


def test_peter_neumann_resigning_reproduces_the_published_note_exactly() -> None:
    signer = signer_from_key(PETER["skey"])
    assert sign_note(PETER["note_text"], signer) == PETER["signed_note"]


def test_peter_neumann_signer_key_derives_the_published_verifier_key() -> None:
    assert verifier_key_for(signer_from_key(PETER["skey"])) == PETER["vkey"]


def test_peter_neumann_verifier_key_round_trips_through_parsing() -> None:
    v = verifier_from_key(PETER["vkey"])
    assert (v.name, v.key_id.hex()) == ("PeterNeumann", "c74f20a3")
    assert key_id(v.name, v.public.public_bytes_raw()) == v.key_id


def test_peter_neumann_note_opens_with_the_published_verifier_key() -> None:
    note = open_note(PETER["signed_note"], [verifier_from_key(PETER["vkey"])])
    assert note.text == PETER["note_text"]
    assert note.verified == [("PeterNeumann", bytes.fromhex("c74f20a3"))]
    assert note.unverified == []


# --- C2SP signed-note example ------------------------------------------------


def test_c2sp_example_com_foo_note_verifies() -> None:
    note = open_note(FOO["signed_note"], [verifier_from_key(FOO["vkey"])])
    assert note.text == "This is an example message.\n"
    assert note.verified == [("example.com/foo", bytes.fromhex("530d903a"))]


def test_c2sp_example_com_foo_note_is_unverified_under_another_key() -> None:
    with pytest.raises(NoteError, match="not signed by any known verifier"):
        open_note(FOO["signed_note"], [verifier_from_key(PETER["vkey"])])


# --- transparency-dev/formats test keys ---------------------------------------


@pytest.mark.parametrize("pair", TD_KEYS, ids=TD_IDS)
def test_transparency_dev_signer_key_derives_its_verifier_key(pair: dict[str, str]) -> None:
    assert verifier_key_for(signer_from_key(pair["skey"])) == pair["vkey"]


@pytest.mark.parametrize("pair", TD_KEYS, ids=TD_IDS)
def test_transparency_dev_key_signs_a_note_its_verifier_opens(pair: dict[str, str]) -> None:
    signed = sign_note("Log\n1\nYmFuYW5hcw==\n", signer_from_key(pair["skey"]))
    verifier = verifier_from_key(pair["vkey"])
    assert open_note(signed, [verifier]).verified == [(verifier.name, verifier.key_id)]


@pytest.mark.parametrize("pair", TD_KEYS, ids=TD_IDS)
def test_transparency_dev_key_is_rejected_by_the_other_test_keys(pair: dict[str, str]) -> None:
    signed = sign_note("hello\n", signer_from_key(pair["skey"]))
    others = [verifier_from_key(p["vkey"]) for p in TD_KEYS if p is not pair]
    with pytest.raises(NoteError, match="not signed by any known verifier"):
        open_note(signed, others)


# --- C2SP tlog-checkpoint example (no key published: format only) ------------


def test_c2sp_checkpoint_example_splits_into_body_and_one_signature() -> None:
    text, sigs = split_note(C2SP_CHECKPOINT["checkpoint"])
    assert text == (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert len(sigs) == 1
    sig = sigs[0]
    assert sig.name == "example.com/behind-the-sofa"
    assert len(sig.key_id) == 4 and len(sig.signature) == 64  # Ed25519
    # Re-emitting the parsed pieces gives back the note byte for byte.
    assert text + "\n" + sig.line() == C2SP_CHECKPOINT["checkpoint"]


def test_c2sp_checkpoint_example_is_well_formed_but_unverifiable_without_its_key() -> None:
    with pytest.raises(NoteError, match="not signed by any known verifier"):
        open_note(C2SP_CHECKPOINT["checkpoint"], [verifier_from_key(PETER["vkey"])])


def test_signature_line_reencodes_key_id_and_signature_as_standard_base64() -> None:
    sig = Signature("n", b"\x00\x01\x02\x03", b"\xff" * 64)
    b64 = base64.b64encode(b"\x00\x01\x02\x03" + b"\xff" * 64).decode()
    assert sig.line() == f"\u2014 n {b64}\n"
