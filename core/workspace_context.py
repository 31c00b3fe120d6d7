"""Build contexts read from the `/workspace` volume, as `docker build <folder>` would send them.

The engine hands a folder out as a tar stream whose entries start with `./`. The classic docker CLI
applies the folder's `.dockerignore` before sending (the engine does not), so when one exists the
stream is filtered on the way through: a thread re-writes the archive without the excluded entries
into a small bounded queue, so memory stays flat whatever the workspace size. Without a
`.dockerignore` the engine's stream goes to the build untouched.
"""

from __future__ import annotations

import io
import queue
import tarfile
import threading
from collections.abc import Iterable, Iterator

from core.dockerignore import DOCKERIGNORE, IgnorePattern, IgnoreRules, compile_pattern, read_ignore_lines
from core.engine import StepFailed

_DONE = object()


def read_single_file(chunks: Iterable[bytes], *, what: str, limit: int = 1 << 20) -> bytes:
    """The content of the one file in a tar stream (a `read_volume` of a file)."""
    with tarfile.open(fileobj=_ChunkReader(iter(chunks)), mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                break
            if member.size > limit:
                raise StepFailed(f"{what} is larger than {limit} bytes")
            extracted = tar.extractfile(member)
            return extracted.read() if extracted is not None else b""
    raise StepFailed(f"{what} is not a regular file")


def ignore_rules(text: str, dockerfile: str) -> IgnoreRules:
    """`.dockerignore` rules as the classic docker CLI applies them (no default VCS exclusions)."""
    patterns: list[IgnorePattern] = []
    for number, raw in read_ignore_lines(text):
        pattern = compile_pattern(raw, f"{DOCKERIGNORE}:{number}")
        if pattern is not None:
            patterns.append(pattern)
    return IgnoreRules(
        patterns=tuple(patterns), always_included=frozenset({DOCKERIGNORE, dockerfile}), ignore_file=DOCKERIGNORE
    )


def filter_context(chunks: Iterable[bytes], rules: IgnoreRules) -> Iterator[bytes]:
    """The tar stream `chunks` without the entries `rules` exclude (names relative to the folder)."""
    pipe: queue.Queue[object] = queue.Queue(maxsize=16)
    stop = threading.Event()

    def produce() -> None:
        try:
            with (
                tarfile.open(fileobj=_ChunkReader(iter(chunks)), mode="r|") as source,
                tarfile.open(fileobj=_QueueWriter(pipe, stop), mode="w|", format=tarfile.PAX_FORMAT) as target,
            ):
                for member in source:
                    name = member.name.removeprefix("./").strip("/")
                    if not name or name == "." or rules.is_excluded(name):
                        continue
                    member.name = name
                    target.addfile(member, source.extractfile(member) if member.isfile() else None)
            _put(pipe, stop, _DONE)
        except _Stopped:
            pass
        except BaseException as error:  # handed to the consumer, which raises it in its own thread
            _put(pipe, stop, error)

    thread = threading.Thread(target=produce, name="dockerignore-filter", daemon=True)
    thread.start()
    try:
        while True:
            item = pipe.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                if isinstance(item, tarfile.TarError):
                    raise StepFailed(f"cannot read the build context from the workspace: {item}") from item
                raise item
            if isinstance(item, bytes):
                yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class _Stopped(Exception):
    pass


def _put(pipe: queue.Queue[object], stop: threading.Event, item: object) -> None:
    while not stop.is_set():
        try:
            pipe.put(item, timeout=0.1)
        except queue.Full:
            continue
        return
    raise _Stopped


class _QueueWriter(io.RawIOBase):
    def __init__(self, pipe: queue.Queue[object], stop: threading.Event) -> None:
        self._pipe = pipe
        self._stop = stop

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if data:
            _put(self._pipe, self._stop, bytes(data))
        return len(data)


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (tarfile's stream mode reads from it)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = memoryview(chunk)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
