"""Performs a `Plan` on a container engine: the `when` DAG in parallel, timeouts, fail-fast, cancel.

The run's networks, volumes and network holder (the namespace ordinary steps share, so their
containers start as fast as plain ones) are set up first (`core.run_environment`) and removed at
the end, whatever happened. Steps whose dependencies have all succeeded start at once, each on its own
thread (ACR sets no concurrency limit either); `core.step_runners` performs them. The first failing
step without `ignoreErrors` cancels the steps still running and nothing new starts; steps that never
ran are reported as skipped. A step's own timeout (counted after its `startDelay`, as in acb), the
run's timeout and a user's cancel all arrive through `Cancellation`s, so the engine call in progress
is interrupted (its container killed) rather than waited for.

The log reads like ACR's: `Executing step ID: …`, `Launching container with name: …`, `Step ID: …
marked as successful (elapsed time in seconds: …)`. When steps can run in parallel, each line of a
step's output starts with `[step-id] ` (`core.log_prefix`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from graphlib import TopologicalSorter

from core.engine import Cancellation, ContainerEngine, OperationCanceled, ResourceLimits, StepFailed
from core.errors import SlipwayError
from core.execution import (
    CANCELED_BY_USER,
    RUN_LABEL,
    RUN_TIMED_OUT,
    STACK_LABEL,
    STEP_FAILED,
    STEP_TIMED_OUT,
    BuiltImage,
    Execution,
    ExecutionContext,
    Outcome,
    PushedImage,
    RunLog,
    Sleep,
    StepResult,
    StepState,
    wait_unless_canceled,
)
from core.log_prefix import StepOutput, has_parallel_steps
from core.plan import BuildStep, CmdStep, Plan, PushStep, Step, WorkspacePath
from core.run_environment import RunEnvironment
from core.step_runners import StepRecord, StepRunner

__all__ = [
    "CANCELED_BY_USER",
    "RUN_TIMED_OUT",
    "STEP_FAILED",
    "STEP_TIMED_OUT",
    "BuiltImage",
    "Execution",
    "ExecutionContext",
    "Executor",
    "Outcome",
    "PushedImage",
    "RunLog",
    "StepResult",
    "StepState",
]


logger = logging.getLogger(__name__)

DEFAULT_LIMITS = ResourceLimits()


@dataclass(frozen=True)
class _RunState:
    """What every step thread of one execution shares."""

    runner: StepRunner
    environment: RunEnvironment
    cancellation: Cancellation  # the steps' parent: fires on a failure, a cancel or the run timeout
    finished: queue.Queue[tuple[str, StepResult]]


class Executor:
    def __init__(
        self,
        engine: ContainerEngine,
        log: RunLog,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Sleep = wait_unless_canceled,
        push_backoff_seconds: float = 1.0,
        limits: ResourceLimits = DEFAULT_LIMITS,
    ) -> None:
        self._engine = engine
        self._log = log
        self._monotonic = monotonic
        self._clock = clock
        self._sleep = sleep
        self._push_backoff = push_backoff_seconds
        self._limits = limits

    def execute(self, plan: Plan, context: ExecutionContext, cancellation: Cancellation) -> Execution:
        for note in plan.notes:
            self._log.line(note)
        environment = RunEnvironment(
            self._engine,
            plan,
            self._log,
            run_id=context.run_id,
            labels={RUN_LABEL: context.run_id, STACK_LABEL: context.stack},
            archive=context.archive,
        )
        try:
            try:
                environment.set_up(cancellation)
            except (StepFailed, OperationCanceled, SlipwayError) as error:
                return self._not_started(plan, cancellation, error)
            runner = StepRunner(
                self._engine,
                self._log,
                environment,
                context,
                sleep=self._sleep,
                push_backoff_seconds=self._push_backoff,
                limits=self._limits,
            )
            return self._run_steps(plan, runner, environment, cancellation)
        finally:
            environment.tear_down()

    def _not_started(self, plan: Plan, cancellation: Cancellation, error: Exception) -> Execution:
        steps = tuple(StepResult(s.id, StepState.SKIPPED) for s in plan.steps)
        if isinstance(error, OperationCanceled):
            return Execution(outcome=self._outcome(cancellation, None), steps=steps, failure=cancellation.reason)
        message = error.message if isinstance(error, SlipwayError) else str(error)
        self._log.line(f"Failed to set up the run: {message}")
        outcome = Outcome.ERROR if isinstance(error, SlipwayError) else Outcome.FAILED
        return Execution(outcome=outcome, steps=steps, failure=message)

    def _run_steps(
        self, plan: Plan, runner: StepRunner, environment: RunEnvironment, cancellation: Cancellation
    ) -> Execution:
        steps_by_id: Mapping[str, Step] = {step.id: step for step in plan.steps}
        sorter: TopologicalSorter[str] = TopologicalSorter({s.id: s.depends_on for s in plan.steps})
        sorter.prepare()
        prefixed = has_parallel_steps(plan.steps)
        # Siblings are stopped through this child when a step fails; the parent stays untouched so
        # the outcome can tell a failure from a cancel or a run timeout.
        steps_cancellation = cancellation.child()
        finished: queue.Queue[tuple[str, StepResult]] = queue.Queue()
        shared = _RunState(runner, environment, steps_cancellation, finished)
        records: dict[str, StepRecord] = {}
        results: dict[str, StepResult] = {}
        running = 0
        first_failure: StepResult | None = None
        while sorter.is_active():
            if first_failure is None and not steps_cancellation.is_set:
                for step_id in sorter.get_ready():
                    step = steps_by_id[step_id]
                    record = records.setdefault(step_id, StepRecord())
                    output = StepOutput(self._log, f"[{step_id}] " if prefixed else None)
                    thread = threading.Thread(
                        target=self._run_step_thread,
                        args=(step, output, record, shared),
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
            if result.state is StepState.SUCCESSFUL:
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
            built=tuple(b for s in plan.steps for b in records.get(s.id, StepRecord()).built),
            pushed=tuple(p for s in plan.steps for p in records.get(s.id, StepRecord()).pushed),
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

    def _run_step_thread(self, step: Step, output: StepOutput, record: StepRecord, run: _RunState) -> None:
        parent = run.cancellation
        started = self._monotonic()
        started_at = self._clock()
        self._log.line(self._executing_line(step, run.environment))
        for note in step.notes if isinstance(step, BuildStep | CmdStep) else ():
            self._log.line(note)
        step_cancellation = parent.child()
        timer: threading.Timer | None = None
        try:
            delay = step.start_delay if isinstance(step, PushStep) else step.control.start_delay
            if delay > 0:
                self._log.line(f"Waiting {delay} seconds before executing step ID: {step.id}")
                self._sleep(delay, step_cancellation)
                if step_cancellation.is_set:
                    raise OperationCanceled(step_cancellation.reason or CANCELED_BY_USER)
            timer = threading.Timer(step.timeout, step_cancellation.cancel, args=(STEP_TIMED_OUT,))
            timer.daemon = True
            timer.start()
            run.runner.run(step, output, step_cancellation, record)
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
        except Exception as error:  # the step thread's boundary: the run must learn the step ended
            logger.exception("step %s crashed", step.id)
            result = StepResult(
                step.id,
                StepState.FAILED,
                self._monotonic() - started,
                f"internal error in the Slipway worker: {type(error).__name__}",
                started=started_at,
                infrastructure=True,
            )
        finally:
            if timer is not None:
                timer.cancel()
            output.flush()
        ignorable = result.state in {StepState.FAILED, StepState.TIMED_OUT} and not result.infrastructure
        if step.ignore_errors and ignorable and not parent.is_set:
            # acb marks such a step successful and its dependents go on; the error stays on record.
            self._log.line(
                f"Step ID: {step.id} encountered an error: {result.error}, but is set to ignore errors. Continuing..."
            )
            result = replace(result, state=StepState.SUCCESSFUL)
        self._report(step, result)
        run.finished.put((step.id, result))

    @staticmethod
    def _executing_line(step: Step, environment: RunEnvironment) -> str:
        working_directory, network = "", ""
        if isinstance(step, CmdStep):
            working_directory = step.working_directory or ""
            network = environment.network_for(step.network)[1]
        elif isinstance(step, BuildStep) and isinstance(step.context, WorkspacePath):
            working_directory = step.context.path
        return (
            f"Executing step ID: {step.id}. Timeout(sec): {step.timeout}, "
            f"Working directory: '{working_directory}', Network: '{network}'"
        )

    def _report(self, step: Step, result: StepResult) -> None:
        elapsed = f"elapsed time in seconds: {result.elapsed:.6f}"
        if result.state is StepState.SUCCESSFUL:
            self._log.line(f"Step ID: {step.id} marked as successful ({elapsed})")
        elif result.state is StepState.CANCELED:
            self._log.line(f"Step ID: {step.id} was canceled ({elapsed})")
        else:
            self._log.line(f"Step ID: {step.id} marked as {result.state.value} ({elapsed}): {result.error}")
