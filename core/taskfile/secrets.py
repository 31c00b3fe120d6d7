"""The `secrets:` section: Key Vault references, their resolution port, and keeping values out of errors.

A task file is rendered twice when it mentions secrets (acb does the same): once with an empty
`.Secrets` so the `secrets:` section can be read (its URLs may come from `.Values`), then again with
the values the resolver returns. Resolved values are removed from every error message we raise.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol
from urllib.parse import urlsplit

from yaml.nodes import Node

from core.errors import InvalidTaskFile
from core.taskfile.model import SecretSpec
from core.taskfile.parse import Reader
from core.taskfile.positions import quote

SECRET_KEYS = ("id", "keyvault", "clientID")
_GUID = re.compile(r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_POSITION = re.compile(r"\A.*?:\d+:\d+: ")
_URL_FORMAT = "https://<vault>.vault.azure.net/secrets/<name>[/<version>]"
_MASK = "***"


class SecretResolver(Protocol):
    """Resolves Key Vault secrets to their values (the Key Vault adapter implements this)."""

    def resolve_secrets(self, specs: Sequence[SecretSpec]) -> Mapping[str, str]:
        """Values by secret id; raises a `SlipwayError` naming the secret (never a value) on failure."""
        ...


class InMemorySecretResolver:
    """A Key Vault stand-in for tests: values by secret URL, and a record of what was asked."""

    def __init__(self, values_by_url: Mapping[str, str]) -> None:
        self._values = dict(values_by_url)
        self.requests: list[tuple[SecretSpec, ...]] = []

    def resolve_secrets(self, specs: Sequence[SecretSpec]) -> Mapping[str, str]:
        self.requests.append(tuple(specs))
        return {spec.id: self._values[spec.keyvault] for spec in specs if spec.keyvault in self._values}


def read_secrets(reader: Reader, node: Node | None) -> list[tuple[SecretSpec, Node]]:
    """The `secrets:` entries, validated as acb does (plus the URL and GUID formats)."""
    if node is None:
        return []
    found: list[tuple[SecretSpec, Node]] = []
    seen: dict[str, Node] = {}
    for index, item in enumerate(reader.items(node, target="secrets", example="[{id: name, keyvault: https://…}]")):
        target = f"secrets[{index}]"
        entries = reader.mapping(item, target=target, allowed=SECRET_KEYS, what="secret")
        if "id" not in entries or not reader.string(entries["id"].value, target=f"{target}.id"):
            raise reader.error(
                item, f"{target} needs an id, the name used as {{{{.Secrets.<id>}}}}", target=f"{target}.id"
            )
        id_node = entries["id"].value
        secret_id = reader.string(id_node, target=f"{target}.id")
        if any(char.isspace() for char in secret_id):
            raise reader.error(
                id_node, f"{target}.id {reader.show(id_node)} cannot contain spaces", target=f"{target}.id"
            )
        if secret_id in seen:
            first = reader.line(seen[secret_id])
            raise reader.error(
                id_node,
                f"{target}.id: secret {quote(secret_id)} is declared twice (first on line {first})",
                target=f"{target}.id",
            )
        seen[secret_id] = id_node
        if "keyvault" not in entries:
            raise reader.error(
                item, f"{target}: secret {quote(secret_id)} needs keyvault: {_URL_FORMAT}", target=f"{target}.keyvault"
            )
        url_node = entries["keyvault"].value
        url = reader.string(url_node, target=f"{target}.keyvault")
        problem = keyvault_url_problem(url)
        if problem:
            raise reader.error(
                url_node,
                f"{target}.keyvault {reader.show(url_node)} is not a Key Vault secret URL ({problem}); "
                f"use {_URL_FORMAT}",
                target=f"{target}.keyvault",
            )
        client_id = None
        if "clientID" in entries:
            client_node = entries["clientID"].value
            client_id = reader.string(client_node, target=f"{target}.clientID") or None
            if client_id is not None and not _GUID.match(client_id):
                raise reader.error(
                    client_node,
                    f"{target}.clientID {reader.show(client_node)} is not a GUID; give the client ID of the "
                    "user-assigned identity, e.g. 00000000-0000-0000-0000-000000000000, or leave it out to "
                    "use the system-assigned identity",
                    target=f"{target}.clientID",
                )
        found.append((SecretSpec(secret_id, url, client_id), item))
    return found


def keyvault_url_problem(url: str) -> str | None:
    """Why `url` is not `https://<vault>/secrets/<name>[/<version>]` (acb NewAKVSecretConfig), or None."""
    parts = urlsplit(url.lower().removesuffix("/"))
    segments = parts.path.split("/")
    checks = (
        (bool(url), "it is empty"),
        (parts.scheme == "https", "it must start with https://"),
        ("." in parts.netloc, "the host must be the vault's DNS name"),
        (not parts.query and not parts.fragment, "it cannot have a query or fragment"),
        (
            len(segments) in (3, 4) and segments[1] == "secrets",
            "the path must be /secrets/<name> or /secrets/<name>/<version>",
        ),
        (all(segments[2:]), "the secret name and version cannot be empty"),
    )
    return next((problem for ok, problem in checks if not ok), None)


def redact(error: InvalidTaskFile, values: Iterable[str]) -> InvalidTaskFile:
    """`error` with every resolved secret value (and its base64 form) masked."""
    prefix = _POSITION.match(error.message)
    head = prefix.group(0) if prefix else ""
    target = mask(error.target, values) if error.target else error.target
    return InvalidTaskFile(head + mask(error.message[len(head) :], values), target=target)


def mask(text: str, values: Iterable[str]) -> str:
    """`text` with every secret value in `values` (and its base64 form) replaced by ***."""
    forms: set[str] = set()
    for value in values:
        if value:
            forms.update((value, base64.b64encode(value.encode()).decode()))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, _MASK)
    return text
