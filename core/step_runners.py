"""How each kind of step runs: build, push and cmd, with ACR's retry and repeat rules.

The executor decides when a step runs; a `StepRunner` performs it on the engine. Build and cmd
steps follow acb's `RunRepeatWithRetries`: the step runs `repeat + 1` times and each run is retried
up to `retries` times after a failure, `retryDelay` seconds apart; with `retryOnErrors` a failure is
retried only if the output contains one of those texts. Errors of all repetitions are reported
together. Push steps try each image three times with exponential backoff, as acb does.

Failures of the user's work raise `StepFailed`; interruptions `OperationCanceled`; the platform's own
failures (`SlipwayError`) are never retried.
"""

from __future__ import annotations

import itertools
import posixpath
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from core.dockerfile_deps import DockerfileDependencies, scan_dependencies
from core.engine import (
    Cancellation,
    ContainerEngine,
    ContainerSpec,
    OperationCanceled,
    OutputSink,
    RegistryAuth,
    ResourceLimits,
    StepFailed,
    VolumePathNotFound,
)
from core.errors import InvalidDockerfile
from core.execution import CANCELED_BY_USER, STEP_LABEL, BuiltImage, ExecutionContext, PushedImage, RunLog, Sleep
from core.log_prefix import StepOutput
from core.plan import WORKSPACE, BuildStep, CmdStep, PushStep, Step, StepControl, WorkspacePath
from core.run_environment import RunEnvironment
from core.workspace_context import filter_context, ignore_rules, read_single_file

Attempt = Callable[[OutputSink], None]


@dataclass
class StepRecord:
    """What one step produced, filled on its thread."""

    built: list[BuiltImage] = field(default_factory=list)
    pushed: list[PushedImage] = field(default_factory=list)


class OutputMatcher:
    """Whether a step's output contains one of `needles`, even when one is split across writes."""

    def __init__(self, needles: tuple[str, ...]) -> None:
        self._needles = tuple(n for n in needles if n)
        self._keep = max((len(n) for n in self._needles), default=1) - 1
        self._tail = ""
        self.found = False

    def feed(self, text: str) -> None:
        if self.found or not self._needles:
            return
        window = self._tail + text
        self.found = any(needle in window for needle in self._needles)
        self._tail = window[-self._keep :] if self._keep else ""


def _stopped(cancellation: Cancellation) -> OperationCanceled:
    return OperationCanceled(cancellation.reason or CANCELED_BY_USER)


class StepRunner:
    def __init__(
        self,
        engine: ContainerEngine,
        log: RunLog,
        environment: RunEnvironment,
        context: ExecutionContext,
        *,
        sleep: Sleep,
        push_backoff_seconds: float,
        limits: ResourceLimits,
    ) -> None:
        self._engine = engine
        self._log = log
        self._env = environment
        self._context = context
        self._sleep = sleep
        self._push_backoff = push_backoff_seconds
        self._limits = limits

    def run(self, step: Step, output: StepOutput, cancellation: Cancellation, record: StepRecord) -> None:
        if isinstance(step, BuildStep):
            self._build(step, output, cancellation, record)
        elif isinstance(step, PushStep):
            self._push(step, output, cancellation, record)
        else:
            self._cmd(step, output, cancellation)

    # --- retries and repeat (acb's RunRepeatWithRetries) -------------------------------------------

    def _repeat_with_retries(
        self, step_id: str, control: StepControl, attempt: Attempt, output: StepOutput, cancellation: Cancellation
    ) -> None:
        errors = [
            error
            for _ in range(control.repeat + 1)
            if (error := self._with_retries(step_id, control, attempt, output, cancellation)) is not None
        ]
        if errors:
            raise StepFailed("; ".join(errors))

    def _with_retries(
        self, step_id: str, control: StepControl, attempt: Attempt, output: StepOutput, cancellation: Cancellation
    ) -> str | None:
        for number in itertools.count(1):
            matcher = OutputMatcher(control.retry_on_errors)

            def sink(text: str, matcher: OutputMatcher = matcher) -> None:
                output.write(text)
                matcher.feed(text)

            self._log.line(f"Launching container with name: {step_id}")
            try:
                attempt(sink)
            except StepFailed as failure:
                error = str(failure)
                matcher.feed(error)
            else:
                output.flush()
                self._log.line(f"Successfully executed container: {step_id}")
                return None
            output.flush()
            if number > control.retries:
                self._log.line(f"Container failed during run: {step_id}. No retries remaining.")
                return error
            if control.retry_on_errors and not matcher.found:
                self._log.line(
                    f"Container failed during run: {step_id}. Its output has none of retryOnErrors; no retry."
                )
                return error
            self._log.line(
                f"Container failed during run: {step_id}, waiting {control.retry_delay} seconds before retrying..."
            )
            self._sleep(control.retry_delay, cancellation)
            if cancellation.is_set:
                raise _stopped(cancellation)
        raise AssertionError("unreachable")

    # --- cmd steps ----------------------------------------------------------------------------------

    def _cmd(self, step: CmdStep, output: StepOutput, cancellation: Cancellation) -> None:
        auth = self._context.registry_auth(step.image)
        if step.pull:
            self._pull(step, auth, output, cancellation)
        network, aliases = self._env.endpoint_for(step)
        spec = ContainerSpec(
            image=step.image,
            args=step.args,
            labels={**self._env.labels, STEP_LABEL: step.id},
            env=dict(step.env),
            entrypoint=step.entrypoint,
            working_dir=_working_directory(step.working_directory),
            user=step.user,
            privileged=step.privileged,
            network=network,
            aliases=aliases,
            ports=step.ports,
            expose=step.expose,
            cpus=_cpus(step),
            mounts=self._env.mounts_for(step),
            limits=self._limits,
            keep=step.keep,
        )
        launches = itertools.count(1)

        def attempt(sink: OutputSink) -> None:
            launch = replace(spec, name=self._env.container_name(step.id, next(launches)))
            if step.detach:
                container_id = self._engine.start_container(
                    launch, auth=auth, on_output=sink, cancellation=cancellation
                )
                self._env.keep(container_id)
                sink(f"{container_id}\n")  # what `docker run --detach` prints
                return
            finished = self._engine.run_container(launch, auth=auth, on_output=sink, cancellation=cancellation)
            if step.keep:
                self._env.keep(finished.container_id)
            else:
                self._env.discard(finished.container_id)
            if finished.exit_code != 0:
                raise StepFailed(f"failed to run step ID: {step.id}: exit status {finished.exit_code}")

        self._repeat_with_retries(step.id, step.control, attempt, output, cancellation)

    def _pull(self, step: CmdStep, auth: RegistryAuth | None, output: StepOutput, cancellation: Cancellation) -> None:
        self._log.line("Step specified pull. Performing an explicit pull...")
        for number in itertools.count(1):
            try:
                self._engine.pull(step.image, auth=auth, on_output=output.write, cancellation=cancellation)
            except StepFailed as failure:
                if number > step.pull_retries:
                    raise
                self._log.line(f"{failure}; waiting {step.pull_retry_delay} seconds before retrying the pull...")
                self._sleep(step.pull_retry_delay, cancellation)
                if cancellation.is_set:
                    raise _stopped(cancellation) from failure
            else:
                output.flush()
                return

    # --- build steps --------------------------------------------------------------------------------

    def _build(self, step: BuildStep, output: StepOutput, cancellation: Cancellation, record: StepRecord) -> None:
        self._log.line("Scanning for dependencies...")
        try:
            dependencies = scan_dependencies(
                self._dockerfile_text(step, cancellation),
                build_args=step.options.build_args,
                target=step.options.target,
            )
        except InvalidDockerfile as error:
            raise StepFailed(error.message) from error
        self._log.line("Successfully scanned dependencies")
        self._pull_missing_bases(dependencies, output, cancellation)

        def attempt(sink: OutputSink) -> None:
            with self._context_stream(step, cancellation) as context:
                image_id = self._engine.build(context, step.options, on_output=sink, cancellation=cancellation)
            record.built[:] = [BuiltImage(step.id, step.options.tags, image_id, dependencies)]

        self._repeat_with_retries(step.id, step.control, attempt, output, cancellation)

    def _pull_missing_bases(
        self, dependencies: DockerfileDependencies, output: StepOutput, cancellation: Cancellation
    ) -> None:
        """Pull base images the engine lacks with the run's credentials (the classic builder's own pull
        has none), and under the server's pull policy."""
        bases = [dependencies.runtime, *dependencies.buildtime] if dependencies.runtime else [*dependencies.buildtime]
        for base in bases:
            reference = base.reference
            if self._engine.has_image(reference):
                continue
            self._log.line(f"Pulling base image {reference}")
            self._engine.pull(
                reference,
                auth=self._context.registry_auth(reference),
                on_output=output.write,
                cancellation=cancellation,
            )

    def _dockerfile_text(self, step: BuildStep, cancellation: Cancellation) -> str:
        if not isinstance(step.context, WorkspacePath):
            archive, text = self._context.open_build_context(step)
            archive.close()
            return text
        volume, folder = self._workspace_folder(step.context)
        dockerfile = posixpath.normpath(posixpath.join(folder, step.options.dockerfile))
        if dockerfile.startswith("../") or posixpath.isabs(dockerfile):
            raise StepFailed(
                f"the Dockerfile '{step.options.dockerfile}' lies outside the build context {step.context.path}; "
                "move it into the context folder"
            )
        try:
            with self._engine.read_volume(
                volume, dockerfile, labels=self._env.labels, cancellation=cancellation
            ) as tar:
                data = read_single_file(tar, what=f"Dockerfile {WORKSPACE}/{dockerfile}")
        except VolumePathNotFound:
            raise StepFailed(
                f"Dockerfile '{step.options.dockerfile}' was not found in the build context {step.context.path}"
            ) from None
        return data.decode("utf-8", "replace")

    @contextmanager
    def _context_stream(self, step: BuildStep, cancellation: Cancellation) -> Iterator[BinaryIO | Iterable[bytes]]:
        if not isinstance(step.context, WorkspacePath):
            archive, _ = self._context.open_build_context(step)
            with archive:
                yield archive
            return
        volume, folder = self._workspace_folder(step.context)
        labels = self._env.labels
        try:
            ignore_path = posixpath.join(folder, ".dockerignore")
            with self._engine.read_volume(volume, ignore_path, labels=labels, cancellation=cancellation) as tar:
                ignore_text: str | None = read_single_file(tar, what=ignore_path).decode("utf-8", "surrogateescape")
        except VolumePathNotFound:
            ignore_text = None
        with self._engine.read_volume(
            volume, posixpath.join(folder, "."), labels=labels, cancellation=cancellation
        ) as tar:
            if ignore_text is None:
                yield tar
            else:
                yield filter_context(tar, ignore_rules(ignore_text, posixpath.normpath(step.options.dockerfile)))

    def _workspace_folder(self, context: WorkspacePath) -> tuple[str, str]:
        if self._env.workspace is None:
            raise StepFailed(f"the build context {context.path} is in /workspace, but this run has no workspace")
        path = posixpath.normpath(context.path)
        if path == WORKSPACE:
            return self._env.workspace, ""
        if not path.startswith(WORKSPACE + "/"):
            raise StepFailed(f"the build context {context.path} is not inside {WORKSPACE}")
        return self._env.workspace, path.removeprefix(WORKSPACE + "/")

    # --- push steps ---------------------------------------------------------------------------------

    def _push(self, step: PushStep, output: StepOutput, cancellation: Cancellation, record: StepRecord) -> None:
        for reference in step.images:
            record.pushed.append(self._push_one(reference, step, output, cancellation))

    def _push_one(self, reference: str, step: PushStep, output: StepOutput, cancellation: Cancellation) -> PushedImage:
        last_error = ""
        for attempt in range(1, step.attempts + 1):
            if attempt > 1:
                self._sleep(self._push_backoff * 2 ** (attempt - 2), cancellation)
                if cancellation.is_set:
                    raise _stopped(cancellation)
            self._log.line(f"Pushing image: {reference}, attempt {attempt}")
            try:
                digest = self._engine.push(
                    reference,
                    auth=self._context.registry_auth(reference),
                    on_output=output.write,
                    cancellation=cancellation,
                )
            except StepFailed as failure:
                last_error = str(failure)
                output.write(f"{last_error}\n")
                output.flush()
                continue
            output.flush()
            self._log.line(f"Successfully pushed image: {reference}")
            return PushedImage(reference, digest)
        raise StepFailed(
            f"failed to push image {reference} after {step.attempts} attempts: {last_error}. "
            "Check that the registry is reachable from the Docker engine and accepts this image name"
        )


def _working_directory(value: str | None) -> str | None:
    if value is None:
        return None
    return posixpath.normpath(posixpath.join(WORKSPACE, value))


def _cpus(step: CmdStep) -> float | None:
    if not step.cpus:
        return None
    try:
        cpus = float(step.cpus)
    except ValueError:
        cpus = -1.0
    if cpus <= 0:
        raise StepFailed(f"step {step.id}: cpus '{step.cpus}' is not a positive number of CPUs such as 0.5 or 2")
    return cpus
