"""Queue triggers and queue output bindings, with the Azure Functions queue extension's rules.

A `QueueListener` polls one queue: it fetches up to `batchSize` messages whenever no more than
`newBatchThreshold` are still running (so at most `batchSize + newBatchThreshold` run at once), waits
100 ms after finding messages and backs off exponentially from 100 ms to `maxPollingInterval` while
the queue is empty. Each message is received invisible for a lease (default 60 s) that is renewed at
half-time while the function runs, so long builds are not redelivered. As in the Functions host, a
message sent by this process (an output binding, a poison copy, or the app via `core.queue_watch`)
makes the listener of its queue poll at once if the queue was empty. Success deletes the message;
failure makes it visible again after `visibilityTimeout`, or, once `dequeue_count` reaches
`maxDequeueCount`, copies the original text to `<queue>-poison` and deletes it. A message whose
dequeue count already exceeds the maximum (its host crashed mid-run) goes straight to the poison
queue. Storage I/O runs on a dedicated thread pool.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import azure.functions as func
from azure.functions.queue import QueueMessage

from core import queue_watch
from slipway_host.config import HostConfigError, QueueOptions
from slipway_host.invocation import Invoker, log_outcome
from slipway_host.loader import ArgumentKind, FunctionDefinition
from slipway_host.queue_storage import (
    STORAGE_SETTING,
    MessageLost,
    QueueStorage,
    QueueStorageError,
    ReceivedMessage,
    connection_string_for,
)

log = logging.getLogger("slipway_host")

T = TypeVar("T")
StorageFactory = Callable[[str], QueueStorage]

POISON_SUFFIX = "-poison"
FOUND_DELAY = 0.1
MIN_EMPTY_DELAY = 0.1
_QUEUE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


def normalize_queue_name(name: str, *, where: str) -> str:
    """Lower-case and validate a queue name (3-63 of a-z, 0-9 and single hyphens)."""
    lowered = name.strip().lower()
    if not _QUEUE_NAME.match(lowered):
        raise HostConfigError(
            f"{where}: queue name '{name}' is invalid; use 3-63 lower-case letters, digits and single hyphens"
        )
    return lowered


def encode_message(value: str | bytes, encoding: str) -> str:
    """Queue text for a message body, per host.json `messageEncoding`."""
    data = value.encode() if isinstance(value, str) else value
    if encoding == "base64":
        return base64.b64encode(data).decode("ascii")
    return value if isinstance(value, str) else value.decode("utf-8")


def decode_message(content: str, encoding: str) -> bytes:
    """Message body from queue text; raise ValueError if it is not valid for the encoding."""
    if encoding != "base64":
        return content.encode()
    try:
        return base64.b64decode("".join(content.split()), validate=True)
    except binascii.Error as error:
        raise ValueError(f"message is not valid base64 ({error}); producers must base64-encode") from error


class StorageIO:
    """Queue storage clients per connection string, called on a dedicated thread pool."""

    def __init__(self, settings: Mapping[str, str], factory: StorageFactory, executor: Executor) -> None:
        self._settings = settings
        self._factory = factory
        self._executor = executor
        self._storages: dict[str, QueueStorage] = {}
        self._created: set[tuple[int, str]] = set()

    def storage_for(self, connection: str | None) -> QueueStorage:
        connection_string = connection_string_for(connection, self._settings)
        storage = self._storages.get(connection_string)
        if storage is None:
            try:
                storage = self._factory(connection_string)
            except ValueError as error:  # the SDK's word for a malformed connection string
                name = connection or STORAGE_SETTING
                raise HostConfigError(f"app setting '{name}' is not a usable connection string: {error}") from error
            self._storages[connection_string] = storage
        return storage

    async def call(self, operation: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, operation, *args)

    async def ensure_queue(self, storage: QueueStorage, name: str) -> None:
        key = (id(storage), name)
        if key not in self._created:
            await self.call(storage.create_queue, name)
            self._created.add(key)


class QueueOutputs:
    """The invoker's output sink: sends values set on queue output bindings."""

    def __init__(self, io: StorageIO, encoding: str) -> None:
        self._io = io
        self._encoding = encoding

    async def __call__(self, function: FunctionDefinition, values: Mapping[str, Any]) -> None:
        bindings = {str(b["name"]): b for b in function.outputs}
        for name, value in values.items():
            binding = bindings[name]
            if binding["type"] != "queue":
                continue
            where = f"function '{function.name}', output '{name}'"
            queue = normalize_queue_name(str(binding.get("queueName", "")), where=where)
            storage = self._io.storage_for(binding.get("connection"))
            await self._io.ensure_queue(storage, queue)
            for item in _flatten(value, where):
                await self._io.call(storage.send, queue, encode_message(item, self._encoding))
                queue_watch.message_sent(queue)


def _flatten(value: Any, where: str) -> Iterable[str | bytes]:
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if isinstance(item, str | bytes):
            yield item
        elif isinstance(item, func.QueueMessage):
            yield item.get_body()
        else:
            raise TypeError(
                f"{where}: queue output values must be str, bytes or QueueMessage, not {type(item).__name__}"
            )


@dataclass
class _Lease:
    message: ReceivedMessage
    pop_receipt: str
    lost: bool = False


class QueueListener:
    """Polls one queue for one function until stopped, then lets running invocations finish."""

    def __init__(
        self,
        function: FunctionDefinition,
        io: StorageIO,
        invoker: Invoker,
        options: QueueOptions,
        *,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self.function = function
        where = f"function '{function.name}'"
        self.queue = normalize_queue_name(str(function.trigger.get("queueName", "")), where=where)
        self.poison_queue = normalize_queue_name(self.queue + POISON_SUFFIX, where=where)
        self._storage = io.storage_for(function.trigger.get("connection"))
        self._io = io
        self._invoker = invoker
        self._options = options
        self._lease_seconds = max(1, int(lease.total_seconds()))
        self._in_flight = 0
        self._capacity = asyncio.Event()
        self._sent = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._annotation = next((a.annotation for a in function.arguments if a.kind is ArgumentKind.TRIGGER), None)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def message_sent(self) -> None:
        """This process just sent a message to the queue: poll now rather than at the next interval.
        Call on the listener's event loop."""
        self._sent.set()

    async def create_queues(self) -> None:
        await self._io.ensure_queue(self._storage, self.queue)
        await self._io.ensure_queue(self._storage, self.poison_queue)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; in-flight messages keep running (see `drain`)."""
        delay = 0.0
        ready = False
        idle = False  # the last poll found the queue empty
        while not stop.is_set():
            # Only an empty queue is polled at once for a message sent here: a busy one is polled
            # every FOUND_DELAY anyway, and a poll per message would only cost storage calls.
            if delay and idle and not self._sent.is_set():
                await _first_of(stop.wait(), self._sent.wait(), timeout=delay)
            elif delay and not idle:
                await _stopped_within(stop, delay)
            if stop.is_set():
                break
            self._sent.clear()
            while self._in_flight > self._options.new_batch_threshold and not stop.is_set():
                self._capacity.clear()
                await _first_of(self._capacity.wait(), stop.wait())
            if stop.is_set():
                break
            try:
                if not ready:
                    await self.create_queues()
                    ready = True
                messages = await self._io.call(
                    self._storage.receive, self.queue, self._options.batch_size, self._lease_seconds
                )
            except QueueStorageError as error:
                log.warning("Queue '%s' (function '%s'): %s", self.queue, self.function.name, error)
                delay = self._max_delay
                continue
            for message in messages:
                self._in_flight += 1
                task = asyncio.create_task(self._process(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            idle = not messages
            delay = FOUND_DELAY if messages else min(max(delay * 2, MIN_EMPTY_DELAY), self._max_delay)

    async def drain(self) -> None:
        """Wait for every message already handed to the function."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @property
    def _max_delay(self) -> float:
        return self._options.max_polling_interval.total_seconds()

    async def _process(self, message: ReceivedMessage) -> None:
        lease = _Lease(message, message.pop_receipt)
        done = asyncio.Event()
        renewal = asyncio.create_task(self._keep_invisible(lease, done))
        try:
            try:
                succeeded = await self._run_function(message)
            finally:
                # let a renewal already in progress finish, so `lease.pop_receipt` is current
                done.set()
                await renewal
            await self._settle(lease, succeeded)
        except QueueStorageError as error:
            log.warning("Queue '%s' message %s: %s", self.queue, message.id, error)
        except Exception:  # outermost loop of a worker: keep the listener alive
            log.exception("Queue '%s' message %s: unexpected host error", self.queue, message.id)
        finally:
            self._in_flight -= 1
            self._capacity.set()

    async def _run_function(self, message: ReceivedMessage) -> bool:
        max_count = self._options.max_dequeue_count
        if message.dequeue_count > max_count:
            log.warning(
                "Queue '%s' message %s was dequeued %d times (max %d); moving it to '%s' without running",
                self.queue, message.id, message.dequeue_count, max_count, self.poison_queue,
            )  # fmt: skip
            return False
        try:
            body = decode_message(message.content, self._options.message_encoding)
        except ValueError as error:
            log.error("Function '%s' cannot take queue message %s: %s", self.function.name, message.id, error)
            return False
        result = await self._invoker.invoke(self.function, self._trigger_value(message, body))
        log_outcome(result, f"message {message.id}, dequeue count {message.dequeue_count}")
        return result.succeeded

    def _trigger_value(self, message: ReceivedMessage, body: bytes) -> Any:
        if self._annotation is str:
            return body.decode("utf-8")
        if self._annotation is bytes:
            return body
        return QueueMessage(
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            insertion_time=message.inserted_on,
            expiration_time=message.expires_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )

    async def _settle(self, lease: _Lease, succeeded: bool) -> None:
        message = lease.message
        if lease.lost:
            log.warning("Queue '%s' message %s: lease was lost; it may run again", self.queue, message.id)
            return
        storage = self._storage
        if succeeded:
            await self._io.call(storage.delete, self.queue, message.id, lease.pop_receipt)
        elif message.dequeue_count >= self._options.max_dequeue_count:
            log.warning(
                "Queue '%s' message %s failed %d times; moving it to '%s'",
                self.queue, message.id, message.dequeue_count, self.poison_queue,
            )  # fmt: skip
            await self._io.call(storage.send, self.poison_queue, message.content)
            queue_watch.message_sent(self.poison_queue)
            await self._io.call(storage.delete, self.queue, message.id, lease.pop_receipt)
        else:
            retry_after = int(self._options.visibility_timeout.total_seconds())
            await self._io.call(storage.update_visibility, self.queue, message.id, lease.pop_receipt, retry_after)

    async def _keep_invisible(self, lease: _Lease, done: asyncio.Event) -> None:
        interval = self._lease_seconds / 2
        while not await _stopped_within(done, interval):
            try:
                lease.pop_receipt = await self._io.call(
                    self._storage.update_visibility,
                    self.queue,
                    lease.message.id,
                    lease.pop_receipt,
                    self._lease_seconds,
                )
            except MessageLost as error:
                lease.lost = True
                log.warning("Queue '%s' message %s: %s", self.queue, lease.message.id, error)
                return
            except QueueStorageError as error:
                log.warning("Queue '%s' message %s: cannot renew lease: %s", self.queue, lease.message.id, error)


async def _stopped_within(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds`; True if `event` was set by then."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def _first_of(*waits: Any, timeout: float | None = None) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
