"""The storage secret scanner against a real Azurite: every place a value can hide is searched."""

from __future__ import annotations

import base64
import gzip
import io
import json
import secrets
import tarfile
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from tests.support.azurite import Azurite, start_azurite
from tests.support.secret_scan import PEEK_LIMIT, Finding, assert_no_secrets, scan_storage

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with start_azurite() as started:
        yield started


def secret_value() -> str:
    # Characters that JSON- and URL-encoding change, so each form differs from the value.
    return f's3cr3t/{secrets.token_hex(8)}+"quoted" & spaced'


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def blob_service(azurite: Azurite) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string)


def base64_queue(azurite: Azurite, name: str) -> QueueClient:
    """A queue client that encodes messages as the service's queue adapter does."""
    return QueueClient.from_connection_string(
        azurite.connection_string,
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )


def test_values_planted_in_a_blob_a_table_property_and_a_queue_message_are_all_found(azurite: Azurite) -> None:
    in_blob, in_table, in_queue = secret_value(), secret_value(), secret_value()
    container, table, queue = unique("scan"), unique("scan"), unique("scan")
    with blob_service(azurite) as service:
        service.create_container(container).upload_blob("runs/ca1/log.txt", f"login ok\npassword={in_blob}\n")
    with TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        tables.create_table(table).create_entity(
            {"PartitionKey": "task", "RowKey": "build", "Request": json.dumps({"values": [{"value": in_table}]})}
        )
    with base64_queue(azurite, queue) as client:
        client.create_queue()
        client.send_message(json.dumps({"runId": "ca1", "token": in_queue}))

    findings = scan_storage(
        azurite.connection_string, {"blob-secret": in_blob, "table-secret": in_table, "queue-secret": in_queue}
    )

    assert Finding("blob", f"{container}/runs/ca1/log.txt", "content", "blob-secret", "plain") in findings
    assert (
        Finding(
            "table",
            f"{table} (PartitionKey='task', RowKey='build')",
            "property 'Request'",
            "table-secret",
            "JSON-escaped",
        )
        in findings
    )
    queue_findings = [f for f in findings if f.service == "queue" and f.secret_id == "queue-secret"]
    # The message is base64 of JSON: the value is JSON-escaped inside it, so only decoding finds it.
    assert {(f.where.split(" ")[0], f.part, f.form) for f in queue_findings} == {
        (queue, "content, base64-decoded", "JSON-escaped")
    }
    for finding in findings:
        text = str(finding)
        assert in_blob not in text and in_table not in text and in_queue not in text


def test_clean_data_gives_no_findings(azurite: Azurite) -> None:
    container, table, queue = unique("clean"), unique("clean"), unique("clean")
    with blob_service(azurite) as service:
        client = service.create_container(container, metadata={"owner": "slipway"})
        client.upload_blob("log.txt", "Step 1/2 : FROM busybox\nSuccessfully built\n", metadata={"run": "ca7"})
    with TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        tables.create_table(table).create_entity({"PartitionKey": "p", "RowKey": "r", "Status": "Succeeded"})
    with base64_queue(azurite, queue) as client:
        client.create_queue()
        client.send_message(json.dumps({"runId": "ca7"}))

    assert scan_storage(azurite.connection_string, {"unused": secret_value(), "other": secret_value()}) == []
    assert_no_secrets(azurite.connection_string, {"unused": secret_value()})


def test_metadata_append_blobs_snapshots_and_archives_are_searched(azurite: Azurite) -> None:
    in_metadata, in_append, in_snapshot, in_archive = (secret_value() for _ in range(4))
    container = unique("more")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        data = f"ARG TOKEN={in_archive}\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with blob_service(azurite) as service:
        client = service.create_container(container)
        client.upload_blob("plain.txt", b"nothing here", metadata={"header": quote(in_metadata, safe="")})
        append = client.get_blob_client("runs/ca2/log.txt")
        append.create_append_blob()
        append.append_block(b"first line\n")
        append.append_block(base64.b64encode(in_append.encode()) + b"\n")
        snapshotted = client.get_blob_client("snap.txt")
        snapshotted.upload_blob(f"old {in_snapshot}")
        snapshotted.create_snapshot()
        snapshotted.upload_blob("new and clean", overwrite=True)
        client.upload_blob("contexts/ctx.tar.gz", archive.getvalue())

    findings = scan_storage(
        azurite.connection_string,
        {"metadata": in_metadata, "append": in_append, "snapshot": in_snapshot, "archive": in_archive},
    )
    found = {(f.secret_id, f.where.split(" ")[0], f.part, f.form) for f in findings}
    assert ("metadata", f"{container}/plain.txt", "metadata 'header'", "URL-encoded") in found
    assert ("append", f"{container}/runs/ca2/log.txt", "content", "base64") in found
    assert any(s == "snapshot" and w == f"{container}/snap.txt" and p == "content" for s, w, p, _ in found)
    assert ("archive", f"{container}/contexts/ctx.tar.gz", "content, gunzipped", "plain") in found
    snapshot_findings = [f for f in findings if f.secret_id == "snapshot"]
    assert all("(snapshot " in f.where for f in snapshot_findings)


def test_base64_strings_inside_json_properties_are_decoded(azurite: Azurite) -> None:
    value = secret_value()
    table = unique("encoded")
    task_file = f"steps:\n  - cmd: echo {json.dumps(value)}\n"
    document = {"encodedTaskContent": base64.b64encode(task_file.encode()).decode()}
    with TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        tables.create_table(table).create_entity({"PartitionKey": "p", "RowKey": "r", "Request": json.dumps(document)})
    findings = scan_storage(azurite.connection_string, {"in-task-file": value})
    parts = {(f.part, f.form) for f in findings if f.where.startswith(table)}
    assert ("property 'Request', base64-decoded JSON string $.encodedTaskContent", "JSON-escaped") in parts


def test_a_queue_longer_than_peek_shows_is_read_whole_and_left_visible(azurite: Azurite) -> None:
    value = secret_value()
    queue = unique("long")
    with base64_queue(azurite, queue) as client:
        client.create_queue()
        for number in range(PEEK_LIMIT + 8):
            client.send_message(
                json.dumps({"runId": f"ca{number}", "token": value if number == PEEK_LIMIT + 5 else ""})
            )
        findings = [f for f in scan_storage(azurite.connection_string, {"late": value}) if f.where.startswith(queue)]
        assert findings, "the message after the first 32 was not read"
        assert len({f.where for f in findings}) == 1
        assert len(client.peek_messages(max_messages=PEEK_LIMIT)) == PEEK_LIMIT
        assert client.get_queue_properties().approximate_message_count == PEEK_LIMIT + 8


def test_a_failed_assertion_lists_places_and_ids_never_values(azurite: Azurite) -> None:
    value = secret_value()
    container = unique("assert")
    with blob_service(azurite) as service:
        service.create_container(container).upload_blob("leak.txt", value)
    with pytest.raises(AssertionError) as caught:
        assert_no_secrets(azurite.connection_string, {"leaked": value})
    message = str(caught.value)
    assert f"blob {container}/leak.txt: content holds secret 'leaked' (plain)" in message
    assert value not in message


def test_a_value_too_short_to_search_for_is_refused(azurite: Azurite) -> None:
    with pytest.raises(ValueError, match="shorter than 6 characters"):
        scan_storage(azurite.connection_string, {"pin": "1234"})


def test_gzip_text_blobs_are_searched_unpacked(azurite: Azurite) -> None:
    value = secret_value()
    container = unique("gz")
    with blob_service(azurite) as service:
        service.create_container(container).upload_blob("log.gz", gzip.compress(f"token {value}".encode()))
    findings = scan_storage(azurite.connection_string, {"zipped": value})
    assert [(f.part, f.form) for f in findings if f.where.startswith(container)] == [("content, gunzipped", "plain")]
