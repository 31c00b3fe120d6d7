"""One contract for both table adapters (the SDK one and the lean REST one) against a real Azurite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from core.azure_storage import AzureTableStore
from core.errors import ConcurrentUpdate, Conflict, StorageError
from core.ports import TableStore
from core.storage_http import SharedKey, parse_connection_string, service_endpoint, shared_key_access
from core.table_rest import RestTableStore
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


def _rest(connection: str) -> RestTableStore:
    access = shared_key_access(connection, "table")
    assert access is not None
    return RestTableStore(*access)


@pytest.fixture(params=["sdk", "rest"])
def tables(request: pytest.FixtureRequest, stack: Stack) -> Iterator[tuple[TableStore, str]]:
    store: TableStore = AzureTableStore(stack.storage) if request.param == "sdk" else _rest(stack.storage)
    name = f"contract{uuid.uuid4().hex[:12]}"
    store.ensure_table(name)
    store.ensure_table(name)  # a second time is harmless
    yield store, name


def test_values_round_trip_with_their_types(tables: tuple[TableStore, str]) -> None:
    store, table = tables
    moment = datetime(2026, 12, 4, 15, 30, 1, 250000, tzinfo=UTC)
    row = {
        "PartitionKey": "p'1",
        "RowKey": "ünï|code:1 2",
        "text": "a 'quoted' & <tagged> value",
        "flag": True,
        "small": -7,
        "big": 2**40,
        "ratio": 0.5,
        "when": moment,
        "blob": b"\x00\xffbytes",
        "missing": None,
    }
    etag = store.insert(table, row)
    assert etag
    got = store.get(table, "p'1", "ünï|code:1 2")
    assert got is not None and got.etag == etag
    expected = {k: v for k, v in row.items() if k != "missing"}
    assert {k: got.properties[k] for k in expected} == expected
    assert "missing" not in got.properties and "Timestamp" not in got.properties
    assert store.get(table, "p'1", "absent") is None


def test_insert_conflicts_replace_checks_the_etag_upsert_and_delete(tables: tuple[TableStore, str]) -> None:
    store, table = tables
    first = store.insert(table, {"PartitionKey": "p", "RowKey": "r", "n": 1})
    with pytest.raises(Conflict):
        store.insert(table, {"PartitionKey": "p", "RowKey": "r", "n": 2})
    second = store.replace(table, {"PartitionKey": "p", "RowKey": "r", "n": 3}, etag=first)
    with pytest.raises(ConcurrentUpdate):
        store.replace(table, {"PartitionKey": "p", "RowKey": "r", "n": 4}, etag=first)
    with pytest.raises(ConcurrentUpdate):
        store.replace(table, {"PartitionKey": "p", "RowKey": "gone", "n": 4}, etag=second)
    store.upsert(table, {"PartitionKey": "p", "RowKey": "r", "other": "x"})
    got = store.get(table, "p", "r")
    assert got is not None and got.properties == {"PartitionKey": "p", "RowKey": "r", "other": "x"}
    store.delete(table, "p", "r")
    store.delete(table, "p", "r")  # deleting what is gone is fine
    assert store.get(table, "p", "r") is None


def test_queries_read_ranges_in_order_across_pages(tables: tuple[TableStore, str]) -> None:
    store, table = tables
    for start in range(0, 1200, 100):
        store.submit_batch(
            table, [("insert", {"PartitionKey": "q", "RowKey": f"{i:05d}", "i": i}) for i in range(start, start + 100)]
        )
    store.insert(table, {"PartitionKey": "other", "RowKey": "00001"})
    everything = store.query(table, "q")
    assert [e.properties["i"] for e in everything] == list(range(1200))  # more than one page of 1000
    assert all(e.etag for e in everything)
    window = store.query(table, "q", row_from="00010", row_to="00020")
    assert [e.properties["RowKey"] for e in window] == [f"{i:05d}" for i in range(10, 20)]
    assert len(store.query(table, "q", row_from="00500", limit=1100)) == 700
    assert [e.properties["i"] for e in store.query(table, "q", limit=3)] == [0, 1, 2]


def test_a_batch_is_all_or_nothing(tables: tuple[TableStore, str]) -> None:
    store, table = tables
    store.insert(table, {"PartitionKey": "b", "RowKey": "taken"})
    with pytest.raises(Conflict):
        store.submit_batch(
            table,
            [("upsert", {"PartitionKey": "b", "RowKey": "new1"}), ("insert", {"PartitionKey": "b", "RowKey": "taken"})],
        )
    assert store.get(table, "b", "new1") is None
    store.submit_batch(
        table,
        [
            ("upsert", {"PartitionKey": "b", "RowKey": "taken", "v": "replaced"}),
            ("insert", {"PartitionKey": "b", "RowKey": "new2"}),
        ],
    )
    taken = store.get(table, "b", "taken")
    assert taken is not None and taken.properties.get("v") == "replaced"
    assert store.get(table, "b", "new2") is not None


def test_the_rest_store_refuses_a_wrong_key_without_echoing_it(stack: Stack) -> None:
    settings = parse_connection_string(stack.storage)
    store = RestTableStore(
        service_endpoint(settings, "table") or "", SharedKey(settings["AccountName"], b"not-the-key")
    )
    with pytest.raises(StorageError, match="HTTP 403") as caught:
        store.ensure_table("contractwrongkey")
    assert "not-the-key" not in str(caught.value)
    store.close()
