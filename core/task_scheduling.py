"""Starting runs of tasks: by hand (`slipway task run`) or from a trigger, exactly once per trigger.

Every trigger carries an idempotency key (a GitHub delivery and task, a timer occurrence, a registry
event and digest). The key is claimed in the `runkeys` table before the run is created, so a retried
webhook, a redelivered queue message or two hosts ticking the same timer make one run, not two.
The run's request holds a snapshot of the task (without credentials): editing a task later does
not change runs already queued.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from core.errors import Conflict, InvalidRequest
from core.run_ids import format_run_id
from core.run_service import enqueue_run
from core.runs import Run, RunType, new_run
from core.tasks import Task, TaskKind, task_to_document
from core.wiring import Services

RUN_KEYS_TABLE = "runkeys"
_BATCH = 100
TASK_RUN_REQUEST = "TaskRunRequest"


def run_key_keys(key: str, group: str | None = None) -> tuple[str, str]:
    """Keys of one idempotency claim; claims of one trigger (`group`) share a partition, so a fan-out
    claims them in transactions of 100."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    partition = hashlib.sha256(group.encode()).hexdigest()[:16] if group else digest[:2]
    return partition, digest


@dataclass(frozen=True)
class TaskRunOrder:
    """One run to start: which task, why (trigger metadata as ACR records it), and overrides."""

    task: Task
    trigger: Mapping[str, Any]
    idempotency_key: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # `--set` for this run only
    build_args: Mapping[str, str] = field(default_factory=dict)  # `--arg` for this run only
    source_ref: str | None = None  # what to check out instead of the task's ref (a pushed commit, a PR head)
    key_group: str | None = None  # the trigger (delivery, registry event, timer minute) the key belongs to


def _run_type(task: Task) -> RunType:
    return RunType.AUTO_BUILD if task.kind is TaskKind.DOCKER else RunType.AUTO_RUN


def _request(order: TaskRunOrder) -> dict[str, Any]:
    return {
        "type": TASK_RUN_REQUEST,
        "task": task_to_document(order.task),
        "values": [{"name": k, "value": v} for k, v in order.values],
        "arguments": [{"name": k, "value": v} for k, v in order.build_args.items()],
        "sourceRef": order.source_ref,
        "timeout": order.task.timeout,
        "platform": order.task.platform,
    }


def _claim_key(services: Services, order: TaskRunOrder, run_id: str) -> str | None:
    """Claim the order's key for `run_id`; returns the run that already holds it, if any."""
    key = order.idempotency_key or ""
    partition, row = run_key_keys(key, order.key_group)
    try:
        services.tables.insert(RUN_KEYS_TABLE, {"PartitionKey": partition, "RowKey": row, "RunId": run_id, "Key": key})
    except Conflict:
        existing = services.tables.get(RUN_KEYS_TABLE, partition, row)
        return str(existing.properties["RunId"]) if existing is not None else None
    return None


def _claim_keys(services: Services, pending: list[tuple[TaskRunOrder, str]]) -> dict[int, str]:
    """Claim every keyed order's key; returns, by position, the run id that already held a key."""
    held: dict[int, str] = {}
    by_partition: dict[str, list[tuple[int, TaskRunOrder, str]]] = {}
    for index, (order, run_id) in enumerate(pending):
        if order.idempotency_key is not None:
            partition = run_key_keys(order.idempotency_key, order.key_group)[0]
            by_partition.setdefault(partition, []).append((index, order, run_id))
    for claims in by_partition.values():
        for start in range(0, len(claims), _BATCH):
            chunk = claims[start : start + _BATCH]
            rows = []
            for _, order, run_id in chunk:
                partition, row = run_key_keys(order.idempotency_key or "", order.key_group)
                key_row = {"PartitionKey": partition, "RowKey": row, "RunId": run_id, "Key": order.idempotency_key}
                rows.append(("insert", key_row))
            try:
                services.tables.submit_batch(RUN_KEYS_TABLE, rows)
            except Conflict:  # a retried trigger: find out claim by claim which runs exist already
                for index, order, run_id in chunk:
                    existing = _claim_key(services, order, run_id)
                    if existing is not None:
                        held[index] = existing
    return held


def schedule_task_runs(services: Services, orders: Sequence[TaskRunOrder]) -> list[Run]:
    """Create and queue one run per order; orders whose key was already used return that run."""
    if not orders:
        return []
    services.ensure_storage()
    for order in orders:
        if not order.task.enabled and order.trigger.get("kind") != "manual":
            raise InvalidRequest(f"task '{order.task.name}' is disabled", target="name")
    numbers = services.runs.allocate_numbers(len(orders))
    now = services.clock()
    pending = [
        (order, format_run_id(services.runs.id_prefix, number)) for order, number in zip(orders, numbers, strict=True)
    ]
    held = _claim_keys(services, pending)
    fresh = [
        new_run(
            run_id=run_id,
            number=number,
            run_type=_run_type(order.task),
            request=_request(order),
            now=now,
            platform=order.task.platform,
            timeout=order.task.timeout,
            task=order.task.name,
            trigger=dict(order.trigger),
        )
        for index, ((order, run_id), number) in enumerate(zip(pending, numbers, strict=True))
        if index not in held
    ]
    if len(fresh) == 1:
        services.runs.create(fresh[0])
    elif fresh:
        services.runs.create_many(fresh)
    # Queue messages have no batch API; send them side by side.
    with ThreadPoolExecutor(max_workers=max(1, min(32, len(fresh))), thread_name_prefix="enqueue") as pool:
        list(pool.map(lambda run: enqueue_run(services, run), fresh))
    created = iter(fresh)
    return [services.runs.get(held[i]).run if i in held else next(created) for i in range(len(pending))]


def manual_order(task: Task, body: Mapping[str, Any]) -> TaskRunOrder:
    """`slipway task run -n X [--set K=V] [--arg K=V]`: a Manual trigger with per-run overrides."""

    def pairs(key: str) -> tuple[tuple[str, str], ...]:
        items = body.get(key) or []
        if not isinstance(items, list):
            raise InvalidRequest(f"{key} must be a list of {{name, value}} objects", target=key)
        result = []
        for index, item in enumerate(items):
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise InvalidRequest(f"{key}[{index}] needs a string 'name'", target=f"{key}[{index}]")
            if item.get("isSecret"):
                raise InvalidRequest(f"{key}[{index}]: secret values are not supported here", target=f"{key}[{index}]")
            result.append((item["name"], str(item.get("value", ""))))
        return tuple(result)

    return TaskRunOrder(
        task=task,
        trigger={"kind": "manual"},
        values=pairs("values"),
        build_args=dict(pairs("arguments")),
    )
