"""Start a subprocess and wait for it to say it is ready, with a deadline and its output on failure.

    proc = start_process([sys.executable, "-m", "slipway_host", "serve", "--port", "0"],
                         ready=r"listening on (http://\\S+)", timeout=30)
    base_url = proc.match.group(1)
    ...
    proc.stop()            # SIGTERM, then SIGKILL after `timeout`; returns the exit code

Both stdout and stderr are drained by background threads (so a chatty child never blocks on a full
pipe) and kept for `output()`. Readiness lines are looked for on stdout by default.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar

_TAIL_CHARS = 6000
T = TypeVar("T")


class ProcessStartError(RuntimeError):
    """The process exited or stayed silent before printing the expected line."""


class RunningProcess:
    """A started child process with its captured output."""

    def __init__(self, args: Sequence[str], process: subprocess.Popen[str]) -> None:
        self.args = list(args)
        self.process = process
        self.match: re.Match[str] | None = None
        self._lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._drain, args=(name, stream), daemon=True)
            for name, stream in (("stdout", process.stdout), ("stderr", process.stderr))
            if stream is not None
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _drain(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self._lines[name].append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def lines(self, stream: str = "stdout") -> list[str]:
        with self._changed:
            return list(self._lines[stream])

    def output(self) -> str:
        """Everything captured so far, stdout then stderr."""
        with self._changed:
            stdout = "\n".join(self._lines["stdout"])
            stderr = "\n".join(self._lines["stderr"])
        return f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"

    def wait_for_line(self, pattern: str | re.Pattern[str], timeout: float, stream: str = "stdout") -> re.Match[str]:
        """The first line (already seen or still to come) matching `pattern`; raise on timeout or exit."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        checked = 0
        with self._changed:
            while True:
                lines = self._lines[stream]
                for line in lines[checked:]:
                    found = regex.search(line)
                    if found:
                        return found
                checked = len(lines)
                exited = self.process.poll() is not None and not any(r.is_alive() for r in self._readers)
                remaining = deadline - time.monotonic()
                if exited or remaining <= 0:
                    break
                self._changed.wait(min(remaining, 0.2))
        reason = f"exited with code {self.process.returncode}" if exited else f"no match within {timeout:.0f} s"
        raise ProcessStartError(
            f"{' '.join(self.args)}: {reason} while waiting for {regex.pattern!r} on {stream}\n"
            f"{self.output()[-_TAIL_CHARS:]}"
        )

    def send_signal(self, number: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(number)

    def wait(self, timeout: float) -> int:
        """Wait for exit; return the exit code (raise `subprocess.TimeoutExpired` if still running)."""
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout=2)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None and not any(r.is_alive() for r in self._readers):
                stream.close()
        return code

    def stop(self, timeout: float = 10, sig: int = signal.SIGTERM) -> int:
        """Signal the process, wait up to `timeout`, then kill it; return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.wait(timeout)

    def __enter__(self) -> RunningProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def start_process(
    args: Sequence[str],
    *,
    ready: str | re.Pattern[str],
    timeout: float = 30,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    stream: str = "stdout",
) -> RunningProcess:
    """Start `args` and wait until a line on `stream` matches `ready` (kept as `.match`).

    `env` entries are added to (and override) the current environment. On timeout or early exit the
    process is killed and `ProcessStartError` carries its output.
    """
    environment = {**os.environ, **(env or {})}
    process = subprocess.Popen(
        list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
        env=environment,
        cwd=cwd,
    )
    running = RunningProcess(args, process)
    try:
        running.match = running.wait_for_line(ready, timeout, stream)
    except BaseException:
        running.stop(timeout=5, sig=signal.SIGKILL)
        raise
    return running


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (prefer passing port 0 to the server when it can say which)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], T | None], timeout: float, interval: float = 0.05, message: str = "condition"
) -> T:
    """Poll `condition()` until it returns something truthy and return that; raise TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} not met within {timeout} s (last value: {value!r})")
        time.sleep(interval)
