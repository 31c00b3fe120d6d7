"""Networks and volumes on the Docker Engine API, and the helper that moves tars in and out of volumes.

Docker copies files only into and out of containers (`PUT`/`GET /containers/{id}/archive`), so a
volume is reached through a helper container that mounts it at `/v`. The helper is created but never
started, from a tiny image Slipway makes itself with `docker import` (nothing has to be pulled), and
removed after each copy. Both directions stream: an upload goes from the caller's file or iterator
to the engine, a download from the engine to the caller, without a temporary file.

Used by `core.docker_engine.DockerEngine`; no `docker` or `requests` type leaves this module.
"""

from __future__ import annotations

import contextlib
import functools
import io
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO

import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from core.docker_containers import remove
from core.engine import Cancellation, OperationCanceled, StepFailed, VolumePathNotFound
from core.errors import EngineError

HELPER_IMAGE = "slipway/volume-helper:1"
_MOUNT = "/v"
_CHUNK = 1 << 20
_import_lock = threading.Lock()


def _explanation(error: APIError) -> str:
    return str(error.explanation or error).strip()


def create_network(api: Any, name: str, *, driver: str | None, ipv6: bool, labels: Mapping[str, str]) -> None:
    try:
        api.create_network(name, driver=driver or "bridge", enable_ipv6=ipv6, labels=dict(labels), check_duplicate=True)
    except APIError as error:
        raise StepFailed(f"cannot create network {name}: {_explanation(error)}") from error
    except (DockerException, requests.RequestException) as error:
        raise EngineError(f"the Docker engine did not answer while creating network {name}: {error}") from error


def network_exists(api: Any, name: str) -> bool:
    try:
        api.inspect_network(name)
    except NotFound:
        return False
    except (DockerException, requests.RequestException) as error:
        raise EngineError(f"cannot inspect network {name}: {error}") from error
    return True


def remove_network(api: Any, name: str) -> None:
    try:
        api.remove_network(name)
    except NotFound:
        pass
    except (DockerException, requests.RequestException) as error:
        raise EngineError(f"cannot remove network {name}: {error}") from error


def create_volume(api: Any, name: str, *, labels: Mapping[str, str]) -> None:
    try:
        api.create_volume(name, labels=dict(labels))
    except (DockerException, requests.RequestException) as error:
        raise EngineError(f"cannot create volume {name}: {error}") from error


def remove_volume(api: Any, name: str) -> None:
    try:
        api.remove_volume(name, force=True)
    except NotFound:
        pass
    except (DockerException, requests.RequestException) as error:
        raise EngineError(f"cannot remove volume {name}: {error}") from error


def _helper_rootfs() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo(_MOUNT.lstrip("/"))
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
    return buffer.getvalue()


def _import_helper_image(api: Any) -> None:
    with _import_lock:
        try:
            if api.images(name=HELPER_IMAGE):
                return
            repository, _, tag = HELPER_IMAGE.partition(":")
            api.import_image_from_data(_helper_rootfs(), repository=repository, tag=tag)
        except (DockerException, requests.RequestException) as error:
            raise EngineError(f"cannot create the volume helper image {HELPER_IMAGE}: {error}") from error


def _create_helper(api: Any, volume: str, labels: Mapping[str, str]) -> str:
    config = {
        "Image": HELPER_IMAGE,
        "Cmd": ["/never-started"],
        "Labels": dict(labels),
        "NetworkDisabled": True,
        "HostConfig": {"NetworkMode": "none", "Mounts": [{"Type": "volume", "Source": volume, "Target": _MOUNT}]},
    }
    for attempt in range(2):
        try:
            return str(api.create_container_from_config(config, None)["Id"])
        except ImageNotFound:
            if attempt:
                raise EngineError(f"the volume helper image {HELPER_IMAGE} vanished while in use") from None
            _import_helper_image(api)
        except (DockerException, requests.RequestException) as error:
            raise EngineError(f"cannot create a helper container for volume {volume}: {error}") from error
    raise AssertionError("unreachable")


def _chunks(archive: BinaryIO | Iterable[bytes], cancellation: Cancellation) -> Iterator[bytes]:
    """The upload body, checked for cancel between chunks so a large copy stops promptly."""
    read = getattr(archive, "read", None)
    chunks: Iterable[bytes] = iter(lambda: bytes(read(_CHUNK)), b"") if callable(read) else archive
    for chunk in chunks:
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        yield chunk


def write_volume(
    api: Any,
    volume: str,
    archive: BinaryIO | Iterable[bytes],
    *,
    labels: Mapping[str, str],
    cancellation: Cancellation,
) -> None:
    helper = _create_helper(api, volume, labels)
    try:
        api.put_archive(helper, _MOUNT, _chunks(archive, cancellation))
    except OperationCanceled:
        raise
    except APIError as error:
        raise StepFailed(f"cannot extract the archive into volume {volume}: {_explanation(error)}") from error
    except (DockerException, requests.RequestException) as error:
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled") from error
        raise EngineError(f"the Docker engine did not take the archive for volume {volume}: {error}") from error
    finally:
        with contextlib.suppress(EngineError):
            remove(api, helper)


@contextlib.contextmanager
def read_volume(
    api: Any, volume: str, path: str, *, labels: Mapping[str, str], cancellation: Cancellation
) -> Iterator[Iterator[bytes]]:
    helper = _create_helper(api, volume, labels)
    try:
        target = f"{_MOUNT}/{path.lstrip('/')}" if path.strip("/") else f"{_MOUNT}/."
        try:
            url = f"{api.base_url}/v{api.api_version}/containers/{helper}/archive"
            response = api.get(url, params={"path": target}, stream=True, timeout=None)
        except requests.RequestException as error:
            raise EngineError(f"the Docker engine did not answer while reading volume {volume}: {error}") from error
        try:
            if response.status_code == 404:
                raise VolumePathNotFound(f"{path} does not exist in the run's volume")
            if response.status_code >= 400:
                raise EngineError(f"cannot read {path} from volume {volume}: {response.text.strip()}")

            def interrupt() -> None:
                with contextlib.suppress(OSError, AttributeError):
                    response.raw.shutdown()

            unregister = cancellation.on_cancel(interrupt)
            try:
                yield _content(response, volume, cancellation)
            finally:
                unregister()
        finally:
            response.close()
    finally:
        with contextlib.suppress(EngineError):
            remove(api, helper)


def _content(response: Any, volume: str, cancellation: Cancellation) -> Iterator[bytes]:
    try:
        yield from response.iter_content(chunk_size=_CHUNK)
    except requests.RequestException as error:
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled") from error
        raise EngineError(f"lost the connection while reading volume {volume}: {error}") from error
    if cancellation.is_set:
        raise OperationCanceled(cancellation.reason or "canceled")


def remove_labeled(api: Any, labels: Mapping[str, str], *, settle_seconds: float = 10.0) -> int:
    """Force-remove containers, then networks and volumes, carrying all of `labels`.

    A network still attached to a container the engine is removing (or a volume still in use) is
    retried for up to `settle_seconds`.
    """
    filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
    removed = 0
    try:
        for container in api.containers(all=True, filters=filters):
            remove(api, container["Id"])
            removed += 1
        deadline = time.monotonic() + settle_seconds
        for network in api.networks(filters=filters):
            removed += _remove_settling(functools.partial(api.remove_network, network["Id"]), deadline)
        for volume in (api.volumes(filters=filters) or {}).get("Volumes") or []:
            removed += _remove_settling(functools.partial(api.remove_volume, volume["Name"], force=True), deadline)
    except (DockerException, requests.RequestException) as error:
        raise EngineError(f"cleanup of Docker objects labelled {dict(labels)} failed: {error}") from error
    return removed


def _remove_settling(remove_one: Callable[[], object], deadline: float) -> int:
    while True:
        try:
            remove_one()
        except NotFound:
            return 0  # removed concurrently, which is the goal
        except APIError as error:
            if error.response is None or error.response.status_code != 409 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        return 1
