"""The real local stack for integration tests: Docker engine, registry, Azurite, the local host.

One stack per test session, on free ports, with in-memory Azurite, so sessions never share data;
tests isolate themselves further with unique image names. The Docker engine must already answer
(`make test` starts one); a missing engine fails loudly rather than skipping.
"""

from __future__ import annotations

import io
import secrets
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from slipway_host.stack import REPO, PrivateStack, start_private_stack
from tests.support.keyvault_double import KeyVaultDouble
from tests.support.secret_scan import assert_no_secrets

BASE_IMAGE = "slipway-test/busybox:1"
TERMINAL = {"Succeeded", "Failed", "Canceled", "Error", "Timeout"}
MAX_CONTEXT_BYTES = 48 << 20


Stack = PrivateStack


@pytest.fixture(scope="session")
def engine() -> Any:
    client = docker.APIClient(version="auto", timeout=120)
    try:
        client.ping()
    except Exception as error:
        pytest.fail(f"no Docker engine answers ({error}); run the tests with `make test`, which starts one")
    return client


def _busybox_rootfs() -> bytes:
    busybox = shutil.which("busybox") or "/bin/busybox"
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "tmp", "etc", "root"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in applets:
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
        passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"
        entry = tarfile.TarInfo("etc/passwd")
        entry.size = len(passwd)
        tar.addfile(entry, io.BytesIO(passwd))
    return buffer.getvalue()


@pytest.fixture(scope="session")
def base_image(engine: Any) -> str:
    """A busybox image made locally (nothing can be pulled here)."""
    if not engine.images(name=BASE_IMAGE):
        engine.import_image_from_data(_busybox_rootfs(), repository=BASE_IMAGE.split(":", maxsplit=1)[0], tag="1")
    return BASE_IMAGE


@pytest.fixture(scope="session")
def planted_secrets() -> dict[str, str]:
    """Every secret value the tests give Slipway, by id; none may be left anywhere in storage."""
    return {}


@pytest.fixture(scope="session")
def keyvault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyVaultDouble]:
    """Key Vault and the managed-identity endpoint, over the real wire protocols, for the host."""
    with KeyVaultDouble(workdir=tmp_path_factory.mktemp("keyvault")) as double:
        yield double


@pytest.fixture(scope="session")
def stack(
    engine: Any,
    base_image: str,
    keyvault: KeyVaultDouble,
    planted_secrets: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    identity = {k: v for k, v in keyvault.environ().items() if k in {"IDENTITY_ENDPOINT", "IDENTITY_HEADER"}}
    started = start_private_stack(
        tmp_path_factory.mktemp("stack"),
        SLIPWAY_HEARTBEAT_SECONDS="0.5",
        SLIPWAY_STALE_AFTER_SECONDS="6",
        SLIPWAY_REAPER_SCHEDULE="*/2 * * * * *",
        SLIPWAY_MAX_CONTEXT_BYTES=str(MAX_CONTEXT_BYTES),
        SLIPWAY_IMAGE_ALIASES=f"bash={base_image},curl={base_image}",
        SLIPWAY_KEYVAULT_CA_BUNDLE=str(keyvault.ca_path),
        SLIPWAY_KEYVAULT_VERIFY_CHALLENGE_RESOURCE="false",
        **identity,
    )
    yield started
    try:
        secrets_in_play = {
            **planted_secrets,
            "api-key": started.api_key,
            "webhook-secret": started.webhook_secret,
            "registry-event-token": started.host_env["SLIPWAY_REGISTRY_EVENT_TOKEN"],
            "data-key": started.host_env["SLIPWAY_DATA_KEY"],
        }
        assert_no_secrets(started.storage, secrets_in_play)
    finally:
        started.stop()


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url + "/api", headers={"x-api-key": stack.api_key}, timeout=60) as client:
        yield client


def wait_for(condition: Callable[[], Any], *, timeout: float = 120, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_run(api: httpx.Client, run_id: str, *, timeout: float = 180) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        run = api.get(f"/runs/{run_id}").json()
        return run if run["status"] in TERMINAL else None

    return wait_for(finished, timeout=timeout, what=f"run {run_id} to finish")


def run_log(api: httpx.Client, run_id: str) -> str:
    return api.get(f"/runs/{run_id}/log", params={"offset": 0}).json()["content"]


def unique(name: str) -> str:
    return f"{name}-{secrets.token_hex(3)}"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(stack: Stack, *args: str, timeout: float = 300, cwd: Path | None = None) -> CliResult:
    completed = subprocess.run(
        [str(REPO / ".venv" / "bin" / "slipway"), *args],
        env=stack.cli_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def upload_archive(api: httpx.Client, data: bytes) -> str:
    """Upload raw archive bytes the way the CLI does, for tests that need hand-made archives."""
    ticket = api.post("/contexts").json()
    response = httpx.put(
        ticket["uploadUrl"], content=data, headers={"x-ms-blob-type": "BlockBlob", "x-ms-version": "2021-08-06"}
    )
    assert response.status_code == 201, response.text
    return str(ticket["sourceLocation"])


def registry_digest(stack: Stack, repository: str, tag: str) -> str:
    response = httpx.head(
        f"http://{stack.registry}/v2/{repository}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert response.status_code == 200, f"{repository}:{tag} is not in the registry"
    return response.headers["Docker-Content-Digest"]
