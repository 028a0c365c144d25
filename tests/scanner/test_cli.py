"""``python -m scanner decode`` and ``run`` as outside programs use them (DESIGN §8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2

from scanner.synth import photograph, render_label, sheet
from tests.conftest import bearer
from tests.scanner.conftest import LiveServer, register_cylinder

ROOT = Path(__file__).resolve().parents[2]


def scanner(*args: str, stdin: str = "", timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args], input=stdin, capture_output=True, text=True,
        timeout=timeout, cwd=ROOT, check=False,
    )  # fmt: skip


def test_decode_json_prints_one_line_per_file_and_exits_1_when_one_fails(tmp_path: Path) -> None:
    url = "https://ledger.test/c/7KQ2MX9D4RTZ?s=abc"
    one = tmp_path / "one.png"
    cv2.imwrite(str(one), photograph(render_label(url, "7KQ2MX9D4RTZ"), ["blur"], 0.3, seed=1))
    texts = [f"https://ledger.test/c/SHEET{i}?s=x" for i in range(6)]
    many = tmp_path / "sheet.jpg"
    cv2.imwrite(str(many), sheet(texts))
    none = tmp_path / "none.png"
    cv2.imwrite(str(none), photograph(render_label(url, "X"), [], 0.0, seed=1)[:50, :50] * 0)
    done = scanner("decode", "--json", str(one), str(many), str(none))
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [set(line) for line in lines] == [{"path", "text", "texts", "decoder", "ms"}] * 3
    assert lines[0]["path"] == str(one) and lines[0]["text"] == url and lines[0]["texts"] == [url]
    assert sorted(lines[1]["texts"]) == sorted(texts) and lines[1]["text"] == lines[1]["texts"][0]
    assert lines[2]["text"] is None and lines[2]["texts"] == [] and lines[2]["decoder"] is None
    assert all(isinstance(line["ms"], float | int) for line in lines)
    assert scanner("decode", "--json", str(one)).returncode == 0


def test_run_with_a_keyboard_wedge_prints_a_json_line_per_scan_and_records_the_fill(
    live: LiveServer, client: Any, demo: dict[str, Any], tmp_path: Path
) -> None:
    owner = demo["tokens"]["enterprise_a"]
    cyl = register_cylinder(client, owner)
    typed = f"{cyl['qr']}\n31.8\nWIFI:S:cafe;;\n"  # scan, gross weight, garbage
    done = scanner(
        "run", "--server", live.url, f"--token={demo['tokens']['station_a']}", "--interlock=none",
        "--station", str(demo["stations"]["a"]), "--source", "stdin", "--json",
        "--data-dir", str(tmp_path / "station"), "--timeout", "30", stdin=typed,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(x["scan"], x["allowed"], x["offline"]) for x in lines] == [
        (cyl["qr"], True, False), ("WIFI:S:cafe;;", False, False),
    ]  # fmt: skip
    assert lines[1]["reasons"][0]["code"] == "SCAN_INVALID"
    events = client.get(f"/api/v1/cylinders/{cyl['code']}/events", headers=bearer(owner))
    filled = [e for e in events.get_json()["events"] if e["type"] == "filled"]
    assert len(filled) == 1 and filled[0]["payload"]["gross_kg"] == 31.8
    queue = scanner("queue", "--json", "--data-dir", str(tmp_path / "station"))
    assert queue.returncode == 0
    assert json.loads(queue.stdout.splitlines()[0]) == {
        "pending": 0, "sent": 1, "conflict": 0, "rejected": 0, "unrecordable": 0,
    }  # fmt: skip
    assert scanner("queue", "--data-dir", str(tmp_path / "nowhere")).returncode == 1


def test_run_watching_a_directory_decides_on_each_image(
    live: LiveServer, client: Any, demo: dict[str, Any], tmp_path: Path
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    label = photograph(render_label(cyl["qr"], cyl["code"]), ["perspective"], 0.4, seed=3)
    cv2.imwrite(str(inbox / "a.jpg"), label)
    cv2.imwrite(str(inbox / "b.png"), label[:40, :40] * 0 + 200)  # nothing to read
    done = scanner(
        "run", "--server", live.url, f"--token={demo['tokens']['station_a']}", "--interlock=none",
        "--station", str(demo["stations"]["a"]), "--source", f"dir:{inbox}", "--once",
        "--scale", "none", "--json", "--data-dir", str(tmp_path / "station"), "--timeout", "30",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (line,) = [json.loads(x) for x in done.stdout.splitlines()]
    assert line["allowed"] is True and line["code"] == cyl["code"]
    assert "无法识别二维码" in done.stderr  # b.png: the operator is told


def test_run_with_a_camera_video_file(
    live: LiveServer, client: Any, demo: dict[str, Any], tmp_path: Path
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_b"])  # not station A's
    video = tmp_path / "cam.avi"
    label = photograph(render_label(cyl["qr"], cyl["code"]), ["motion"], 0.2, seed=4)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1280, 720))
    assert writer.isOpened()
    for _ in range(5):
        writer.write(cv2.cvtColor(label, cv2.COLOR_GRAY2BGR))
    writer.release()
    done = scanner(
        "run", "--server", live.url, f"--token={demo['tokens']['station_a']}", "--interlock=none",
        "--station", str(demo["stations"]["a"]), "--source", f"camera:{video}", "--once",
        "--scale", "none", "--json", "--data-dir", str(tmp_path / "station"), "--timeout", "30",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (line,) = [json.loads(x) for x in done.stdout.splitlines()]  # reported once, not per frame
    assert line["allowed"] is False and line["source"] == "camera"
    assert "NOT_OWNED" in [r["code"] for r in line["reasons"]]


def test_run_survives_bytes_that_are_not_utf8_from_the_wedge(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scanner", "run", "--server", "http://127.0.0.1:9",
         "--token", "t", "--station", "1", "--interlock=none", "--json", "--timeout", "0.5",
         "--data-dir", str(tmp_path / "station")],
        input=b"\xff\xfe\x00garbage\n7KQ2MX9D4RTZ\n", capture_output=True, timeout=60, cwd=ROOT,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    lines = [json.loads(x) for x in done.stdout.decode().splitlines()]
    assert [x["allowed"] for x in lines] == [False, False]
    assert lines[0]["reasons"][0]["code"] == "SCAN_INVALID"
    assert lines[1]["reasons"][0]["code"] == "OFFLINE_NO_CACHE"  # nothing answers on port 9


def test_run_without_an_interlock_runs_display_only_and_says_so(tmp_path: Path) -> None:
    # DESIGN §8's form, without --interlock: the station runs, and warns that it does not
    # drive the scale; with --interlock none said explicitly, no warning.
    base = ["run", "--server", "http://127.0.0.1:9", "--token", "t", "--station", "1",
            "--json", "--timeout", "0.5", "--data-dir", str(tmp_path / "station")]  # fmt: skip
    done = scanner(*base, stdin="7KQ2MX9D4RTZ\n")
    assert done.returncode == 0, done.stderr
    assert "未指定联锁输出" in done.stderr and "does not drive the filling scale" in done.stderr
    (line,) = [json.loads(x) for x in done.stdout.splitlines()]
    assert line["allowed"] is False  # nothing answers on port 9, no cache: blocked
    quiet = scanner(*base, "--interlock=none", stdin="7KQ2MX9D4RTZ\n")
    assert quiet.returncode == 0 and "未指定联锁输出" not in quiet.stderr


def test_run_refuses_options_it_could_not_work_with_in_one_line(tmp_path: Path) -> None:
    base = ["run", "--server", "http://127.0.0.1:1", "--token", "x", "--station", "1",
            "--once", "--interlock", "none", "--data-dir", str(tmp_path / "data")]  # fmt: skip
    for option, value, says in [
        ("--source", "bogus", "须为 camera:N | dir:PATH | stdin"),
        ("--scale", "/dev/ttyUSB0", "须为 typed | serial:PORT[:BAUD] | none"),
        ("--timeout", "-1", "must be a number from 0.1 to 300"),
        ("--max-offline-hours", "1e308", "must be a number from 0 to 8784"),
        ("--server", "http://127.0.0.1:50OO", "must be an http:// or https:// URL"),
    ]:
        done = scanner(*base, option, value, timeout=60)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert f"argument {option}: " in done.stderr and says in done.stderr
    assert not (tmp_path / "data").exists()  # nothing started


def test_a_station_database_that_is_no_database_and_a_missing_image_are_said_as_such(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "station.sqlite3").write_bytes(b"not a database " * 400)
    done = scanner("queue", "--data-dir", str(data), timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "本站数据无法读取 cannot read the station data" in done.stderr
    run = ["run", "--server", "http://127.0.0.1:1", "--token", "x", "--station", "1", "--once",
           "--interlock", "none", "--data-dir", str(data)]  # fmt: skip
    done = scanner(*run, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "启动失败 cannot start: file is not a database" in done.stderr
    missing, text = tmp_path / "no-such.png", tmp_path / "notes.png"
    text.write_text("not an image")
    done = scanner("decode", str(missing), str(text), timeout=60)
    assert done.returncode == 1 and f"{missing}\t没有此文件 no such file" in done.stderr
    assert f"{text}\t不是可读的图片 not a readable image" in done.stderr
    assert "no QR code found" not in done.stdout


def test_run_once_over_a_folder_it_cannot_read_exits_1(tmp_path: Path) -> None:
    source = f"dir:{tmp_path / 'no-such-folder'}"
    done = scanner("run", "--server", "http://127.0.0.1:1", "--token", "x", "--station", "1",
                   "--once", "--interlock", "none", "--data-dir", str(tmp_path / "data"),
                   "--json", "--source", source, timeout=60)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "目录无法读取 folder unreadable" in done.stdout + done.stderr
