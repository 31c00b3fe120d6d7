"""Triggers end to end: intake (fast, durable), decisions (behind the `events` queue), and runs.

Intake authenticates and records an event, puts it on the `events` queue and answers 202 with what
was received — no silent 202s. The queue function decides which tasks run and why, records every
decision in the event inbox (`slipway event list`), and starts runs with idempotency keys, so a
retried delivery or message never makes a second run. Timers and registry polling feed the same
run creation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core import base_images, schedules
from core.errors import InvalidTransition, SlipwayError
from core.github_events import (
    SourceEvent,
    event_from_document,
    event_to_document,
    parse_github_event,
    verify_github_signature,
)
from core.registry_events import HandshakeReply, ImagePushed, classify_registry_request, verify_event_token
from core.run_service import MAX_TOP, cancel_run
from core.runs import ACTIVE_STATUSES, Run, RunStatus
from core.task_scheduling import TaskRunOrder, schedule_task_runs
from core.tasks import ConcurrencyPolicy, Task
from core.trigger_matching import TaskDecision, match_source_event, superseded_runs
from core.trigger_store import (
    DELIVERIES_TABLE,
    DecisionRecord,
    EventRecord,
    TriggerStore,
    delivery_keys,
    new_event_id,
    new_event_record,
)
from core.wiring import Services

logger = logging.getLogger(__name__)
EVENT_RETENTION_DAYS = 30  # as long as run logs are kept (ACR's default)


@dataclass(frozen=True)
class IntakeReply:
    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] | None = None


def trigger_store(services: Services) -> TriggerStore:
    services.ensure_storage()  # creates the store's tables once per process
    return TriggerStore(services.tables)


def _enqueue(services: Services, message: Mapping[str, Any]) -> None:
    """Durably queue one event; concurrent intakes share queue messages (see `core.group_commit`)."""
    services.ensure_storage()
    services.event_queue.submit(message)


def accept_github_delivery(services: Services, headers: Mapping[str, str], body: bytes) -> IntakeReply:
    """Verify, parse and queue one GitHub delivery; the reply says what was received.

    Duplicates (GitHub redelivering the same `X-GitHub-Delivery`) are recognised behind the queue, so
    the intake costs one storage call shared with other deliveries arriving at the same moment.
    """
    secrets = [services.resolve_setting(secret) for secret in services.settings.github_webhook_secrets]
    verify_github_signature(body, headers.get("x-hub-signature-256"), secrets)
    event = parse_github_event(headers.get("x-github-event", ""), headers.get("x-github-delivery", ""), body)
    received = services.clock()
    _enqueue(services, {"type": "github", "receivedAt": received.isoformat(), "event": event_to_document(event)})
    return IntakeReply(
        202,
        {
            "status": "accepted",
            "deliveryId": event.delivery_id,
            "summary": event.summary,
            "message": "see `slipway event list` for which tasks it starts",
        },
    )


def accept_registry_event(services: Services, method: str, headers: Mapping[str, str], body: bytes) -> IntakeReply:
    """A registry notification (CNCF distribution, ACR webhook, Event Grid): queue every tag push."""
    if method.upper() != "OPTIONS":
        tokens = [services.resolve_setting(token) for token in services.settings.registry_event_tokens]
        verify_event_token(headers, tokens)
    result = classify_registry_request(method, headers, body, default_registry=services.settings.registry)
    if isinstance(result, HandshakeReply):
        return IntakeReply(result.status, dict(result.body or {}), dict(result.headers or {}))
    received = services.clock()
    for pushed in result.pushed:
        _enqueue(
            services, {"type": "imagepushed", "receivedAt": received.isoformat(), "push": _pushed_document(pushed)}
        )
    return IntakeReply(
        202,
        {
            "accepted": [f"{p.image}@{p.digest}" for p in result.pushed],
            "ignored": [{"eventId": i.event_id, "reason": i.reason} for i in result.ignored],
        },
    )


def _pushed_document(pushed: ImagePushed) -> dict[str, Any]:
    return {
        "registry": pushed.registry,
        "repository": pushed.repository,
        "tag": pushed.tag,
        "digest": pushed.digest,
        "mediaType": pushed.media_type,
        "eventId": pushed.event_id,
        "occurredAt": pushed.occurred_at.isoformat() if pushed.occurred_at else None,
    }


def _pushed_from_document(document: Mapping[str, Any]) -> ImagePushed:
    occurred = document.get("occurredAt")
    return ImagePushed(
        registry=document["registry"],
        repository=document["repository"],
        tag=document["tag"],
        digest=document["digest"],
        media_type=document.get("mediaType", ""),
        event_id=document["eventId"],
        occurred_at=datetime.fromisoformat(occurred) if occurred else None,
    )


def _tasks_by_name(services: Services) -> dict[str, Task]:
    return {task.name: task for task in services.tasks.list()}


def _start(services: Services, store: TriggerStore, event_id: str, orders: list[TaskRunOrder]) -> list[Run]:
    runs = schedule_task_runs(services, orders)
    if runs:
        try:
            store.attach_runs(event_id, {order.task.name: run.run_id for order, run in zip(orders, runs, strict=True)})
        except SlipwayError as error:  # the runs exist; only the inbox links are missing
            logger.warning("could not link runs to event %s: %s", event_id, error.message)
    return runs


def _cancel_superseded(services: Services, decision: TaskDecision) -> None:
    """Under `cancel-superseded`, cancel the task's unfinished runs that this decision's run replaces."""
    if decision.concurrency is not ConcurrencyPolicy.CANCEL_SUPERSEDED:
        return
    # The per-status index holds only unfinished runs here, so this never reads the task's history.
    active = [
        run
        for status in (RunStatus.QUEUED, *ACTIVE_STATUSES)
        for run in services.runs.list(top=MAX_TOP, status=status)
        if run.task == decision.task
    ]
    for run_id in superseded_runs(decision, active):
        with contextlib.suppress(InvalidTransition):  # it finished meanwhile
            cancel_run(services, run_id)


def process_event_message(services: Services, message: Mapping[str, Any], *, combine: bool = False) -> list[Run]:
    """The `events` queue: decide, record the decisions, start runs. Safe to process twice.

    With `combine`, GitHub deliveries join those of concurrent invocations (`Services.event_combiner`)
    and the runs they start are logged rather than returned.
    """
    services.ensure_storage()
    items = message.get("items") if message.get("type") == "batch" else [message]
    items = [item for item in items or () if isinstance(item, Mapping)]
    deliveries = [item for item in items if item.get("type") == "github"]
    runs: list[Run] = []
    if deliveries and combine:
        services.event_combiner.submit(deliveries)
    elif deliveries:
        runs += process_github_deliveries(services, deliveries)
    for item in items:
        if item.get("type") == "imagepushed":
            pushed = _pushed_from_document(item["push"])
            runs += process_image_pushed(services, pushed, received=datetime.fromisoformat(item["receivedAt"]))
        elif item.get("type") != "github":
            logger.error("dropping an event message of unknown type %r", item.get("type"))
    return runs


def _first_receipt(store: TriggerStore, services: Services, delivery_id: str, received: datetime) -> bool:
    """True for a delivery's first receipt, and for a retry of the same queue message (same time)."""
    if store.record_delivery(delivery_id, received):
        return True
    row = services.tables.get(DELIVERIES_TABLE, *delivery_keys(delivery_id))
    recorded = row.properties.get("ReceivedAt") if row else None
    return recorded is not None and datetime.fromisoformat(str(recorded)) == received


def _github_order(tasks: Mapping[str, Task], decision: TaskDecision, event: SourceEvent) -> TaskRunOrder:
    return TaskRunOrder(
        task=tasks[decision.task],
        trigger=decision.run_trigger(),
        idempotency_key=decision.idempotency_key,
        source_ref=decision.commit if decision.pull_request_number is None else decision.fetch_ref,
        key_group=event.delivery_id,
    )


def _fresh_delivery(services: Services, store: TriggerStore, message: Mapping[str, Any]) -> SourceEvent | None:
    event = event_from_document(message["event"])
    if _first_receipt(store, services, event.delivery_id, datetime.fromisoformat(message["receivedAt"])):
        return event
    logger.info("delivery %s was already received; ignored", event.delivery_id)
    return None


def _process_github(services: Services, message: Mapping[str, Any], tasks: Mapping[str, Task]) -> list[Run]:
    store = trigger_store(services)
    event = _fresh_delivery(services, store, message)
    if event is None:
        return []
    decisions = match_source_event(event, tasks.values())
    record = store.save_event(
        new_event_record(event, decisions, received_at=datetime.fromisoformat(message["receivedAt"]))
    )
    orders: list[TaskRunOrder] = []
    for decision in decisions:
        if decision.starts:
            _cancel_superseded(services, decision)
            orders.append(_github_order(tasks, decision, event))
    return _start(services, store, record.event_id, orders)


def process_github_deliveries(services: Services, messages: Sequence[Mapping[str, Any]]) -> list[Run]:
    """Deliveries that arrived together are decided together: one task listing, one run-number
    allocation, runs and events written in transactions, events saved with their run ids at once.

    A retry is safe: run keys return the runs made before, and events stored before are completed.
    When a task cancels superseded runs, deliveries go one by one so each sees the runs before it.
    """
    tasks = _tasks_by_name(services)
    if len(messages) == 1 or any(t.concurrency is ConcurrencyPolicy.CANCEL_SUPERSEDED for t in tasks.values()):
        return [run for message in messages for run in _process_github(services, message, tasks)]
    store = trigger_store(services)
    decided: list[tuple[EventRecord, list[TaskRunOrder]]] = []
    for message in messages:
        event = _fresh_delivery(services, store, message)
        if event is not None:
            decisions = match_source_event(event, tasks.values())
            record = new_event_record(event, decisions, received_at=datetime.fromisoformat(message["receivedAt"]))
            decided.append((record, [_github_order(tasks, d, event) for d in decisions if d.starts]))
    runs = schedule_task_runs(services, [order for _, orders in decided for order in orders])
    run_ids = iter(run.run_id for run in runs)
    records = []
    for record, orders in decided:
        started = {order.task.name: next(run_ids) for order in orders}
        linked = tuple(dataclasses.replace(d, run_id=started.get(d.task, d.run_id)) for d in record.decisions)
        records.append(dataclasses.replace(record, decisions=linked))
    store.save_events(records)
    if runs:
        logger.info("%d deliveries started run(s) %s", len(messages), ", ".join(run.run_id for run in runs))
    return runs


def process_image_pushed(services: Services, pushed: ImagePushed, *, received: datetime) -> list[Run]:
    """A tag's digest may have changed: start the tasks that build on it (base-image triggers)."""
    base_images.ensure_index(services.tables)
    chain = base_images.chain_for_push(services.tables, pushed)
    tasks = _tasks_by_name(services)
    decisions = base_images.tasks_to_trigger(services.tables, pushed, tasks, chain=chain)
    starting = [d for d in decisions if d.trigger]
    record = EventRecord(
        event_id=new_event_id(received, f"{pushed.event_id}-{pushed.digest}"),
        delivery_id=pushed.event_id,
        received_at=received,
        event_name="push",
        kind="imagepushed",
        summary=f"{pushed.image} now points at {pushed.digest}",
        outcome=f"{len(starting)} of {len(decisions)} dependent task(s) start a run",
        provider="Registry",
        repository=pushed.image,
        commit=pushed.digest,
        decisions=tuple(DecisionRecord(d.task, d.trigger, d.reason.value, d.message) for d in decisions),
    )
    store = trigger_store(services)
    saved = store.save_event(record)
    orders = [
        TaskRunOrder(
            task=tasks[d.task],
            trigger={
                "kind": "imageupdate",
                "image": d.image,
                "digest": d.digest,
                "previousDigest": d.previous_digest,
                "dependencyKind": d.kind.value,
                "eventId": d.event_id,
                "chain": list(d.chain),
                "idempotencyKey": d.idempotency_key,
            },
            idempotency_key=d.idempotency_key,
            key_group=f"{pushed.event_id}@{pushed.digest}",
        )
        for d in starting
    ]
    return _start(services, store, saved.event_id, orders)


def run_scheduler_tick(services: Services, *, now: datetime | None = None) -> list[Run]:
    """Start one run per due timer occurrence, exactly once across hosts and retries."""
    services.ensure_storage()
    moment = now or services.clock()
    schedules.ensure_timer_state(services.tables)
    mark = schedules.read_scheduler_mark(services.tables)
    since = schedules.evaluation_since(mark, moment)
    tasks = _tasks_by_name(services)
    orders: list[TaskRunOrder] = []
    claimed: list[schedules.TimerOccurrence] = []
    for occurrence in schedules.due_timer_occurrences(tasks.values(), since=since, now=moment):
        if schedules.claim_occurrence(services.tables, occurrence, now=moment):
            claimed.append(occurrence)
            orders.append(
                TaskRunOrder(
                    task=tasks[occurrence.task],
                    trigger={"kind": "timer", **occurrence.to_trigger()},
                    idempotency_key=occurrence.idempotency_key,
                    key_group=f"timer-{occurrence.occurrence.isoformat()}",
                )
            )
    try:
        runs = schedule_task_runs(services, orders)
    except SlipwayError:
        for occurrence in claimed:
            schedules.release_occurrence(services.tables, occurrence)  # the next tick tries again
        raise
    schedules.advance_scheduler_mark(services.tables, mark, moment)
    return runs


def poll_registries(services: Services, *, now: datetime | None = None) -> list[Run]:
    """For registries that send no events: check tracked tags' digests and treat changes as pushes."""
    from datetime import timedelta

    from core.registry_client import RegistryClient, poll_tracked_images

    services.ensure_storage()
    moment = now or services.clock()
    client = RegistryClient()
    report = poll_tracked_images(
        services.tables,
        client,
        moment,
        timedelta(seconds=services.settings.registry_poll_seconds),
        skip_registries=services.settings.poll_skip_registries,
    )
    for failure in report.failed:
        logger.warning("polling %s failed: %s", failure.image, failure.message)
    runs: list[Run] = []
    for pushed in report.pushed:
        runs += process_image_pushed(services, pushed, received=moment)
    return runs


def purge_old_records(services: Services, *, now: datetime | None = None) -> tuple[int, int]:
    """Forget deliveries GitHub can no longer redeliver and events older than the log retention."""
    from datetime import timedelta

    moment = now or services.clock()
    store = trigger_store(services)
    deliveries = store.purge_deliveries(now=moment)
    events = store.purge_events(now=moment, keep=timedelta(days=EVENT_RETENTION_DAYS))
    return deliveries, events
