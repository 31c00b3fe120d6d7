"""The one composition root: builds every adapter once, lazily, from `Settings`.

Constructors elsewhere only store collaborators; nothing connects at import time, so a cold start is
fast and a configuration error surfaces as a clear error on first use rather than an import error.
Triggers call `get_services()`; tests call `create_services(settings)` or build `Services` with fakes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from core.combining import BatchCombiner
from core.contexts import CONTEXTS_CONTAINER
from core.engine import ContainerEngine
from core.group_commit import GroupCommitQueue
from core.live_logs import LiveLogs
from core.ports import BlobStore, QueueSender, TableStore
from core.run_log import LOGS_CONTAINER
from core.run_store import RunStore
from core.settings import Settings
from core.task_service import TaskService
from core.task_store import TaskStore

if TYPE_CHECKING:
    from core.keyvault import KeyVaultSecretResolver
    from core.sealed_values import SecretSealer

SETTING_CACHE_SECONDS = 300
RUNS_QUEUE = "runs"
EVENTS_QUEUE = "events"
OUTPUTS_CONTAINER = "outputs"
# Tables of the trigger modules (base-image index, deliveries and events, timer claims, run keys).
_TRIGGER_TABLES = ("baseimageindex", "deliveries", "events", "timerstate", "runkeys")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    clock: Callable[[], datetime] = utc_now
    blob_store: BlobStore | None = None
    table_store: TableStore | None = None
    queue_sender: QueueSender | None = None
    container_engine: ContainerEngine | None = None
    _ready: bool = field(default=False, init=False)
    _resolved: dict[str, tuple[str, float]] = field(default_factory=dict, init=False, repr=False)
    _ready_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @cached_property
    def blobs(self) -> BlobStore:
        if self.blob_store is None:
            from core.azure_storage import AzureBlobStore

            self.blob_store = AzureBlobStore(self.settings.storage_connection)
        return self.blob_store

    @cached_property
    def tables(self) -> TableStore:
        if self.table_store is None:
            from core.azure_storage import create_table_store

            self.table_store = create_table_store(self.settings.storage_connection)
        return self.table_store

    @cached_property
    def queues(self) -> QueueSender:
        if self.queue_sender is None:
            from core.azure_storage import AzureQueueSender
            from core.queue_watch import AnnouncingSender

            # Runs are announced so a local host starts them at once. Events are not: the events
            # function decides deliveries in batches, which a poll per message would break up
            # (in `make bench`, the webhook intake's p99 at 300/s went from ~40 to ~50 ms when they were).
            sender = AzureQueueSender(self.settings.storage_connection)
            self.queue_sender = AnnouncingSender(sender, announce=(RUNS_QUEUE,))
        return self.queue_sender

    @cached_property
    def engine(self) -> ContainerEngine:
        if self.container_engine is None:
            from core.docker_engine import DockerEngine

            self.container_engine = DockerEngine(
                self.settings.docker_host, pull_registries=self.settings.pull_registries
            )
        return self.container_engine

    @cached_property
    def event_queue(self) -> GroupCommitQueue:
        """The `events` queue, written with group commit: concurrent intakes share messages."""
        return GroupCommitQueue(lambda text: self.queues.send(EVENTS_QUEUE, text))

    @cached_property
    def event_combiner(self) -> BatchCombiner[Mapping[str, Any]]:
        """GitHub deliveries of concurrent `events` invocations, decided together (`core.combining`)."""
        from core.trigger_service import process_github_deliveries

        return BatchCombiner(lambda deliveries: process_github_deliveries(self, deliveries))

    @cached_property
    def live_logs(self) -> LiveLogs:
        """Log writers in this process hand their text to log readers here and wake them (long poll)."""
        return LiveLogs()

    @cached_property
    def runs(self) -> RunStore:
        return RunStore(self.tables, id_prefix=self.settings.run_id_prefix)

    @cached_property
    def secrets(self) -> KeyVaultSecretResolver:
        from core.keyvault import KeyVaultSecretResolver

        settings = self.settings
        return KeyVaultSecretResolver(
            verify_challenge_resource=settings.keyvault_verify_challenge_resource,
            connection_verify=settings.keyvault_ca_bundle,
            timeout_seconds=settings.keyvault_timeout_seconds,
        )

    def resolve_setting(self, text: str) -> str:
        """A setting's value: itself, or the secret it names when it is a Key Vault reference.

        Resolved references are kept for `SETTING_CACHE_SECONDS`, so a webhook does not cost a Key Vault
        round trip, while a rotated secret is picked up within minutes.
        """
        from core.keyvault import is_keyvault_reference

        if not is_keyvault_reference(text):
            return text
        now = time.monotonic()
        with self._ready_lock:
            cached = self._resolved.get(text)
        if cached is not None and now - cached[1] < SETTING_CACHE_SECONDS:
            return cached[0]
        value = self.secrets.resolve_setting(text)
        with self._ready_lock:
            self._resolved[text] = (value, now)
        return value

    @cached_property
    def sealer(self) -> SecretSealer | None:
        """Seals secret values at rest; None when no data key is configured (secrets are then refused)."""
        from core.sealed_values import SecretSealer

        raw = self.settings.data_key
        return SecretSealer.from_setting(self.resolve_setting(raw)) if raw else None

    def sealing(self, context: str) -> Callable[[str, str], str] | None:
        """A function sealing named entries under `context`, or None without a data key."""
        from core.sealed_values import entry_context

        sealer = self.sealer
        if sealer is None:
            return None
        return lambda name, value: sealer.seal(value, context=entry_context(context, name))

    def opening(self, context: str) -> Callable[[str, str], str]:
        """The inverse of `sealing(context)`."""
        from core.sealed_values import SealedValueError, entry_context

        def open_entry(name: str, token: str) -> str:
            sealer = self.sealer
            if sealer is None:
                raise SealedValueError(f"a sealed value for '{name}' cannot be opened: SLIPWAY_DATA_KEY is not set")
            return sealer.unseal(token, context=entry_context(context, name))

        return open_entry

    @cached_property
    def task_store(self) -> TaskStore:
        return TaskStore(self.tables, sealer=lambda: self.sealer)

    @cached_property
    def tasks(self) -> TaskService:
        return TaskService(self.task_store, clock=self.clock, sealing=self.sealing)

    def ensure_storage(self) -> None:
        """Create tables, containers and queues once per process (idempotent, cheap after the first call)."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            self.runs.ensure()
            self.task_store.ensure()
            for table in _TRIGGER_TABLES:
                self.tables.ensure_table(table)
            for container in (CONTEXTS_CONTAINER, LOGS_CONTAINER, OUTPUTS_CONTAINER):
                self.blobs.ensure_container(container)
            for queue in (RUNS_QUEUE, EVENTS_QUEUE):
                self.queues.ensure_queue(queue)
            self._ready = True


def create_services(settings: Settings) -> Services:
    return Services(settings=settings)


_services: Services | None = None
_services_lock = threading.Lock()


def get_services() -> Services:
    """The process-wide services, built from the environment on first use."""
    global _services  # noqa: PLW0603 - the composition root's one cached instance
    with _services_lock:
        if _services is None:
            _services = create_services(Settings.from_env())
        return _services
