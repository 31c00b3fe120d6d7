"""Fixtures for driving `Executor` + `DockerEngine` in-process against the real Docker engine.

Each test gets a unique run id; every Docker object the run creates carries `slipway.run=<id>` and
the stack label below, so `leftovers` can prove that nothing stayed behind, and the engine's event
log shows what lived in between (`holder_events`).
"""

from __future__ import annotations

import io
import secrets
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from core.docker_engine import DockerEngine
from core.docker_volumes import HOLDER_IMAGE
from core.engine import Cancellation, RegistryAuth
from core.executor import Execution, Executor
from core.plan import BuildStep, Plan
from slipway_host.stack import free_port, start_registry

STACK = "slipway-executor-tests"


class MemoryLog:
    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, data: bytes | str) -> None:
        with self._lock:
            self._parts.append(data.decode() if isinstance(data, bytes) else data)

    def line(self, message: str) -> None:
        self.write(message + "\n")

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)


@dataclass(frozen=True)
class RunContext:
    run_id: str
    stack: str = STACK
    archive: Path | None = None

    def open_build_context(self, step: BuildStep) -> tuple[BinaryIO, str]:
        raise AssertionError("these tests build from /workspace only")

    def registry_auth(self, reference: str) -> RegistryAuth | None:
        return None


def new_run(archive: Path | None = None) -> RunContext:
    return RunContext(run_id=f"it{secrets.token_hex(4)}", archive=archive)


def make_archive(folder: Path, files: dict[str, str]) -> Path:
    """A gzipped context archive like the CLI uploads."""
    path = folder / f"context-{secrets.token_hex(3)}.tar.gz"
    with tarfile.open(path, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def run_plan(
    engine: DockerEngine, plan: Plan, context: RunContext, cancellation: Cancellation | None = None
) -> tuple[Execution, MemoryLog]:
    log = MemoryLog()
    execution = Executor(engine, log, push_backoff_seconds=0.2).execute(plan, context, cancellation or Cancellation())
    return execution, log


def leftovers(api: Any, run_id: str) -> dict[str, list[str]]:
    """Every container, network and volume still labelled with the run."""
    filters = {"label": [f"slipway.run={run_id}", f"slipway.stack={STACK}"]}
    return {
        "containers": [c["Id"][:12] for c in api.containers(all=True, filters=filters)],
        "networks": [n["Name"] for n in api.networks(filters=filters)],
        "volumes": [v["Name"] for v in (api.volumes(filters=filters) or {}).get("Volumes") or []],
    }


def holder_events(api: Any, run_id: str, since: float) -> list[str]:
    """What happened to the run's network holder since `since` (epoch seconds): create, start, destroy, …"""
    filters = {"label": [f"slipway.run={run_id}", f"slipway.stack={STACK}"], "type": "container"}
    events = api.events(since=since, until=time.time(), filters=filters, decode=True)
    return [e["Action"] for e in events if e.get("Actor", {}).get("Attributes", {}).get("image") == HOLDER_IMAGE]


NOTHING_LEFT = {"containers": [], "networks": [], "volumes": []}


@pytest.fixture(scope="module")
def docker_engine() -> DockerEngine:
    return DockerEngine()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    service = start_registry(tmp_path_factory.mktemp("executor-registry"), port)
    yield f"127.0.0.1:{port}"
    service.stop()
