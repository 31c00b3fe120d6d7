"""Plans: the frozen, fully rendered form of a run that the executor performs.

A planner (`quick_build_plan` here, `core.task_planner` for task files) turns a request into a
`Plan`; the executor only performs it, and a display-only reader of the same plan gives `--dry-run`.
Each step names the steps it waits for in `depends_on`, already resolved from ACR's `when` rules.
Plans live only in memory: secret volume contents are real values and must never be persisted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core.engine import BuildOptions

QUICK_BUILD_TIMEOUT = 8 * 3600  # acb build's build-step timeout
QUICK_PUSH_TIMEOUT = 3600  # acb build's push-step timeout
WORKSPACE = "/workspace"


@dataclass(frozen=True)
class StepControl:
    """How a step is started and retried (ACR step properties shared by build and cmd steps)."""

    start_delay: int = 0  # seconds to wait before the first attempt
    retries: int = 0  # extra attempts after a failure
    retry_delay: int = 5  # seconds between attempts (acb: <= 0 becomes 5)
    retry_on_errors: tuple[str, ...] = ()  # retry only if the output contains one of these
    repeat: int = 0  # run `repeat + 1` times in all


@dataclass(frozen=True)
class UploadedArchive:
    """Build from the run's uploaded context archive as is (quick builds: no copy into a volume)."""


@dataclass(frozen=True)
class WorkspacePath:
    """Build from a folder inside the run's `/workspace` volume (task-file build steps)."""

    path: str  # absolute, under /workspace, normalised


BuildContext = UploadedArchive | WorkspacePath


@dataclass(frozen=True)
class BuildStep:
    id: str
    options: BuildOptions  # `dockerfile` is relative to the context
    timeout: int
    depends_on: tuple[str, ...] = ()
    ignore_errors: bool = False
    context: BuildContext = UploadedArchive()
    control: StepControl = StepControl()
    env: Mapping[str, str] = field(default_factory=dict)  # the step env; only DOCKER_BUILDKIT means anything here
    notes: tuple[str, ...] = ()  # lines logged when the step starts (e.g. what `cache` does here)


@dataclass(frozen=True)
class PushStep:
    id: str
    images: tuple[str, ...]
    timeout: int
    depends_on: tuple[str, ...] = ()
    ignore_errors: bool = False
    start_delay: int = 0
    attempts: int = 3  # acb retries pushes three times with backoff


@dataclass(frozen=True)
class VolumeMountPlan:
    volume: str  # name of a `SecretVolume` of the plan
    path: str  # absolute path in the container


@dataclass(frozen=True)
class CmdStep:
    """`docker run` of an image with the run's `/workspace` volume and network (ACR `cmd` steps)."""

    id: str
    image: str
    args: tuple[str, ...]
    timeout: int
    depends_on: tuple[str, ...] = ()
    ignore_errors: bool = False
    control: StepControl = StepControl()
    env: Mapping[str, str] = field(default_factory=dict)
    entrypoint: str | None = None
    working_directory: str | None = WORKSPACE  # None: the image's own WORKDIR
    user: str | None = None
    privileged: bool = False
    network: str | None = None  # a plan network name; None: the plan's default network
    ports: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    cpus: str | None = None
    volume_mounts: tuple[VolumeMountPlan, ...] = ()
    detach: bool = False  # run in the background; removed when the run ends
    keep: bool = False  # keep the container after it exits (until the run's cleanup)
    pull: bool = False  # pull the image first even if the engine has it
    pull_retries: int = 0
    pull_retry_delay: int = 0
    notes: tuple[str, ...] = ()


Step = BuildStep | PushStep | CmdStep


@dataclass(frozen=True)
class NetworkPlan:
    name: str  # as the task file names it; the engine object gets a run-unique name
    driver: str | None = None
    ipv6: bool = False
    create: bool = True  # False: `skipCreation`, the network exists already on the engine


@dataclass(frozen=True)
class SecretVolume:
    name: str
    files: Mapping[str, bytes] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()  # lines the executor logs before the first step
    networks: tuple[NetworkPlan, ...] = ()
    default_network: str | None = None  # the network steps join when they name none
    volumes: tuple[SecretVolume, ...] = ()
    workspace: bool = False  # create the shared /workspace volume (with the uploaded context in it)

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


def quick_build_plan(options: BuildOptions, *, push: bool) -> Plan:
    """`az acr build` as acb runs it: a build step, then a push step of every tag (unless --no-push)."""
    build = BuildStep(id="build", options=options, timeout=QUICK_BUILD_TIMEOUT)
    if not push or not options.tags:
        return Plan(steps=(build,))
    return Plan(
        steps=(build, PushStep(id="push", images=options.tags, timeout=QUICK_PUSH_TIMEOUT, depends_on=("build",)))
    )
