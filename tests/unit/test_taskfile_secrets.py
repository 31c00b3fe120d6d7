"""Secrets are read in a first rendering, resolved through the resolver port, rendered in a second
pass, and never appear in an error message."""

from __future__ import annotations

import base64

import pytest

from core.errors import InvalidTaskFile
from core.taskfile import InMemorySecretResolver, SecretSpec, load_task_file
from core.taskfile.secrets import keyvault_url_problem
from tests.unit.taskfiles import IMAGES, RUN, load, load_error

URL = "https://myvault.vault.azure.net/secrets/password"
SECRET = "s3cr3t-Passw0rd"


def test_a_secret_is_rendered_into_the_task_in_a_second_pass() -> None:
    task = load(
        f"secrets:\n  - id: pw\n    keyvault: {URL}\n"
        "steps:\n  - cmd: bash login\n    env: ['PW={{.Secrets.pw}}']\n",
        secrets={URL: SECRET},
    )

    assert task.steps[0].env == (f"PW={SECRET}",)
    assert task.secrets == (SecretSpec("pw", URL),)


def test_the_resolver_gets_every_spec_once_with_urls_rendered_from_values() -> None:
    resolver = InMemorySecretResolver({URL: SECRET, URL + "2/v1": "other"})

    load_task_file(
        "secrets:\n  - id: a\n    keyvault: {{.Values.vault}}\n  - id: b\n    keyvault: {{.Values.vault}}2/v1\n"
        "    clientID: 00000000-0000-0000-0000-000000000001\nsteps:\n  - cmd: x\n",
        file_name="acb.yaml",
        run=RUN,
        values={"vault": URL},
        image_aliases=IMAGES,
        secret_resolver=resolver,
    )

    assert resolver.requests == [
        (SecretSpec("a", URL), SecretSpec("b", URL + "2/v1", "00000000-0000-0000-0000-000000000001"))
    ]


def test_a_file_that_only_mentions_secrets_needs_no_resolver() -> None:
    task = load_task_file(
        "# no secrets: here\nsteps:\n  - cmd: x\n", file_name="acb.yaml", run=RUN, values={}, image_aliases=IMAGES
    )

    assert task.secrets == ()


def test_secrets_without_a_resolver_are_an_error() -> None:
    with pytest.raises(InvalidTaskFile) as caught:
        load_task_file(
            f"secrets:\n  - id: pw\n    keyvault: {URL}\nsteps:\n  - cmd: x\n",
            file_name="acb.yaml",
            run=RUN,
            values={},
            image_aliases=IMAGES,
        )

    assert caught.value.message.startswith("acb.yaml:2:5: this task file reads secrets from Key Vault, but")


def test_a_secret_the_vault_does_not_have_is_an_error() -> None:
    error = load_error(f"secrets:\n  - id: pw\n    keyvault: {URL}\nsteps:\n  - cmd: x\n")

    assert error.message.startswith(f"acb.yaml:2:5: secrets[0]: secret 'pw' was not found at {URL}")


def test_secrets_are_read_even_when_the_first_rendering_is_not_yet_valid_yaml() -> None:
    task = load(
        f'secrets:\n  - id: quote\n    keyvault: {URL}\nsteps:\n  - cmd: "echo {{{{.Secrets.quote}}}}\n',
        secrets={URL: '"'},
    )

    assert task.steps[0].cmd == "echo "


LEAKS = [
    pytest.param("steps:\n  - cmd: x\n    timeout: {{.Secrets.pw}}\n", id="secret as a number"),
    pytest.param("steps:\n  - cmd: x\n    env: ['{{.Secrets.pw}}']\n", id="secret as an env entry"),
    pytest.param("steps:\n  - cmd: x\n    {{.Secrets.pw}}: 1\n", id="secret as a property name"),
    pytest.param("steps:\n  - cmd: echo {{.Secrets.pw}}: x\n", id="secret in a YAML syntax error"),
    pytest.param("steps:\n  - cmd: x\n{{.Secrets.pw}}\n", id="secret on a line of its own"),
    pytest.param("steps:\n  - id: a\n    cmd: x\n    when: ['{{.Secrets.pw}}']\n", id="secret as a step id"),
    pytest.param("steps:\n  - cmd: x\n    when: ['{{.Secrets.pw | b64enc}}']\n", id="base64 of a secret"),
    pytest.param(
        "volumes:\n  - name: v\n    secret: {f: '{{.Secrets.pw}}'}\nsteps:\n  - cmd: x\n",
        id="secret not base64 encoded",
    ),
]


@pytest.mark.parametrize("body", LEAKS)
def test_resolved_secret_values_never_appear_in_errors(body: str) -> None:
    error = load_error(f"secrets:\n  - id: pw\n    keyvault: {URL}\n{body}", secrets={URL: SECRET})

    assert SECRET not in error.message
    assert base64.b64encode(SECRET.encode()).decode() not in error.message
    assert SECRET not in (error.target or "")
    assert error.message.startswith("acb.yaml:")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "it is empty"),
        ("https://tee", "the host must be the vault's DNS name"),
        ("https://test.vault.azure.net/secrets/mysecret/mysecretversion/latest", "the path must be"),
        ("https://test.vault.azure.net/secrets/mysecret//mysecretversion", "the path must be"),
        ("tcp://test.vault.azure.net/secrets/mysecret/mysecretversion", "it must start with https://"),
        ("/secrets/mysecret/mysecretversion", "it must start with https://"),
        ("https://test.vault.azure.net/keys/mykey", "the path must be"),
        ("https://test.vault.azure.net/secrets/", "the path must be"),
        ("https://test.vault.azure.net/secrets//v1", "the secret name and version cannot be empty"),
        ("https://test.vault.azure.net/secrets/a?x=1", "it cannot have a query or fragment"),
        ("https://test.vault.azure.net/secrets/mysecret/mysecretversion", None),
        ("https://test.vault.azure.net/secrets/mysecret/mysecretversion/", None),
        ("https://test.vault.azure.net/secrets/mysecret", None),
        ("https://test.vault.azure.net/secrets/mysecret/", None),
        ("HTTPS://Test.Vault.Azure.Net/Secrets/MySecret", None),
    ],
)
def test_key_vault_urls_have_the_secrets_collection_a_name_and_an_optional_version(
    url: str, problem: str | None
) -> None:
    result = keyvault_url_problem(url)  # acb vaults/azurekeyvault_test.go TestNewAKVSecretConfig

    assert result == problem if problem is None else (result is not None and result.startswith(problem))


def test_resolved_secret_values_never_appear_in_warnings() -> None:
    task = load(
        f"secrets:\n  - id: pw\n    keyvault: {URL}\nsteps:\n  - id: '{{{{.Secrets.pw}}}}'\n    cmd: a\n"
        "  - cmd: b\n    when: ['{{.Secrets.pw}}', '{{.Secrets.pw}}']\n",
        secrets={URL: SECRET},
    )

    assert task.warnings == ("steps[1].when: step 'acb_step_1' lists '***' twice; it waits for it once",)
    assert task.steps[1].depends_on == (SECRET,)
