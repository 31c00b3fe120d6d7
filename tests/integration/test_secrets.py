"""Secrets through managed identity and Key Vault, end to end, with the real Azure SDKs.

The host reaches the Key Vault / managed-identity double over the real protocols (see
`tests/support/keyvault_double.py`). Every value used here is added to `planted_secrets`; at the end
of the session a scan of every blob, table row and queue message must find none of them.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import httpx
import pytest
from azure.keyvault.secrets._shared import http_challenge_cache

from core.errors import Unauthorized
from core.settings import Settings
from core.trigger_service import accept_github_delivery
from core.wiring import create_services
from slipway_host.stack import free_port, start_registry
from tests.integration.conftest import Stack, run_cli, run_log, unique, wait_for_run
from tests.support.git_server import GitServer
from tests.support.github_payloads import ping_payload, signed_delivery
from tests.support.htpasswd import write_htpasswd
from tests.support.keyvault_double import SYSTEM, KeyVaultDouble

pytestmark = pytest.mark.integration


def plant(planted: dict[str, str], name: str) -> str:
    value = f"{name}-{secrets.token_urlsafe(18)}"
    planted[name] = value
    return value


def queued_id(stderr: str) -> str:
    return stderr.split("Queued a run with ID: ")[1].split(maxsplit=1)[0]


def test_a_step_that_echoes_a_key_vault_secret_shows_stars(
    stack: Stack, api: httpx.Client, keyvault: KeyVaultDouble, planted_secrets: dict[str, str], tmp_path: Path
) -> None:
    value = plant(planted_secrets, "greeting")
    name = unique("greeting")
    keyvault.set_secret(name, value, allowed=(SYSTEM,))
    task = tmp_path / "acb.yaml"
    task.write_text(
        "version: v1.1.0\n"
        f"secrets:\n  - id: greeting\n    keyvault: {keyvault.secret_url(name)}\n"
        "steps:\n  - cmd: bash echo the secret is {{.Secrets.greeting}} and b64 {{.Secrets.greeting | b64enc}}\n"
    )
    result = run_cli(stack, "run", "-f", str(task), "/dev/null")
    assert result.code == 0, result.stderr + result.stdout
    assert "the secret is *** and b64 ***" in result.stdout
    assert value not in result.stdout
    assert any(r.path.startswith(f"/secrets/{name}") for r in keyvault.requests)


def test_an_identity_without_access_ends_the_run_error_naming_the_secret(
    stack: Stack, api: httpx.Client, keyvault: KeyVaultDouble, planted_secrets: dict[str, str], tmp_path: Path
) -> None:
    value = plant(planted_secrets, "forbidden")
    name = unique("forbidden")
    keyvault.set_secret(name, value, allowed=(SYSTEM,))
    stranger = keyvault.add_identity()
    task = tmp_path / "acb.yaml"
    task.write_text(
        "version: v1.1.0\n"
        f"secrets:\n  - id: dbpassword\n    keyvault: {keyvault.secret_url(name)}\n    clientID: {stranger}\n"
        "steps:\n  - cmd: bash echo never\n"
    )
    result = run_cli(stack, "run", "-f", str(task), "/dev/null")
    assert result.code == 1
    run = api.get(f"/runs/{queued_id(result.stderr)}").json()
    assert run["status"] == "Error"
    assert "dbpassword" in run["runErrorMessage"] and stranger in run["runErrorMessage"]
    assert run["steps"] == []  # nothing ran
    assert value not in json.dumps(run) and value not in run_log(api, run["runId"])


def test_set_secret_values_are_sealed_at_rest_and_masked_in_the_log(
    stack: Stack, api: httpx.Client, planted_secrets: dict[str, str], tmp_path: Path
) -> None:
    value = plant(planted_secrets, "set-secret")
    task = tmp_path / "acb.yaml"
    task.write_text("version: v1.1.0\nsteps:\n  - cmd: bash echo token={{.Values.token}}\n")
    result = run_cli(stack, "run", "-f", str(task), "--set-secret", f"token={value}", "/dev/null")
    assert result.code == 0, result.stderr + result.stdout
    assert "token=***" in result.stdout and value not in result.stdout
    run = api.get(f"/runs/{queued_id(result.stderr)}").json()
    (entry,) = run["request"]["values"]
    assert entry["isSecret"] is True and entry["value"].startswith("sealed:v1:")


def test_secret_build_arguments_are_masked_and_the_image_history_risk_is_stated(
    stack: Stack, api: httpx.Client, base_image: str, planted_secrets: dict[str, str], tmp_path: Path
) -> None:
    value = plant(planted_secrets, "build-arg")
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image}\nARG TOKEN\nRUN echo using $TOKEN {unique('x')}\n")
    result = run_cli(stack, "build", "--no-push", "--secret-build-arg", f"TOKEN={value}", str(tmp_path))
    assert result.code == 0, result.stderr + result.stdout
    assert "using ***" in result.stdout and value not in result.stdout
    assert "image history" in result.stdout


def test_a_task_logs_into_a_protected_registry_with_key_vault_credentials_and_pushes(  # noqa: PLR0917
    stack: Stack,
    api: httpx.Client,
    keyvault: KeyVaultDouble,
    planted_secrets: dict[str, str],
    base_image: str,
    tmp_path: Path,
) -> None:
    password = plant(planted_secrets, "registry-password")
    port = free_port()
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"builder": password})
    registry = start_registry(tmp_path / "registry", port, htpasswd=htpasswd)
    server = GitServer(tmp_path / "git").start()
    try:
        identity = keyvault.add_identity()
        user_name, password_name = unique("reguser"), unique("regpass")
        keyvault.set_secret(user_name, "builder", allowed=(identity,))
        keyvault.set_secret(password_name, password, allowed=(identity,))
        name = unique("protected")
        repo = server.create_repo(name, {"Dockerfile": f"FROM {base_image}\nRUN echo {name}\n"})
        login_server = f"127.0.0.1:{port}"
        created = run_cli(
            stack,
            "task",
            "create",
            "-n",
            name,
            "-c",
            f"{server.url_for(repo)}#main",
            "-f",
            "Dockerfile",
            "-t",
            f"{login_server}/{name}:{{{{.Run.ID}}}}",
            "--commit-trigger-enabled",
            "false",
        )
        assert created.code == 0, created.stderr
        added = run_cli(
            stack,
            "task",
            "credential",
            "add",
            "-n",
            name,
            "--login-server",
            login_server,
            "-u",
            keyvault.secret_url(user_name),
            "-p",
            keyvault.secret_url(password_name),
            "--use-identity",
            identity,
        )
        assert added.code == 0, added.stderr
        listed = run_cli(stack, "task", "credential", "list", "-n", name, "-o", "json")
        assert password not in listed.stdout and keyvault.secret_url(password_name) in listed.stdout
        result = run_cli(stack, "task", "run", "-n", name)
        assert result.code == 0, result.stderr + result.stdout
        run = api.get(f"/runs/{queued_id(result.stderr)}").json()
        (image,) = run["outputImages"]
        assert image["registry"] == login_server
        anonymous = httpx.get(f"http://{login_server}/v2/{name}/tags/list")
        assert anonymous.status_code == 401
        tags = httpx.get(f"http://{login_server}/v2/{name}/tags/list", auth=("builder", password)).json()
        assert run["runId"] in tags["tags"]
    finally:
        server.close()
        registry.stop()


def test_a_webhook_secret_given_as_a_key_vault_reference_verifies_deliveries(
    stack: Stack, keyvault: KeyVaultDouble, planted_secrets: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    value = plant(planted_secrets, "webhook-from-vault")
    name = unique("webhook")
    keyvault.set_secret(name, value, allowed=(SYSTEM,))
    for key, setting in keyvault.environ().items():
        monkeypatch.setenv(key, setting)
    http_challenge_cache.clear()
    services = create_services(
        Settings(
            storage_connection=stack.storage,
            api_key=stack.api_key,
            registry=stack.registry,
            github_webhook_secrets=(keyvault.secret_url(name),),
            keyvault_verify_challenge_resource=False,
            keyvault_ca_bundle=str(keyvault.ca_path),
        )
    )
    payload = ping_payload()
    body, headers = signed_delivery("ping", payload, secret=value)
    reply = accept_github_delivery(services, {k.lower(): v for k, v in headers.items()}, body)
    assert reply.status == 202
    forged_body, forged = signed_delivery("ping", payload, secret="wrong")
    with pytest.raises(Unauthorized, match="signature"):
        accept_github_delivery(services, {k.lower(): v for k, v in forged.items()}, forged_body)


def test_a_tasks_secret_values_are_sealed_hidden_from_show_and_masked_in_its_runs(
    stack: Stack, api: httpx.Client, planted_secrets: dict[str, str]
) -> None:
    value = plant(planted_secrets, "task-set-secret")
    name = unique("sealed")
    created = run_cli(
        stack,
        "task",
        "create",
        "-n",
        name,
        "-c",
        "/dev/null",
        "--cmd",
        "bash echo token={{.Values.token}}",
        "--set-secret",
        f"token={value}",
    )
    assert created.code == 0, created.stderr
    assert value not in created.stdout
    shown = json.loads(run_cli(stack, "task", "show", "-n", name, "-o", "json").stdout)
    assert shown["secretValues"] == [{"name": "token", "isSecret": True, "value": None}]
    result = run_cli(stack, "task", "run", "-n", name)
    assert result.code == 0, result.stderr + result.stdout
    assert "token=***" in result.stdout and value not in result.stdout


def test_a_task_may_use_only_the_identities_assigned_to_it(
    stack: Stack, api: httpx.Client, keyvault: KeyVaultDouble, planted_secrets: dict[str, str]
) -> None:
    value = plant(planted_secrets, "assigned")
    name = unique("assigned")
    keyvault.set_secret(name, value, allowed=(SYSTEM,))
    other = keyvault.add_identity()
    task_file = (
        "version: v1.1.0\n"
        f"secrets:\n  - id: token\n    keyvault: {keyvault.secret_url(name)}\n"
        "steps:\n  - cmd: bash echo token={{.Secrets.token}}\n"
    )
    encoded = base64.b64encode(task_file.encode()).decode()
    task = unique("identities")
    created = api.post(
        "/tasks", json={"name": task, "context": "/dev/null", "encodedTask": encoded, "assignIdentity": [other]}
    )
    assert created.status_code == 201, created.text

    refused = wait_for_run(api, api.post(f"/tasks/{task}/runs", json={}).json()["runId"], timeout=60)
    assert refused["status"] == "Error"
    message = refused["runErrorMessage"]
    assert "secret 'token' uses the system-assigned identity, which is not assigned" in message
    assert refused["steps"] == [] and value not in json.dumps(refused)

    updated = api.patch(f"/tasks/{task}", json={"assignIdentity": ["[system]", other]})
    assert updated.status_code == 200, updated.text
    allowed = wait_for_run(api, api.post(f"/tasks/{task}/runs", json={}).json()["runId"], timeout=60)
    assert allowed["status"] == "Succeeded", allowed
    assert "token=***" in run_log(api, allowed["runId"])
