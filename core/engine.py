"""The container engine port: what the executor needs from a Docker engine, in our own types.

`core.docker_engine.DockerEngine` implements it over the Docker Engine API; unit tests use
`core.memory_engine.FakeEngine`. Long operations take a `Cancellation` so a cancel request or a
timeout stops them within moments, and report their output through `on_output` as it arrives.

Besides builds and pushes, the port runs step containers (`run_container` waits for the exit code,
`start_container` leaves a detached one running) and manages the run's networks and volumes,
including the container that holds a network namespace for steps to share
(`start_network_holder`, see `core.run_environment`).
Volumes are filled and read as tar streams (`write_volume`, `read_volume`), so a workspace folder
can flow from a volume into a build without touching the worker's disk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

OutputSink = Callable[[str], None]


class Cancellation:
    """A one-way stop signal with the reason that fired it (cancel request or timeout)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason: str | None = None
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self, reason: str) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` when canceled (at once if already); returns a function to unregister."""
        with self._lock:
            fired = self._event.is_set()
            if not fired:
                self._callbacks.append(callback)
        if fired:
            callback()

        def unregister() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unregister

    def child(self) -> Cancellation:
        """A cancellation that fires with this one but can also fire alone (e.g. a step timeout)."""
        child = Cancellation()
        self.on_cancel(lambda: child.cancel(self.reason or "canceled"))
        return child


class OperationCanceled(Exception):
    """Raised by engine operations interrupted through their `Cancellation`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StepFailed(Exception):
    """The work itself failed (non-zero exit, build error, push refused); the run ends Failed."""


class VolumePathNotFound(StepFailed):
    """`read_volume` was asked for a path that does not exist in the volume."""


@dataclass(frozen=True)
class RegistryAuth:
    username: str
    password: str = field(repr=False)
    server: str = ""


@dataclass(frozen=True)
class BuildOptions:
    dockerfile: str
    tags: tuple[str, ...]
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: str | None = None
    no_cache: bool = False
    pull: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceLimits:
    """Limits every step container gets (`docker run --memory --pids-limit`); None leaves one unset."""

    memory_bytes: int | None = 4 << 30
    pids: int | None = 4096


@dataclass(frozen=True)
class VolumeMount:
    volume: str  # engine volume name
    path: str  # absolute path in the container
    read_only: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    """One `docker run` of a step, in engine terms (names are the engine's, not the task file's)."""

    image: str
    args: tuple[str, ...] = ()
    name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    entrypoint: str | None = None  # `--entrypoint`: one executable, as the docker CLI sets it
    working_dir: str | None = None  # None: the image's WORKDIR
    user: str | None = None
    privileged: bool = False  # also decides `no-new-privileges`: set unless privileged
    # Engine network name, or `container:<id>` to join that container's network namespace (then
    # no aliases, ports or expose: the namespace and its names belong to that container); None:
    # the engine's default.
    network: str | None = None
    aliases: tuple[str, ...] = ()  # DNS names on `network` (the step id)
    ports: tuple[str, ...] = ()  # `-p` values, e.g. "8080:80", "127.0.0.1:8080:80/tcp"
    expose: tuple[str, ...] = ()  # `--expose` values, e.g. "80", "9000-9002/udp"
    cpus: float | None = None
    mounts: tuple[VolumeMount, ...] = ()
    limits: ResourceLimits = ResourceLimits()
    keep: bool = False  # True: never removed when interrupted; the run's cleanup removes it


@dataclass(frozen=True)
class ContainerExit:
    container_id: str
    exit_code: int


class ContainerEngine(Protocol):
    def build(
        self,
        context: BinaryIO | Iterable[bytes],
        options: BuildOptions,
        *,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> str:
        """Build an image from a tar (optionally gzip) context; returns the image ID."""
        ...

    def push(
        self,
        reference: str,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> str:
        """Push one tagged image; returns the manifest digest the registry stored."""
        ...

    def has_image(self, reference: str) -> bool:
        """Whether the engine has this image locally (so building or running it needs no pull)."""
        ...

    def repo_digests(self, reference: str) -> tuple[str, ...]:
        """`repo@sha256:…` digests the engine knows for a local image (empty if none or absent)."""
        ...

    def remove_labeled(self, labels: Mapping[str, str]) -> int:
        """Force-remove containers, then networks and volumes, carrying all of `labels`."""
        ...

    def pull(
        self,
        reference: str,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> None:
        """Pull an image; `StepFailed` naming it when no registry serves it."""
        ...

    def run_container(
        self,
        spec: ContainerSpec,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> ContainerExit:
        """`docker run` in the foreground: create (pulling a missing image), start, stream, wait.

        The exited container is left for the caller to remove (it knows whether to keep it); if the
        run is interrupted (`OperationCanceled`, errors) the container is killed, and removed unless
        `spec.keep`.
        """
        ...

    def start_container(
        self,
        spec: ContainerSpec,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> str:
        """`docker run --detach`: create (pulling a missing image) and start; returns the container ID."""
        ...

    def remove_container(self, container_id: str) -> None:
        """Kill and remove a container with its anonymous volumes; a missing one is not an error."""
        ...

    def start_network_holder(
        self, name: str, *, network: str, aliases: tuple[str, ...], labels: Mapping[str, str]
    ) -> str:
        """Start a container that only holds a network namespace on `network`, named `aliases` there.

        Step containers join it with `ContainerSpec(network=f"container:{id}")`, which the engine
        starts as fast as a container without a network. Returns the container ID; the caller
        removes it (`remove_container`).
        """
        ...

    def create_network(self, name: str, *, driver: str | None, ipv6: bool, labels: Mapping[str, str]) -> None: ...

    def network_exists(self, name: str) -> bool: ...

    def remove_network(self, name: str) -> None:
        """Remove a network; a missing one is not an error."""
        ...

    def create_volume(self, name: str, *, labels: Mapping[str, str]) -> None: ...

    def remove_volume(self, name: str) -> None:
        """Remove a volume; a missing one is not an error."""
        ...

    def write_volume(
        self,
        volume: str,
        archive: BinaryIO | Iterable[bytes],
        *,
        labels: Mapping[str, str],
        cancellation: Cancellation,
    ) -> None:
        """Extract a tar (plain, gzip, bzip2 or xz) into the volume's root."""
        ...

    def read_volume(
        self,
        volume: str,
        path: str,
        *,
        labels: Mapping[str, str],
        cancellation: Cancellation,
    ) -> AbstractContextManager[Iterator[bytes]]:
        """A tar stream of `path` (relative to the volume root) as the Engine API gives it.

        A file gives one entry named after it; a folder named with a trailing `/.` gives its
        contents at the root of the archive (`./Dockerfile`, …). `VolumePathNotFound` if absent.
        """
        ...
