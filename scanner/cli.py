"""``python -m scanner``: ``decode`` images, or ``run`` a filling station (DESIGN §8)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence

from ledger.addresses import server_url
from scanner.decode import decode_file, read_image

NO_INTERLOCK = (
    "注意：未指定联锁输出，本程序只显示判定，不控制充装秤！\n"
    "  接入充装秤：--interlock 'cmd:放行命令;;锁定命令' 或 --interlock serial:端口[:波特率]\n"
    "WARNING: no interlock given: this station only displays decisions, it does not drive"
    " the filling scale.\n"
    "  To enable the scale on ALLOW only: --interlock 'cmd:ALLOW_CMD;;DENY_CMD' or"
    " --interlock serial:PORT[:BAUD]; --interlock none silences this warning."
)


def _decode(args: argparse.Namespace) -> int:
    ok = True
    for path in args.files:
        missing = not os.path.isfile(path)  # not the label's fault: said as such
        if missing:
            print(f"{path}\t没有此文件 no such file", file=sys.stderr, flush=True)
        result = decode_file(path)  # finds nothing in a missing file (its JSON line, as ever)
        ok = ok and bool(result.texts)
        if args.json:
            print(json.dumps(result.to_dict(path), ensure_ascii=False), flush=True)
        elif result.texts:
            for text in result.texts:
                print(f"{path}\t{text}\t({result.decoder}, {result.ms:.1f} ms)", flush=True)
        elif missing:
            pass  # said above
        elif _not_an_image(path):
            print(f"{path}\t不是可读的图片 not a readable image", file=sys.stderr, flush=True)
        else:
            print(f"{path}\t未识别到二维码 no QR code found\t({result.ms:.1f} ms)", flush=True)
    return 0 if ok else 1


def _not_an_image(path: str) -> bool:
    """Whether a file that gave no code is no image at all (read again: failures only)."""
    try:
        return read_image(path) is None
    except OSError:
        return True


def _queue(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scanner.cache import StationCache

    path = Path(args.data_dir) / "station.sqlite3"
    if not path.exists():
        print(f"没有本站数据 no station data at {path}", file=sys.stderr)
        return 1
    try:
        items = StationCache(path).all()
    except sqlite3.Error as exc:  # not a database, a folder, a file it may not open
        print(f"本站数据无法读取 cannot read the station data at {path}: {exc}", file=sys.stderr)
        return 1
    counts = {
        s: sum(1 for i in items if i.status == s)
        for s in ("pending", "sent", "conflict", "rejected", "unrecordable")
    }
    print(json.dumps(counts) if args.json else "  ".join(f"{k} {v}" for k, v in counts.items()))
    for item in items:
        if item.status in ("pending", "conflict", "rejected", "unrecordable"):
            line = {
                "seq": item.seq,
                "status": item.status,
                "kind": item.kind,
                "code": item.code,
                "type": item.body.get("type"),
                "attempts": item.attempts,
                "answer": item.answer,
            }
            print(json.dumps(line, ensure_ascii=False))
    return 0


def _run(args: argparse.Namespace) -> int:
    from scanner.runner import run_station

    if not args.token:
        print("缺少令牌 / missing token: --token=TOKEN or LEDGER_TOKEN", file=sys.stderr)
        return 2
    if args.interlock is None:  # DESIGN §8's form: display only, said loudly at every start
        print(NO_INTERLOCK, file=sys.stderr)
        args.interlock = "none"
    return run_station(args)


def _source(value: str) -> str:
    kind, _sep, where = value.partition(":")
    if value == "stdin" or (kind in ("camera", "dir") and where):
        return value
    raise argparse.ArgumentTypeError(f"须为 camera:N | dir:PATH | stdin, 而非 / got {value!r}")


def _scale(value: str) -> str:
    if value in ("typed", "none") or (value.startswith("serial:") and len(value) > 7):
        return value
    raise argparse.ArgumentTypeError(
        f"须为 typed | serial:PORT[:BAUD] | none, 而非 / got {value!r}"
    )


def _between(low: float, high: float) -> Callable[[str], float]:
    def number(value: str) -> float:
        try:
            got = float(value)
        except ValueError:
            got = math.nan
        if not (math.isfinite(got) and low <= got <= high):
            raise argparse.ArgumentTypeError(
                f"须为 {low:g} 到 {high:g} 之间的数 / must be a number from {low:g} to {high:g}"
            )
        return got

    return number


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m scanner", description="一瓶一码 充装站扫码程序")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("decode", help="decode QR codes in image files")
    d.add_argument("--json", action="store_true", help="one JSON line per file")
    d.add_argument("files", nargs="+", metavar="FILE")
    d.set_defaults(func=_decode)
    q = sub.add_parser("queue", help="what the station has not sent, or the server refused")
    q.add_argument("--data-dir", default="station-data")
    q.add_argument("--json", action="store_true", help="counts as JSON")
    q.set_defaults(func=_queue)
    r = sub.add_parser("run", help="run a filling station")
    r.add_argument(
        "--server", required=True, type=server_url, help="ledger URL, e.g. http://127.0.0.1:5000"
    )
    r.add_argument(
        "--token",
        default=os.environ.get("LEDGER_TOKEN"),
        help="the station's bearer token (default: $LEDGER_TOKEN, kept out of `ps`)",
    )
    r.add_argument("--station", required=True, type=int, help="the station's id")
    r.add_argument(
        "--source",
        action="append",
        type=_source,
        default=None,
        help="camera:N | dir:PATH | stdin (repeatable; default stdin)",
    )
    r.add_argument(
        "--interlock",
        default=None,
        help="cmd:ALLOW_CMD;;DENY_CMD | serial:PORT[:BAUD] | none (display only; the default,"
        " with a warning at start when not said explicitly)",
    )
    r.add_argument(
        "--scale",
        default="typed",
        type=_scale,
        help="typed | serial:PORT[:BAUD] | none (fill weights)",
    )
    r.add_argument("--data-dir", default="station-data", help="device key, cache and queue")
    r.add_argument("--json", action="store_true", help="one JSON line per scan")
    r.add_argument(
        "--sync-seconds", type=_between(1, 86400), default=60.0, help="cache sync period"
    )
    r.add_argument(
        "--timeout", type=_between(0.1, 300), default=3.0, help="HTTP timeout in seconds"
    )
    r.add_argument(
        "--max-offline-hours",
        type=_between(0, 24 * 366),
        default=24.0,
        help="refuse offline decisions when the cache is older than this",
    )
    r.add_argument("--once", action="store_true", help="exit when the sources are exhausted")
    r.set_defaults(func=_run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parser().parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
