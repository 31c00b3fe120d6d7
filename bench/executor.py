"""Executor benchmarks on a real Docker engine: parallel steps and the cost of one step.

Each function runs plans through `Executor` + `DockerEngine` and returns figures (seconds, ratios);
nothing is printed or asserted here, `make bench` formats them.

- `parallel_speedup`: eight independent one-second steps against one such step (target: the eight
  take at most 1.5x the time of one).
- `step_overhead`: N sequential trivial steps (`true`) through the executor against N
  `docker run --rm IMAGE true` through the docker CLI, run side by side (target: at most 1.2x).
  Executor steps join the run's bridge network (steps reach each other by id); a container on a
  user network costs the engine far more to start than one without, so the CLI is measured both
  ways and the like-for-like ratio (`ratio_same_network`) is the one to hold against the target.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.docker_engine import DockerEngine
from core.engine import Cancellation, RegistryAuth
from core.executor import Executor, Outcome
from core.plan import BuildStep, CmdStep, Plan

STACK = "slipway-bench"


class _NullLog:
    def write(self, data: bytes | str) -> None:
        pass

    def line(self, message: str) -> None:
        pass


@dataclass(frozen=True)
class _Context:
    run_id: str
    stack: str = STACK
    archive: Path | None = None

    def open_build_context(self, step: BuildStep) -> tuple[BinaryIO, str]:
        raise NotImplementedError

    def registry_auth(self, reference: str) -> RegistryAuth | None:
        return None


def _timed_plan(engine: DockerEngine, plan: Plan) -> float:
    started = time.perf_counter()
    execution = Executor(engine, _NullLog()).execute(plan, _Context(f"bench{secrets.token_hex(3)}"), Cancellation())
    elapsed = time.perf_counter() - started
    if execution.outcome is not Outcome.SUCCEEDED:
        raise RuntimeError(f"benchmark plan failed: {execution.failure}")
    return elapsed


def _sleep_step(step_id: str, image: str, seconds: float, network: str | None) -> CmdStep:
    return CmdStep(id=step_id, image=image, args=("sleep", f"{seconds:g}"), timeout=60, network=network)


def parallel_speedup(
    engine: DockerEngine, image: str, *, width: int = 8, seconds: float = 1.0, network: str | None = None
) -> dict[str, float]:
    """Wall time of one `sleep` step and of `width` independent ones, and their ratio.

    `network=None` puts the steps on the run's bridge network, as task steps are; `"none"` shows
    the executor's scheduling without the engine's per-container network set-up. The same
    containers started by the docker CLI (`docker run` in parallel) give the engine's own ratio.
    """
    _timed_plan(engine, Plan(steps=(_sleep_step("warm", image, 0, network),)))  # image and helper caches
    one = _timed_plan(engine, Plan(steps=(_sleep_step("only", image, seconds, network),)))
    many = _timed_plan(engine, Plan(steps=tuple(_sleep_step(f"s{i}", image, seconds, network) for i in range(width))))
    with _cli_network(network) as cli_network:
        cli_one = _docker_cli_parallel(image, 1, seconds, cli_network)
        cli_many = _docker_cli_parallel(image, width, seconds, cli_network)
    return {
        "steps": width,
        "one_step_s": one,
        "parallel_steps_s": many,
        "ratio": many / one,
        "docker_cli_ratio": cli_many / cli_one,
    }


@contextmanager
def _cli_network(network: str | None) -> Iterator[str]:
    """The network the CLI baseline uses: `network` itself, or a fresh bridge like a run's."""
    if network is not None:
        yield network
        return
    name = f"slipway-bench-{secrets.token_hex(3)}"
    subprocess.run(["docker", "network", "create", name], check=True, stdout=subprocess.DEVNULL)
    try:
        yield name
    finally:
        subprocess.run(["docker", "network", "rm", name], check=False, stdout=subprocess.DEVNULL)


def _docker_cli_parallel(image: str, count: int, seconds: float, network: str) -> float:
    command = ["docker", "run", "--rm", "--network", network, image, "sleep", f"{seconds:g}"]
    started = time.perf_counter()
    processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(count)]
    for process in processes:
        process.wait()
    return time.perf_counter() - started


def _docker_cli_runs(image: str, count: int, network: str | None) -> float:
    command = ["docker", "run", "--rm", *(["--network", network] if network else []), image, "true"]
    started = time.perf_counter()
    for _ in range(count):
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def step_overhead(engine: DockerEngine, image: str, *, steps: int = 20, rounds: int = 3) -> dict[str, float]:
    """Per-step seconds: executor chain of `true` steps vs the docker CLI (best of `rounds` each)."""
    chain = Plan(
        steps=tuple(
            CmdStep(id=f"t{i}", image=image, args=("true",), timeout=60, depends_on=(f"t{i - 1}",) if i else ())
            for i in range(steps)
        )
    )
    with _cli_network(None) as network:
        _timed_plan(engine, Plan(steps=chain.steps[:1]))
        executor, cli_plain, cli_network = [], [], []
        for _ in range(rounds):  # interleaved, so a busy moment on the engine hits every side
            executor.append(_timed_plan(engine, chain))
            cli_plain.append(_docker_cli_runs(image, steps, None))
            cli_network.append(_docker_cli_runs(image, steps, network))
    per_step = min(executor) / steps
    plain = min(cli_plain) / steps
    same_network = min(cli_network) / steps
    return {
        "steps": steps,
        "executor_per_step_s": per_step,
        "docker_run_per_step_s": plain,
        "docker_run_network_per_step_s": same_network,
        "ratio_same_network": per_step / same_network,
        "ratio_plain_docker_run": per_step / plain,
    }
