"""The executor's DAG with a scripted engine: parallelism, fail-fast, cancel, timeouts, output, cleanup."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from core.engine import BuildOptions, Cancellation, RegistryAuth
from core.executor import RUN_TIMED_OUT, Execution, Executor, Outcome, StepState
from core.log_prefix import StepOutput, has_parallel_steps
from core.memory_engine import ContainerScript, FakeEngine
from core.plan import (
    BuildStep,
    CmdStep,
    NetworkPlan,
    Plan,
    SecretVolume,
    StepControl,
    VolumeMountPlan,
    quick_build_plan,
)

IMAGE = "reg.test/tools:1"
LABELS = {"slipway.run": "ca1", "slipway.stack": "test"}


class MemoryLog:
    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, data: bytes | str) -> None:
        with self._lock:
            self._parts.append(data.decode() if isinstance(data, bytes) else data)

    def line(self, message: str) -> None:
        self.write(message + "\n")

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)


@dataclass(frozen=True)
class Context:
    run_id: str = "ca1"
    stack: str = "test"
    archive: Path | None = None
    dockerfile_text: str = "FROM reg.test/base:1\n"

    def open_build_context(self, step: BuildStep) -> tuple[BinaryIO, str]:
        return io.BytesIO(b"context"), self.dockerfile_text

    def registry_auth(self, reference: str) -> RegistryAuth | None:
        return None


@dataclass
class Sleeps:
    """An injected sleep that records what it was asked and can run an action (e.g. a cancel)."""

    seconds: list[float] = field(default_factory=list)
    action: Callable[[Cancellation], None] | None = None

    def __call__(self, seconds: float, cancellation: Cancellation) -> None:
        self.seconds.append(seconds)
        if self.action is not None:
            self.action(cancellation)


def cmd(step_id: str, *depends_on: str, **extra: Any) -> CmdStep:
    return CmdStep(id=step_id, image=IMAGE, args=("true",), timeout=60, depends_on=depends_on, **extra)


def execute(
    engine: FakeEngine,
    plan: Plan,
    *,
    cancellation: Cancellation | None = None,
    sleep: Sleeps | None = None,
    context: Context | None = None,
) -> tuple[Execution, MemoryLog]:
    log = MemoryLog()
    executor = Executor(engine, log, sleep=sleep or Sleeps(), push_backoff_seconds=0)
    return executor.execute(plan, context or Context(), cancellation or Cancellation()), log


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def started(engine: FakeEngine) -> list[str]:
    return [step for kind, step in engine.events if kind == "start"]


def in_background(run: Callable[[], tuple[Execution, MemoryLog]]) -> Callable[[], tuple[Execution, MemoryLog]]:
    box: list[tuple[Execution, MemoryLog]] = []
    thread = threading.Thread(target=lambda: box.append(run()), daemon=True)
    thread.start()

    def join() -> tuple[Execution, MemoryLog]:
        thread.join(timeout=10)
        assert box, "the execution did not finish"
        return box[0]

    return join


def test_independent_steps_run_at_the_same_time_and_a_fan_in_step_waits_for_all_of_them() -> None:
    release_a, release_b = threading.Event(), threading.Event()
    engine = FakeEngine(containers={"a": ContainerScript(release=release_a), "b": ContainerScript(release=release_b)})
    plan = Plan(steps=(cmd("a"), cmd("b"), cmd("c", "a", "b")))

    join = in_background(lambda: execute(engine, plan))
    wait_for(lambda: sorted(started(engine)) == ["a", "b"], "a and b to run together")
    release_a.set()
    wait_for(lambda: ("exit", "a") in engine.events, "a to finish")
    time.sleep(0.02)
    assert "c" not in started(engine)
    release_b.set()
    execution, _ = join()

    assert execution.outcome is Outcome.SUCCEEDED
    assert engine.events[-2:] == [("start", "c"), ("exit", "c")]
    assert [r.state for r in execution.steps] == [StepState.SUCCESSFUL] * 3


def test_steps_of_a_chain_run_one_after_the_other_in_plan_order() -> None:
    engine = FakeEngine()
    execution, _ = execute(engine, Plan(steps=(cmd("a"), cmd("b", "a"), cmd("c", "b"))))
    assert execution.outcome is Outcome.SUCCEEDED
    assert engine.events == [(kind, s) for s in "abc" for kind in ("start", "exit")]


def test_the_first_failure_stops_running_siblings_and_skips_what_never_started() -> None:
    engine = FakeEngine(
        containers={"slow": ContainerScript(block_until_canceled=True), "broken": ContainerScript(exit_codes=(2,))}
    )
    plan = Plan(steps=(cmd("slow"), cmd("broken"), cmd("after", "slow", "broken")))

    execution, log = execute(engine, plan)

    assert execution.outcome is Outcome.FAILED
    assert execution.failure == "failed to run step ID: broken: exit status 2"
    assert [(r.step_id, r.state) for r in execution.steps] == [
        ("slow", StepState.CANCELED),
        ("broken", StepState.FAILED),
        ("after", StepState.SKIPPED),
    ]
    assert "after" not in started(engine)
    assert "Step ID: after was skipped" in log.text


def test_a_failing_step_with_ignore_errors_counts_as_successful_and_its_dependents_run() -> None:
    engine = FakeEngine(containers={"lint": ContainerScript(exit_codes=(1,))})
    plan = Plan(steps=(cmd("lint", ignore_errors=True), cmd("build", "lint")))

    execution, log = execute(engine, plan)

    assert execution.outcome is Outcome.SUCCEEDED
    assert execution.steps[0].state is StepState.SUCCESSFUL
    assert execution.steps[0].error == "failed to run step ID: lint: exit status 1"
    assert started(engine) == ["lint", "build"]
    assert "Step ID: lint encountered an error: failed to run step ID: lint: exit status 1, but is set to ignore" in (
        log.text
    )


def test_a_step_timeout_kills_the_step_and_ends_the_run_with_timeout() -> None:
    engine = FakeEngine(containers={"hang": ContainerScript(block_until_canceled=True)})
    plan = Plan(steps=(CmdStep(id="hang", image=IMAGE, args=("sleep", "99"), timeout=0.05),))

    execution, _ = execute(engine, plan)

    assert execution.outcome is Outcome.TIMEOUT
    assert execution.steps[0].state is StepState.TIMED_OUT
    assert execution.failure == "step hang timed out after 0.05s"
    assert engine.live == {}


def test_a_cancel_stops_every_running_step_and_the_run_ends_canceled() -> None:
    engine = FakeEngine(containers={s: ContainerScript(block_until_canceled=True) for s in ("a", "b")})
    cancellation = Cancellation()
    join = in_background(
        lambda: execute(engine, Plan(steps=(cmd("a"), cmd("b"), cmd("c", "a"))), cancellation=cancellation)
    )
    wait_for(lambda: len(started(engine)) == 2, "both steps to start")

    cancellation.cancel("canceled")
    execution, _ = join()

    assert execution.outcome is Outcome.CANCELED
    assert [r.state for r in execution.steps] == [StepState.CANCELED, StepState.CANCELED, StepState.SKIPPED]
    assert engine.live == {}
    assert engine.removed_labels == [LABELS]


def test_the_run_timeout_ends_the_run_with_timeout_rather_than_canceled() -> None:
    engine = FakeEngine(containers={"a": ContainerScript(block_until_canceled=True)})
    cancellation = Cancellation()
    join = in_background(lambda: execute(engine, Plan(steps=(cmd("a"),)), cancellation=cancellation))
    wait_for(lambda: started(engine) == ["a"], "the step to start")

    cancellation.cancel(RUN_TIMED_OUT)

    assert join()[0].outcome is Outcome.TIMEOUT


def test_a_start_delay_is_waited_before_the_step_and_a_cancel_during_it_stops_the_run() -> None:
    engine = FakeEngine()
    sleeps = Sleeps()
    execution, log = execute(engine, Plan(steps=(cmd("late", control=StepControl(start_delay=5)),)), sleep=sleeps)
    assert (execution.outcome, sleeps.seconds) == (Outcome.SUCCEEDED, [5])
    assert "Waiting 5 seconds before executing step ID: late" in log.text

    canceling = Sleeps(action=lambda _: cancellation.cancel("canceled"))
    cancellation = Cancellation()
    execution, _ = execute(
        FakeEngine(),
        Plan(steps=(cmd("late", control=StepControl(start_delay=5)),)),
        sleep=canceling,
        cancellation=cancellation,
    )
    assert execution.outcome is Outcome.CANCELED
    assert execution.steps[0].state is StepState.CANCELED


def test_a_detached_step_succeeds_once_started_and_is_removed_when_the_run_ends() -> None:
    engine = FakeEngine()
    plan = Plan(steps=(cmd("service", detach=True), cmd("client", "service")))

    execution, log = execute(engine, plan)

    assert execution.outcome is Outcome.SUCCEEDED
    assert engine.events == [("start", "service"), ("start", "client"), ("exit", "client")]
    assert engine.live == {}
    service = next(spec for spec in engine.launched if spec.labels["slipway.step"] == "service")
    assert "container-0\n" in log.text  # the ID, as `docker run --detach` prints it
    assert service.aliases == ("service",)


def test_step_output_is_prefixed_with_the_step_id_only_when_steps_can_run_in_parallel() -> None:
    engine = FakeEngine(containers={s: ContainerScript(output=(f"hello from {s}\n", "no newline")) for s in "ab"})

    _, chain_log = execute(engine, Plan(steps=(cmd("a"), cmd("b", "a"))))
    _, parallel_log = execute(engine, Plan(steps=(cmd("a"), cmd("b"))))

    assert "\nhello from a\nno newline\nSuccessfully executed container: a\n" in chain_log.text
    assert "[a] " not in chain_log.text
    assert "[a] hello from a\n" in parallel_log.text
    assert "[b] no newline\n" in parallel_log.text


def test_plans_have_parallel_steps_when_two_steps_have_no_path_between_them() -> None:
    assert not has_parallel_steps([cmd("a"), cmd("b", "a"), cmd("c", "b")])
    assert not has_parallel_steps([cmd("a"), cmd("b", "a"), cmd("c", "a", "b")])
    assert has_parallel_steps([cmd("a"), cmd("b", "a"), cmd("c", "a")])
    assert has_parallel_steps([cmd("a"), cmd("b")])
    assert not has_parallel_steps([cmd("only")])


def test_prefixed_step_output_is_written_in_whole_lines() -> None:
    log = MemoryLog()
    output = StepOutput(log, "[a] ", max_pending=10)
    output.write("par")
    assert log.text == ""
    output.write("tial\nsecond\nthi")
    assert log.text == "[a] partial\n[a] second\n"
    output.write("rd line is long")
    assert log.text.endswith("[a] third line is long\n")
    output.write("end")
    output.flush()
    assert log.text.endswith("[a] end\n")


def test_the_run_network_workspace_and_secret_volumes_are_set_up_and_always_removed() -> None:
    engine = FakeEngine(containers={"fails": ContainerScript(exit_codes=(1,))}, external_networks={"shared"})
    plan = Plan(
        steps=(
            cmd("kept", keep=True),
            cmd("fails", "kept", network="shared", volume_mounts=(VolumeMountPlan("creds", "/run/creds"),)),
        ),
        networks=(NetworkPlan("backend"), NetworkPlan("shared", create=False)),
        default_network="backend",
        volumes=(SecretVolume("creds", {"token": b"s3cret"}),),
        workspace=True,
    )

    execution, log = execute(engine, plan)

    assert execution.outcome is Outcome.FAILED
    kept, failing = engine.launched
    network = kept.network or ""
    assert network.startswith("slipway-ca1-") and network.endswith("-backend")
    assert failing.network == "shared"
    assert [m.path for m in kept.mounts] == ["/workspace"]
    workspace, secret = failing.mounts
    assert (workspace.path, workspace.read_only) == ("/workspace", False)
    assert (secret.path, secret.read_only) == ("/run/creds", True)
    assert "Creating Docker network: backend, driver: 'bridge'" in log.text
    assert "Skip creating network: shared" in log.text
    created_volumes = [subject for kind, subject in engine.calls if kind == "create_volume"]
    assert len(created_volumes) == 2
    assert engine.live == {} and engine.networks == {} and engine.volumes == {}
    assert engine.removed_labels == [LABELS]


def test_a_plan_without_networks_gets_acb_default_network_for_its_cmd_steps() -> None:
    engine = FakeEngine()
    _, log = execute(engine, Plan(steps=(cmd("a"),)))
    assert (engine.launched[0].network or "").endswith("-acb_default_network")
    assert "Network: 'acb_default_network'" in log.text


def test_ordinary_steps_share_the_network_holders_namespace_and_the_holder_answers_to_their_ids() -> None:
    engine = FakeEngine()
    plan = Plan(
        steps=(
            cmd("service", detach=True),
            cmd("unit"),
            cmd("lint"),
            cmd("published", ports=("8080:80",)),
            cmd("exposed", expose=("9000",)),
            cmd("root", privileged=True),
            cmd("isolated", network="none"),
            cmd("elsewhere", network="backend"),
            cmd("named-default", network="acb_default_network"),
        ),
        networks=(NetworkPlan("acb_default_network"), NetworkPlan("backend")),
        default_network="acb_default_network",
    )

    execution, _ = execute(engine, plan)

    assert execution.outcome is Outcome.SUCCEEDED
    ((holder_id, holder),) = engine.holders.items()
    assert holder.aliases == ("lint", "named-default", "unit")
    assert dict(holder.labels) == LABELS
    joined = {spec.labels["slipway.step"] for spec in engine.launched if spec.network == f"container:{holder_id}"}
    assert joined == {"unit", "lint", "named-default"}
    own = {spec.labels["slipway.step"]: spec.aliases for spec in engine.launched if spec.aliases}
    assert set(own) == {"service", "published", "exposed", "root", "isolated", "elsewhere"}
    assert all(aliases == (step,) for step, aliases in own.items())
    assert engine.live == {} and holder_id in engine.removed


def test_a_holder_is_started_only_when_two_or_more_containers_would_share_it() -> None:
    single, repeated = FakeEngine(), FakeEngine()

    execute(single, Plan(steps=(cmd("service", detach=True), cmd("only"), cmd("isolated", network="none"))))
    execute(repeated, Plan(steps=(cmd("twice", control=StepControl(repeat=1)),)))

    assert single.holders == {}
    assert {spec.labels["slipway.step"]: spec.aliases for spec in single.launched}["only"] == ("only",)
    assert [spec.network for spec in repeated.launched] == ["container:holder-0"] * 2


def test_steps_get_their_own_endpoints_when_the_holder_cannot_start() -> None:
    engine = FakeEngine(holder_error="cannot make the network holder image: no statically linked busybox")

    execution, log = execute(engine, Plan(steps=(cmd("a"), cmd("b", "a"))))

    assert execution.outcome is Outcome.SUCCEEDED
    assert [spec.aliases for spec in engine.launched] == [("a",), ("b",)]
    assert all((spec.network or "").endswith("-acb_default_network") for spec in engine.launched)
    assert "Warning: cannot make the network holder image: no statically linked busybox; each step" in log.text


def test_a_canceled_run_removes_the_network_holder() -> None:
    engine = FakeEngine(containers={"a": ContainerScript(block_until_canceled=True)})
    cancellation = Cancellation()
    join = in_background(lambda: execute(engine, Plan(steps=(cmd("a"), cmd("b", "a"))), cancellation=cancellation))
    wait_for(lambda: started(engine) == ["a"], "the step to start")

    cancellation.cancel("canceled")

    assert join()[0].outcome is Outcome.CANCELED
    assert len(engine.holders) == 1 and engine.live == {}


def test_a_missing_skip_creation_network_fails_the_run_before_any_step_runs() -> None:
    engine = FakeEngine()
    plan = Plan(steps=(cmd("a", network="elsewhere"),), networks=(NetworkPlan("elsewhere", create=False),))

    execution, log = execute(engine, plan)

    assert execution.outcome is Outcome.FAILED
    assert "network 'elsewhere' has skipCreation: true but does not exist" in (execution.failure or "")
    assert execution.steps[0].state is StepState.SKIPPED
    assert engine.launched == []
    assert engine.removed_labels == [LABELS]
    assert "Failed to set up the run" in log.text


@pytest.mark.parametrize("outcome", ["succeeds", "fails"])
def test_plans_that_run_containers_sweep_the_run_labels_at_the_end(outcome: str) -> None:
    engine = FakeEngine()
    if outcome == "fails":
        engine.containers["a"] = ContainerScript(exit_codes=(3,))
    execute(engine, Plan(steps=(cmd("a"),)))
    assert engine.removed_labels == [LABELS]


def test_a_quick_build_creates_nothing_to_sweep_and_skips_the_sweep() -> None:
    engine = FakeEngine()
    plan = quick_build_plan(BuildOptions(dockerfile="Dockerfile", tags=("reg.test/app:v1",)), push=True)
    execution, _ = execute(engine, plan)
    assert execution.outcome is Outcome.SUCCEEDED
    assert [step.state for step in execution.steps] == [StepState.SUCCESSFUL, StepState.SUCCESSFUL]
    assert engine.removed_labels == []
