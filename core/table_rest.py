"""`TableStore` over the Table service REST API with Shared Key auth (Azure Storage and Azurite).

Every trigger event and run costs a dozen table calls; through the SDK each spends ~2.8 ms of CPU,
which made table I/O the bottleneck of the webhook intake (see `core.storage_http`). This adapter
speaks the calls `TableStore` needs — entity get/insert/replace/upsert/delete, partition range
queries with continuation, and entity group transactions (`$batch`) — as the Table service
documents them, with JSON (`odata=minimalmetadata`). Values map as the SDK maps them: str, bool,
int (Edm.Int32, or Edm.Int64 beyond 32 bits), float (Edm.Double), datetime (Edm.DateTime, UTC) and
bytes (Edm.Binary); None properties are left out. Reads drop `Timestamp` and OData annotations.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

from core.errors import ConcurrentUpdate, Conflict, StorageError
from core.ports import Entity
from core.storage_http import KeepAliveHttp, Reply, SharedKey, failure

_API_VERSION = "2019-02-02"
_JSON = "application/json"
_ACCEPT = "application/json;odata=minimalmetadata"
_INT32 = range(-(2**31), 2**31)
_PAGE = 1000  # the service's own maximum per response
_BATCH_LIMIT = 100


def _key_literal(value: str) -> str:
    """An OData string literal for a key, quoted for a URL path or query."""
    return quote("'" + value.replace("'", "''") + "'", safe="")


def _format_datetime(value: datetime) -> str:
    moment = value.astimezone(UTC) if value.tzinfo else value
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_datetime(text: str) -> datetime:
    body = text.rstrip("Z")
    whole, _, fraction = body.partition(".")
    moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return moment.replace(microsecond=int((fraction + "000000")[:6])) if fraction else moment


def encode_entity(properties: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, value in properties.items():
        if value is None:
            continue
        if isinstance(value, bool | str):
            body[name] = value
        elif isinstance(value, int):
            if value in _INT32:
                body[name] = value
            else:
                body[name], body[f"{name}@odata.type"] = str(value), "Edm.Int64"
        elif isinstance(value, float):
            body[name], body[f"{name}@odata.type"] = value, "Edm.Double"
        elif isinstance(value, datetime):
            body[name], body[f"{name}@odata.type"] = _format_datetime(value), "Edm.DateTime"
        elif isinstance(value, bytes):
            body[name], body[f"{name}@odata.type"] = base64.b64encode(value).decode(), "Edm.Binary"
        else:
            raise StorageError(f"table property {name!r} has unsupported type {type(value).__name__}")
    return body


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "Edm.Int64": int,
    "Edm.Double": float,
    "Edm.DateTime": _parse_datetime,
    "Edm.Binary": base64.b64decode,
}


def decode_entity(raw: Mapping[str, Any]) -> dict[str, Any]:
    types = {name[: -len("@odata.type")]: kind for name, kind in raw.items() if name.endswith("@odata.type")}
    properties: dict[str, Any] = {}
    for name, value in raw.items():
        if name.startswith("odata.") or "@odata." in name or name == "Timestamp":
            continue
        decoder = _DECODERS.get(types.get(name, ""))
        properties[name] = decoder(value) if decoder else value
    return properties


def _error_code(reply: Reply) -> str:
    try:
        error = json.loads(reply.body)["odata.error"]
    except (ValueError, KeyError, TypeError):
        return ""
    return str(error.get("code", ""))


class RestTableStore:
    def __init__(self, endpoint: str, key: SharedKey) -> None:
        self._http = KeepAliveHttp(endpoint)
        self._key = key
        self._known_tables: set[str] = set()

    def close(self) -> None:
        self._http.close()

    def _send(
        self,
        method: str,
        resource: str,
        *,
        query: str = "",
        body: bytes = b"",
        content_type: str = "",
        extra: Mapping[str, str] | None = None,
        operation: str,
    ) -> Reply:
        path = f"{self._http.base_path}/{resource}"
        date = formatdate(usegmt=True)
        # Table Shared Key: verb, Content-MD5, Content-Type, date, canonicalized resource (no query).
        string_to_sign = f"{method}\n\n{content_type}\n{date}\n/{self._key.account}{path}"
        headers = {
            "x-ms-date": date,
            "x-ms-version": _API_VERSION,
            "Accept": _ACCEPT,
            "DataServiceVersion": "3.0",
            "MaxDataServiceVersion": "3.0;NetFx",
            "Authorization": self._key.authorization(string_to_sign),
            "Content-Length": str(len(body)),
            **(extra or {}),
        }
        if content_type:
            headers["Content-Type"] = content_type
        target = f"{path}?{query}" if query else path
        return self._http.request(method, target, body=body, headers=headers, operation=operation)

    @staticmethod
    def _row_resource(table: str, partition: str, row: str) -> str:
        return f"{table}(PartitionKey={_key_literal(partition)},RowKey={_key_literal(row)})"

    def ensure_table(self, table: str) -> None:
        if table in self._known_tables:
            return
        body = json.dumps({"TableName": table}).encode()
        reply = self._send(
            "POST",
            "Tables",
            body=body,
            content_type=_JSON,
            extra={"Prefer": "return-no-content"},
            operation="create table",
        )
        if reply.status not in (201, 204) and not (reply.status == 409 and _error_code(reply) == "TableAlreadyExists"):
            raise failure("create table", reply)
        self._known_tables.add(table)

    def get(self, table: str, partition: str, row: str) -> Entity | None:
        reply = self._send("GET", self._row_resource(table, partition, row), operation="read table row")
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise failure("read table row", reply)
        raw = json.loads(reply.body)
        return Entity(properties=decode_entity(raw), etag=str(reply.headers.get("ETag") or raw.get("odata.etag", "")))

    def insert(self, table: str, properties: Mapping[str, Any]) -> str:
        body = json.dumps(encode_entity(properties)).encode()
        reply = self._send(
            "POST",
            table,
            body=body,
            content_type=_JSON,
            extra={"Prefer": "return-no-content"},
            operation="insert table row",
        )
        if reply.status == 409:
            raise Conflict(f"{table} row {properties.get('PartitionKey')}/{properties.get('RowKey')} already exists")
        if reply.status not in (201, 204):
            raise failure("insert table row", reply)
        return str(reply.headers.get("ETag", ""))

    def _put(self, table: str, properties: Mapping[str, Any], *, if_match: str | None, operation: str) -> Reply:
        resource = self._row_resource(table, str(properties["PartitionKey"]), str(properties["RowKey"]))
        extra = {"If-Match": if_match} if if_match is not None else None
        body = json.dumps(encode_entity(properties)).encode()
        return self._send("PUT", resource, body=body, content_type=_JSON, extra=extra, operation=operation)

    def replace(self, table: str, properties: Mapping[str, Any], *, etag: str) -> str:
        reply = self._put(table, properties, if_match=etag, operation="update table row")
        if reply.status in (404, 412):
            raise ConcurrentUpdate(
                f"{table} row {properties.get('PartitionKey')}/{properties.get('RowKey')} changed concurrently"
            )
        if reply.status != 204:
            raise failure("update table row", reply)
        return str(reply.headers.get("ETag", ""))

    def upsert(self, table: str, properties: Mapping[str, Any]) -> str:
        reply = self._put(table, properties, if_match=None, operation="upsert table row")
        if reply.status != 204:
            raise failure("upsert table row", reply)
        return str(reply.headers.get("ETag", ""))

    def delete(self, table: str, partition: str, row: str) -> None:
        resource = self._row_resource(table, partition, row)
        reply = self._send("DELETE", resource, extra={"If-Match": "*"}, operation="delete table row")
        if reply.status not in (204, 404):
            raise failure("delete table row", reply)

    def query(
        self,
        table: str,
        partition: str,
        *,
        row_from: str | None = None,
        row_to: str | None = None,
        limit: int | None = None,
    ) -> list[Entity]:
        clauses = [f"PartitionKey eq '{partition.replace(chr(39), chr(39) * 2)}'"]
        if row_from is not None:
            clauses.append(f"RowKey ge '{row_from.replace(chr(39), chr(39) * 2)}'")
        if row_to is not None:
            clauses.append(f"RowKey lt '{row_to.replace(chr(39), chr(39) * 2)}'")
        base_query = "$filter=" + quote(" and ".join(clauses), safe="")
        rows: list[Entity] = []
        continuation = ""
        while limit is None or len(rows) < limit:
            page = _PAGE if limit is None else min(_PAGE, limit - len(rows))
            reply = self._send(
                "GET", f"{table}()", query=f"{base_query}&$top={page}{continuation}", operation="query table"
            )
            if reply.status != 200:
                raise failure("query table", reply)
            for raw in json.loads(reply.body).get("value", []):
                rows.append(Entity(properties=decode_entity(raw), etag=str(raw.get("odata.etag", ""))))
            next_partition = reply.headers.get("x-ms-continuation-NextPartitionKey")
            if not next_partition:
                break
            continuation = f"&NextPartitionKey={quote(next_partition, safe='')}"
            next_row = reply.headers.get("x-ms-continuation-NextRowKey")
            if next_row:
                continuation += f"&NextRowKey={quote(next_row, safe='')}"
        return rows[:limit] if limit is not None else rows

    def submit_batch(self, table: str, operations: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        if not operations:
            return
        if len(operations) > _BATCH_LIMIT or len({str(row["PartitionKey"]) for _, row in operations}) > 1:
            raise StorageError(f"a batch holds at most {_BATCH_LIMIT} rows of one partition")
        batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
        body = _batch_body(self._http.origin + self._http.base_path, table, operations, batch, changeset)
        reply = self._send(
            "POST",
            "$batch",
            body=body,
            content_type=f"multipart/mixed; boundary={batch}",
            operation="write table rows in one transaction",
        )
        if reply.status != 202:
            raise failure("write table rows in one transaction", reply)
        _raise_for_batch_failure(table, reply.body)


def _batch_body(
    base_url: str, table: str, operations: Sequence[tuple[str, Mapping[str, Any]]], batch: str, changeset: str
) -> bytes:
    parts = [f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"]
    for index, (kind, row) in enumerate(operations):
        if kind == "insert":
            line = f"POST {base_url}/{table} HTTP/1.1"
        elif kind == "upsert":
            key = f"PartitionKey={_key_literal(str(row['PartitionKey']))},RowKey={_key_literal(str(row['RowKey']))}"
            line = f"PUT {base_url}/{table}({key}) HTTP/1.1"
        else:
            raise StorageError(f"unknown batch operation {kind!r}; use 'insert' or 'upsert'")
        entity = json.dumps(encode_entity(row))
        parts.append(
            f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"{line}\r\nContent-ID: {index + 1}\r\nContent-Type: {_JSON}\r\nAccept: {_ACCEPT}\r\n"
            f"Prefer: return-no-content\r\nDataServiceVersion: 3.0\r\n\r\n{entity}\r\n"
        )
    parts.append(f"--{changeset}--\r\n\r\n--{batch}--\r\n")
    return "".join(parts).encode()


def _raise_for_batch_failure(table: str, body: bytes) -> None:
    """A failed changeset answers 202 with one inner response carrying the failing status."""
    text = body.decode("utf-8", "replace")
    for line in text.splitlines():
        if not line.startswith("HTTP/1.1 "):
            continue
        status = int(line.split()[1])
        if status < 300:
            continue
        if "EntityAlreadyExists" in text:
            raise Conflict(f"{table}: a row of the batch already exists")
        detail = text[text.find(line) : text.find(line) + 300].replace("\r\n", " ")
        raise StorageError(f"storage write table rows in one transaction failed: {detail}")
