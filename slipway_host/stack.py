"""The local stack around the host: registry, Azurite and the Functions host, for `make run/up/down`.

`python -m slipway_host.stack up` starts what is not running yet (idempotent) in the background and
writes `.slipway/env` for `source`; `down` stops what `up` started; `run` starts the stack and keeps
the Functions host in the foreground. The Docker engine is started before this by
`infra/local/ensure-docker.sh`, which needs root. Tests use the same `start_*` functions on free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.sealed_values import generate_data_key

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".slipway"
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published development key; it protects nothing and is the same for every Azurite.
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
HOST_PORT, REGISTRY_PORT, BLOB_PORT, QUEUE_PORT, TABLE_PORT = 7071, 5000, 10000, 10001, 10002


def azurite_connection_string(blob: int, queue: int, table: int, host: str = "127.0.0.1") -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://{host}:{blob}/{AZURITE_ACCOUNT};QueueEndpoint=http://{host}:{queue}/{AZURITE_ACCOUNT};"
        f"TableEndpoint=http://{host}:{table}/{AZURITE_ACCOUNT};"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until(check: object, what: str, process: subprocess.Popen[bytes] | None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before it was ready")
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready after {timeout:.0f}s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback URLs we build
            return bool(response.status < 500)
    except (urllib.error.URLError, OSError):
        return False


def spawn(command: list[str], log: Path | None, *, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a process in the repo with its output appended to `log` (or this terminal's if None)."""
    environment = {**os.environ, **(env or {})}
    if log is None:
        return subprocess.Popen(command, cwd=REPO, env=environment)
    with log.open("ab") as sink:  # the child has its own copy of the descriptor
        return subprocess.Popen(command, cwd=REPO, env=environment, stdout=sink, stderr=subprocess.STDOUT)


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def registry_config(
    port: int,
    data_dir: Path,
    *,
    notify_url: str | None = None,
    notify_token: str | None = None,
    htpasswd: Path | None = None,
    realm: str = "slipway",
) -> str:
    """CNCF distribution config: loopback only, deletes allowed, push notifications to Slipway.

    With `htpasswd` (a file of `user:bcrypt-hash` lines) every request needs HTTP basic auth; distribution
    2.8 allows that over plain http, and the Docker engine sends credentials to a loopback registry.
    """
    lines = [
        "version: 0.1",
        "log: {level: warn}",
        f"storage: {{filesystem: {{rootdirectory: {data_dir}}}, delete: {{enabled: true}}}}",
        f"http: {{addr: '127.0.0.1:{port}'}}",
    ]
    if htpasswd is not None:
        quoted_path = "'" + str(htpasswd).replace("'", "''") + "'"
        quoted_realm = "'" + realm.replace("'", "''") + "'"
        lines.append(f"auth: {{htpasswd: {{realm: {quoted_realm}, path: {quoted_path}}}}}")
    if notify_url:
        headers = f", headers: {{Authorization: ['Bearer {notify_token}']}}" if notify_token else ""
        lines.append(
            "notifications: {events: {includereferences: true}, endpoints: [{name: slipway, url: '"
            + notify_url
            + f"', timeout: 2s, threshold: 5, backoff: 1s{headers}}}]}}"
        )
    return "\n".join(lines) + "\n"


def start_registry(
    workdir: Path,
    port: int,
    *,
    notify_url: str | None = None,
    notify_token: str | None = None,
    log: Path | None = None,
    htpasswd: Path | None = None,
) -> Service:
    """Distribution on 127.0.0.1:`port`, data under `workdir`; `htpasswd` turns on basic auth (see registry_config)."""
    if htpasswd is not None and not htpasswd.is_file():
        # Distribution would create it with a generated user and print the password.
        raise FileNotFoundError(f"htpasswd file {htpasswd} does not exist; write its user:bcrypt-hash lines first")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "registry.yml"
    config.write_text(
        registry_config(port, workdir / "data", notify_url=notify_url, notify_token=notify_token, htpasswd=htpasswd)
    )
    process = spawn(["docker-registry", "serve", str(config)], log or workdir / "registry.log")

    def answers() -> bool:
        # With auth, /v2/ answers 401 until a client logs in; that too means the registry is up.
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                return True
        except urllib.error.HTTPError as error:
            return error.code == 401
        except (urllib.error.URLError, OSError):
            return False

    wait_until(answers, f"registry on port {port}", process)
    return Service("registry", process)


def start_azurite(location: Path | None, blob: int, queue: int, table: int, *, log: Path | None = None) -> Service:
    command = [
        str(REPO / "node_modules" / ".bin" / "azurite"),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--blobPort",
        str(blob),
        "--queuePort",
        str(queue),
        "--tablePort",
        str(table),
    ]
    command += ["--location", str(location)] if location else ["--inMemoryPersistence"]
    process = spawn(command, log)
    wait_until(lambda: all(port_open(p) for p in (blob, queue, table)), "Azurite", process)
    return Service("azurite", process)


def start_host(port: int, env: Mapping[str, str], *, log: Path | None = None, app_dir: Path = REPO) -> Service:
    command = [sys.executable, "-m", "slipway_host", "serve", "--app-dir", str(app_dir), "--port", str(port)]
    process = spawn(command, log, env=env)
    wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/api/health"), f"Functions host on port {port}", process)
    return Service("host", process)


def service_env(api_key: str, storage: str, registry: str, **extra: str) -> dict[str, str]:
    """App settings the Function App needs, as `local.settings.json` would hold them."""
    return {
        "AzureWebJobsStorage": storage,
        "SLIPWAY_API_KEY": api_key,
        "SLIPWAY_REGISTRY": registry,
        "SLIPWAY_REAPER_SCHEDULE": "0 * * * * *",
        "SLIPWAY_SCHEDULER_SCHEDULE": "0 * * * * *",
        "SLIPWAY_REGISTRY_POLL_SCHEDULE": "0 */5 * * * *",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        **extra,
    }


@dataclass
class PrivateStack:
    """A throwaway stack on free ports (in-memory Azurite): what tests and benchmarks run against."""

    url: str
    api_key: str
    registry: str
    storage: str
    workdir: Path
    host_env: dict[str, str]
    services: list[Service]

    @property
    def webhook_secret(self) -> str:
        return self.host_env["SLIPWAY_GITHUB_WEBHOOK_SECRET"]

    @property
    def cli_env(self) -> dict[str, str]:
        return {**os.environ, "SLIPWAY_URL": self.url, "SLIPWAY_API_KEY": self.api_key}

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


def start_private_stack(workdir: Path, **settings: str) -> PrivateStack:
    """Azurite, a registry and the Functions host on free ports; `settings` are extra app settings."""
    blob, queue, table, registry_port, host_port = (free_port() for _ in range(5))
    workdir.mkdir(parents=True, exist_ok=True)
    services = [start_azurite(None, blob, queue, table, log=workdir / "azurite.log")]
    try:
        storage = azurite_connection_string(blob, queue, table)
        # The registry notifies the host of every push: a real base-image-update signal.
        event_token = secrets.token_urlsafe(24)
        notify = f"http://127.0.0.1:{host_port}/api/webhooks/registry"
        services.append(
            start_registry(workdir / "registry", registry_port, notify_url=notify, notify_token=event_token)
        )
        api_key = secrets.token_urlsafe(24)
        registry = f"127.0.0.1:{registry_port}"
        env = service_env(
            api_key,
            storage,
            registry,
            SLIPWAY_STACK_ID=f"private-{secrets.token_hex(4)}",
            SLIPWAY_REGISTRY_EVENT_TOKEN=event_token,
            SLIPWAY_GITHUB_WEBHOOK_SECRET=secrets.token_urlsafe(24),
            SLIPWAY_DATA_KEY=generate_data_key(),
            # Nothing outside this machine: a run that would pull from elsewhere fails at once, naming the image.
            SLIPWAY_PULL_REGISTRIES="127.0.0.1,localhost",
            **settings,
        )
        services.append(start_host(host_port, env, log=workdir / "host.log"))
    except BaseException:
        for service in reversed(services):
            service.stop()
        raise
    return PrivateStack(f"http://127.0.0.1:{host_port}", api_key, registry, storage, workdir, env, services)


def _local_secret(name: str, make: Callable[[], str] = lambda: secrets.token_urlsafe(32)) -> str:
    """A random secret of the local stack, made once and kept in .slipway/ (mode 0600)."""
    path = STATE / name
    if not path.exists():
        STATE.mkdir(exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _pid_alive(name: str) -> bool:
    path = STATE / "pids" / f"{name}.pid"
    if not path.exists():
        return False
    try:
        os.kill(int(path.read_text()), 0)
    except (ProcessLookupError, ValueError, PermissionError):
        return False
    return True


def _record(service: Service) -> None:
    (STATE / "pids").mkdir(parents=True, exist_ok=True)
    (STATE / "pids" / f"{service.name}.pid").write_text(str(service.process.pid))


def _start_background(foreground_host: bool) -> Service | None:
    STATE.mkdir(exist_ok=True)
    logs = STATE / "logs"
    logs.mkdir(exist_ok=True)
    storage = azurite_connection_string(BLOB_PORT, QUEUE_PORT, TABLE_PORT)
    registry = f"127.0.0.1:{REGISTRY_PORT}"
    api_key = _local_secret("api-key")
    event_token = _local_secret("registry-event-token")
    if not _pid_alive("azurite"):
        if port_open(BLOB_PORT):
            raise SystemExit(f"port {BLOB_PORT} is taken by another program; stop it or run `make down`")
        _record(start_azurite(STATE / "azurite", BLOB_PORT, QUEUE_PORT, TABLE_PORT, log=logs / "azurite.log"))
    if not _pid_alive("registry"):
        notify = f"http://127.0.0.1:{HOST_PORT}/api/webhooks/registry"
        _record(
            start_registry(
                STATE / "registry",
                REGISTRY_PORT,
                notify_url=notify,
                notify_token=event_token,
                log=logs / "registry.log",
            )
        )
    (STATE / "env").write_text(
        f"export SLIPWAY_URL=http://127.0.0.1:{HOST_PORT}\nexport SLIPWAY_API_KEY={api_key}\n"
        f"export SLIPWAY_REGISTRY={registry}\n"
    )
    env = service_env(
        api_key,
        storage,
        registry,
        SLIPWAY_REGISTRY_EVENT_TOKEN=event_token,
        SLIPWAY_GITHUB_WEBHOOK_SECRET=_local_secret("github-webhook-secret"),
        SLIPWAY_DATA_KEY=_local_secret("data-key", generate_data_key),
    )
    if foreground_host:
        return start_host(HOST_PORT, env)
    if not _pid_alive("host"):
        _record(start_host(HOST_PORT, env, log=logs / "host.log"))
    return None


def down() -> None:
    for name in ("host", "registry", "azurite"):
        path = STATE / "pids" / f"{name}.pid"
        if path.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(path.read_text()), signal.SIGTERM)
            path.unlink()
            print(f"stopped {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slipway_host.stack")
    parser.add_argument("action", choices=["up", "down", "run"])
    args = parser.parse_args(argv)
    if args.action == "down":
        down()
        return 0
    if args.action == "up":
        _start_background(foreground_host=False)
        print(f"Slipway is up at http://127.0.0.1:{HOST_PORT}; run `source .slipway/env` to use the CLI")
        return 0
    host = _start_background(foreground_host=True)
    if host is None:  # pragma: no cover - foreground mode always returns the host
        return 1
    print(f"Slipway is running at http://127.0.0.1:{HOST_PORT} (Ctrl-C stops the host; `make down` the rest)")
    try:
        return host.process.wait()
    except KeyboardInterrupt:
        host.stop()
        return 0


if __name__ == "__main__":
    sys.exit(main())
