"""The run worker: claims a queued run, performs it on the engine, and records how it ended.

A queue message only names a run; the run record decides. Claiming is an ETag-guarded
`Queued → Started`, so a message delivered twice (or to two hosts) executes the run once. While the
run executes, a heartbeat thread stamps the record every `heartbeat_seconds` and picks up cancel
requests; the reaper (`core.reaper`) ends runs whose heartbeat stopped. The final status is written
before the log's `Complete` metadata, so a client that sees the log complete reads the final status.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import base_images
from core.dependency_report import dependency_report, format_report
from core.engine import Cancellation
from core.errors import (
    InvalidTransition,
    RunNotFound,
    SlipwayError,
)
from core.executor import CANCELED_BY_USER, RUN_TIMED_OUT, Execution, Executor, Outcome, StepResult
from core.log_masking import StreamRedactor
from core.run_log import RunLogWriter
from core.run_preparation import RunFailed, prepare_run
from core.runs import (
    OutputImage,
    Run,
    RunStatus,
    record_heartbeat,
    transition,
    with_dependencies,
    with_outputs,
    with_steps,
)
from core.wiring import OUTPUTS_CONTAINER, Services

RunChange = Callable[[Run], Run]

logger = logging.getLogger(__name__)

_OUTCOME_STATUS = {
    Outcome.SUCCEEDED: RunStatus.SUCCEEDED,
    Outcome.FAILED: RunStatus.FAILED,
    Outcome.CANCELED: RunStatus.CANCELED,
    Outcome.TIMEOUT: RunStatus.TIMEOUT,
    Outcome.ERROR: RunStatus.ERROR,
}


class Heartbeat:
    """Stamps the run every interval and turns a cancel request into a `Cancellation`."""

    def __init__(self, services: Services, run_id: str, cancellation: Cancellation) -> None:
        self._services = services
        self._run_id = run_id
        self._cancellation = cancellation
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        interval = self._services.settings.heartbeat_seconds
        while not self._stop.wait(interval):
            try:
                run = self._services.runs.update(
                    self._run_id,
                    lambda current: (
                        current if current.status.is_terminal else record_heartbeat(current, now=self._services.clock())
                    ),
                )
            except SlipwayError as error:
                logger.warning("heartbeat for run %s failed: %s", self._run_id, error.message)
                continue
            if run.cancel_requested:
                self._cancellation.cancel(CANCELED_BY_USER)
            elif run.status.is_terminal:
                self._cancellation.cancel(CANCELED_BY_USER)  # ended elsewhere (e.g. reaped): stop work


def claim_run(services: Services, run_id: str) -> Run | None:
    """`Queued → Started` for this worker; None if another delivery or worker already has it."""
    try:
        return services.runs.update(
            run_id,
            lambda run: transition(run, RunStatus.STARTED, now=services.clock(), worker=services.settings.worker_id),
        )
    except (InvalidTransition, RunNotFound) as error:
        logger.info("run %s not claimed: %s", run_id, error.message)
        return None


def process_run(services: Services, run_id: str) -> RunStatus | None:
    """Perform one run end to end; returns its final status, or None if it was not ours to run."""
    services.ensure_storage()
    run = claim_run(services, run_id)
    if run is None:
        return None
    redactor = StreamRedactor.for_values([])  # secrets are added as they are resolved
    log = RunLogWriter(
        services.blobs,
        run_id,
        clock=services.clock,
        flush_seconds=services.settings.log_flush_seconds,
        redactor=redactor,
        live=services.live_logs,
    )
    log.open()
    cancellation = Cancellation()
    deadline = threading.Timer(run.timeout, cancellation.cancel, args=(RUN_TIMED_OUT,))
    deadline.daemon = True
    deadline.start()
    status: RunStatus = RunStatus.ERROR
    message: str | None = "internal error"
    records: list[RunChange] = []
    try:
        with (
            Heartbeat(services, run_id, cancellation),
            tempfile.TemporaryDirectory(prefix="slipway-run-") as work,
        ):
            status, message = _perform(
                services, run, log, cancellation, work=Path(work), redactor=redactor, records=records
            )
    except RunFailed as failure:
        status, message = failure.status, failure.message
        log.line(message)
    except Exception:  # the worker's outermost boundary: the run must end, whatever happened
        logger.exception("run %s crashed", run_id)
        log.line("Internal error in the Slipway worker; the run was stopped (see the service log)")
    finally:
        deadline.cancel()
    elapsed = int((services.clock() - (run.start_time or services.clock())).total_seconds())
    log.write(_final_line(run_id, status, elapsed, message))
    _finish(services, run_id, status, message, records)
    log.close(status)
    return status


def _final_line(run_id: str, status: RunStatus, elapsed: int, message: str | None) -> str:
    if status is RunStatus.SUCCEEDED:
        return f"Run ID: {run_id} was successful after {elapsed}s\n"
    if status is RunStatus.CANCELED:
        return f"Run ID: {run_id} was canceled after {elapsed}s\n"
    if status is RunStatus.TIMEOUT:
        return f"Run ID: {run_id} timed out after {elapsed}s. Error: {message}\n"
    return f"Run ID: {run_id} failed after {elapsed}s. Error: {message}\n"


def _finish(services: Services, run_id: str, status: RunStatus, message: str | None, records: list[RunChange]) -> None:
    """One update stores what the run recorded (steps, outputs) and its final status."""
    error = None if status is RunStatus.SUCCEEDED else message

    def recorded(run: Run) -> Run:
        for change in records:
            run = change(run)
        return run

    try:
        services.runs.update(
            run_id, lambda run: transition(recorded(run), status, now=services.clock(), error_message=error)
        )
    except InvalidTransition as refused:
        logger.warning("run %s could not be marked %s: %s", run_id, status.value, refused.message)
        if records:
            services.runs.update(run_id, recorded)


def _perform(
    services: Services,
    run: Run,
    log: RunLogWriter,
    cancellation: Cancellation,
    *,
    work: Path,
    redactor: StreamRedactor,
    records: list[RunChange],
) -> tuple[RunStatus, str | None]:
    """Prepare and execute the run; what to store on the run record is appended to `records`."""
    settings = services.settings
    plan, context, commit = prepare_run(services, run, log, work, redactor)
    services.runs.update(run.run_id, lambda current: transition(current, RunStatus.RUNNING, now=services.clock()))
    executor = Executor(services.engine, log, clock=services.clock, push_backoff_seconds=settings.push_retry_seconds)
    execution = executor.execute(plan, context, cancellation)
    timeline = tuple(_step_record(result) for result in execution.steps)
    records.append(lambda current: with_steps(current, timeline))
    status = _OUTCOME_STATUS[execution.outcome]
    if status is RunStatus.SUCCEEDED:
        records.append(_record_outputs(services, run, execution, log, git_commit=commit))
    return status, _failure_message(execution)


def _step_record(result: StepResult) -> dict[str, object]:
    return {
        "id": result.step_id,
        "status": result.state.value,
        "startTime": result.started.isoformat() if result.started else None,
        "elapsedSeconds": round(result.elapsed, 3),
        "error": result.error,
    }


def _failure_message(execution: Execution) -> str | None:
    if execution.outcome is Outcome.SUCCEEDED:
        return None
    if execution.outcome is Outcome.CANCELED:
        return "Canceled by user"
    if execution.outcome is Outcome.TIMEOUT and execution.failure == RUN_TIMED_OUT:
        return "the run exceeded its timeout"
    return execution.failure or "failed during run"


def _record_outputs(
    services: Services, run: Run, execution: Execution, log: RunLogWriter, *, git_commit: str = ""
) -> RunChange:
    """Report the dependencies and track base images; returns the change that records the outputs."""
    outputs: list[OutputImage] = []
    for pushed in execution.pushed:
        registry, _, rest = pushed.reference.partition("/")
        repository, _, tag = rest.rpartition(":")
        outputs.append(OutputImage(registry=registry, repository=repository, tag=tag, digest=pushed.digest))
    report = dependency_report(execution, services.engine, git_head_revision=git_commit or None)
    if report:
        log.line("The following dependencies were found:")
        log.write(format_report(report))
        services.blobs.put(OUTPUTS_CONTAINER, f"{run.run_id}/dependencies.json", format_report(report).encode())
    if run.task:
        _track_base_images(services, run, report, outputs, log)
    return lambda current: with_dependencies(with_outputs(current, tuple(outputs), now=services.clock()), tuple(report))


def _track_base_images(
    services: Services, run: Run, report: list[dict[str, Any]], outputs: list[OutputImage], log: RunLogWriter
) -> None:
    """Remember what the task was built from (base-image triggers) and which chain pushed its images."""
    task_name = run.task or ""
    try:
        task = services.tasks.get(task_name)
        base_images.ensure_index(services.tables)
        indexed = base_images.index_run_dependencies(
            services.tables,
            task_name,
            report,
            trigger_type_for_task=task.base_image_trigger.type,
            now=services.clock(),
        )
        chain = tuple(run.trigger.get("chain") or (task_name,))
        for image in outputs:
            base_images.record_produced_image(services.tables, image.reference, image.digest, chain)
    except SlipwayError as error:
        log.line(f"Warning: could not record the base images this task tracks: {error.message}")
        return
    if indexed.tracked:
        log.line(f"Tracking {len(indexed.tracked)} base image(s) for base-image update triggers")
