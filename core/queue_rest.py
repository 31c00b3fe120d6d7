"""Lean Azure Storage queue calls over REST with Shared Key auth: the app's sender and the host's client.

A call costs a few hundred microseconds of CPU instead of the SDK's ~2.5 ms (see `core.storage_http`).
Queue creation in the app still goes through the SDK; the local Functions host uses `RestQueueClient`
for everything its queue listener does.
"""

from __future__ import annotations

import base64
from xml.sax.saxutils import escape

from core.storage_http import Reply, SharedKey, SharedKeyRest, failure


class RestQueueClient(SharedKeyRest):
    """Queue calls for one storage account, each thread on its own kept-alive connection."""

    def put_message(self, queue: str, text: str) -> Reply:
        """Store `text` exactly as given (callers choose the encoding)."""
        body = f"<QueueMessage><MessageText>{escape(text)}</MessageText></QueueMessage>".encode()
        return self.call(
            "POST",
            f"{queue}/messages",
            body=body,
            headers={"Content-Type": "application/xml"},
            operation="send queue message",
        )


class RestQueueSender:
    """`QueueSender.send` for one storage account; `ensure_queue` is left to the SDK adapter."""

    def __init__(self, endpoint: str, key: SharedKey) -> None:
        self._client = RestQueueClient(endpoint, key)

    def close(self) -> None:
        self._client.close()

    def send(self, queue: str, text: str) -> None:
        """Send `text` base64-encoded, as the Functions queue trigger expects."""
        reply = self._client.put_message(queue, base64.b64encode(text.encode()).decode())
        if reply.status != 201:
            raise failure("send queue message", reply)
