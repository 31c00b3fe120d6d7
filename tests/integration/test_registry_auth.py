"""Registry credentials against a registry that wants them: distribution with htpasswd (basic) auth.

The registry is Debian's `docker-registry` (CNCF distribution 2.8) on 127.0.0.1, over plain http:
distribution's docs ask for TLS with htpasswd but it does not insist, and the Docker engine sends
credentials to a loopback registry. Its htpasswd file needs bcrypt hashes; `bcrypt_hash` gets them
from the system's libcrypt (libxcrypt, part of every Debian), so no Python package is needed.

Azure Container Registry's identity login cannot be reached from here. Its pieces are tested
instead: the real azure-identity credential gets an Entra token from the managed-identity double,
a local stand-in for `POST /oauth2/exchange` checks the request and answers with a "refresh token"
that is the htpasswd registry's password for ACR's fixed identity username.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from azure.keyvault.secrets._shared import http_challenge_cache

from core.docker_engine import DockerEngine
from core.engine import Cancellation, RegistryAuth, StepFailed
from core.errors import RegistryError
from core.keyvault import KeyVaultSecretResolver
from core.registry_credentials import (
    ARM_SCOPE,
    MSI_USERNAME,
    SYSTEM_IDENTITY,
    AcrTokenExchange,
    CredentialResolver,
    auth_for,
    registry_credential,
)
from slipway_host.stack import Service, free_port, start_registry
from tests.support.htpasswd import bcrypt_hash, write_htpasswd
from tests.support.keyvault_double import SYSTEM, KeyVaultDouble

pytestmark = pytest.mark.integration

USER = "slipway-pusher"
# Anything that would make azure-identity pick another credential or trust another CA.
OTHER_IDENTITY_VARIABLES = (
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TOKEN_CREDENTIALS",
)


# --- htpasswd without a bcrypt package ----------------------------------------------------------------


def test_libcrypt_bcrypt_matches_a_published_test_vector() -> None:
    # OpenBSD/openwall vector for "U*U" with salt "CCCC…": proves the library is real bcrypt.
    library = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    library.crypt_rn.restype = ctypes.c_char_p
    library.crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    work = ctypes.create_string_buffer(1 << 16)
    expected = b"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
    assert library.crypt_rn(b"U*U", expected[:29], work, len(work)) == expected
    assert bcrypt_hash("pw").startswith("$2y$05$")


# --- fixtures ---------------------------------------------------------------------------------------


@dataclass
class AuthRegistry:
    host: str
    users: dict[str, str]
    service: Service


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    workdir = tmp_path_factory.mktemp("auth-registry")
    users = {USER: secrets.token_urlsafe(18), MSI_USERNAME: f"acr-refresh-{secrets.token_urlsafe(24)}"}
    port = free_port()
    service = start_registry(workdir / "registry", port, htpasswd=write_htpasswd(workdir / "htpasswd", users))
    yield AuthRegistry(f"127.0.0.1:{port}", users, service)
    service.stop()


@pytest.fixture
def image(engine: Any, base_image: str, auth_registry: AuthRegistry) -> Iterator[str]:
    repository = f"{auth_registry.host}/auth-test/busybox-{secrets.token_hex(3)}"
    engine.tag(base_image, repository, "v1")
    yield f"{repository}:v1"
    engine.remove_image(f"{repository}:v1", force=True)


def push_messages(engine: Any, reference: str, auth_config: dict[str, str] | None) -> list[dict[str, Any]]:
    repository, _, tag = reference.rpartition(":")
    return list(engine.push(repository, tag=tag, auth_config=auth_config, stream=True, decode=True))


def errors_in(messages: list[dict[str, Any]]) -> list[str]:
    return [str(message["error"]) for message in messages if "error" in message]


def digest_in(messages: list[dict[str, Any]]) -> str | None:
    for message in messages:
        aux = message.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            return str(aux["Digest"])
    return None


def auth_config(auth: RegistryAuth) -> dict[str, str]:
    return {"username": auth.username, "password": auth.password, "serveraddress": auth.server}


def push_through_port(reference: str, auth: RegistryAuth | None) -> str:
    """Push with the engine adapter workers use; returns the digest."""
    return DockerEngine().push(reference, auth=auth, on_output=lambda _: None, cancellation=Cancellation())


# --- the registry -----------------------------------------------------------------------------------


def test_the_registry_asks_for_basic_auth_over_plain_http(auth_registry: AuthRegistry) -> None:
    anonymous = httpx.get(f"http://{auth_registry.host}/v2/")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="slipway"'
    assert httpx.get(f"http://{auth_registry.host}/v2/", auth=(USER, "wrong")).status_code == 401
    assert httpx.get(f"http://{auth_registry.host}/v2/", auth=(USER, auth_registry.users[USER])).status_code == 200


def test_start_registry_refuses_a_missing_htpasswd_file(tmp_path: Path) -> None:
    # distribution would create it, with a generated user whose password it prints.
    with pytest.raises(FileNotFoundError, match="htpasswd file"):
        start_registry(tmp_path / "registry", free_port(), htpasswd=tmp_path / "missing")


def test_a_push_without_credentials_is_refused(engine: Any, image: str) -> None:
    messages = push_messages(engine, image, None)
    errors = errors_in(messages)
    assert errors, messages
    assert any("no basic auth credentials" in error or "unauthorized" in error.lower() for error in errors), errors
    assert digest_in(messages) is None


def test_a_push_with_a_wrong_password_is_refused(engine: Any, image: str, auth_registry: AuthRegistry) -> None:
    wrong = RegistryAuth(USER, "not-the-password", auth_registry.host)
    errors = errors_in(push_messages(engine, image, auth_config(wrong)))
    assert any("unauthorized" in error.lower() for error in errors), errors
    with pytest.raises(StepFailed, match=r"(?i)unauthorized"):
        push_through_port(image, wrong)


def test_a_push_with_a_resolved_plain_credential_succeeds(engine: Any, image: str, auth_registry: AuthRegistry) -> None:
    credential = registry_credential(auth_registry.host.upper(), USER, auth_registry.users[USER])
    resolved = CredentialResolver(secrets=_NoVault()).resolve([credential])
    auth = auth_for(image, resolved)
    assert auth is not None
    assert resolved.secret_values == (auth_registry.users[USER],)
    messages = push_messages(engine, image, auth_config(auth))
    assert errors_in(messages) == []
    digest = digest_in(messages)
    assert digest is not None and digest.startswith("sha256:")
    # The worker's engine adapter sends the same credentials as X-Registry-Auth.
    assert push_through_port(image, auth) == digest
    repository, _, tag = image.removeprefix(auth_registry.host + "/").rpartition(":")
    manifest = httpx.head(
        f"http://{auth_registry.host}/v2/{repository}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        auth=(USER, auth_registry.users[USER]),
    )
    assert manifest.headers["docker-content-digest"] == digest


class _NoVault:
    def resolve_reference(self, url: str, client_id: str | None = None) -> str:
        raise AssertionError(f"no Key Vault read expected, got {url}")


# --- Key Vault references through the real SDK ------------------------------------------------------


@pytest.fixture
def double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyVaultDouble]:
    for name in OTHER_IDENTITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with KeyVaultDouble(workdir=tmp_path / "keyvault") as started:
        monkeypatch.setenv("IDENTITY_ENDPOINT", started.identity_endpoint)
        monkeypatch.setenv("IDENTITY_HEADER", started.identity_header)
        http_challenge_cache.clear()
        yield started
    http_challenge_cache.clear()


def test_a_password_kept_in_key_vault_is_read_with_the_credentials_identity_and_pushes(
    image: str, auth_registry: AuthRegistry, double: KeyVaultDouble
) -> None:
    reader = double.add_identity()
    double.set_secret("registry-user", USER, allowed=(reader,))
    double.set_secret("registry-password", auth_registry.users[USER], allowed=(reader,))
    credential = registry_credential(
        auth_registry.host, double.secret_url("registry-user"), double.secret_url("registry-password"), reader
    )
    with KeyVaultSecretResolver(verify_challenge_resource=False, connection_verify=str(double.ca_path)) as vault:
        resolved = CredentialResolver(vault).resolve([credential])
    auth = resolved[auth_registry.host]
    assert (auth.username, auth.password) == (USER, auth_registry.users[USER])
    assert set(resolved.secret_values) == {USER, auth_registry.users[USER]}  # a Key Vault username is secret too
    assert {r.identity for r in double.requests if r.service == "keyvault" and r.status == 200} == {reader}
    assert push_through_port(image, auth).startswith("sha256:")


# --- ACR's identity login, against stand-ins --------------------------------------------------------


@dataclass
class ExchangeStandIn:
    """`POST /oauth2/exchange` as ACR answers it, on 127.0.0.1 over http."""

    refresh_token: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/oauth2/exchange"


@pytest.fixture
def exchange(auth_registry: AuthRegistry) -> Iterator[ExchangeStandIn]:
    stand_in = ExchangeStandIn(auth_registry.users[MSI_USERNAME])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            stand_in.requests.append(
                {"path": self.path, "content_type": self.headers.get("Content-Type"), "form": parse_qs(body)}
            )
            ok = self.path == "/oauth2/exchange" and parse_qs(body).get("grant_type") == ["access_token"]
            payload = json.dumps({"refresh_token": stand_in.refresh_token} if ok else {"errors": []}).encode()
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    stand_in.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=stand_in.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()
    thread.join(timeout=5)


def test_an_identity_logs_in_with_a_refresh_token_exchanged_for_its_entra_token(
    image: str, auth_registry: AuthRegistry, double: KeyVaultDouble, exchange: ExchangeStandIn
) -> None:
    tokens = AcrTokenExchange(exchange_url=lambda _: exchange.url, in_azure=True)
    credential = registry_credential(auth_registry.host, identity=SYSTEM_IDENTITY)
    resolved = CredentialResolver(_NoVault(), tokens=tokens).resolve([credential])

    auth = resolved[auth_registry.host]
    assert (auth.username, auth.password) == (MSI_USERNAME, exchange.refresh_token)
    assert resolved.secret_values == (exchange.refresh_token,)
    # The real azure-identity credential asked the managed-identity endpoint for an ARM token...
    token_requests = [r for r in double.requests if r.service == "identity"]
    assert [(r.identity, r.query["resource"]) for r in token_requests] == [
        (SYSTEM, ARM_SCOPE.removesuffix("/.default"))
    ]
    # ...and sent it to the registry's exchange as ACR expects.
    [sent] = exchange.requests
    assert sent["path"] == "/oauth2/exchange"
    assert sent["content_type"] == "application/x-www-form-urlencoded"
    assert sent["form"]["grant_type"] == ["access_token"]
    assert sent["form"]["service"] == [auth_registry.host]
    assert sent["form"]["access_token"][0].startswith("dbl.")
    assert push_through_port(image, auth).startswith("sha256:")


def test_an_unknown_user_assigned_identity_is_a_registry_error_naming_it(
    auth_registry: AuthRegistry, double: KeyVaultDouble, exchange: ExchangeStandIn
) -> None:
    stranger = "99999999-9999-9999-9999-999999999999"
    tokens = AcrTokenExchange(exchange_url=lambda _: exchange.url, in_azure=True)
    credential = registry_credential(auth_registry.host, identity=stranger)
    with pytest.raises(RegistryError, match=f"could not get an Entra token for identity {stranger}") as caught:
        CredentialResolver(_NoVault(), tokens=tokens).resolve([credential])
    assert caught.value.target == f"credentials.{auth_registry.host}.identity"
    assert exchange.requests == []
