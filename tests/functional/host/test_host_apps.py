"""Loading apps other than the example: settings files, unsupported triggers, invalid apps, ASGI apps."""

import asyncio
import json
import textwrap
import uuid
from pathlib import Path

import httpx
import pytest

from slipway_host.config import HostConfigError, load_local_settings
from slipway_host.host import FunctionsHost, HostSetup
from slipway_host.queue_storage import InMemoryQueueStorage

HOST_JSON = {"version": "2.0", "extensions": {"http": {"routePrefix": "api"}}}


def write_app(directory: Path, source: str, host_json: dict[str, object] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "function_app.py").write_text(textwrap.dedent(source), encoding="utf-8")
    (directory / "host.json").write_text(json.dumps(host_json or HOST_JSON), encoding="utf-8")
    return directory


def make_host(app_dir: Path, settings: dict[str, str] | None = None) -> FunctionsHost:
    setup = HostSetup(app_dir=app_dir, state_dir=app_dir / "state", module_name=f"app_{uuid.uuid4().hex[:8]}")
    storage = InMemoryQueueStorage()
    return FunctionsHost(setup, settings or {}, storage_factory=lambda _connection: storage)


async def get(host: FunctionsHost, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=host.http_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testhost") as client:
        return await client.get(path)


def test_local_settings_values_are_added_without_overriding_the_environment(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {"FUNCTIONS_WORKER_RUNTIME": "python", "WorkQueue": "from-file", "Flag": True},
                "Host": {"LocalHttpPort": 7072},
            }
        ),
        encoding="utf-8",
    )
    environ = {"WorkQueue": "from-environment"}

    document = load_local_settings(tmp_path, environ)

    assert environ == {"WorkQueue": "from-environment", "FUNCTIONS_WORKER_RUNTIME": "python", "Flag": "true"}
    assert document["Host"]["LocalHttpPort"] == 7072


def test_a_missing_local_settings_file_changes_nothing(tmp_path: Path) -> None:
    environ: dict[str, str] = {}

    assert load_local_settings(tmp_path, environ) == {}
    assert environ == {}


def test_encrypted_local_settings_are_refused(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text('{"IsEncrypted": true, "Values": {}}', encoding="utf-8")

    with pytest.raises(HostConfigError, match="encrypted settings are not supported"):
        load_local_settings(tmp_path, {})


def test_functions_with_unsupported_triggers_are_skipped_and_the_rest_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app_dir = write_app(
        tmp_path / "app",
        """
        import azure.functions as func

        app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

        @app.route(route="ping")
        def ping(req: func.HttpRequest) -> str:
            return "pong"

        @app.blob_trigger(arg_name="blob", path="uploads/{name}", connection="AzureWebJobsStorage")
        def on_upload(blob: func.InputStream) -> None:
            pass

        @app.event_hub_message_trigger(arg_name="event", event_hub_name="hub", connection="Hub")
        def on_event(event: func.EventHubEvent) -> None:
            pass
        """,
    )

    host = make_host(app_dir)
    response = asyncio.run(get(host, "/api/ping"))
    host.close()

    assert response.text == "pong"
    assert sorted(host.skipped) == ["on_event", "on_upload"]
    assert "trigger type 'blobTrigger' is not supported by this host" in caplog.text
    assert "trigger type 'eventHubTrigger' is not supported by this host" in caplog.text


def test_an_app_with_two_function_apps_is_refused_like_the_worker_does(tmp_path: Path) -> None:
    app_dir = write_app(
        tmp_path / "app",
        """
        import azure.functions as func

        app = func.FunctionApp()
        admin = func.FunctionApp()
        """,
    )

    with pytest.raises(HostConfigError, match=r"more than one top-level function app \(admin, app\)"):
        make_host(app_dir)


def test_an_app_directory_needs_host_json_and_function_app_py(tmp_path: Path) -> None:
    with pytest.raises(HostConfigError, match=r"host\.json not found"):
        make_host(tmp_path)

    (tmp_path / "host.json").write_text("{}", encoding="utf-8")
    with pytest.raises(HostConfigError, match=r"function_app\.py not found"):
        make_host(tmp_path)


def test_an_invalid_timer_schedule_or_queue_name_skips_only_that_function(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app_dir = write_app(
        tmp_path / "app",
        """
        import azure.functions as func

        app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

        @app.route(route="ping")
        def ping(req: func.HttpRequest) -> str:
            return "pong"

        @app.timer_trigger(arg_name="timer", schedule="0 0 25 * * *")
        def bad_timer(timer: func.TimerRequest) -> None:
            pass

        @app.queue_trigger(arg_name="msg", queue_name="Bad_Name", connection="AzureWebJobsStorage")
        def bad_queue(msg: func.QueueMessage) -> None:
            pass
        """,
    )

    host = make_host(app_dir, {"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    host.close()

    assert sorted(host.skipped) == ["bad_queue", "bad_timer"]
    assert "hour field '25' is out of range 0-23" in caplog.text
    assert "queue name 'Bad_Name' is invalid" in caplog.text


def test_an_asgi_function_app_is_served_through_its_catch_all_route(tmp_path: Path) -> None:
    app_dir = write_app(
        tmp_path / "app",
        """
        import azure.functions as func

        async def asgi_app(scope, receive, send):
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif message["type"] == "lifespan.shutdown":
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            body = f"asgi saw {scope['method']} {scope['path']}".encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": body})

        app = func.AsgiFunctionApp(app=asgi_app, http_auth_level=func.AuthLevel.ANONYMOUS)
        """,
        host_json={"version": "2.0", "extensions": {"http": {"routePrefix": ""}}},
    )

    host = make_host(app_dir)
    response = asyncio.run(get(host, "/runs/42"))
    host.close()

    assert response.status_code == 200
    assert response.text == "asgi saw GET /runs/42"
