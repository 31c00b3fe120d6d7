import threading
from datetime import UTC, datetime

from core.errors import StorageError
from core.live_logs import LiveLogs
from core.log_masking import StreamRedactor
from core.memory_storage import MemoryBlobStore
from core.run_log import LOGS_CONTAINER, RunLogWriter, read_log, trim_to_utf8_boundary
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


def test_live_logs_wake_a_waiting_reader_when_the_writer_appends() -> None:
    live = LiveLogs()
    blobs = MemoryBlobStore()
    blobs.ensure_container(LOGS_CONTAINER)
    writer = RunLogWriter(blobs, "ca9", clock=lambda: datetime(2026, 12, 4, tzinfo=UTC), live=live)
    writer.open()
    seen = live.version("ca9")
    woke = threading.Event()
    reader = threading.Thread(target=lambda: (live.wait("ca9", seen, timeout=60), woke.set()))
    reader.start()
    writer.line("hello")
    reader.join(10)  # far below the 60 s timeout: only the writer's notice can have woken it
    assert woke.is_set()
    assert live.version("ca9") != seen
    writer.close(RunStatus.SUCCEEDED)
    live.wait("other", 0, timeout=0)  # nothing written there: returns at its timeout


def test_live_logs_serve_exactly_what_the_blob_holds_from_any_offset_they_keep() -> None:
    live = LiveLogs(keep_bytes=64)
    blobs = MemoryBlobStore()
    blobs.ensure_container(LOGS_CONTAINER)
    blobs.open_append_blob(LOGS_CONTAINER, "ca3/rawtext.log")
    blobs.append(LOGS_CONTAINER, "ca3/rawtext.log", b"written by an earlier attempt\n")
    log = RunLogWriter(blobs, "ca3", clock=lambda: T0, live=live, redactor=StreamRedactor.for_values(["s3cret"]))
    log.open()
    for index in range(10):
        log.write(f"line {index} s3cret\n")
        log.flush()
    stored = read_log(blobs, "ca3", offset=0)
    assert stored is not None
    for offset in range(stored.total_size + 1):
        kept = live.read("ca3", offset, max_bytes=10)
        if kept is None:  # older than the kept 64 bytes: the reader goes to the blob
            assert offset < stored.total_size - 64
            continue
        from_blob = read_log(blobs, "ca3", offset=offset, max_bytes=10)
        assert from_blob is not None
        assert (kept.data, kept.next_offset, kept.total_size) == (
            from_blob.data,
            from_blob.next_offset,
            stored.total_size,
        )
        assert kept.complete is None
    assert live.read("ca3", stored.total_size - 64, max_bytes=100) is not None
    log.close(RunStatus.FAILED)
    end = live.read("ca3", stored.total_size, max_bytes=100)
    assert end is not None and end.finished and end.complete == "failed"
    assert b"s3cret" not in stored.data


def test_live_logs_let_go_of_a_log_whose_blob_they_no_longer_know() -> None:
    live = LiveLogs()
    live.opened("ca1", 0)
    live.appended("ca1", 0, b"abc")
    assert live.holds("ca1") and live.read("ca1", 1, 10) is not None
    live.appended("ca1", 7, b"def")  # someone else appended 4 bytes in between
    assert not live.holds("ca1") and live.read("ca1", 1, 10) is None
    live.opened("ca2", 0)
    live.appended("ca2", None, b"abc")  # storage did not say where it went
    assert live.read("ca2", 0, 10) is None
    live.opened("ca3", 0)
    live.lost("ca3")  # an append failed, or its outcome is unknown
    assert live.read("ca3", 0, 10) is None


def test_live_logs_keep_a_bounded_number_of_logs_dropping_finished_ones_first() -> None:
    live = LiveLogs(keep_logs=2)
    live.opened("ca1", 0)
    live.opened("ca2", 0)
    live.completed("ca2", "succeeded")
    live.opened("ca3", 0)
    assert (live.holds("ca1"), live.holds("ca2"), live.holds("ca3")) == (True, False, True)
    live.opened("ca4", 0)  # none finished: the oldest goes
    assert (live.holds("ca1"), live.holds("ca3"), live.holds("ca4")) == (False, True, True)


def test_a_writer_whose_append_fails_sends_readers_to_the_blob() -> None:
    class FailingAppends(MemoryBlobStore):
        def append(self, container: str, name: str, data: bytes) -> int | None:
            raise StorageError("storage append to blob failed: HTTP 503")

    live = LiveLogs()
    blobs = FailingAppends()
    log = writer(blobs, live=live)
    assert live.holds("ca1")
    log.write("lost text")
    log.flush()
    assert not live.holds("ca1")
    log.close(RunStatus.SUCCEEDED)
    assert read_log(blobs, "ca1", offset=0).complete == "succeeded"
