"""Bad input gets a specific error (HTTP 4xx, or a Failed run whose log says why) and loses nothing."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import (
    MAX_CONTEXT_BYTES,
    Stack,
    run_cli,
    run_log,
    unique,
    upload_archive,
    wait_for_run,
)

pytestmark = pytest.mark.integration


def archive(entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def schedule(api: httpx.Client, data: bytes, **extra) -> httpx.Response:
    source = upload_archive(api, data)
    return api.post(
        "/runs", json={"type": "DockerBuildRequest", "sourceLocation": source, "isPushEnabled": False, **extra}
    )


@pytest.fixture(scope="module")
def earlier_run(stack: Stack, api_module: httpx.Client, base_image: str) -> dict:
    """A good run from before the bad inputs; it must be untouched by them."""
    response = schedule(api_module, archive([("Dockerfile", f"FROM {base_image}\nRUN echo kept\n".encode())]))
    assert response.status_code == 202, response.text
    run = wait_for_run(api_module, response.json()["runId"])
    assert run["status"] == "Succeeded"
    return {"run": run, "log": run_log(api_module, run["runId"])}


@pytest.fixture(scope="module")
def api_module(stack: Stack):
    with httpx.Client(base_url=stack.url + "/api", headers={"x-api-key": stack.api_key}, timeout=60) as client:
        yield client


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("Dockerfile", b"FROM x\n"), ("../escape.txt", b"x")], "escapes the context"),
        ([("Dockerfile", b"FROM x\n"), ("/etc/absolute.txt", b"x")], "absolute"),
        ([("Dockerfile", b"FROM x\n"), link("evil", "/etc/passwd")], "outside"),
        ([("Dockerfile", b"FROM x\n"), link("evil", "../../etc/passwd")], "outside"),
        ([("Dockerfile", b"FROM x\n"), link("hard", "/etc/shadow", tarfile.LNKTYPE)], "link"),
        ([("src/app.py", b"print(1)\n")], "Dockerfile"),
    ],
)
def test_unsafe_or_incomplete_archives_end_failed_with_the_reason_in_the_log(
    api_module: httpx.Client, earlier_run: dict, entries: list, message: str
) -> None:
    response = schedule(api_module, archive(entries))
    assert response.status_code == 202, response.text
    run = wait_for_run(api_module, response.json()["runId"])
    assert run["status"] == "Failed"
    assert message.lower() in run["runErrorMessage"].lower()
    assert message.lower() in run_log(api_module, run["runId"]).lower()


def test_a_corrupt_archive_ends_failed_and_says_it_is_corrupt(api_module: httpx.Client, earlier_run: dict) -> None:
    good = archive([("Dockerfile", b"FROM x\n"), ("big.bin", os.urandom(100_000))])
    response = schedule(api_module, good[: len(good) // 2])
    run = wait_for_run(api_module, response.json()["runId"])
    assert run["status"] == "Failed"
    text = run["runErrorMessage"].lower()
    assert "corrupt" in text or "truncated" in text


def test_a_checksum_mismatch_ends_failed(api_module: httpx.Client, earlier_run: dict, base_image: str) -> None:
    response = schedule(api_module, archive([("Dockerfile", f"FROM {base_image}\n".encode())]), sourceSha256="0" * 64)
    run = wait_for_run(api_module, response.json()["runId"])
    assert run["status"] == "Failed"
    assert "SHA-256" in run["runErrorMessage"]


def test_an_oversized_context_is_refused_with_413_before_queuing(api_module: httpx.Client, earlier_run: dict) -> None:
    data = gzip.compress(os.urandom(MAX_CONTEXT_BYTES + 1024), compresslevel=0)
    before = api_module.get("/runs", params={"top": 1}).json()["value"][0]["runId"]
    response = schedule(api_module, data)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "ContextTooLarge"
    assert api_module.get("/runs", params={"top": 1}).json()["value"][0]["runId"] == before


def test_a_dockerfile_syntax_error_ends_failed_with_the_engine_message(
    api_module: httpx.Client, earlier_run: dict, base_image: str
) -> None:
    response = schedule(api_module, archive([("Dockerfile", f"FROM {base_image}\nRUNN echo\n".encode())]))
    run = wait_for_run(api_module, response.json()["runId"])
    assert run["status"] == "Failed"
    assert "RUNN" in run_log(api_module, run["runId"])


def test_an_unreachable_registry_ends_failed_naming_the_registry(
    stack: Stack, api_module: httpx.Client, earlier_run: dict, base_image: str, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image}\n")
    result = run_cli(stack, "build", "-t", f"127.0.0.1:9/{unique('nowhere')}:v1", str(tmp_path))
    assert result.code == 1
    run_id = result.stderr.split("Queued a build with ID: ")[1].split()[0]
    run = api_module.get(f"/runs/{run_id}").json()
    assert run["status"] == "Failed"
    assert "127.0.0.1:9" in run["runErrorMessage"]
    assert "reachable" in run["runErrorMessage"]


def test_the_cli_refuses_a_missing_dockerfile_before_uploading(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("print(1)\n")
    result = run_cli(stack, "build", "-f", "Dockerfile.prod", str(tmp_path))
    assert result.code == 1
    assert "Dockerfile.prod" in result.stderr and "not found" in result.stderr
    assert "Queued" not in result.stderr


def test_unknown_runs_give_404_in_the_api_and_an_error_in_the_cli(stack: Stack, api_module: httpx.Client) -> None:
    response = api_module.get("/runs/ca9zzz")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "RunNotFound"
    result = run_cli(stack, "task", "show-run", "--run-id", "nope")
    assert result.code == 1 and "does not exist" in result.stderr


def test_a_missing_or_wrong_api_key_is_refused_with_401(stack: Stack) -> None:
    missing = httpx.get(f"{stack.url}/api/runs")
    wrong = httpx.get(f"{stack.url}/api/runs", headers={"x-api-key": "not-the-key"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert "missing API key" in missing.json()["error"]["message"]
    assert "wrong API key" in wrong.json()["error"]["message"]
    env = {**stack.cli_env, "SLIPWAY_API_KEY": "not-the-key"}
    import subprocess

    from slipway_host.stack import REPO

    result = subprocess.run(
        [str(REPO / ".venv/bin/slipway"), "task", "list-runs"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1 and "wrong API key" in result.stderr


def test_bad_request_fields_are_refused_with_400_naming_the_field(api_module: httpx.Client) -> None:
    response = api_module.post("/runs", json={"type": "DockerBuildRequest", "sourceLocation": "x", "timeout": -5})
    assert response.status_code == 400
    assert response.json()["error"]["target"] == "sourceLocation"
    garbage = api_module.post("/runs", content=b"{not json", headers={"content-type": "application/json"})
    assert garbage.status_code == 400 and "not valid JSON" in garbage.json()["error"]["message"]


def test_earlier_runs_and_their_logs_survive_all_of_the_above(api_module: httpx.Client, earlier_run: dict) -> None:
    run = earlier_run["run"]
    assert api_module.get(f"/runs/{run['runId']}").json() == run
    assert run_log(api_module, run["runId"]) == earlier_run["log"]
