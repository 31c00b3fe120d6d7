"""The Docker objects one run owns, set up before its first step and removed after its last.

Before the steps: the plan's networks (a run-unique engine name for each; `skipCreation` networks
must already exist), an implicit `acb_default_network` when a step needs a network the plan does not
name (acb creates one when a task declares none), the shared `/workspace` volume with the uploaded
context extracted into it, one volume per secret volume with its files (read-only, mode 0444), and
the default network's holder (below), started in the background while the volumes are filled.

Network holder. A container with an endpoint of its own on a user-defined bridge costs the engine
~0.3 s more to start than a plain one (veth pair, embedded DNS), serialised in dockerd. With an
endpoint per step, a chain of 20 `true` steps took 0.41 s a step against 0.16 s for `docker run
--rm`, and eight parallel one-second steps 1.9x the time of one. So a run whose plan has two or more
containers that can share starts one small container that holds a network namespace on the default
network, answering there to each sharing step's id (DNS aliases), and those steps run in it
(`--network container:<holder>`), which starts as fast as a plain container: 0.16 s a step and
1.4x, the engine's own ratio (`bench/executor.py`). A lone step gets its own endpoint: the holder
would cost as much.

What ACR promises still holds: steps reach each other by id through Docker's embedded DNS in both
directions (a sharing step's id resolves to the holder, i.e. to the namespace it runs in), detached
services included. Steps that keep an endpoint of their own, as in ACR: detached steps (services,
which outlive the steps around them), steps with `ports` or `expose` (the engine publishes per
endpoint), privileged steps (they could reconfigure a namespace others use) and steps on any other
network. What differs, since ACR gives each step container its own address: sharing steps have one
loopback, port space and hostname, so two of them running at the same time cannot listen on the same
port, and a server one binds to 127.0.0.1 is reachable from the others; the id of a sharing step
that has finished still resolves. Isolating just the steps that may run in parallel would give each
an endpoint exactly when they start together, the cost being avoided (eight parallel steps back to
1.9x); a step that needs an address of its own gets one by declaring `expose`. If the holder cannot
start (no static busybox for its image, an engine fault), the log says so and every step gets its
own endpoint.

After the steps, always, whatever happened: exited step containers still being removed in the
background are waited for, then the holder, detached and kept containers, the networks and the
volumes this run created are removed, and finally everything carrying the run's labels is swept,
which also catches objects created by an engine call that was interrupted before it could report
them.
"""

from __future__ import annotations

import functools
import io
import re
import secrets
import tarfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from core.engine import Cancellation, ContainerEngine, OperationCanceled, StepFailed, VolumeMount
from core.errors import SlipwayError
from core.execution import RunLog
from core.plan import WORKSPACE, CmdStep, Plan, SecretVolume

DEFAULT_NETWORK = "acb_default_network"  # acb's name for the network it creates when a task declares none
_BUILTIN_NETWORKS = frozenset({"host", "none", "bridge", "default"})  # no aliases there, or no network at all
SECRET_FILE_MODE = 0o444
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def engine_name(*parts: str) -> str:
    """A Docker object name from `parts`: only `[A-Za-z0-9_.-]`, e.g. `slipway-ca12-x1y2-db`."""
    return _UNSAFE_NAME.sub("_", "-".join(("slipway", *parts)))


def secret_volume_archive(volume: SecretVolume) -> bytes:
    """A tar of the volume's files, read-only for every user (steps may run as any user)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in sorted(volume.files.items()):
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode = len(data), SECRET_FILE_MODE
            tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


class RunEnvironment:
    def __init__(
        self,
        engine: ContainerEngine,
        plan: Plan,
        log: RunLog,
        *,
        run_id: str,
        labels: Mapping[str, str],
        archive: Path | None,
    ) -> None:
        self._engine = engine
        self._plan = plan
        self._log = log
        self._labels = dict(labels)
        self._archive = archive
        # Run ids are unique per stack only; the token keeps names apart across stacks and retries.
        self.token = secrets.token_hex(3)
        self._prefix = (run_id, self.token)
        self._networks: dict[str, str] = {}  # plan name → engine name
        self._secret_volumes: dict[str, str] = {}  # plan name → engine name
        self.workspace: str | None = None
        self.default_network: str | None = plan.default_network
        self._created_networks: list[str] = []
        self._created_volumes: list[str] = []
        self._containers: list[str] = []
        self._lock = threading.Lock()
        self._background = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"run-{run_id}")
        self._sharing: frozenset[str] = frozenset()  # ids of the steps that run in the holder's namespace
        self._holder: Future[str | None] | None = None

    @property
    def labels(self) -> dict[str, str]:
        return dict(self._labels)

    def set_up(self, cancellation: Cancellation) -> None:
        """Create the run's networks and volumes; errors propagate (the run cannot start)."""
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        for network in self._plan.networks:
            if not network.create:
                self._log.line(f"Skip creating network: {network.name}")
                if not self._engine.network_exists(network.name):
                    raise StepFailed(
                        f"network '{network.name}' has skipCreation: true but does not exist on the Docker engine; "
                        "create it there first, or let the run create it"
                    )
                self._networks[network.name] = network.name
                continue
            self._create_network(network.name, network.driver, network.ipv6)
        needs_default = any(isinstance(s, CmdStep) and s.network is None for s in self._plan.steps)
        if needs_default and self.default_network is None:
            self.default_network = DEFAULT_NETWORK
            if DEFAULT_NETWORK not in self._networks:
                self._create_network(DEFAULT_NETWORK, "bridge", ipv6=False)
        sharing = [s for s in self._plan.steps if isinstance(s, CmdStep) and self._may_share_namespace(s)]
        default_network, shown = self.network_for(None)
        if default_network is not None and sum(s.control.repeat + 1 for s in sharing) >= 2:
            # From the second container on, a holder costs less than an endpoint for each.
            self._sharing = frozenset(s.id for s in sharing)
            self._holder = self._background.submit(self._start_holder, default_network, shown)
        if self._plan.workspace:
            self.workspace = self._create_volume("workspace")
            if self._archive is not None:
                with self._archive.open("rb") as archive:
                    self._engine.write_volume(self.workspace, archive, labels=self._labels, cancellation=cancellation)
        for volume in self._plan.volumes:
            name = self._create_volume("secret", volume.name)
            self._secret_volumes[volume.name] = name
            self._engine.write_volume(
                name, [secret_volume_archive(volume)], labels=self._labels, cancellation=cancellation
            )

    def _create_network(self, name: str, driver: str | None, ipv6: bool) -> None:
        engine_network = engine_name(*self._prefix, name)
        self._log.line(f"Creating Docker network: {name}, driver: '{driver or 'bridge'}'")
        self._engine.create_network(engine_network, driver=driver, ipv6=ipv6, labels=self._labels)
        self._created_networks.append(engine_network)
        self._networks[name] = engine_network
        self._log.line(f"Successfully set up Docker network: {name}")

    def _create_volume(self, *parts: str) -> str:
        name = engine_name(*self._prefix, *parts)
        self._engine.create_volume(name, labels=self._labels)
        self._created_volumes.append(name)
        return name

    def _may_share_namespace(self, step: CmdStep) -> bool:
        if step.detach or step.ports or step.expose or step.privileged:
            return False
        default = self.default_network
        if default is None or (step.network or default) != default:
            return False
        return self._networks.get(default, default) not in _BUILTIN_NETWORKS

    def _start_holder(self, network: str, name: str) -> str | None:
        try:
            holder = self._engine.start_network_holder(
                engine_name(*self._prefix, name, "holder"),
                network=network,
                aliases=tuple(sorted(self._sharing)),
                labels=self._labels,
            )
        except SlipwayError as error:
            self._log.line(f"Warning: {error.message}; each step gets its own network endpoint (slower to start)")
            return None
        self.keep(holder)
        return holder

    def endpoint_for(self, step: CmdStep) -> tuple[str | None, tuple[str, ...]]:
        """The engine network mode of a step's containers and their DNS names there (none when shared).

        Example: `("container:3f2a…", ())` for a step in the holder's namespace,
        `("slipway-ca1-x1y2z3-acb_default_network", ("service",))` for a detached step.
        """
        holder = self._holder.result() if self._holder is not None and step.id in self._sharing else None
        if holder is not None:
            return f"container:{holder}", ()
        return self.network_for(step.network)[0], (step.id,)

    def container_name(self, step_id: str, launch: int) -> str:
        """The engine name of a step's `launch`-th container (retries and repeats each get one)."""
        return engine_name(*self._prefix, step_id, str(launch))

    def network_for(self, step_network: str | None) -> tuple[str | None, str]:
        """The engine network for a step, and the name the log shows (the task file's)."""
        name = step_network or self.default_network
        if name is None:
            return None, ""
        return self._networks.get(name, name), name

    def mounts_for(self, step: CmdStep) -> tuple[VolumeMount, ...]:
        mounts: list[VolumeMount] = []
        if self.workspace is not None:
            mounts.append(VolumeMount(self.workspace, WORKSPACE))
        for mount in step.volume_mounts:
            if mount.volume not in self._secret_volumes:
                raise StepFailed(f"step {step.id} mounts volume '{mount.volume}', which the task does not declare")
            mounts.append(VolumeMount(self._secret_volumes[mount.volume], mount.path, read_only=True))
        return tuple(mounts)

    def keep(self, container_id: str) -> None:
        """Remember a container that stays until the run ends (detached or `keep`)."""
        with self._lock:
            self._containers.append(container_id)

    def discard(self, container_id: str) -> None:
        """Remove an exited container in the background; `tear_down` waits for it."""
        self._background.submit(self._remove_quietly, container_id)

    def _remove_quietly(self, container_id: str) -> None:
        try:
            self._engine.remove_container(container_id)
        except SlipwayError:
            with self._lock:
                self._containers.append(container_id)  # try again at tear-down

    def tear_down(self) -> None:
        """Remove everything the run created; problems are logged, never raised."""
        self._background.shutdown(wait=True)
        with self._lock:
            containers, self._containers = list(self._containers), []
        problems: list[str] = []
        if containers:  # the holder, detached and kept containers: each removal takes the engine ~0.1 s
            with ThreadPoolExecutor(max_workers=min(len(containers), 8)) as removals:
                remove = functools.partial(self._attempt, problems, self._engine.remove_container)
                list(removals.map(remove, containers))
        if not (containers or self._created_networks or self._created_volumes or self._runs_containers):
            return  # e.g. a quick build: nothing carries the run's labels, and the sweep costs three engine calls
        # The sweep removes containers before networks and volumes and waits for ones in removal;
        # what it did not find (it should find everything) is removed by name afterwards.
        try:
            self._engine.remove_labeled(self._labels)
        except SlipwayError as error:
            problems.append(error.message)
        for network in reversed(self._created_networks):
            self._attempt(problems, self._engine.remove_network, network)
        for volume in reversed(self._created_volumes):
            self._attempt(problems, self._engine.remove_volume, volume)
        for problem in problems:
            self._log.line(f"Warning: cleanup: {problem}")

    @property
    def _runs_containers(self) -> bool:
        """True if a step starts containers (a crash mid-step may leave one only the sweep finds)."""
        return any(isinstance(step, CmdStep) for step in self._plan.steps)

    @staticmethod
    def _attempt(problems: list[str], remove: Callable[[str], None], name: str) -> None:
        try:
            remove(name)
        except SlipwayError as error:
            problems.append(error.message)
