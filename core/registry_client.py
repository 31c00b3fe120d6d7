"""Polling for base images whose registries send no events (Docker Hub, MCR, anyone's registry).

`RegistryClient.manifest_digest` asks the Registry HTTP API v2 which manifest a tag points at:
`HEAD /v2/<repository>/manifests/<tag>` accepting Docker v2 manifests and manifest lists and OCI
manifests and indexes, reading `Docker-Content-Digest`. A `401` with
`WWW-Authenticate: Bearer realm=...,service=...,scope=...` is answered with the token flow (anonymous
for public images, basic credentials when configured for the registry); `Basic` challenges get the
configured credentials. Docker Hub's names (`registry.hub.docker.com`, `docker.io`) are served by
`registry-1.docker.io`. Loopback registries are spoken to over http, everything else over https.

`poll_tracked_images` checks each tracked tag at most once per interval (claimed with an ETag so two
pollers never both check it) and returns synthetic `ImagePushed` events for tags whose digest changed;
feed them to `core.base_images.tasks_to_trigger`. httpx errors become `RegistryError`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from core.base_images import HEAD_ROW, INDEX_TABLE, TRACKED_PARTITION, image_partition, tracked_image_keys
from core.dockerfile_deps import DOCKER_HUB_REGISTRY, ImageReference, parse_image_reference
from core.errors import ConcurrentUpdate, RegistryError
from core.ports import TableStore
from core.registry_events import ImagePushed

MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
DOCKER_HUB_API = "registry-1.docker.io"
_DOCKER_HUB_NAMES = frozenset({DOCKER_HUB_REGISTRY, "docker.io", "index.docker.io", DOCKER_HUB_API})
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')
_DEFAULT_TOKEN_SECONDS = 60  # the token spec's default when `expires_in` is absent
Credentials = tuple[str, str]  # (username, password)


class DigestSource(Protocol):
    def manifest_digest(self, reference: ImageReference) -> str | None: ...


def api_host(registry: str) -> str:
    """The host that serves a registry's API: Docker Hub's names map to registry-1.docker.io."""
    host = registry.lower()
    return DOCKER_HUB_API if host in _DOCKER_HUB_NAMES else host


def api_base_url(registry: str) -> str:
    host = api_host(registry)
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    scheme = "http" if name in _LOOPBACK or name.startswith("127.") else "https"
    return f"{scheme}://{host}"


class RegistryClient:
    """Manifest digests over the Registry HTTP API, with bearer tokens cached until they expire."""

    def __init__(
        self,
        *,
        credentials: Mapping[str, Credentials] | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = {api_host(k): v for k, v in (credentials or {}).items()}
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=True)
        self._clock = clock
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}  # (host, repository) -> (header, expiry)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def manifest_digest(self, reference: ImageReference) -> str | None:
        """The digest the tag points at, or None if the registry has no such tag (404)."""
        host = api_host(reference.registry)
        name = f"{reference.registry}/{reference.repository}:{reference.tag}"
        url = f"{api_base_url(reference.registry)}/v2/{reference.repository}/manifests/{reference.tag}"
        try:
            response = self._request("HEAD", url, host, reference.repository)
            if response.status_code == 200 and not response.headers.get("docker-content-digest"):
                # Some registries leave the header off HEAD answers; the digest is the body's sha256.
                response = self._request("GET", url, host, reference.repository)
                if response.status_code == 200:
                    return f"sha256:{hashlib.sha256(response.content).hexdigest()}"
        except httpx.TimeoutException as error:
            raise RegistryError(f"{host} did not answer in time for {name}; polling will try again") from error
        except httpx.HTTPError as error:
            raise RegistryError(f"cannot reach {host} for {name}: {error}") from error
        if response.status_code == 404:
            return None
        if response.status_code == 200:
            return response.headers["docker-content-digest"]
        raise RegistryError(_refusal(host, name, response))

    def _request(self, method: str, url: str, host: str, repository: str) -> httpx.Response:
        headers = {"Accept": MANIFEST_ACCEPT}
        cached = self._tokens.get((host, repository))
        if cached and cached[1] > self._clock():
            headers["Authorization"] = cached[0]
        response = self._http.request(method, url, headers=headers)
        if response.status_code != 401:
            return response
        authorization = self._answer_challenge(response.headers.get("www-authenticate", ""), host, repository)
        if authorization is None:
            return response
        headers["Authorization"] = authorization
        return self._http.request(method, url, headers=headers)

    def _answer_challenge(self, challenge: str, host: str, repository: str) -> str | None:
        scheme, _, rest = challenge.strip().partition(" ")
        credentials = self._credentials.get(host)
        if scheme.lower() == "basic":
            if credentials is None:
                return None
            return "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
        if scheme.lower() != "bearer":
            return None
        params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _CHALLENGE_PARAM.finditer(rest)}
        realm = params.get("realm", "")
        realm_parts = urlsplit(realm)
        realm_host = (realm_parts.hostname or "").lower()
        if realm_parts.scheme != "https" and not (realm_parts.scheme == "http" and realm_host in _LOOPBACK):
            raise RegistryError(f"{host} asks for a token from '{realm}', which is not an https URL; refusing")
        query = {"service": params.get("service", host)}
        query["scope"] = params.get("scope") or f"repository:{repository}:pull"
        auth = httpx.BasicAuth(*credentials) if credentials else None
        answer = self._http.get(realm, params=query, auth=auth)
        if answer.status_code != 200:
            raise RegistryError(
                f"{host}'s token service refused a pull token for {repository} ({answer.status_code}); "
                + ("check the registry credentials" if credentials else "the image may be private")
            )
        body = answer.json()
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{host}'s token service answered without a token")
        lifetime = int(body.get("expires_in") or _DEFAULT_TOKEN_SECONDS)
        header = f"Bearer {token}"
        self._tokens[(host, repository)] = (header, self._clock() + max(lifetime - 10, 1))
        return header


def _parse_time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _refusal(host: str, name: str, response: httpx.Response) -> str:
    status = response.status_code
    if status == 401:
        return f"{host} refused to show {name} (401); give Slipway credentials for {host} if the image is private"
    if status == 429:
        return f"{host} is rate-limiting manifest checks of {name} (429); polling will try again later"
    return f"{host} answered {status} when asked for the manifest of {name}"


def manifest_digest(
    reference: ImageReference | str,
    *,
    auth: Credentials | None = None,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> str | None:
    """The digest `reference`'s tag points at in its registry, or None; e.g. `manifest_digest("node:20")`."""
    ref = parse_image_reference(reference) if isinstance(reference, str) else reference
    credentials = {ref.registry: auth} if auth else None
    with RegistryClient(credentials=credentials, timeout=timeout, transport=transport) as client:
        return client.manifest_digest(ref)


@dataclass(frozen=True)
class TrackedTag:
    """A tag some task tracks (or once tracked), for the poller."""

    image: str
    registry: str
    repository: str
    tag: str
    polled_at: datetime | None
    etag: str


def tracked_tags(store: TableStore) -> list[TrackedTag]:
    return [
        TrackedTag(
            image=str(p["Image"]),
            registry=str(p["Registry"]),
            repository=str(p["Repository"]),
            tag=str(p["Tag"]),
            polled_at=_parse_time(p.get("PolledAt")),
            etag=e.etag,
        )
        for e in store.query(INDEX_TABLE, TRACKED_PARTITION)
        for p in (e.properties,)
    ]


def claim_poll(store: TableStore, tag: TrackedTag, now: datetime) -> bool:
    """Mark the tag polled at `now`; False if another poller claimed it since it was read."""
    partition, row = tracked_image_keys(tag.image)
    properties = {
        "PartitionKey": partition,
        "RowKey": row,
        "Image": tag.image,
        "Registry": tag.registry,
        "Repository": tag.repository,
        "Tag": tag.tag,
        "PolledAt": now.isoformat(),
    }
    try:
        store.replace(INDEX_TABLE, properties, etag=tag.etag)
    except ConcurrentUpdate:
        return False
    return True


def last_seen_digest(store: TableStore, image: str) -> tuple[str | None, bool]:
    """(the digest the tag was last seen at, or None; whether any task still tracks it), in one query."""
    rows = store.query(INDEX_TABLE, image_partition(image), limit=2)
    head = next((r for r in rows if r.properties["RowKey"] == HEAD_ROW), None)
    digest = str(head.properties.get("Digest") or "") if head else ""
    return digest or None, any(r.properties["RowKey"] != HEAD_ROW for r in rows)


@dataclass(frozen=True)
class PollFailure:
    image: str
    message: str


@dataclass(frozen=True)
class PollReport:
    pushed: tuple[ImagePushed, ...]  # synthetic events for tags whose digest changed
    checked: tuple[str, ...]  # images asked about in this round
    failed: tuple[PollFailure, ...]


def poll_tracked_images(
    store: TableStore,
    client: DigestSource,
    now: datetime,
    interval: timedelta,
    *,
    skip_registries: Collection[str] = (),
) -> PollReport:
    """Check every tracked tag not polled within `interval`; report the ones whose digest changed.

    `skip_registries` names registries that send notifications (Slipway's own), which need no polling.
    A tag nobody tracks any more is not asked about. One registry failing does not stop the others.
    """
    skipped = {api_host(r) for r in skip_registries}
    pushed: list[ImagePushed] = []
    checked: list[str] = []
    failed: list[PollFailure] = []
    for tag in tracked_tags(store):
        if api_host(tag.registry) in skipped or (tag.polled_at is not None and now - tag.polled_at < interval):
            continue
        if not claim_poll(store, tag, now):
            continue
        seen, tracked = last_seen_digest(store, tag.image)
        if not tracked:
            continue
        checked.append(tag.image)
        reference = ImageReference(tag.registry, tag.repository, tag.tag, "", tag.image)
        try:
            digest = client.manifest_digest(reference)
        except RegistryError as error:
            failed.append(PollFailure(tag.image, error.message))
            continue
        if digest is not None and digest != seen:
            event_id = f"poll-{hashlib.sha256(tag.image.encode()).hexdigest()[:16]}-{now.strftime('%Y%m%dT%H%M%S')}"
            pushed.append(ImagePushed(tag.registry, tag.repository, tag.tag, digest, "", event_id, now))
    return PollReport(pushed=tuple(pushed), checked=tuple(checked), failed=tuple(failed))
