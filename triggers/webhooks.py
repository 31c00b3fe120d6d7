"""Incoming events: GitHub webhooks and registry notifications. Authenticated by signature/token, not API key."""

from __future__ import annotations

import json

import azure.functions as func

from core.errors import SlipwayError
from core.trigger_service import IntakeReply, accept_github_delivery, accept_registry_event
from core.wiring import get_services
from triggers.http_support import error_response, logger

bp = func.Blueprint()


def _reply(reply: IntakeReply) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(reply.body), status_code=reply.status, headers=dict(reply.headers or {}), mimetype="application/json"
    )


@bp.route(route="webhooks/github", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def github_webhook(req: func.HttpRequest) -> func.HttpResponse:
    try:
        headers = {key.lower(): value for key, value in req.headers.items()}
        return _reply(accept_github_delivery(get_services(), headers, req.get_body()))
    except SlipwayError as error:
        return error_response(error)
    except Exception:  # the HTTP boundary
        logger.exception("GitHub webhook intake failed")
        return error_response(SlipwayError("internal error; see the service log"))


@bp.route(route="webhooks/registry", methods=["POST", "OPTIONS"], auth_level=func.AuthLevel.ANONYMOUS)
def registry_webhook(req: func.HttpRequest) -> func.HttpResponse:
    try:
        headers = {key.lower(): value for key, value in req.headers.items()}
        return _reply(accept_registry_event(get_services(), req.method, headers, req.get_body()))
    except SlipwayError as error:
        return error_response(error)
    except Exception:  # the HTTP boundary
        logger.exception("registry event intake failed")
        return error_response(SlipwayError("internal error; see the service log"))
