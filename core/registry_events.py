"""Registry notifications, normalised: which tags now point at which manifest digests.

Four senders, one result (`ImagePushed`):

- CNCF distribution (`registry:2`, Debian's `docker-registry`): `POST` of `{"events": [...]}` with
  content type `application/vnd.docker.distribution.events.v1+json` (2.x) or `.v2+json` (3.x);
  the envelope may group unrelated events;
- an ACR webhook: one event object of the same shape;
- Event Grid, Event Grid schema: an array of `{eventType, data, ...}` where `data` is that event, and
  its subscription validation handshake (`Microsoft.EventGrid.SubscriptionValidationEvent`);
- Event Grid, CloudEvents 1.0: structured (`{specversion, type, data}`, alone or in a batch) or
  binary (`ce-type` header, the event in the body), and the abuse-protection handshake (`OPTIONS`
  with `WebHook-Request-Origin`).

Only a manifest (image, manifest list, OCI manifest or index) pushed *by tag* is a base-image update;
everything else is returned as an `IgnoredEvent` with the reason, so the caller can log why a
notification started nothing. `classify_registry_request` is the one entry point for an HTTP trigger;
authenticate first with `verify_event_token`.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.dockerfile_deps import parse_image_reference
from core.errors import InvalidRequest, SlipwayError, Unauthorized

MANIFEST_MEDIA_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    }
)
IMAGE_PUSHED = "Microsoft.ContainerRegistry.ImagePushed"
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
TOKEN_HEADER = "x-slipway-token"  # noqa: S105 - a header name, not a secret
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")


@dataclass(frozen=True)
class ImagePushed:
    """A tag now points at `digest`; `registry`/`repository` are normalised as dependency reports are."""

    registry: str
    repository: str
    tag: str
    digest: str
    media_type: str
    event_id: str
    occurred_at: datetime | None = None  # the event's timestamp; lets a late notification be recognised

    @property
    def image(self) -> str:
        """`registry/repository:tag`, the form the dependency index is keyed by."""
        return f"{self.registry}/{self.repository}:{self.tag}"


@dataclass(frozen=True)
class IgnoredEvent:
    event_id: str
    reason: str


@dataclass(frozen=True)
class RegistryEvents:
    """What a notification held: the tag pushes, and every other event with why it was skipped."""

    pushed: tuple[ImagePushed, ...] = ()
    ignored: tuple[IgnoredEvent, ...] = ()


@dataclass(frozen=True)
class HandshakeReply:
    """The answer to a subscription validation request; send it as is (`body` None means no body)."""

    status: int
    body: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def verify_event_token(
    headers: Mapping[str, str], expected_tokens: Iterable[str], *, header_names: Iterable[str] = (TOKEN_HEADER,)
) -> None:
    """Accept `Authorization: Bearer <token>` or a custom header (`x-slipway-token: <token>`).

    Several expected tokens allow rotation. Comparison is constant-time; `Unauthorized` otherwise, and
    the message never repeats what was sent.
    """
    lowered = _lower_keys(headers)
    presented: list[str] = []
    scheme, _, credential = lowered.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        presented.append(credential.strip())
    presented += [lowered[name.lower()].strip() for name in header_names if lowered.get(name.lower(), "").strip()]
    expected = [token.encode() for token in expected_tokens if token]
    if not expected:
        raise Unauthorized("registry notifications are refused: no event token is configured on the server")
    if not presented:
        names = ", ".join(["Authorization: Bearer", *header_names])
        raise Unauthorized(f"registry notification has no token; send it in one of: {names}")
    matched = False
    for candidate in presented:
        for token in expected:
            # Compare against every token so timing does not reveal which one (or whether any) matched.
            matched |= hmac.compare_digest(candidate.encode(), token)
    if not matched:
        raise Unauthorized("registry notification token does not match the configured token")


def classify_registry_request(
    method: str, headers: Mapping[str, str], body: bytes, *, default_registry: str
) -> HandshakeReply | RegistryEvents:
    """Turn one HTTP request from a registry or Event Grid into a handshake reply or registry events.

    `default_registry` (the login server of the registry Slipway serves) is used when an event does
    not name its host. Raises `InvalidRequest` for a body that is not a known shape.
    """
    lowered = _lower_keys(headers)
    if method.upper() == "OPTIONS":
        origin = lowered.get("webhook-request-origin", "").strip()
        if not origin:
            raise InvalidRequest(
                "OPTIONS without a WebHook-Request-Origin header is not a CloudEvents validation request",
                target="WebHook-Request-Origin",
            )
        return HandshakeReply(status=200, headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*"})
    if "ce-type" in lowered:
        envelope = {"type": lowered["ce-type"], "id": lowered.get("ce-id", ""), "data": _json(body)}
        return _collect([_cloud_event(envelope, default_registry)])
    payload = _json(body)
    if isinstance(payload, list):
        validation = _validation_code(payload)
        if validation is not None:
            return HandshakeReply(status=200, body={"validationResponse": validation})
    return parse_registry_events(payload, default_registry=default_registry)


def parse_registry_events(payload: Any, *, default_registry: str) -> RegistryEvents:
    """Normalise a decoded notification body of any supported shape (no handshakes here)."""
    if isinstance(payload, Mapping) and isinstance(payload.get("events"), list):
        return _collect(_registry_event(event, default_registry) for event in payload["events"])
    if isinstance(payload, Mapping) and "specversion" in payload:
        return _collect([_cloud_event(payload, default_registry)])
    if isinstance(payload, Mapping) and "action" in payload:
        return _collect([_registry_event(payload, default_registry)])
    if isinstance(payload, list):
        return _collect(_envelope_item(item, default_registry) for item in payload)
    raise InvalidRequest(
        'registry notification is not a known shape; expected a distribution envelope {"events": [...]}, '
        "an ACR webhook event, or Event Grid events (Event Grid or CloudEvents schema)",
        target="body",
    )


def _collect(results: Iterable[ImagePushed | IgnoredEvent]) -> RegistryEvents:
    items = list(results)
    return RegistryEvents(
        pushed=tuple(i for i in items if isinstance(i, ImagePushed)),
        ignored=tuple(i for i in items if isinstance(i, IgnoredEvent)),
    )


def _envelope_item(item: Any, default_registry: str) -> ImagePushed | IgnoredEvent:
    if isinstance(item, Mapping) and "specversion" in item:
        return _cloud_event(item, default_registry)
    if isinstance(item, Mapping) and "eventType" in item:
        event_type = str(item["eventType"])
        if event_type != IMAGE_PUSHED:
            return IgnoredEvent(str(item.get("id", "")), f"Event Grid event type {event_type} is not an image push")
        return _registry_event(item.get("data"), default_registry, fallback_id=str(item.get("id", "")))
    if isinstance(item, Mapping) and "action" in item:
        return _registry_event(item, default_registry)
    return IgnoredEvent("", "array item is neither an Event Grid event, a CloudEvent nor a registry event")


def _cloud_event(envelope: Mapping[str, Any], default_registry: str) -> ImagePushed | IgnoredEvent:
    event_type = str(envelope.get("type", ""))
    event_id = str(envelope.get("id", ""))
    if event_type != IMAGE_PUSHED:
        return IgnoredEvent(event_id, f"CloudEvents type {event_type or '(none)'} is not an image push")
    return _registry_event(envelope.get("data"), default_registry, fallback_id=event_id)


def _registry_event(event: Any, default_registry: str, *, fallback_id: str = "") -> ImagePushed | IgnoredEvent:
    if not isinstance(event, Mapping):
        return IgnoredEvent(fallback_id, "event has no registry event object")
    event_id = str(event.get("id") or fallback_id)
    target = event.get("target")
    if not isinstance(target, Mapping):
        return IgnoredEvent(event_id, "event has no target")
    media_type = str(target.get("mediaType", ""))
    repository = str(target.get("repository", ""))
    tag = str(target.get("tag") or "")
    digest = str(target.get("digest", ""))
    reason = _not_a_tag_push(str(event.get("action", "")), media_type, repository, tag, digest)
    if reason:
        return IgnoredEvent(event_id, reason)
    request = event.get("request")
    host = str(request.get("host") or "") if isinstance(request, Mapping) else ""
    try:
        registry, normalised = _normalise(host or default_registry, repository, tag)
    except SlipwayError as error:
        return IgnoredEvent(event_id, f"push names an invalid image: {error.message}")
    return ImagePushed(registry, normalised, tag, digest, media_type, event_id, _timestamp(event.get("timestamp")))


def _not_a_tag_push(action: str, media_type: str, repository: str, tag: str, digest: str) -> str | None:
    if action != "push":
        return f"action '{action}' on {repository} is not a push"
    if media_type not in MANIFEST_MEDIA_TYPES:
        return f"push of {media_type or 'an unknown media type'} to {repository} is not a manifest (a blob or layer)"
    if not tag:
        return f"manifest {digest} was pushed to {repository} by digest only; base-image triggers follow tags"
    if not _DIGEST.fullmatch(digest):
        return f"push of {repository}:{tag} has no valid digest"
    return None


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    # Go writes up to nine fractional digits; Python reads at most six.
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _normalise(registry: str, repository: str, tag: str) -> tuple[str, str]:
    """Name the image as `parse_image_reference` names a FROM line, so index keys meet."""
    host = registry.strip().lower()
    if not host:
        raise InvalidRequest("the event names no registry host and no default registry is configured")
    looks_like_host = "." in host or ":" in host or host == "localhost"
    if not looks_like_host:
        # A bare host name (`registry` on a compose network) would read as a Docker Hub namespace.
        parse_image_reference(f"localhost/{repository}:{tag}")
        return host, repository
    reference = parse_image_reference(f"{host}/{repository}:{tag}")
    return reference.registry.lower(), reference.repository


def _validation_code(payload: list[Any]) -> str | None:
    for item in payload:
        if isinstance(item, Mapping) and item.get("eventType") == SUBSCRIPTION_VALIDATION:
            data = item.get("data")
            code = data.get("validationCode") if isinstance(data, Mapping) else None
            if not isinstance(code, str) or not code:
                raise InvalidRequest("Event Grid validation event has no data.validationCode", target="data")
            return code
    return None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidRequest(f"registry notification body is not JSON: {error}", target="body") from error


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(key).lower(): str(value) for key, value in headers.items()}
