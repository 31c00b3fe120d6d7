import threading
from datetime import UTC, datetime

from core.log_masking import StreamRedactor
from core.memory_storage import MemoryBlobStore
from core.run_log import LOGS_CONTAINER, LogSignals, RunLogWriter, read_log, trim_to_utf8_boundary
from core.runs import RunStatus

T0 = datetime(2026, 11, 26, 12, 0, 5, tzinfo=UTC)


def writer(blobs: MemoryBlobStore, **kwargs) -> RunLogWriter:
    blobs.ensure_container(LOGS_CONTAINER)
    log = RunLogWriter(blobs, "ca1", clock=lambda: T0, **kwargs)
    log.open()
    return log


def test_service_lines_carry_acr_style_timestamps_and_output_is_kept_verbatim() -> None:
    blobs = MemoryBlobStore()
    log = writer(blobs)
    log.line("Executing step ID: build")
    log.write(b"Step 1/2 : FROM base\n")
    log.close(RunStatus.SUCCEEDED)
    chunk = read_log(blobs, "ca1", offset=0)
    assert chunk is not None
    assert chunk.data == b"2026/11/26 12:00:05 Executing step ID: build\nStep 1/2 : FROM base\n"
    assert chunk.complete == "succeeded"
    assert chunk.finished


def test_output_reaches_storage_while_the_run_is_still_going() -> None:
    blobs = MemoryBlobStore()
    log = writer(blobs, flush_seconds=0.01)
    log.write("building...\n")
    appeared = threading.Event()
    for _ in range(500):
        chunk = read_log(blobs, "ca1", offset=0)
        if chunk and chunk.data:
            appeared.set()
            break
        threading.Event().wait(0.01)
    assert appeared.is_set()
    assert chunk is not None and chunk.complete is None
    log.close(RunStatus.FAILED)


def test_reading_from_an_offset_returns_only_new_bytes() -> None:
    blobs = MemoryBlobStore()
    log = writer(blobs)
    log.write("abc")
    log.flush()
    first = read_log(blobs, "ca1", offset=0)
    log.write("def")
    log.close(RunStatus.CANCELED)
    assert first is not None
    second = read_log(blobs, "ca1", offset=first.next_offset)
    assert second is not None
    assert (first.data, second.data, second.complete) == (b"abc", b"def", "canceled")


def test_secrets_are_masked_even_when_split_across_flushes() -> None:
    blobs = MemoryBlobStore()
    log = writer(blobs, redactor=StreamRedactor.for_values(["hunter2"]))
    log.write("password is hun")
    log.flush()
    log.write("ter2 and the end")
    log.flush()
    log.write(" hunter")
    log.close(RunStatus.SUCCEEDED)
    stored = read_log(blobs, "ca1", offset=0).data
    assert stored == b"password is *** and the end hunter"
    assert b"hunter2" not in stored


def test_a_log_that_was_never_written_reads_as_none() -> None:
    assert read_log(MemoryBlobStore(), "ca9", offset=0) is None


def test_cut_utf8_sequences_are_held_back_until_complete() -> None:
    text = "naïve ☃ 😀".encode()
    for cut in range(len(text) + 1):
        kept = trim_to_utf8_boundary(text[:cut])
        kept.decode("utf-8")  # never raises
        assert text[:cut].startswith(kept)
        assert cut - len(kept) < 4


def test_log_signals_wake_a_waiting_reader_when_the_writer_appends() -> None:
    signals = LogSignals()
    blobs = MemoryBlobStore()
    blobs.ensure_container(LOGS_CONTAINER)
    writer = RunLogWriter(blobs, "ca9", clock=lambda: datetime(2026, 12, 4, tzinfo=UTC), signals=signals)
    writer.open()
    seen = signals.version("ca9")
    woke = threading.Event()
    reader = threading.Thread(target=lambda: (signals.wait("ca9", seen, timeout=60), woke.set()))
    reader.start()
    writer.line("hello")
    reader.join(10)  # far below the 60 s timeout: only the writer's notice can have woken it
    assert woke.is_set()
    assert signals.version("ca9") != seen
    writer.close(RunStatus.SUCCEEDED)
    signals.wait("other", 0, timeout=0)  # nothing written there: returns at its timeout
