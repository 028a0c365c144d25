"""A sync answer written to disk and read a state at a time (scanner/sync_file.py): the
same document as a whole parse, every damaged answer refused before the cache is touched,
the station's lock free while the answer downloads, memory independent of its size, and
a station whose own disk fails saying so and trying again."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from scanner import sync_file
from scanner.sync_file import SyncFile
from scanner.uplink import LOCAL_STORAGE_FAILED
from tests.scanner.conftest import SYNC_KEY as KEY
from tests.scanner.conftest import Rig, make_rig, register_cylinder
from tests.scanner.conftest import serving_sync as _serving
from tests.scanner.conftest import sync_answer as _answer


def _read(text: str) -> tuple[SyncFile, list[tuple[str, str]]]:
    answer = SyncFile.check(io.BytesIO(text.encode()))
    return answer, list(answer.state_rows())


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 65536])
@pytest.mark.parametrize("indent", [None, 2])
def test_the_answer_read_a_state_at_a_time_is_the_answer_parsed_whole(
    chunk: int, indent: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of 1 and 3 bytes split every Chinese character's UTF-8 bytes, every number,
    # string and literal somewhere; the indented text puts white space everywhere.
    monkeypatch.setattr(sync_file, "CHUNK", chunk)
    doc = _answer(40)
    answer, rows = _read(json.dumps(doc, ensure_ascii=False, indent=indent))
    assert answer.rest == {k: v for k, v in doc.items() if k != "cylinders"}
    assert answer.states == 40
    assert [code for code, _ in rows] == [c["code"] for c in doc["cylinders"]]
    assert [json.loads(text) for _, text in rows] == doc["cylinders"]


def test_an_answer_without_states_or_members_is_read() -> None:
    answer, rows = _read('{"cylinders": [], "deny": []}')
    assert (answer.rest, answer.states, rows) == ({"deny": []}, 0, [])
    answer, rows = _read(" {} \n")
    assert (answer.rest, answer.states, rows) == ({}, 0, [])


@pytest.mark.parametrize("chunk", [5, 65536])
def test_every_answer_cut_short_is_refused(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_file, "CHUNK", chunk)
    text = json.dumps(_answer(3), ensure_ascii=False) + "\n"
    whole = len(text.rstrip())
    for cut in range(whole):
        with pytest.raises(ValueError):
            _read(text[:cut])
    assert _read(text[:whole])[0].states == 3


@pytest.mark.parametrize(
    "text",
    [
        '[{"code": "A"}]',  # not an object
        '{"cylinders": [{"code": "A"}], "cylinders": []}',  # a member twice
        '{"cylinders": [{"code": 7}]}',  # a state without a code
        '{"cylinders": [["A"]]}',
        '{"cylinders": {"code": "A"}}',  # not an array
        '{"deny": []} {"deny": []}',  # text after the document
        '{"deny": [],}',
        '{"cylinders": [{"code": "A"},]}',
        '{"deny": tru}',
        '{"deny": "\\ud800\\"}',
    ],
)
def test_an_answer_that_is_not_the_contract_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="sync answer"):
        _read(text)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 11])
def test_numbers_split_anywhere_are_read_whole(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # A top-level number is decoded alone: cut before its ".", "e" or sign it must still be
    # read to its end (found by a review: "1" of "1.5e3" was taken, then "." refused).
    monkeypatch.setattr(sync_file, "CHUNK", chunk)
    numbers = {"a": 1.5e3, "b": -0.25e-2, "c": 12, "d": 1e300, "e": -7, "f": 0.5, "g": 10.0}
    for text in (json.dumps({**numbers, "cylinders": []}), '{"x":1.5E+3,"y":-2e-3,"z":10}'):
        expected = {k: v for k, v in json.loads(text).items() if k != "cylinders"}
        for pad in range(chunk + 1):  # every alignment of the numbers on the chunks
            assert _read(" " * pad + text)[0].rest == expected


def test_a_damaged_answer_is_refused_without_reading_it_whole() -> None:
    doc = _answer(6000, note="气瓶" * 40)
    text = json.dumps(doc, ensure_ascii=False).replace('"owner": 1', '"owner" 1', 1).encode()
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="not JSON"):
            SyncFile.check(io.BytesIO(text))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(text) / 8, (peak, len(text))  # the bad state's chunk, not the file


def test_an_answer_with_a_byte_order_mark_is_read_as_json_loads_reads_it() -> None:
    text = "\ufeff" + json.dumps(_answer(2), ensure_ascii=False)
    assert SyncFile.check(io.BytesIO(text.encode())).states == 2


def test_an_answer_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ValueError):
        SyncFile.check(io.BytesIO(b'{"deny": ["\xff\xfe"]}'))


def test_the_station_lock_is_free_while_the_answer_downloads(tmp_path: Path) -> None:
    seen: list[bool] = []
    rig: Rig | None = None

    def try_the_lock_from_the_nozzle() -> None:
        assert rig is not None

        def nozzle() -> None:
            got = rig.station.uplink.lock.acquire(blocking=False)
            seen.append(got)
            if got:
                rig.station.uplink.lock.release()

        thread = threading.Thread(target=nozzle)
        thread.start()
        thread.join(5)

    text = json.dumps(_answer(200), ensure_ascii=False).encode()
    transport = _serving(text, try_the_lock_from_the_nozzle)
    rig = make_rig("http://ledger.invalid", "t", 1, tmp_path, transport=transport)
    rig.station.uplink.sync()
    assert seen == [True]  # a fill could be queued halfway through the download
    assert rig.cache.cylinder("A00000000001") is not None
    assert rig.cache.meta("registry_key") == KEY
    left = {p.name for p in tmp_path.iterdir()}  # the answer's file went with the sync
    assert left <= {"device.key", "station.sqlite3", "station.sqlite3-wal", "station.sqlite3-shm"}


def test_storing_a_large_answer_holds_a_small_part_of_it_in_memory(tmp_path: Path) -> None:
    text = json.dumps(_answer(8000, note="气瓶" * 40), ensure_ascii=False).encode()
    rig = make_rig("http://ledger.invalid", "t", 1, tmp_path, transport=_serving(text))
    tracemalloc.start()
    try:
        rig.station.uplink.sync()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rig.cache.cylinder("A00000001F3F") is not None  # the 8,000th state
    # Parsed whole, the answer takes ~2x its text (the old way); read a state at a time,
    # what is held is a few 64 KiB chunks and the rows being written.
    assert peak < len(text) / 4, (peak, len(text))


def test_a_damaged_answer_leaves_the_cache_as_it_was(tmp_path: Path) -> None:
    good = json.dumps(_answer(5), ensure_ascii=False).encode()
    rig = make_rig("http://ledger.invalid", "t", 1, tmp_path, transport=_serving(good))
    rig.station.uplink.sync()
    before = {k: rig.cache.meta(k) for k in ("generated_at", "full_synced_at", "synced_at")}
    damaged = json.dumps(_answer(9), ensure_ascii=False).encode()[:-40]
    rig.station.client.http._transport = _serving(damaged)
    rig.clock.offset = dt.timedelta(hours=2)  # a full sync is due
    with pytest.raises(ValueError, match="sync answer"):
        rig.station.uplink.sync()
    assert {k: rig.cache.meta(k) for k in before} == before
    assert rig.cache.cylinder("A00000000004") is not None
    assert rig.cache.cylinder("A00000000008") is None


def test_a_station_whose_disk_fails_says_so_and_syncs_once_it_is_back(
    rig: Rig, client: Any, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    code = register_cylinder(client, demo["tokens"]["enterprise_a"])["code"]

    def full(*_: Any) -> Any:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(rig.cache, "scratch_file", full)
        assert rig.station.uplink.tick() is False
    zh, en, alert = rig.display.messages[-1]
    assert alert and zh == LOCAL_STORAGE_FAILED[0] and "No space left on device" in en
    assert rig.cache.cylinder(code) is None
    assert rig.station.uplink.tick() is True  # the disk has room again
    assert rig.cache.cylinder(code) is not None
