"""Timer functions that keep the service healthy: the reaper of runs whose worker died."""

from __future__ import annotations

import logging

import azure.functions as func

from core.reaper import reap_stale_runs
from core.wiring import get_services

bp = func.Blueprint()
logger = logging.getLogger("slipway.maintenance")


@bp.timer_trigger(arg_name="timer", schedule="%SLIPWAY_REAPER_SCHEDULE%", run_on_startup=False)
def reap_stale_runs_timer(timer: func.TimerRequest) -> None:
    reaped = reap_stale_runs(get_services())
    if reaped:
        logger.warning("ended %d run(s) whose worker stopped: %s", len(reaped), ", ".join(reaped))
