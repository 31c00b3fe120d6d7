"""The `events` queue: decisions and runs for GitHub deliveries and registry pushes."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from core.trigger_service import process_event_message
from core.wiring import EVENTS_QUEUE, get_services

bp = func.Blueprint()
logger = logging.getLogger("slipway.events")


@bp.queue_trigger(arg_name="msg", queue_name=EVENTS_QUEUE, connection="AzureWebJobsStorage")
def event_worker(msg: func.QueueMessage) -> None:
    try:
        message = json.loads(msg.get_body())
    except (ValueError, UnicodeDecodeError):
        logger.error("dropping a malformed event message (id %s)", msg.id)
        return
    runs = process_event_message(get_services(), message, combine=True)
    if runs:
        logger.info("event %s started run(s) %s", msg.id, ", ".join(run.run_id for run in runs))
