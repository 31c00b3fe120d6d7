"""Performs a `Plan` on a container engine: the `when` DAG in parallel, timeouts, fail-fast, cancel.

Steps whose dependencies have all succeeded start at once, each on its own thread (ACR sets no
concurrency limit either). The first failing step without `ignoreErrors` cancels the steps still
running and nothing new starts; steps that never ran are reported as skipped. A step's own timeout,
the run's timeout and a user's cancel all arrive through `Cancellation`s, so the engine call in
progress is interrupted rather than waited for.

The log reads like ACR's: `Executing step ID: …`, `Step ID: … marked as successful (elapsed time in
seconds: …)`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from graphlib import TopologicalSorter
from typing import BinaryIO, Protocol

from core.dockerfile_deps import DockerfileDependencies, scan_dependencies
from core.engine import (
    Cancellation,
    ContainerEngine,
    OperationCanceled,
    RegistryAuth,
    StepFailed,
)
from core.errors import InvalidDockerfile, SlipwayError
from core.plan import BuildStep, Plan, PushStep, Step

CANCELED_BY_USER = "canceled"
RUN_TIMED_OUT = "run-timeout"
STEP_TIMED_OUT = "step-timeout"
STEP_FAILED = "step-failed"


class StepState(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELED = "canceled"
    TIMED_OUT = "timedout"


class Outcome(StrEnum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TIMEOUT = "Timeout"
    ERROR = "Error"


@dataclass(frozen=True)
class StepResult:
    step_id: str
    state: StepState
    elapsed: float = 0.0
    error: str | None = None
    started: datetime | None = None
    # True when the platform (engine, storage) failed rather than the user's work: the run ends Error.
    infrastructure: bool = False


@dataclass(frozen=True)
class BuiltImage:
    step_id: str
    tags: tuple[str, ...]
    image_id: str
    dependencies: DockerfileDependencies


@dataclass(frozen=True)
class PushedImage:
    reference: str
    digest: str


@dataclass(frozen=True)
class Execution:
    outcome: Outcome
    steps: tuple[StepResult, ...]
    built: tuple[BuiltImage, ...] = ()
    pushed: tuple[PushedImage, ...] = ()
    failure: str | None = None


class RunLog(Protocol):
    def write(self, data: bytes | str) -> None: ...

    def line(self, message: str) -> None: ...


class ExecutionContext(Protocol):
    def open_build_context(self, step: BuildStep) -> tuple[BinaryIO, str]:
        """The tar context for a build step and the text of its Dockerfile."""
        ...

    def registry_auth(self, reference: str) -> RegistryAuth | None: ...


@dataclass
class _StepRun:
    """Mutable record of what one step produced, filled on its thread."""

    built: list[BuiltImage] = field(default_factory=list)
    pushed: list[PushedImage] = field(default_factory=list)


class Executor:
    def __init__(
        self,
        engine: ContainerEngine,
        log: RunLog,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        push_backoff_seconds: float = 1.0,
    ) -> None:
        self._engine = engine
        self._log = log
        self._monotonic = monotonic
        self._clock = clock
        self._sleep = sleep
        self._push_backoff = push_backoff_seconds

    def execute(self, plan: Plan, context: ExecutionContext, cancellation: Cancellation) -> Execution:
        for note in plan.notes:
            self._log.line(note)
        steps_by_id: Mapping[str, Step] = {step.id: step for step in plan.steps}
        sorter: TopologicalSorter[str] = TopologicalSorter({s.id: s.depends_on for s in plan.steps})
        sorter.prepare()
        # Siblings are stopped through this child when a step fails; the parent stays untouched so
        # the outcome can tell a failure from a cancel or a run timeout.
        steps_cancellation = cancellation.child()
        finished: queue.Queue[tuple[str, StepResult]] = queue.Queue()
        records: dict[str, _StepRun] = {}
        results: dict[str, StepResult] = {}
        running = 0
        first_failure: StepResult | None = None
        while sorter.is_active():
            if first_failure is None and not steps_cancellation.is_set:
                for step_id in sorter.get_ready():
                    record = records.setdefault(step_id, _StepRun())
                    thread = threading.Thread(
                        target=self._run_step_thread,
                        args=(steps_by_id[step_id], context, steps_cancellation, record, finished),
                        name=f"step-{step_id}",
                        daemon=True,
                    )
                    running += 1
                    thread.start()
            if running == 0:
                break
            step_id, result = finished.get()
            running -= 1
            results[step_id] = result
            step = steps_by_id[step_id]
            if result.state is StepState.SUCCESSFUL or (result.state is StepState.FAILED and step.ignore_errors):
                sorter.done(step_id)
            elif first_failure is None:
                first_failure = result
                steps_cancellation.cancel(STEP_FAILED)
        ordered = tuple(results.get(s.id) or StepResult(s.id, StepState.SKIPPED) for s in plan.steps)
        for skipped in (r for r in ordered if r.state is StepState.SKIPPED):
            self._log.line(f"Step ID: {skipped.step_id} was skipped")
        return Execution(
            outcome=self._outcome(cancellation, first_failure),
            steps=ordered,
            built=tuple(b for s in plan.steps for b in records.get(s.id, _StepRun()).built),
            pushed=tuple(p for s in plan.steps for p in records.get(s.id, _StepRun()).pushed),
            failure=first_failure.error if first_failure else cancellation.reason,
        )

    @staticmethod
    def _outcome(cancellation: Cancellation, first_failure: StepResult | None) -> Outcome:
        if cancellation.is_set:
            return Outcome.TIMEOUT if cancellation.reason == RUN_TIMED_OUT else Outcome.CANCELED
        if first_failure is None:
            return Outcome.SUCCEEDED
        if first_failure.state is StepState.TIMED_OUT:
            return Outcome.TIMEOUT
        if first_failure.state is StepState.CANCELED:
            return Outcome.CANCELED
        return Outcome.ERROR if first_failure.infrastructure else Outcome.FAILED

    def _run_step_thread(
        self,
        step: Step,
        context: ExecutionContext,
        parent: Cancellation,
        record: _StepRun,
        finished: queue.Queue[tuple[str, StepResult]],
    ) -> None:
        started = self._monotonic()
        started_at = self._clock()
        step_cancellation = parent.child()
        timer = threading.Timer(step.timeout, step_cancellation.cancel, args=(STEP_TIMED_OUT,))
        timer.daemon = True
        timer.start()
        self._log.line(
            f"Executing step ID: {step.id}. Timeout(sec): {step.timeout}, Working directory: '', Network: ''"
        )
        try:
            if isinstance(step, BuildStep):
                self._build(step, context, step_cancellation, record)
            else:
                self._push(step, context, step_cancellation, record)
            result = StepResult(step.id, StepState.SUCCESSFUL, self._monotonic() - started, started=started_at)
        except OperationCanceled as stop:
            state = StepState.TIMED_OUT if stop.reason == STEP_TIMED_OUT else StepState.CANCELED
            message = f"step {step.id} timed out after {step.timeout}s" if state is StepState.TIMED_OUT else None
            result = StepResult(step.id, state, self._monotonic() - started, message, started=started_at)
        except StepFailed as failure:
            result = StepResult(
                step.id, StepState.FAILED, self._monotonic() - started, str(failure), started=started_at
            )
        except SlipwayError as error:
            result = StepResult(
                step.id,
                StepState.FAILED,
                self._monotonic() - started,
                error.message,
                started=started_at,
                infrastructure=True,
            )
        finally:
            timer.cancel()
        self._report(step, result)
        finished.put((step.id, result))

    def _report(self, step: Step, result: StepResult) -> None:
        elapsed = f"elapsed time in seconds: {result.elapsed:.6f}"
        if result.state is StepState.SUCCESSFUL:
            self._log.line(f"Step ID: {step.id} marked as successful ({elapsed})")
        elif result.state is StepState.FAILED and step.ignore_errors:
            self._log.line(f"Step ID: {step.id} failed but ignoreErrors is set; marked as successful ({elapsed})")
        elif result.state is StepState.CANCELED:
            self._log.line(f"Step ID: {step.id} was canceled ({elapsed})")
        else:
            self._log.line(f"Step ID: {step.id} marked as {result.state.value} ({elapsed}): {result.error}")

    def _build(self, step: BuildStep, context: ExecutionContext, cancellation: Cancellation, record: _StepRun) -> None:
        self._log.line("Scanning for dependencies...")
        archive, dockerfile_text = context.open_build_context(step)
        with archive:
            try:
                dependencies = scan_dependencies(
                    dockerfile_text, build_args=step.options.build_args, target=step.options.target
                )
            except InvalidDockerfile as error:
                raise StepFailed(error.message) from error
            self._log.line("Successfully scanned dependencies")
            image_id = self._engine.build(archive, step.options, on_output=self._log.write, cancellation=cancellation)
        self._log.line(f"Successfully executed container: {step.id}")
        record.built.append(BuiltImage(step.id, step.options.tags, image_id, dependencies))

    def _push(self, step: PushStep, context: ExecutionContext, cancellation: Cancellation, record: _StepRun) -> None:
        for reference in step.images:
            record.pushed.append(self._push_one(reference, step, context, cancellation))

    def _push_one(
        self, reference: str, step: PushStep, context: ExecutionContext, cancellation: Cancellation
    ) -> PushedImage:
        last_error = ""
        for attempt in range(1, step.attempts + 1):
            if attempt > 1 and cancellation.wait(self._push_backoff * 2 ** (attempt - 2)):
                raise OperationCanceled(cancellation.reason or CANCELED_BY_USER)
            self._log.line(f"Pushing image: {reference}, attempt {attempt}")
            try:
                digest = self._engine.push(
                    reference,
                    auth=context.registry_auth(reference),
                    on_output=self._log.write,
                    cancellation=cancellation,
                )
            except StepFailed as failure:
                last_error = str(failure)
                self._log.write(f"{last_error}\n")
                continue
            self._log.line(f"Successfully pushed image: {reference}")
            return PushedImage(reference, digest)
        raise StepFailed(
            f"failed to push image {reference} after {step.attempts} attempts: {last_error}. "
            "Check that the registry is reachable from the Docker engine and accepts this image name"
        )
