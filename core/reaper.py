"""Ends runs that no worker will finish: stale heartbeats and poisoned queue messages.

A worker that dies mid-run stops stamping its run's heartbeat. The reaper (a timer function) marks
such runs Error, removes their Docker objects by label (`slipway.run`, `slipway.stack`) and closes
their logs, so nothing stays Running forever and followers of the log are released.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from core.errors import InvalidTransition, SlipwayError
from core.run_log import RunLogWriter
from core.runs import ACTIVE_STATUSES, Run, RunStatus, transition
from core.wiring import Services

logger = logging.getLogger(__name__)


def docker_labels(services: Services, run_id: str) -> dict[str, str]:
    """The labels every Docker object of a run carries."""
    return {"slipway.run": run_id, "slipway.stack": services.settings.stack_label}


def _end_run(services: Services, run: Run, message: str) -> bool:
    try:
        services.runs.update(
            run.run_id,
            lambda current: transition(current, RunStatus.ERROR, now=services.clock(), error_message=message),
        )
    except InvalidTransition:
        return False  # it finished (or was ended) meanwhile
    try:
        services.engine.remove_labeled(docker_labels(services, run.run_id))
    except SlipwayError as error:
        logger.warning("cleanup of run %s failed: %s", run.run_id, error.message)
    try:
        log = RunLogWriter(services.blobs, run.run_id, clock=services.clock, flush_seconds=60, live=services.live_logs)
        log.open()
        log.line(message)
        log.write(f"Run ID: {run.run_id} failed. Error: {message}\n")
        log.close(RunStatus.ERROR)
    except SlipwayError as error:
        logger.warning("could not close the log of run %s: %s", run.run_id, error.message)
    return True


def reap_stale_runs(services: Services) -> list[str]:
    """End every Started/Running run whose heartbeat is older than `stale_after_seconds`."""
    services.ensure_storage()
    now = services.clock()
    limit = now - timedelta(seconds=services.settings.stale_after_seconds)
    reaped: list[str] = []
    for status in sorted(ACTIVE_STATUSES, key=lambda s: s.value):
        for run in services.runs.list(top=1000, status=status):
            beat = run.heartbeat_time or run.start_time or run.create_time
            if beat >= limit:
                continue
            message = (
                f"the worker running this run ({run.worker or 'unknown'}) stopped responding; its last heartbeat "
                f"was at {beat.isoformat()}. The run was ended and its containers removed; run it again"
            )
            if _end_run(services, run, message):
                reaped.append(run.run_id)
    return reaped


def fail_poisoned_run(services: Services, run_id: str) -> None:
    """The runs queue gave up on a message: end its run instead of leaving it Queued forever."""
    services.ensure_storage()
    run = services.runs.get(run_id).run
    if run.status.is_terminal:
        return
    _end_run(
        services,
        run,
        "the run could not be started: its queue message failed repeatedly (see the service log); run it again",
    )
