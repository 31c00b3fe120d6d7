"""The lean queue sender against a real Azurite: what it sends, the SDK reads back unchanged."""

from __future__ import annotations

import pytest
from azure.storage.queue import QueueClient, TextBase64DecodePolicy

from core.errors import StorageError
from core.queue_rest import RestQueueSender
from core.storage_http import SharedKey, parse_connection_string, service_endpoint, shared_key_access
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


def test_messages_sent_with_shared_key_read_back_through_the_sdk(stack: Stack) -> None:
    client = QueueClient.from_connection_string(
        stack.storage, "restcheck", message_decode_policy=TextBase64DecodePolicy()
    )
    client.create_queue()
    access = shared_key_access(stack.storage, "queue")
    assert access is not None
    sender = RestQueueSender(*access)
    texts = ['{"a": "<b> & c"}', "ünïcödé ✓", "x" * 40_000]
    for text in texts:
        sender.send("restcheck", text)
    sender.close()
    received = [m.content for m in client.receive_messages(messages_per_page=32)]
    assert sorted(received) == sorted(texts)


def test_a_wrong_key_is_refused_with_a_storage_error(stack: Stack) -> None:
    settings = parse_connection_string(stack.storage)
    sender = RestQueueSender(
        service_endpoint(settings, "queue") or "", SharedKey(settings["AccountName"], b"wrong-key")
    )
    with pytest.raises(StorageError, match="HTTP 403"):
        sender.send("restcheck", "x")
    sender.close()
