"""Task-file secrets through the real azure-identity and azure-keyvault-secrets SDKs, against the double.

Only URLs and CA trust differ from Azure: the SDKs find the double through App Service's
`IDENTITY_ENDPOINT`/`IDENTITY_HEADER` and speak HTTPS to it, challenge round trip included.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.keyvault.secrets._shared import http_challenge_cache

from core.keyvault import (
    KeyVaultSecretResolver,
    SecretFailure,
    SecretResolutionError,
    is_keyvault_reference,
    parse_reference,
)
from core.taskfile import SecretSpec
from tests.support.keyvault_double import KEY_VAULT_RESOURCE, SYSTEM, KeyVaultDouble
from tests.support.processes import start_process

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
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
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


@pytest.fixture
def double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyVaultDouble]:
    for name in OTHER_IDENTITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with KeyVaultDouble(workdir=tmp_path / "keyvault") as started:
        monkeypatch.setenv("IDENTITY_ENDPOINT", started.identity_endpoint)
        monkeypatch.setenv("IDENTITY_HEADER", started.identity_header)
        # The SDK caches Key Vault's challenge per host:port for the whole process; a reused port
        # must not skip the round trip a test wants to see.
        http_challenge_cache.clear()
        yield started
    http_challenge_cache.clear()


def resolver_for(double: KeyVaultDouble, **options: Any) -> KeyVaultSecretResolver:
    settings: dict[str, Any] = {"verify_challenge_resource": False, "connection_verify": str(double.ca_path)}
    return KeyVaultSecretResolver(**(settings | options))


def resolve_one(double: KeyVaultDouble, spec: SecretSpec, **options: Any) -> SecretResolutionError:
    with resolver_for(double, **options) as resolver, pytest.raises(SecretResolutionError) as caught:
        resolver.resolve_secrets([spec])
    return caught.value


def test_the_system_assigned_identity_reads_a_secret_after_key_vaults_challenge(double: KeyVaultDouble) -> None:
    double.set_secret("db-password", "hunter2")
    with resolver_for(double) as resolver:
        values = resolver.resolve_secrets([SecretSpec("password", double.secret_url("db-password"))])
    assert values == {"password": "hunter2"}
    seen = [(r.service, r.status, r.authorized, r.identity) for r in double.requests]
    assert seen == [
        ("keyvault", 401, False, None),  # no token yet: Key Vault answers with its challenge
        ("identity", 200, True, SYSTEM),  # the credential asks App Service's endpoint for a token
        ("keyvault", 200, True, SYSTEM),  # and the SDK repeats the read with it
    ]
    token_request = double.requests[1]
    assert token_request.query["resource"] == KEY_VAULT_RESOURCE
    assert token_request.query["api-version"] == "2019-08-01"
    assert "client_id" not in token_request.query


def test_a_user_assigned_identity_named_by_client_id_reads_the_secrets_it_may_read(double: KeyVaultDouble) -> None:
    reader = double.add_identity()
    double.set_secret("api-token", "tok-123456", allowed=(reader,))
    with resolver_for(double) as resolver:
        values = resolver.resolve_secrets([SecretSpec("token", double.secret_url("api-token"), reader.upper())])
    assert values == {"token": "tok-123456"}
    token_requests = [r for r in double.requests if r.service == "identity"]
    assert [r.query.get("client_id", "").lower() for r in token_requests] == [reader]
    assert [r.identity for r in double.requests if r.service == "keyvault" and r.status == 200] == [reader]


def test_the_local_default_credential_reaches_the_same_endpoint_when_told_to_use_managed_identity(
    double: KeyVaultDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")
    double.set_secret("db-password", "hunter2")
    with resolver_for(double, in_azure=False) as resolver:
        values = resolver.resolve_secrets([SecretSpec("password", double.secret_url("db-password"))])
    assert values == {"password": "hunter2"}


def test_a_pinned_version_is_read_instead_of_the_latest(double: KeyVaultDouble) -> None:
    first = double.set_secret("rotating", "old-value")
    double.set_secret("rotating", "new-value")
    specs = [
        SecretSpec("pinned", double.secret_url("rotating", first)),
        SecretSpec("latest", double.secret_url("rotating")),
    ]
    with resolver_for(double) as resolver:
        assert resolver.resolve_secrets(specs) == {"pinned": "old-value", "latest": "new-value"}
    assert {r.version for r in double.requests if r.service == "keyvault" and r.status == 200} == {first, None}


def test_a_missing_secret_is_reported_by_id_name_and_vault(double: KeyVaultDouble) -> None:
    double.grant(SYSTEM)
    error = resolve_one(double, SecretSpec("dbpass", double.secret_url("no-such-secret")))
    assert error.reason is SecretFailure.NOT_FOUND
    host = double.vault_url.removeprefix("https://")
    assert error.message == (
        f"secret 'dbpass' ({double.vault_url}/secrets/no-such-secret): secret 'no-such-secret' (latest version) "
        f"was not found in vault {host}"
    )
    assert error.target == "secrets.dbpass"


def test_a_missing_version_names_the_version(double: KeyVaultDouble) -> None:
    double.set_secret("rotating", "value-1")
    error = resolve_one(double, SecretSpec("s", double.secret_url("rotating", "0" * 32)))
    assert error.reason is SecretFailure.NOT_FOUND
    assert f"secret 'rotating' (version {'0' * 32}) was not found" in error.message


def test_an_identity_without_access_fails_naming_the_secret_and_vault_but_no_value(double: KeyVaultDouble) -> None:
    stranger = double.add_identity()
    double.set_secret("public", "open-sesame-1")
    double.set_secret("private", "hunter2-top-secret")  # only the system identity may read it
    specs = [
        SecretSpec("public", double.secret_url("public")),
        SecretSpec("private", double.secret_url("private"), stranger),
    ]
    with resolver_for(double) as resolver, pytest.raises(SecretResolutionError) as caught:
        resolver.resolve_secrets(specs)
    error = caught.value
    host = double.vault_url.removeprefix("https://")
    assert error.reason is SecretFailure.ACCESS_DENIED
    assert error.message.startswith(f"secret 'private' ({double.vault_url}/secrets/private): ")
    assert f"user-assigned identity (client id {stranger}) has no 'get' permission on secrets in vault {host}" in (
        error.message
    )
    assert "403 Forbidden" in error.message
    shown = " ".join([str(error), repr(error), json.dumps(error.to_body())])
    for value in ("open-sesame-1", "hunter2-top-secret"):
        assert value not in shown


def test_the_system_identity_without_access_is_named_as_such(double: KeyVaultDouble) -> None:
    reader = double.add_identity()
    double.set_secret("theirs", "not-for-system", allowed=(reader,))
    error = resolve_one(double, SecretSpec("theirs", double.secret_url("theirs")))
    assert error.reason is SecretFailure.ACCESS_DENIED
    assert "the identity (system-assigned) has no 'get' permission" in error.message


def test_a_client_id_the_platform_does_not_know_fails_before_key_vault_is_read(double: KeyVaultDouble) -> None:
    double.set_secret("db-password", "hunter2")
    unknown = "11111111-2222-3333-4444-555555555555"
    error = resolve_one(double, SecretSpec("password", double.secret_url("db-password"), unknown))
    assert error.reason is SecretFailure.IDENTITY_FAILED
    assert f"could not get a token for the user-assigned identity (client id {unknown})" in error.message
    assert "Unable to load the proper Managed Identity" in error.message
    assert [r.status for r in double.requests if r.service == "keyvault"] == [401]


def test_a_wrong_identity_header_is_reported_as_a_token_failure(
    double: KeyVaultDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-platforms-header")
    double.set_secret("db-password", "hunter2")
    error = resolve_one(double, SecretSpec("password", double.secret_url("db-password")))
    assert error.reason is SecretFailure.IDENTITY_FAILED
    assert [(r.service, r.status) for r in double.requests if r.service == "identity"] == [("identity", 401)]


def test_a_disabled_secret_version_is_reported_as_disabled(double: KeyVaultDouble) -> None:
    version = double.set_secret("old", "retired-value", enabled=False)
    error = resolve_one(double, SecretSpec("old", double.secret_url("old", version)))
    assert error.reason is SecretFailure.DISABLED
    assert f"secret 'old' (version {version})" in error.message
    assert "is disabled" in error.message


def test_at_most_five_secrets_are_read_at_once(double: KeyVaultDouble) -> None:
    names = [f"secret-{index}" for index in range(12)]
    for name in names:
        double.set_secret(name, f"value-of-{name}")
    double.delay_seconds = 0.4
    with resolver_for(double) as resolver:
        values = resolver.resolve_secrets([SecretSpec(name, double.secret_url(name)) for name in names])
    assert values == {name: f"value-of-{name}" for name in names}
    assert double.max_in_flight == 5


def test_the_concurrency_limit_is_configurable(double: KeyVaultDouble) -> None:
    for index in range(4):
        double.set_secret(f"s{index}", f"v{index}")
    double.delay_seconds = 0.3
    with resolver_for(double, max_concurrency=2) as resolver:
        resolver.resolve_secrets([SecretSpec(f"s{index}", double.secret_url(f"s{index}")) for index in range(4)])
    assert double.max_in_flight == 2


def test_a_read_slower_than_the_timeout_fails_with_a_clear_message(double: KeyVaultDouble) -> None:
    double.set_secret("slow", "slow-value")
    double.delay_seconds = 3.0
    began = time.monotonic()
    error = resolve_one(double, SecretSpec("slow", double.secret_url("slow")), timeout_seconds=0.5)
    assert time.monotonic() - began < 2.5
    assert error.reason is SecretFailure.TIMEOUT
    assert "took longer than 0.5 s" in error.message
    assert "secret 'slow'" in error.message


def test_the_default_client_refuses_a_challenge_for_another_domain_and_sends_no_token(double: KeyVaultDouble) -> None:
    double.set_secret("db-password", "hunter2")
    spec = SecretSpec("password", double.secret_url("db-password"))
    error = resolve_one(double, spec, verify_challenge_resource=True)
    assert error.reason is SecretFailure.CHALLENGE
    assert "does not match" in error.message
    assert [(r.service, r.authorized) for r in double.requests] == [("keyvault", False)]


def test_an_untrusted_certificate_is_reported_as_a_tls_failure(double: KeyVaultDouble) -> None:
    double.set_secret("db-password", "hunter2")
    spec = SecretSpec("password", double.secret_url("db-password"))
    error = resolve_one(double, spec, connection_verify=None, retry_total=0)
    assert error.reason is SecretFailure.TLS
    assert "REQUESTS_CA_BUNDLE" in error.message


def test_requests_ca_bundle_alone_is_enough_to_trust_the_double(
    double: KeyVaultDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(double.ca_path))
    double.set_secret("db-password", "hunter2")
    with resolver_for(double, connection_verify=None) as resolver:
        assert resolver.resolve_secrets([SecretSpec("password", double.secret_url("db-password"))]) == {
            "password": "hunter2"
        }


def test_an_unreachable_vault_is_reported_as_unreachable(double: KeyVaultDouble) -> None:
    with KeyVaultDouble() as gone:
        url = gone.secret_url("anything")
    error = resolve_one(double, SecretSpec("x", url), retry_total=0)
    assert error.reason is SecretFailure.UNREACHABLE
    assert "could not reach vault 127.0.0.1:" in error.message


def test_service_settings_may_be_key_vault_references(double: KeyVaultDouble) -> None:
    double.set_secret("webhook-secret", "whsec-42")
    url = double.secret_url("webhook-secret")
    with resolver_for(double) as resolver:
        assert resolver.resolve_reference(url) == "whsec-42"
        assert resolver.resolve_setting(f"@Microsoft.KeyVault(SecretUri={url})") == "whsec-42"
        assert resolver.resolve_setting("plain-value") == "plain-value"
    assert is_keyvault_reference(url)
    assert not is_keyvault_reference("hunter2")
    reference = parse_reference(url + "/abc")
    assert reference is not None
    assert (reference.name, reference.version) == ("webhook-secret", "abc")


def test_credentials_and_clients_are_reused_across_calls(double: KeyVaultDouble) -> None:
    double.set_secret("a", "value-a")
    double.set_secret("b", "value-b")
    with resolver_for(double) as resolver:
        resolver.resolve_secrets([SecretSpec("a", double.secret_url("a"))])
        resolver.resolve_secrets([SecretSpec("b", double.secret_url("b"))])
    assert [r.service for r in double.requests].count("identity") == 1
    assert [r.status for r in double.requests if r.service == "keyvault"] == [401, 200, 200]


def test_the_double_rejects_expired_and_unknown_tokens_with_a_challenge(double: KeyVaultDouble) -> None:
    double.set_secret("db-password", "hunter2")
    token = requests.get(
        double.identity_endpoint,
        params={"resource": KEY_VAULT_RESOURCE, "api-version": "2019-08-01"},
        headers={"X-IDENTITY-HEADER": double.identity_header},
        timeout=10,
    ).json()["access_token"]
    url = double.secret_url("db-password") + "?api-version=7.6"

    def read(bearer: str) -> requests.Response:
        return requests.get(url, headers={"Authorization": f"Bearer {bearer}"}, verify=str(double.ca_path), timeout=10)

    assert read(token).json()["value"] == "hunter2"
    assert read("made-up").status_code == 401
    double.expire_tokens()
    expired = read(token)
    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"].startswith('Bearer authorization="https://login.microsoftonline.com/')


def test_the_double_runs_as_a_separate_process_for_the_functions_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in OTHER_IDENTITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "secrets.json"
    config.write_text(json.dumps({"secrets": [{"name": "db-password", "value": "hunter2"}]}), encoding="utf-8")
    command = [sys.executable, "-m", "tests.support.keyvault_double", "--config", str(config)]
    command += ["--ca-out", str(tmp_path / "ca.pem")]
    with start_process(command, ready=r"keyvault double ready (\{.*\})", cwd=REPO, timeout=30) as process:
        assert process.match is not None
        ready = json.loads(process.match.group(1))
        for name, value in ready["environ"].items():
            monkeypatch.setenv(name, value)
        http_challenge_cache.clear()
        with KeyVaultSecretResolver(verify_challenge_resource=False) as resolver:
            url = f"{ready['vault_url']}/secrets/db-password"
            assert resolver.resolve_secrets([SecretSpec("password", url)]) == {"password": "hunter2"}
