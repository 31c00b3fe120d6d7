"""Networks and volumes on the Docker Engine API, and the helper containers Slipway makes for them.

Docker copies files only into and out of containers (`PUT`/`GET /containers/{id}/archive`), so a
volume is reached through a helper container that mounts it at `/v`. The helper is created but never
started, from a tiny image Slipway makes itself with `docker import` (nothing has to be pulled), and
removed after each copy. Both directions stream: an upload goes from the caller's file or iterator
to the engine, a download from the engine to the caller, without a temporary file.

A network holder is a container that does nothing but keep a network namespace on a run's network
alive, so that step containers can join it (`--network container:<holder>`) instead of each getting
an endpoint of their own, which costs the engine ~0.2-0.3 s per container (`core.run_environment`
says when that is safe). Its image is also imported, not pulled: one file, the engine host's static
busybox (Debian's `busybox-static`, which `infra/local/bootstrap.sh` installs), running
`sleep 2147483647`. Like the volume helper's, the image is made on first use.

Used by `core.docker_engine.DockerEngine`; no `docker` or `requests` type leaves this module.
"""

from __future__ import annotations

import contextlib
import functools
import io
import shutil
import struct
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from core.docker_containers import remove
from core.engine import Cancellation, OperationCanceled, StepFailed, VolumePathNotFound
from core.errors import EngineError

HELPER_IMAGE = "slipway/volume-helper:1"
HOLDER_IMAGE = "slipway/network-holder:1"
HOLDER_COMMAND = ("/bin/busybox", "sleep", "2147483647")  # PID 1 ignores SIGTERM; removal kills it
_BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")
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


def _is_static_elf64(data: bytes) -> bool:
    """Whether `data` is a 64-bit ELF executable without an interpreter (runs in an empty image)."""
    if data[:4] != b"\x7fELF" or len(data) < 64 or data[4] != 2:
        return False
    order = "<" if data[5] == 1 else ">"
    (table,) = struct.unpack_from(order + "Q", data, 0x20)
    entry_size, entries = struct.unpack_from(order + "HH", data, 0x36)
    pt_interp = 3
    return all(
        struct.unpack_from(order + "I", data, table + index * entry_size)[0] != pt_interp for index in range(entries)
    )


def _holder_rootfs() -> bytes:
    candidates = [path for path in (shutil.which("busybox"), *_BUSYBOX_PATHS) if path]
    for path in candidates:
        with contextlib.suppress(OSError):
            data = Path(path).read_bytes()
            if _is_static_elf64(data):
                buffer = io.BytesIO()
                with tarfile.open(fileobj=buffer, mode="w") as tar:
                    entry = tarfile.TarInfo("bin/busybox")
                    entry.size, entry.mode = len(data), 0o755
                    tar.addfile(entry, io.BytesIO(data))
                return buffer.getvalue()
    raise EngineError(
        f"cannot make the network holder image {HOLDER_IMAGE}: no statically linked busybox at "
        f"{', '.join(dict.fromkeys(candidates))}; install one (Debian: apt-get install busybox-static)"
    )


def _import_image(api: Any, image: str, rootfs: Callable[[], bytes]) -> None:
    with _import_lock:
        try:
            if api.images(name=image):
                return
            repository, _, tag = image.partition(":")
            api.import_image_from_data(rootfs(), repository=repository, tag=tag)
        except (DockerException, requests.RequestException) as error:
            raise EngineError(f"cannot create the image {image}: {error}") from error


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
            _import_image(api, HELPER_IMAGE, _helper_rootfs)
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


def start_network_holder(
    api: Any, name: str, *, network: str, aliases: tuple[str, ...], labels: Mapping[str, str]
) -> str:
    """Create and start a network holder on `network`, reachable there as each of `aliases`."""
    config = {
        "Image": HOLDER_IMAGE,
        "Cmd": list(HOLDER_COMMAND),
        "Labels": dict(labels),
        "HostConfig": {"NetworkMode": network, "SecurityOpt": ["no-new-privileges"], "PidsLimit": 8},
        "NetworkingConfig": {"EndpointsConfig": {network: {"Aliases": list(aliases)}}},
    }
    holder = ""
    for attempt in range(2):
        try:
            holder = str(api.create_container_from_config(config, name)["Id"])
            break
        except ImageNotFound:
            if attempt:
                raise EngineError(f"the network holder image {HOLDER_IMAGE} vanished while in use") from None
            _import_image(api, HOLDER_IMAGE, _holder_rootfs)
        except (DockerException, requests.RequestException) as error:
            raise EngineError(f"cannot create the network holder on network {network}: {error}") from error
    try:
        api.start(holder)
    except (DockerException, requests.RequestException) as error:
        with contextlib.suppress(EngineError):
            remove(api, holder)
        raise EngineError(f"the network holder on network {network} did not start: {error}") from error
    return holder


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
