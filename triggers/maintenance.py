"""Timer functions: the scheduler of task timers, and the reaper of runs whose worker died."""

from __future__ import annotations

import logging

import azure.functions as func

from core.reaper import reap_stale_runs
from core.trigger_service import poll_registries, purge_old_records, run_scheduler_tick
from core.wiring import get_services

bp = func.Blueprint()
logger = logging.getLogger("slipway.maintenance")


@bp.timer_trigger(arg_name="timer", schedule="%SLIPWAY_REAPER_SCHEDULE%", run_on_startup=False)
def reap_stale_runs_timer(timer: func.TimerRequest) -> None:
    reaped = reap_stale_runs(get_services())
    if reaped:
        logger.warning("ended %d run(s) whose worker stopped: %s", len(reaped), ", ".join(reaped))


@bp.timer_trigger(arg_name="timer", schedule="%SLIPWAY_SCHEDULER_SCHEDULE%", run_on_startup=False)
def task_timers(timer: func.TimerRequest) -> None:
    """Task timers (5-field cron) are evaluated on every tick; each occurrence runs exactly once."""
    runs = run_scheduler_tick(get_services())
    if runs:
        logger.info("timers started run(s) %s", ", ".join(run.run_id for run in runs))


@bp.timer_trigger(arg_name="timer", schedule="%SLIPWAY_REGISTRY_POLL_SCHEDULE%", run_on_startup=False)
def poll_base_images(timer: func.TimerRequest) -> None:
    """Base-image triggers for registries that send no notifications (Docker Hub, MCR, others)."""
    runs = poll_registries(get_services())
    if runs:
        logger.info("base image changes found by polling started run(s) %s", ", ".join(run.run_id for run in runs))


@bp.timer_trigger(arg_name="timer", schedule="0 15 3 * * *", run_on_startup=False)
def purge_old_events(timer: func.TimerRequest) -> None:
    """Daily: forget old webhook deliveries (dedupe window) and events older than the retention."""
    deliveries, events = purge_old_records(get_services())
    logger.info("purged %d old delivery record(s) and %d old event(s)", deliveries, events)
