"""Docker Engine API adapter (`docker` SDK) implementing `core.engine.ContainerEngine`.

Long calls (build, push, pull) stream JSON messages; we read them ourselves so that (1) output
reaches the log as it is produced, (2) errors that the engine reports inside a 200 response are not
missed, and (3) a cancel or timeout can shut the connection, which makes the engine abort the build
and remove its intermediate container. Step containers live in `core.docker_containers`, networks
and volumes in `core.docker_volumes`; this class is their one entry point and owns the API client
(one per engine, with a connection pool large enough for many parallel steps). No
`docker.errors` or `requests` type leaves these modules.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, BinaryIO

import docker
import requests
from docker.errors import DockerException, NotFound
from docker.utils import parse_repository_tag

from core import docker_containers, docker_volumes
from core.engine import (
    BuildOptions,
    Cancellation,
    ContainerExit,
    ContainerSpec,
    OperationCanceled,
    OutputSink,
    RegistryAuth,
    StepFailed,
)
from core.errors import EngineError
from core.registry_credentials import registry_of

_DECODER = json.JSONDecoder()


def _json_messages(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Decode the engine's stream of concatenated JSON objects, whatever the chunk boundaries."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode("utf-8", "replace")
        while True:
            buffer = buffer.lstrip()
            if not buffer:
                break
            try:
                message, end = _DECODER.raw_decode(buffer)
            except json.JSONDecodeError:
                break  # incomplete object: wait for more bytes
            buffer = buffer[end:]
            if isinstance(message, dict):
                yield message


def _progress_line(message: Mapping[str, Any]) -> str | None:
    """Pull/push status as the docker CLI prints it without a terminal (no progress bars)."""
    status = message.get("status")
    if not status:
        return None
    detail = message.get("progressDetail") or {}
    if detail.get("current") is not None:
        return None  # a progress tick
    layer = message.get("id")
    return f"{layer}: {status}\n" if layer else f"{status}\n"


def _auth_header(auth: RegistryAuth | None) -> dict[str, str]:
    config: dict[str, str] = {}
    if auth is not None:
        config = {"username": auth.username, "password": auth.password}
        if auth.server:
            config["serveraddress"] = auth.server
    return {"X-Registry-Auth": base64.urlsafe_b64encode(json.dumps(config).encode()).decode()}


class DockerEngine:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: int = 120,
        max_connections: int = 64,
        pull_registries: Collection[str] = (),
    ) -> None:
        self._base_url = base_url
        # Registries images may be pulled from (empty: any; a host without a port allows every port). A
        # closed list keeps runs from reaching registries the operator did not approve (and tests from
        # ever leaving the machine).
        self._pull_registries = frozenset(r.lower() for r in pull_registries)
        self._timeout = timeout
        self._max_connections = max_connections
        self._client: docker.APIClient | None = None
        self._lock = threading.Lock()

    @property
    def api(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    kwargs: dict[str, Any] = {
                        "version": "auto",
                        "timeout": self._timeout,
                        "max_pool_size": self._max_connections,
                    }
                    if self._base_url:
                        kwargs["base_url"] = self._base_url
                    self._client = docker.APIClient(**kwargs)
                except DockerException as error:
                    raise EngineError(
                        f"cannot reach the Docker engine at {self._base_url or 'the default socket'}: {error}; "
                        "start it (make up) or set DOCKER_HOST"
                    ) from error
            return self._client

    def _url(self, path: str) -> str:
        api = self.api
        return f"{api.base_url}/v{api.api_version}{path}"

    def _stream(
        self,
        path: str,
        *,
        params: Any,
        data: Any,
        headers: Mapping[str, str],
        cancellation: Cancellation,
    ) -> Iterator[dict[str, Any]]:
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        try:
            response = self.api.post(
                self._url(path), params=params, data=data, headers=dict(headers), stream=True, timeout=None
            )
        except requests.RequestException as error:
            if cancellation.is_set:
                raise OperationCanceled(cancellation.reason or "canceled") from error
            raise EngineError(f"the Docker engine did not accept {path}: {error}") from error

        def interrupt() -> None:
            # Shutting the socket unblocks the reading thread; the engine then aborts the work.
            try:
                response.raw.shutdown()
            finally:
                response.close()

        unregister = cancellation.on_cancel(interrupt)
        try:
            if response.status_code >= 400:
                body = response.text.strip()
                with contextlib.suppress(ValueError, AttributeError):
                    body = json.loads(body).get("message", body)
                raise StepFailed(body or f"engine answered HTTP {response.status_code}")
            yield from _json_messages(response.iter_content(chunk_size=None))
        except requests.RequestException as error:
            if cancellation.is_set:
                raise OperationCanceled(cancellation.reason or "canceled") from error
            raise EngineError(f"lost the connection to the Docker engine during {path}: {error}") from error
        finally:
            unregister()
            response.close()
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")

    def build(
        self,
        context: BinaryIO | Iterable[bytes],
        options: BuildOptions,
        *,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> str:
        params: dict[str, Any] = {
            "t": list(options.tags),
            "dockerfile": options.dockerfile,
            "rm": "1",
            "forcerm": "1",
            "nocache": "1" if options.no_cache else "0",
            "pull": "1" if options.pull else "",
        }
        if options.build_args:
            params["buildargs"] = json.dumps(dict(options.build_args))
        if options.target:
            params["target"] = options.target
        if options.platform:
            params["platform"] = options.platform
        if options.labels:
            params["labels"] = json.dumps(dict(options.labels))
        image_id = ""
        headers = {"Content-Type": "application/x-tar"}
        for message in self._stream("/build", params=params, data=context, headers=headers, cancellation=cancellation):
            if "stream" in message:
                on_output(str(message["stream"]))
            elif "error" in message:
                detail = message.get("errorDetail") or {}
                raise StepFailed(str(detail.get("message") or message["error"]).strip())
            elif "aux" in message and isinstance(message["aux"], dict) and "ID" in message["aux"]:
                image_id = str(message["aux"]["ID"])
            else:
                line = _progress_line(message)
                if line:
                    on_output(line)
        if not image_id and options.tags:
            image_id = self._image_id(options.tags[0])
        if not image_id:
            raise StepFailed("the build finished without producing an image")
        return image_id

    def _image_id(self, reference: str) -> str:
        try:
            return str(self.api.inspect_image(reference)["Id"])
        except NotFound:
            return ""
        except (DockerException, requests.RequestException) as error:
            raise EngineError(f"cannot inspect image {reference}: {error}") from error

    def push(
        self,
        reference: str,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> str:
        repository, _, tag = reference.rpartition(":")
        if not repository or "/" in tag:
            repository, tag = reference, "latest"
        headers = _auth_header(auth)
        digest = ""
        for message in self._stream(
            f"/images/{repository}/push",
            params={"tag": tag},
            data=None,
            headers=headers,
            cancellation=cancellation,
        ):
            if "error" in message:
                detail = message.get("errorDetail") or {}
                raise StepFailed(str(detail.get("message") or message["error"]).strip())
            aux = message.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
            line = _progress_line(message)
            if line:
                on_output(line)
        if not digest:
            raise StepFailed(f"the registry did not report a digest for {reference}")
        return digest

    def has_image(self, reference: str) -> bool:
        try:
            self.api.inspect_image(reference)
        except NotFound:
            return False
        except (DockerException, requests.RequestException) as error:
            raise EngineError(f"cannot inspect image {reference}: {error}") from error
        return True

    def repo_digests(self, reference: str) -> tuple[str, ...]:
        try:
            return tuple(self.api.inspect_image(reference).get("RepoDigests") or ())
        except NotFound:
            return ()
        except (DockerException, requests.RequestException) as error:
            raise EngineError(f"cannot inspect image {reference}: {error}") from error

    def pull(
        self,
        reference: str,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> None:
        registry = registry_of(reference)
        host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
        if self._pull_registries and not {registry, host} & self._pull_registries:
            allowed = ", ".join(sorted(self._pull_registries))
            raise StepFailed(
                f"image '{reference}' is not on the Docker engine, and pulling from {registry} is not allowed here "
                f"(SLIPWAY_PULL_REGISTRIES: {allowed}); push it to one of those registries or build it in an "
                "earlier step"
            )
        repository, tag = parse_repository_tag(reference)
        try:
            for message in self._stream(
                "/images/create",
                params={"fromImage": repository, "tag": tag or "latest"},
                data=None,
                headers=_auth_header(auth),
                cancellation=cancellation,
            ):
                if "error" in message:
                    detail = message.get("errorDetail") or {}
                    raise StepFailed(str(detail.get("message") or message["error"]).strip())
                line = _progress_line(message)
                if line:
                    on_output(line)
        except StepFailed as failure:
            raise StepFailed(
                f"cannot pull image '{reference}': {failure}. Images must be in a registry the Docker engine can "
                "reach, or built by an earlier step of this run"
            ) from failure

    def _pull_for_run(self, auth: RegistryAuth | None) -> docker_containers.PullImage:
        def pull(reference: str, on_output: OutputSink, cancellation: Cancellation) -> None:
            self.pull(reference, auth=auth, on_output=on_output, cancellation=cancellation)

        return pull

    def run_container(
        self,
        spec: ContainerSpec,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> ContainerExit:
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        container_id = docker_containers.create_container(
            self.api,
            spec,
            detach=False,
            pull=self._pull_for_run(auth),
            on_output=on_output,
            cancellation=cancellation,
        )
        return docker_containers.run_attached(
            self.api, spec, container_id, on_output=on_output, cancellation=cancellation
        )

    def start_container(
        self,
        spec: ContainerSpec,
        *,
        auth: RegistryAuth | None,
        on_output: OutputSink,
        cancellation: Cancellation,
    ) -> str:
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        container_id = docker_containers.create_container(
            self.api,
            spec,
            detach=True,
            pull=self._pull_for_run(auth),
            on_output=on_output,
            cancellation=cancellation,
        )
        return docker_containers.run_detached(self.api, spec, container_id, cancellation=cancellation)

    def remove_container(self, container_id: str) -> None:
        docker_containers.remove(self.api, container_id)

    def start_network_holder(
        self, name: str, *, network: str, aliases: tuple[str, ...], labels: Mapping[str, str]
    ) -> str:
        return docker_volumes.start_network_holder(self.api, name, network=network, aliases=aliases, labels=labels)

    def create_network(self, name: str, *, driver: str | None, ipv6: bool, labels: Mapping[str, str]) -> None:
        docker_volumes.create_network(self.api, name, driver=driver, ipv6=ipv6, labels=labels)

    def network_exists(self, name: str) -> bool:
        return docker_volumes.network_exists(self.api, name)

    def remove_network(self, name: str) -> None:
        docker_volumes.remove_network(self.api, name)

    def create_volume(self, name: str, *, labels: Mapping[str, str]) -> None:
        docker_volumes.create_volume(self.api, name, labels=labels)

    def remove_volume(self, name: str) -> None:
        docker_volumes.remove_volume(self.api, name)

    def write_volume(
        self,
        volume: str,
        archive: BinaryIO | Iterable[bytes],
        *,
        labels: Mapping[str, str],
        cancellation: Cancellation,
    ) -> None:
        docker_volumes.write_volume(self.api, volume, archive, labels=labels, cancellation=cancellation)

    def read_volume(
        self,
        volume: str,
        path: str,
        *,
        labels: Mapping[str, str],
        cancellation: Cancellation,
    ) -> AbstractContextManager[Iterator[bytes]]:
        return docker_volumes.read_volume(self.api, volume, path, labels=labels, cancellation=cancellation)

    def remove_labeled(self, labels: Mapping[str, str]) -> int:
        return docker_volumes.remove_labeled(self.api, labels)
