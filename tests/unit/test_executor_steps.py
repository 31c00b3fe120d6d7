"""Step runners with a scripted engine: retries, repeat, pulls, the container spec, workspace builds."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from core.docker_containers import container_config
from core.engine import BuildOptions, ContainerSpec, ResourceLimits
from core.executor import Outcome, StepState
from core.memory_engine import ContainerScript, FakeEngine, PushScript
from core.plan import BuildStep, Plan, PushStep, SecretVolume, StepControl, WorkspacePath
from core.run_environment import secret_volume_archive
from core.step_runners import OutputMatcher
from core.workspace_context import filter_context, ignore_rules
from tests.unit.test_executor import IMAGE, Context, Sleeps, cmd, execute


def tar_names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {member.name for member in tar}


def make_tar(files: dict[str, bytes], *, compression: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_failing_step_is_retried_after_its_retry_delay_until_it_succeeds() -> None:
    engine = FakeEngine(containers={"flaky": ContainerScript(exit_codes=(1, 1, 0))})
    sleeps = Sleeps()
    plan = Plan(steps=(cmd("flaky", control=StepControl(retries=2, retry_delay=7)),))

    execution, log = execute(engine, plan, sleep=sleeps)

    assert execution.outcome is Outcome.SUCCEEDED
    assert sleeps.seconds == [7, 7]
    assert len({spec.name for spec in engine.launched}) == 3  # each launch gets its own container name
    assert log.text.count("Launching container with name: flaky") == 3
    assert "Container failed during run: flaky, waiting 7 seconds before retrying..." in log.text
    assert "Successfully executed container: flaky" in log.text


def test_a_step_that_keeps_failing_stops_after_its_retries() -> None:
    engine = FakeEngine(containers={"broken": ContainerScript(exit_codes=(1,))})
    execution, log = execute(engine, Plan(steps=(cmd("broken", control=StepControl(retries=1, retry_delay=1)),)))
    assert execution.outcome is Outcome.FAILED
    assert len(engine.launched) == 2
    assert "Container failed during run: broken. No retries remaining." in log.text


def test_retry_on_errors_retries_only_when_the_output_contains_one_of_the_texts() -> None:
    control = StepControl(retries=3, retry_delay=1, retry_on_errors=("connection reset",))
    transient = FakeEngine(
        containers={"s": ContainerScript(output=("read: connection ", "reset by peer\n"), exit_codes=(1, 0))}
    )
    fatal = FakeEngine(containers={"s": ContainerScript(output=("syntax error\n",), exit_codes=(1, 0))})

    retried, _ = execute(transient, Plan(steps=(cmd("s", control=control),)))
    not_retried, log = execute(fatal, Plan(steps=(cmd("s", control=control),)))

    assert (retried.outcome, len(transient.launched)) == (Outcome.SUCCEEDED, 2)
    assert (not_retried.outcome, len(fatal.launched)) == (Outcome.FAILED, 1)
    assert "Container failed during run: s. Its output has none of retryOnErrors; no retry." in log.text


def test_retry_on_errors_also_matches_the_engines_own_error_message() -> None:
    engine = FakeEngine(containers={"s": ContainerScript(start_error='exec: "tool": executable file not found')})
    control = StepControl(retries=1, retry_delay=1, retry_on_errors=("executable file not found",))
    execution, _ = execute(engine, Plan(steps=(cmd("s", control=control),)))
    assert execution.failure == 'exec: "tool": executable file not found'
    assert len(engine.launched) == 2


def test_repeat_runs_the_step_repeat_plus_one_times_and_reports_every_failure() -> None:
    engine = FakeEngine(containers={"r": ContainerScript(exit_codes=(1, 0, 4))})

    execution, _ = execute(engine, Plan(steps=(cmd("r", control=StepControl(repeat=2)),)))

    assert len(engine.launched) == 3
    assert execution.outcome is Outcome.FAILED
    assert execution.failure == "failed to run step ID: r: exit status 1; failed to run step ID: r: exit status 4"


def test_a_cmd_step_becomes_a_container_with_the_runs_settings() -> None:
    engine = FakeEngine()
    step = cmd(
        "test",
        env={"CI": "1"},
        working_directory="src",
        user="1000",
        entrypoint="sh",
        ports=("8080:80",),
        expose=("9000",),
        cpus="0.5",
    )

    execute(engine, Plan(steps=(step,), workspace=True), context=Context(run_id="ca7", stack="blue"))

    (spec,) = engine.launched
    assert (spec.image, spec.args, spec.entrypoint, spec.user) == (IMAGE, ("true",), "sh", "1000")
    assert (spec.working_dir, dict(spec.env), spec.cpus) == ("/workspace/src", {"CI": "1"}, 0.5)
    assert (spec.ports, spec.expose, spec.aliases) == (("8080:80",), ("9000",), ("test",))
    assert dict(spec.labels) == {"slipway.run": "ca7", "slipway.stack": "blue", "slipway.step": "test"}
    assert spec.limits == ResourceLimits() and not spec.privileged
    assert (spec.name or "").startswith("slipway-ca7-") and (spec.name or "").endswith("-test-1")


def test_a_container_joining_another_containers_namespace_asks_for_no_endpoint_of_its_own() -> None:
    joining = container_config(ContainerSpec(image=IMAGE, network="container:3f2a", aliases=("a",)), detach=False)
    own = container_config(ContainerSpec(image=IMAGE, network="slipway-net", aliases=("a",)), detach=False)

    assert joining["HostConfig"]["NetworkMode"] == "container:3f2a"
    assert "NetworkingConfig" not in joining
    assert own["NetworkingConfig"] == {"EndpointsConfig": {"slipway-net": {"Aliases": ["a"]}}}


def test_a_step_with_an_invalid_cpus_value_fails_with_a_clear_message() -> None:
    execution, _ = execute(FakeEngine(), Plan(steps=(cmd("c", cpus="lots"),)))
    assert execution.failure == "step c: cpus 'lots' is not a positive number of CPUs such as 0.5 or 2"


def test_a_missing_image_is_pulled_before_its_container_is_created() -> None:
    engine = FakeEngine(images=set())
    execution, log = execute(engine, Plan(steps=(cmd("a"),)))
    assert execution.outcome is Outcome.SUCCEEDED
    assert ("pull", IMAGE) in engine.calls
    assert f"{IMAGE}: Pulled" in log.text


def test_pull_true_pulls_first_and_retries_the_pull_as_configured() -> None:
    engine = FakeEngine(pull_errors={IMAGE: "dial tcp: no route to host"})
    sleeps = Sleeps()

    execution, log = execute(
        engine, Plan(steps=(cmd("a", pull=True, pull_retries=2, pull_retry_delay=3),)), sleep=sleeps
    )

    assert [c for c in engine.calls if c[0] == "pull"] == [("pull", IMAGE)] * 3
    assert sleeps.seconds == [3, 3]
    assert execution.outcome is Outcome.FAILED
    assert execution.failure == f"cannot pull image '{IMAGE}': dial tcp: no route to host"
    assert "Step specified pull. Performing an explicit pull..." in log.text
    assert engine.launched == []


def test_a_push_step_waits_its_start_delay_and_retries_with_backoff() -> None:
    engine = FakeEngine(pushes={"reg.test/app:1": PushScript(failures=1)})
    sleeps = Sleeps()
    step = PushStep(id="push", images=("reg.test/app:1",), timeout=60, start_delay=4)

    execution, _ = execute(engine, Plan(steps=(step,)), sleep=sleeps)

    assert execution.outcome is Outcome.SUCCEEDED
    assert sleeps.seconds == [4, 0]  # the start delay, then the first backoff (push_backoff_seconds=0)
    assert [p.reference for p in execution.pushed] == ["reg.test/app:1"]


def test_a_build_step_from_the_workspace_sends_the_folder_without_dockerignored_files(tmp_path: Path) -> None:
    archive = tmp_path / "context.tar.gz"
    archive.write_bytes(
        make_tar(
            {
                "app/Dockerfile": b"FROM reg.test/base:1\nCOPY . /app\n",
                "app/.dockerignore": b"*.secret\n",
                "app/main.py": b"print()\n",
                "app/key.secret": b"no",
                "other.txt": b"outside the folder",
            },
            compression="gz",
        )
    )
    engine = FakeEngine()
    build = BuildStep(
        id="build",
        options=BuildOptions(dockerfile="Dockerfile", tags=("reg.test/app:1",)),
        timeout=60,
        context=WorkspacePath("/workspace/app"),
    )

    execution, log = execute(engine, Plan(steps=(build,), workspace=True), context=Context(archive=archive))

    assert execution.outcome is Outcome.SUCCEEDED
    assert tar_names(engine.build_contexts[0]) == {"Dockerfile", ".dockerignore", "main.py"}
    assert [d.reference for d in execution.built[0].dependencies.buildtime] == []
    assert execution.built[0].dependencies.runtime is not None
    assert execution.built[0].dependencies.runtime.reference == "reg.test/base:1"
    assert "Executing step ID: build. Timeout(sec): 60, Working directory: '/workspace/app'" in log.text


def test_a_workspace_build_without_dockerignore_streams_the_folder_untouched(tmp_path: Path) -> None:
    archive = tmp_path / "context.tar"
    archive.write_bytes(make_tar({"Dockerfile": b"FROM scratch\n", "a/b.txt": b"b"}))
    engine = FakeEngine()
    build = BuildStep(
        id="b",
        options=BuildOptions(dockerfile="Dockerfile", tags=("x:1",)),
        timeout=60,
        context=WorkspacePath("/workspace"),
    )

    execute(engine, Plan(steps=(build,), workspace=True), context=Context(archive=archive))

    assert tar_names(engine.build_contexts[0]) == {"./Dockerfile", "./a/b.txt"}


def test_a_workspace_build_whose_dockerfile_is_missing_fails_and_says_where_it_looked(tmp_path: Path) -> None:
    archive = tmp_path / "context.tar"
    archive.write_bytes(make_tar({"src/main.c": b""}))
    build = BuildStep(
        id="b",
        options=BuildOptions(dockerfile="build/Dockerfile", tags=("x:1",)),
        timeout=60,
        context=WorkspacePath("/workspace/src"),
    )

    execution, _ = execute(FakeEngine(), Plan(steps=(build,), workspace=True), context=Context(archive=archive))

    assert execution.steps[0].state is StepState.FAILED
    assert execution.failure == "Dockerfile 'build/Dockerfile' was not found in the build context /workspace/src"


def test_secret_volume_files_are_readable_by_every_user_and_by_no_one_writable() -> None:
    data = secret_volume_archive(SecretVolume("creds", {"token": b"s3cret", "ca.pem": b"pem"}))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar}
        assert {name: oct(m.mode) for name, m in members.items()} == {"ca.pem": "0o444", "token": "0o444"}
        extracted = tar.extractfile(members["token"])
        assert extracted is not None and extracted.read() == b"s3cret"


def test_the_output_matcher_finds_a_text_split_across_writes() -> None:
    matcher = OutputMatcher(("TLS handshake timeout",))
    for piece in ("net/http: TLS hand", "shake ", "timeout\n"):
        matcher.feed(piece)
    assert matcher.found
    assert not OutputMatcher(()).found


def test_the_dockerignore_filter_keeps_the_dockerfile_and_drops_excluded_folders() -> None:
    source = make_tar({"./Dockerfile": b"x", "./node_modules/a.js": b"a", "./src/app.js": b"b", "./src/.git/x": b"g"})
    rules = ignore_rules("node_modules\nDockerfile\n", "Dockerfile")
    chunks = [source[i : i + 700] for i in range(0, len(source), 700)]
    assert tar_names(b"".join(filter_context(chunks, rules))) == {"Dockerfile", "src/app.js", "src/.git/x"}


def test_a_base_image_the_engine_lacks_is_pulled_before_the_build_with_the_runs_credentials() -> None:
    from core.dockerfile_deps import parse_image_reference
    from core.engine import BuildOptions, Cancellation, RegistryAuth
    from core.executor import Executor
    from core.memory_engine import FakeEngine
    from core.plan import BuildStep, Plan

    class Log:
        def __init__(self) -> None:
            self.text = ""

        def write(self, data: bytes | str) -> None:
            self.text += data if isinstance(data, str) else data.decode()

        def line(self, message: str) -> None:
            self.text += message + "\n"

    base = "reg.test:5000/base:1"
    engine = FakeEngine(missing_images={parse_image_reference(base).reference})
    auth = RegistryAuth("user", "password", "reg.test:5000")

    class Context:
        run_id = "ca1"
        stack = "test"
        archive = None

        def open_build_context(self, step: BuildStep):
            import io

            return io.BytesIO(b""), f"FROM {base}\n"

        def registry_auth(self, reference: str) -> RegistryAuth | None:
            return auth if reference.startswith("reg.test:5000/") else None

    log = Log()
    plan = Plan(
        steps=(BuildStep(id="build", options=BuildOptions(dockerfile="Dockerfile", tags=("x/y:1",)), timeout=60),)
    )
    Executor(engine, log).execute(plan, Context(), Cancellation())
    assert [c for c in engine.calls if c[0] in {"pull", "build"}] == [("pull", base), ("build", "x/y:1")]
    assert engine.pull_auths == [auth]
    assert f"Pulling base image {base}" in log.text
