"""Announces the queue messages this process sends, so a queue listener in the same process polls at once.

The Functions host does this for its own queue output bindings (the WebJobs SDK's shared queue
watcher): a listener that backs off while its queue is empty is told that a message just went in and
polls straight away. The app sends its run messages itself, so it announces them here (events are
batched on purpose: see `core.wiring`); the local host (`slipway_host`) subscribes its listeners. In
Azure nothing subscribes, and a message waits for the listener's next poll as before. A subscriber
must not block: it is called on the sending thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection

from core.ports import QueueSender

logger = logging.getLogger(__name__)

Subscriber = Callable[[str], None]

_subscribers: list[Subscriber] = []
_lock = threading.Lock()


def subscribe(subscriber: Subscriber) -> Callable[[], None]:
    """Call `subscriber(queue)` after each message this process sends; returns the unsubscribe call."""
    with _lock:
        _subscribers.append(subscriber)

    def unsubscribe() -> None:
        with _lock:
            if subscriber in _subscribers:
                _subscribers.remove(subscriber)

    return unsubscribe


def message_sent(queue: str) -> None:
    """Tell every subscriber; the message is stored already, so a failing subscriber is only logged."""
    with _lock:
        subscribers = list(_subscribers)
    for subscriber in subscribers:
        try:
            subscriber(queue)
        except Exception:  # a listener that went away (e.g. its event loop closed) must not fail the sender
            logger.exception("queue listener could not be told of a message sent to '%s'", queue)


class AnnouncingSender:
    """A `QueueSender` that announces the messages it sent to the queues in `announce`."""

    def __init__(self, sender: QueueSender, *, announce: Collection[str]) -> None:
        self._sender = sender
        self._announce = frozenset(announce)

    def ensure_queue(self, queue: str) -> None:
        self._sender.ensure_queue(queue)

    def send(self, queue: str, text: str) -> None:
        self._sender.send(queue, text)
        if queue in self._announce:
            message_sent(queue)
