"""Following a run: streaming its log live, or polling its status (`--no-logs`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from slipway_cli.client import ApiClient

TERMINAL = {"Succeeded", "Failed", "Canceled", "Error", "Timeout"}


def stream_log(
    client: ApiClient,
    run_id: str,
    *,
    out: TextIO = sys.stdout,
    poll_seconds: float = 0.2,
    max_poll_seconds: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Print the run's log as it grows until the run's log is complete."""
    offset = 0
    interval = poll_seconds
    while True:
        chunk = client.get(f"/runs/{run_id}/log", offset=offset)
        content = chunk.get("content") or ""
        if content:
            out.write(content)
            out.flush()
        offset = int(chunk.get("nextOffset", offset))
        if chunk.get("complete"):
            return
        if offset < int(chunk.get("size") or 0):
            continue  # more is already there
        # Back off gently while a long step is silent, but come back quickly once output flows.
        interval = poll_seconds if content else min(interval * 1.5, max_poll_seconds)
        sleep(interval)


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
