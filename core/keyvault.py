"""Key Vault adapter: resolves task-file secrets and service-setting references with Azure identities.

`KeyVaultSecretResolver` implements the task-file `SecretResolver` port with the real
`azure-keyvault-secrets` `SecretClient`. Which credential reads a secret:
- `clientID` given: `ManagedIdentityCredential(client_id=...)`, the user-assigned identity;
- otherwise, *in Azure*: `ManagedIdentityCredential()`, the app's system-assigned identity. "In Azure"
  means App Service's identity endpoint is configured: `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are
  both set (Functions sets them when the app has a managed identity; a test double sets them too);
- otherwise (a developer machine): `DefaultAzureCredential()`, i.e. environment variables, the Azure
  CLI login and so on. Note that it treats `AZURE_CLIENT_ID` as a user-assigned identity's client id.
Credentials are cached per client id and `SecretClient`s per (vault, client id) for the resolver's
lifetime, so tokens and Key Vault's authentication challenge are fetched once.

Secrets are read at most `max_concurrency` (5, as ACR does) at a time, each within `timeout_seconds`
(counted from when its read starts; the SDK's own connect/read timeouts are set to it too, so a read
abandoned at the deadline ends by itself). `retry_total` overrides the SDK's retry count. Every
failure raises `SecretResolutionError` naming the secret's id and the vault host (never a value, and
no `azure.core` exception crosses this module). Values are never logged.

`verify_challenge_resource` stays True in production: Key Vault's 401 challenge names the resource
(`https://vault.azure.net`) a token is requested for, and the SDK checks the vault's host belongs to
it so a look-alike server cannot obtain a Key Vault token. Only tests against the local double
(`https://127.0.0.1:<port>`) turn it off, and trust the double's CA with `connection_verify`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from core.errors import InvalidRequest, SlipwayError
from core.log_masking import mask_text
from core.taskfile.model import SecretSpec
from core.taskfile.secrets import keyvault_url_problem

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 120.0
DEFAULT_MAX_CONCURRENCY = 5
_APP_SETTING_REFERENCE = re.compile(r"\A@Microsoft\.KeyVault\(\s*SecretUri\s*=\s*(?P<url>[^)\s]+)\s*\)\Z", re.I)
_SDK_MESSAGE_CHARS = 300


class SecretFailure(StrEnum):
    ACCESS_DENIED = "AccessDenied"
    NOT_FOUND = "NotFound"
    DISABLED = "Disabled"
    IDENTITY_FAILED = "IdentityFailed"
    UNREACHABLE = "Unreachable"
    TLS = "TlsFailed"
    CHALLENGE = "ChallengeMismatch"
    TIMEOUT = "Timeout"
    SERVICE = "ServiceError"
    IDENTITY_NOT_ASSIGNED = "IdentityNotAssigned"  # the task may not use that identity (`--assign-identity`)


class SecretResolutionError(SlipwayError):
    """A Key Vault secret could not be read; `reason` says why. The message never holds a value."""

    status = 502
    code = "SecretResolutionFailed"

    def __init__(self, message: str, *, reason: SecretFailure, target: str | None = None) -> None:
        super().__init__(message, target=target)
        self.reason = reason


@dataclass(frozen=True)
class SecretReference:
    """`https://<vault>/secrets/<name>[/<version>]`, split."""

    vault_url: str  # scheme and host, e.g. https://myvault.vault.azure.net
    name: str
    version: str | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.vault_url).netloc

    @property
    def url(self) -> str:
        return f"{self.vault_url}/secrets/{self.name}" + (f"/{self.version}" if self.version else "")


def parse_reference(text: str) -> SecretReference | None:
    """The Key Vault secret `text` refers to, or None when it is not a reference.

    Accepts a secret URL or App Service's app-setting form, so a setting written for Azure also works
    where the platform does not resolve it: `@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/x)`.
    """
    candidate = text.strip()
    wrapped = _APP_SETTING_REFERENCE.match(candidate)
    if wrapped:
        candidate = wrapped["url"]
    if keyvault_url_problem(candidate) is not None:
        return None
    parts = urlsplit(candidate.rstrip("/"))
    segments = parts.path.split("/")
    return SecretReference(f"https://{parts.netloc}", segments[2], segments[3] if len(segments) > 3 else None)


def is_keyvault_reference(text: str) -> bool:
    """True when `text` names a Key Vault secret rather than being a value itself."""
    return parse_reference(text) is not None


def running_with_app_service_identity(environ: Mapping[str, str]) -> bool:
    """True where App Service's managed-identity endpoint is configured (Azure, or a test double)."""
    return bool(environ.get("IDENTITY_ENDPOINT")) and bool(environ.get("IDENTITY_HEADER"))


@dataclass(frozen=True)
class _Job:
    label: str  # what errors call the secret: its task-file id, or the reference URL
    reference: SecretReference
    client_id: str | None


class KeyVaultSecretResolver:
    """Reads Key Vault secrets for task files (`resolve_secrets`) and settings (`resolve_reference`).

    Example: `KeyVaultSecretResolver().resolve_reference("https://v.vault.azure.net/secrets/webhook")`.
    Close it (or use it as a context manager) to release its HTTP sessions.
    """

    def __init__(
        self,
        *,
        verify_challenge_resource: bool = True,
        connection_verify: str | bool | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        retry_total: int | None = None,
        environ: Mapping[str, str] | None = None,
        in_azure: bool | None = None,
    ) -> None:
        if timeout_seconds <= 0 or max_concurrency < 1:
            raise ValueError("timeout_seconds must be positive and max_concurrency at least 1")
        self._verify_challenge_resource = verify_challenge_resource
        self._connection_verify = connection_verify
        self._timeout = timeout_seconds
        self._max_concurrency = max_concurrency
        self._retry_total = retry_total
        env = os.environ if environ is None else environ
        self._in_azure = running_with_app_service_identity(env) if in_azure is None else in_azure
        self._lock = threading.Lock()
        self._credentials: dict[str | None, TokenCredential] = {}
        self._clients: dict[tuple[str, str | None], SecretClient] = {}

    # --- the SecretResolver port ------------------------------------------------------------------

    def resolve_secrets(self, specs: Sequence[SecretSpec]) -> Mapping[str, str]:
        """Values by secret id, read concurrently; any secret that cannot be read raises SecretResolutionError."""
        jobs = []
        for spec in specs:
            reference = parse_reference(spec.keyvault)
            if reference is None:
                raise InvalidRequest(
                    f"secret {spec.id!r}: {spec.keyvault!r} is not a Key Vault secret URL "
                    "(https://<vault>/secrets/<name>[/<version>])",
                    target=f"secrets.{spec.id}",
                )
            jobs.append(_Job(spec.id, reference, spec.client_id or None))
        values = self._run(jobs)
        if values:
            logger.info("read %d Key Vault secret(s): %s", len(values), ", ".join(sorted(values)))
        return values

    # --- single references (service settings) -----------------------------------------------------

    def resolve_reference(self, url: str, client_id: str | None = None) -> str:
        """The value of the Key Vault secret at `url` (a secret URL or `@Microsoft.KeyVault(SecretUri=...)`)."""
        reference = parse_reference(url)
        if reference is None:
            raise InvalidRequest(
                f"{url!r} is not a Key Vault secret reference; use https://<vault>/secrets/<name>[/<version>]"
            )
        return self._run([_Job(reference.url, reference, client_id or None)])[reference.url]

    def resolve_setting(self, text: str, client_id: str | None = None) -> str:
        """`text` itself, or the secret's value when `text` is a Key Vault reference."""
        return self.resolve_reference(text, client_id) if is_keyvault_reference(text) else text

    # --- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            clients, credentials = list(self._clients.values()), list(self._credentials.values())
            self._clients.clear()
            self._credentials.clear()
        for client in clients:
            client.close()
        for credential in credentials:
            close = getattr(credential, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> KeyVaultSecretResolver:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------------

    def _run(self, jobs: Sequence[_Job]) -> dict[str, str]:
        if not jobs:
            return {}
        for job in jobs:
            self._client(job.reference.vault_url, job.client_id)  # build clients here, not racing in threads
        started: dict[int, float] = {}
        values: dict[str, str] = {}
        executor = ThreadPoolExecutor(max_workers=min(self._max_concurrency, len(jobs)), thread_name_prefix="keyvault")
        try:
            futures: dict[Future[str], int] = {
                executor.submit(self._fetch, job, index, started): index for index, job in enumerate(jobs)
            }
            pending = set(futures)
            while pending:
                now = time.monotonic()
                # A job that has not started yet cannot time out before now + timeout.
                deadline = min(started.get(futures[future], now) + self._timeout for future in pending)
                done, pending = wait(pending, timeout=max(0.0, deadline - now), return_when=FIRST_COMPLETED)
                for future in done:
                    job = jobs[futures[future]]
                    try:
                        values[job.label] = future.result()
                    except SecretResolutionError as error:
                        raise _masked(error, values.values()) from None
                now = time.monotonic()
                for future in pending:
                    begun = started.get(futures[future])
                    if begun is not None and now - begun >= self._timeout:
                        raise _masked(self._timed_out(jobs[futures[future]]), values.values())
        finally:
            # Queued reads are dropped; a read still running ends by itself within the SDK's timeouts.
            executor.shutdown(wait=False, cancel_futures=True)
        return values

    def _fetch(self, job: _Job, index: int, started: dict[int, float]) -> str:
        started[index] = time.monotonic()
        client = self._client(job.reference.vault_url, job.client_id)
        try:
            secret = client.get_secret(
                job.reference.name,
                job.reference.version,
                connection_timeout=self._timeout,
                read_timeout=self._timeout,
            )
        except (AzureError, ValueError) as error:
            raise self._translate(job, error) from None
        return secret.value or ""

    def _client(self, vault_url: str, client_id: str | None) -> SecretClient:
        key = (vault_url.lower(), client_id.lower() if client_id else None)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                from azure.keyvault.secrets import SecretClient

                options: dict[str, Any] = {"verify_challenge_resource": self._verify_challenge_resource}
                if self._connection_verify is not None:
                    options["connection_verify"] = self._connection_verify
                if self._retry_total is not None:
                    options["retry_total"] = self._retry_total
                client = SecretClient(vault_url, self._credential(key[1]), **options)
                self._clients[key] = client
            return client

    def _credential(self, client_id: str | None) -> TokenCredential:
        # Called with self._lock held.
        credential = self._credentials.get(client_id)
        if credential is None:
            from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

            if client_id is not None or self._in_azure:
                credential = ManagedIdentityCredential(
                    client_id=client_id, connection_timeout=self._timeout, read_timeout=self._timeout
                )
            else:
                credential = DefaultAzureCredential()
            self._credentials[client_id] = credential
        return credential

    def _identity(self, client_id: str | None) -> str:
        if client_id is not None:
            return f"the user-assigned identity (client id {client_id})"
        if self._in_azure:
            return "the identity (system-assigned)"
        return "the local credential (DefaultAzureCredential)"

    def _timed_out(self, job: _Job) -> SecretResolutionError:
        return SecretResolutionError(
            f"{_name(job)}: reading it from vault {job.reference.host} took longer than {self._timeout:g} s; "
            "check that the vault and the managed-identity endpoint are reachable from the worker",
            reason=SecretFailure.TIMEOUT,
            target=_target(job),
        )

    def _translate(self, job: _Job, error: AzureError | ValueError) -> SecretResolutionError:  # noqa: PLR0911 - one per failure kind
        host, identity, name = job.reference.host, self._identity(job.client_id), _name(job)
        version = f"version {job.reference.version}" if job.reference.version else "latest version"

        def failure(message: str, reason: SecretFailure) -> SecretResolutionError:
            return SecretResolutionError(f"{name}: {message}", reason=reason, target=_target(job))

        if isinstance(error, ValueError):
            if "challenge" in str(error).lower():
                return failure(
                    f"vault {host} sent an authentication challenge that does not match its host ({_said(error)})",
                    SecretFailure.CHALLENGE,
                )
            return failure(
                f"reading it from vault {host} got an unexpected answer: {_said(error)}", SecretFailure.SERVICE
            )
        if isinstance(error, ClientAuthenticationError) and error.response is None:
            # Raised by the credential, before Key Vault was asked.
            return failure(f"could not get a token for {identity}: {_said(error)}", SecretFailure.IDENTITY_FAILED)
        if isinstance(error, HttpResponseError) and error.status_code is not None:
            status = error.status_code
            code, inner = _error_codes(error)
            if status == 403 and inner == "SecretDisabled":
                return failure(
                    f"secret '{job.reference.name}' ({version}) in vault {host} is disabled; enable it or pin an "
                    "enabled version",
                    SecretFailure.DISABLED,
                )
            if status in (401, 403):
                answer = f"{status} {code}" if code else str(status)
                return failure(
                    f"{identity} has no 'get' permission on secrets in vault {host} (Key Vault answered {answer}); "
                    "grant it the 'Key Vault Secrets User' role or a 'get' access policy",
                    SecretFailure.ACCESS_DENIED,
                )
            if status == 404:
                return failure(
                    f"secret '{job.reference.name}' ({version}) was not found in vault {host}",
                    SecretFailure.NOT_FOUND,
                )
            return failure(f"vault {host} answered {status}: {_said(error)}", SecretFailure.SERVICE)
        if isinstance(error, ServiceRequestError | ServiceResponseError):
            said = _said(error)
            if "CERTIFICATE_VERIFY_FAILED" in said or "SSL" in said:
                return failure(
                    f"the TLS connection to vault {host} failed ({said}); if the vault uses a private CA, point "
                    "REQUESTS_CA_BUNDLE (or the resolver's connection_verify) at it",
                    SecretFailure.TLS,
                )
            if "timed out" in said.lower() or "timeout" in type(error).__name__.lower():
                return self._timed_out(job)
            return failure(f"could not reach vault {host}: {said}", SecretFailure.UNREACHABLE)
        return failure(f"reading it from vault {host} failed: {_said(error)}", SecretFailure.SERVICE)


def _name(job: _Job) -> str:
    if job.label == job.reference.url:
        return f"Key Vault secret {job.reference.url}"
    return f"secret {job.label!r} ({job.reference.url})"


def _target(job: _Job) -> str:
    return job.reference.url if job.label == job.reference.url else f"secrets.{job.label}"


def _said(error: BaseException) -> str:
    """The SDK's own message, on one line and short; it comes from error responses, never from a value."""
    text = " ".join(str(getattr(error, "message", None) or error).split())
    return text if len(text) <= _SDK_MESSAGE_CHARS else text[: _SDK_MESSAGE_CHARS - 1] + "…"


def _error_codes(error: HttpResponseError) -> tuple[str | None, str | None]:
    odata = error.error
    if odata is None:
        return None, None
    inner = odata.innererror.get("code") if isinstance(odata.innererror, dict) else None
    return odata.code, inner if isinstance(inner, str) else None


def _masked(error: SecretResolutionError, values: Iterable[str]) -> SecretResolutionError:
    """`error` with any value read so far masked: belt and braces, messages are built from names only."""
    known = [value for value in values if value]
    if not known:
        return error
    target = mask_text(error.target, known) if error.target else None
    return SecretResolutionError(mask_text(error.message, known), reason=error.reason, target=target)
