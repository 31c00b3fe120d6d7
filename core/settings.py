"""Service settings, read once from app settings (environment variables).

Everything configurable lives here so tests can build a `Settings` directly instead of patching the
environment. `Settings.from_env` gives each missing-or-wrong variable a message naming it.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import InvalidRequest
from core.run_ids import validate_prefix

_GIB = 1 << 30


@dataclass(frozen=True)
class Settings:
    storage_connection: str
    api_key: str
    registry: str
    docker_host: str | None = None
    run_id_prefix: str = "ca"
    max_context_bytes: int = 2 * _GIB
    max_unpacked_context_bytes: int = 8 * _GIB
    default_timeout_seconds: int = 3600
    heartbeat_seconds: float = 1.0
    stale_after_seconds: float = 60.0
    log_flush_seconds: float = 0.25
    push_retry_seconds: float = 1.0  # first backoff between push attempts; doubles each time
    upload_url_minutes: int = 60
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    # Labels Docker objects so cleanup never touches another Slipway stack sharing the engine.
    stack_id: str = ""
    # ACR's image aliases (`bash`, `curl`, `az`, `acr`, …) as images this server can run.
    image_aliases: Mapping[str, str] = field(default_factory=dict)
    allow_privileged: bool = False
    allow_host_network: bool = False
    # The URL clients and GitHub reach this service at; derived from each request when empty.
    public_url: str = ""
    # Shared secrets for incoming events: plain values or Key Vault references (several allow rotation).
    github_webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    registry_event_tokens: tuple[str, ...] = field(default=(), repr=False)
    # Login to the service's own registry (ACR's auth mode Default): values or Key Vault references.
    registry_username: str = ""
    registry_password: str = field(default="", repr=False)
    # Seals secret values at rest (--set-secret, --secret-build-arg, task credentials): base64 keys, first seals.
    data_key: str = field(default="", repr=False)
    # Registries images may be pulled from (empty: any); see docs/configuration.md.
    pull_registries: tuple[str, ...] = ()
    # Base images in registries that send no notifications are polled at most this often.
    registry_poll_seconds: float = 900.0
    poll_skip_registries: tuple[str, ...] = ()
    # Key Vault: tests point these at a local double (its own CA, a 127.0.0.1 challenge resource).
    keyvault_verify_challenge_resource: bool = True
    keyvault_ca_bundle: str | None = None
    keyvault_timeout_seconds: float = 120.0

    @property
    def stack_label(self) -> str:
        if self.stack_id:
            return self.stack_id
        digest = hashlib.sha256(self.storage_connection.encode()).hexdigest()
        return digest[:12]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        storage = env.get("SLIPWAY_STORAGE") or env.get("AzureWebJobsStorage", "")
        if not storage:
            raise InvalidRequest(
                "no storage account configured: set AzureWebJobsStorage (or SLIPWAY_STORAGE) to a connection string",
                target="AzureWebJobsStorage",
            )
        api_key = env.get("SLIPWAY_API_KEY", "")
        if len(api_key) < 16:
            raise InvalidRequest(
                "SLIPWAY_API_KEY must be set to a random string of at least 16 characters",
                target="SLIPWAY_API_KEY",
            )
        registry = env.get("SLIPWAY_REGISTRY", "").strip().rstrip("/")
        if not registry:
            raise InvalidRequest(
                "SLIPWAY_REGISTRY must name the registry that images are pushed to, e.g. 127.0.0.1:5000",
                target="SLIPWAY_REGISTRY",
            )
        return cls(
            storage_connection=storage,
            api_key=api_key,
            registry=registry,
            docker_host=env.get("DOCKER_HOST") or None,
            run_id_prefix=validate_prefix(env.get("SLIPWAY_RUN_ID_PREFIX", "ca")),
            max_context_bytes=_int(env, "SLIPWAY_MAX_CONTEXT_BYTES", 2 * _GIB),
            max_unpacked_context_bytes=_int(env, "SLIPWAY_MAX_UNPACKED_CONTEXT_BYTES", 8 * _GIB),
            default_timeout_seconds=_int(env, "SLIPWAY_DEFAULT_TIMEOUT", 3600),
            heartbeat_seconds=_float(env, "SLIPWAY_HEARTBEAT_SECONDS", 1.0),
            stale_after_seconds=_float(env, "SLIPWAY_STALE_AFTER_SECONDS", 60.0),
            stack_id=env.get("SLIPWAY_STACK_ID", ""),
            image_aliases=_aliases(env.get("SLIPWAY_IMAGE_ALIASES", "")),
            allow_privileged=_flag(env, "SLIPWAY_ALLOW_PRIVILEGED"),
            allow_host_network=_flag(env, "SLIPWAY_ALLOW_HOST_NETWORK"),
            public_url=env.get("SLIPWAY_PUBLIC_URL", "").rstrip("/"),
            github_webhook_secrets=_list(env.get("SLIPWAY_GITHUB_WEBHOOK_SECRET", "")),
            registry_event_tokens=_list(env.get("SLIPWAY_REGISTRY_EVENT_TOKEN", "")),
            keyvault_verify_challenge_resource=_flag(env, "SLIPWAY_KEYVAULT_VERIFY_CHALLENGE_RESOURCE", default=True),
            keyvault_ca_bundle=env.get("SLIPWAY_KEYVAULT_CA_BUNDLE") or None,
            registry_poll_seconds=_float(env, "SLIPWAY_REGISTRY_POLL_INTERVAL_SECONDS", 900.0),
            data_key=env.get("SLIPWAY_DATA_KEY", "").strip(),
            pull_registries=_list(env.get("SLIPWAY_PULL_REGISTRIES", "")),
            registry_username=env.get("SLIPWAY_REGISTRY_USERNAME", ""),
            registry_password=env.get("SLIPWAY_REGISTRY_PASSWORD", ""),
            poll_skip_registries=_list(env.get("SLIPWAY_REGISTRY_POLL_SKIP", "")),
            keyvault_timeout_seconds=_float(env, "SLIPWAY_KEYVAULT_TIMEOUT_SECONDS", 120.0),
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name}={raw!r} is not a whole number", target=name) from None
    if value <= 0:
        raise InvalidRequest(f"{name} must be positive, got {value}", target=name)
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequest(f"{name}={raw!r} is not a number", target=name) from None
    if value <= 0:
        raise InvalidRequest(f"{name} must be positive, got {value}", target=name)
    return value


def _flag(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"0", "false", "no"}:
        return False
    if raw in {"1", "true", "yes"}:
        return True
    raise InvalidRequest(f"{name}={raw!r} must be true or false", target=name)


def _aliases(raw: str) -> dict[str, str]:
    """`bash=registry/bash:5,curl=registry/curl:8` → {"bash": …, "curl": …}."""
    aliases: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, image = entry.partition("=")
        if not sep or not name.strip().isalnum() or not image.strip():
            raise InvalidRequest(
                f"SLIPWAY_IMAGE_ALIASES entry {entry!r} must look like name=image (e.g. bash=myregistry/bash:5)",
                target="SLIPWAY_IMAGE_ALIASES",
            )
        aliases[name.strip()] = image.strip()
    return aliases


def _list(raw: str) -> tuple[str, ...]:
    """Comma-separated values; the first is current, the others still accepted (rotation)."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())
