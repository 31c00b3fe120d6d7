"""Run logs as append blobs, written live and read from an offset, as ACR stores them.

`RunLogWriter` buffers output and appends it every `flush_seconds` from a background thread, so a
user following the log sees lines within a second while a chatty build does not make one storage
call per line. When the run ends, the blob gets metadata `Complete=<status>` (ACR's convention),
which is how readers know the log is finished. Each stored append is also handed to `LiveLogs`, so
readers in this process get it from memory at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from core.errors import StorageError
from core.live_logs import LiveLogs, LogChunk
from core.log_masking import StreamRedactor
from core.ports import BlobStore
from core.runs import RunStatus

logger = logging.getLogger(__name__)

LOGS_CONTAINER = "logs"
_MAX_BLOCK = 4 << 20  # Azure's append-block size limit
_MAX_BLOCKS = 50_000  # Azure's block-count limit per append blob


def log_blob_name(run_id: str) -> str:
    return f"{run_id}/rawtext.log"


def format_log_time(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y/%m/%d %H:%M:%S")


class RunLogWriter:
    """Thread-safe writer for one run's log blob."""

    def __init__(
        self,
        blobs: BlobStore,
        run_id: str,
        *,
        clock: Callable[[], datetime],
        flush_seconds: float = 0.2,
        redactor: StreamRedactor | None = None,
        live: LiveLogs | None = None,
    ) -> None:
        self._blobs = blobs
        self._run_id = run_id
        self._live = live
        self._name = log_blob_name(run_id)
        self._clock = clock
        self._flush_seconds = flush_seconds
        self._redactor = redactor
        self._buffer = bytearray()
        self._lock = threading.Lock()
        # Chunks must reach the redactor and the blob in stream order: one flush at a time.
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._blocks = 0
        self._flusher: threading.Thread | None = None

    def open(self) -> None:
        """Create the blob (or keep an existing one) and start the background flusher."""
        size = self._blobs.open_append_blob(LOGS_CONTAINER, self._name)
        if self._live is not None:
            self._live.opened(self._run_id, size)
        self._flusher = threading.Thread(target=self._flush_loop, name=f"log-{self._name}", daemon=True)
        self._flusher.start()

    def write(self, data: bytes | str) -> None:
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
        with self._lock:
            self._buffer.extend(raw)

    def line(self, message: str) -> None:
        """A timestamped service line, as ACR prints them (`2026/11/26 13:40:00 message`).

        Service lines mark progress (a step started or ended), so they are stored at once rather than at
        the next flush interval; they are few, so this costs few append blocks.
        """
        self.write(f"{format_log_time(self._clock())} {message}\n")
        self._wake.set()

    def _interval(self) -> float:
        # Stay under Azure's 50,000-block limit on very long, chatty runs by flushing less often.
        if self._blocks > _MAX_BLOCKS * 0.9:
            return max(self._flush_seconds, 10.0)
        if self._blocks > _MAX_BLOCKS // 2:
            return max(self._flush_seconds, 2.0)
        return self._flush_seconds

    def _flush_loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self._interval())
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                pending = bytes(self._buffer)
                self._buffer.clear()
            if self._redactor is not None:
                pending = self._redactor.feed(pending)
            self._append(pending)

    def _append(self, pending: bytes) -> None:
        for start in range(0, len(pending), _MAX_BLOCK):
            block = pending[start : start + _MAX_BLOCK]
            try:
                offset = self._blobs.append(LOGS_CONTAINER, self._name, block)
                self._blocks += 1
            except StorageError as error:
                # Logging must not kill the run; the service log says what the stored log misses.
                logger.warning(
                    "run %s: %d bytes of its log were not stored: %s", self._run_id, len(block), error.message
                )
                if self._live is not None:
                    self._live.lost(self._run_id)
                continue
            if self._live is not None:
                self._live.appended(self._run_id, offset, block)

    def close(self, status: RunStatus) -> None:
        """Flush everything and mark the log complete with the run's final status."""
        self._closed.set()
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join(timeout=30)
        self.flush()
        if self._redactor is not None:
            with self._flush_lock:
                self._append(self._redactor.flush())  # the tail held back in case it began a secret
        try:
            self._blobs.set_metadata(LOGS_CONTAINER, self._name, {"Complete": status.log_completion})
        except StorageError:
            if self._live is not None:
                self._live.lost(self._run_id)
            raise
        if self._live is not None:
            self._live.completed(self._run_id, status.log_completion)


def read_log(blobs: BlobStore, run_id: str, *, offset: int, max_bytes: int = 1 << 20) -> LogChunk | None:
    """Log bytes from `offset`; None when the run has no log yet."""
    found = blobs.read_range(LOGS_CONTAINER, log_blob_name(run_id), max(offset, 0), max_bytes)
    if found is None:
        return None
    return LogChunk(
        data=found.data,
        next_offset=max(offset, 0) + len(found.data),
        total_size=found.total_size,
        complete=found.metadata.get("Complete") or found.metadata.get("complete"),
    )


def trim_to_utf8_boundary(data: bytes) -> bytes:
    """Drop a UTF-8 sequence cut off at the end, so a reader resumes at a character boundary."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return data  # ASCII: nothing is cut
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= needed else data[:-back]
    return data
