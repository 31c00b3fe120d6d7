import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import Conflict, InvalidRequest, NotFound
from core.github_events import parse_github_event
from core.memory_storage import MemoryTableStore
from core.tasks import SourceTrigger, Task, TaskKind
from core.trigger_matching import match_source_event
from core.trigger_store import (
    DELIVERIES_TABLE,
    EVENTS_TABLE,
    EventNotFound,
    TriggerStore,
    delivery_keys,
    event_keys,
    new_event_id,
    new_event_record,
    task_event_keys,
)
from tests.support.github_payloads import TEST_SECRET, encode, ping_payload, push_payload

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REPO = "https://github.com/octo-org/hello-world.git"


def make_store(tables: MemoryTableStore | None = None) -> TriggerStore:
    store = TriggerStore(tables or MemoryTableStore())
    store.ensure()
    return store


@pytest.fixture
def tables() -> MemoryTableStore:
    return MemoryTableStore()


@pytest.fixture
def store(tables: MemoryTableStore) -> TriggerStore:
    return make_store(tables)


def task(name: str, branch: str = "main") -> Task:
    return Task(
        name=name,
        kind=TaskKind.DOCKER,
        context=f"{REPO}#{branch}",
        source_trigger=SourceTrigger(commit_enabled=True, branch=branch),
    )


def record_for(delivery: str, received_at: datetime = T0, tasks: tuple[Task, ...] = (task("api"), task("web", "dev"))):
    event = parse_github_event("push", delivery, encode(push_payload()))
    return new_event_record(event, match_source_event(event, tasks), received_at=received_at)


# Deliveries


def test_table_names_are_alphanumeric() -> None:
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,62}", DELIVERIES_TABLE)
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,62}", EVENTS_TABLE)


def test_a_delivery_is_admitted_the_first_time_only(store: TriggerStore) -> None:
    assert store.record_delivery("guid-1", T0) is True
    assert store.record_delivery("guid-1", T0 + timedelta(seconds=5)) is False
    assert store.record_delivery("guid-2", T0) is True


def test_two_hosts_sharing_storage_agree_on_who_admits_a_delivery(tables: MemoryTableStore) -> None:
    first, second = make_store(tables), make_store(tables)
    assert first.record_delivery("guid-1", T0) is True
    assert second.record_delivery("guid-1", T0) is False


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["a-1", "b-2", "c-3", "d-4"]), min_size=1, max_size=40))
def test_concurrent_duplicate_deliveries_admit_each_delivery_exactly_once(deliveries: list[str]) -> None:
    store = make_store()
    start = threading.Barrier(len(deliveries))  # one thread per call, all released at once

    def receive(delivery: str) -> tuple[str, bool]:
        start.wait(timeout=10)
        return delivery, store.record_delivery(delivery, T0)

    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        results = list(pool.map(receive, deliveries))
    admitted = [delivery for delivery, first in results if first]
    assert sorted(admitted) == sorted(set(deliveries))


def test_delivery_rows_spread_over_partitions_and_keep_the_guid_as_row_key() -> None:
    partitions = {delivery_keys(f"guid-{i}")[0] for i in range(200)}
    assert partitions == {f"d{i:x}" for i in range(16)}
    assert delivery_keys("72d3162e-cc78-11e3-81ab-4c9367dc0958")[1] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_a_delivery_id_that_cannot_be_a_row_key_is_an_invalid_request(store: TriggerStore) -> None:
    with pytest.raises(InvalidRequest, match="X-GitHub-Delivery"):
        store.record_delivery("a/b#c", T0)


def test_a_forgotten_delivery_is_admitted_again(store: TriggerStore) -> None:
    store.record_delivery("guid-1", T0)
    store.forget_delivery("guid-1")
    assert store.record_delivery("guid-1", T0) is True


def test_purging_deliveries_removes_only_rows_older_than_the_retention(store: TriggerStore) -> None:
    for day in range(10):
        store.record_delivery(f"guid-{day}", T0 - timedelta(days=day))
    assert store.purge_deliveries(now=T0, keep=timedelta(days=7, hours=1)) == 2
    assert store.record_delivery("guid-9", T0) is True
    assert store.record_delivery("guid-7", T0) is False


# Event IDs


def test_event_ids_sort_newest_first() -> None:
    ids = [new_event_id(T0 + timedelta(microseconds=n), "guid") for n in (0, 1, 1_000_000, 86_400_000_000)]
    assert sorted(ids) == list(reversed(ids))


def test_the_same_delivery_received_at_the_same_time_gets_the_same_event_id() -> None:
    assert new_event_id(T0, "guid-1") == new_event_id(T0, "guid-1")
    assert new_event_id(T0, "guid-1") != new_event_id(T0, "guid-2")


def test_a_naive_receive_time_is_taken_as_utc() -> None:
    assert new_event_id(T0.replace(tzinfo=None), "g") == new_event_id(T0, "g")


# Events


def test_an_event_round_trips_with_every_decision_and_reason(store: TriggerStore) -> None:
    record = record_for("guid-1")
    assert store.save_event(record) == record
    stored = store.get_event(record.event_id)
    assert stored == record
    assert [(d.task, d.starts, d.reason) for d in stored.decisions] == [
        ("api", True, "Matched"),
        ("web", False, "BranchDiffers"),
    ]
    assert stored.decisions[1].message == "push to 'main', task watches 'dev'"
    assert stored.repository == "octo-org/hello-world"
    assert stored.outcome == "starts 1 run(s): api"


def test_an_event_without_tasks_is_kept_with_its_outcome(store: TriggerStore) -> None:
    event = parse_github_event("ping", "guid-ping", encode(ping_payload()))
    record = store.save_event(new_event_record(event, [], received_at=T0))
    assert store.get_event(record.event_id).outcome == "ping: the webhook reaches Slipway"


def test_saving_an_event_again_returns_the_stored_one_with_its_runs(store: TriggerStore) -> None:
    record = store.save_event(record_for("guid-1"))
    store.attach_run(record.event_id, "api", "ca1")
    again = store.save_event(record_for("guid-1"))
    assert again.decisions[0].run_id == "ca1"
    assert len(store.list_events(10)) == 1


def test_the_stored_event_holds_no_raw_payload(store: TriggerStore, tables: MemoryTableStore) -> None:
    record = store.save_event(record_for("guid-1"))
    row = tables.get(EVENTS_TABLE, *event_keys(record.event_id))
    text = json.dumps(dict(row.properties))
    assert "mona@example.com" not in text  # the pusher's e-mail is in the payload, not needed for a decision
    assert "compare" not in text
    assert TEST_SECRET not in text


def test_events_are_listed_newest_first_and_limited_to_top(store: TriggerStore) -> None:
    for minute in range(5):
        store.save_event(record_for(f"guid-{minute}", T0 + timedelta(minutes=minute)))
    assert [r.delivery_id for r in store.list_events(3)] == ["guid-4", "guid-3", "guid-2"]


def test_events_can_be_listed_for_one_task(store: TriggerStore) -> None:
    store.save_event(record_for("guid-1", T0, (task("api"),)))
    store.save_event(record_for("guid-2", T0 + timedelta(minutes=1), (task("web"),)))
    store.save_event(record_for("guid-3", T0 + timedelta(minutes=2), (task("api"), task("web"))))
    assert [r.delivery_id for r in store.list_events(10, task="api")] == ["guid-3", "guid-1"]
    assert [r.delivery_id for r in store.list_events(1, task="web")] == ["guid-3"]
    assert store.list_events(10, task="nobody") == []


def test_listing_by_task_keeps_tasks_whose_names_share_a_prefix_apart(store: TriggerStore) -> None:
    store.save_event(record_for("guid-1", T0, (task("api"),)))
    store.save_event(record_for("guid-2", T0 + timedelta(minutes=1), (task("api-v2"), task("ap"))))
    assert [r.delivery_id for r in store.list_events(10, task="api")] == ["guid-1"]
    assert [r.delivery_id for r in store.list_events(10, task="API-v2")] == ["guid-2"]
    assert [r.delivery_id for r in store.list_events(10, task="ap")] == ["guid-2"]


def test_a_thousand_task_pointers_are_saved_in_batches(store: TriggerStore, tables: MemoryTableStore) -> None:
    tasks = tuple(task(f"t{i:04d}") for i in range(1000))
    record = store.save_event(record_for("guid-1", T0, tasks))
    assert len(tables.query(EVENTS_TABLE, task_event_keys("t0000", "")[0])) == 1000
    assert [r.event_id for r in store.list_events(1, task="t0999")] == [record.event_id]


def test_listing_by_task_skips_pointers_to_missing_events(store: TriggerStore, tables: MemoryTableStore) -> None:
    for minute in range(6):
        store.save_event(record_for(f"guid-{minute}", T0 + timedelta(minutes=minute), (task("api"),)))
    newest = store.list_events(1)[0]
    tables.delete(EVENTS_TABLE, *event_keys(newest.event_id))
    assert [r.delivery_id for r in store.list_events(2, task="api")] == ["guid-4", "guid-3"]


def test_listing_needs_a_positive_top(store: TriggerStore) -> None:
    with pytest.raises(InvalidRequest, match="top"):
        store.list_events(0)


def test_a_run_is_attached_to_its_decision(store: TriggerStore) -> None:
    record = store.save_event(record_for("guid-1"))
    updated = store.attach_run(record.event_id, "api", "ca7")
    assert [d.run_id for d in updated.decisions] == ["ca7", None]
    assert store.get_event(record.event_id) == updated


def test_attaching_the_same_run_twice_is_harmless(store: TriggerStore) -> None:
    record = store.save_event(record_for("guid-1"))
    store.attach_run(record.event_id, "api", "ca7")
    assert store.attach_run(record.event_id, "api", "ca7").decisions[0].run_id == "ca7"


def test_attaching_a_second_run_to_one_decision_is_a_conflict(store: TriggerStore) -> None:
    record = store.save_event(record_for("guid-1"))
    store.attach_run(record.event_id, "api", "ca7")
    with pytest.raises(Conflict, match="already started run ca7"):
        store.attach_run(record.event_id, "api", "ca8")


def test_attaching_a_run_for_a_task_the_event_did_not_consider_is_not_found(store: TriggerStore) -> None:
    record = store.save_event(record_for("guid-1"))
    with pytest.raises(NotFound, match="no decision for task 'other'"):
        store.attach_run(record.event_id, "other", "ca1")


@pytest.mark.parametrize("event_id", ["nope", "00000000000000000-000000000000", "../x"])
def test_an_unknown_event_is_not_found(store: TriggerStore, event_id: str) -> None:
    with pytest.raises(EventNotFound) as raised:
        store.get_event(event_id)
    assert raised.value.status == 404


def test_concurrent_run_attachments_for_different_tasks_are_all_kept(store: TriggerStore) -> None:
    tasks = tuple(task(f"t{i}") for i in range(8))
    record = store.save_event(record_for("guid-1", T0, tasks))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: store.attach_run(record.event_id, f"t{i}", f"ca{i + 1}"), range(8)))
    assert [d.run_id for d in store.get_event(record.event_id).decisions] == [f"ca{i + 1}" for i in range(8)]


def test_an_event_with_many_decisions_is_split_over_properties_and_read_back(
    store: TriggerStore, tables: MemoryTableStore
) -> None:
    tasks = tuple(task(f"task-{i:04d}") for i in range(600))
    record = store.save_event(record_for("guid-1", T0, tasks))
    row = tables.get(EVENTS_TABLE, *event_keys(record.event_id))
    assert "Document2" in row.properties
    assert all(len(value) <= 30_000 for value in row.properties.values() if isinstance(value, str))
    assert store.get_event(record.event_id) == record


def test_purging_events_removes_old_events_and_their_task_pointers(
    store: TriggerStore, tables: MemoryTableStore
) -> None:
    old = store.save_event(record_for("guid-old", T0 - timedelta(days=40)))
    edge = store.save_event(record_for("guid-edge", T0 - timedelta(days=30)))
    new = store.save_event(record_for("guid-new", T0))
    assert store.purge_events(now=T0, keep=timedelta(days=30)) == 1
    assert [r.delivery_id for r in store.list_events(10)] == [new.delivery_id, edge.delivery_id]
    assert tables.get(EVENTS_TABLE, *task_event_keys("api", old.event_id)) is None
    assert tables.get(EVENTS_TABLE, *task_event_keys("api", new.event_id)) is not None
