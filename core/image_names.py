"""Names of the images Slipway builds and pushes: validation, registry qualification, splitting.

`acb build` prefixes `-t` tags with the run's registry unless they already name a registry (a first
path component with a `.` or `:`, or `localhost`); we do the same, and add `:latest` when no tag is
given, as `docker push` would. (acb also leaves `library/…` names alone, meaning Docker Hub; Slipway
pushes only to registries it is configured for, so those get the configured registry too.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidRequest

# From the distribution reference grammar, simplified to what the engine accepts for tags.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_REGISTRY = re.compile(r"^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")


def names_registry(first_component: str) -> bool:
    return "." in first_component or ":" in first_component or first_component == "localhost"


@dataclass(frozen=True)
class ImageName:
    registry: str
    repository: str
    tag: str

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


def parse_image_name(reference: str, *, where: str) -> ImageName:
    """Split a fully qualified `registry/repository:tag`; `where` names the field for errors."""
    registry, slash, rest = reference.partition("/")
    if not slash or not names_registry(registry):
        raise InvalidRequest(f"{where}: {reference!r} does not start with a registry host", target=where)
    repository, colon, tag = rest.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = rest, "latest"
    if not _REGISTRY.match(registry):
        raise InvalidRequest(
            f"{where}: registry {registry!r} in {reference!r} is not a valid host[:port]", target=where
        )
    if not _REPOSITORY.match(repository):
        raise InvalidRequest(
            f"{where}: repository {repository!r} in {reference!r} is invalid; use lowercase letters, digits "
            "and the separators '.', '_', '-' between path components separated by '/'",
            target=where,
        )
    if not _TAG.match(tag):
        raise InvalidRequest(
            f"{where}: tag {tag!r} in {reference!r} is invalid; tags are up to 128 letters, digits, '_', '.' "
            "or '-' and cannot start with '.' or '-'",
            target=where,
        )
    return ImageName(registry=registry, repository=repository, tag=tag)


def qualify_image_name(name: str, registry: str, *, where: str) -> ImageName:
    """`hello:v1` → `<registry>/hello:v1`; names that already carry a registry are kept."""
    text = name.strip()
    if not text:
        raise InvalidRequest(f"{where}: the image name is empty", target=where)
    if "@" in text:
        raise InvalidRequest(f"{where}: {text!r} is a digest reference; give a tag to build and push", target=where)
    first = text.split("/", 1)[0]
    if not (names_registry(first) and "/" in text):
        text = f"{registry}/{text}"
    return parse_image_name(text, where=where)
