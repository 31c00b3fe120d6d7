"""The narrow interfaces `core` needs from Azure Storage.

Only the calls Slipway makes, typed in our own terms. `core.azure_storage` implements them with the
Azure SDKs (Azure or Azurite); `core.memory_storage` implements them in memory for unit tests.
Implementations raise only `core.errors` types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class BlobInfo:
    size: int
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BlobRange:
    data: bytes
    total_size: int
    metadata: Mapping[str, str]


class BlobStore(Protocol):
    def ensure_container(self, container: str) -> None: ...

    def upload_url(self, container: str, name: str, *, expires: datetime) -> str:
        """A URL a client can PUT blocks to without other credentials (a write-only SAS)."""
        ...

    def info(self, container: str, name: str) -> BlobInfo | None: ...

    def read_chunks(self, container: str, name: str, *, chunk_size: int = 4 << 20) -> Iterator[bytes]: ...

    def read_range(self, container: str, name: str, offset: int, length: int) -> BlobRange | None: ...

    def put(self, container: str, name: str, data: bytes, *, metadata: Mapping[str, str] | None = None) -> None: ...

    def get(self, container: str, name: str) -> bytes | None: ...

    def delete(self, container: str, name: str) -> None: ...

    def open_append_blob(self, container: str, name: str) -> int:
        """Create the append blob unless it exists; returns its size (0 when created now)."""
        ...

    def append(self, container: str, name: str, data: bytes) -> int | None:
        """Append `data`; returns the offset where it was stored, or None if the service did not say."""
        ...

    def set_metadata(self, container: str, name: str, metadata: Mapping[str, str]) -> None: ...


@dataclass(frozen=True)
class Entity:
    """A table row: its properties (including PartitionKey/RowKey) and the concurrency token."""

    properties: Mapping[str, Any]
    etag: str


class TableStore(Protocol):
    def ensure_table(self, table: str) -> None: ...

    def get(self, table: str, partition: str, row: str) -> Entity | None: ...

    def insert(self, table: str, properties: Mapping[str, Any]) -> str:
        """Create a row; `Conflict` if it exists. Returns the new ETag."""
        ...

    def replace(self, table: str, properties: Mapping[str, Any], *, etag: str) -> str:
        """Replace a row only if unchanged since `etag`; `ConcurrentUpdate` otherwise."""
        ...

    def upsert(self, table: str, properties: Mapping[str, Any]) -> str: ...

    def delete(self, table: str, partition: str, row: str) -> None: ...

    def submit_batch(self, table: str, operations: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Apply up to 100 `("insert" | "upsert", row)` operations on one partition, all or none.

        `Conflict` when an insert finds its row existing (nothing is written then).
        """
        ...

    def query(
        self,
        table: str,
        partition: str,
        *,
        row_from: str | None = None,
        row_to: str | None = None,
        limit: int | None = None,
    ) -> list[Entity]:
        """Rows of one partition in row-key order, `row_from <= RowKey < row_to`."""
        ...


class QueueSender(Protocol):
    def ensure_queue(self, queue: str) -> None: ...

    def send(self, queue: str, text: str) -> None:
        """Send one message, base64-encoded as the Functions queue trigger expects."""
        ...
