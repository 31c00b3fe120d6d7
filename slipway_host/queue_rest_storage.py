"""`QueueStorage` over the queue REST API (`core.queue_rest`), used when the account key is known.

The listener polls every queue several times a second and deletes each message it handled; through
the SDK each call costs ~2.5 ms of CPU in the process that also serves HTTP and runs the functions.
Identity-based connections, which have no key, keep the SDK adapter (`AzureQueueStorage`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from email.utils import parsedate_to_datetime

from core.errors import StorageError
from core.queue_rest import RestQueueClient
from core.storage_http import Reply, SharedKey, shared_key_access
from slipway_host.queue_storage import AzureQueueStorage, MessageLost, QueueStorage, QueueStorageError, ReceivedMessage


def queue_storage_for(connection_string: str) -> QueueStorage:
    access = shared_key_access(connection_string, "queue")
    return RestQueueStorage(*access) if access else AzureQueueStorage(connection_string)


def _time(element: ET.Element, tag: str) -> datetime | None:
    text = element.findtext(tag)
    return parsedate_to_datetime(text) if text else None


def _code(reply: Reply) -> str:
    return str(reply.headers.get("x-ms-error-code") or "")


class RestQueueStorage:
    def __init__(self, endpoint: str, key: SharedKey) -> None:
        self._client = RestQueueClient(endpoint, key)

    def _call(
        self, queue: str, method: str, resource: str, *, ok: tuple[int, ...], query: dict[str, str] | None = None
    ) -> Reply:
        try:
            reply = self._client.call(method, resource, query=query, operation=f"{method.lower()} queue message")
        except StorageError as error:
            raise QueueStorageError(f"queue '{queue}': {error.message}") from error
        if reply.status in ok:
            return reply
        if _code(reply) in ("MessageNotFound", "PopReceiptMismatch") or reply.status == 404:
            raise MessageLost(f"queue '{queue}': message not found or pop receipt no longer valid")
        detail = reply.body[:200].decode("utf-8", "replace").replace("\n", " ")
        raise QueueStorageError(f"queue '{queue}': HTTP {reply.status} {_code(reply)} {detail}".rstrip())

    def create_queue(self, name: str) -> None:
        try:
            reply = self._client.call("PUT", name, operation="create queue")
        except StorageError as error:
            raise QueueStorageError(f"queue '{name}': {error.message}") from error
        if reply.status not in (201, 204) and _code(reply) != "QueueAlreadyExists":
            raise QueueStorageError(f"queue '{name}': could not create it (HTTP {reply.status} {_code(reply)})")

    def receive(self, name: str, max_messages: int, visibility_timeout: int) -> list[ReceivedMessage]:
        query = {"numofmessages": str(max_messages), "visibilitytimeout": str(visibility_timeout)}
        reply = self._call(name, "GET", f"{name}/messages", ok=(200,), query=query)
        messages = []
        # The body comes from the storage account we signed the request to; expat resolves no entities.
        for element in ET.fromstring(reply.body).iter("QueueMessage"):  # noqa: S314
            messages.append(
                ReceivedMessage(
                    id=element.findtext("MessageId") or "",
                    content=element.findtext("MessageText") or "",
                    pop_receipt=element.findtext("PopReceipt") or "",
                    dequeue_count=int(element.findtext("DequeueCount") or 1),
                    inserted_on=_time(element, "InsertionTime"),
                    expires_on=_time(element, "ExpirationTime"),
                    next_visible_on=_time(element, "TimeNextVisible"),
                )
            )
        return messages

    def update_visibility(self, name: str, message_id: str, pop_receipt: str, visibility_timeout: int) -> str:
        query = {"popreceipt": pop_receipt, "visibilitytimeout": str(visibility_timeout)}
        reply = self._call(name, "PUT", f"{name}/messages/{message_id}", ok=(204,), query=query)
        return str(reply.headers.get("x-ms-popreceipt") or "")

    def delete(self, name: str, message_id: str, pop_receipt: str) -> None:
        self._call(name, "DELETE", f"{name}/messages/{message_id}", ok=(204,), query={"popreceipt": pop_receipt})

    def send(self, name: str, content: str) -> None:
        try:
            reply = self._client.put_message(name, content)
        except StorageError as error:
            raise QueueStorageError(f"queue '{name}': {error.message}") from error
        if reply.status != 201:
            raise QueueStorageError(f"queue '{name}': could not send (HTTP {reply.status} {_code(reply)})")
