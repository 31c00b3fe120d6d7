"""Azure Storage adapters (Blob, Table, Queue) behind `core.ports`, for Azure and Azurite alike.

SDK exceptions are translated here into `core.errors`; nothing from `azure.core` leaves this module.
Clients are created once per adapter and reused (they pool connections).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableServiceClient, UpdateMode
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas
from azure.storage.queue import QueueServiceClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from core.errors import ConcurrentUpdate, Conflict, StorageError
from core.ports import BlobInfo, BlobRange, Entity

P = ParamSpec("P")
T = TypeVar("T")

# Short timeouts keep a dead storage account from hanging requests; the SDK still retries.
_CLIENT_OPTIONS: dict[str, Any] = {"connection_timeout": 10, "read_timeout": 60}


def _translate(operation: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Turn SDK errors into `StorageError` naming the operation (never credentials)."""

    def decorate(function: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return function(*args, **kwargs)
            except (Conflict, StorageError):
                raise
            except AzureError as error:
                reason = getattr(error, "reason", None) or type(error).__name__
                raise StorageError(f"storage {operation} failed: {reason}") from error

        return wrapper

    return decorate


class AzureBlobStore:
    def __init__(self, connection_string: str) -> None:
        self._service = BlobServiceClient.from_connection_string(connection_string, **_CLIENT_OPTIONS)
        self._known_containers: set[str] = set()

    @_translate("create container")
    def ensure_container(self, container: str) -> None:
        if container in self._known_containers:
            return
        with contextlib.suppress(ResourceExistsError):
            self._service.create_container(container)
        self._known_containers.add(container)

    @_translate("create upload URL")
    def upload_url(self, container: str, name: str, *, expires: datetime) -> str:
        blob = self._service.get_blob_client(container, name)
        permission = BlobSasPermissions(create=True, write=True)
        account_key = getattr(self._service.credential, "account_key", None)
        if account_key:
            sas = generate_blob_sas(
                self._service.account_name or "",
                container,
                name,
                account_key=account_key,
                permission=permission,
                expiry=expires,
            )
        else:
            # Identity-based accounts (no key) sign with a user delegation key instead.
            start = datetime.now(UTC) - timedelta(minutes=5)
            delegation = self._service.get_user_delegation_key(start, expires)
            sas = generate_blob_sas(
                self._service.account_name or "",
                container,
                name,
                user_delegation_key=delegation,
                permission=permission,
                expiry=expires,
            )
        return f"{blob.url}?{sas}"

    @_translate("read blob properties")
    def info(self, container: str, name: str) -> BlobInfo | None:
        try:
            props = self._service.get_blob_client(container, name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return BlobInfo(size=int(props.size), metadata=dict(props.metadata or {}))

    def read_chunks(self, container: str, name: str, *, chunk_size: int = 4 << 20) -> Iterator[bytes]:
        try:
            downloader = self._service.get_blob_client(container, name).download_blob(max_concurrency=2)
            yield from downloader.chunks()
        except ResourceNotFoundError as error:
            raise StorageError(f"blob {container}/{name} disappeared while reading it") from error
        except AzureError as error:
            raise StorageError(f"storage read of {container}/{name} failed: {type(error).__name__}") from error

    @_translate("read blob range")
    def read_range(self, container: str, name: str, offset: int, length: int) -> BlobRange | None:
        blob = self._service.get_blob_client(container, name)
        try:
            props = blob.get_blob_properties()
        except ResourceNotFoundError:
            return None
        size = int(props.size)
        data = b""
        if offset < size and length > 0:
            data = blob.download_blob(offset=offset, length=min(length, size - offset)).readall()
        return BlobRange(data=data, total_size=size, metadata=dict(props.metadata or {}))

    @_translate("write blob")
    def put(self, container: str, name: str, data: bytes, *, metadata: Mapping[str, str] | None = None) -> None:
        self._service.get_blob_client(container, name).upload_blob(data, overwrite=True, metadata=dict(metadata or {}))

    @_translate("read blob")
    def get(self, container: str, name: str) -> bytes | None:
        try:
            return self._service.get_blob_client(container, name).download_blob().readall()
        except ResourceNotFoundError:
            return None

    @_translate("delete blob")
    def delete(self, container: str, name: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._service.get_blob_client(container, name).delete_blob()

    @_translate("create append blob")
    def create_append_blob(self, container: str, name: str) -> None:
        self._service.get_blob_client(container, name).create_append_blob()

    @_translate("append to blob")
    def append(self, container: str, name: str, data: bytes) -> None:
        self._service.get_blob_client(container, name).append_block(data)

    @_translate("set blob metadata")
    def set_metadata(self, container: str, name: str, metadata: Mapping[str, str]) -> None:
        self._service.get_blob_client(container, name).set_blob_metadata(dict(metadata))


def _entity(raw: Any) -> Entity:
    properties = dict(raw)
    return Entity(properties=properties, etag=str(raw.metadata.get("etag", "")))


class AzureTableStore:
    def __init__(self, connection_string: str) -> None:
        self._service = TableServiceClient.from_connection_string(connection_string, **_CLIENT_OPTIONS)
        self._known_tables: set[str] = set()

    @_translate("create table")
    def ensure_table(self, table: str) -> None:
        if table in self._known_tables:
            return
        self._service.create_table_if_not_exists(table)
        self._known_tables.add(table)

    @_translate("read table row")
    def get(self, table: str, partition: str, row: str) -> Entity | None:
        try:
            raw = self._service.get_table_client(table).get_entity(partition, row)
        except ResourceNotFoundError:
            return None
        return _entity(raw)

    @_translate("insert table row")
    def insert(self, table: str, properties: Mapping[str, Any]) -> str:
        try:
            result = self._service.get_table_client(table).create_entity(dict(properties))
        except ResourceExistsError as error:
            raise Conflict(
                f"{table} row {properties.get('PartitionKey')}/{properties.get('RowKey')} already exists"
            ) from error
        return str(result.get("etag", ""))

    @_translate("update table row")
    def replace(self, table: str, properties: Mapping[str, Any], *, etag: str) -> str:
        try:
            result = self._service.get_table_client(table).update_entity(
                dict(properties),
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError) as error:
            raise ConcurrentUpdate(
                f"{table} row {properties.get('PartitionKey')}/{properties.get('RowKey')} changed concurrently"
            ) from error
        return str(result.get("etag", ""))

    @_translate("upsert table row")
    def upsert(self, table: str, properties: Mapping[str, Any]) -> str:
        result = self._service.get_table_client(table).upsert_entity(dict(properties), mode=UpdateMode.REPLACE)
        return str(result.get("etag", ""))

    @_translate("delete table row")
    def delete(self, table: str, partition: str, row: str) -> None:
        self._service.get_table_client(table).delete_entity(partition, row)

    @_translate("query table")
    def query(
        self,
        table: str,
        partition: str,
        *,
        row_from: str | None = None,
        row_to: str | None = None,
        limit: int | None = None,
    ) -> list[Entity]:
        clauses = ["PartitionKey eq @pk"]
        parameters: dict[str, Any] = {"pk": partition}
        if row_from is not None:
            clauses.append("RowKey ge @rfrom")
            parameters["rfrom"] = row_from
        if row_to is not None:
            clauses.append("RowKey lt @rto")
            parameters["rto"] = row_to
        pages = self._service.get_table_client(table).query_entities(
            " and ".join(clauses), parameters=parameters, results_per_page=limit or 1000
        )
        rows: list[Entity] = []
        for raw in pages:
            rows.append(_entity(raw))
            if limit is not None and len(rows) >= limit:
                break
        return rows


class AzureQueueSender:
    def __init__(self, connection_string: str) -> None:
        self._service = QueueServiceClient.from_connection_string(connection_string, **_CLIENT_OPTIONS)
        self._known_queues: set[str] = set()

    def _client(self, queue: str) -> Any:
        return self._service.get_queue_client(
            queue,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        )

    @_translate("create queue")
    def ensure_queue(self, queue: str) -> None:
        if queue in self._known_queues:
            return
        with contextlib.suppress(ResourceExistsError):
            self._client(queue).create_queue()
        self._known_queues.add(queue)

    @_translate("send queue message")
    def send(self, queue: str, text: str) -> None:
        self._client(queue).send_message(text)
