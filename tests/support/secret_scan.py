"""Search a whole storage account for secret values in any usual encoding: "no secret left behind".

    findings = scan_storage(stack.storage, {"registry-password": "s3cr3t-…", "set-secret": "…"})
    assert not findings, "\\n".join(map(str, findings))      # or: assert_no_secrets(stack.storage, secrets)

What is read (with the same SDKs the service uses):
- blobs: every container (and its metadata), every blob with its snapshots, its metadata and its
  content (block, append and page blobs alike); gzip content (context archives) is also searched
  unpacked; uncommitted blobs are listed by name, their blocks cannot be read back;
- tables: every table, every entity, every property name and value;
- queues: every queue (and its metadata) and every visible message. `peek` shows at most 32 messages,
  so a longer queue is read by receiving its messages for a minute and then making them visible again
  at once: their dequeue count goes up by one. Messages that are invisible during the scan (being
  processed, or sent with a delay) cannot be read by anyone and are not searched.

Every text is also searched after decoding: a whole text that is base64 (queue messages usually are),
and the base64 strings inside a JSON document (a run's `encodedTaskContent`), up to three layers.
The forms searched for come from `core.log_masking.secret_forms`: the value, its base64 (also inside
a longer base64 text), its JSON-escaped and URL-encoded forms and each line of a multi-line value;
encoded forms shorter than `MIN_ENCODED_LENGTH` are skipped (they match binary data by chance), so
use random test values of 16 characters or more.

A `Finding` says where, which secret (by id) and in what form; it never holds the value.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.queue import QueueClient, QueueServiceClient

from core.log_masking import secret_forms

MIN_SECRET_LENGTH = 6
# Encoded fragments shorter than this (base64 pieces of a short value) turn up by chance in binary blobs.
MIN_ENCODED_LENGTH = 8
PEEK_LIMIT = 32
_MAX_LAYERS = 3
_MIN_BASE64_LENGTH = 8
_RECEIVE_VISIBILITY_SECONDS = 60
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, order=True)
class Finding:
    """One place a secret was found. `str(finding)` is a line for an assertion message."""

    service: str  # "blob", "table" or "queue"
    where: str  # container/blob, table (PartitionKey, RowKey) or queue and message id
    part: str  # "content", "metadata 'x'", "property 'Request'", "name", … with any decoding applied
    secret_id: str
    form: str  # "plain", "base64", "JSON-escaped", "URL-encoded", "derived"

    def __str__(self) -> str:
        return f"{self.service} {self.where}: {self.part} holds secret {self.secret_id!r} ({self.form})"


class SecretMatcher:
    """Finds which secrets (by id) occur in bytes, and in which form."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._forms: list[tuple[str, bytes, str]] = []
        for secret_id, value in secrets.items():
            if len(value) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"secret {secret_id!r} is shorter than {MIN_SECRET_LENGTH} characters; searching for it would "
                    "find it in unrelated data, so give the test a longer value"
                )
            labels = _labelled_forms(value)
            raw = value.encode("utf-8")
            self._forms.extend(
                (secret_id, form, labels.get(form, "derived"))
                for form in secret_forms(value)
                if form == raw or len(form) >= MIN_ENCODED_LENGTH
            )

    def find(self, data: bytes) -> list[tuple[str, str]]:
        """`(secret id, form)` pairs found in `data`, each once, in a stable order."""
        found = {(secret_id, label) for secret_id, form, label in self._forms if form in data}
        return sorted(found)


def _labelled_forms(value: str) -> dict[bytes, str]:
    raw = value.encode("utf-8")
    labels = {
        base64.b64encode(raw): "base64",
        json.dumps(value)[1:-1].encode("utf-8"): "JSON-escaped",
        json.dumps(value, ensure_ascii=False)[1:-1].encode("utf-8"): "JSON-escaped",
        quote(value, safe="").encode("utf-8"): "URL-encoded",
    }
    labels[raw] = "plain"
    return labels


def scan_bytes(matcher: SecretMatcher, data: bytes, *, service: str, where: str, part: str) -> list[Finding]:
    """Findings in `data` and in what it decodes to (gzip, base64, base64 strings inside JSON)."""
    findings: list[Finding] = []
    for layer, content in _layers(data, part, depth=0):
        findings.extend(Finding(service, where, layer, secret_id, form) for secret_id, form in matcher.find(content))
    return findings


def _layers(data: bytes, part: str, *, depth: int) -> Iterator[tuple[str, bytes]]:
    yield part, data
    if depth >= _MAX_LAYERS:
        return
    if data.startswith(_GZIP_MAGIC):
        try:
            unpacked = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            unpacked = None
        if unpacked is not None:
            yield from _layers(unpacked, f"{part}, gunzipped", depth=depth + 1)
        return
    decoded = _base64(data)
    if decoded is not None:
        yield from _layers(decoded, f"{part}, base64-decoded", depth=depth + 1)
        return
    for path, text in _json_strings(data):
        inner = _base64(text.encode("utf-8"))
        if inner is not None:
            yield from _layers(inner, f"{part}, base64-decoded JSON string {path}", depth=depth + 1)


def _base64(data: bytes) -> bytes | None:
    text = data.strip()
    if len(text) < _MIN_BASE64_LENGTH or len(text) % 4:
        return None
    try:
        return base64.b64decode(text.replace(b"-", b"+").replace(b"_", b"/"), validate=True)
    except (binascii.Error, ValueError):
        return None


def _json_strings(data: bytes) -> Iterator[tuple[str, str]]:
    stripped = data.lstrip()
    if not stripped.startswith((b"{", b"[")):
        return
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return
    stack: list[tuple[str, Any]] = [("$", document)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            yield path, node
        elif isinstance(node, dict):
            stack.extend((f"{path}.{key}", value) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((f"{path}[{index}]", value) for index, value in enumerate(node))


def _text(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    inner = getattr(value, "value", value)  # azure-data-tables EntityProperty
    if isinstance(inner, bytes | bytearray):
        return bytes(inner)
    return str(inner).encode("utf-8")


# --- the three services ------------------------------------------------------------------------------


def scan_blobs(connection_string: str, matcher: SecretMatcher) -> list[Finding]:
    findings: list[Finding] = []
    with BlobServiceClient.from_connection_string(connection_string) as service:
        for container in service.list_containers(include_metadata=True):
            name = str(container.name)
            findings.extend(scan_bytes(matcher, name.encode(), service="blob", where=name, part="container name"))
            findings.extend(_scan_mapping(matcher, "blob", name, "container metadata", container.metadata or {}))
            findings.extend(_scan_container(service.get_container_client(name), matcher))
    return findings


def _scan_container(container: ContainerClient, matcher: SecretMatcher) -> list[Finding]:
    findings: list[Finding] = []
    for blob in _list_blobs(container):
        snapshot = blob.snapshot
        where = f"{container.container_name}/{blob.name}" + (f" (snapshot {snapshot})" if snapshot else "")
        findings.extend(scan_bytes(matcher, str(blob.name).encode(), service="blob", where=where, part="name"))
        findings.extend(_scan_mapping(matcher, "blob", where, "metadata", blob.metadata or {}))
        findings.extend(_scan_mapping(matcher, "blob", where, "tag", getattr(blob, "tags", None) or {}))
        try:
            content = container.get_blob_client(blob.name, snapshot=snapshot).download_blob().readall()
        except ResourceNotFoundError:
            continue  # an uncommitted blob (no content yet) or one deleted while we looked
        findings.extend(scan_bytes(matcher, content, service="blob", where=where, part="content"))
    return findings


def _list_blobs(container: ContainerClient) -> list[Any]:
    try:
        return list(container.list_blobs(include=["metadata", "snapshots", "uncommittedblobs", "tags"]))
    except HttpResponseError:
        # An emulator without blob index tags: list what it can.
        return list(container.list_blobs(include=["metadata", "snapshots", "uncommittedblobs"]))


def scan_tables(connection_string: str, matcher: SecretMatcher) -> list[Finding]:
    findings: list[Finding] = []
    with TableServiceClient.from_connection_string(connection_string) as service:
        for table in service.list_tables():
            name = str(table.name)
            findings.extend(scan_bytes(matcher, name.encode(), service="table", where=name, part="name"))
            with service.get_table_client(name) as client:
                for entity in client.list_entities():
                    where = f"{name} (PartitionKey={entity.get('PartitionKey')!r}, RowKey={entity.get('RowKey')!r})"
                    for key, value in entity.items():
                        part = f"property {key!r}"
                        findings.extend(scan_bytes(matcher, key.encode(), service="table", where=where, part=part))
                        findings.extend(scan_bytes(matcher, _text(value), service="table", where=where, part=part))
    return findings


def scan_queues(connection_string: str, matcher: SecretMatcher) -> list[Finding]:
    findings: list[Finding] = []
    with QueueServiceClient.from_connection_string(connection_string) as service:
        for queue in service.list_queues(include_metadata=True):
            name = str(queue.name)
            findings.extend(scan_bytes(matcher, name.encode(), service="queue", where=name, part="name"))
            findings.extend(_scan_mapping(matcher, "queue", name, "metadata", queue.metadata or {}))
            with service.get_queue_client(name) as client:
                for message_id, content in _queue_messages(client):
                    where = f"{name} message {message_id}"
                    findings.extend(scan_bytes(matcher, content, service="queue", where=where, part="content"))
    return findings


def _queue_messages(client: QueueClient) -> list[tuple[str, bytes]]:
    peeked = client.peek_messages(max_messages=PEEK_LIMIT)
    if len(peeked) < PEEK_LIMIT:
        return [(str(message.id), _text(message.content)) for message in peeked]
    received = []
    try:
        while True:
            batch = list(
                client.receive_messages(
                    messages_per_page=PEEK_LIMIT,
                    max_messages=PEEK_LIMIT,
                    visibility_timeout=_RECEIVE_VISIBILITY_SECONDS,
                )
            )
            if not batch:
                break
            received.extend(batch)
    finally:
        for message in received:
            client.update_message(message, pop_receipt=message.pop_receipt, visibility_timeout=0)
    return [(str(message.id), _text(message.content)) for message in received]


def _scan_mapping(
    matcher: SecretMatcher, service: str, where: str, what: str, values: Mapping[str, Any]
) -> list[Finding]:
    findings: list[Finding] = []
    for key, value in values.items():
        part = f"{what} {key!r}"
        findings.extend(scan_bytes(matcher, str(key).encode(), service=service, where=where, part=part))
        findings.extend(scan_bytes(matcher, _text(value), service=service, where=where, part=part))
    return findings


def scan_storage(connection_string: str, secrets: Mapping[str, str]) -> list[Finding]:
    """Every place in the account (blobs, tables, queues) where one of `secrets` (id → value) occurs."""
    matcher = SecretMatcher(secrets)
    findings = [
        *scan_blobs(connection_string, matcher),
        *scan_tables(connection_string, matcher),
        *scan_queues(connection_string, matcher),
    ]
    return sorted(set(findings))


def assert_no_secrets(connection_string: str, secrets: Mapping[str, str]) -> None:
    """Fail with one line per finding (ids and places, never values) if any secret is stored."""
    findings = scan_storage(connection_string, secrets)
    if findings:
        lines = "\n".join(f"  {finding}" for finding in findings)
        raise AssertionError(f"{len(findings)} secret occurrence(s) in storage:\n{lines}")
