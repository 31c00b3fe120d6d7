"""What this process knows of the run logs it writes: it wakes waiting readers and serves recent text.

On the local host the worker and the API share one process (in Azure, often one instance), so a user
following a build would otherwise cost a table read and a blob read or two for every append. The log
writer hands each append to `LiveLogs` once storage accepted it at a known offset; `LiveLogs` keeps
the last `keep_bytes` of each log being written here and wakes the readers waiting on it. What a
reader gets from here is therefore byte for byte what the blob holds at those offsets. Readers on
another instance, or further behind than the kept tail, read the blob (`core.run_log.read_log`) and
re-check it every `LOG_RECHECK_SECONDS` (`core.run_service`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LogChunk:
    data: bytes
    next_offset: int
    total_size: int
    complete: str | None  # the `Complete` metadata value once the run finished

    @property
    def finished(self) -> bool:
        """True once the run ended and this chunk reached the end of the log."""
        return self.complete is not None and self.next_offset >= self.total_size


@dataclass
class _Tail:
    start: int  # the blob offset of `data[0]`
    data: bytearray = field(default_factory=bytearray)
    complete: str | None = None

    @property
    def end(self) -> int:
        return self.start + len(self.data)


_REMEMBERED_VERSIONS = 10_000


class LiveLogs:
    """Thread-safe; one per process (`Services.live_logs`)."""

    def __init__(self, *, keep_bytes: int = 512 << 10, keep_logs: int = 32) -> None:
        self._changed = threading.Condition()
        self._versions: dict[str, int] = {}
        self._tails: dict[str, _Tail] = {}  # oldest first
        self._keep_bytes = keep_bytes
        self._keep_logs = keep_logs

    # The writer's side.

    def opened(self, run_id: str, size: int) -> None:
        """The log blob exists and holds `size` bytes; appends from here on are kept."""
        with self._changed:
            self._tails.pop(run_id, None)
            self._tails[run_id] = _Tail(start=size)
            self._forget_old_tails()
            self._bump(run_id)

    def appended(self, run_id: str, offset: int | None, data: bytes) -> None:
        """Storage stored `data` at `offset` (None: it did not say where)."""
        with self._changed:
            tail = self._tails.get(run_id)
            if tail is not None and offset == tail.end:
                tail.data += data
                if len(tail.data) > self._keep_bytes:
                    dropped = len(tail.data) - self._keep_bytes
                    del tail.data[:dropped]
                    tail.start += dropped
            elif tail is not None:
                # Another writer appended too, or the offset is unknown: only the blob knows the text now.
                del self._tails[run_id]
            self._bump(run_id)

    def lost(self, run_id: str) -> None:
        """A storage call of this log failed or its outcome is unknown: readers go to the blob."""
        with self._changed:
            self._tails.pop(run_id, None)
            self._bump(run_id)

    def completed(self, run_id: str, completion: str) -> None:
        """The blob is marked `Complete=<completion>`."""
        with self._changed:
            tail = self._tails.get(run_id)
            if tail is not None:
                tail.complete = completion
            self._bump(run_id)

    # The readers' side.

    def holds(self, run_id: str) -> bool:
        """True while this process writes (or recently wrote) the run's log: the run exists."""
        with self._changed:
            return run_id in self._tails

    def read(self, run_id: str, offset: int, max_bytes: int) -> LogChunk | None:
        """The log from `offset`, if the kept tail covers it; else None (read the blob)."""
        with self._changed:
            tail = self._tails.get(run_id)
            if tail is None or not tail.start <= offset <= tail.end:
                return None
            begin = offset - tail.start
            data = bytes(tail.data[begin : begin + max_bytes])
            return LogChunk(data=data, next_offset=offset + len(data), total_size=tail.end, complete=tail.complete)

    def version(self, run_id: str) -> int:
        with self._changed:
            return self._versions.get(run_id, 0)

    def wait(self, run_id: str, seen: int, timeout: float) -> None:
        """Return once the log changed after version `seen`, or after `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._versions.get(run_id, 0) != seen, timeout)

    def _bump(self, run_id: str) -> None:
        self._versions[run_id] = self._versions.pop(run_id, 0) + 1  # re-inserted: newest last
        if len(self._versions) > _REMEMBERED_VERSIONS:
            del self._versions[next(iter(self._versions))]  # a waiter on it just re-reads the blob
        self._changed.notify_all()

    def _forget_old_tails(self) -> None:
        """Keep at most `keep_logs` tails, dropping finished logs first, then the oldest."""
        while len(self._tails) > self._keep_logs:
            finished = next((run for run, tail in self._tails.items() if tail.complete is not None), None)
            del self._tails[finished if finished is not None else next(iter(self._tails))]
