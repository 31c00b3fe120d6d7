"""Queue functions for runs: the worker (`runs`) and the poison-queue handler (`runs-poison`)."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from core.reaper import fail_poisoned_run
from core.wiring import RUNS_QUEUE, get_services
from core.worker import process_run

bp = func.Blueprint()
logger = logging.getLogger("slipway.worker")


def _run_id(msg: func.QueueMessage) -> str | None:
    try:
        body = json.loads(msg.get_body())
        run_id = body.get("runId") if isinstance(body, dict) else None
    except (ValueError, UnicodeDecodeError):
        run_id = None
    if not isinstance(run_id, str) or not run_id:
        logger.error("dropping a malformed run message (id %s): it names no runId", msg.id)
        return None
    return run_id


@bp.queue_trigger(arg_name="msg", queue_name=RUNS_QUEUE, connection="AzureWebJobsStorage")
def run_worker(msg: func.QueueMessage) -> None:
    run_id = _run_id(msg)
    if run_id is not None:
        status = process_run(get_services(), run_id)
        logger.info("run %s finished: %s", run_id, status.value if status else "not claimed")


@bp.queue_trigger(arg_name="msg", queue_name=f"{RUNS_QUEUE}-poison", connection="AzureWebJobsStorage")
def run_poison_handler(msg: func.QueueMessage) -> None:
    run_id = _run_id(msg)
    if run_id is not None:
        fail_poisoned_run(get_services(), run_id)
