"""A small client for Slipway's HTTP API, used by the `slipway` command."""

from __future__ import annotations

import os
from typing import Any

from slipway_cli.http import HttpClient, Response, TransportError


class CliError(Exception):
    """An error to print for the user (without a traceback); exit code 1 unless said otherwise."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class ApiClient:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = HttpClient(headers={"x-api-key": api_key, "user-agent": "slipway-cli"}, timeout=timeout)

    @classmethod
    def from_env(cls) -> ApiClient:
        url = os.environ.get("SLIPWAY_URL", "").strip()
        key = os.environ.get("SLIPWAY_API_KEY", "").strip()
        if not url or not key:
            missing = " and ".join(n for n, v in (("SLIPWAY_URL", url), ("SLIPWAY_API_KEY", key)) if not v)
            raise CliError(
                f"{missing} not set: point the CLI at a Slipway service, e.g. `source .slipway/env` after `make up`"
            )
        return cls(url, key)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, f"{self.base_url}/api{path}", json=json, params=params)
        except TransportError as error:
            raise CliError(
                f"cannot reach Slipway at {self.base_url}: {error}. Is the service running (make up) and "
                "SLIPWAY_URL right?"
            ) from None
        if response.status >= 400:
            raise CliError(_error_message(response))
        return response.json() if response.body else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})


def _error_message(response: Response) -> str:
    try:
        error = response.json().get("error", {})
        message = error.get("message") or response.text
        code = error.get("code")
    except (ValueError, AttributeError):
        message, code = response.text or response.reason, None
    prefix = f"{code}: " if code else ""
    return f"{prefix}{message} (HTTP {response.status})"
