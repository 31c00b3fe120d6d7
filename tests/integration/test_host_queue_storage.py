"""The host's queue adapters (SDK and lean REST) against a real Azurite: one contract for both."""

from __future__ import annotations

import time
import uuid

import pytest

from slipway_host.queue_rest_storage import RestQueueStorage, queue_storage_for
from slipway_host.queue_storage import AzureQueueStorage, MessageLost, QueueStorage, QueueStorageError
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sdk", "rest"])
def queues(request: pytest.FixtureRequest, stack: Stack) -> tuple[QueueStorage, str]:
    storage = AzureQueueStorage(stack.storage) if request.param == "sdk" else queue_storage_for(stack.storage)
    assert isinstance(storage, RestQueueStorage) == (request.param == "rest")
    name = f"contract-{uuid.uuid4().hex[:10]}"
    storage.create_queue(name)
    storage.create_queue(name)  # again: harmless
    return storage, name


def test_messages_are_received_hidden_updated_and_deleted(queues: tuple[QueueStorage, str]) -> None:
    storage, name = queues
    storage.send(name, "eyJhIjogMX0=")
    storage.send(name, "<not & base64>")
    received = storage.receive(name, 32, 30)
    assert sorted(m.content for m in received) == ["<not & base64>", "eyJhIjogMX0="]
    assert all(m.dequeue_count == 1 and m.pop_receipt and m.inserted_on and m.next_visible_on for m in received)
    assert storage.receive(name, 32, 30) == []  # hidden while leased

    first, second = received
    storage.delete(name, first.id, first.pop_receipt)
    with pytest.raises(MessageLost):
        storage.delete(name, first.id, first.pop_receipt)
    new_receipt = storage.update_visibility(name, second.id, second.pop_receipt, 0)
    assert new_receipt and new_receipt != second.pop_receipt
    with pytest.raises(MessageLost):
        storage.delete(name, second.id, second.pop_receipt)  # the old receipt is stale now
    deadline = time.monotonic() + 5
    again = []
    while not again and time.monotonic() < deadline:
        again = storage.receive(name, 1, 30)
    assert [m.id for m in again] == [second.id] and again[0].dequeue_count == 2
    storage.delete(name, again[0].id, again[0].pop_receipt)


def test_a_missing_queue_is_a_queue_storage_error(queues: tuple[QueueStorage, str]) -> None:
    storage, _ = queues
    with pytest.raises(QueueStorageError):
        storage.receive(f"missing-{uuid.uuid4().hex[:8]}", 1, 30)
