"""The station's parts on their own: inputs, interlock outputs, device key, outbox."""

from __future__ import annotations

import base64
import datetime as dt
import io
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest

from ledger.events import ZERO_HASH, EventFields, signing_message
from ledger.keys import device_key_id, verify_ed25519
from scanner.cache import StationCache
from scanner.device import load_or_create
from scanner.interlock import (
    CommandInterlock,
    InterlockError,
    NoInterlock,
    SerialInterlock,
    make_interlock,
    split_port,
)
from scanner.sources import Input, parse_scale_line, parse_weight, read_lines, watch_dir
from scanner.synth import photograph, render_label

NOW = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("line", "kg"),
    [("31.6", 31.6), ("31.6kg", 31.6), (" 32 公斤", 32.0), ("7", 7.0), ("1234", None),
     ("7KQ2MX9D4RTZ", None), ("31.6.1", None), ("", None), ("-3", None)],
)  # fmt: skip
def test_a_typed_weight_is_told_from_a_scan(line: str, kg: float | None) -> None:
    assert parse_weight(line) == kg


@pytest.mark.parametrize(
    ("line", "kg"),
    [("ST,GS,+0031.60kg", 31.6), ("US,GS,+0031.20kg", None), ("  45.2 kg", 45.2),
     ("ERR", None), ("ST,GS,+9999.99kg", None)],
)  # fmt: skip
def test_a_scale_line_gives_the_stable_gross_weight(line: str, kg: float | None) -> None:
    assert parse_scale_line(line) == kg


def test_the_wedge_reader_sends_scans_weights_and_the_end() -> None:
    got: list[Input] = []
    read_lines(io.StringIO("https://x/c/AB12?s=x\r\n\n31.5\nGARBAGE-ÄÖ\n"), got.append)
    assert [(i.kind, i.text, i.kg) for i in got] == [
        ("scan", "https://x/c/AB12?s=x", None), ("weight", "31.5", 31.5),
        ("scan", "GARBAGE-ÄÖ", None), ("end", "", None),
    ]  # fmt: skip


def test_a_watched_directory_decodes_each_new_image_once(tmp_path: Path) -> None:
    url = "https://ledger.test/c/7KQ2MX9D4RTZ?s=abc"
    cv2.imwrite(str(tmp_path / "1.png"), photograph(render_label(url, "C"), [], 0.0, seed=1))
    (tmp_path / "2.jpg").write_bytes(b"half-written garbage")
    (tmp_path / "notes.txt").write_text("ignored")
    got: list[Input] = []
    watch_dir(tmp_path, got.append, threading.Event(), once=True)
    assert [(i.kind, i.text) for i in got] == [("scan", url), ("unreadable", "2.jpg"), ("end", "")]


def test_interlock_specs() -> None:
    assert isinstance(make_interlock("none"), NoInterlock)
    assert isinstance(make_interlock("cmd:relay on;;relay off"), CommandInterlock)
    serial = make_interlock("serial:/dev/ttyUSB0:19200")
    assert isinstance(serial, SerialInterlock) and (serial.port, serial.baud) == (
        "/dev/ttyUSB0",
        19200,
    )
    assert split_port("loop://") == ("loop://", 9600)
    for bad in ["cmd:only-allow", "gpio:17", ""]:
        with pytest.raises(ValueError):
            make_interlock(bad)


def test_a_command_interlock_passes_the_code_and_fails_loudly(tmp_path: Path) -> None:
    log = tmp_path / "relay.log"
    ok = CommandInterlock(
        f"sh -c 'echo allow $CYLINDER_CODE >> {log}'", f"sh -c 'echo deny >> {log}'"
    )
    ok.allow("7KQ2MX9D4RTZ")
    ok.deny()
    assert log.read_text().split("\n")[:2] == ["allow 7KQ2MX9D4RTZ", "deny"]
    for broken in [CommandInterlock("false", "false"), CommandInterlock("/no/such/tool", "x"),
                   CommandInterlock("sleep 5", "true", timeout=0.2)]:  # fmt: skip
        with pytest.raises(InterlockError):
            broken.allow("X")


def test_a_serial_relay_that_does_not_acknowledge_is_an_error() -> None:
    relay = SerialInterlock("loop://", timeout=0.1)  # echoes ALLOW back, never OK
    with pytest.raises(InterlockError):
        relay.allow("X")
    with pytest.raises(InterlockError):
        SerialInterlock("/dev/no-such-port").deny()


def test_the_device_key_file_is_private_stable_and_signs_claims_the_ledger_verifies(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys" / "device.key"
    key = load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create(path).public_bytes == key.public_bytes
    assert key.key_id == device_key_id(key.public_bytes)
    payload = {"station_id": 1, "gross_kg": 31.6, "tare_kg": 16.8, "net_kg": 14.8}
    signature = key.sign_claim(
        event_id="0190b3e0-0000-7000-8000-000000000001", cylinder="c1", type="filled",
        occurred_at=NOW, actor=5, station=1, payload=payload,
    )  # fmt: skip
    fields = EventFields(
        "0190b3e0-0000-7000-8000-000000000001", "c1", "filled", NOW, NOW + dt.timedelta(1), 5, 1,
        None, payload, ZERO_HASH, "whatever",
    )  # fmt: skip
    raw = base64.b64decode(signature)
    assert verify_ed25519(key.public_bytes, signing_message(fields), raw)
    tampered = EventFields(
        *[*fields.__dict__.values()][:8], {**payload, "net_kg": 20}, ZERO_HASH, "x"
    )
    assert not verify_ed25519(key.public_bytes, signing_message(tampered), raw)
    path.write_text("not a key")
    with pytest.raises(ValueError):
        load_or_create(path)


def test_the_outbox_keeps_order_and_each_idempotency_key_once(tmp_path: Path) -> None:
    cache = StationCache(tmp_path / "s.sqlite3")
    a = cache.enqueue("event", "A", {"n": 1}, "k1", NOW)
    b = cache.enqueue("check", "B", {"scan": "B"}, "k2", NOW)
    assert cache.enqueue("event", "A", {"n": 1}, "k1", NOW) == a  # the same write, once
    assert [o.seq for o in cache.pending()] == [a, b]
    cache.attempted(a)
    cache.finish(b, "sent", {"ok": True}, NOW)
    reopened = StationCache(tmp_path / "s.sqlite3")  # a restart loses nothing
    assert [(o.seq, o.attempts) for o in reopened.pending()] == [(a, 1)]
    assert [o.status for o in reopened.all()] == ["pending", "sent"]
    with pytest.raises(ValueError):
        reopened.finish(a, "maybe", {}, NOW)


def test_a_sync_without_a_registry_key_is_refused(tmp_path: Path) -> None:
    cache = StationCache(tmp_path / "s.sqlite3")
    with pytest.raises(ValueError):
        cache.store_sync({"station": {}, "deny": [], "registry_key": "short"}, NOW)
    assert cache.synced_at() is None


def test_the_operator_sees_allow_and_block_in_chinese_with_reasons() -> None:
    from rich.console import Console

    from scanner.display import RichDisplay
    from scanner.outcome import Outcome

    console = Console(record=True, width=100, force_terminal=False)
    display = RichDisplay(console)
    display.decision(Outcome("X", True, [], code="7KQ2MX9D4RTZ"))
    reason = {"code": "INSPECTION_OVERDUE", "message_zh": "超期未检（2026-05-01应检）",
              "message_en": "periodic inspection overdue"}  # fmt: skip
    display.decision(Outcome("Y", False, [reason], offline=True, code="7KQ2MX9D4RTZ"))
    shown = console.export_text()
    assert "允许充装" in shown and "ALLOW" in shown
    assert "禁止充装" in shown and "超期未检（2026-05-01应检）" in shown
    assert "离线" in shown


class FakeDevice:
    """A TCP stand-in for a serial device (pyserial's socket:// URL): answers each line."""

    def __init__(self, answer: Callable[[bytes], bytes], greeting: bytes = b"") -> None:
        self.lines: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.answer, self.greeting = answer, greeting
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                # pyserial's socket:// discards what arrived before open() finished, so a
                # streaming device (a scale) repeats itself, as real ones do.
                while self.greeting:
                    try:
                        conn.sendall(self.greeting)
                    except OSError:
                        break
                    time.sleep(0.2)
                for line in conn.makefile("rb"):
                    self.lines.append(line.strip())
                    conn.sendall(self.answer(line.strip()))


def test_a_serial_relay_that_acknowledges_is_driven() -> None:
    relay = FakeDevice(lambda line: b"OK\r\n")
    out = SerialInterlock(f"socket://127.0.0.1:{relay.port}", timeout=2.0)
    out.allow("7KQ2MX9D4RTZ")
    out.deny()
    assert relay.lines == [b"ALLOW", b"DENY"]
    relay.sock.close()


def test_a_serial_scale_reports_each_stable_gross_weight() -> None:
    from scanner.sources import read_scale

    scale = FakeDevice(lambda line: b"", greeting=b"US,GS,+0029.10kg\r\nST,GS,+0031.60kg\r\n")
    got: list[Input] = []
    stop = threading.Event()

    def feed(item: Input) -> None:
        got.append(item)
        stop.set()

    worker = threading.Thread(
        target=read_scale, args=(f"socket://127.0.0.1:{scale.port}", 9600, feed, stop), daemon=True
    )
    worker.start()
    worker.join(20)
    stop.set()
    scale.sock.close()
    assert [(i.kind, i.kg) for i in got][:1] == [("weight", 31.6)]


def test_the_station_program_imports_no_web_framework_nor_database_layer() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, scanner.runner, scanner.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'flask', 'apiflask', 'sqlalchemy', 'sqlmodel', 'app', 'psycopg'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
