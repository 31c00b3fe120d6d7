"""Runs every benchmark against a private local stack and prints one line per figure.

    .venv/bin/python -m bench [--quick] [--only quick-build|executor|triggers]

`--quick` uses fewer rounds and a smaller upload, for a fast look; figures in docs come from a full run.
The output ends with a table of every target, what this run measured and whether it was met.
`--only` runs one group, to rerun a figure after a change.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import docker

from bench import executor, quick_build, triggers
from bench.summary import Row, table
from core.docker_engine import DockerEngine
from slipway_host.stack import start_private_stack
from tests.integration.conftest import BASE_IMAGE, _busybox_rootfs


def ensure_base_image() -> str:
    engine = docker.APIClient(version="auto")
    if not engine.images(name=BASE_IMAGE):
        engine.import_image_from_data(_busybox_rootfs(), repository=BASE_IMAGE.split(":")[0], tag="1")
    return BASE_IMAGE


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller inputs")
    parser.add_argument("--only", choices=("quick-build", "executor", "triggers"), help="run one group")
    args = parser.parse_args()
    wanted = {args.only} if args.only else {"quick-build", "executor", "triggers"}
    base_image = ensure_base_image()
    engine_version = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"# slipway bench {datetime.now(UTC):%Y-%m-%d %H:%M}Z, {platform.machine()}, Docker engine {engine_version}")
    rows: list[Row] = []
    try:
        _run_sections(wanted, base_image, quick=args.quick, rows=rows)
    finally:
        if rows:
            print("\n" + "\n".join(table(rows)), flush=True)
    return 0


def _run_sections(wanted: set[str], base_image: str, *, quick: bool, rows: list[Row]) -> None:
    with tempfile.TemporaryDirectory(prefix="slipway-bench-stack-") as temp:
        if "quick-build" in wanted:
            stack = start_private_stack(Path(temp) / "builds")
            try:
                for line in quick_build.run(stack, base_image, quick=quick, rows=rows):
                    print(line, flush=True)
            finally:
                stack.stop()
        if "executor" in wanted:
            for line in executor.run(DockerEngine(), base_image, quick=quick, rows=rows):
                print(line, flush=True)
        if "triggers" not in wanted:
            return
        # Trigger benchmarks count the runs they create; nothing builds them.
        no_worker = {"AzureWebJobs.run_worker.Disabled": "true"}
        intake = start_private_stack(Path(temp) / "intake", **no_worker)
        fanout = start_private_stack(Path(temp) / "fanout", **no_worker)
        try:
            for line in triggers.run(intake, fanout, base_image, quick=quick, rows=rows):
                print(line, flush=True)
        finally:
            intake.stop()
            fanout.stop()


if __name__ == "__main__":
    sys.exit(main())
