import base64
from datetime import UTC, datetime, timedelta

import pytest

from slipway_host.config import HostConfigError
from slipway_host.queue_storage import (
    DEVELOPMENT_STORAGE,
    InMemoryQueueStorage,
    MessageLost,
    QueueStorageError,
    connection_string_for,
)
from slipway_host.queues import decode_message, encode_message, normalize_queue_name


def test_base64_encoding_matches_what_producers_send() -> None:
    assert encode_message('{"a": 1}', "base64") == base64.b64encode(b'{"a": 1}').decode()
    assert encode_message(b"\x00\xff", "base64") == "AP8="
    assert decode_message("eyJhIjogMX0=", "base64") == b'{"a": 1}'


def test_no_encoding_passes_text_through() -> None:
    assert encode_message("plain", "none") == "plain"
    assert encode_message(b"bytes", "none") == "bytes"
    assert decode_message("plain", "none") == b"plain"


@pytest.mark.parametrize("content", ["not base64!", "abc", '{"action": "ok"}'])
def test_text_that_is_not_base64_cannot_be_decoded(content: str) -> None:
    with pytest.raises(ValueError, match="not valid base64"):
        decode_message(content, "base64")


def test_queue_names_are_lower_cased_and_validated() -> None:
    assert normalize_queue_name("Builds-Main", where="f") == "builds-main"
    for bad in ("ab", "a--b", "-ab", "ab-", "with_underscore", "x" * 64):
        with pytest.raises(HostConfigError, match="3-63 lower-case letters"):
            normalize_queue_name(bad, where="function 'work'")


def test_connection_names_an_app_setting() -> None:
    settings = {"MyStorage": "DefaultEndpointsProtocol=http;AccountName=a", "AzureWebJobsStorage": "host"}

    assert connection_string_for("MyStorage", settings) == "DefaultEndpointsProtocol=http;AccountName=a"
    assert connection_string_for("", settings) == "host"
    assert connection_string_for(None, settings) == "host"


def test_legacy_azurewebjobs_prefix_is_tried_too() -> None:
    assert connection_string_for("Queues", {"AzureWebJobsQueues": "conn"}) == "conn"


def test_development_storage_maps_to_azurite_on_the_default_ports() -> None:
    conn = connection_string_for(None, {"AzureWebJobsStorage": "UseDevelopmentStorage=true"})

    assert conn == DEVELOPMENT_STORAGE
    assert "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1" in conn


def test_missing_and_identity_based_connections_are_explained() -> None:
    with pytest.raises(
        HostConfigError, match=r"app setting 'Missing' \(named by the binding's connection\) is not set"
    ):
        connection_string_for("Missing", {})
    with pytest.raises(HostConfigError, match="identity-based"):
        connection_string_for("Store", {"Store__queueServiceUri": "https://x.queue.core.windows.net"})


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_in_memory_queue_hides_received_messages_until_their_visibility_lapses() -> None:
    clock = Clock()
    storage = InMemoryQueueStorage(clock)
    storage.create_queue("q")
    storage.send("q", "one")

    first = storage.receive("q", 10, visibility_timeout=30)
    hidden = storage.receive("q", 10, visibility_timeout=30)
    clock.now += timedelta(seconds=31)
    again = storage.receive("q", 10, visibility_timeout=30)

    assert [(m.content, m.dequeue_count) for m in first] == [("one", 1)]
    assert hidden == []
    assert [(m.content, m.dequeue_count) for m in again] == [("one", 2)]


def test_in_memory_queue_rejects_stale_pop_receipts() -> None:
    clock = Clock()
    storage = InMemoryQueueStorage(clock)
    storage.create_queue("q")
    storage.send("q", "one")
    [message] = storage.receive("q", 1, visibility_timeout=5)

    renewed = storage.update_visibility("q", message.id, message.pop_receipt, 60)

    with pytest.raises(MessageLost):
        storage.delete("q", message.id, message.pop_receipt)
    storage.delete("q", message.id, renewed)
    assert storage.contents("q") == []


def test_in_memory_queue_limits_a_receive_to_the_batch_size() -> None:
    storage = InMemoryQueueStorage()
    storage.create_queue("q")
    for index in range(5):
        storage.send("q", str(index))

    assert [m.content for m in storage.receive("q", 3, 30)] == ["0", "1", "2"]
    assert [m.content for m in storage.receive("q", 3, 30)] == ["3", "4"]


def test_in_memory_queue_must_exist() -> None:
    with pytest.raises(QueueStorageError, match="queue 'nope' does not exist"):
        InMemoryQueueStorage().send("nope", "x")
