"""Persistence of webhook deliveries and trigger decisions, through the `TableStore` port only.

Tables:
- `deliveries`: one row per GitHub delivery GUID, partition `d0`…`df` (a CRC of the GUID, so rows
  spread), row key the GUID. `record_delivery` inserts it; the insert fails on every host but the
  first, so a delivery is admitted once. GitHub shares the GUID between an event's redeliveries and
  between webhooks that receive the same event; redeliveries are possible for 3 days (7 on GitHub
  Enterprise Server), so rows are kept `DELIVERY_RETENTION` and then removed by `purge_deliveries`
  from a timer (Table storage has no TTL).
- `events`: the event inbox. Partition `event` holds one row per event, row key the event ID
  (inverted receive time in microseconds, then a hash of the delivery GUID), so rows sort newest
  first and the same delivery always gets the same ID. Partition `task` holds one pointer row per
  task an event considered (row key `<task>|<event ID>`, so one task's pointers sort together, newest
  first), for `list_events(task=…)`. Keeping every pointer in one partition lets a save write a
  thousand of them in ten batch transactions; pointers are written first and checked on read, so an
  interrupted save leaves at worst a pointer that readers skip.

An event row keeps what a user needs to understand the decision (repository, ref, commit, each
task's reason and run ID), never the raw payload, headers or secrets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import ConcurrentUpdate, Conflict, InvalidRequest, NotFound, StorageError
from core.github_events import SourceEvent, validate_delivery_id
from core.ports import Entity, TableStore
from core.trigger_matching import TaskDecision, outcome_summary

DELIVERIES_TABLE = "deliveries"
EVENTS_TABLE = "events"
DELIVERY_RETENTION = timedelta(days=8)
_DELIVERY_BUCKETS = 16
_EVENT_PARTITION = "event"
_POINTER_PARTITION = "task"
_BATCH = 100  # the most operations one table transaction holds
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEY_CEILING = 10**17  # microseconds: good until the year 5138
_KEY_WIDTH = 17
_EVENT_ID = re.compile(r"\d{17}-[0-9a-f]{12}")
_CHUNK_CHARS = 30_000  # a string property holds 64 KiB (32K UTF-16 characters)
_MAX_CHUNKS = 30  # an entity holds 1 MiB
_MAX_CAS_ATTEMPTS = 20


class EventNotFound(NotFound):
    code = "EventNotFound"


@dataclass(frozen=True)
class DecisionRecord:
    task: str
    starts: bool
    reason: str
    message: str
    run_id: str | None = None


@dataclass(frozen=True)
class EventRecord:
    """One delivery in the event inbox and what it did to each task it concerned."""

    event_id: str
    delivery_id: str
    received_at: datetime
    event_name: str  # the X-GitHub-Event header: push, pull_request, ping, issues, …
    kind: str  # core.github_events.EventKind
    summary: str  # what happened at the source
    outcome: str  # what Slipway did about it
    provider: str = "GitHub"
    repository: str = ""  # "octo-org/app"
    repository_url: str = ""
    ref: str = ""
    commit: str = ""
    pull_request_number: int | None = None
    action: str = ""
    sender: str = ""
    decisions: tuple[DecisionRecord, ...] = ()


def delivery_keys(delivery_id: str) -> tuple[str, str]:
    validate_delivery_id(delivery_id)
    return f"d{zlib.crc32(delivery_id.encode()) % _DELIVERY_BUCKETS:x}", delivery_id


def event_keys(event_id: str) -> tuple[str, str]:
    return _EVENT_PARTITION, event_id


def task_event_keys(task: str, event_id: str) -> tuple[str, str]:
    return _POINTER_PARTITION, f"{task.lower()}|{event_id}"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _time_key(moment: datetime) -> str:
    micros = (_utc(moment) - _EPOCH) // timedelta(microseconds=1)
    if not 0 <= micros < _KEY_CEILING:
        raise ValueError(f"time {moment.isoformat()} is outside the range event IDs can hold")
    return f"{_KEY_CEILING - 1 - micros:0{_KEY_WIDTH}d}"


def new_event_id(received_at: datetime, delivery_id: str) -> str:
    """Sorts newest first; the same delivery received at the same time always gets the same ID.

    Intake stamps `received_at` and sends it with the event, so a retried queue message saves the
    same event instead of a second one.
    """
    return f"{_time_key(received_at)}-{hashlib.sha256(delivery_id.encode()).hexdigest()[:12]}"


def new_event_record(event: SourceEvent, decisions: Sequence[TaskDecision], *, received_at: datetime) -> EventRecord:
    """The inbox entry for `event` and the decisions `match_source_event` made for it."""
    repository = event.repository
    push, pr = event.push, event.pull_request
    return EventRecord(
        event_id=new_event_id(received_at, event.delivery_id),
        delivery_id=event.delivery_id,
        received_at=_utc(received_at),
        event_name=event.event_name,
        kind=event.kind.value,
        summary=event.summary,
        outcome=outcome_summary(event, decisions),
        repository=repository.full_name if repository else "",
        repository_url=repository.clone_url if repository else "",
        ref=push.ref if push else (f"refs/pull/{pr.number}/head" if pr else ""),
        commit=push.after if push else (pr.head_sha if pr else ""),
        pull_request_number=pr.number if pr else None,
        action=pr.action if pr else "",
        sender=event.sender,
        decisions=tuple(
            DecisionRecord(task=d.task, starts=d.starts, reason=d.reason.value, message=d.message) for d in decisions
        ),
    )


def event_record_to_document(record: EventRecord) -> dict[str, Any]:
    """The record as JSON-ready data in the API's camelCase names."""
    return {
        "eventId": record.event_id,
        "deliveryId": record.delivery_id,
        "receivedAt": record.received_at.isoformat(),
        "provider": record.provider,
        "eventName": record.event_name,
        "kind": record.kind,
        "summary": record.summary,
        "outcome": record.outcome,
        "repository": record.repository,
        "repositoryUrl": record.repository_url,
        "ref": record.ref,
        "commit": record.commit,
        "pullRequestNumber": record.pull_request_number,
        "action": record.action,
        "sender": record.sender,
        "decisions": [
            {"task": d.task, "starts": d.starts, "reason": d.reason, "message": d.message, "runId": d.run_id}
            for d in record.decisions
        ],
    }


def event_record_from_document(document: Mapping[str, Any]) -> EventRecord:
    return EventRecord(
        event_id=document["eventId"],
        delivery_id=document["deliveryId"],
        received_at=datetime.fromisoformat(document["receivedAt"]),
        provider=document.get("provider", "GitHub"),
        event_name=document["eventName"],
        kind=document["kind"],
        summary=document.get("summary", ""),
        outcome=document.get("outcome", ""),
        repository=document.get("repository", ""),
        repository_url=document.get("repositoryUrl", ""),
        ref=document.get("ref", ""),
        commit=document.get("commit", ""),
        pull_request_number=document.get("pullRequestNumber"),
        action=document.get("action", ""),
        sender=document.get("sender", ""),
        decisions=tuple(
            DecisionRecord(
                task=d["task"],
                starts=bool(d["starts"]),
                reason=d["reason"],
                message=d["message"],
                run_id=d.get("runId"),
            )
            for d in document.get("decisions", ())
        ),
    )


def _document_properties(text: str) -> dict[str, str]:
    chunks = [text[i : i + _CHUNK_CHARS] for i in range(0, len(text), _CHUNK_CHARS)] or [""]
    if len(chunks) > _MAX_CHUNKS:
        raise InvalidRequest(
            f"the event record would be {len(text)} characters, over the {_CHUNK_CHARS * _MAX_CHUNKS} that storage "
            "allows; fewer tasks should build from one repository"
        )
    return {("Document" if i == 0 else f"Document{i}"): chunk for i, chunk in enumerate(chunks)}


def _document_text(properties: Mapping[str, Any]) -> str:
    parts = [str(properties.get("Document", ""))]
    index = 1
    while f"Document{index}" in properties:
        parts.append(str(properties[f"Document{index}"]))
        index += 1
    return "".join(parts)


def _record(entity: Entity) -> EventRecord:
    return event_record_from_document(json.loads(_document_text(entity.properties)))


class TriggerStore:
    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    def ensure(self) -> None:
        for table in (DELIVERIES_TABLE, EVENTS_TABLE):
            self._tables.ensure_table(table)

    # Deliveries

    def record_delivery(self, delivery_id: str, received_at: datetime) -> bool:
        """True the first time a delivery GUID is seen (on any host), False for every repeat."""
        partition, row = delivery_keys(delivery_id)
        try:
            self._tables.insert(
                DELIVERIES_TABLE,
                {"PartitionKey": partition, "RowKey": row, "ReceivedAt": _utc(received_at).isoformat()},
            )
        except Conflict:
            return False
        return True

    def forget_delivery(self, delivery_id: str) -> None:
        """Undo `record_delivery` when intake could not pass the event on, so GitHub's redelivery is accepted."""
        self._tables.delete(DELIVERIES_TABLE, *delivery_keys(delivery_id))

    def purge_deliveries(self, *, now: datetime, keep: timedelta = DELIVERY_RETENTION) -> int:
        """Remove delivery rows older than `keep`; returns how many. Run it from a daily timer."""
        cutoff = _utc(now) - keep
        removed = 0
        for bucket in range(_DELIVERY_BUCKETS):
            for entity in self._tables.query(DELIVERIES_TABLE, f"d{bucket:x}"):
                received = entity.properties.get("ReceivedAt")
                if received and datetime.fromisoformat(str(received)) < cutoff:
                    self._tables.delete(DELIVERIES_TABLE, f"d{bucket:x}", str(entity.properties["RowKey"]))
                    removed += 1
        return removed

    # Events

    def save_event(self, record: EventRecord) -> EventRecord:
        """Store a new event; if it was saved before (a retried queue message) return the stored one."""
        self._save_pointers([record])
        try:
            self._tables.insert(EVENTS_TABLE, self._row(record))
        except Conflict:
            return self.get_event(record.event_id)
        return record

    def save_events(self, records: Sequence[EventRecord]) -> None:
        """Store events that already carry their run ids, 100 per transaction. A transaction that meets
        an event stored before (a retried queue message) falls back to one by one for its events."""
        self._save_pointers(records)
        for start in range(0, len(records), _BATCH):
            chunk = records[start : start + _BATCH]
            try:
                self._tables.submit_batch(EVENTS_TABLE, [("insert", self._row(record)) for record in chunk])
            except Conflict:
                for record in chunk:
                    if self.save_event(record) is not record:
                        self.attach_runs(record.event_id, {d.task: d.run_id for d in record.decisions if d.run_id})

    def _save_pointers(self, records: Sequence[EventRecord]) -> None:
        pointers = [
            {"PartitionKey": partition, "RowKey": row, "Starts": decision.starts}
            for record in records
            for decision in record.decisions
            for partition, row in [task_event_keys(decision.task, record.event_id)]
        ]
        for start in range(0, len(pointers), _BATCH):
            self._tables.submit_batch(EVENTS_TABLE, [("upsert", p) for p in pointers[start : start + _BATCH]])

    def _row(self, record: EventRecord) -> dict[str, Any]:
        partition, row = event_keys(record.event_id)
        text = json.dumps(event_record_to_document(record), separators=(",", ":"))
        return {
            "PartitionKey": partition,
            "RowKey": row,
            "DeliveryId": record.delivery_id,
            "Kind": record.kind,
            **_document_properties(text),
        }

    def _entity(self, event_id: str) -> Entity:
        entity = self._tables.get(EVENTS_TABLE, *event_keys(event_id)) if _EVENT_ID.fullmatch(event_id) else None
        if entity is None:
            raise EventNotFound(
                f"event {event_id!r} does not exist (see `slipway` event list for recent events)", target="eventId"
            )
        return entity

    def get_event(self, event_id: str) -> EventRecord:
        return _record(self._entity(event_id))

    def list_events(self, top: int, task: str | None = None) -> list[EventRecord]:
        """Newest events first; with `task`, only events that considered that task (from its index)."""
        if top < 1:
            raise InvalidRequest("top must be at least 1", target="top")
        if task is None:
            return [_record(e) for e in self._tables.query(EVENTS_TABLE, _EVENT_PARTITION, limit=top)]
        partition, prefix = task_event_keys(task, "")
        records: list[EventRecord] = []
        cursor = prefix
        while len(records) < top:
            batch = self._tables.query(EVENTS_TABLE, partition, row_from=cursor, row_to=prefix + "~", limit=top * 2)
            for pointer in batch:
                record = self._pointed(str(pointer.properties["RowKey"])[len(prefix) :], task)
                if record is not None:
                    records.append(record)
                    if len(records) == top:
                        break
            if len(batch) < top * 2:
                break
            cursor = str(batch[-1].properties["RowKey"]) + "\x00"
        return records

    def _pointed(self, event_id: str, task: str) -> EventRecord | None:
        entity = self._tables.get(EVENTS_TABLE, *event_keys(event_id))
        if entity is None:
            return None  # a pointer left by an interrupted save, or by a purge that stopped halfway
        record = _record(entity)
        return record if any(d.task.lower() == task.lower() for d in record.decisions) else None

    def attach_run(self, event_id: str, task: str, run_id: str) -> EventRecord:
        """Record the run a decision created; idempotent for the same run, `Conflict` for another."""
        return self.attach_runs(event_id, {task: run_id})

    def attach_runs(self, event_id: str, runs: Mapping[str, str]) -> EventRecord:
        """Record the runs decisions created (task → run id) in one update, however many there are."""
        for _ in range(_MAX_CAS_ATTEMPTS):
            entity = self._entity(event_id)
            record = _record(entity)
            known = {d.task for d in record.decisions}
            missing = sorted(set(runs) - known)
            if missing:
                raise NotFound(f"event {event_id} made no decision for task {missing[0]!r}", target="task")
            for decision in record.decisions:
                wanted = runs.get(decision.task)
                if wanted is not None and decision.run_id is not None and decision.run_id != wanted:
                    raise Conflict(
                        f"event {event_id} already started run {decision.run_id} for task {decision.task!r}; "
                        f"run {wanted} is a duplicate",
                        target="runId",
                    )
            if all(d.run_id == runs[d.task] for d in record.decisions if d.task in runs):
                return record
            updated = dataclasses.replace(
                record,
                decisions=tuple(
                    dataclasses.replace(d, run_id=runs[d.task]) if d.task in runs else d for d in record.decisions
                ),
            )
            try:
                self._tables.replace(EVENTS_TABLE, self._row(updated), etag=entity.etag)
            except ConcurrentUpdate:
                continue
            return updated
        raise StorageError(f"event {event_id} is being updated too often; retry")

    def purge_events(self, *, now: datetime, keep: timedelta, limit: int = 1000) -> int:
        """Remove events older than `keep` (oldest sort last) with their task pointers; returns how many."""
        oldest_kept = _time_key(_utc(now) - keep)
        rows = self._tables.query(EVENTS_TABLE, _EVENT_PARTITION, row_from=oldest_kept + "~", limit=limit)
        for entity in rows:
            event_id = str(entity.properties["RowKey"])
            self._delete_pointers(event_id, (d.task for d in _record(entity).decisions))
            self._tables.delete(EVENTS_TABLE, *event_keys(event_id))
        return len(rows)

    def _delete_pointers(self, event_id: str, tasks: Iterable[str]) -> None:
        for task in tasks:
            self._tables.delete(EVENTS_TABLE, *task_event_keys(task, event_id))
