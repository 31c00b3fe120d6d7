"""A Key Vault and App Service managed-identity double that speaks the real wire protocols.

No emulator exists for either service, so integration tests point the *real* `azure-identity`
credentials and the *real* `azure-keyvault-secrets` `SecretClient` at this double; only URLs and CA
trust change. It runs two servers on free 127.0.0.1 ports, on threads of the current process:

- the managed-identity endpoint (plain http, like the platform's local one) for the App Service
  protocol: `GET {IDENTITY_ENDPOINT}?resource=...&api-version=2019-08-01[&client_id=...]` with the
  `X-IDENTITY-HEADER` header; it returns `{"access_token", "expires_on": "<epoch seconds>",
  "resource", "token_type": "Bearer", "client_id"}` and, for a client id it does not know, App
  Service's `400 {"statusCode": 400, "message": "Unable to load the proper Managed Identity."}`.
  (What App Service answers to a missing or wrong header is not documented; the double answers 400
  and 401 with the same body shape.)
- the Key Vault secrets API over HTTPS, with its own test CA: `GET /secrets/{name}[/{version}]`
  answers 401 with Key Vault's `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
  resource="https://vault.azure.net"` challenge when there is no bearer token (or an unknown, expired
  or wrong-audience one), 403 `Forbidden` when the token's identity may not read the secret
  (innererror `AccessDenied`) or the version is disabled (innererror `SecretDisabled`, as Key Vault
  does), 404 `SecretNotFound` when it does not exist, and the real body otherwise.

    with KeyVaultDouble(workdir=tmp_path) as double:
        double.set_secret("db-password", "hunter2")                    # readable by the system identity
        reader = double.add_identity()                                 # a user-assigned identity
        double.set_secret("api-token", "s3cret", allowed=(reader,))
        env = double.environ()   # IDENTITY_ENDPOINT, IDENTITY_HEADER, REQUESTS_CA_BUNDLE for a child process
        ...
        assert [r.status for r in double.requests if r.service == "keyvault"] == [401, 200]

Access: an identity may read a secret when it is in that secret's `allowed` list (like an RBAC role
on the secret) or was `grant`ed get on the whole vault (like an access policy). Without either, Key
Vault answers 403 even for secrets that do not exist, and so does the double.

`delay_seconds` slows every authorized secret read, and `max_in_flight` records the most reads
served at once, so tests can observe a client's concurrency limit and timeouts.

Also runnable on its own for a separate process such as the Functions host:
`python -m tests.support.keyvault_double --ca-out ca.pem --config secrets.json` prints one line
`keyvault double ready {json}` with the URLs and the environment variables to set, then serves until
interrupted. The config file holds `{"identities": [...], "grants": [...], "secrets": [{"name",
"value", "version", "enabled", "allowed"}]}`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import re
import secrets
import shutil
import signal
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SYSTEM = "system"  # the system-assigned identity, in `allowed`, `grant` and the request log
KEY_VAULT_RESOURCE = "https://vault.azure.net"
IDENTITY_PATH = "/msi/token"
IDENTITY_API_VERSION = "2019-08-01"
_SECRET_PATH = re.compile(r"\A/secrets/(?P<name>[^/]+)(?:/(?P<version>[^/]*))?/?\Z")
_SECRET_NAME = re.compile(r"\A[0-9A-Za-z-]{1,127}\Z")
_UNKNOWN_IDENTITY = "Unable to load the proper Managed Identity."


@dataclass(frozen=True)
class RecordedRequest:
    """One request either server answered, for tests to assert on (never holds token or secret values)."""

    service: Literal["identity", "keyvault"]
    method: str
    path: str
    query: Mapping[str, str]
    authorized: bool  # identity: sent X-IDENTITY-HEADER; keyvault: sent an Authorization header
    identity: str | None  # identity: the one asked for; keyvault: whose valid token was presented
    status: int
    secret: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class TlsFiles:
    ca_path: Path
    cert_path: Path
    key_path: Path


@dataclass
class _Version:
    version: str
    value: str
    enabled: bool
    created: int
    content_type: str | None
    tags: dict[str, str]


@dataclass
class _Secret:
    name: str
    versions: list[_Version] = field(default_factory=list)  # the last one is the latest
    allowed: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Token:
    identity: str
    resource: str
    expires_on: int


def write_tls_files(directory: Path, hosts: Iterable[str] = ("127.0.0.1", "localhost")) -> TlsFiles:
    """A fresh test CA and a server certificate for `hosts` (IP or DNS SANs), as PEM files in `directory`."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Slipway Key Vault double test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    files.ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files.key_path.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


class KeyVaultDouble:
    """The managed-identity endpoint and a Key Vault, in-process; a context manager (see module doc)."""

    def __init__(
        self,
        *,
        workdir: Path | None = None,
        tenant_id: str | None = None,
        identity_header: str | None = None,
        system_identity: bool = True,
        token_lifetime_seconds: int = 3600,
        vault_port: int = 0,
        identity_port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.identity_header = identity_header or secrets.token_hex(16)
        self.system_client_id: str | None = str(uuid.uuid4()) if system_identity else None
        self.token_lifetime_seconds = token_lifetime_seconds
        self.delay_seconds = 0.0
        self._clock = clock
        self._ports = (vault_port, identity_port)
        self._own_workdir = workdir is None
        self._workdir = workdir
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._identities: dict[str, str] = {}  # client id (lower case) -> object id
        self._grants: set[str] = set()
        self._secrets: dict[str, _Secret] = {}  # by lower-case name: Key Vault names ignore case
        self._tokens: dict[str, _Token] = {}
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self.max_in_flight = 0
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._tls: TlsFiles | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> KeyVaultDouble:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="kv-double-"))
        self._tls = write_tls_files(self._workdir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self._tls.cert_path, self._tls.key_path)
        vault = _Server(("127.0.0.1", self._ports[0]), _VaultHandler, self, context)
        identity = _Server(("127.0.0.1", self._ports[1]), _IdentityHandler, self, None)
        for server in (vault, identity):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> KeyVaultDouble:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # --- where it is -----------------------------------------------------------------------------

    @property
    def vault_url(self) -> str:
        return f"https://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def identity_endpoint(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}{IDENTITY_PATH}"

    @property
    def ca_path(self) -> Path:
        assert self._tls is not None, "start the double first"
        return self._tls.ca_path

    def secret_url(self, name: str, version: str | None = None) -> str:
        """The Key Vault reference a task file would use: `https://<vault>/secrets/<name>[/<version>]`."""
        return f"{self.vault_url}/secrets/{name}" + (f"/{version}" if version else "")

    def environ(self) -> dict[str, str]:
        """What a process needs to reach the double with unmodified Azure SDKs (App Service identity)."""
        return {
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
            "REQUESTS_CA_BUNDLE": str(self.ca_path),
        }

    # --- set-up ----------------------------------------------------------------------------------

    def add_identity(self, client_id: str | None = None) -> str:
        """Register a user-assigned identity; returns its client id."""
        client_id = (client_id or str(uuid.uuid4())).lower()
        with self._lock:
            self._identities[client_id] = str(uuid.uuid4())
        return client_id

    def grant(self, identity: str) -> None:
        """Give `identity` (SYSTEM or a client id) 'get' on every secret, like a vault access policy."""
        with self._lock:
            self._grants.add(identity.lower())

    def set_secret(
        self,
        name: str,
        value: str,
        *,
        version: str | None = None,
        enabled: bool = True,
        allowed: Iterable[str] = (SYSTEM,),
        content_type: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Add a version (the new latest) of secret `name`; returns the version id.

        `allowed` replaces who may read the secret: SYSTEM and/or client ids.
        """
        version = version or uuid.uuid4().hex
        with self._lock:
            secret = self._secrets.setdefault(name.lower(), _Secret(name))
            secret.versions = [item for item in secret.versions if item.version != version]
            secret.versions.append(
                _Version(version, value, enabled, int(self._clock()), content_type, dict(tags or {}))
            )
            secret.allowed = {identity.lower() for identity in allowed}
        return version

    def expire_tokens(self) -> None:
        """Make every token issued so far expired, as Key Vault sees it."""
        with self._lock:
            self._tokens = {key: _Token(t.identity, t.resource, 0) for key, t in self._tokens.items()}

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self.max_in_flight = 0

    # --- behaviour (called from handler threads) -------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def issue_token(  # noqa: PLR0911 - one answer per check, as the service makes them
        self, query: Mapping[str, str], header: str | None
    ) -> tuple[int, dict[str, Any], str | None]:
        client_id = query.get("client_id")
        requested = client_id.lower() if client_id else SYSTEM
        if header is None:
            return 400, _identity_error(400, "Missing X-IDENTITY-HEADER header."), requested
        if header != self.identity_header:
            return 401, _identity_error(401, "Invalid X-IDENTITY-HEADER header."), requested
        if query.get("api-version") != IDENTITY_API_VERSION:
            return 400, _identity_error(400, "The api-version is missing or not supported."), requested
        resource = query.get("resource")
        if not resource:
            return 400, _identity_error(400, "The resource parameter is missing."), requested
        if any(key in query for key in ("principal_id", "object_id", "mi_res_id")):
            return 400, _identity_error(400, _UNKNOWN_IDENTITY), requested  # the double knows client ids only
        with self._lock:
            registered = requested if requested in self._identities else None
            known = self.system_client_id if client_id is None else registered
            if known is None:
                return 400, _identity_error(400, _UNKNOWN_IDENTITY), requested
            token = f"dbl.{secrets.token_urlsafe(32)}"
            expires_on = int(self._clock()) + self.token_lifetime_seconds
            self._tokens[token] = _Token(requested, resource.rstrip("/"), expires_on)
        body = {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": known,
        }
        return 200, body, requested

    def read_secret(  # noqa: PLR0911 - one answer per check, in Key Vault's order
        self, name: str, version: str | None, authorization: str | None
    ) -> tuple[int, dict[str, Any], str | None, dict[str, str]]:
        """(status, body, identity, extra headers) for one secrets GET."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return 401, _vault_error("Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."), None, {}
        with self._lock:
            issued = self._tokens.get(token.strip())
        if issued is None:
            return 401, _vault_error("Unauthorized", "AKV10022: Invalid token."), None, self._challenge("invalid_token")
        if issued.expires_on <= self._clock():
            return 401, _vault_error("Unauthorized", "AKV10032: Token expired."), None, self._challenge("invalid_token")
        if issued.resource != KEY_VAULT_RESOURCE:
            message = f"AKV10022: Invalid audience. Expected {KEY_VAULT_RESOURCE}, found: {issued.resource}."
            return 401, _vault_error("Unauthorized", message), None, self._challenge("invalid_token")
        identity = issued.identity
        if not _SECRET_NAME.match(name):
            return 400, _vault_error("BadParameter", f"The secret name '{name}' is not valid."), identity, {}
        with self._lock:
            secret = self._secrets.get(name.lower())
            may_read = identity in self._grants or (secret is not None and identity in secret.allowed)
            found = None
            if secret is not None and secret.versions:
                found = (
                    secret.versions[-1]
                    if not version
                    else next((item for item in secret.versions if item.version == version), None)
                )
        if not may_read:
            return 403, self._access_denied(identity), identity, {}
        if secret is None or found is None:
            shown = f"{name}/{version}" if version else name
            message = (
                f"A secret with (name/id) {shown} was not found in this key vault. If you recently deleted "
                "this secret you may be able to recover it using the correct recovery command. For help "
                "resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
            )
            return 404, _vault_error("SecretNotFound", message), identity, {}
        if not found.enabled:
            body = _vault_error(
                "Forbidden", "Operation get is not allowed on a disabled secret.", inner="SecretDisabled"
            )
            return 403, body, identity, {}
        self._enter()
        try:
            if self.delay_seconds:
                self._stopping.wait(self.delay_seconds)
        finally:
            self._leave()
        body = {
            "value": found.value,
            "id": f"{self.vault_url}/secrets/{secret.name}/{found.version}",
            "attributes": {
                "enabled": True,
                "created": found.created,
                "updated": found.created,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
            },
            "tags": found.tags,
        }
        if found.content_type:
            body["contentType"] = found.content_type
        return 200, body, identity, {}

    def challenge_header(self) -> str:
        authority = f"https://login.microsoftonline.com/{self.tenant_id}"
        return f'Bearer authorization="{authority}", resource="{KEY_VAULT_RESOURCE}"'

    def _challenge(self, error: str | None = None) -> dict[str, str]:
        header = self.challenge_header() + (f', error="{error}"' if error else "")
        return {"WWW-Authenticate": header}

    def _access_denied(self, identity: str) -> dict[str, Any]:
        client = self.system_client_id if identity == SYSTEM else identity
        with self._lock:
            object_id = self._identities.get(identity, "00000000-0000-0000-0000-000000000000")
        message = (
            f"The user, group or application 'appid={client};oid={object_id};iss=https://sts.windows.net/"
            f"{self.tenant_id}/' does not have secrets get permission on key vault 'double;location=local'. "
            "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"
        )
        return _vault_error("Forbidden", message, inner="AccessDenied")

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


def _identity_error(status: int, message: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}


def _vault_error(code: str, message: str, *, inner: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner:
        error["innererror"] = {"code": inner}
    return {"error": error}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        double: KeyVaultDouble,
        tls: ssl.SSLContext | None,
    ) -> None:
        super().__init__(address, handler)
        self.double = double
        self.tls = tls

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(10)
        try:
            connection = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. a client that does not trust the test CA hangs up during the handshake
        try:
            super().finish_request(connection, client_address)
        finally:
            connection.close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    service: ClassVar[Literal["identity", "keyvault"]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send_json(self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _split(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))

    def _refuse_method(self) -> None:
        self._send_json(405, _vault_error("BadParameter", f"Method {self.command} is not supported by the double."))

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse_method


class _IdentityHandler(_Handler):
    service = "identity"

    def do_GET(self) -> None:
        path, query = self._split()
        header = self.headers.get("X-IDENTITY-HEADER")
        if path != IDENTITY_PATH:
            status, body, identity = 404, _identity_error(404, f"No endpoint at {path}."), None
        else:
            status, body, identity = self.server.double.issue_token(query, header)
        self._send_json(status, body)
        record = RecordedRequest("identity", "GET", path, query, header is not None, identity, status)
        self.server.double._record(record)


class _VaultHandler(_Handler):
    service = "keyvault"

    def do_GET(self) -> None:
        double = self.server.double
        path, query = self._split()
        authorization = self.headers.get("Authorization")
        match = _SECRET_PATH.match(path)
        name = match["name"] if match else None
        version = (match["version"] or None) if match else None
        headers: dict[str, str] = {}
        identity = None
        if match is None:
            status, body = 404, _vault_error("NotFound", f"The double serves /secrets/<name>[/<version>], not {path}.")
        elif "api-version" not in query:
            status, body = (
                400,
                _vault_error("BadParameter", "The request URI contains an invalid or missing api-version."),
            )
        else:
            assert name is not None
            status, body, identity, headers = double.read_secret(name, version, authorization)
        if status == 401:
            headers.setdefault("WWW-Authenticate", double.challenge_header())
        self._send_json(status, body, headers)
        record = RecordedRequest(
            "keyvault", "GET", path, query, authorization is not None, identity, status, name, version
        )
        double._record(record)


def _serve(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.keyvault_double", description=__doc__.split("\n")[0])
    parser.add_argument("--vault-port", type=int, default=0)
    parser.add_argument("--identity-port", type=int, default=0)
    parser.add_argument("--identity-header", default=None)
    parser.add_argument("--ca-out", type=Path, default=None, help="also write the test CA (PEM) here")
    parser.add_argument("--config", type=Path, default=None, help="JSON: identities, grants, secrets")
    args = parser.parse_args(argv)
    double = KeyVaultDouble(
        vault_port=args.vault_port, identity_port=args.identity_port, identity_header=args.identity_header
    )
    config = json.loads(args.config.read_text(encoding="utf-8")) if args.config else {}
    for client_id in config.get("identities", []):
        double.add_identity(client_id)
    for identity in config.get("grants", []):
        double.grant(identity)
    for item in config.get("secrets", []):
        double.set_secret(
            item["name"],
            item["value"],
            version=item.get("version"),
            enabled=item.get("enabled", True),
            allowed=item.get("allowed", [SYSTEM]),
        )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with double:
        environ = double.environ()
        if args.ca_out:
            shutil.copyfile(double.ca_path, args.ca_out)
            environ["REQUESTS_CA_BUNDLE"] = str(args.ca_out.resolve())
        ready = {
            "vault_url": double.vault_url,
            "identity_endpoint": double.identity_endpoint,
            "identity_header": double.identity_header,
            "tenant_id": double.tenant_id,
            "environ": environ,
        }
        print(f"keyvault double ready {json.dumps(ready)}", flush=True)
        stop.wait()


if __name__ == "__main__":
    _serve()
