"""The narrow queue-storage port the queue trigger needs, an Azure Storage adapter and an in-memory fake.

Message content is handled as the raw text stored in the queue; encoding (base64 or none, from
host.json) is the listener's job, so a message that is not valid base64 still reaches the host and
can take the failure path. SDK exceptions are translated here into `QueueStorageError` and
`MessageLost` (the message was deleted or re-received by someone else: our pop receipt is stale).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from slipway_host.config import HostConfigError

T = TypeVar("T")

STORAGE_SETTING = "AzureWebJobsStorage"
_AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    f"AccountKey={_AZURITE_KEY};"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


class QueueStorageError(Exception):
    """Queue storage failed or could not be reached."""


class MessageLost(QueueStorageError):
    """The message is gone or our pop receipt is stale (its lease lapsed and it was received again)."""


@dataclass(frozen=True)
class ReceivedMessage:
    id: str
    content: str
    pop_receipt: str
    dequeue_count: int
    inserted_on: datetime | None = None
    expires_on: datetime | None = None
    next_visible_on: datetime | None = None


class QueueStorage(Protocol):
    def create_queue(self, name: str) -> None:
        """Create the queue if it does not exist."""
        ...

    def receive(self, name: str, max_messages: int, visibility_timeout: int) -> list[ReceivedMessage]: ...

    def update_visibility(self, name: str, message_id: str, pop_receipt: str, visibility_timeout: int) -> str:
        """Hide the message for `visibility_timeout` seconds from now; return the new pop receipt."""
        ...

    def delete(self, name: str, message_id: str, pop_receipt: str) -> None: ...

    def send(self, name: str, content: str) -> None: ...


def connection_string_for(connection: str | None, settings: Mapping[str, str]) -> str:
    """The connection string named by a binding's `connection` (empty means `AzureWebJobsStorage`)."""
    name = connection or STORAGE_SETTING
    for candidate in (name, f"AzureWebJobs{name}"):
        value = settings.get(candidate, "").strip()
        if value:
            return DEVELOPMENT_STORAGE if _is_development_storage(value) else value
    if any(f"{name}__{suffix}" in settings for suffix in ("queueServiceUri", "serviceUri", "accountName")):
        raise HostConfigError(
            f"connection '{name}' is identity-based; this host needs a connection string in app setting '{name}'"
        )
    raise HostConfigError(f"app setting '{name}' (named by the binding's connection) is not set")


def _is_development_storage(value: str) -> bool:
    parts = dict(part.split("=", 1) for part in value.split(";") if "=" in part)
    return parts.get("UseDevelopmentStorage", "").lower() == "true"


class AzureQueueStorage:
    """`QueueStorage` over `azure-storage-queue`, one shared HTTP connection pool per account."""

    def __init__(self, connection_string: str) -> None:
        import requests
        from azure.core.pipeline.transport import RequestsTransport

        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._connection = connection_string
        self._transport = RequestsTransport(
            session=session, session_owner=False, connection_timeout=10, read_timeout=30
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, name: str) -> Any:
        # Each queue's client owns its pipeline: `QueueServiceClient.get_queue_client` re-links the
        # parent's shared policies, which breaks requests in flight on other threads.
        from azure.storage.queue import ExponentialRetry, QueueClient

        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = self._clients[name] = QueueClient.from_connection_string(
                    self._connection,
                    name,
                    transport=self._transport,
                    retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=2),
                )
            return client

    def create_queue(self, name: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        def create() -> None:
            with contextlib.suppress(ResourceExistsError):
                self._client(name).create_queue()

        _translated(name, create)

    def receive(self, name: str, max_messages: int, visibility_timeout: int) -> list[ReceivedMessage]:
        def receive() -> list[ReceivedMessage]:
            pages = self._client(name).receive_messages(
                messages_per_page=max_messages, max_messages=max_messages, visibility_timeout=visibility_timeout
            )
            page: Iterable[Any] = next(pages.by_page(), [])
            return [
                ReceivedMessage(
                    id=m.id,
                    content=m.content or "",
                    pop_receipt=m.pop_receipt,
                    dequeue_count=m.dequeue_count or 1,
                    inserted_on=m.inserted_on,
                    expires_on=m.expires_on,
                    next_visible_on=m.next_visible_on,
                )
                for m in page
            ]

        return _translated(name, receive)

    def update_visibility(self, name: str, message_id: str, pop_receipt: str, visibility_timeout: int) -> str:
        def update() -> str:
            updated = self._client(name).update_message(
                message_id, pop_receipt=pop_receipt, visibility_timeout=visibility_timeout
            )
            return str(updated.pop_receipt)

        return _translated(name, update)

    def delete(self, name: str, message_id: str, pop_receipt: str) -> None:
        _translated(name, lambda: self._client(name).delete_message(message_id, pop_receipt=pop_receipt))

    def send(self, name: str, content: str) -> None:
        _translated(name, lambda: self._client(name).send_message(content))


def _translated(queue: str, operation: Callable[[], T]) -> T:
    """Run an SDK call, turning its errors into `QueueStorageError`/`MessageLost` at this boundary."""
    from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

    try:
        return operation()
    except AzureError as error:
        code = getattr(error, "error_code", None) or ""
        if isinstance(error, ResourceNotFoundError) and code in ("MessageNotFound", ""):
            raise MessageLost(f"queue '{queue}': message not found") from error
        if isinstance(error, HttpResponseError) and code == "PopReceiptMismatch":
            raise MessageLost(f"queue '{queue}': pop receipt no longer valid") from error
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise QueueStorageError(f"queue '{queue}': {message}") from error


@dataclass
class _StoredMessage:
    id: str
    content: str
    inserted_on: datetime
    visible_at: datetime
    dequeue_count: int = 0
    pop_receipt: str = ""


class InMemoryQueueStorage:
    """A thread-safe fake with Azure's visibility, dequeue-count and pop-receipt rules."""

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._now = now or (lambda: datetime.now(UTC))
        self._queues: dict[str, dict[str, _StoredMessage]] = {}
        self._receives: dict[str, int] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def create_queue(self, name: str) -> None:
        with self._lock:
            self._queues.setdefault(name, {})

    def queue_names(self) -> list[str]:
        with self._lock:
            return sorted(self._queues)

    def contents(self, name: str) -> list[str]:
        """Every message's content, visible or not, oldest first ([] if the queue does not exist)."""
        with self._lock:
            return [m.content for m in self._queues.get(name, {}).values()]

    def receive_calls(self, name: str) -> int:
        """How often the queue was polled (listeners' behaviour is observable in tests)."""
        with self._lock:
            return self._receives.get(name, 0)

    def receive(self, name: str, max_messages: int, visibility_timeout: int) -> list[ReceivedMessage]:
        with self._lock:
            self._receives[name] = self._receives.get(name, 0) + 1
            now = self._now()
            received: list[ReceivedMessage] = []
            for message in self._queue(name).values():
                if len(received) == max_messages:
                    break
                if message.visible_at > now:
                    continue
                message.dequeue_count += 1
                message.pop_receipt = uuid.uuid4().hex
                message.visible_at = now + timedelta(seconds=visibility_timeout)
                received.append(
                    ReceivedMessage(
                        id=message.id,
                        content=message.content,
                        pop_receipt=message.pop_receipt,
                        dequeue_count=message.dequeue_count,
                        inserted_on=message.inserted_on,
                        expires_on=message.inserted_on + timedelta(days=7),
                        next_visible_on=message.visible_at,
                    )
                )
            return received

    def update_visibility(self, name: str, message_id: str, pop_receipt: str, visibility_timeout: int) -> str:
        with self._lock:
            message = self._leased(name, message_id, pop_receipt)
            message.pop_receipt = uuid.uuid4().hex
            message.visible_at = self._now() + timedelta(seconds=visibility_timeout)
            return message.pop_receipt

    def delete(self, name: str, message_id: str, pop_receipt: str) -> None:
        with self._lock:
            self._leased(name, message_id, pop_receipt)
            del self._queues[name][message_id]

    def send(self, name: str, content: str) -> None:
        with self._lock:
            now = self._now()
            message_id = f"m{next(self._ids)}"
            self._queue(name)[message_id] = _StoredMessage(message_id, content, now, now)

    def snapshot(self, name: str) -> list[_StoredMessage]:
        with self._lock:
            return [replace(m) for m in self._queue(name).values()]

    def _queue(self, name: str) -> dict[str, _StoredMessage]:
        queue = self._queues.get(name)
        if queue is None:
            raise QueueStorageError(f"queue '{name}' does not exist")
        return queue

    def _leased(self, name: str, message_id: str, pop_receipt: str) -> _StoredMessage:
        message = self._queue(name).get(message_id)
        if message is None or message.pop_receipt != pop_receipt:
            raise MessageLost(f"queue '{name}': message {message_id} not found or pop receipt is stale")
        return message
