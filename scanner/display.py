"""What the operator sees: ALLOW / BLOCK big and unmistakable, in Chinese first.

With ``--json`` the console shows nothing and stdout carries one JSON line per scan
(``scan``, ``allowed``, ``reasons``, ``offline``, and more) for integration; messages
then go to stderr as plain text.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Protocol

from rich.align import Align
from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from scanner.banner import CHINESE, LATIN
from scanner.outcome import Outcome


class Display(Protocol):
    """Where decisions and messages go."""

    def decision(self, outcome: Outcome) -> None:
        """Show one scan's decision."""

    def message(self, zh: str, en: str, *, alert: bool = False) -> None:
        """Show a status line (an alert beeps)."""


class RichDisplay:
    """A full-width coloured panel per decision, with the reasons, and a beep."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)

    def decision(self, outcome: Outcome) -> None:
        """Green 允许充装 or red 禁止充装 in block letters, reasons listed, one beep or three."""
        if outcome.allowed:
            title, style, beeps = "✔  允许充装   ALLOW  ✔", "bold white on green", 1
        else:
            title, style, beeps = "✘  禁止充装   BLOCK  ✘", "bold white on red", 3
        lines: list[Text | Align] = [Text(title, style=style, justify="center")]
        for banner, width in ((CHINESE, 92), (LATIN, 52)):  # as far as the screen is wide
            if self.console.width >= width:
                big = Text("\n".join(banner[outcome.allowed]), style=style, no_wrap=True)
                lines.append(Align.center(big))
        if outcome.code:
            lines.append(Text(f"气瓶码 {outcome.code}", style="bold", justify="center"))
        for r in outcome.reasons:
            lines.append(Text(f"• {r['message_zh']}", style="bold"))
            lines.append(Text(f"  {r['message_en']}", style="dim"))
        for w in outcome.warnings:
            lines.append(Text(f"⚠ {w['message_zh']} / {w['message_en']}", style="yellow"))
        if outcome.offline and outcome.queued:
            lines.append(Text("离线判定（服务器无法连接，记录已排队）offline decision, queued"))
        elif outcome.offline:
            lines.append(Text("离线判定（服务器无法连接）offline decision"))
        if outcome.allowed:
            lines.append(Text("充装后请录入毛重（kg）并回车 / type the gross weight after filling"))
        panel = Panel(
            Align.center(Group(*lines)), style=style, padding=(2, 4), expand=True,
            subtitle="OFFLINE 离线" if outcome.offline else None,
        )  # fmt: skip
        self.console.print(panel)
        for _ in range(beeps):
            self.console.bell()

    def message(self, zh: str, en: str, *, alert: bool = False) -> None:
        """A status line; alerts in red with a beep."""
        self.console.print(Text(f"{zh}  {en}", style="bold red" if alert else "cyan"))
        if alert:
            self.console.bell()


class JsonDisplay:
    """One JSON line per scan on stdout; messages as plain text on stderr."""

    def decision(self, outcome: Outcome) -> None:
        """Print the scan's JSON line."""
        print(json.dumps(outcome.to_json(), ensure_ascii=False), flush=True)

    def message(self, zh: str, en: str, *, alert: bool = False) -> None:
        """Print a status line to stderr."""
        print(f"{'!' if alert else '-'} {zh} {en}", file=sys.stderr, flush=True)


def reasons_text(reasons: list[dict[str, Any]]) -> str:
    """Reasons as one Chinese line."""
    return "；".join(str(r.get("message_zh", r.get("code", ""))) for r in reasons)


def tell(display: Display, zh: str, en: str, *, alert: bool = False) -> None:
    """Show a message; if the display fails, one line on stderr instead (if that fails too,
    nothing): a message the operator cannot see never stops the uplink."""
    try:
        display.message(zh, en, alert=alert)
    except Exception as exc:
        with contextlib.suppress(Exception):
            failed = f"显示失败 display failed: {type(exc).__name__}: {exc}"
            print(f"{'!' if alert else '-'} {zh} {en} [{failed}]", file=sys.stderr, flush=True)
