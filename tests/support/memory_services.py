"""`Services` on in-memory storage and a scripted engine, for functional tests of core paths."""

from __future__ import annotations

from typing import Any

from core.memory_engine import FakeEngine
from core.memory_storage import MemoryBlobStore, MemoryQueueSender, MemoryTableStore
from core.settings import Settings
from core.wiring import Services


def memory_services(**settings: Any) -> Services:
    return Services(
        settings=Settings(storage_connection="memory", api_key="k" * 16, **settings),
        blob_store=MemoryBlobStore(),
        table_store=MemoryTableStore(),
        queue_sender=MemoryQueueSender(),
        container_engine=FakeEngine(),
    )
