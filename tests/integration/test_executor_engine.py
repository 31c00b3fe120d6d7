"""Multi-step plans on the real Docker engine, in-process: builds, pushes, cmd steps, the DAG, cleanup."""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from core.docker_engine import DockerEngine
from core.engine import BuildOptions, Cancellation
from core.executor import Execution, Outcome, StepState
from core.plan import BuildStep, CmdStep, Plan, PushStep, SecretVolume, StepControl, VolumeMountPlan, WorkspacePath
from tests.integration.executor_fixtures import (
    NOTHING_LEFT,
    MemoryLog,
    docker_engine,
    holder_events,
    leftovers,
    make_archive,
    new_run,
    registry,
    run_plan,
)

pytestmark = pytest.mark.integration
__all__ = ["docker_engine", "registry"]  # fixtures used by the tests below


def sh(step_id: str, script: str, image: str, *depends_on: str, **extra: Any) -> CmdStep:
    return CmdStep(id=step_id, image=image, args=("sh", "-c", script), timeout=60, depends_on=depends_on, **extra)


def build(step_id: str, folder: str, tag: str, *depends_on: str) -> BuildStep:
    return BuildStep(
        id=step_id,
        options=BuildOptions(dockerfile="Dockerfile", tags=(tag,)),
        timeout=120,
        depends_on=depends_on,
        context=WorkspacePath(folder),
    )


def assert_succeeded(execution: Execution, log: MemoryLog) -> None:
    assert execution.outcome is Outcome.SUCCEEDED, f"{execution.failure}\n{log.text}"


def test_an_image_built_and_pushed_by_one_run_is_pulled_and_run_by_another(
    engine: Any, base_image: str, docker_engine: DockerEngine, registry: str, tmp_path: Path
) -> None:
    tag = f"{registry}/executor-hello-{secrets.token_hex(3)}:v1"
    archive = make_archive(
        tmp_path, {"Dockerfile": f"FROM {base_image}\nCOPY greeting.txt /greeting.txt\n", "greeting.txt": "hi there\n"}
    )
    first = new_run(archive)
    plan = Plan(
        steps=(
            build("build", "/workspace", tag),
            PushStep(id="push", images=(tag,), timeout=60, depends_on=("build",)),
        ),
        workspace=True,
    )
    execution, log = run_plan(docker_engine, plan, first)
    assert_succeeded(execution, log)
    assert execution.pushed[0].digest.startswith("sha256:")
    engine.remove_image(tag)

    second = new_run()
    execution, log = run_plan(
        docker_engine, Plan(steps=(CmdStep(id="run", image=tag, args=("cat", "/greeting.txt"), timeout=60),)), second
    )

    assert_succeeded(execution, log)
    assert f"Unable to find image '{tag}' locally" in log.text
    assert "hi there" in log.text
    assert leftovers(engine, first.run_id) == leftovers(engine, second.run_id) == NOTHING_LEFT


def test_an_image_no_registry_serves_fails_the_step_and_says_where_images_must_come_from(
    engine: Any, docker_engine: DockerEngine
) -> None:
    image = f"127.0.0.1:9/missing-{secrets.token_hex(3)}:1"
    context = new_run()
    execution, _ = run_plan(docker_engine, Plan(steps=(CmdStep(id="run", image=image, args=(), timeout=60),)), context)

    assert execution.outcome is Outcome.FAILED
    assert f"cannot pull image '{image}'" in (execution.failure or "")
    assert "or built by an earlier step of this run" in (execution.failure or "")
    assert leftovers(engine, context.run_id) == NOTHING_LEFT


def test_two_builds_run_in_parallel_and_a_fan_in_step_uses_both_images(
    engine: Any, base_image: str, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    token = secrets.token_hex(3)
    one, two = f"slipway-it/one-{token}:1", f"slipway-it/two-{token}:1"
    archive = make_archive(
        tmp_path,
        {
            "one/Dockerfile": f"FROM {base_image}\nRUN echo built-one > /one.txt\n",
            "two/Dockerfile": f"FROM {base_image}\nRUN echo built-two > /two.txt\n",
        },
    )
    plan = Plan(
        steps=(
            build("one", "/workspace/one", one),
            build("two", "/workspace/two", two),
            CmdStep(id="both", image=two, args=("cat", "/two.txt"), timeout=60, depends_on=("one", "two")),
            CmdStep(id="first", image=one, args=("cat", "/one.txt"), timeout=60, depends_on=("both",)),
        ),
        workspace=True,
    )
    context = new_run(archive)

    execution, log = run_plan(docker_engine, plan, context)

    assert_succeeded(execution, log)
    assert "[both] built-two" in log.text and "[first] built-one" in log.text
    assert "[one] Step 1/2" in log.text and "[two] Step 1/2" in log.text
    for tag in (one, two):
        engine.remove_image(tag)
    assert leftovers(engine, context.run_id) == NOTHING_LEFT


def test_a_detached_service_is_reached_by_its_step_id_and_removed_at_the_end(
    engine: Any, base_image: str, docker_engine: DockerEngine
) -> None:
    serve = "mkdir -p /www && echo hello-from-service > /www/index.html && exec httpd -f -p 8080 -h /www"
    fetch = "for i in $(seq 100); do wget -qO- http://service:8080/index.html && exit 0; sleep 0.05; done; exit 1"
    context = new_run()
    plan = Plan(steps=(sh("service", serve, base_image, detach=True), sh("client", fetch, base_image, "service")))

    execution, log = run_plan(docker_engine, plan, context)

    assert_succeeded(execution, log)
    assert "hello-from-service" in log.text
    assert leftovers(engine, context.run_id) == NOTHING_LEFT


def test_ordinary_steps_share_one_network_namespace_and_reach_a_detached_service_by_id(
    engine: Any, base_image: str, docker_engine: DockerEngine
) -> None:
    serve = "mkdir -p /www && echo hello-from-service > /www/index.html && exec httpd -f -p 8080 -h /www"
    fetch = "for i in $(seq 100); do wget -qO- http://service:8080/index.html && exit 0; sleep 0.05; done; exit 1"
    address = "echo address=$(ip -o -4 addr show eth0 | awk '{print $4}')"
    context = new_run()
    since = time.time()
    plan = Plan(
        steps=(
            sh("service", serve, base_image, detach=True),
            sh("first", f"{address} && {fetch}", base_image, "service"),
            sh("second", address, base_image, "first"),
        )
    )

    execution, log = run_plan(docker_engine, plan, context)

    assert_succeeded(execution, log)
    assert "hello-from-service" in log.text
    addresses = [line for line in log.text.splitlines() if line.startswith("address=")]
    assert len(addresses) == 2 and addresses[0] == addresses[1] != "address="
    events = holder_events(engine, context.run_id, since)
    assert (events[:2], events[-1]) == (["create", "start"], "destroy")
    assert leftovers(engine, context.run_id) == NOTHING_LEFT


def test_steps_running_at_the_same_time_reach_each_other_by_id(
    engine: Any, base_image: str, docker_engine: DockerEngine
) -> None:
    serve = (
        "mkdir -p /workspace/www && echo hello-from-server > /workspace/www/index.html && "
        "httpd -p 8081 -h /workspace/www && "
        "until [ -e /workspace/fetched-by-client ] && [ -e /workspace/fetched-by-probe ]; do sleep 0.05; done"
    )

    def fetch(name: str) -> str:
        return (
            "for i in $(seq 200); do wget -qO- http://server:8081/index.html && "
            f"touch /workspace/fetched-by-{name} && exit 0; sleep 0.05; done; exit 1"
        )

    context = new_run()
    plan = Plan(
        steps=(
            sh("server", serve, base_image),
            sh("client", fetch("client"), base_image),
            sh("probe", fetch("probe"), base_image, expose=("9000",)),  # its own endpoint, as in ACR
        ),
        workspace=True,
    )

    execution, log = run_plan(docker_engine, plan, context)

    assert_succeeded(execution, log)
    assert "[client] hello-from-server" in log.text and "[probe] hello-from-server" in log.text
    assert leftovers(engine, context.run_id) == NOTHING_LEFT


def test_files_pass_between_steps_through_the_workspace_and_a_later_step_builds_them(
    engine: Any, base_image: str, docker_engine: DockerEngine
) -> None:
    tag = f"slipway-it/generated-{secrets.token_hex(3)}:1"
    generate = (
        "mkdir -p /workspace/gen && echo generated-message > /workspace/gen/msg.txt && "
        f"printf 'FROM {base_image}\\nCOPY msg.txt /msg.txt\\n' > /workspace/gen/Dockerfile && "
        "echo 'secret.txt' > /workspace/gen/.dockerignore && echo no > /workspace/gen/secret.txt"
    )
    plan = Plan(
        steps=(
            sh("generate", generate, base_image),
            sh("read", "cat msg.txt", base_image, "generate", working_directory="/workspace/gen"),
            build("image", "/workspace/gen", tag, "read"),
            CmdStep(
                id="check",
                image=tag,
                args=("sh", "-c", "cat /msg.txt && test ! -e /secret.txt"),
                timeout=60,
                depends_on=("image",),
            ),
        ),
        workspace=True,
    )
    context = new_run()

    execution, log = run_plan(docker_engine, plan, context)

    assert_succeeded(execution, log)
    assert log.text.count("generated-message") == 2
    engine.remove_image(tag)
    assert leftovers(engine, context.run_id) == NOTHING_LEFT


def test_secret_volume_files_are_readable_at_the_mount_path_and_cannot_be_changed(
    base_image: str, docker_engine: DockerEngine
) -> None:
    script = "cat /run/creds/token && ls -l /run/creds && ! touch /run/creds/other 2>/dev/null && echo read-only"
    step = sh("use", script, base_image, user="65534:65534", volume_mounts=(VolumeMountPlan("creds", "/run/creds"),))
    plan = Plan(steps=(step,), volumes=(SecretVolume("creds", {"token": b"s3cret-value"}),), workspace=True)

    execution, log = run_plan(docker_engine, plan, new_run())

    assert_succeeded(execution, log)
    assert "s3cret-value" in log.text and "-r--r--r--" in log.text and "read-only" in log.text


def test_a_step_that_fails_twice_succeeds_on_its_third_attempt(base_image: str, docker_engine: DockerEngine) -> None:
    count = 'n=$(($(cat /workspace/count 2>/dev/null || echo 0) + 1)); echo $n > /workspace/count; echo "attempt $n"'
    flaky = sh("flaky", f'{count}; [ "$n" -ge 3 ]', base_image, control=StepControl(retries=2, retry_delay=0))

    execution, log = run_plan(docker_engine, Plan(steps=(flaky,), workspace=True), new_run())

    assert_succeeded(execution, log)
    assert "attempt 3" in log.text
    assert log.text.count("Container failed during run: flaky, waiting 0 seconds before retrying...") == 2


def test_a_failing_step_with_ignore_errors_lets_the_run_go_on(base_image: str, docker_engine: DockerEngine) -> None:
    plan = Plan(
        steps=(sh("lint", "exit 3", base_image, ignore_errors=True), sh("next", "echo next-ran", base_image, "lint"))
    )

    execution, log = run_plan(docker_engine, plan, new_run())

    assert_succeeded(execution, log)
    assert execution.steps[0].error == "failed to run step ID: lint: exit status 3"
    assert "next-ran" in log.text


def test_a_command_that_does_not_exist_fails_the_step_with_the_engines_message(
    base_image: str, docker_engine: DockerEngine
) -> None:
    step = CmdStep(id="bad", image=base_image, args=("no-such-tool",), timeout=60)
    execution, _ = run_plan(docker_engine, Plan(steps=(step,)), new_run())
    assert execution.outcome is Outcome.FAILED
    assert "the container did not start" in (execution.failure or "")
    assert "no-such-tool" in (execution.failure or "")


def test_a_step_timeout_kills_the_container_and_ends_the_run_with_timeout(
    engine: Any, base_image: str, docker_engine: DockerEngine
) -> None:
    context = new_run()
    started = time.monotonic()
    step = CmdStep(id="hang", image=base_image, args=("sleep", "60"), timeout=1)

    execution, _ = run_plan(docker_engine, Plan(steps=(step,)), context)

    assert execution.outcome is Outcome.TIMEOUT
    assert execution.steps[0].state is StepState.TIMED_OUT
    assert time.monotonic() - started < 15
    assert leftovers(engine, context.run_id) == NOTHING_LEFT


def test_a_quiet_step_outlives_the_engine_clients_request_timeout(base_image: str) -> None:
    impatient = DockerEngine(timeout=1)
    step = sh("quiet", "sleep 2 && echo finally", base_image)
    execution, log = run_plan(impatient, Plan(steps=(step,)), new_run())
    assert_succeeded(execution, log)
    assert "finally" in log.text


def test_cancel_during_a_parallel_phase_stops_every_container_and_removes_everything(
    engine: Any, base_image: str, docker_engine: DockerEngine
) -> None:
    context = new_run()
    plan = Plan(
        steps=(
            sh("service", "exec httpd -f -p 8080", base_image, detach=True),
            *(sh(f"work{i}", "sleep 60", base_image, "service") for i in range(3)),
            sh("never", "true", base_image, "work0", "work1", "work2"),
        ),
        volumes=(SecretVolume("creds", {"token": b"x"}),),
        workspace=True,
    )
    cancellation = Cancellation()
    box: list[tuple[Execution, MemoryLog]] = []
    thread = threading.Thread(target=lambda: box.append(run_plan(docker_engine, plan, context, cancellation)))
    since = time.time()
    thread.start()
    running = {"label": [f"slipway.run={context.run_id}"], "status": "running"}
    deadline = time.monotonic() + 60
    while len(engine.containers(filters=running)) < 5:  # the service, three steps and the network holder
        assert time.monotonic() < deadline, "the steps did not all start"
        time.sleep(0.05)

    canceled_at = time.monotonic()
    cancellation.cancel("canceled")
    thread.join(timeout=30)

    assert box, "the run did not end after the cancel"
    execution, _ = box[0]
    assert time.monotonic() - canceled_at < 10
    assert execution.outcome is Outcome.CANCELED
    assert [r.state for r in execution.steps][1:] == [StepState.CANCELED] * 3 + [StepState.SKIPPED]
    assert leftovers(engine, context.run_id) == NOTHING_LEFT
    events = holder_events(engine, context.run_id, since)
    assert (events[:2], events[-1]) == (["create", "start"], "destroy")
