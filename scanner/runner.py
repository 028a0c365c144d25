"""``python -m scanner run``: wire the sources, the station, the uplink and the display."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import queue
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from scanner.cache import StationCache
from scanner.client import LedgerClient
from scanner.device import load_or_create
from scanner.display import Display, JsonDisplay, RichDisplay, tell
from scanner.interlock import make_interlock, split_port
from scanner.sources import Input, open_camera, read_camera, read_lines, read_scale, watch_dir
from scanner.station import Station
from scanner.uplink import Uplink


def utc_now() -> dt.datetime:
    """The wall clock, in UTC."""
    return dt.datetime.now(dt.UTC)


def source_targets(
    specs: list[str], feed: Callable[[Input], None], stop: threading.Event, once: bool
) -> list[Callable[[], None]]:
    """A thread target per ``--source`` spec."""
    targets: list[Callable[[], None]] = []
    for spec in specs:
        if spec == "stdin":
            targets.append(lambda: read_lines(sys.stdin, feed))
        elif spec.startswith("camera:"):
            cam = spec[7:]
            targets.append(
                lambda cam=cam: read_camera(lambda: open_camera(cam), feed, stop, once=once)  # type: ignore[misc]
            )
        elif spec.startswith("dir:"):
            folder = Path(spec[4:])
            targets.append(lambda folder=folder: watch_dir(folder, feed, stop, once=once))  # type: ignore[misc]
        else:
            raise ValueError(f"unknown source {spec!r}: camera:N | dir:PATH | stdin")
    return targets


def build(args: argparse.Namespace, display: Display) -> Station:
    """A station from the command-line arguments."""
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    cache = StationCache(data / "station.sqlite3")
    key = load_or_create(data / "device.key")
    client = LedgerClient(args.server, args.token, timeout=args.timeout)
    uplink = Uplink(client, cache, key, args.station, display, utc_now)
    return Station(
        args.station, client, cache, uplink, make_interlock(args.interlock), display, utc_now,
        max_offline_age=dt.timedelta(hours=args.max_offline_hours),
    )  # fmt: skip


SHUTDOWN_LOCK_FAILED = (
    "退出时锁定充装秤出错，请确认充装秤已锁定",
    "locking the scale at exit failed: check that the scale is locked",
)
UPLINK_ROUND_FAILED = (
    "上传出错，记录保留在本机，稍后自动重试；如反复出现请联系维护人员",
    "an upload round failed; records are kept and retried (tell maintenance if it repeats)",
)


def uplink_loop(station: Station, stop: threading.Event, period: float) -> None:
    """Flush and sync every few seconds while offline, every ``period`` while online.

    A failure that ``Uplink.tick`` does not expect is shown (with its kind and message) and
    the next round tried, and so is a display that fails (the terminal gone): the loop ends
    only when told to, so the queued records are never left unsent until a restart because
    of one bad round."""
    while not stop.wait(period if station.uplink.online else min(period, 5.0)):
        was_online = station.uplink.online
        answered = uplink_round(station)
        if answered and not was_online:
            tell(station.display, "已恢复连接，离线记录已上传", "back online: queue sent")


def uplink_round(station: Station) -> bool:
    """One round of the uplink (``Uplink.tick``); a failure it does not expect is shown (on
    stderr if the display fails too) and counts as a round the server did not answer."""
    try:
        return station.uplink.tick()
    except Exception as exc:  # the uplink must outlive any one round
        zh, en = UPLINK_ROUND_FAILED
        tell(station.display, zh, f"{en}: {type(exc).__name__}: {exc}", alert=True)
        return False


def shut_down(station: Station) -> None:
    """Lock the scale, make a last attempt to send what is queued, close the connection:
    a display failing on the way (the terminal closed, the usual reason to stop) is told
    on stderr, and neither stops the last round nor turns the exit into a traceback."""
    try:
        station.lock()
    except Exception as exc:  # the scale's own alert is told by lock(); anything else here
        zh, en = SHUTDOWN_LOCK_FAILED
        tell(station.display, zh, f"{en}: {type(exc).__name__}: {exc}", alert=True)
    uplink_round(station)
    station.client.close()


def run_station(args: argparse.Namespace) -> int:
    """Run until interrupted (or, with ``--once``, until the sources are exhausted)."""
    display: Display = JsonDisplay() if args.json else RichDisplay()
    try:
        station = build(args, display)
    except (ValueError, OSError, sqlite3.Error) as exc:  # sqlite3: the cache is no database
        print(f"启动失败 cannot start: {exc}", file=sys.stderr)
        return 2
    if isinstance(sys.stdin, io.TextIOWrapper):  # a wedge on the wrong keyboard layout types
        sys.stdin.reconfigure(errors="replace")  # bytes that are not UTF-8: keep reading
    inputs: queue.Queue[Input] = queue.Queue()
    stop = threading.Event()
    specs = args.source or ["stdin"]
    targets = source_targets(specs, inputs.put, stop, args.once)
    if args.scale == "typed" and "stdin" not in specs:
        targets.append(lambda: read_lines(sys.stdin, inputs.put, "keyboard"))
    if args.scale.startswith("serial:"):
        port, baud = split_port(args.scale[7:])
        targets.append(lambda: read_scale(port, baud, inputs.put, stop))
    station.start()
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    threads.append(
        threading.Thread(target=uplink_loop, args=(station, stop, args.sync_seconds), daemon=True)
    )
    for t in threads:
        t.start()
    running, failed = len(specs), False
    try:
        while running:
            try:
                item = inputs.get(timeout=1.0)
            except queue.Empty:
                station.expire()
                continue
            if item.kind == "end":
                running -= item.source != "keyboard"  # typed weights alone keep nothing alive
                continue
            failed = failed or item.kind == "error"  # a folder or camera that failed
            station.handle(item)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        shut_down(station)
    return 1 if args.once and failed else 0  # --once: a batch not read whole is a failure
