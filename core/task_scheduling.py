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
from core.run_service import enqueue_run
from core.runs import Run, RunType, new_run
from core.tasks import Task, TaskKind, task_to_document
from core.wiring import Services

RUN_KEYS_TABLE = "runkeys"
TASK_RUN_REQUEST = "TaskRunRequest"


def run_key_keys(key: str) -> tuple[str, str]:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return digest[:2], digest


@dataclass(frozen=True)
class TaskRunOrder:
    """One run to start: which task, why (trigger metadata as ACR records it), and overrides."""

    task: Task
    trigger: Mapping[str, Any]
    idempotency_key: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # `--set` for this run only
    build_args: Mapping[str, str] = field(default_factory=dict)  # `--arg` for this run only
    source_ref: str | None = None  # what to check out instead of the task's ref (a pushed commit, a PR head)


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


def _claim_key(services: Services, key: str, run_id: str) -> str | None:
    """Claim `key` for `run_id`; returns the run that already holds it, if any."""
    partition, row = run_key_keys(key)
    try:
        services.tables.insert(RUN_KEYS_TABLE, {"PartitionKey": partition, "RowKey": row, "RunId": run_id, "Key": key})
    except Conflict:
        existing = services.tables.get(RUN_KEYS_TABLE, partition, row)
        return str(existing.properties["RunId"]) if existing is not None else None
    return None


def schedule_task_runs(services: Services, orders: Sequence[TaskRunOrder]) -> list[Run]:
    """Create and queue one run per order; orders whose key was already used return that run."""
    if not orders:
        return []
    services.ensure_storage()
    services.tables.ensure_table(RUN_KEYS_TABLE)
    numbers = services.runs.allocate_numbers(len(orders))
    now = services.clock()

    def start(pair: tuple[TaskRunOrder, int]) -> Run:
        order, number = pair
        if not order.task.enabled and order.trigger.get("kind") != "manual":
            raise InvalidRequest(f"task '{order.task.name}' is disabled", target="name")
        run_id = f"{services.runs.id_prefix}{_base36(number)}"
        if order.idempotency_key is not None:
            existing = _claim_key(services, order.idempotency_key, run_id)
            if existing is not None:
                return services.runs.get(existing).run
        run = new_run(
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
        services.runs.create(run)
        return enqueue_run(services, run)

    pairs = list(zip(orders, numbers, strict=True))
    if len(pairs) == 1:
        return [start(pairs[0])]
    # Fan-outs (a base image many tasks build on) create runs concurrently: storage calls dominate.
    with ThreadPoolExecutor(max_workers=min(32, len(pairs)), thread_name_prefix="schedule") as pool:
        return list(pool.map(start, pairs))


def _base36(number: int) -> str:
    from core.run_ids import to_base36

    return to_base36(number)


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
