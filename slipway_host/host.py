"""The host: loads the app once, builds the HTTP app, timer and queue listeners, starts and stops them.

`FunctionsHost` knows nothing about HTTP serving or signals (see `serve.py`), so tests can run it
in-process with a manual clock and in-memory queues, calling `http_app` directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from core import queue_watch
from slipway_host.clock import Clock, SystemClock
from slipway_host.config import HostConfigError, HostOptions, load_host_json, read_host_options
from slipway_host.http_server import HttpApp
from slipway_host.invocation import Invoker
from slipway_host.loader import (
    HTTP_TRIGGER,
    QUEUE_TRIGGER,
    TIMER_TRIGGER,
    FunctionDefinition,
    find_function_register,
    import_script,
    load_functions,
)
from slipway_host.queue_rest_storage import queue_storage_for
from slipway_host.queues import QueueListener, QueueOutputs, StorageFactory, StorageIO
from slipway_host.routes import RouteTable
from slipway_host.timers import ScheduleStatusStore, TimerListener, parse_timer_schedule, should_use_monitor

log = logging.getLogger("slipway_host")

DEFAULT_WORKERS = 32


@dataclass(frozen=True)
class HostSetup:
    """How to run an app: everything except the app's own files and settings."""

    app_dir: Path
    state_dir: Path | None = None
    message_lease: timedelta = timedelta(seconds=60)
    max_workers: int | None = None
    module_name: str | None = None


class FunctionsHost:
    """Serves one `function_app.py`: HTTP via `http_app`, timers and queues via `start`/`stop`."""

    def __init__(
        self,
        setup: HostSetup,
        settings: Mapping[str, str],
        *,
        clock: Clock | None = None,
        storage_factory: StorageFactory = queue_storage_for,
    ) -> None:
        self.app_dir = setup.app_dir.resolve()
        self._settings = settings
        self._clock = clock or SystemClock()
        self.options: HostOptions = read_host_options(load_host_json(self.app_dir, settings))
        script = settings.get("PYTHON_SCRIPT_FILE_NAME", "function_app.py")
        module = import_script(self.app_dir, script, setup.module_name)
        loaded = load_functions(find_function_register(module), settings)
        self.skipped = list(loaded.skipped)
        workers = setup.max_workers or int(settings.get("PYTHON_THREADPOOL_THREAD_COUNT") or DEFAULT_WORKERS)
        self._function_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="function")
        self._storage_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="storage")
        self._storage = StorageIO(settings, storage_factory, self._storage_pool)
        outputs = QueueOutputs(self._storage, self.options.queues.message_encoding)
        self.invoker = Invoker(self._function_pool, str(self.app_dir), outputs)
        self.routes: RouteTable[FunctionDefinition] = RouteTable(self.options.route_prefix)
        self.http_functions: list[FunctionDefinition] = []
        self.timers: list[TimerListener] = []
        self.queues: list[QueueListener] = []
        state_dir = setup.state_dir or self.app_dir / ".slipway" / "host-state"
        for function in loaded.functions:
            try:
                self._add(function, state_dir, setup.message_lease)
            except HostConfigError as error:
                log.warning("Skipping function '%s': %s", function.name, error)
                self.skipped.append(function.name)
        self.http_app = HttpApp(self.routes, self.invoker)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None

    def _add(self, function: FunctionDefinition, state_dir: Path, lease: timedelta) -> None:
        trigger = function.trigger
        if function.trigger_type == HTTP_TRIGGER:
            self.routes.add(str(trigger.get("route") or function.name), trigger.get("methods"), function)
            self.http_functions.append(function)
        elif function.trigger_type == TIMER_TRIGGER:
            schedule = parse_timer_schedule(str(trigger.get("schedule", "")))
            monitor = should_use_monitor(schedule, trigger.get("useMonitor"), self._clock.now())
            store = ScheduleStatusStore(state_dir) if monitor else None
            self.timers.append(TimerListener(function, schedule, self.invoker, self._clock, store))
        elif function.trigger_type == QUEUE_TRIGGER:
            self.queues.append(QueueListener(function, self._storage, self.invoker, self.options.queues, lease=lease))

    def describe(self, base_url: str) -> list[str]:
        """One line per function, like Core Tools' start-up listing."""
        lines = []
        prefix = f"/{self.options.route_prefix}" if self.options.route_prefix else ""
        for function in self.http_functions:
            methods = ",".join(function.trigger.get("methods") or ["ALL"])
            route = str(function.trigger.get("route") or function.name).strip("/")
            lines.append(f"{function.name}: [{methods}] {base_url}{prefix}/{route}")
        lines += [f"{t.function.name}: timerTrigger ({t.function.trigger.get('schedule')})" for t in self.timers]
        lines += [f"{q.function.name}: queueTrigger ({q.queue})" for q in self.queues]
        return lines

    async def start(self) -> None:
        """Start timers and queue listeners (queues are created if missing)."""
        self._stop.clear()
        self._unsubscribe = queue_watch.subscribe(self._announcement_listener(asyncio.get_running_loop()))
        for queue in self.queues:
            try:
                await queue.create_queues()
            except Exception as error:  # storage down: the listener retries on its own
                log.warning("Queue '%s' (function '%s') not ready yet: %s", queue.queue, queue.function.name, error)
        self._tasks = [asyncio.create_task(t.run(self._stop), name=f"timer:{t.function.name}") for t in self.timers]
        self._tasks += [asyncio.create_task(q.run(self._stop), name=f"queue:{q.function.name}") for q in self.queues]

    def _announcement_listener(self, loop: asyncio.AbstractEventLoop) -> Callable[[str], None]:
        """Wakes the listeners of a queue this process just sent to (see `core.queue_watch`)."""

        def wake(queue: str) -> None:
            for listener in self.queues:
                if listener.queue == queue.lower():
                    loop.call_soon_threadsafe(listener.message_sent)

        return wake

    async def stop(self, grace: float) -> bool:
        """Stop polling and scheduling, then wait up to `grace` seconds for running invocations."""
        self._stop.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

        async def settle() -> None:
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await asyncio.gather(*(queue.drain() for queue in self.queues))
            await self.invoker.wait_idle()

        try:
            await asyncio.wait_for(settle(), grace)
        except TimeoutError:
            log.warning("%d invocation(s) still running after %.0f s; abandoning them", self.invoker.in_flight, grace)
            return False
        return True

    def close(self) -> None:
        """Release the thread pools without waiting for abandoned invocations."""
        self._function_pool.shutdown(wait=False, cancel_futures=True)
        self._storage_pool.shutdown(wait=False, cancel_futures=True)
