"""Shared plumbing for HTTP functions: API-key check, JSON bodies, and the one error shape.

Every handler is wrapped by `api_endpoint`, which authenticates (unless the endpoint is public),
turns any `SlipwayError` into `{"error": {"code", "message", "target"}}` with the error's status,
and logs anything unexpected with its traceback while answering a generic 500.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import azure.functions as func

from core.errors import InvalidRequest, SlipwayError, Unauthorized
from core.wiring import Services, get_services

logger = logging.getLogger("slipway.http")
Handler = Callable[[func.HttpRequest, Services], func.HttpResponse]


def json_response(body: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":"), default=str),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
    )


def error_response(error: SlipwayError) -> func.HttpResponse:
    return json_response(error.to_body(), status=error.status)


def _presented_key(req: func.HttpRequest) -> str:
    key = req.headers.get("x-api-key")
    if key:
        return str(key)
    authorization = req.headers.get("authorization") or ""
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def authenticate(req: func.HttpRequest, services: Services) -> None:
    presented = _presented_key(req)
    if not presented:
        raise Unauthorized("missing API key: send it in the x-api-key header (SLIPWAY_API_KEY for the CLI)")
    if not hmac.compare_digest(presented.encode(), services.settings.api_key.encode()):
        raise Unauthorized("wrong API key: check SLIPWAY_API_KEY")


def json_body(req: func.HttpRequest) -> Mapping[str, Any]:
    raw = req.get_body() or b"{}"
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidRequest(f"the request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return body


def int_param(req: func.HttpRequest, name: str, default: int) -> int:
    raw = req.params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"query parameter {name}={raw!r} must be a whole number", target=name) from None


def api_endpoint(*, public: bool = False) -> Callable[[Handler], Callable[[func.HttpRequest], func.HttpResponse]]:
    def decorate(handler: Handler) -> Callable[[func.HttpRequest], func.HttpResponse]:
        def endpoint(req: func.HttpRequest) -> func.HttpResponse:
            try:
                services = get_services()
                if not public:
                    authenticate(req, services)
                return handler(req, services)
            except SlipwayError as error:
                return error_response(error)
            except Exception:  # the HTTP boundary: never leak a traceback to the caller
                logger.exception("unhandled error in %s", handler.__name__)
                return json_response(
                    {"error": {"code": "InternalError", "message": "internal error; see the service log"}},
                    status=500,
                )

        # Not functools.wraps: the Functions host binds parameters by name from the signature, and
        # `__wrapped__` would expose the handler's `services` parameter to it.
        endpoint.__name__ = handler.__name__
        endpoint.__qualname__ = handler.__qualname__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return decorate
