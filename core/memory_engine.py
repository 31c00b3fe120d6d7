"""An in-memory `ContainerEngine` for unit and functional tests.

Behaviour is scripted per image tag or reference: a build can print lines, fail, or block until
canceled; a push can fail a number of times before succeeding. Step containers are scripted per
step id (their `slipway.step` label): output, exit code per launch, a start error, or blocking until
released or canceled. Networks and volumes are plain dictionaries (a volume is its files); network
holders are live containers listed apart from step containers (`holders`), and `holder_error`
makes starting one fail. It records every call so tests can compare what happened with what they
expected.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import posixpath
import tarfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from core.engine import (
    BuildOptions,
    Cancellation,
    ContainerExit,
    ContainerSpec,
    OperationCanceled,
    OutputSink,
    RegistryAuth,
    StepFailed,
    VolumePathNotFound,
)
from core.errors import EngineError


@dataclass
class BuildScript:
    output: tuple[str, ...] = ("Step 1/1 : FROM scratch\n",)
    error: str | None = None
    block_until_canceled: bool = False


@dataclass
class PushScript:
    failures: int = 0
    error: str = "dial tcp: connection refused"


@dataclass
class ContainerScript:
    output: tuple[str, ...] = ()
    exit_codes: tuple[int, ...] = (0,)  # one per launch; the last one repeats
    start_error: str | None = None
    block_until_canceled: bool = False
    release: threading.Event | None = None  # when given, the container runs until it is set


def _read_all(data: BinaryIO | Iterable[bytes]) -> bytes:
    read = getattr(data, "read", None)
    return bytes(read()) if callable(read) else b"".join(data)


def _tar(entries: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class FakeEngine:
    builds: dict[str, BuildScript] = field(default_factory=dict)
    pushes: dict[str, PushScript] = field(default_factory=dict)
    digests: dict[str, tuple[str, ...]] = field(default_factory=dict)
    missing_images: set[str] = field(default_factory=set)  # images `has_image` says the engine lacks
    pull_auths: list[RegistryAuth | None] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    context_bytes: list[int] = field(default_factory=list)
    build_contexts: list[bytes] = field(default_factory=list)
    removed_labels: list[dict[str, str]] = field(default_factory=list)
    containers: dict[str, ContainerScript] = field(default_factory=dict)  # by step id
    images: set[str] | None = None  # None: the engine has every image; otherwise others are pulled
    pull_errors: dict[str, str] = field(default_factory=dict)
    launched: list[ContainerSpec] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)  # ("start" | "exit", step id)
    live: dict[str, ContainerSpec] = field(default_factory=dict)  # containers not removed yet
    networks: dict[str, dict[str, str]] = field(default_factory=dict)  # name → labels
    external_networks: set[str] = field(default_factory=set)  # exist without the run creating them
    volumes: dict[str, dict[str, bytes]] = field(default_factory=dict)  # name → files by path
    volume_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)  # containers, networks and volumes, in order
    holders: dict[str, ContainerSpec] = field(default_factory=dict)  # network holders started, by ID
    holder_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _launches: dict[str, int] = field(default_factory=dict)

    def _record(self, kind: str, subject: str) -> None:
        with self._lock:
            self.calls.append((kind, subject))

    def build(
        self,
        context: BinaryIO | Iterable[bytes],
        options: BuildOptions,
        *,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> str:
        key = options.tags[0] if options.tags else ""
        self._record("build", key)
        data = _read_all(context)
        self.context_bytes.append(len(data))
        self.build_contexts.append(data)
        script = self.builds.get(key, BuildScript())
        for line in script.output:
            on_output(line)
        if script.block_until_canceled:
            cancellation.wait()
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        if script.error:
            raise StepFailed(script.error)
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()

    def push(
        self,
        reference: str,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> str:
        self._record("push", reference)
        script = self.pushes.setdefault(reference, PushScript())
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        if script.failures > 0:
            script.failures -= 1
            raise StepFailed(script.error)
        on_output(f"{reference.rpartition(':')[2]}: digest: sha256:{'0' * 64} size: 527\n")
        return "sha256:" + hashlib.sha256(reference.encode()).hexdigest()

    def has_image(self, reference: str) -> bool:
        return reference not in self.missing_images

    def repo_digests(self, reference: str) -> tuple[str, ...]:
        return self.digests.get(reference, ())

    def pull(
        self,
        reference: str,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> None:
        self._record("pull", reference)
        self.pull_auths.append(auth)
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        if reference in self.pull_errors:
            raise StepFailed(f"cannot pull image '{reference}': {self.pull_errors[reference]}")
        on_output(f"{reference}: Pulled\n")
        if self.images is not None:
            self.images.add(reference)

    def _create(
        self, spec: ContainerSpec, auth: RegistryAuth | None, on_output: OutputSink, cancel: Cancellation
    ) -> str:
        if cancel.is_set:
            raise OperationCanceled(cancel.reason or "canceled")
        if self.images is not None and spec.image not in self.images:
            self.pull(spec.image, auth=auth, on_output=on_output, cancellation=cancel)
        step = spec.labels.get("slipway.step", "")
        with self._lock:
            container_id = f"container-{next(self._ids)}"
            self.launched.append(spec)
            self.live[container_id] = spec
            self._launches[step] = self._launches.get(step, 0) + 1
        script = self.containers.get(step, ContainerScript())
        if script.start_error:
            self._remove(container_id)
            raise StepFailed(script.start_error)
        with self._lock:
            self.events.append(("start", step))
        return container_id

    def run_container(
        self,
        spec: ContainerSpec,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> ContainerExit:
        container_id = self._create(spec, auth, on_output, cancellation)
        step = spec.labels.get("slipway.step", "")
        script = self.containers.get(step, ContainerScript())
        for line in script.output:
            on_output(line)
        if script.release is not None or script.block_until_canceled:
            stop = threading.Event()
            unregister = cancellation.on_cancel(stop.set)
            while not stop.wait(0.005) and not (script.release is not None and script.release.is_set()):
                pass
            unregister()
        with self._lock:
            self.events.append(("exit", step))
            launch = self._launches[step]
        if cancellation.is_set:
            if not spec.keep:
                self._remove(container_id)
            raise OperationCanceled(cancellation.reason or "canceled")
        return ContainerExit(container_id, script.exit_codes[min(launch, len(script.exit_codes)) - 1])

    def start_container(
        self,
        spec: ContainerSpec,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> str:
        return self._create(spec, auth, on_output, cancellation)

    def _remove(self, name: str) -> None:
        with self._lock:
            self.live.pop(name, None)
            self.removed.append(name)

    def remove_container(self, container_id: str) -> None:
        self._record("remove_container", container_id)
        self._remove(container_id)

    def start_network_holder(
        self, name: str, *, network: str, aliases: tuple[str, ...], labels: Mapping[str, str]
    ) -> str:
        self._record("start_network_holder", network)
        if self.holder_error is not None:
            raise EngineError(self.holder_error)
        spec = ContainerSpec(image="network-holder", name=name, labels=dict(labels), network=network, aliases=aliases)
        with self._lock:
            holder = f"holder-{len(self.holders)}"
            self.holders[holder] = spec
            self.live[holder] = spec
        return holder

    def create_network(self, name: str, *, driver: str | None, ipv6: bool, labels: Mapping[str, str]) -> None:
        self._record("create_network", name)
        with self._lock:
            self.networks[name] = dict(labels)

    def network_exists(self, name: str) -> bool:
        return name in self.networks or name in self.external_networks

    def remove_network(self, name: str) -> None:
        with self._lock:
            if self.networks.pop(name, None) is not None:
                self.removed.append(name)

    def create_volume(self, name: str, *, labels: Mapping[str, str]) -> None:
        self._record("create_volume", name)
        with self._lock:
            self.volumes[name] = {}
            self.volume_labels[name] = dict(labels)

    def remove_volume(self, name: str) -> None:
        with self._lock:
            if self.volumes.pop(name, None) is not None:
                self.volume_labels.pop(name, None)
                self.removed.append(name)

    def write_volume(
        self,
        volume: str,
        archive: BinaryIO | Iterable[bytes],
        *,
        labels: Mapping[str, str],
        cancellation: Cancellation,
    ) -> None:
        self._record("write_volume", volume)
        with tarfile.open(fileobj=io.BytesIO(_read_all(archive)), mode="r:*") as tar:
            for member in tar:
                extracted = tar.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    path = posixpath.normpath(member.name.removeprefix("./"))
                    self.volumes[volume][path] = extracted.read()

    @contextlib.contextmanager
    def read_volume(
        self,
        volume: str,
        path: str,
        *,
        labels: Mapping[str, str],
        cancellation: Cancellation,
    ) -> Iterator[Iterator[bytes]]:
        self._record("read_volume", f"{volume}:{path}")
        files = self.volumes[volume]
        if path.endswith("/.") or path == ".":
            folder = posixpath.normpath(path.removesuffix("."))
            prefix = "" if folder in {".", ""} else folder + "/"
            entries = {f"./{name[len(prefix) :]}": data for name, data in files.items() if name.startswith(prefix)}
            if prefix and not entries:
                raise VolumePathNotFound(f"{path} does not exist in the run's volume")
        else:
            name = posixpath.normpath(path)
            if name not in files:
                raise VolumePathNotFound(f"{path} does not exist in the run's volume")
            entries = {posixpath.basename(name): files[name]}
        yield iter([_tar(entries)])

    def remove_labeled(self, labels: Mapping[str, str]) -> int:
        self.removed_labels.append(dict(labels))
        wanted = dict(labels).items()
        with self._lock:
            containers = [c for c, spec in self.live.items() if wanted <= dict(spec.labels).items()]
            networks = [n for n, found in self.networks.items() if wanted <= found.items()]
            volumes = [v for v, found in self.volume_labels.items() if wanted <= found.items()]
        for container_id in containers:
            self._remove(container_id)
        for network in networks:
            self.remove_network(network)
        for volume in volumes:
            self.remove_volume(volume)
        return len(containers) + len(networks) + len(volumes)
