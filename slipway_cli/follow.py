"""Following a run: streaming its log live, or polling its status (`--no-logs`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from slipway_cli.client import ApiClient

TERMINAL = {"Succeeded", "Failed", "Canceled", "Error", "Timeout"}
LONG_POLL_SECONDS = 20


def stream_log(client: ApiClient, run_id: str, *, out: TextIO = sys.stdout) -> str:
    """Print the run's log as it grows until it is complete; returns how it completed (the run's final
    status in lower case, e.g. `succeeded`). The server holds each request until there is new text
    (long poll), so lines appear as soon as the worker stores them."""
    offset = 0
    while True:
        chunk = client.get(f"/runs/{run_id}/log", offset=offset, wait=LONG_POLL_SECONDS)
        content = chunk.get("content") or ""
        if content:
            out.write(content)
            out.flush()
        offset = int(chunk.get("nextOffset", offset))
        if chunk.get("complete"):
            return str(chunk["complete"])


def wait_for_run(
    client: ApiClient,
    run_id: str,
    *,
    poll_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    while True:
        run: dict[str, Any] = client.get(f"/runs/{run_id}")
        if run.get("status") in TERMINAL:
            return run
        sleep(poll_seconds)
