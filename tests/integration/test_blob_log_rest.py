"""Log appends and ranged reads over the lean REST client, checked against the SDK on a real Azurite."""

from __future__ import annotations

import uuid

import pytest
from azure.storage.blob import BlobClient

from core.azure_storage import AzureBlobStore
from core.blob_rest import RestBlobs
from core.errors import StorageError
from core.storage_http import SharedKey, parse_connection_string, service_endpoint
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("adapter", ["rest", "sdk"])
def test_appends_and_ranged_reads_agree_with_the_sdk(stack: Stack, adapter: str) -> None:
    store = AzureBlobStore(stack.storage)
    assert isinstance(store._rest, RestBlobs)
    if adapter == "sdk":
        store._rest = None  # as for identity-based storage, where no account key is known
    store.ensure_container("restlogs")
    name = f"run {uuid.uuid4().hex[:6]}/räw log.txt"
    assert store.open_append_blob("restlogs", name) == 0

    empty = store.read_range("restlogs", name, 0, 100)
    assert empty is not None and (empty.data, empty.total_size) == (b"", 0)

    first = "line one ✓\n".encode()
    assert store.append("restlogs", name, first) == 0
    assert store.append("restlogs", name, b"line two\n") == len(first)  # where each block landed
    sdk = BlobClient.from_connection_string(stack.storage, "restlogs", name).download_blob().readall()
    assert sdk == "line one ✓\nline two\n".encode()
    assert store.open_append_blob("restlogs", name) == len(sdk)  # reopening keeps what is there

    whole = store.read_range("restlogs", name, 0, 1 << 20)
    assert whole is not None and whole.data == sdk and whole.total_size == len(sdk)
    middle = store.read_range("restlogs", name, 5, 3)
    assert middle is not None and middle.data == sdk[5:8] and middle.total_size == len(sdk)
    at_end = store.read_range("restlogs", name, len(sdk), 100)
    assert at_end is not None and at_end.data == b"" and at_end.total_size == len(sdk)
    assert at_end.metadata == {}

    store.set_metadata("restlogs", name, {"Complete": "succeeded"})
    done = store.read_range("restlogs", name, 0, 4)
    assert done is not None and done.metadata == {"Complete": "succeeded"} and done.data == sdk[:4]
    assert store.read_range("restlogs", "no such log", 0, 10) is None


def test_a_wrong_key_fails_without_echoing_it(stack: Stack) -> None:
    settings = parse_connection_string(stack.storage)
    log = RestBlobs(service_endpoint(settings, "blob") or "", SharedKey(settings["AccountName"], b"bad-key"))
    with pytest.raises(StorageError, match="HTTP 403") as caught:
        log.append("restlogs", "x", b"data")
    assert "bad-key" not in str(caught.value)
    log.close()


@pytest.mark.parametrize("adapter", ["rest", "sdk"])
def test_whole_blob_calls_agree_with_the_sdk_small_and_large(stack: Stack, adapter: str) -> None:
    store = AzureBlobStore(stack.storage)
    if adapter == "sdk":
        store._rest = None
    store.ensure_container("restblobs")
    name = f"ctx {uuid.uuid4().hex[:6]}/dependencies.json"
    assert store.info("restblobs", name) is None and store.get("restblobs", name) is None

    store.put("restblobs", name, b'{"a": 1}', metadata={"Kind": "report"})
    sdk = BlobClient.from_connection_string(stack.storage, "restblobs", name)
    assert sdk.download_blob().readall() == b'{"a": 1}'
    assert sdk.get_blob_properties().metadata == {"Kind": "report"}
    found = store.info("restblobs", name)
    assert found is not None and (found.size, dict(found.metadata)) == (8, {"Kind": "report"})
    assert store.get("restblobs", name) == b'{"a": 1}'

    large = bytes(range(256)) * (5 * 4096 + 7)  # over one read chunk and over the single-call upload size
    store.put("restblobs", name, large)
    assert b"".join(store.read_chunks("restblobs", name, chunk_size=1 << 20)) == large
    assert store.get("restblobs", name) == large
    with pytest.raises(StorageError, match="disappeared"):
        list(store.read_chunks("restblobs", "no such context.tar.gz"))
