"""Azure Storage adapters (Blob, Table, Queue) behind `core.ports`, for Azure and Azurite alike.

SDK exceptions are translated here into `core.errors`; nothing from `azure.core` leaves this module.

Every SDK client here owns its pipeline, and all of an adapter's clients share one pooled transport.
The SDKs' `get_table_client`/`get_blob_client`/`get_queue_client` are not safe across threads: each
call builds a pipeline from the parent's policy objects and re-links their `next` pointers, so a
request in flight on another thread can find a policy without a successor (`AttributeError:
'_SansIOHTTPPolicyRunner' object has no attribute 'next'`). The run worker, log flusher and event
worker share these adapters across threads, so they never call those methods.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import (
    EdmType,
    EntityProperty,
    TableClient,
    TableServiceClient,
    TableTransactionError,
    UpdateMode,
)
from azure.storage.blob import BlobClient, BlobSasPermissions, BlobServiceClient, generate_blob_sas
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy
from requests import Session
from requests.adapters import HTTPAdapter

from core.blob_rest import RestBlobs
from core.errors import ConcurrentUpdate, Conflict, StorageError
from core.ports import BlobInfo, BlobRange, Entity, TableStore
from core.queue_rest import RestQueueSender
from core.storage_http import shared_key_access
from core.table_rest import RestTableStore

P = ParamSpec("P")
T = TypeVar("T")

# Short timeouts keep a dead storage account from hanging requests; the SDK still retries. Environment
# proxy settings are not consulted: reading them costs ~0.5 ms of CPU on every storage call, and the
# Functions platform uses none (set HTTP(S)_PROXY-aware transports here if a deployment ever needs one).
_TRANSPORT_OPTIONS: dict[str, Any] = {"connection_timeout": 10, "read_timeout": 60, "use_env_settings": False}
_SINGLE_PUT_BYTES = 4 << 20  # larger blobs go up in blocks through the SDK
_POOLED_CONNECTIONS = 64  # per host: enough for every worker thread and the log flusher at once


def _shared_transport() -> RequestsTransport:
    session = Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=_POOLED_CONNECTIONS)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=False, **_TRANSPORT_OPTIONS)


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
        self._connection = connection_string
        self._transport = _shared_transport()
        self._service = BlobServiceClient.from_connection_string(connection_string, transport=self._transport)
        self._known_containers: set[str] = set()
        # A run's blob calls go through the lean REST client when the account key is known.
        access = shared_key_access(connection_string, "blob")
        self._rest = RestBlobs(*access) if access else None

    def _blob(self, container: str, name: str) -> BlobClient:
        # ~0.2 ms to build; see the module docstring for why not `get_blob_client`.
        return BlobClient.from_connection_string(self._connection, container, name, transport=self._transport)

    @_translate("create container")
    def ensure_container(self, container: str) -> None:
        if container in self._known_containers:
            return
        with contextlib.suppress(ResourceExistsError):
            self._service.create_container(container)
        self._known_containers.add(container)

    @_translate("create upload URL")
    def upload_url(self, container: str, name: str, *, expires: datetime) -> str:
        blob = self._blob(container, name)
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
        if self._rest is not None:
            return self._rest.info(container, name)
        try:
            props = self._blob(container, name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return BlobInfo(size=int(props.size), metadata=dict(props.metadata or {}))

    def read_chunks(self, container: str, name: str, *, chunk_size: int = 4 << 20) -> Iterator[bytes]:
        offset = 0
        if self._rest is not None:  # one call for most contexts; larger ones continue in parallel below
            first = self._rest.read_range(container, name, 0, chunk_size)
            if first is None:
                raise StorageError(f"blob {container}/{name} disappeared while reading it")
            yield first.data
            offset = len(first.data)
            if offset >= first.total_size:
                return
        try:
            downloader = self._blob(container, name).download_blob(offset=offset or None, max_concurrency=2)
            yield from downloader.chunks()
        except ResourceNotFoundError as error:
            raise StorageError(f"blob {container}/{name} disappeared while reading it") from error
        except AzureError as error:
            raise StorageError(f"storage read of {container}/{name} failed: {type(error).__name__}") from error

    @_translate("read blob range")
    def read_range(self, container: str, name: str, offset: int, length: int) -> BlobRange | None:
        if self._rest is not None:
            return self._rest.read_range(container, name, offset, length)
        blob = self._blob(container, name)
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
        if self._rest is not None and len(data) <= _SINGLE_PUT_BYTES:
            self._rest.put(container, name, data, dict(metadata or {}))
            return
        self._blob(container, name).upload_blob(data, overwrite=True, metadata=dict(metadata or {}))

    @_translate("read blob")
    def get(self, container: str, name: str) -> bytes | None:
        if self._rest is not None:
            return self._rest.get(container, name)
        try:
            return self._blob(container, name).download_blob().readall()
        except ResourceNotFoundError:
            return None

    @_translate("delete blob")
    def delete(self, container: str, name: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._blob(container, name).delete_blob()

    @_translate("create append blob")
    def open_append_blob(self, container: str, name: str) -> int:
        if self._rest is not None:
            return self._rest.open_append_blob(container, name)
        found = self.info(container, name)
        if found is not None:
            return found.size
        self._blob(container, name).create_append_blob()
        return 0

    @_translate("append to blob")
    def append(self, container: str, name: str, data: bytes) -> int | None:
        if self._rest is not None:
            return self._rest.append(container, name, data)
        stored = self._blob(container, name).append_block(data)
        offset = str(stored.get("blob_append_offset") or "")
        return int(offset) if offset.isdigit() else None

    @_translate("set blob metadata")
    def set_metadata(self, container: str, name: str, metadata: Mapping[str, str]) -> None:
        if self._rest is not None:
            self._rest.set_metadata(container, name, dict(metadata))
        else:
            self._blob(container, name).set_blob_metadata(dict(metadata))


def _entity(raw: Any) -> Entity:
    # The SDK hands 64-bit integers back wrapped in an EntityProperty; the port deals in plain values.
    properties = {name: value.value if isinstance(value, EntityProperty) else value for name, value in raw.items()}
    return Entity(properties=properties, etag=str(raw.metadata.get("etag", "")))


def _row(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The SDK refuses plain ints beyond 32 bits; send those as Edm.Int64 explicitly."""
    return {
        name: (value, EdmType.INT64)
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**31) <= value < 2**31
        else value
        for name, value in properties.items()
    }


def create_table_store(connection_string: str) -> TableStore:
    """The lean REST adapter when the account key is known (see `core.table_rest`), else the SDK's."""
    access = shared_key_access(connection_string, "table")
    return RestTableStore(*access) if access else AzureTableStore(connection_string)


class AzureTableStore:
    def __init__(self, connection_string: str) -> None:
        self._connection = connection_string
        self._transport = _shared_transport()
        self._service = TableServiceClient.from_connection_string(connection_string, transport=self._transport)
        self._known_tables: set[str] = set()
        self._clients: dict[str, TableClient] = {}

    def _table(self, table: str) -> TableClient:
        client = self._clients.get(table)
        if client is None:
            # Two threads may both build one; each is independent, and the dict keeps one of them.
            built = TableClient.from_connection_string(self._connection, table, transport=self._transport)
            client = self._clients.setdefault(table, built)
        return client

    @_translate("create table")
    def ensure_table(self, table: str) -> None:
        if table in self._known_tables:
            return
        self._service.create_table_if_not_exists(table)
        self._known_tables.add(table)

    @_translate("read table row")
    def get(self, table: str, partition: str, row: str) -> Entity | None:
        try:
            raw = self._table(table).get_entity(partition, row)
        except ResourceNotFoundError:
            return None
        return _entity(raw)

    @_translate("insert table row")
    def insert(self, table: str, properties: Mapping[str, Any]) -> str:
        try:
            result = self._table(table).create_entity(_row(properties))
        except ResourceExistsError as error:
            raise Conflict(
                f"{table} row {properties.get('PartitionKey')}/{properties.get('RowKey')} already exists"
            ) from error
        return str(result.get("etag", ""))

    @_translate("update table row")
    def replace(self, table: str, properties: Mapping[str, Any], *, etag: str) -> str:
        try:
            result = self._table(table).update_entity(
                _row(properties),
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
        result = self._table(table).upsert_entity(_row(properties), mode=UpdateMode.REPLACE)
        return str(result.get("etag", ""))

    @_translate("delete table row")
    def delete(self, table: str, partition: str, row: str) -> None:
        self._table(table).delete_entity(partition, row)

    @_translate("write table rows in one transaction")
    def submit_batch(self, table: str, operations: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        if not operations:
            return
        actions: list[Any] = [
            ("create", _row(row)) if kind == "insert" else ("upsert", _row(row), {"mode": UpdateMode.REPLACE})
            for kind, row in operations
        ]
        try:
            self._table(table).submit_transaction(actions)
        except TableTransactionError as error:
            if str(getattr(error, "error_code", "")) == "EntityAlreadyExists" or "EntityAlreadyExists" in str(error):
                raise Conflict(f"{table}: a row of the batch already exists") from error
            raise

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
        pages = self._table(table).query_entities(
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
        self._connection = connection_string
        self._transport = _shared_transport()
        self._known_queues: set[str] = set()
        self._clients: dict[str, QueueClient] = {}
        # Messages go out through the lean REST sender when the account key is known (see queue_rest).
        access = shared_key_access(connection_string, "queue")
        self._rest = RestQueueSender(*access) if access else None

    def _client(self, queue: str) -> QueueClient:
        client = self._clients.get(queue)
        if client is None:
            built = QueueClient.from_connection_string(
                self._connection,
                queue,
                transport=self._transport,
                message_encode_policy=TextBase64EncodePolicy(),
                message_decode_policy=TextBase64DecodePolicy(),
            )
            client = self._clients.setdefault(queue, built)
        return client

    @_translate("create queue")
    def ensure_queue(self, queue: str) -> None:
        if queue in self._known_queues:
            return
        with contextlib.suppress(ResourceExistsError):
            self._client(queue).create_queue()
        self._known_queues.add(queue)

    @_translate("send queue message")
    def send(self, queue: str, text: str) -> None:
        if self._rest is not None:
            self._rest.send(queue, text)
        else:
            self._client(queue).send_message(text)
