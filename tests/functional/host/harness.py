"""Run the example app in-process: `FunctionsHost` + in-memory queues + an httpx client on its ASGI app."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from slipway_host.clock import Clock
from slipway_host.host import FunctionsHost, HostSetup
from slipway_host.queue_storage import InMemoryQueueStorage

APP_DIR = Path(__file__).parent / "app"
T = TypeVar("T")


@dataclass
class Harness:
    host: FunctionsHost
    client: httpx.AsyncClient
    storage: InMemoryQueueStorage
    work_queue: str
    done_queue: str

    async def observations(self) -> dict[str, Any]:
        response = await self.client.get("/api/observations")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def events(self, function: str, phase: str | None = None) -> list[dict[str, Any]]:
        events = (await self.observations())["events"]
        return [e for e in events if e["function"] == function and (phase is None or e.get("phase") == phase)]

    def send_work(self, payload: object, *, encoded: bool = True) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self.storage.send(self.work_queue, base64.b64encode(text.encode()).decode() if encoded else text)

    def done_messages(self) -> list[dict[str, Any]]:
        return [json.loads(base64.b64decode(c)) for c in self.storage.contents(self.done_queue)]


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 10, message: str = "condition") -> T:
    """Poll an async check until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout} s (last value: {value!r})")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_host(
    state_dir: Path,
    settings: Mapping[str, str] | None = None,
    *,
    clock: Clock | None = None,
    storage: InMemoryQueueStorage | None = None,
    lease: timedelta = timedelta(seconds=60),
    app_dir: Path = APP_DIR,
) -> AsyncIterator[Harness]:
    """Start the app's timers and queue listeners; stop them (waiting for invocations) on exit."""
    suffix = uuid.uuid4().hex[:8]
    work_queue, done_queue = f"work-{suffix}", f"done-{suffix}"
    all_settings = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "WorkQueue": work_queue,
        "DoneQueue": done_queue,
        "TickSchedule": "0 0 0 1 1 *",
        **(settings or {}),
    }
    storage = storage or InMemoryQueueStorage()
    setup = HostSetup(app_dir=app_dir, state_dir=state_dir, message_lease=lease, module_name=f"example_app_{suffix}")
    host = FunctionsHost(setup, all_settings, clock=clock, storage_factory=lambda _connection: storage)
    await host.start()
    transport = httpx.ASGITransport(app=host.http_app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testhost") as client:
            yield Harness(host, client, storage, work_queue, done_queue)
    finally:
        app_module = sys.modules[setup.module_name or ""]
        if hasattr(app_module, "observations"):
            app_module.observations.open_gate("*")  # release anything a failed test left blocked
        await host.stop(10)
        host.close()
