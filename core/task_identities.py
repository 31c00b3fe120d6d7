"""`--assign-identity`: which managed identities a task's runs may use.

ACR gives a task the identities assigned to it and nothing else. Slipway's runs execute inside the
Function App, whose identities every run could otherwise use; a task that lists identities is held
to them: each Key Vault secret of its task file (`clientID`, or the system-assigned identity when it
names none) and each registry credential that reads Key Vault or uses an identity must use one of
them. A task that lists none may use the app's identities, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.keyvault import SecretFailure, SecretResolutionError, is_keyvault_reference
from core.registry_credentials import RegistryCredential
from core.taskfile import SecretResolver, SecretSpec

SYSTEM = "[system]"


def _identity(client_id: str | None) -> str:
    return client_id.strip().lower() if client_id and client_id.strip().lower() != SYSTEM else SYSTEM


def _describe(identity: str) -> str:
    return "the system-assigned identity" if identity == SYSTEM else f"the user-assigned identity {identity}"


def check_identity(task: str, assigned: Sequence[str], client_id: str | None, *, what: str, target: str) -> None:
    """`SecretResolutionError` if `task` lists identities and `client_id` is not one of them."""
    if not assigned:
        return
    allowed = {_identity(a) for a in assigned}
    wanted = _identity(client_id)
    if wanted not in allowed:
        raise SecretResolutionError(
            f"{what} uses {_describe(wanted)}, which is not assigned to task '{task}' (assigned: "
            f"{', '.join(sorted(allowed))}); add it with `slipway task update -n {task} --assign-identity "
            f"{wanted}` or use an assigned one",
            reason=SecretFailure.IDENTITY_NOT_ASSIGNED,
            target=target,
        )


def check_credentials(task: str, assigned: Sequence[str], credentials: Sequence[RegistryCredential]) -> None:
    for credential in credentials:
        reads_vault = any(is_keyvault_reference(v or "") for v in (credential.username, credential.password))
        if credential.identity or reads_vault:
            check_identity(
                task,
                assigned,
                credential.identity,
                what=f"the registry credential for {credential.login_server}",
                target=f"credentials.{credential.login_server}",
            )


class AssignedIdentityResolver:
    """A `SecretResolver` that refuses secrets read with an identity the task was not given."""

    def __init__(self, inner: SecretResolver, task: str, assigned: Sequence[str]) -> None:
        self._inner = inner
        self._task = task
        self._assigned = tuple(assigned)

    def resolve_secrets(self, specs: Sequence[SecretSpec]) -> Mapping[str, str]:
        for spec in specs:
            check_identity(
                self._task, self._assigned, spec.client_id, what=f"secret {spec.id!r}", target=f"secrets.{spec.id}"
            )
        return self._inner.resolve_secrets(specs)
