"""The interlock output: the filling scale is enabled only after an ALLOW.

In the manner of GB/T 38059-2019 (气瓶充装信息追溯 / filling interlock), the station
drives an output that enables the scale's filling valve. It is locked at start, after
every fill, on every BLOCK, on a timeout and on any error: deny is the default, and an
output that cannot be driven is a BLOCK the operator sees.

Outputs (``--interlock``):
- ``none`` — no hardware: the decision is only displayed;
- ``cmd:ALLOW_CMD;;DENY_CMD`` — run a command (e.g. a GPIO or Modbus tool); a non-zero
  exit or a timeout is an error; ``$CYLINDER_CODE`` is set for the allow command;
- ``serial:PORT[:BAUD]`` — write ``ALLOW\\r\\n`` / ``DENY\\r\\n`` to a relay board on a
  serial port and expect ``OK`` back.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import Protocol


class InterlockError(Exception):
    """The output could not be driven: the scale must be treated as locked."""


class Interlock(Protocol):
    """Something that enables or disables the filling scale."""

    name: str

    def allow(self, code: str) -> None:
        """Enable the scale for one fill of this cylinder; raise InterlockError on failure."""

    def deny(self) -> None:
        """Lock the scale; raise InterlockError on failure."""


class NoInterlock:
    """No output: the decision is only shown (a station without interlock hardware)."""

    name = "none"

    def allow(self, code: str) -> None:
        """Nothing to drive."""

    def deny(self) -> None:
        """Nothing to drive."""


class CommandInterlock:
    """Runs one command to enable and another to lock."""

    def __init__(self, allow_cmd: str, deny_cmd: str, timeout: float = 3.0) -> None:
        self.name = "cmd"
        self.allow_cmd, self.deny_cmd, self.timeout = allow_cmd, deny_cmd, timeout

    def _run(self, command: str, env: dict[str, str]) -> None:
        try:
            done = subprocess.run(
                shlex.split(command), env={**os.environ, **env}, timeout=self.timeout,
                capture_output=True, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            raise InterlockError(f"{command!r}: {exc}") from exc
        if done.returncode != 0:
            raise InterlockError(f"{command!r} exited {done.returncode}")

    def allow(self, code: str) -> None:
        """Run the allow command with ``CYLINDER_CODE`` set."""
        self._run(self.allow_cmd, {"CYLINDER_CODE": code})

    def deny(self) -> None:
        """Run the deny command."""
        self._run(self.deny_cmd, {})


class SerialInterlock:
    """A relay board on a serial port: ``ALLOW``/``DENY`` lines, each acknowledged ``OK``."""

    def __init__(self, port: str, baud: int = 9600, timeout: float = 1.0) -> None:
        self.name = "serial"
        self.port, self.baud, self.timeout = port, baud, timeout

    def _send(self, line: bytes) -> None:
        import serial  # type: ignore[import-untyped]

        try:
            with serial.serial_for_url(self.port, self.baud, timeout=self.timeout) as port:
                port.write(line + b"\r\n")
                answer = port.readline().strip()
        except (OSError, ValueError, serial.SerialException) as exc:
            raise InterlockError(f"{self.port}: {exc}") from exc
        if answer != b"OK":
            raise InterlockError(f"{self.port}: relay answered {answer[:20]!r}, not OK")

    def allow(self, code: str) -> None:
        """Close the relay."""
        self._send(b"ALLOW")

    def deny(self) -> None:
        """Open the relay."""
        self._send(b"DENY")


def make_interlock(spec: str) -> Interlock:
    """An interlock from its ``--interlock`` spec."""
    if spec == "none":
        return NoInterlock()
    if spec.startswith("cmd:"):
        allow_cmd, sep, deny_cmd = spec[4:].partition(";;")
        if not allow_cmd.strip() or not sep or not deny_cmd.strip():
            raise ValueError("--interlock cmd:ALLOW_CMD;;DENY_CMD")
        return CommandInterlock(allow_cmd, deny_cmd)
    if spec.startswith("serial:"):
        port, baud = split_port(spec[7:])
        return SerialInterlock(port, baud)
    raise ValueError(f"unknown interlock {spec!r}: none | cmd:… | serial:PORT[:BAUD]")


def split_port(text: str, default_baud: int = 9600) -> tuple[str, int]:
    """``PORT[:BAUD]`` (a port may itself hold colons, as pyserial URLs do)."""
    head, _, tail = text.rpartition(":")
    if head and tail.isdigit():
        return head, int(tail)
    return text, default_baud
