"""The HTTP API for tasks (`slipway task …`, like `az acr task`). Thin: parse, call `core`, reply."""

from __future__ import annotations

import azure.functions as func

from core.base_images import tracked_images
from core.registry_credentials import credential_from_request, public_credentials_document, to_public_document
from core.run_store import run_to_document
from core.task_scheduling import manual_order, schedule_task_runs
from core.tasks import Task, public_task_document, task_to_document
from core.trigger_service import trigger_store
from core.trigger_store import event_record_to_document
from core.wiring import Services
from triggers.http_support import api_endpoint, int_param, json_body, json_response

bp = func.Blueprint()


def _public_url(req: func.HttpRequest, services: Services) -> str:
    if services.settings.public_url:
        return services.settings.public_url
    scheme, _, rest = req.url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _task_body(req: func.HttpRequest, services: Services, task: Task, *, secure: bool) -> dict[str, object]:
    body: dict[str, object] = public_task_document(task)
    body["hasGitAccessToken"] = services.tasks.has_git_token(task.name)
    body["baseImageDependencies"] = [
        {
            "image": image.image,
            "type": image.kind.value,
            "triggers": image.triggers,
            "digestBuiltWith": image.digest,
            "currentDigest": image.current_digest,
            "indexedAt": image.indexed_at.isoformat() if image.indexed_at else None,
        }
        for image in tracked_images(services.tables, task.name, trigger_type=task.base_image_trigger.type)
    ]
    trigger = task.source_trigger
    if trigger.commit_enabled or trigger.pull_request_enabled:
        body["webhookUrl"] = f"{_public_url(req, services)}/api/webhooks/github"
        if secure:
            secrets = services.settings.github_webhook_secrets
            body["webhookSecret"] = services.resolve_setting(secrets[0]) if secrets else None
    return body


def _secure(req: func.HttpRequest) -> bool:
    return (req.params.get("withSecureProperties") or "").lower() in {"1", "true", "yes"}


@bp.route(route="tasks", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def create_task(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    services.ensure_storage()
    task = services.tasks.create(json_body(req))
    return json_response(_task_body(req, services, task, secure=True), status=201)


@bp.route(route="tasks", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def list_tasks(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    services.ensure_storage()
    return json_response({"value": [public_task_document(t) for t in services.tasks.list()]})


@bp.route(route="tasks/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def show_task(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    services.ensure_storage()
    task = services.tasks.get(req.route_params["name"])
    return json_response(_task_body(req, services, task, secure=_secure(req)))


@bp.route(route="tasks/{name}", methods=["PATCH"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def update_task(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    services.ensure_storage()
    task = services.tasks.update(req.route_params["name"], json_body(req))
    return json_response(_task_body(req, services, task, secure=False))


@bp.route(route="tasks/{name}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def delete_task(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    services.ensure_storage()
    services.tasks.delete(req.route_params["name"])
    return json_response({"deleted": req.route_params["name"]})


@bp.route(route="tasks/{name}/timers", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def add_timer(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    services.ensure_storage()
    body = json_body(req)
    task = services.tasks.set_timer(req.route_params["name"], str(body.get("timerName", "")), body, create=True)
    return json_response(task_to_document(task)["timers"], status=201)


@bp.route(route="tasks/{name}/timers/{timer}", methods=["PATCH"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def update_timer(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    services.ensure_storage()
    task = services.tasks.set_timer(req.route_params["name"], req.route_params["timer"], json_body(req), create=False)
    return json_response(task_to_document(task)["timers"])


@bp.route(route="tasks/{name}/timers/{timer}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def remove_timer(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    services.ensure_storage()
    task = services.tasks.remove_timer(req.route_params["name"], req.route_params["timer"])
    return json_response(task_to_document(task)["timers"])


@bp.route(route="tasks/{name}/runs", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def run_task(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """`slipway task run`: a Manual run, with `values` (--set) and `arguments` (--arg) for this run only."""
    services.ensure_storage()
    task = services.tasks.get(req.route_params["name"])
    (run,) = schedule_task_runs(services, [manual_order(task, json_body(req))])
    return json_response(run_to_document(run), status=202)


@bp.route(route="events", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def list_events(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """The event inbox: every webhook delivery and registry push, and what each did to each task."""
    services.ensure_storage()
    records = trigger_store(services).list_events(int_param(req, "top", 15), task=req.params.get("task") or None)
    return json_response({"value": [event_record_to_document(r) for r in records]})


@bp.route(route="events/{eventId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def show_event(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    services.ensure_storage()
    return json_response(event_record_to_document(trigger_store(services).get_event(req.route_params["eventId"])))


@bp.route(route="tasks/{name}/credentials", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def list_credentials(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Login servers and the kind of each value (opaque or Key Vault secret); never a value."""
    services.ensure_storage()
    services.tasks.get(req.route_params["name"])
    return json_response(
        public_credentials_document(services.task_store.registry_credentials(req.route_params["name"]))
    )


@bp.route(route="tasks/{name}/credentials", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def add_credential(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    services.ensure_storage()
    credential = credential_from_request(json_body(req))
    services.task_store.put_registry_credential(req.route_params["name"], credential, create=True)
    return json_response(to_public_document(credential), status=201)


@bp.route(route="tasks/{name}/credentials/{loginServer}", methods=["PUT"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def update_credential(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    services.ensure_storage()
    credential = credential_from_request({**json_body(req), "loginServer": req.route_params["loginServer"]})
    services.task_store.put_registry_credential(req.route_params["name"], credential, create=False)
    return json_response(to_public_document(credential))


@bp.route(route="tasks/{name}/credentials/{loginServer}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@api_endpoint()
def remove_credential(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    services.ensure_storage()
    services.task_store.remove_registry_credential(req.route_params["name"], req.route_params["loginServer"])
    return json_response({"removed": req.route_params["loginServer"]})
