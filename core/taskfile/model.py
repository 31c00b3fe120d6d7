"""The typed task file: what `load_task_file` returns once every acb default is applied.

Field names follow Python; the YAML key each one comes from is noted where it differs. Strings that
acb treats as "not set" when empty are `None` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

# acb `graph/task.go`: the step timeout when neither the step nor the task sets one, and the delay
# between retries when a step sets none (the docs say 0; the code says 5).
DEFAULT_STEP_TIMEOUT = 600
DEFAULT_RETRY_DELAY = 5
DEFAULT_NETWORK_NAME = "acb_default_network"  # graph/network.go
WORKSPACE = "/workspace"  # builder: the shared volume's mount point and default working directory
ROOT_STEP_ID = "acb_root"  # graph/dag.go: the DAG's virtual root; reserved
IMMEDIATE = "-"  # `when: ["-"]`: start at once, in parallel with everything else
VALID_VERSIONS = ("1.0-preview-1", "v1.0.0", "v1.1.0")  # compared case-insensitively
DEFAULT_VERSION = "v1.0.0"  # what acb assumes when `version` is missing (the docs say "latest")


class StepKind(StrEnum):
    BUILD = "build"
    CMD = "cmd"
    PUSH = "push"


@dataclass(frozen=True)
class SecretSpec:
    """One entry of `secrets:`; the value is resolved from Key Vault and never stored here."""

    id: str
    keyvault: str
    client_id: str | None = None  # YAML `clientID`: a user-assigned identity; None = system-assigned


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    driver: str | None = None
    ipv6: bool = False
    skip_creation: bool = False  # YAML `skipCreation`: the network exists already
    is_default: bool = False  # YAML `isDefault`: steps without `network` join it


@dataclass(frozen=True)
class VolumeSpec:
    """A secret volume: each file name maps to its base64 content, decoded when the volume is made."""

    name: str
    secret: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeMount:
    name: str
    mount_path: str  # YAML `mountPath`


@dataclass(frozen=True)
class StepSpec:
    id: str
    kind: StepKind
    line: int  # where the step starts in the original task file (1-based), for messages
    build: str | None = None  # `docker build` arguments
    cmd: str | None = None  # image and arguments, after image aliases are expanded
    push: tuple[str, ...] = ()  # normalised (`:latest` added) and deduplicated, as acb does
    when: tuple[str, ...] = ()  # as written
    depends_on: tuple[str, ...] = ()  # resolved from `when`; () means "start at once"
    env: tuple[str, ...] = ()  # `K=V`, merged per key with the task env
    timeout: int = DEFAULT_STEP_TIMEOUT
    start_delay: int = 0
    retries: int = 0
    retry_delay: int = DEFAULT_RETRY_DELAY
    retry_on_errors: tuple[str, ...] = ()
    repeat: int = 0
    ignore_errors: bool = False
    detach: bool = False
    keep: bool = False
    privileged: bool = False
    user: str | None = None
    network: str | None = None  # None: Docker's own default (only when networks exist and none is default)
    isolation: str | None = None
    entry_point: str | None = None
    working_directory: str = WORKSPACE  # absolute and normalised
    disable_working_directory_override: bool = False
    ports: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    pull: bool = False
    cmd_download_retries: int = 0
    cmd_download_retry_delay: int = 0
    volume_mounts: tuple[VolumeMount, ...] = ()
    cpus: str | None = None
    cache: str | None = None  # "enabled" or "disabled" (lower-cased)
    exited_with: tuple[int, ...] = ()  # parsed by acb but never used
    exited_without: tuple[int, ...] = ()  # parsed by acb but never used


@dataclass(frozen=True)
class TaskFile:
    version: str  # lower-cased, one of VALID_VERSIONS
    steps: tuple[StepSpec, ...]
    step_timeout: int = DEFAULT_STEP_TIMEOUT
    env: tuple[str, ...] = ()  # the task's own `env`, comma-separated entries split
    working_directory: str | None = None  # the task default as written
    secrets: tuple[SecretSpec, ...] = ()
    networks: tuple[NetworkSpec, ...] = ()  # includes acb's default network when none is declared
    volumes: tuple[VolumeSpec, ...] = ()
    warnings: tuple[str, ...] = ()  # things acb accepts silently that a user may want to know

    def step(self, step_id: str) -> StepSpec:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
