"""Plans: the frozen, fully rendered form of a run that the executor performs.

A planner (the quick-build planner here, the task-file planner later) turns a request into a `Plan`;
the executor only performs it, and a display-only reader of the same plan gives `--dry-run`.
Each step names the steps it waits for in `depends_on`, already resolved from ACR's `when` rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.engine import BuildOptions

QUICK_BUILD_TIMEOUT = 8 * 3600  # acb build's build-step timeout
QUICK_PUSH_TIMEOUT = 3600  # acb build's push-step timeout


@dataclass(frozen=True)
class BuildStep:
    id: str
    options: BuildOptions
    timeout: int
    depends_on: tuple[str, ...] = ()
    ignore_errors: bool = False


@dataclass(frozen=True)
class PushStep:
    id: str
    images: tuple[str, ...]
    timeout: int
    depends_on: tuple[str, ...] = ()
    ignore_errors: bool = False
    attempts: int = 3  # acb retries pushes three times with backoff


Step = BuildStep | PushStep


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default=())  # lines the executor logs before the first step

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
        steps=(
            build,
            PushStep(id="push", images=options.tags, timeout=QUICK_PUSH_TIMEOUT, depends_on=("build",)),
        )
    )
