"""A real server process for crash tests: gunicorn on a free 127.0.0.1 port, killed with -9."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (free now: for an address nothing should listen on)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def listening_socket(port: int = 0) -> socket.socket:
    """A socket listening on 127.0.0.1 (on a port the kernel picks, by default), to hand to
    gunicorn as ``fd://N``: the port is never free between choosing it and serving on it,
    where another process could take it."""
    deadline = time.monotonic() + 30
    while True:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart, as gunicorn does
        try:
            sock.bind(("127.0.0.1", port))
            break
        except OSError as exc:
            sock.close()
            # A killed server's workers may hold the port a moment longer than its master:
            # tried again, as gunicorn does when it binds a port itself.
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def server_env(db_url: str, tmp: Path) -> dict[str, str]:
    """The environment of every process of one test ledger."""
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "LEDGER_INSTANCE": str(tmp / "instance"),
        "LEDGER_KEYS_DIR": str(tmp / "keys"),
        "PUBLIC_BASE_URL": "https://ledger.test",
        "LEDGER_ORIGIN": "ledger.test/log",
        "INTEGRATE_AFTER_WRITE": "0",  # integration is crashed separately
        "RATELIMIT_ENABLED": "0",
        "SECRET_KEY": "crash-test",
        "IDEMPOTENCY_CLAIM_SECONDS": "2",  # a claim left by a killed worker frees quickly
    }


def seed(env: dict[str, str]) -> dict[str, Any]:
    """Seed the small demo with the CLI; demo.json."""
    flask(env, "demo", "seed", "--small")
    doc: dict[str, Any] = json.loads((Path(env["LEDGER_INSTANCE"]) / "demo.json").read_text())
    return doc


def flask(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``flask --app wsgi …`` to completion (bounded)."""
    return subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


class Server:
    """gunicorn in its own process group, so kill -9 takes its workers down with it."""

    def __init__(
        self,
        env: dict[str, str],
        tmp: Path,
        app: str = "wsgi:app",
        preexec: Callable[[], None] | None = None,  # run in the child: e.g. resource limits
        config: Path | None = None,  # the deploy settings' hooks too (the options below win)
    ) -> None:
        self.env, self.app, self.preexec = env, app, preexec
        self.listener: socket.socket | None = listening_socket()  # until gunicorn has it
        self.port: int = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        if config is None:
            config = tmp / "gunicorn-empty.conf.py"  # not the deploy settings in the cwd
            config.write_text("")
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start and wait until it answers (30 s at most). The first start serves on the
        socket made with the server; a restart after a kill binds the port again."""
        listener, self.listener = self.listener or listening_socket(self.port), None
        with listener:  # gunicorn's copy stays open: the port is its own from here
            fd = listener.fileno()
            self.proc = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", str(self.config), "-b", f"fd://{fd}",
                 "-w", "2", "-k", "gthread", "--threads", "4", "--timeout", "30", self.app],
                cwd=ROOT, env=self.env, start_new_session=True, preexec_fn=self.preexec,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(fd,),
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v1/ledger/key", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError("the server did not start")

    def kill(self) -> None:
        """kill -9 the server's process group (only the processes this test started)."""
        if self.listener is not None:  # never started
            self.listener.close()
            self.listener = None
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
