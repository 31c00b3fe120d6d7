"""Lists of `{name, value, isSecret}` (ACR's `values` and `arguments`), with secret entries sealed.

An API request carries secret values in plain text over TLS; the stored request document carries
them sealed (`core.sealed_values`, bound to the run and the entry's name), so neither run records
nor queue messages ever hold them in plain text. Reading the document back needs the opener.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidRequest

Transform = Callable[[str, str], str]  # (entry name, value) -> value


@dataclass(frozen=True)
class NamedValues:
    plain: tuple[tuple[str, str], ...] = ()
    secret: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def merged(self) -> dict[str, str]:
        return {**dict(self.plain), **dict(self.secret)}

    @property
    def secret_values(self) -> list[str]:
        return [value for _, value in self.secret if value]

    def to_documents(self, seal: Transform | None) -> list[dict[str, Any]]:
        """Plain entries as they are; secret entries sealed (refused if there is no way to seal them)."""
        documents: list[dict[str, Any]] = [{"name": n, "value": v, "isSecret": False} for n, v in self.plain]
        if self.secret and seal is None:
            raise InvalidRequest(
                "secret values cannot be accepted: this server has no data key to protect them at rest; "
                "set SLIPWAY_DATA_KEY (see docs/configuration.md)",
                target="isSecret",
            )
        for name, value in self.secret:
            documents.append({"name": name, "value": seal(name, value) if seal else value, "isSecret": True})
        return documents


def parse_named_values(
    value: Any, *, field_name: str, open_secret: Transform | None = None, name_pattern: re.Pattern[str] | None = None
) -> NamedValues:
    """Validate a list of `{name, value, isSecret}`; `open_secret` unseals secret entries of a stored document."""
    if value is None:
        return NamedValues()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InvalidRequest(f"{field_name} must be a list of {{name, value}} objects", target=field_name)
    plain: list[tuple[str, str]] = []
    secret: list[tuple[str, str]] = []
    for index, item in enumerate(value):
        where = f"{field_name}[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"]:
            raise InvalidRequest(f"{where} must be an object with a non-empty string 'name'", target=where)
        name = item["name"]
        if name_pattern is not None and not name_pattern.match(name):
            raise InvalidRequest(f"{where}: name {name!r} is not valid here", target=where)
        raw = item.get("value", "")
        if not isinstance(raw, str):
            raise InvalidRequest(f"{where}.value must be a string", target=f"{where}.value")
        if item.get("isSecret"):
            secret.append((name, open_secret(name, raw) if open_secret else raw))
        else:
            plain.append((name, raw))
    return NamedValues(tuple(plain), tuple(secret))


def from_pairs(pairs: Mapping[str, str] | Sequence[tuple[str, str]]) -> NamedValues:
    items = tuple(pairs.items()) if isinstance(pairs, Mapping) else tuple(pairs)
    return NamedValues(plain=items)
