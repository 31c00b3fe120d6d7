"""The container engine port: what the executor needs from a Docker engine, in our own types.

`core.docker_engine.DockerEngine` implements it over the Docker Engine API; unit tests use
`core.memory_engine.FakeEngine`. Long operations take a `Cancellation` so a cancel request or a
timeout stops them within moments, and report their output through `on_output` as it arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
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

    def repo_digests(self, reference: str) -> tuple[str, ...]:
        """`repo@sha256:…` digests the engine knows for a local image (empty if none or absent)."""
        ...

    def remove_labeled(self, labels: Mapping[str, str]) -> int:
        """Force-remove containers, then networks and volumes, carrying all of `labels`."""
        ...
