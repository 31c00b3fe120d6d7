from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError

from core.engine import RegistryAuth
from core.errors import InvalidRequest, RegistryError
from core.keyvault import SecretFailure, SecretResolutionError
from core.registry_credentials import (
    ARM_SCOPE,
    MSI_USERNAME,
    SYSTEM_IDENTITY,
    AcrTokenExchange,
    CredentialResolver,
    RegistryCredential,
    SecretSource,
    auth_for,
    credential_from_request,
    from_storage_document,
    public_credentials_document,
    registry_credential,
    registry_of,
    to_public_document,
    to_storage_document,
)
from core.sealed_values import SealedValueError, SecretSealer

VAULT = "https://myvault.vault.azure.net"
USER_URL = f"{VAULT}/secrets/hub-user"
PASSWORD_URL = f"{VAULT}/secrets/hub-password"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CONTEXT = "task/build/credentials"


@dataclass
class FakeVault:
    """Key Vault by URL; records (url, client id) of every read."""

    values: dict[str, str]
    reads: list[tuple[str, str | None]] = field(default_factory=list)

    def resolve_reference(self, url: str, client_id: str | None = None) -> str:
        self.reads.append((url, client_id))
        if url not in self.values:
            raise SecretResolutionError(
                f"Key Vault secret {url}: it was not found", reason=SecretFailure.NOT_FOUND, target=url
            )
        return self.values[url]


@dataclass
class FakeTokens:
    token: str = "acr-refresh-token-123"
    asked: list[tuple[str, str | None]] = field(default_factory=list)

    def refresh_token(self, login_server: str, client_id: str | None) -> str:
        self.asked.append((login_server, client_id))
        return self.token


@dataclass
class AccessToken:
    token: str


@dataclass
class FakeEntraCredential:
    token: str = "entra-access-token"
    scopes: list[tuple[str, ...]] = field(default_factory=list)
    error: Exception | None = None

    def get_token(self, *scopes: str) -> AccessToken:
        self.scopes.append(scopes)
        if self.error is not None:
            raise self.error
        return AccessToken(self.token)


# --- validation -----------------------------------------------------------------------------------


def test_a_plain_username_and_password_make_an_opaque_credential() -> None:
    credential = registry_credential("MyRegistry.azurecr.io", "alice", "hunter2")
    assert credential == RegistryCredential("myregistry.azurecr.io", "alice", "hunter2", None)
    assert credential.username_source is SecretSource.OPAQUE
    assert credential.password_source is SecretSource.OPAQUE
    assert "hunter2" not in repr(credential) and "alice" not in repr(credential)


def test_key_vault_urls_with_an_identity_make_a_vault_secret_credential() -> None:
    credential = registry_credential("docker.io", USER_URL, PASSWORD_URL, "[SYSTEM]")
    assert credential.identity == SYSTEM_IDENTITY
    assert credential.username_source is SecretSource.VAULT_SECRET
    assert credential.password_source is SecretSource.VAULT_SECRET


def test_a_plain_username_may_go_with_a_key_vault_password() -> None:
    credential = registry_credential("docker.io", "alice", PASSWORD_URL, CLIENT_ID.upper())
    assert credential.identity == CLIENT_ID
    assert credential.username_source is SecretSource.OPAQUE
    assert credential.password_source is SecretSource.VAULT_SECRET


def test_an_identity_alone_logs_in_by_itself() -> None:
    credential = registry_credential("r.azurecr.io", identity=CLIENT_ID)
    assert credential.uses_identity_only
    assert credential.username is None and credential.password is None


@pytest.mark.parametrize(
    ("arguments", "target", "message"),
    [
        (("",), "loginServer", "must name a registry"),
        ((None,), "loginServer", "must name a registry"),
        (("https://r.azurecr.io",), "loginServer", "without a scheme or path"),
        (("r.azurecr.io/team",), "loginServer", "without a scheme or path"),
        (("bad_host.io",), "loginServer", "not a valid registry host"),
        (("r.io:99999",), "loginServer", "port 1-65535"),
        (("r.io:0",), "loginServer", "port 1-65535"),
        (("r.io",), "identity", "needs a username and password, or an identity"),
        (("r.io", "alice"), "password", "has a username but no password"),
        (("r.io", None, "hunter2"), "username", "has a password but no username"),
        (("r.io", "", "hunter2"), "username", "non-empty string"),
        (("r.io", "alice", 5), "password", "non-empty string"),
        (("r.io", "alice", "hunter2", "[system]"), "identity", "drop the identity"),
        (("r.io", None, None, "me"), "identity", "client id (a GUID)"),
        (("r.io", None, None, ""), "identity", "must be [system]"),
        (("r.io", "alice", f"{VAULT}/secrets/"), "password", "looks like a Key Vault secret URL but"),
        (("r.io", "alice", "http://myvault.vault.azure.net/secrets/x"), "password", "https://"),
    ],
)
def test_an_invalid_credential_names_the_field(arguments: tuple[Any, ...], target: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(message)) as caught:
        registry_credential(*arguments)
    assert caught.value.target == target
    assert "hunter2" not in caught.value.message


@pytest.mark.parametrize("server", ["localhost:5000", "127.0.0.1:5000", "[::1]:5000", "a-b.c-d.example", "R.IO"])
def test_valid_login_servers_are_kept_in_lowercase(server: str) -> None:
    assert registry_credential(server, "u", "p").login_server == server.lower()


def test_a_request_body_becomes_a_credential() -> None:
    credential = credential_from_request({"loginServer": "r.io", "username": "u", "password": "p"})
    assert credential == RegistryCredential("r.io", "u", "p")
    with pytest.raises(InvalidRequest) as caught:
        credential_from_request({"username": "u", "password": "p"})
    assert caught.value.target == "loginServer"


# --- storage and display --------------------------------------------------------------------------


def test_stored_credentials_keep_plain_values_sealed_and_key_vault_urls_as_they_are() -> None:
    sealer = SecretSealer(os.urandom(32))
    credential = registry_credential("docker.io", "alice", PASSWORD_URL, SYSTEM_IDENTITY)
    document = to_storage_document(credential, sealer, context=CONTEXT)
    text = json.dumps(document)
    assert "alice" not in text
    assert document["userName"]["type"] == "Opaque" and document["userName"]["value"].startswith("sealed:v1:")
    assert document["password"] == {"type": "Vaultsecret", "value": PASSWORD_URL}
    assert from_storage_document(json.loads(text), sealer, context=CONTEXT) == credential


def test_a_stored_credential_does_not_open_under_another_task() -> None:
    sealer = SecretSealer(os.urandom(32))
    document = to_storage_document(registry_credential("r.io", "alice", "hunter2"), sealer, context=CONTEXT)
    with pytest.raises(SealedValueError):
        from_storage_document(document, sealer, context="task/other/credentials")


def test_an_identity_credential_round_trips_through_storage() -> None:
    sealer = SecretSealer(os.urandom(32))
    credential = registry_credential("r.azurecr.io", identity=SYSTEM_IDENTITY)
    document = to_storage_document(credential, sealer, context=CONTEXT)
    assert document == {"loginServer": "r.azurecr.io", "userName": None, "password": None, "identity": "[system]"}
    assert from_storage_document(document, sealer, context=CONTEXT) == credential


def test_public_documents_show_kinds_and_key_vault_urls_never_plain_values() -> None:
    opaque = registry_credential("r.io", "alice", "hunter2")
    vault = registry_credential("docker.io", USER_URL, PASSWORD_URL, CLIENT_ID)
    identity = registry_credential("x.azurecr.io", identity=SYSTEM_IDENTITY)
    assert to_public_document(opaque) == {
        "loginServer": "r.io",
        "userName": {"type": "Opaque", "value": None},
        "password": {"type": "Opaque", "value": None},
        "identity": None,
    }
    listed = public_credentials_document([opaque, vault, identity])
    assert list(listed) == ["r.io", "docker.io", "x.azurecr.io"]
    assert listed["docker.io"]["password"] == {"type": "Vaultsecret", "value": PASSWORD_URL}
    assert listed["docker.io"]["identity"] == CLIENT_ID
    assert listed["x.azurecr.io"] == {"userName": None, "password": None, "identity": "[system]"}
    text = json.dumps(listed)
    assert "alice" not in text and "hunter2" not in text


# --- resolution -----------------------------------------------------------------------------------


def test_resolution_reads_key_vault_values_with_the_credentials_identity() -> None:
    vault = FakeVault({USER_URL: "hub-user", PASSWORD_URL: "hub-password"})
    credentials = [
        registry_credential("docker.io", USER_URL, PASSWORD_URL, CLIENT_ID),
        registry_credential("r.io", "alice", "hunter2"),
        registry_credential("s.io", "bob", PASSWORD_URL),
    ]
    resolved = CredentialResolver(vault).resolve(credentials)
    assert dict(resolved) == {
        "docker.io": RegistryAuth("hub-user", "hub-password", "docker.io"),
        "r.io": RegistryAuth("alice", "hunter2", "r.io"),
        "s.io": RegistryAuth("bob", "hub-password", "s.io"),
    }
    assert vault.reads == [(USER_URL, CLIENT_ID), (PASSWORD_URL, CLIENT_ID), (PASSWORD_URL, None)]
    # Plain usernames are not secrets; everything else the log must mask.
    assert set(resolved.secret_values) == {"hub-user", "hub-password", "hunter2"}
    assert "hunter2" not in repr(resolved) and "hub-password" not in repr(resolved)


def test_the_system_identity_is_the_client_id_the_service_maps_it_to() -> None:
    vault = FakeVault({PASSWORD_URL: "pw"})
    credential = registry_credential("r.io", "u", PASSWORD_URL, SYSTEM_IDENTITY)
    CredentialResolver(vault).resolve([credential], client_id_for_system=CLIENT_ID)
    CredentialResolver(vault).resolve([credential])
    assert vault.reads == [(PASSWORD_URL, CLIENT_ID), (PASSWORD_URL, None)]


def test_an_identity_only_credential_logs_in_with_an_acr_refresh_token() -> None:
    tokens = FakeTokens()
    credentials = [
        registry_credential("r.azurecr.io", identity=SYSTEM_IDENTITY),
        registry_credential("s.azurecr.io", identity=CLIENT_ID),
    ]
    resolved = CredentialResolver(FakeVault({}), tokens=tokens).resolve(credentials)
    assert resolved["r.azurecr.io"] == RegistryAuth(MSI_USERNAME, tokens.token, "r.azurecr.io")
    assert tokens.asked == [("r.azurecr.io", None), ("s.azurecr.io", CLIENT_ID)]
    assert resolved.secret_values == (tokens.token,)


def test_an_identity_credential_without_a_token_exchange_is_a_registry_error() -> None:
    with pytest.raises(RegistryError, match="no token exchange configured") as caught:
        CredentialResolver(FakeVault({})).resolve([registry_credential("r.azurecr.io", identity=CLIENT_ID)])
    assert caught.value.target == "credentials.r.azurecr.io.identity"


def test_a_secret_that_cannot_be_read_names_the_credential_and_field() -> None:
    credential = registry_credential("r.io", "alice", PASSWORD_URL)
    with pytest.raises(SecretResolutionError) as caught:
        CredentialResolver(FakeVault({})).resolve([credential])
    assert caught.value.message.startswith("the password of the credential for r.io: Key Vault secret")
    assert caught.value.target == "credentials.r.io.password"
    assert caught.value.reason is SecretFailure.NOT_FOUND


@pytest.mark.parametrize(
    ("reference", "registry"),
    [
        ("node", "docker.io"),
        ("node:20", "docker.io"),
        ("library/node@sha256:" + "a" * 64, "docker.io"),
        ("docker.io/library/node", "docker.io"),
        ("Index.Docker.IO/team/app:1", "docker.io"),
        ("registry.hub.docker.com/team/app", "docker.io"),
        ("MyRegistry.azurecr.io/app:v1", "myregistry.azurecr.io"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000"),
        ("localhost/app", "localhost"),
        ("team/app", "docker.io"),
    ],
)
def test_the_registry_of_an_image_reference(reference: str, registry: str) -> None:
    assert registry_of(reference) == registry


def test_auth_for_matches_the_images_registry_case_insensitively_and_through_docker_hub_aliases() -> None:
    hub = RegistryAuth("hub", "p1", "index.docker.io")
    acr = RegistryAuth("acr", "p2", "r.azurecr.io")
    local = RegistryAuth("local", "p3", "127.0.0.1:5000")
    resolved = {"index.docker.io": hub, "r.azurecr.io": acr, "127.0.0.1:5000": local}
    assert auth_for("node:20", resolved) is hub
    assert auth_for("docker.io/team/app", resolved) is hub
    assert auth_for("R.AzureCR.io/app:1", resolved) is acr
    assert auth_for("127.0.0.1:5000/app", resolved) is local
    assert auth_for("127.0.0.1:5001/app", resolved) is None
    assert auth_for("ghcr.io/team/app", resolved) is None


# --- ACR token exchange (request shape; the real ACR cannot be reached here) ----------------------


def test_the_exchange_posts_an_entra_token_as_a_form_and_returns_the_refresh_token() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"refresh_token": "acr-refresh"})

    entra = FakeEntraCredential()
    asked: list[str | None] = []

    def credential_for(client_id: str | None) -> FakeEntraCredential:
        asked.append(client_id)
        return entra

    exchange = AcrTokenExchange(credential_for=credential_for, transport=httpx.MockTransport(answer))
    assert exchange.refresh_token("r.azurecr.io", CLIENT_ID) == "acr-refresh"
    assert exchange.refresh_token("r.azurecr.io", CLIENT_ID) == "acr-refresh"
    assert asked == [CLIENT_ID]  # one credential per identity
    assert entra.scopes == [(ARM_SCOPE,), (ARM_SCOPE,)]
    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == "https://r.azurecr.io/oauth2/exchange"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["access_token"],
        "service": ["r.azurecr.io"],
        "access_token": ["entra-access-token"],
    }


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(401, json={"errors": []}), "answered 401); check that the identity has the AcrPull"),
        (httpx.Response(200, json={"access_token": "x"}), "without a refresh_token"),
        (httpx.Response(200, text="<html>"), "without a refresh_token"),
    ],
)
def test_a_refused_exchange_is_a_registry_error_without_tokens(response: httpx.Response, message: str) -> None:
    exchange = AcrTokenExchange(
        credential_for=lambda _: FakeEntraCredential(), transport=httpx.MockTransport(lambda _: response)
    )
    with pytest.raises(RegistryError, match=re.escape(message)) as caught:
        exchange.refresh_token("r.azurecr.io", None)
    assert "entra-access-token" not in caught.value.message
    assert caught.value.target == "credentials.r.azurecr.io.identity"


def test_an_unreachable_registry_is_a_registry_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    exchange = AcrTokenExchange(credential_for=lambda _: FakeEntraCredential(), transport=httpx.MockTransport(refuse))
    with pytest.raises(RegistryError, match=r"could not reach r\.azurecr\.io to exchange a token for the service"):
        exchange.refresh_token("r.azurecr.io", None)


def test_an_identity_that_gets_no_entra_token_is_a_registry_error() -> None:
    failing = FakeEntraCredential(error=ClientAuthenticationError("identity not found"))
    unused = httpx.MockTransport(lambda _: httpx.Response(500))
    exchange = AcrTokenExchange(credential_for=lambda _: failing, transport=unused)
    with pytest.raises(RegistryError, match=rf"Entra token for identity {CLIENT_ID} .*: identity not found"):
        exchange.refresh_token("r.azurecr.io", CLIENT_ID)
