import json
import threading

import pytest

from core.errors import StorageError
from core.group_commit import GroupCommitQueue


class SlowSink:
    """Stores messages; the first send blocks until released, so later items pile up behind it."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.release = threading.Event()
        self.first = threading.Event()

    def send(self, text: str) -> None:
        if not self.first.is_set():
            self.first.set()
            self.release.wait(5)
        self.messages.append(json.loads(text))


def test_items_arriving_while_a_message_is_stored_share_the_next_message() -> None:
    sink = SlowSink()
    queue = GroupCommitQueue(sink.send)
    threads = [threading.Thread(target=queue.submit, args=({"n": i},)) for i in range(10)]
    threads[0].start()
    assert sink.first.wait(5)
    for thread in threads[1:]:
        thread.start()
    sink.release.set()
    for thread in threads:
        thread.join(5)
    items = [item["n"] for message in sink.messages for item in message["items"]]
    assert sorted(items) == list(range(10))
    assert len(sink.messages) < 10  # batched
    assert all(message["type"] == "batch" for message in sink.messages)


def test_a_caller_returns_only_after_its_message_is_stored_and_learns_of_failures() -> None:
    def fail(text: str) -> None:
        raise StorageError("storage is down")

    with pytest.raises(StorageError, match="storage is down"):
        GroupCommitQueue(fail).submit({"x": 1})


def test_batches_never_exceed_the_message_size() -> None:
    sent: list[str] = []
    queue = GroupCommitQueue(sent.append, max_batch_chars=100)
    threads = [threading.Thread(target=queue.submit, args=({"text": "x" * 30},)) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sum(len(json.loads(m)["items"]) for m in sent) == 12
    assert all(len(m) <= 100 + len('{"type":"batch","items":[]}') for m in sent)
