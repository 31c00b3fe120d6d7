"""Persistence of runs in Table storage, with a per-status index so listing never scans every run.

Tables (names from `RunTables`):
- `runs`: one row per run, partition `run`, row key sorting newest first; the run is a JSON document.
- `runindex`: partition `status-<Status>` (and later `task-<name>`), same row keys; rows point at runs.
  Index rows are written before the old one is removed, so a crash leaves at worst a stale row, which
  readers skip because they always check the run itself.
- `counters`: the run-number counter, advanced with ETag compare-and-swap so IDs are unique across
  concurrent creators.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import ConcurrentUpdate, Conflict, InvalidRequest, RunNotFound, SlipwayError, StorageError
from core.ports import TableStore
from core.run_ids import format_run_id, number_from_key, parse_run_id, sortable_key
from core.runs import OutputImage, Run, RunStatus, RunType

RUNS_TABLE = "runs"
INDEX_TABLE = "runindex"
COUNTERS_TABLE = "counters"
_RUN_PARTITION = "run"
_MAX_CAS_ATTEMPTS = 50
_REMEMBERED_RUNS = 1_000
_BATCH = 100  # Table storage's limit per transaction
_CHUNK_CHARS = 30_000
_MAX_CHUNKS = 15  # an entity holds at most 1 MiB


def run_row_keys(number: int) -> tuple[str, str]:
    return _RUN_PARTITION, sortable_key(number)


def status_index_keys(status: RunStatus, number: int) -> tuple[str, str]:
    return f"status-{status.value}", sortable_key(number)


def task_index_keys(task: str, number: int) -> tuple[str, str]:
    """One partition for every task's rows, so a fan-out's index rows go out in batches of 100."""
    return "task", f"{task.lower()}|{sortable_key(number)}"


def _index_rows(run: Run) -> list[dict[str, Any]]:
    """The index rows pointing at `run`: by status, and by task for task runs."""
    keys = [status_index_keys(run.status, run.number)]
    if run.task:
        keys.append(task_index_keys(run.task, run.number))
    return [{"PartitionKey": partition, "RowKey": row, "RunId": run.run_id} for partition, row in keys]


def _task_row_range(task: str) -> tuple[str, str]:
    return f"{task.lower()}|", f"{task.lower()}}}"  # "}" sorts right after "|"


def _index_number(row_key: str) -> int:
    return number_from_key(row_key.rsplit("|", 1)[-1])


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def run_to_document(run: Run) -> dict[str, Any]:
    """The run as JSON-ready data in ACR's field names (also the API's run representation)."""
    return {
        "runId": run.run_id,
        "status": run.status.value,
        "runType": run.run_type.value,
        "createTime": _time(run.create_time),
        "startTime": _time(run.start_time),
        "finishTime": _time(run.finish_time),
        "lastUpdatedTime": _time(run.last_updated_time),
        "platform": run.platform,
        "timeout": run.timeout,
        "outputImages": [
            {"registry": i.registry, "repository": i.repository, "tag": i.tag, "digest": i.digest}
            for i in run.output_images
        ],
        "runErrorMessage": run.error_message,
        "cancelRequested": run.cancel_requested,
        "worker": run.worker,
        "heartbeatTime": _time(run.heartbeat_time),
        "task": run.task,
        "trigger": dict(run.trigger),
        "request": dict(run.request),
        "dependencies": [dict(entry) for entry in run.dependencies],
        "steps": [dict(step) for step in run.steps],
        "number": run.number,
    }


def _document_properties(text: str) -> dict[str, str]:
    """Split a run document over string properties: Table storage caps each at 64 KiB (32K chars)."""
    chunks = [text[i : i + _CHUNK_CHARS] for i in range(0, len(text), _CHUNK_CHARS)] or [""]
    if len(chunks) > _MAX_CHUNKS:
        raise InvalidRequest(
            f"the run record would be {len(text)} characters, over the {_CHUNK_CHARS * _MAX_CHUNKS} that storage "
            "allows; send a smaller task file or fewer values"
        )
    return {("Document" if i == 0 else f"Document{i}"): chunk for i, chunk in enumerate(chunks)}


def _document_text(properties: Mapping[str, Any]) -> str:
    parts = [str(properties.get("Document", ""))]
    index = 1
    while f"Document{index}" in properties:
        parts.append(str(properties[f"Document{index}"]))
        index += 1
    return "".join(parts)


def run_from_document(document: Mapping[str, Any]) -> Run:
    return Run(
        run_id=document["runId"],
        number=int(document["number"]),
        status=RunStatus(document["status"]),
        run_type=RunType(document["runType"]),
        create_time=_parse_time(document["createTime"]) or datetime.min,
        start_time=_parse_time(document.get("startTime")),
        finish_time=_parse_time(document.get("finishTime")),
        last_updated_time=_parse_time(document["lastUpdatedTime"]) or datetime.min,
        platform=document.get("platform", "linux/amd64"),
        timeout=int(document.get("timeout", 3600)),
        output_images=tuple(OutputImage(**image) for image in document.get("outputImages", [])),
        error_message=document.get("runErrorMessage"),
        cancel_requested=bool(document.get("cancelRequested", False)),
        worker=document.get("worker"),
        heartbeat_time=_parse_time(document.get("heartbeatTime")),
        task=document.get("task"),
        trigger=dict(document.get("trigger") or {}),
        request=dict(document.get("request") or {}),
        dependencies=tuple(document.get("dependencies") or ()),
        steps=tuple(document.get("steps") or ()),
    )


@dataclass(frozen=True)
class StoredRun:
    run: Run
    etag: str


class RunStore:
    def __init__(
        self,
        tables: TableStore,
        *,
        id_prefix: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._tables = tables
        self._prefix = id_prefix
        self._sleep = sleep
        # The runs this process last read or wrote, newest last: a hint for `update`, never an answer.
        self._recent: dict[str, StoredRun] = {}
        self._recent_lock = threading.Lock()

    @property
    def id_prefix(self) -> str:
        return self._prefix

    def ensure(self) -> None:
        for table in (RUNS_TABLE, INDEX_TABLE, COUNTERS_TABLE):
            self._tables.ensure_table(table)

    def _backoff(self, attempt: int) -> None:
        self._sleep(random.uniform(0, min(0.05 * (2**attempt), 0.5)))  # noqa: S311 - jitter, not security

    def allocate_numbers(self, count: int = 1) -> range:
        """Reserve `count` consecutive run numbers; safe under concurrent callers on any host."""
        for attempt in range(_MAX_CAS_ATTEMPTS):
            current = self._tables.get(COUNTERS_TABLE, "counter", "runs")
            try:
                if current is None:
                    self._tables.insert(COUNTERS_TABLE, {"PartitionKey": "counter", "RowKey": "runs", "Value": count})
                    return range(1, count + 1)
                value = int(current.properties["Value"])
                self._tables.replace(
                    COUNTERS_TABLE,
                    {"PartitionKey": "counter", "RowKey": "runs", "Value": value + count},
                    etag=current.etag,
                )
                return range(value + 1, value + count + 1)
            except (Conflict, ConcurrentUpdate):
                self._backoff(attempt)
        raise StorageError("could not allocate a run ID: the counter is too contended; retry the request")

    def next_run_id(self) -> tuple[str, int]:
        number = self.allocate_numbers(1)[0]
        return format_run_id(self._prefix, number), number

    def create(self, run: Run) -> None:
        partition, row = run_row_keys(run.number)
        self._write_index(run)
        etag = self._tables.insert(RUNS_TABLE, self._row(run, partition, row))
        self._remember(run.run_id, StoredRun(run, etag))

    def create_many(self, runs: Sequence[Run]) -> None:
        """Create many runs with transactions of 100 rows per partition (fan-outs), index rows first."""
        index: dict[str, list[dict[str, Any]]] = {}
        for run in runs:
            for row in _index_rows(run):
                index.setdefault(row["PartitionKey"], []).append(row)
        for rows in index.values():
            for start in range(0, len(rows), _BATCH):
                self._tables.submit_batch(INDEX_TABLE, [("upsert", r) for r in rows[start : start + _BATCH]])
        records = [self._row(run, *run_row_keys(run.number)) for run in runs]
        for start in range(0, len(records), _BATCH):
            self._tables.submit_batch(RUNS_TABLE, [("insert", r) for r in records[start : start + _BATCH]])

    def _row(self, run: Run, partition: str, row: str) -> dict[str, Any]:
        return {
            "PartitionKey": partition,
            "RowKey": row,
            "RunId": run.run_id,
            "Status": run.status.value,
            **_document_properties(json.dumps(run_to_document(run), separators=(",", ":"))),
        }

    def _write_index(self, run: Run) -> None:
        for row in _index_rows(run):
            self._tables.upsert(INDEX_TABLE, row)

    def get(self, run_id: str) -> StoredRun:
        number = parse_run_id(self._prefix, run_id)
        partition, row = run_row_keys(number)
        entity = self._tables.get(RUNS_TABLE, partition, row)
        if entity is None or entity.properties.get("RunId") != run_id:
            raise RunNotFound(
                f"run {run_id!r} does not exist (see `slipway task list-runs` for recent runs)",
                target="runId",
            )
        stored = StoredRun(run=run_from_document(json.loads(_document_text(entity.properties))), etag=entity.etag)
        self._remember(run_id, stored)
        return stored

    def _recall(self, run_id: str) -> StoredRun | None:
        with self._recent_lock:
            return self._recent.get(run_id)

    def _remember(self, run_id: str, stored: StoredRun) -> None:
        if not stored.etag:
            return  # without its ETag a copy could not be checked
        with self._recent_lock:
            self._recent.pop(run_id, None)
            self._recent[run_id] = stored
            if len(self._recent) > _REMEMBERED_RUNS:
                del self._recent[next(iter(self._recent))]

    def update(self, run_id: str, change: Callable[[Run], Run]) -> Run:
        """Apply `change` to the current run with optimistic concurrency, retrying on races.

        `change` must be pure: it is re-applied to the fresh run after a lost race, and may raise to
        abandon the update (e.g. `InvalidTransition`).
        """
        recalled = self._recall(run_id)
        for attempt in range(_MAX_CAS_ATTEMPTS):
            # First try the run as this process last stored or read it: usually still current, as a
            # worker's claim, progress and end follow one another. The ETag refuses a stale copy, and
            # nothing is decided on a copy alone (no change needed, or a change refused): a second
            # try always reads the stored run.
            verified = recalled is None
            stored = recalled if recalled is not None else self.get(run_id)
            recalled = None
            try:
                updated = change(stored.run)
            except SlipwayError:
                if verified:
                    raise
                continue
            if updated == stored.run:
                if verified:
                    return updated
                continue
            partition, row = run_row_keys(updated.number)
            if updated.status is not stored.run.status:
                self._write_index(updated)
            try:
                etag = self._tables.replace(RUNS_TABLE, self._row(updated, partition, row), etag=stored.etag)
            except ConcurrentUpdate:
                if verified:
                    self._backoff(attempt)
                continue
            self._remember(run_id, StoredRun(updated, etag))
            if updated.status is not stored.run.status:
                self._tables.delete(INDEX_TABLE, *status_index_keys(stored.run.status, stored.run.number))
            return updated
        raise StorageError(f"run {run_id} is being updated too often; retry the request")

    def list(self, *, top: int, status: RunStatus | None = None, task: str | None = None) -> list[Run]:
        """Newest runs first; `status`/`task` use the index, never a scan of all runs."""
        if status is None and task is None:
            rows = self._tables.query(RUNS_TABLE, _RUN_PARTITION, limit=top)
            return [run_from_document(json.loads(_document_text(r.properties))) for r in rows]
        partition = status_index_keys(status, 1)[0] if status else task_index_keys(task or "", 1)[0]
        cursor, end = (None, None) if status else _task_row_range(task or "")
        runs: list[Run] = []
        while len(runs) < top:
            batch = self._tables.query(INDEX_TABLE, partition, row_from=cursor, row_to=end, limit=top * 2)
            for entry in batch:
                run = self._verified(entry.properties, status, task)
                if run is not None:
                    runs.append(run)
                    if len(runs) == top:
                        break
            if len(batch) < top * 2:
                break
            cursor = batch[-1].properties["RowKey"] + "\x00"
        return runs

    def _verified(self, index_row: Mapping[str, Any], status: RunStatus | None, task: str | None) -> Run | None:
        number = _index_number(index_row["RowKey"])
        entity = self._tables.get(RUNS_TABLE, *run_row_keys(number))
        if entity is None:
            return None
        run = run_from_document(json.loads(_document_text(entity.properties)))
        if (status is not None and run.status is not status) or (
            task is not None and (run.task or "").lower() != task.lower()
        ):
            return None  # a stale index row left by an interrupted update
        return run
