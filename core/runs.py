"""Runs and the one place where their status changes.

A run moves `Queued → Started → Running → Succeeded | Failed | Canceled | Error | Timeout`, the
values ACR uses. `transition` is the only function that changes a run's status; it refuses moves the
lifecycle does not allow, so a finished run can never be revived by a late worker or a duplicate
queue message. Everything here is plain data and pure functions; `RunStore` persists it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.errors import InvalidTransition


class RunStatus(StrEnum):
    QUEUED = "Queued"
    STARTED = "Started"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"
    ERROR = "Error"
    TIMEOUT = "Timeout"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def log_completion(self) -> str:
        """The log blob's `Complete` metadata value, as ACR writes it (lowercase, ACR's words)."""
        return _LOG_COMPLETION[self]

    @classmethod
    def parse(cls, text: str) -> RunStatus:
        for status in cls:
            if status.value.lower() == text.strip().lower():
                return status
        allowed = ", ".join(s.value for s in cls)
        raise ValueError(f"unknown run status {text!r}; use one of {allowed}")


TERMINAL_STATUSES = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.ERROR, RunStatus.TIMEOUT}
)
ACTIVE_STATUSES = frozenset({RunStatus.STARTED, RunStatus.RUNNING})

_LOG_COMPLETION = {
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELED: "canceled",
    RunStatus.ERROR: "internalerror",
    RunStatus.TIMEOUT: "timedout",
    RunStatus.QUEUED: "",
    RunStatus.STARTED: "",
    RunStatus.RUNNING: "",
}

_ALLOWED: Mapping[RunStatus, frozenset[RunStatus]] = {
    # A queued run can be canceled or rejected before any worker claims it.
    RunStatus.QUEUED: frozenset({RunStatus.STARTED, RunStatus.CANCELED, RunStatus.ERROR}),
    # A started run may end before its steps run (bad context, cancel, timeout while preparing).
    RunStatus.STARTED: frozenset({RunStatus.RUNNING} | TERMINAL_STATUSES - {RunStatus.SUCCEEDED}),
    RunStatus.RUNNING: TERMINAL_STATUSES,
}


class RunType(StrEnum):
    QUICK_BUILD = "QuickBuild"
    QUICK_RUN = "QuickRun"
    AUTO_BUILD = "AutoBuild"
    AUTO_RUN = "AutoRun"


@dataclass(frozen=True)
class OutputImage:
    registry: str
    repository: str
    tag: str
    digest: str

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


@dataclass(frozen=True)
class Run:
    """One run. `request` is the JSON-ready request that produced it, without secret values."""

    run_id: str
    number: int
    status: RunStatus
    run_type: RunType
    create_time: datetime
    last_updated_time: datetime
    request: Mapping[str, Any]
    platform: str = "linux/amd64"
    timeout: int = 3600
    start_time: datetime | None = None
    finish_time: datetime | None = None
    output_images: tuple[OutputImage, ...] = ()
    error_message: str | None = None
    cancel_requested: bool = False
    worker: str | None = None
    heartbeat_time: datetime | None = None
    task: str | None = None
    trigger: Mapping[str, Any] = field(default_factory=dict)
    # ACR's dependency report entries (`image`, `runtime-dependency`, `buildtime-dependency`, `git`).
    dependencies: tuple[Mapping[str, Any], ...] = ()
    # Each step's outcome and timing: `{"id", "status", "startTime", "elapsedSeconds", "error"}`.
    steps: tuple[Mapping[str, Any], ...] = ()


def new_run(
    *,
    run_id: str,
    number: int,
    run_type: RunType,
    request: Mapping[str, Any],
    now: datetime,
    platform: str,
    timeout: int,
    task: str | None = None,
    trigger: Mapping[str, Any] | None = None,
) -> Run:
    return Run(
        run_id=run_id,
        number=number,
        status=RunStatus.QUEUED,
        run_type=run_type,
        create_time=now,
        last_updated_time=now,
        request=dict(request),
        platform=platform,
        timeout=timeout,
        task=task,
        trigger=dict(trigger or {}),
    )


def can_transition(current: RunStatus, target: RunStatus) -> bool:
    return target in _ALLOWED.get(current, frozenset())


def transition(
    run: Run,
    target: RunStatus,
    *,
    now: datetime,
    error_message: str | None = None,
    worker: str | None = None,
) -> Run:
    """Move `run` to `target`, stamping the times ACR records; raise if the move is not allowed."""
    if not can_transition(run.status, target):
        raise InvalidTransition(
            f"run {run.run_id} is {run.status.value} and cannot become {target.value}",
            target="status",
        )
    changes: dict[str, Any] = {"status": target, "last_updated_time": now}
    if target is RunStatus.STARTED:
        changes["start_time"] = now
        changes["heartbeat_time"] = now
        changes["worker"] = worker
    if target.is_terminal:
        changes["finish_time"] = now
        if run.start_time is None:
            changes["start_time"] = now
    if error_message is not None:
        changes["error_message"] = error_message
    return dataclasses.replace(run, **changes)


def record_heartbeat(run: Run, *, now: datetime) -> Run:
    return dataclasses.replace(run, heartbeat_time=now, last_updated_time=now)


def request_cancel(run: Run, *, now: datetime) -> Run:
    """A queued run is canceled at once; an active one is flagged for its worker to stop."""
    if run.status is RunStatus.QUEUED:
        return transition(run, RunStatus.CANCELED, now=now, error_message="Canceled by user")
    if run.status in ACTIVE_STATUSES:
        return dataclasses.replace(run, cancel_requested=True, last_updated_time=now)
    raise InvalidTransition(
        f"run {run.run_id} already finished ({run.status.value}); only Queued, Started or Running runs can be canceled",
        target="runId",
    )


def with_outputs(run: Run, images: tuple[OutputImage, ...], *, now: datetime) -> Run:
    return dataclasses.replace(run, output_images=images, last_updated_time=now)


def with_steps(run: Run, steps: tuple[Mapping[str, Any], ...]) -> Run:
    return dataclasses.replace(run, steps=steps)


def with_dependencies(run: Run, report: tuple[Mapping[str, Any], ...]) -> Run:
    return dataclasses.replace(run, dependencies=report)


def duration_seconds(run: Run) -> float | None:
    if run.start_time is None or run.finish_time is None:
        return None
    return (run.finish_time - run.start_time).total_seconds()
