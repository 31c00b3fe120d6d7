"""In-memory implementations of `core.ports` for unit and functional tests.

They keep the same contracts as the Azure adapters (ETags, conflicts, row-key ordering) so code tested
against them behaves the same on Azurite; integration tests cover the real adapters.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from core.errors import ConcurrentUpdate, Conflict, StorageError
from core.ports import BlobInfo, BlobRange, Entity


class MemoryBlobStore:
    def __init__(self) -> None:
        self._blobs: dict[tuple[str, str], bytearray] = {}
        self._metadata: dict[tuple[str, str], dict[str, str]] = {}
        self._containers: set[str] = set()
        self._lock = threading.Lock()

    def ensure_container(self, container: str) -> None:
        self._containers.add(container)

    def upload_url(self, container: str, name: str, *, expires: datetime) -> str:
        return f"memory://{container}/{name}?expires={expires.isoformat()}"

    def info(self, container: str, name: str) -> BlobInfo | None:
        with self._lock:
            data = self._blobs.get((container, name))
            if data is None:
                return None
            return BlobInfo(size=len(data), metadata=dict(self._metadata[(container, name)]))

    def read_chunks(self, container: str, name: str, *, chunk_size: int = 4 << 20) -> Iterator[bytes]:
        with self._lock:
            data = bytes(self._blobs.get((container, name)) or b"")
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    def read_range(self, container: str, name: str, offset: int, length: int) -> BlobRange | None:
        with self._lock:
            data = self._blobs.get((container, name))
            if data is None:
                return None
            return BlobRange(
                data=bytes(data[offset : offset + max(length, 0)]),
                total_size=len(data),
                metadata=dict(self._metadata[(container, name)]),
            )

    def put(self, container: str, name: str, data: bytes, *, metadata: Mapping[str, str] | None = None) -> None:
        with self._lock:
            self._blobs[(container, name)] = bytearray(data)
            self._metadata[(container, name)] = dict(metadata or {})

    def get(self, container: str, name: str) -> bytes | None:
        with self._lock:
            data = self._blobs.get((container, name))
            return None if data is None else bytes(data)

    def delete(self, container: str, name: str) -> None:
        with self._lock:
            self._blobs.pop((container, name), None)
            self._metadata.pop((container, name), None)

    def open_append_blob(self, container: str, name: str) -> int:
        with self._lock:
            existing = self._blobs.setdefault((container, name), bytearray())
            self._metadata.setdefault((container, name), {})
            return len(existing)

    def append(self, container: str, name: str, data: bytes) -> int | None:
        with self._lock:
            blob = self._blobs.get((container, name))
            if blob is None:
                raise StorageError(f"append blob {container}/{name} does not exist")
            offset = len(blob)
            blob.extend(data)
            return offset

    def set_metadata(self, container: str, name: str, metadata: Mapping[str, str]) -> None:
        with self._lock:
            if (container, name) not in self._blobs:
                raise StorageError(f"blob {container}/{name} does not exist")
            self._metadata[(container, name)] = dict(metadata)


class MemoryTableStore:
    def __init__(self) -> None:
        self._rows: dict[str, dict[tuple[str, str], tuple[dict[str, Any], str]]] = {}
        self._etags = itertools.count(1)
        self._lock = threading.Lock()

    def ensure_table(self, table: str) -> None:
        with self._lock:
            self._rows.setdefault(table, {})

    def _table(self, table: str) -> dict[tuple[str, str], tuple[dict[str, Any], str]]:
        if table not in self._rows:
            raise StorageError(f"table {table} does not exist")
        return self._rows[table]

    def _new_etag(self) -> str:
        return f'W/"{next(self._etags)}"'

    def get(self, table: str, partition: str, row: str) -> Entity | None:
        with self._lock:
            found = self._table(table).get((partition, row))
            return None if found is None else Entity(properties=dict(found[0]), etag=found[1])

    def insert(self, table: str, properties: Mapping[str, Any]) -> str:
        key = (str(properties["PartitionKey"]), str(properties["RowKey"]))
        with self._lock:
            rows = self._table(table)
            if key in rows:
                raise Conflict(f"{table} row {key[0]}/{key[1]} already exists")
            etag = self._new_etag()
            rows[key] = (dict(properties), etag)
            return etag

    def replace(self, table: str, properties: Mapping[str, Any], *, etag: str) -> str:
        key = (str(properties["PartitionKey"]), str(properties["RowKey"]))
        with self._lock:
            rows = self._table(table)
            current = rows.get(key)
            if current is None or current[1] != etag:
                raise ConcurrentUpdate(f"{table} row {key[0]}/{key[1]} changed concurrently")
            new_etag = self._new_etag()
            rows[key] = (dict(properties), new_etag)
            return new_etag

    def upsert(self, table: str, properties: Mapping[str, Any]) -> str:
        key = (str(properties["PartitionKey"]), str(properties["RowKey"]))
        with self._lock:
            etag = self._new_etag()
            self._table(table)[key] = (dict(properties), etag)
            return etag

    def delete(self, table: str, partition: str, row: str) -> None:
        with self._lock:
            self._table(table).pop((partition, row), None)

    def submit_batch(self, table: str, operations: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        partitions = {str(row["PartitionKey"]) for _, row in operations}
        if len(partitions) > 1 or len(operations) > 100:
            raise StorageError("a batch holds at most 100 rows of one partition")
        with self._lock:
            rows = self._table(table)
            for kind, row in operations:
                if kind == "insert" and (str(row["PartitionKey"]), str(row["RowKey"])) in rows:
                    raise Conflict(f"{table}: a row of the batch already exists")
            for _, row in operations:
                rows[(str(row["PartitionKey"]), str(row["RowKey"]))] = (dict(row), self._new_etag())

    def query(
        self,
        table: str,
        partition: str,
        *,
        row_from: str | None = None,
        row_to: str | None = None,
        limit: int | None = None,
    ) -> list[Entity]:
        with self._lock:
            keys = sorted(k for k in self._table(table) if k[0] == partition)
            rows = [
                Entity(properties=dict(self._table(table)[k][0]), etag=self._table(table)[k][1])
                for k in keys
                if (row_from is None or k[1] >= row_from) and (row_to is None or k[1] < row_to)
            ]
        return rows[:limit] if limit is not None else rows


class MemoryQueueSender:
    def __init__(self) -> None:
        self.messages: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def ensure_queue(self, queue: str) -> None:
        with self._lock:
            self.messages.setdefault(queue, [])

    def send(self, queue: str, text: str) -> None:
        with self._lock:
            self.messages.setdefault(queue, []).append(text)

    def drain(self, queue: str) -> list[str]:
        with self._lock:
            messages, self.messages[queue] = self.messages.get(queue, []), []
            return messages
