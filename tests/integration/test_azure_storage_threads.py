"""The storage adapters under concurrent use from many threads, against a real Azurite.

The SDKs' `get_*_client` helpers re-link a shared policy chain and break requests in flight on
other threads; the adapters must hold up when the run worker, log flusher and event worker share them.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.azure_storage import AzureBlobStore, AzureTableStore, create_table_store
from core.ports import TableStore
from core.table_rest import RestTableStore
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

THREADS = 16
ROUNDS = 60


@pytest.mark.parametrize("table_adapter", ["sdk", "rest"])
def test_blob_and_table_adapters_survive_many_threads_at_once(stack: Stack, table_adapter: str) -> None:
    blobs = AzureBlobStore(stack.storage)
    tables: TableStore = AzureTableStore(stack.storage) if table_adapter == "sdk" else create_table_store(stack.storage)
    assert isinstance(tables, RestTableStore) == (table_adapter == "rest")
    blobs.ensure_container("threads")
    for table in ("threadsa", "threadsb"):
        tables.ensure_table(table)

    def work(worker: int) -> int:
        done = 0
        for round_ in range(ROUNDS):
            name = f"w{worker}/r{round_}"
            blobs.put("threads", name, name.encode())
            assert blobs.get("threads", name) == name.encode()
            table = ("threadsa", "threadsb")[round_ % 2]
            tables.upsert(table, {"PartitionKey": f"w{worker}", "RowKey": f"r{round_}", "Round": round_})
            entity = tables.get(table, f"w{worker}", f"r{round_}")
            assert entity is not None and entity.properties["Round"] == round_
            done += 1
        return done

    # Switch threads as often as the interpreter allows, so a race shows up within a few hundred calls.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            assert sum(pool.map(work, range(THREADS))) == THREADS * ROUNDS
    finally:
        sys.setswitchinterval(switch_interval)
