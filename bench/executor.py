"""Executor benchmarks on a real Docker engine: parallel steps and the cost of one step.

Each function runs plans through `Executor` + `DockerEngine` and returns figures (seconds, ratios);
nothing is asserted. `run` formats them as lines; `python -m bench.executor [--quick]` prints them.
Every figure is a median over rounds in which the compared sides alternate, so a busy moment on
the engine hits both.

- `parallel_speedup` (target a): the whole plan time of eight independent one-second `sleep` steps
  against that of one such step, both including what the executor does around the steps (the run's
  network, its network holder, cleanup). Target: at most 1.5x. For reference, the engine's own
  ratio: the same containers started with plain `docker run --rm` by the docker CLI.
- `step_overhead` (target b): a plan of N sequential `true` steps through the executor (whole plan
  time, set-up and cleanup included) against N `docker run --rm IMAGE true` through the docker CLI,
  per step. Target: at most 1.2x.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import docker

from bench.summary import Row
from core.docker_engine import DockerEngine
from core.engine import Cancellation, RegistryAuth
from core.executor import Executor, Outcome
from core.plan import BuildStep, CmdStep, Plan
from tests.integration.conftest import BASE_IMAGE, _busybox_rootfs

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


def _timed_cli(commands: list[list[str]], *, parallel: bool) -> float:
    started = time.perf_counter()
    if parallel:
        processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for command in commands]
        if any(process.wait() for process in processes):
            raise RuntimeError("a docker run of the baseline failed")
    else:
        for command in commands:
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _sleep_step(step_id: str, image: str, seconds: float) -> CmdStep:
    return CmdStep(id=step_id, image=image, args=("sleep", f"{seconds:g}"), timeout=60)


def parallel_speedup(
    engine: DockerEngine, image: str, *, width: int = 8, seconds: float = 1.0, rounds: int = 3
) -> dict[str, float]:
    """Median plan time of one `sleep` step and of `width` independent ones, and their ratio."""
    one_plan = Plan(steps=(_sleep_step("only", image, seconds),))
    many_plan = Plan(steps=tuple(_sleep_step(f"s{i}", image, seconds) for i in range(width)))
    command = ["docker", "run", "--rm", image, "sleep", f"{seconds:g}"]
    _timed_plan(engine, many_plan)  # image, holder image and connection pool warm
    one, many, cli_one, cli_many = [], [], [], []
    for _ in range(rounds):
        one.append(_timed_plan(engine, one_plan))
        many.append(_timed_plan(engine, many_plan))
        cli_one.append(_timed_cli([command], parallel=True))
        cli_many.append(_timed_cli([command] * width, parallel=True))
    return {
        "steps": width,
        "one_step_s": statistics.median(one),
        "parallel_steps_s": statistics.median(many),
        "ratio": statistics.median(many) / statistics.median(one),
        "docker_run_one_s": statistics.median(cli_one),
        "docker_run_parallel_s": statistics.median(cli_many),
        "docker_run_ratio": statistics.median(cli_many) / statistics.median(cli_one),
    }


def step_overhead(engine: DockerEngine, image: str, *, steps: int = 20, rounds: int = 5) -> dict[str, float]:
    """Median seconds per step: a chain of `steps` `true` steps vs as many `docker run --rm`."""
    chain = Plan(
        steps=tuple(
            CmdStep(id=f"t{i}", image=image, args=("true",), timeout=60, depends_on=(f"t{i - 1}",) if i else ())
            for i in range(steps)
        )
    )
    commands = [["docker", "run", "--rm", image, "true"]] * steps
    _timed_plan(engine, chain)
    executor, cli = [], []
    for _ in range(rounds):
        executor.append(_timed_plan(engine, chain))
        cli.append(_timed_cli(commands, parallel=False))
    per_step = statistics.median(executor) / steps
    docker_run = statistics.median(cli) / steps
    return {
        "steps": steps,
        "executor_per_step_s": per_step,
        "docker_run_per_step_s": docker_run,
        "ratio": per_step / docker_run,
    }


def run(engine: DockerEngine, image: str, *, quick: bool, rows: list[Row] | None = None) -> list[str]:
    """Both benchmarks as printable lines; their targets are added to `rows`."""
    parallel = parallel_speedup(engine, image, rounds=2 if quick else 5)
    overhead = step_overhead(engine, image, steps=10 if quick else 20, rounds=2 if quick else 5)
    if rows is not None:
        rows.append(Row("8 parallel 1 s steps vs one", f"{parallel['ratio']:.2f}×", "≤ 1.5×", parallel["ratio"] <= 1.5))
        rows.append(Row("per-step overhead", f"{overhead['ratio']:.2f}×", "≤ 1.2×", overhead["ratio"] <= 1.2))
    return [
        f"executor, {parallel['steps']:.0f} parallel 1 s steps: {parallel['parallel_steps_s']:.2f} s, one step "
        f"{parallel['one_step_s']:.2f} s → {parallel['ratio']:.2f}× (target ≤ 1.5×; plain docker run --rm "
        f"{parallel['docker_run_parallel_s']:.2f} s / {parallel['docker_run_one_s']:.2f} s = "
        f"{parallel['docker_run_ratio']:.2f}×)",
        f"executor, {overhead['steps']:.0f} sequential true steps: {overhead['executor_per_step_s']:.3f} s a step, "
        f"docker run --rm {overhead['docker_run_per_step_s']:.3f} s → {overhead['ratio']:.2f}× (target ≤ 1.2×)",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.executor")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    client = docker.APIClient(version="auto")
    if not client.images(name=BASE_IMAGE):
        client.import_image_from_data(_busybox_rootfs(), repository=BASE_IMAGE.split(":")[0], tag="1")
    for line in run(DockerEngine(), BASE_IMAGE, quick=args.quick):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
