"""The HTTP API (JSON): contexts, quick builds and runs. Thin: parse, call `core`, shape the reply."""

from __future__ import annotations

import azure.functions as func

from core import run_service
from core.run_log import trim_to_utf8_boundary
from core.run_store import run_to_document
from core.runs import Run
from core.wiring import Services
from triggers.http_support import api_endpoint, int_param, json_body, json_response

bp = func.Blueprint()


def _run_body(run: Run) -> dict[str, object]:
    document = run_to_document(run)
    document.pop("number", None)
    return document


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint(public=True)
def health(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    return json_response({"status": "ok"})


@bp.route(route="contexts", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def create_context_upload(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Like ACR's listBuildSourceUploadUrl: a URL to upload one context archive to."""
    ticket = run_service.create_context_upload(services)
    return json_response(
        {
            "uploadUrl": ticket.upload_url,
            "sourceLocation": ticket.source_location,
            "maxBytes": ticket.max_bytes,
            "expiresOn": ticket.expires_on.isoformat(),
        },
        status=201,
    )


@bp.route(route="runs", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def schedule_run(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Like ACR's scheduleRun: a DockerBuildRequest, EncodedTaskRunRequest or FileTaskRunRequest.

    With `"dryRun": true` nothing runs: the reply is the rendered, checked plan.
    """
    body = json_body(req)
    if body.get("dryRun") is True:
        return json_response(run_service.dry_run(services, body))
    return json_response(_run_body(run_service.schedule_run(services, body)), status=202)


@bp.route(route="runs", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def list_runs(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    runs = run_service.list_runs(
        services,
        top=int_param(req, "top", 15),
        status=req.params.get("status") or None,
        task=req.params.get("task") or None,
    )
    return json_response({"value": [_run_body(run) for run in runs]})


@bp.route(route="runs/{runId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def show_run(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    return json_response(_run_body(run_service.get_run(services, req.route_params["runId"])))


@bp.route(route="runs/{runId}/log", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def read_run_log(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Log text from `offset`; follow a live run by asking again from `nextOffset` until `complete`.

    `wait=N` (seconds, at most 25) holds the request until there is new text or the log is complete.
    """
    chunk = run_service.read_run_log(
        services, req.route_params["runId"], offset=int_param(req, "offset", 0), wait_seconds=int_param(req, "wait", 0)
    )
    data = chunk.data if chunk.finished else trim_to_utf8_boundary(chunk.data)
    next_offset = chunk.next_offset - (len(chunk.data) - len(data))
    # `complete` is reported only once the reader has everything, so clients can simply stop on it.
    complete = chunk.complete if chunk.complete is not None and next_offset >= chunk.total_size else None
    return json_response(
        {
            "content": data.decode("utf-8", "replace"),
            "nextOffset": next_offset,
            "complete": complete,
            "size": chunk.total_size,
        }
    )


@bp.route(route="runs/{runId}/cancel", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def cancel_run(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    return json_response(_run_body(run_service.cancel_run(services, req.route_params["runId"])), status=202)
