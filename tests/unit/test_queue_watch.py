import pytest

from core import queue_watch
from core.errors import StorageError
from core.memory_storage import MemoryQueueSender
from core.queue_watch import AnnouncingSender


class RefusingSender(MemoryQueueSender):
    def send(self, queue: str, text: str) -> None:
        raise StorageError("storage send queue message failed: HTTP 503")


def test_a_sent_message_is_announced_after_it_is_stored_and_a_failed_send_is_not() -> None:
    heard: list[tuple[str, int]] = []
    inner = MemoryQueueSender()
    unsubscribe = queue_watch.subscribe(lambda queue: heard.append((queue, len(inner.drain(queue)))))
    try:
        sender = AnnouncingSender(inner, announce=("runs",))
        sender.send("runs", '{"runId": "ca1"}')
        sender.send("events", "not announced")
        with pytest.raises(StorageError):
            AnnouncingSender(RefusingSender(), announce=("runs",)).send("runs", "lost")
    finally:
        unsubscribe()
    sender.send("runs", "after unsubscribing")
    assert heard == [("runs", 1)]  # the message was in the queue when the listener heard of it
    assert inner.drain("events") == ["not announced"]


def test_a_listener_that_fails_does_not_fail_the_sender(caplog: pytest.LogCaptureFixture) -> None:
    def gone(queue: str) -> None:
        raise RuntimeError("Event loop is closed")

    unsubscribe = queue_watch.subscribe(gone)
    try:
        AnnouncingSender(MemoryQueueSender(), announce=("events",)).send("events", "x")
    finally:
        unsubscribe()
    assert "could not be told of a message sent to 'events'" in caplog.text
