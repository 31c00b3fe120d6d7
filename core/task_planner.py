"""From a checked task file to the `Plan` the executor performs (ACR multi-step tasks).

Everything that can be decided before anything runs is decided here, so `--dry-run` shows exactly
what will happen and errors appear before a single container starts: build arguments are parsed,
`cmd` strings split, image names checked, networks resolved and the server's policy applied
(privileged steps, the host network). Errors are `InvalidTaskFile` naming the step and its line.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from core.build_args import BuildArgsError, parse_build_args
from core.engine import BuildOptions
from core.errors import InvalidTaskFile
from core.image_names import names_registry
from core.plan import (
    BuildStep,
    CmdStep,
    NetworkPlan,
    Plan,
    PushStep,
    SecretVolume,
    Step,
    StepControl,
    VolumeMountPlan,
    WorkspacePath,
)
from core.taskfile import StepKind, StepSpec, TaskFile

_SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1", "&>", "&"}


@dataclass(frozen=True)
class PlanPolicy:
    """What this server lets task files do."""

    allow_privileged: bool = False
    allow_host_network: bool = False


def _fail(step: StepSpec, file_name: str, message: str, field: str) -> InvalidTaskFile:
    return InvalidTaskFile(f"{file_name}:{step.line}:1: step '{step.id}': {message}", target=f"steps.{step.id}.{field}")


def _env(step: StepSpec) -> dict[str, str]:
    return dict(entry.partition("=")[::2] for entry in step.env)


def _control(step: StepSpec) -> StepControl:
    return StepControl(
        start_delay=step.start_delay,
        retries=step.retries,
        retry_delay=step.retry_delay,
        retry_on_errors=step.retry_on_errors,
        repeat=step.repeat,
    )


def _common_notes(step: StepSpec) -> tuple[str, ...]:
    notes: list[str] = []
    if step.isolation:
        notes.append(f"Step ID: {step.id}: isolation '{step.isolation}' has no effect on Linux engines; ignored")
    if step.cache:
        notes.append(
            f"Step ID: {step.id}: cache: {step.cache} - Slipway's engine keeps its layer cache between runs, "
            "so no registry cache is used; ignored"
        )
    return tuple(notes)


def _build_step(step: StepSpec, file_name: str) -> BuildStep:
    env = _env(step)
    try:
        parsed = parse_build_args(step.build or "", working_directory=step.working_directory, env=env)
    except BuildArgsError as error:
        raise _fail(step, file_name, f"build: {error}", "build") from None
    notes = list(_common_notes(step))
    notes += [f"Step ID: {step.id}: docker build option {o} has no effect here; ignored" for o in parsed.ignored]
    if env.get("DOCKER_BUILDKIT") == "1":
        notes.append(f"Step ID: {step.id}: DOCKER_BUILDKIT=1 is not available here; using the classic builder")
    if step.volume_mounts:
        notes.append(f"Step ID: {step.id}: volumeMounts are not visible to the classic builder; ignored for this build")
    return BuildStep(
        id=step.id,
        options=BuildOptions(
            dockerfile=parsed.dockerfile,
            tags=parsed.tags,
            build_args=dict(parsed.build_args),
            target=parsed.target,
            platform=parsed.platform,
            no_cache=parsed.no_cache,
            pull=parsed.pull,
            labels=dict(parsed.labels),
        ),
        timeout=step.timeout,
        depends_on=step.depends_on,
        ignore_errors=step.ignore_errors,
        context=WorkspacePath(parsed.context),
        control=_control(step),
        env=env,
        notes=tuple(notes),
    )


def _push_step(step: StepSpec, file_name: str) -> PushStep:
    for image in step.push:
        first = image.split("/", 1)[0]
        if "/" not in image or not names_registry(first):
            raise _fail(
                step,
                file_name,
                f"push: image '{image}' does not name a registry, so it would go to Docker Hub; prefix it with "
                "{{.Run.Registry}}/ (or $Registry/ in a v1.1.0 file)",
                "push",
            )
    return PushStep(
        id=step.id,
        images=step.push,
        timeout=step.timeout,
        depends_on=step.depends_on,
        ignore_errors=step.ignore_errors,
        start_delay=step.start_delay,
    )


def _split_cmd(step: StepSpec, file_name: str) -> tuple[str, tuple[str, ...]]:
    try:
        tokens = shlex.split(step.cmd or "")
    except ValueError as error:
        raise _fail(step, file_name, f"cmd: cannot split '{step.cmd}': {error}", "cmd") from None
    if not tokens:
        raise _fail(step, file_name, "cmd is empty; give an image and its arguments", "cmd")
    operators = [t for t in tokens if t in _SHELL_OPERATORS]
    if operators:
        raise _fail(
            step,
            file_name,
            f"cmd uses the shell operator '{operators[0]}'. ACR runs cmd strings through the agent's own shell; "
            "Slipway never runs a shell outside the step's container. Run the shell inside it instead, e.g. "
            f"cmd: {tokens[0]} sh -c '...'",
            "cmd",
        )
    return tokens[0], tuple(tokens[1:])


def _cmd_step(step: StepSpec, file_name: str, plan_networks: Mapping[str, NetworkPlan], policy: PlanPolicy) -> CmdStep:
    image, args = _split_cmd(step, file_name)
    if step.privileged and not policy.allow_privileged:
        raise _fail(
            step,
            file_name,
            "privileged: true is not allowed by this server's policy (SLIPWAY_ALLOW_PRIVILEGED); steps run "
            "unprivileged, without access to the Docker engine",
            "privileged",
        )
    network = step.network
    if network == "host" and not policy.allow_host_network:
        raise _fail(
            step,
            file_name,
            "network: host is not allowed by this server's policy (SLIPWAY_ALLOW_HOST_NETWORK); use the run's "
            "own network, where steps reach each other by id",
            "network",
        )
    if network is not None and network not in plan_networks and network not in {"host", "none"}:
        declared = ", ".join(sorted(plan_networks)) or "none"
        raise _fail(
            step,
            file_name,
            f"network '{network}' is not declared under networks: (declared: {declared}); declare it, with "
            "skipCreation: true if it already exists on the engine",
            "network",
        )
    return CmdStep(
        id=step.id,
        image=image,
        args=args,
        timeout=step.timeout,
        depends_on=step.depends_on,
        ignore_errors=step.ignore_errors,
        control=_control(step),
        env=_env(step),
        entrypoint=step.entry_point,
        working_directory=None if step.disable_working_directory_override else step.working_directory,
        user=step.user,
        privileged=step.privileged,
        network=network,
        ports=step.ports,
        expose=step.expose,
        cpus=step.cpus,
        volume_mounts=tuple(VolumeMountPlan(volume=m.name, path=m.mount_path) for m in step.volume_mounts),
        detach=step.detach,
        keep=step.keep,
        pull=step.pull,
        pull_retries=step.cmd_download_retries,
        pull_retry_delay=step.cmd_download_retry_delay,
        notes=_common_notes(step),
    )


def plan_task(task: TaskFile, *, file_name: str, policy: PlanPolicy) -> Plan:
    """The plan for a loaded task file; `InvalidTaskFile` for anything this server will not run."""
    networks = {
        n.name: NetworkPlan(name=n.name, driver=n.driver, ipv6=n.ipv6, create=not n.skip_creation)
        for n in task.networks
    }
    default = next((n.name for n in reversed(task.networks) if n.is_default), None)
    steps: list[Step] = []
    for spec in task.steps:
        if spec.kind is StepKind.BUILD:
            steps.append(_build_step(spec, file_name))
        elif spec.kind is StepKind.PUSH:
            steps.append(_push_step(spec, file_name))
        else:
            steps.append(_cmd_step(spec, file_name, networks, policy))
    volumes = tuple(
        SecretVolume(name=v.name, files={name: base64.b64decode(value) for name, value in v.secret.items()})
        for v in task.volumes
    )
    return Plan(
        steps=tuple(steps),
        notes=tuple(f"Warning: {warning}" for warning in task.warnings),
        networks=tuple(networks.values()),
        default_network=default,
        volumes=volumes,
        workspace=True,
    )
