"""Custom registry credentials of a task (`az acr task credential add|update|remove|list`).

A `RegistryCredential` names a login server and how to log in to it, in one of ACR's three kinds
(acr-builder `graph/registry_credential.go`):
- **opaque**: a plain username and password;
- **vault secret**: the username and/or the password is a Key Vault secret URL, read with `identity`
  (`[system]` or a user-assigned identity's client id; no identity means the service's own);
- **identity only**: `identity` logs in itself. The username is `00000000-0000-0000-0000-000000000000`
  and the password an ACR refresh token from `POST https://<login server>/oauth2/exchange`, given an
  Entra token of that identity (`AcrTokenExchange`). Only Azure Container Registry serves that.

Plain values are stored sealed (`core.sealed_values`) and never shown: `to_public_document` tells,
like `az acr task credential list`, each login server, whether username and password are opaque or
Key Vault secrets (with the secret URL, which is a reference, not a value) and the identity.

`CredentialResolver.resolve` turns a task's credentials into `RegistryAuth`s for a run, keeping in
`secret_values` every value the run's log must mask; `auth_for` picks the credential for an image.
Values are never logged nor put into errors.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from azure.core.exceptions import AzureError

from core.engine import RegistryAuth
from core.errors import InvalidRequest, RegistryError
from core.keyvault import SecretResolutionError, is_keyvault_reference, running_with_app_service_identity
from core.sealed_values import SecretSealer
from core.taskfile.secrets import keyvault_url_problem

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

SYSTEM_IDENTITY = "[system]"
MSI_USERNAME = "00000000-0000-0000-0000-000000000000"
# acr-builder asks for the ARM audience; ACR's exchange accepts ARM tokens on every registry.
ARM_SCOPE = "https://management.azure.com/.default"
DOCKER_HUB = "docker.io"
_DOCKER_HUB_NAMES = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
_GUID = re.compile(r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_LOGIN_SERVER = re.compile(rf"\A(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:.]+\])(?::(?P<port>[0-9]{{1,5}}))?\Z")
_MAX_HOST = 253
_MAX_MESSAGE = 300


class SecretSource(StrEnum):
    """Where a username or password comes from; the values are ACR's `SecretObjectType`."""

    OPAQUE = "Opaque"
    VAULT_SECRET = "Vaultsecret"  # noqa: S105 - a type name, not a password


def secret_source(value: str) -> SecretSource:
    return SecretSource.VAULT_SECRET if is_keyvault_reference(value) else SecretSource.OPAQUE


@dataclass(frozen=True)
class RegistryCredential:
    """How to log in to one registry; build it with `registry_credential` to validate it."""

    login_server: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    identity: str | None = None

    @property
    def uses_identity_only(self) -> bool:
        return self.username is None and self.password is None

    @property
    def username_source(self) -> SecretSource | None:
        return None if self.username is None else secret_source(self.username)

    @property
    def password_source(self) -> SecretSource | None:
        return None if self.password is None else secret_source(self.password)


def normalize_login_server(value: object, *, target: str = "loginServer") -> str:
    """`value` as a login server (`host[:port]`, lowercase), or `InvalidRequest` naming `target`."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{target} must name a registry, like 'myregistry.azurecr.io'", target=target)
    text = value.strip()
    if "://" in text or "/" in text:
        raise InvalidRequest(
            f"{target} {text!r} must be a registry host[:port] without a scheme or path, "
            "like 'myregistry.azurecr.io' or '127.0.0.1:5000'",
            target=target,
        )
    match = _LOGIN_SERVER.match(text)
    host = text.rsplit(":", 1)[0] if match and match["port"] else text
    if match is None or len(host) > _MAX_HOST or (match["port"] and not 0 < int(match["port"]) < 65536):
        raise InvalidRequest(
            f"{target} {text!r} is not a valid registry host[:port] (letters, digits, '-' and '.'; port 1-65535)",
            target=target,
        )
    return text.lower()


def registry_credential(
    login_server: object, username: object = None, password: object = None, identity: object = None
) -> RegistryCredential:
    """A validated credential; `InvalidRequest` names the field at fault.

    Example: `registry_credential("r.azurecr.io", identity="[system]")`.
    """
    server = normalize_login_server(login_server)
    user = _optional_text(username, "username")
    secret = _optional_text(password, "password")
    who = _identity(identity)
    if user is None and secret is None:
        if who is None:
            raise InvalidRequest(
                f"the credential for {server} needs a username and password, or an identity "
                "([system] or a client id) that logs in to the registry itself",
                target="identity",
            )
        return RegistryCredential(server, identity=who)
    if user is None or secret is None:
        missing = "username" if user is None else "password"
        raise InvalidRequest(
            f"the credential for {server} has a {'password' if user is None else 'username'} but no {missing}; "
            "give both (each plain or a Key Vault secret URL)",
            target=missing,
        )
    for name, value in (("username", user), ("password", secret)):
        _check_reference(name, value)
    if who is not None and secret_source(user) is SecretSource.OPAQUE and secret_source(secret) is SecretSource.OPAQUE:
        raise InvalidRequest(
            f"the credential for {server}: an identity is only used to read Key Vault secrets or to log in "
            "by itself, and this username and password are both plain values; drop the identity",
            target="identity",
        )
    return RegistryCredential(server, user, secret, who)


def credential_from_request(body: Mapping[str, Any]) -> RegistryCredential:
    """A credential from an API body `{"loginServer", "username"?, "password"?, "identity"?}`."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("the credential must be an object with loginServer and username/password or identity")
    return registry_credential(
        body.get("loginServer"), body.get("username"), body.get("password"), body.get("identity")
    )


def _optional_text(value: object, target: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{target} must be a non-empty string (plain, or a Key Vault secret URL)", target=target)
    return value


def _identity(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("identity must be [system] or a user-assigned identity's client id", target="identity")
    text = value.strip()
    if text.lower() == SYSTEM_IDENTITY:
        return SYSTEM_IDENTITY
    if not _GUID.match(text):
        raise InvalidRequest(
            f"identity {text!r} must be [system] or the client id (a GUID) of a user-assigned identity",
            target="identity",
        )
    return text.lower()


def _check_reference(target: str, value: str) -> None:
    lowered = value.strip().lower()
    looks_like_reference = lowered.startswith("@microsoft.keyvault(") or (
        lowered.startswith(("https://", "http://")) and "/secrets/" in lowered
    )
    if looks_like_reference and not is_keyvault_reference(value):
        problem = keyvault_url_problem(value.strip()) or "it is not https://<vault>/secrets/<name>[/<version>]"
        raise InvalidRequest(f"{target} looks like a Key Vault secret URL but {problem}", target=target)


# --- storage and display -----------------------------------------------------------------------------


def credential_context(context: str, login_server: str, name: str) -> str:
    """The sealing context of one stored value, e.g. `task/build/credentials/r.azurecr.io/password`."""
    return f"{context}/{login_server}/{name}"


def to_storage_document(credential: RegistryCredential, sealer: SecretSealer, *, context: str) -> dict[str, Any]:
    """A credential for a task record: plain values sealed under `context` (say `task/<name>/credentials`)."""

    def stored(name: str, value: str | None) -> dict[str, str] | None:
        if value is None:
            return None
        source = secret_source(value)
        if source is SecretSource.OPAQUE:
            value = sealer.seal(value, context=credential_context(context, credential.login_server, name))
        return {"type": source.value, "value": value}

    return {
        "loginServer": credential.login_server,
        "userName": stored("userName", credential.username),
        "password": stored("password", credential.password),
        "identity": credential.identity,
    }


def from_storage_document(document: Mapping[str, Any], sealer: SecretSealer, *, context: str) -> RegistryCredential:
    """The inverse of `to_storage_document`."""
    server = str(document["loginServer"])

    def opened(name: str) -> str | None:
        stored = document.get(name)
        if stored is None:
            return None
        value = str(stored["value"])
        if stored["type"] == SecretSource.OPAQUE.value:
            return sealer.unseal(value, context=credential_context(context, server, name))
        return value

    identity = document.get("identity")
    return RegistryCredential(server, opened("userName"), opened("password"), str(identity) if identity else None)


def to_public_document(credential: RegistryCredential) -> dict[str, Any]:
    """What API responses and `credential list` show: the kinds of values, never a plain value."""

    def shown(value: str | None) -> dict[str, str | None] | None:
        if value is None:
            return None
        source = secret_source(value)
        return {"type": source.value, "value": value if source is SecretSource.VAULT_SECRET else None}

    return {
        "loginServer": credential.login_server,
        "userName": shown(credential.username),
        "password": shown(credential.password),
        "identity": credential.identity,
    }


def public_credentials_document(credentials: Iterable[RegistryCredential]) -> dict[str, dict[str, Any]]:
    """`az acr task credential list`'s shape: login server → its public document (without `loginServer`)."""
    listed: dict[str, dict[str, Any]] = {}
    for credential in credentials:
        document = to_public_document(credential)
        del document["loginServer"]
        listed[credential.login_server] = document
    return listed


# --- resolution --------------------------------------------------------------------------------------


class SecretReader(Protocol):
    """Reads one Key Vault secret (`core.keyvault.KeyVaultSecretResolver` implements it)."""

    def resolve_reference(self, url: str, client_id: str | None = None) -> str: ...


class RegistryTokenSource(Protocol):
    """Turns an identity into a registry password (`AcrTokenExchange` implements it for ACR)."""

    def refresh_token(self, login_server: str, client_id: str | None) -> str: ...


class _NoIdentityLogin:
    def refresh_token(self, login_server: str, client_id: str | None) -> str:
        raise RegistryError(
            f"the credential for {login_server} logs in with an identity, and this service has no token "
            "exchange configured; use a username and password instead",
            target=f"credentials.{login_server}.identity",
        )


class ResolvedCredentials(Mapping[str, RegistryAuth]):
    """Login server → `RegistryAuth`, plus every value read that the run's log must mask."""

    def __init__(self, auths: Mapping[str, RegistryAuth], secret_values: Iterable[str]) -> None:
        self._auths = dict(auths)
        self.secret_values: tuple[str, ...] = tuple(dict.fromkeys(value for value in secret_values if value))

    def __getitem__(self, login_server: str) -> RegistryAuth:
        return self._auths[login_server]

    def __iter__(self) -> Iterator[str]:
        return iter(self._auths)

    def __len__(self) -> int:
        return len(self._auths)

    def __repr__(self) -> str:
        return f"ResolvedCredentials({sorted(self._auths)!r})"


class CredentialResolver:
    """Resolves a task's credentials for a run: Key Vault references read, identities exchanged.

    Example: `CredentialResolver(keyvault, tokens=AcrTokenExchange()).resolve(task.credentials)`.
    """

    def __init__(self, secrets: SecretReader, *, tokens: RegistryTokenSource | None = None) -> None:
        self._secrets = secrets
        self._tokens = tokens or _NoIdentityLogin()

    def resolve(
        self, credentials: Sequence[RegistryCredential], *, client_id_for_system: str | None = None
    ) -> ResolvedCredentials:
        """One `RegistryAuth` per login server; `client_id_for_system` is the identity `[system]` means.

        Plain usernames stay unmasked (they show in `docker login -u` anyway); passwords, refresh tokens
        and usernames read from Key Vault are in `secret_values`.
        """
        auths: dict[str, RegistryAuth] = {}
        secret_values: list[str] = []
        for credential in credentials:
            server = credential.login_server
            client_id = self._client_id(credential.identity, client_id_for_system)
            if credential.uses_identity_only:
                token = self._tokens.refresh_token(server, client_id)
                secret_values.append(token)
                auths[server] = RegistryAuth(MSI_USERNAME, token, server)
                continue
            username = self._read(credential, "username", credential.username, client_id)
            password = self._read(credential, "password", credential.password, client_id)
            if credential.username_source is SecretSource.VAULT_SECRET:
                secret_values.append(username)
            secret_values.append(password)
            auths[server] = RegistryAuth(username, password, server)
        return ResolvedCredentials(auths, secret_values)

    def _read(self, credential: RegistryCredential, name: str, value: str | None, client_id: str | None) -> str:
        if value is None:  # pragma: no cover - registry_credential never builds such a credential
            raise InvalidRequest(f"the credential for {credential.login_server} has no {name}")
        if not is_keyvault_reference(value):
            return value
        try:
            return self._secrets.resolve_reference(value, client_id)
        except SecretResolutionError as error:
            raise SecretResolutionError(
                f"the {name} of the credential for {credential.login_server}: {error.message}",
                reason=error.reason,
                target=f"credentials.{credential.login_server}.{name}",
            ) from None

    @staticmethod
    def _client_id(identity: str | None, client_id_for_system: str | None) -> str | None:
        if identity is None or identity == SYSTEM_IDENTITY:
            return client_id_for_system
        return identity


def registry_of(reference: str) -> str:
    """The registry an image reference names, in the form credentials are keyed by.

    Example: `registry_of("node:20") == "docker.io"`, `registry_of("R.azurecr.io/app") == "r.azurecr.io"`.
    """
    first, slash, _ = reference.strip().partition("/")
    names_registry = bool(slash) and ("." in first or ":" in first or first.lower() == "localhost")
    host = first.lower() if names_registry else DOCKER_HUB
    return DOCKER_HUB if host in _DOCKER_HUB_NAMES else host


def auth_for(reference: str, resolved: Mapping[str, RegistryAuth]) -> RegistryAuth | None:
    """The credential for the registry of image `reference`, or None (anonymous)."""
    wanted = registry_of(reference)
    for server, auth in resolved.items():
        key = server.lower()
        if (DOCKER_HUB if key in _DOCKER_HUB_NAMES else key) == wanted:
            return auth
    return None


# --- ACR's identity login ----------------------------------------------------------------------------


class AccessTokenSource(Protocol):
    """What `AcrTokenExchange` needs of a credential: azure-identity's `get_token`."""

    def get_token(self, *scopes: str) -> Any: ...


def default_exchange_url(login_server: str) -> str:
    return f"https://{login_server}/oauth2/exchange"


class AcrTokenExchange:
    """ACR refresh tokens for managed identities: an Entra token, exchanged at `/oauth2/exchange`.

    `credential_for(client_id)` gives the credential of an identity (default: azure-identity's
    `ManagedIdentityCredential`, or `DefaultAzureCredential` for the service's own identity outside
    Azure, as `core.keyvault` does); `exchange_url` and `transport` exist for tests.
    """

    def __init__(
        self,
        *,
        scope: str = ARM_SCOPE,
        timeout_seconds: float = 30.0,
        credential_for: Callable[[str | None], AccessTokenSource] | None = None,
        exchange_url: Callable[[str], str] = default_exchange_url,
        transport: httpx.BaseTransport | None = None,
        in_azure: bool | None = None,
    ) -> None:
        self._scope = scope
        self._timeout = timeout_seconds
        self._credential_for = credential_for or self._managed_identity
        self._exchange_url = exchange_url
        self._transport = transport
        self._in_azure = in_azure
        self._lock = threading.Lock()
        self._credentials: dict[str | None, AccessTokenSource] = {}

    def refresh_token(self, login_server: str, client_id: str | None) -> str:
        """An ACR refresh token for `client_id` (None: the service's own identity) on `login_server`."""
        target = f"credentials.{login_server}.identity"
        who = f"identity {client_id}" if client_id else "the service's identity"
        try:
            access_token = str(self._credential(client_id).get_token(self._scope).token)
        except (AzureError, ValueError) as error:  # azure-identity's errors stop here
            raise RegistryError(
                f"could not get an Entra token for {who} to log in to {login_server}: {_short(error)}", target=target
            ) from None
        url = self._exchange_url(login_server)
        form = {"grant_type": "access_token", "service": login_server, "access_token": access_token}
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                response = client.post(url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            raise RegistryError(
                f"could not reach {login_server} to exchange a token for {who}: {_short(error)}", target=target
            ) from None
        if response.status_code != 200:
            raise RegistryError(
                f"{login_server} refused the token of {who} (POST /oauth2/exchange answered {response.status_code}); "
                "check that the identity has the AcrPull or AcrPush role on the registry",
                target=target,
            )
        try:
            refresh_token = response.json()["refresh_token"]
        except (ValueError, KeyError, TypeError):
            refresh_token = None
        if not isinstance(refresh_token, str) or not refresh_token:
            raise RegistryError(
                f"{login_server} answered POST /oauth2/exchange without a refresh_token; is it an Azure Container "
                "Registry? Only ACR lets an identity log in by itself",
                target=target,
            )
        return refresh_token

    def _credential(self, client_id: str | None) -> AccessTokenSource:
        with self._lock:
            credential = self._credentials.get(client_id)
            if credential is None:
                credential = self._credential_for(client_id)
                self._credentials[client_id] = credential
            return credential

    def _managed_identity(self, client_id: str | None) -> AccessTokenSource:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        in_azure = running_with_app_service_identity(os.environ) if self._in_azure is None else self._in_azure
        credential: TokenCredential
        if client_id is not None or in_azure:
            credential = ManagedIdentityCredential(client_id=client_id)
        else:
            credential = DefaultAzureCredential()
        return credential


def _short(error: BaseException) -> str:
    text = " ".join(str(getattr(error, "message", None) or error).split()) or type(error).__name__
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
