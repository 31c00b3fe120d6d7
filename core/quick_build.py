"""Quick builds (`az acr build`): the request, its validation, and the plan it becomes.

The request uses the field names of ACR's `DockerBuildRequest` so ACR users recognise it. A quick
build is planned as acb plans it: one build step, then one push step for every tag (§1.1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.contexts import validate_sha256, validate_source_location
from core.engine import BuildOptions
from core.errors import InvalidRequest
from core.image_names import ImageName, qualify_image_name
from core.named_values import NamedValues, Transform, parse_named_values
from core.plan import Plan, quick_build_plan

MIN_TIMEOUT = 1
MAX_TIMEOUT = 28800  # ACR's maximum run timeout (8 h)
_BUILD_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLATFORM = re.compile(r"^(linux|windows)(/(amd64|arm64|arm|386|ppc64le|s390x|riscv64)(/(v5|v6|v7|v8))?)?$")
_RUN_PLACEHOLDER = re.compile(r"\{\{")


@dataclass(frozen=True)
class QuickBuildRequest:
    source_location: str
    source_sha256: str | None
    dockerfile: str
    image_names: tuple[str, ...]
    push: bool
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: str = "linux/amd64"
    no_cache: bool = False
    timeout: int = 3600
    # `--secret-build-arg`: kept apart so they are sealed when stored and masked in the log.
    secret_build_args: Mapping[str, str] = field(default_factory=dict, repr=False)

    def to_document(self, seal: Transform | None = None) -> dict[str, Any]:
        return {
            "type": "DockerBuildRequest",
            "sourceLocation": self.source_location,
            "sourceSha256": self.source_sha256,
            "dockerFilePath": self.dockerfile,
            "imageNames": list(self.image_names),
            "isPushEnabled": self.push,
            "arguments": NamedValues(
                tuple(self.build_args.items()), tuple(self.secret_build_args.items())
            ).to_documents(seal),
            "target": self.target,
            "platform": self.platform,
            "noCache": self.no_cache,
            "timeout": self.timeout,
        }


def _string(body: Mapping[str, Any], key: str, *, default: str | None = None) -> str | None:
    value = body.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{key} must be a string, got {type(value).__name__}", target=key)
    return value


def _bool(body: Mapping[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"{key} must be true or false", target=key)
    return value


def parse_platform(value: Any) -> str:
    if value is None:
        return "linux/amd64"
    if isinstance(value, Mapping):
        parts = [value.get("os") or "linux", value.get("architecture"), value.get("variant")]
        value = "/".join(str(p).lower() for p in parts if p)
    if not isinstance(value, str) or not _PLATFORM.match(value.lower()):
        raise InvalidRequest(
            f"platform {value!r} is not supported; use os[/arch[/variant]] such as linux, linux/amd64, "
            "linux/arm64 or linux/arm/v7",
            target="platform",
        )
    text = value.lower()
    return text if "/" in text else f"{text}/amd64"


def parse_timeout(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
        raise InvalidRequest(
            f"timeout must be a whole number of seconds from {MIN_TIMEOUT} to {MAX_TIMEOUT}, got {value!r}",
            target="timeout",
        )
    return value


def parse_quick_build_request(
    body: Mapping[str, Any], *, default_timeout: int, open_secret: Transform | None = None
) -> QuickBuildRequest:
    """Validate a `DockerBuildRequest` body; every problem names the field at fault."""
    kind = body.get("type", "DockerBuildRequest")
    if kind != "DockerBuildRequest":
        raise InvalidRequest(f"type {kind!r} is not supported here; use 'DockerBuildRequest'", target="type")
    dockerfile = _string(body, "dockerFilePath", default="Dockerfile") or "Dockerfile"
    if dockerfile.startswith("/") or ".." in dockerfile.split("/"):
        raise InvalidRequest(
            f"dockerFilePath {dockerfile!r} must be a path inside the context, like 'Dockerfile' or 'src/Dockerfile'",
            target="dockerFilePath",
        )
    names = body.get("imageNames") or []
    if not isinstance(names, Sequence) or isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise InvalidRequest("imageNames must be a list of strings", target="imageNames")
    target = _string(body, "target")
    arguments = parse_named_values(
        body.get("arguments"), field_name="arguments", open_secret=open_secret, name_pattern=_BUILD_ARG_NAME
    )
    return QuickBuildRequest(
        source_location=validate_source_location(body.get("sourceLocation")),
        source_sha256=validate_sha256(body.get("sourceSha256")),
        dockerfile=dockerfile,
        image_names=tuple(names),
        push=_bool(body, "isPushEnabled", True),
        build_args=dict(arguments.plain),
        secret_build_args=dict(arguments.secret),
        target=target or None,
        platform=parse_platform(body.get("platform")),
        no_cache=_bool(body, "noCache", False),
        timeout=parse_timeout(body.get("timeout"), default_timeout),
    )


def request_from_document(document: Mapping[str, Any], open_secret: Transform | None = None) -> QuickBuildRequest:
    return parse_quick_build_request(
        document, default_timeout=int(document.get("timeout") or 3600), open_secret=open_secret
    )


def render_image_names(request: QuickBuildRequest, run: Mapping[str, str], *, registry: str) -> tuple[ImageName, ...]:
    """Render `{{.Run.X}}` in tags (acb renders only `.Run` for builds) and qualify them."""
    return render_tags(request.image_names, run, registry=registry)


def render_tags(tags: Sequence[str], run: Mapping[str, str], *, registry: str) -> tuple[ImageName, ...]:
    names: list[ImageName] = []
    for index, raw in enumerate(tags):
        text = raw
        if _RUN_PLACEHOLDER.search(raw):
            from core.templating import render_template

            text = render_template(raw, {"Run": dict(run)}, name=f"imageNames[{index}]")
        name = qualify_image_name(text, registry, where=f"imageNames[{index}]")
        if name not in names:
            names.append(name)
    return tuple(names)


def plan_quick_build(request: QuickBuildRequest, images: tuple[ImageName, ...]) -> Plan:
    options = BuildOptions(
        dockerfile=request.dockerfile,
        tags=tuple(i.reference for i in images),
        build_args={**request.build_args, **request.secret_build_args},
        target=request.target,
        platform=request.platform,
        no_cache=request.no_cache,
    )
    return quick_build_plan(options, push=request.push)
