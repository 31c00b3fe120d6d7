"""GitHub deliveries that arrive together are decided together (one batch message on `events`).

In-memory storage; the same paths run against Azurite in the integration suite and the bench.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.github_events import event_to_document, parse_github_event
from core.runs import RunStatus
from core.trigger_service import process_event_message, trigger_store
from core.trigger_store import TriggerStore
from core.wiring import RUNS_QUEUE, Services
from tests.support.github_payloads import commit, push_payload, signed_delivery
from tests.support.memory_services import memory_services

REPO = "https://github.com/octo-org/hello-world.git"
RECEIVED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def services() -> Services:
    return memory_services(registry="reg.test:5000")


def make_task(services: Services, name: str, **extra: Any) -> None:
    services.ensure_storage()
    services.tasks.create({"name": name, "context": f"{REPO}#main", "file": "Dockerfile", **extra})


def delivery(seed: int, *, delivery_id: str | None = None, seconds: int = 0) -> dict[str, Any]:
    payload = push_payload(commits=[commit(f"c{seed}", modified=["app.py"])])
    body, headers = signed_delivery("push", payload, delivery_id=delivery_id)
    event = parse_github_event("push", headers["X-GitHub-Delivery"], body)
    received = RECEIVED + timedelta(seconds=seconds)
    return {"type": "github", "receivedAt": received.isoformat(), "event": event_to_document(event)}


def batch(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "batch", "items": list(items)}


def test_a_batch_starts_one_run_per_delivery_and_records_each_event_with_its_run(services: Services) -> None:
    make_task(services, "app")
    make_task(services, "docs", commitTriggerEnabled=True, branch="gh-pages")
    items = [delivery(i, seconds=i) for i in range(3)]
    runs = process_event_message(services, batch(*items))

    assert len(runs) == 3 and len({r.run_id for r in runs}) == 3
    assert [r.trigger["deliveryId"] for r in runs] == [i["event"]["delivery_id"] for i in items]
    assert len({r.trigger["commitId"] for r in runs}) == 3
    assert len(services.queues.drain(RUNS_QUEUE)) == 3
    events = trigger_store(services).list_events(top=10)
    assert len(events) == 3
    by_delivery = {e.delivery_id: e for e in events}
    for item, run in zip(items, runs, strict=True):
        decisions = {d.task: d for d in by_delivery[item["event"]["delivery_id"]].decisions}
        assert decisions["app"].starts and decisions["app"].run_id == run.run_id
        assert not decisions["docs"].starts and decisions["docs"].run_id is None  # other branch, with reason
    assert len(trigger_store(services).list_events(top=10, task="docs")) == 3


def test_processing_the_same_batch_again_makes_no_second_run(services: Services) -> None:
    make_task(services, "app")
    message = batch(delivery(1), delivery(2, seconds=1))
    first = process_event_message(services, message)
    again = process_event_message(services, message)  # the queue redelivered the message
    assert [r.run_id for r in again] == [r.run_id for r in first]
    assert len(services.runs.list(top=10, task="app")) == 2
    redelivered = batch(delivery(1, delivery_id=first[0].trigger["deliveryId"], seconds=30))
    assert process_event_message(services, redelivered) == []  # GitHub redelivered one later


def test_a_retry_after_a_failure_between_runs_and_events_completes_the_events(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_task(services, "app")
    message = batch(delivery(1), delivery(2, seconds=1))
    real_save = TriggerStore.save_events

    def fail_once(self: TriggerStore, records: Any) -> None:
        monkeypatch.setattr(TriggerStore, "save_events", real_save)
        real_save(self, records[:1])  # one event stored, then the worker dies
        raise RuntimeError("worker died")

    monkeypatch.setattr(TriggerStore, "save_events", fail_once)
    with pytest.raises(RuntimeError):
        process_event_message(services, message)
    runs = process_event_message(services, message)
    assert len(services.runs.list(top=10, task="app")) == 2
    events = trigger_store(services).list_events(top=10)
    assert sorted(d.run_id or "" for e in events for d in e.decisions) == sorted(r.run_id for r in runs)


def test_cancel_superseded_tasks_see_earlier_deliveries_of_the_same_batch(services: Services) -> None:
    make_task(services, "app", concurrencyPolicy="cancel-superseded")
    older, newer = process_event_message(services, batch(delivery(1), delivery(2, seconds=1)))
    assert services.runs.get(older.run_id).run.status is RunStatus.CANCELED
    assert services.runs.get(newer.run_id).run.status is RunStatus.QUEUED


def test_the_queue_function_combines_concurrent_messages_and_still_makes_one_run_each(services: Services) -> None:
    make_task(services, "app")
    messages = [batch(delivery(i, seconds=i), delivery(100 + i, seconds=i)) for i in range(8)]
    threads = [
        threading.Thread(target=process_event_message, args=(services, m), kwargs={"combine": True}) for m in messages
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    runs = services.runs.list(top=50, task="app")
    assert len(runs) == 16 and len({r.trigger["deliveryId"] for r in runs}) == 16
    assert all(d.run_id for e in trigger_store(services).list_events(top=50) for d in e.decisions)
