"""Step output in the run log: whole lines, prefixed with `[step-id] ` when steps run in parallel.

When two steps of a plan can run at the same time (no path between them in the `when` DAG), their
output would interleave in the one run log, so each line gets its step's id and lines are written
whole. A plan whose steps form a single chain keeps ACR's unprefixed output, written as it comes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from graphlib import TopologicalSorter
from typing import Protocol


class _Step(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def depends_on(self) -> tuple[str, ...]: ...


class _Log(Protocol):
    def write(self, data: bytes | str) -> None: ...


def has_parallel_steps(steps: Iterable[_Step]) -> bool:
    """Whether two steps have no path between them, so that both may run at once.

    Example: `a`, `b` (after `a`), `c` (after `a`) → True; `a`, `b` (after `a`) → False.
    """
    parents = {step.id: step.depends_on for step in steps}
    ancestors: dict[str, set[str]] = {}
    for step_id in TopologicalSorter(parents).static_order():
        ancestors[step_id] = set()
        for parent in parents.get(step_id, ()):
            ancestors[step_id] |= {parent} | ancestors[parent]
    ids = list(parents)
    return any(
        first not in ancestors[second] and second not in ancestors[first]
        for index, first in enumerate(ids)
        for second in ids[index + 1 :]
    )


class StepOutput:
    """One step's output stream into the run log."""

    def __init__(self, log: _Log, prefix: str | None, *, max_pending: int = 16 << 10) -> None:
        self._log = log
        self._prefix = prefix
        self._max_pending = max_pending
        self._pending = ""
        self._open_line = False  # unprefixed output ended without a newline
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        if not text:
            return
        if self._prefix is None:
            self._log.write(text)
            self._open_line = not text.endswith("\n")
            return
        with self._lock:
            data = self._pending + text
            complete, newline, rest = data.rpartition("\n")
            if len(rest) > self._max_pending:  # a very long line without newline: do not hold it forever
                complete, newline, rest = data, "\n", ""
            self._pending = rest
            if newline:
                self._log.write("".join(f"{self._prefix}{line}\n" for line in complete.split("\n")))

    def flush(self) -> None:
        """End an unfinished last line, so the next log line starts on a line of its own."""
        with self._lock:
            pending, self._pending = self._pending, ""
            open_line, self._open_line = self._open_line, False
        if pending and self._prefix is not None:
            self._log.write(f"{self._prefix}{pending}\n")
        elif open_line:
            self._log.write("\n")
