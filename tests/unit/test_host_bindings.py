"""How the host reads a FunctionApp's binding metadata and maps return values to HTTP responses."""

import json
import types

import azure.functions as func
import pytest

from slipway_host.config import HostConfigError
from slipway_host.http_server import encode_response
from slipway_host.loader import ArgumentKind, describe_function, find_function_register, load_functions


def build_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="runs/{runId}", methods=["GET"])
    def get_run(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    @app.function_name("intake")
    @app.route(route="hooks", methods=[func.HttpMethod.POST])
    @app.queue_output(arg_name="events", queue_name="%EventsQueue%", connection="AzureWebJobsStorage")
    def webhook(req: func.HttpRequest, events: func.Out[str], context: func.Context) -> str:
        return "queued"

    @app.timer_trigger(arg_name="timer", schedule="%Nightly%", run_on_startup=False)
    async def nightly(timer: func.TimerRequest) -> None:
        return None

    @app.queue_trigger(arg_name="msg", queue_name="runs", connection="")
    def run_worker(msg: func.QueueMessage) -> None:
        return None

    @app.blob_trigger(arg_name="blob", path="uploads/{name}", connection="AzureWebJobsStorage")
    def on_upload(blob: func.InputStream) -> None:
        return None

    return app


SETTINGS = {"EventsQueue": "events", "Nightly": "0 0 3 * * *"}


def test_functions_are_described_from_their_binding_json() -> None:
    loaded = load_functions(build_app(), SETTINGS)
    functions = {f.name: f for f in loaded.functions}

    assert set(functions) == {"get_run", "intake", "nightly", "run_worker"}
    assert functions["get_run"].trigger["route"] == "runs/{runId}"
    assert functions["get_run"].trigger["methods"] == ["GET"]
    assert functions["intake"].trigger["methods"] == ["POST"]
    assert functions["nightly"].trigger["schedule"] == "0 0 3 * * *"
    assert functions["nightly"].is_async
    assert functions["run_worker"].trigger["queueName"] == "runs"


def test_unsupported_triggers_are_skipped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    loaded = load_functions(build_app(), SETTINGS)

    assert loaded.skipped == ("on_upload",)
    assert "Skipping function 'on_upload': trigger type 'blobTrigger' is not supported" in caplog.text


def test_setting_expressions_in_bindings_are_resolved() -> None:
    functions = {f.name: f for f in load_functions(build_app(), SETTINGS).functions}
    output = next(b for b in functions["intake"].outputs if b["type"] == "queue")

    assert output["queueName"] == "events"


def test_a_function_whose_setting_is_missing_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    loaded = load_functions(build_app(), {"EventsQueue": "events"})

    assert "nightly" in loaded.skipped
    assert "'%Nightly%' does not resolve to a value" in caplog.text


def test_a_function_can_be_disabled_by_app_setting() -> None:
    loaded = load_functions(build_app(), {**SETTINGS, "AzureWebJobs.get_run.Disabled": "true"})

    assert "get_run" in loaded.skipped


def test_parameters_are_matched_to_bindings_by_name() -> None:
    functions = {f.name: f for f in load_functions(build_app(), SETTINGS).functions}

    plan = {a.parameter: a.kind for a in functions["intake"].arguments}

    assert plan == {"req": ArgumentKind.TRIGGER, "events": ArgumentKind.OUTPUT, "context": ArgumentKind.CONTEXT}


def test_a_parameter_without_a_binding_is_an_error() -> None:
    app = func.FunctionApp()

    @app.route(route="x")
    def handler(req: func.HttpRequest, extra: str) -> str:
        return "x"

    [function] = app.get_functions()

    with pytest.raises(HostConfigError, match="parameter 'extra' matches no binding name"):
        describe_function(function, {})


def test_an_http_route_defaults_to_the_function_name() -> None:
    app = func.FunctionApp()

    @app.route()
    def status(req: func.HttpRequest) -> str:
        return "up"

    [function] = app.get_functions()

    assert describe_function(function, {}).trigger["route"] == "status"


def test_exactly_one_function_app_must_be_defined() -> None:
    module = types.ModuleType("function_app")
    with pytest.raises(HostConfigError, match="defines no FunctionApp"):
        find_function_register(module)

    app = func.FunctionApp()
    vars(module).update(app=app, alias=app)
    assert find_function_register(module) is app

    vars(module)["other"] = func.FunctionApp()
    with pytest.raises(HostConfigError, match=r"more than one top-level function app \(app, other\)"):
        find_function_register(module)


def test_http_response_objects_are_sent_as_written() -> None:
    response = func.HttpResponse(
        "created", status_code=201, headers={"Location": "/api/runs/1", "Set-Cookie": "a=1"}, mimetype="text/html"
    )

    status, headers, body = encode_response(response)

    assert status == 201
    assert body == b"created"
    assert (b"location", b"/api/runs/1") in headers
    assert (b"set-cookie", b"a=1") in headers
    assert (b"content-type", b"text/html; charset=utf-8") in headers


def test_an_explicit_content_type_header_wins() -> None:
    response = func.HttpResponse(b"{}", headers={"Content-Type": "application/problem+json"})

    _, headers, _ = encode_response(response)

    assert [v for k, v in headers if k == b"content-type"] == [b"application/problem+json"]


def test_non_text_mimetypes_have_no_charset() -> None:
    _, headers, _ = encode_response(func.HttpResponse(b"{}", mimetype="application/json"))

    assert (b"content-type", b"application/json") in headers


@pytest.mark.parametrize(
    ("value", "status", "content_type", "body"),
    [
        ("hello", 200, b"text/plain; charset=utf-8", b"hello"),
        (b"\x00\x01", 200, b"application/octet-stream", b"\x00\x01"),
        ({"a": 1}, 200, b"application/json; charset=utf-8", json.dumps({"a": 1}).encode()),
        ([1, 2], 200, b"application/json; charset=utf-8", b"[1, 2]"),
    ],
)
def test_plain_return_values_become_responses(value: object, status: int, content_type: bytes, body: bytes) -> None:
    assert encode_response(value) == (status, [(b"content-type", content_type)], body)


def test_returning_nothing_is_no_content() -> None:
    assert encode_response(None) == (204, [], b"")


def test_other_return_values_are_refused() -> None:
    with pytest.raises(TypeError, match="got int"):
        encode_response(42)
