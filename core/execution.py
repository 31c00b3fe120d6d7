"""What performing a plan needs and produces: the context and log it is given, the results it returns.

`core.executor.Executor` performs a plan; these values and protocols are shared by it, the step
runners and the run environment, and by callers (the worker, the dependency report). Nothing here
does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Protocol

from core.dockerfile_deps import DockerfileDependencies
from core.engine import Cancellation, RegistryAuth
from core.plan import BuildStep

CANCELED_BY_USER = "canceled"
RUN_TIMED_OUT = "run-timeout"
STEP_TIMED_OUT = "step-timeout"
STEP_FAILED = "step-failed"

RUN_LABEL = "slipway.run"
STACK_LABEL = "slipway.stack"
STEP_LABEL = "slipway.step"

# Waits `seconds` unless the cancellation fires first (tests inject one that only records).
Sleep = Callable[[float, Cancellation], None]


def wait_unless_canceled(seconds: float, cancellation: Cancellation) -> None:
    """The default `Sleep`: returns early when `cancellation` fires."""
    if seconds > 0:
        cancellation.wait(seconds)


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
    """What the worker provides for one run."""

    @property
    def run_id(self) -> str: ...

    @property
    def stack(self) -> str:
        """The `slipway.stack` label value: which Slipway deployment owns the run's Docker objects."""
        ...

    @property
    def archive(self) -> Path | None:
        """The uploaded context archive (tar, optionally gzip); extracted into `/workspace` if the plan has one."""
        ...

    def open_build_context(self, step: BuildStep) -> tuple[BinaryIO, str]:
        """The tar context of a build step from the uploaded archive, and the text of its Dockerfile."""
        ...

    def registry_auth(self, reference: str) -> RegistryAuth | None:
        """Credentials for pushing or pulling `reference`; None for anonymous access."""
        ...
