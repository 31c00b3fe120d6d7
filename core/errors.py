"""Slipway's one exception tree.

Every error a user can cause or act on is a `SlipwayError`. Each class knows its HTTP status and a
stable `code`; the HTTP layer turns any of them into the one error body shape
`{"error": {"code": ..., "message": ..., "target": ...}}`. Adapters translate SDK exceptions into
these classes at the boundary, so no `azure.core` or `docker.errors` type reaches `core/` callers.

Messages say where, what and what to do next, and never contain a secret value.
"""

from __future__ import annotations


class SlipwayError(Exception):
    """Base of every error Slipway reports to a user."""

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: str, *, target: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target

    def to_body(self) -> dict[str, object]:
        """The error as the API's one body shape."""
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        return {"error": error}


class InvalidRequest(SlipwayError):
    """The request's fields are missing, of the wrong type or out of range."""

    status = 400
    code = "InvalidRequest"


class InvalidContext(SlipwayError):
    """A build context (folder or archive) cannot be used: unsafe paths, corrupt, missing Dockerfile."""

    status = 400
    code = "InvalidContext"


class InvalidDockerfile(SlipwayError):
    """A Dockerfile cannot be read or has a syntax error that Slipway detects before building."""

    status = 400
    code = "InvalidDockerfile"


class InvalidTaskFile(SlipwayError):
    """A task file (YAML) is malformed; `target` names the `file:line:column` or the key."""

    status = 400
    code = "InvalidTaskFile"


class ContextTooLarge(SlipwayError):
    """An uploaded context exceeds the configured size limit."""

    status = 413
    code = "ContextTooLarge"


class Unauthorized(SlipwayError):
    """Missing or wrong credentials (API key, webhook signature, event token)."""

    status = 401
    code = "Unauthorized"


class NotFound(SlipwayError):
    """The named resource does not exist."""

    status = 404
    code = "NotFound"


class RunNotFound(NotFound):
    code = "RunNotFound"


class ContextNotFound(NotFound):
    code = "ContextNotFound"


class Conflict(SlipwayError):
    """The resource changed under us or is in a state that forbids the operation."""

    status = 409
    code = "Conflict"


class InvalidTransition(Conflict):
    """A run status change that the run lifecycle does not allow."""

    code = "InvalidRunTransition"


class ConcurrentUpdate(Conflict):
    """An optimistic (ETag) update lost a race; callers usually re-read and retry."""

    code = "ConcurrentUpdate"


class StorageError(SlipwayError):
    """Azure Storage (or Azurite) failed or is unreachable."""

    status = 503
    code = "StorageUnavailable"


class EngineError(SlipwayError):
    """The Docker engine failed or is unreachable."""

    status = 503
    code = "EngineUnavailable"


class RegistryError(SlipwayError):
    """A container registry refused or could not be reached."""

    status = 502
    code = "RegistryError"
