import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from core.errors import InvalidTransition, RunNotFound
from core.memory_storage import MemoryTableStore
from core.run_store import INDEX_TABLE, RUNS_TABLE, RunStore, run_row_keys, status_index_keys
from core.runs import OutputImage, RunStatus, RunType, new_run, transition, with_outputs

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def store() -> RunStore:
    runs = RunStore(MemoryTableStore(), id_prefix="ca", sleep=lambda _: None)
    runs.ensure()
    return runs


def create(store: RunStore, **extra):
    run_id, number = store.next_run_id()
    run = new_run(
        run_id=run_id,
        number=number,
        run_type=RunType.QUICK_BUILD,
        request={"a": 1},
        now=T0,
        platform="linux/amd64",
        timeout=60,
        **extra,
    )
    store.create(run)
    return run


def test_runs_round_trip_through_storage_unchanged(store: RunStore) -> None:
    run = create(store)
    run = with_outputs(run, (OutputImage("r:5000", "app", "ca1", "sha256:" + "a" * 64),), now=T0)
    store.update(run.run_id, lambda _: run)
    assert store.get(run.run_id).run == run


def test_concurrent_creators_get_distinct_consecutive_ids(store: RunStore) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        for _ in range(20):
            run_id, _ = store.next_run_id()
            with lock:
                ids.append(run_id)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 160
    assert sorted(int(i[2:], 36) for i in ids) == list(range(1, 161))


def test_listing_returns_newest_first_and_honours_top(store: RunStore) -> None:
    created = [create(store) for _ in range(40)]
    listed = store.list(top=15)
    assert [r.run_id for r in listed] == [r.run_id for r in reversed(created)][:15]


def test_listing_by_status_reads_the_index_and_skips_stale_entries(store: RunStore) -> None:
    runs = [create(store) for _ in range(6)]
    for run in runs[:3]:
        store.update(run.run_id, lambda r: transition(r, RunStatus.STARTED, now=T0, worker="w"))
    assert [r.run_id for r in store.list(top=10, status=RunStatus.STARTED)] == ["ca3", "ca2", "ca1"]
    assert [r.run_id for r in store.list(top=10, status=RunStatus.QUEUED)] == ["ca6", "ca5", "ca4"]
    # An interrupted update can leave an index row behind; readers check the run itself.
    partition, row = status_index_keys(RunStatus.STARTED, 6)
    store._tables.upsert(INDEX_TABLE, {"PartitionKey": partition, "RowKey": row, "RunId": "ca6"})
    assert [r.run_id for r in store.list(top=10, status=RunStatus.STARTED)] == ["ca3", "ca2", "ca1"]


def test_a_lost_update_race_is_retried_on_the_fresh_run(store: RunStore) -> None:
    run = create(store)
    seen = []

    def change(current):
        seen.append(current.cancel_requested)
        if len(seen) == 1:  # another writer (a cancel request) gets in between our read and our write
            store.update(run.run_id, lambda r: replace(r, cancel_requested=True))
        return transition(current, RunStatus.STARTED, now=T0, worker="w")

    stored = store.update(run.run_id, change)
    assert seen == [False, True]
    assert (stored.status, stored.cancel_requested) == (RunStatus.STARTED, True)
    assert store._tables.get(RUNS_TABLE, *run_row_keys(run.number)) is not None


def test_an_update_that_the_lifecycle_refuses_leaves_the_run_unchanged(store: RunStore) -> None:
    run = create(store)
    with pytest.raises(InvalidTransition):
        store.update(run.run_id, lambda r: transition(r, RunStatus.SUCCEEDED, now=T0))
    assert store.get(run.run_id).run == run


def test_unknown_runs_are_reported_as_not_found(store: RunStore) -> None:
    create(store)
    with pytest.raises(RunNotFound, match="'ca2' does not exist"):
        store.get("ca2")
    with pytest.raises(RunNotFound):
        store.get("zz9")


class CountingTables(MemoryTableStore):
    def __init__(self) -> None:
        super().__init__()
        self.run_reads = 0

    def get(self, table, partition, row):
        self.run_reads += table == RUNS_TABLE
        return super().get(table, partition, row)


def test_a_worker_updating_the_run_it_just_wrote_does_not_read_it_again() -> None:
    tables = CountingTables()
    store = RunStore(tables, id_prefix="ca")
    store.ensure()
    run = create(store)
    store.update(run.run_id, lambda r: transition(r, RunStatus.STARTED, now=T0, worker="w"))
    store.update(run.run_id, lambda r: transition(r, RunStatus.RUNNING, now=T0))
    done = store.update(run.run_id, lambda r: transition(r, RunStatus.SUCCEEDED, now=T0))
    assert tables.run_reads == 0
    assert done.status is RunStatus.SUCCEEDED
    assert RunStore(tables, id_prefix="ca").get(run.run_id).run == done


def test_what_another_process_changed_meanwhile_is_never_lost_or_missed() -> None:
    tables = MemoryTableStore()
    api, worker = RunStore(tables, id_prefix="ca"), RunStore(tables, id_prefix="ca")
    api.ensure()
    run = create(api)
    worker.get(run.run_id)  # the worker remembers the run as Queued
    api.update(run.run_id, lambda r: replace(r, cancel_requested=True))
    claimed = worker.update(run.run_id, lambda r: transition(r, RunStatus.STARTED, now=T0, worker="w"))
    assert (claimed.status, claimed.cancel_requested) == (RunStatus.STARTED, True)  # the stale copy lost

    api.update(run.run_id, lambda r: transition(r, RunStatus.RUNNING, now=T0))
    # Refused on the worker's stale copy (Started → Started), allowed on the stored run: not an error.
    again = worker.update(
        run.run_id, lambda r: r if r.status is RunStatus.RUNNING else transition(r, RunStatus.STARTED, now=T0)
    )
    assert again.status is RunStatus.RUNNING

    api.update(run.run_id, lambda r: transition(r, RunStatus.CANCELED, now=T0))
    unchanged = worker.update(run.run_id, lambda r: r)  # no change needed on the copy: still read
    assert unchanged.status is RunStatus.CANCELED
    with pytest.raises(InvalidTransition):
        worker.update(run.run_id, lambda r: transition(r, RunStatus.SUCCEEDED, now=T0))
