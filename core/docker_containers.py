"""Step containers on the Docker Engine API: what `docker run` does, call by call.

A foreground run is create → attach → start → read the multiplexed stream → wait, the order the
docker CLI uses, so no output is lost between start and attach. A missing image is pulled and the
create retried, as `docker run` does. Cancel and timeout kill the container, which ends the attach
stream; the socket is also shut down in case the engine does not answer. The caller removes exited
containers (in the background, off the step's critical path); interrupted ones are removed here.
A container whose spec names `container:<id>` as its network joins that container's namespace and
gets no endpoint or aliases of its own.

Used by `core.docker_engine.DockerEngine`; no `docker` or `requests` type leaves this module.
"""

from __future__ import annotations

import codecs
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.utils.ports import split_port
from docker.utils.socket import frames_iter

from core.engine import Cancellation, ContainerExit, ContainerSpec, OperationCanceled, OutputSink, StepFailed
from core.errors import EngineError

_BUILTIN_NETWORKS = frozenset({"host", "none", "bridge", "default"})

PullImage = Callable[[str, OutputSink, Cancellation], None]


def _explanation(error: APIError) -> str:
    return str(error.explanation or error).strip()


def _port_key(port: str) -> str:
    number, _, protocol = port.partition("/")
    return f"{number}/{protocol or 'tcp'}"


def _expand_expose(value: str) -> list[str]:
    ports, _, protocol = value.partition("/")
    first, _, last = ports.partition("-")
    try:
        start, end = int(first), int(last or first)
    except ValueError:
        raise StepFailed(f"expose: '{value}' is not a port or port range such as 80, 80/udp or 8000-8010") from None
    return [f"{port}/{protocol or 'tcp'}" for port in range(start, end + 1)]


def _published(ports: tuple[str, ...]) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for value in ports:
        try:
            internal, external = split_port(value)
        except ValueError as error:
            raise StepFailed(f"ports: '{value}' is not a valid port mapping ({error}); e.g. 8080:80") from None
        for index, port in enumerate(internal):
            key = _port_key(port)
            exposed[key] = {}
            host = external[index] if external else None
            host_ip, host_port = host if isinstance(host, tuple) else ("", host)
            bindings.setdefault(key, []).append({"HostIp": host_ip or "", "HostPort": str(host_port or "")})
    return exposed, bindings


def container_config(spec: ContainerSpec, *, detach: bool) -> dict[str, Any]:
    """The `POST /containers/create` body for `spec`, as the docker CLI would send it."""
    exposed, bindings = _published(spec.ports)
    for value in spec.expose:
        exposed.update({key: {} for key in _expand_expose(value)})
    host_config: dict[str, Any] = {
        "NetworkMode": spec.network or "default",
        "Privileged": spec.privileged,
        "Mounts": [
            {"Type": "volume", "Source": m.volume, "Target": m.path, "ReadOnly": m.read_only} for m in spec.mounts
        ],
    }
    if not spec.privileged:
        host_config["SecurityOpt"] = ["no-new-privileges"]
    if spec.limits.memory_bytes:
        host_config["Memory"] = spec.limits.memory_bytes
    if spec.limits.pids:
        host_config["PidsLimit"] = spec.limits.pids
    if spec.cpus:
        host_config["NanoCpus"] = int(spec.cpus * 1e9)
    if bindings:
        host_config["PortBindings"] = bindings
    config: dict[str, Any] = {
        "Image": spec.image,
        "Cmd": list(spec.args) or None,
        "Env": [f"{key}={value}" for key, value in spec.env.items()],
        "WorkingDir": spec.working_dir or "",
        "User": spec.user or "",
        "Labels": dict(spec.labels),
        "AttachStdout": not detach,
        "AttachStderr": not detach,
        "ExposedPorts": exposed or None,
        "HostConfig": host_config,
    }
    if spec.entrypoint is not None:
        config["Entrypoint"] = [spec.entrypoint]
    joins_namespace = (spec.network or "").startswith("container:")
    if spec.network and spec.network not in _BUILTIN_NETWORKS and not joins_namespace and spec.aliases:
        config["NetworkingConfig"] = {"EndpointsConfig": {spec.network: {"Aliases": list(spec.aliases)}}}
    return config


def create_container(
    api: Any,
    spec: ContainerSpec,
    *,
    detach: bool,
    pull: PullImage,
    on_output: OutputSink,
    cancellation: Cancellation,
) -> str:
    """Create the container, pulling its image first if the engine does not have it."""
    config = container_config(spec, detach=detach)
    try:
        return _create(api, spec, config)
    except ImageNotFound:
        pass
    on_output(f"Unable to find image '{spec.image}' locally\n")
    pull(spec.image, on_output, cancellation)
    if cancellation.is_set:
        raise OperationCanceled(cancellation.reason or "canceled")
    try:
        return _create(api, spec, config)
    except ImageNotFound as error:
        raise StepFailed(f"image '{spec.image}' is still missing after pulling it: {_explanation(error)}") from error


def _create(api: Any, spec: ContainerSpec, config: dict[str, Any]) -> str:
    try:
        created = api.create_container_from_config(config, spec.name)
    except ImageNotFound:
        raise
    except NotFound as error:
        raise StepFailed(f"cannot create the container: {_explanation(error)}") from error
    except APIError as error:
        if error.response is not None and error.response.status_code >= 500:
            raise EngineError(f"the Docker engine failed to create a container: {_explanation(error)}") from error
        raise StepFailed(f"cannot create the container: {_explanation(error)}") from error
    except (DockerException, requests.RequestException) as error:
        raise EngineError(f"the Docker engine did not answer while creating a container: {error}") from error
    return str(created["Id"])


def start(api: Any, container_id: str) -> None:
    try:
        api.start(container_id)
    except APIError as error:
        # What `docker run` reports with exit code 125-127: bad command, user or mount.
        raise StepFailed(f"the container did not start: {_explanation(error)}") from error
    except (DockerException, requests.RequestException) as error:
        raise EngineError(f"the Docker engine did not answer while starting a container: {error}") from error


def kill(api: Any, container_id: str) -> None:
    with contextlib.suppress(DockerException, requests.RequestException):
        api.kill(container_id)


def remove(api: Any, container_id: str) -> None:
    try:
        api.remove_container(container_id, v=True, force=True)
    except NotFound:
        pass
    except APIError as error:
        if "already in progress" not in _explanation(error):
            raise EngineError(f"cannot remove container {container_id[:12]}: {_explanation(error)}") from error
    except (DockerException, requests.RequestException) as error:
        raise EngineError(f"cannot remove container {container_id[:12]}: {error}") from error


def _raw_socket(stream: Any) -> socket.socket | None:
    candidate = getattr(stream, "_sock", stream)
    return candidate if isinstance(candidate, socket.socket) else None


def _shutdown(stream: Any) -> None:
    raw = _raw_socket(stream)
    if raw is not None:
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)


def _close(stream: Any) -> None:
    response = getattr(stream, "_response", None)
    if response is not None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            response.close()
    with contextlib.suppress(OSError, ValueError):
        stream.close()


def _attach(api: Any, container_id: str) -> Any:
    try:
        return api.attach_socket(container_id, params={"stdout": 1, "stderr": 1, "stream": 1})
    except APIError as error:
        raise StepFailed(f"cannot attach to the container: {_explanation(error)}") from error
    except (DockerException, requests.RequestException) as error:
        raise EngineError(f"the Docker engine did not answer while attaching to a container: {error}") from error


def _pump(stream: Any, on_output: OutputSink) -> None:
    decoders = {
        1: codecs.getincrementaldecoder("utf-8")("replace"),
        2: codecs.getincrementaldecoder("utf-8")("replace"),
    }
    try:
        for channel, data in frames_iter(stream, tty=False):
            text = decoders.get(channel, decoders[1]).decode(data)
            if text:
                on_output(text)
    except OSError:
        pass  # the socket was shut down (cancel) or the engine went away; `wait` tells which
    for decoder in decoders.values():
        tail = decoder.decode(b"", final=True)
        if tail:
            on_output(tail)


def _wait(api: Any, container_id: str) -> int:
    try:
        result = api.wait(container_id, timeout=None, condition="not-running")
    except (DockerException, requests.RequestException) as error:
        raise EngineError(f"lost the container while waiting for it to exit: {error}") from error
    return int(result.get("StatusCode", -1))


def run_attached(
    api: Any,
    spec: ContainerSpec,
    container_id: str,
    *,
    on_output: OutputSink,
    cancellation: Cancellation,
) -> ContainerExit:
    """Attach, start, stream output until the container exits, and return its exit code."""
    completed = False
    try:
        stream = _attach(api, container_id)

        def interrupt() -> None:
            # Off the canceling thread: it may be the executor's loop, which must not wait on HTTP.
            def stop() -> None:
                kill(api, container_id)
                _shutdown(stream)

            threading.Thread(target=stop, name=f"kill-{container_id[:12]}", daemon=True).start()

        unregister = cancellation.on_cancel(interrupt)
        try:
            start(api, container_id)
            _pump(stream, on_output)
        finally:
            unregister()
            _close(stream)
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        exit_code = _wait(api, container_id)
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        completed = True
        return ContainerExit(container_id, exit_code)
    finally:
        if not completed:
            _discard(api, container_id, keep=spec.keep)


def run_detached(api: Any, spec: ContainerSpec, container_id: str, *, cancellation: Cancellation) -> str:
    """Start a container and leave it running; it is removed when the run ends."""
    try:
        if cancellation.is_set:
            raise OperationCanceled(cancellation.reason or "canceled")
        start(api, container_id)
    except BaseException:
        _discard(api, container_id, keep=spec.keep)
        raise
    return container_id


def _discard(api: Any, container_id: str, *, keep: bool) -> None:
    kill(api, container_id)
    if not keep:
        with contextlib.suppress(EngineError):
            remove(api, container_id)
