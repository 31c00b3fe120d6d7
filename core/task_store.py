"""Persistence of tasks and their credentials in Table storage.

- `tasks`: one row per task (partition `task`, row key the lower-cased name); the task is a JSON
  document, updated with ETag compare-and-swap.
- `taskcredentials`: the git access token of a task (a plain value or a Key Vault reference), apart
  from the task so that reading or listing tasks can never return it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import ConcurrentUpdate, Conflict, InvalidRequest, NotFound, StorageError
from core.keyvault import is_keyvault_reference
from core.ports import TableStore
from core.registry_credentials import RegistryCredential, from_storage_document, to_storage_document
from core.sealed_values import SecretSealer, is_sealed
from core.tasks import Task, task_from_document, task_to_document

TASKS_TABLE = "tasks"
CREDENTIALS_TABLE = "taskcredentials"
_PARTITION = "task"
_MAX_ATTEMPTS = 20


class TaskNotFound(NotFound):
    code = "TaskNotFound"


def task_keys(name: str) -> tuple[str, str]:
    return _PARTITION, name.lower()


def credential_keys(name: str) -> tuple[str, str]:
    return name.lower(), "git"


def _credentials_context(name: str) -> str:
    return f"task/{name.lower()}/credentials"


@dataclass(frozen=True)
class StoredTask:
    task: Task
    etag: str


class TaskStore:
    def __init__(self, tables: TableStore, *, sealer: Callable[[], SecretSealer | None] = lambda: None) -> None:
        self._tables = tables
        self._sealer = sealer

    def ensure(self) -> None:
        self._tables.ensure_table(TASKS_TABLE)
        self._tables.ensure_table(CREDENTIALS_TABLE)

    def _row(self, task: Task) -> dict[str, object]:
        partition, row = task_keys(task.name)
        return {"PartitionKey": partition, "RowKey": row, "Document": json.dumps(task_to_document(task))}

    def create(self, task: Task) -> None:
        try:
            self._tables.insert(TASKS_TABLE, self._row(task))
        except Conflict:
            raise Conflict(
                f"a task named '{task.name}' already exists; use `slipway task update` or pick another name",
                target="name",
            ) from None

    def get(self, name: str) -> StoredTask:
        entity = self._tables.get(TASKS_TABLE, *task_keys(name))
        if entity is None:
            raise TaskNotFound(f"task '{name}' does not exist (see `slipway task list`)", target="name")
        return StoredTask(task_from_document(json.loads(entity.properties["Document"])), entity.etag)

    def update(self, name: str, change: Callable[[Task], Task]) -> Task:
        for _ in range(_MAX_ATTEMPTS):
            stored = self.get(name)
            updated = change(stored.task)
            try:
                self._tables.replace(TASKS_TABLE, self._row(updated), etag=stored.etag)
            except ConcurrentUpdate:
                continue
            return updated
        raise StorageError(f"task '{name}' is being changed too often; retry")

    def delete(self, name: str) -> None:
        self.get(name)
        self._tables.delete(TASKS_TABLE, *task_keys(name))
        for row in self._tables.query(CREDENTIALS_TABLE, credential_keys(name)[0]):
            self._tables.delete(CREDENTIALS_TABLE, credential_keys(name)[0], str(row.properties["RowKey"]))

    def list_tasks(self) -> list[Task]:
        rows = self._tables.query(TASKS_TABLE, _PARTITION)
        return [task_from_document(json.loads(row.properties["Document"])) for row in rows]

    def set_git_token(self, name: str, token: str | None) -> None:
        """Store the token sealed (or as it is when it is a Key Vault reference, which is no secret)."""
        partition, row = credential_keys(name)
        if not token:
            self._tables.delete(CREDENTIALS_TABLE, partition, row)
            return
        stored = token
        if not is_keyvault_reference(token):
            sealer = self._sealer()
            if sealer is None:
                raise InvalidRequest(
                    "a plain git access token cannot be stored: this server has no data key (SLIPWAY_DATA_KEY); "
                    "give a Key Vault secret URL instead, or configure the data key",
                    target="gitAccessToken",
                )
            stored = sealer.seal(token, context=f"task/{name.lower()}/git-token")
        self._tables.upsert(CREDENTIALS_TABLE, {"PartitionKey": partition, "RowKey": row, "Token": stored})

    def _sealer_or_refuse(self) -> SecretSealer:
        sealer = self._sealer()
        if sealer is None:
            raise InvalidRequest(
                "registry credentials cannot be stored: this server has no data key (SLIPWAY_DATA_KEY)",
                target="credentials",
            )
        return sealer

    def registry_credentials(self, name: str) -> list[RegistryCredential]:
        rows = self._tables.query(CREDENTIALS_TABLE, credential_keys(name)[0], row_from="registry-", row_to="registry.")
        if not rows:
            return []
        sealer = self._sealer_or_refuse()
        return [
            from_storage_document(json.loads(r.properties["Document"]), sealer, context=_credentials_context(name))
            for r in rows
        ]

    def put_registry_credential(self, name: str, credential: RegistryCredential, *, create: bool) -> None:
        """Add (`create`: refused if the login server has one) or replace a task's credential."""
        self.get(name)
        exists = any(c.login_server == credential.login_server for c in self.registry_credentials(name))
        if create and exists:
            raise Conflict(
                f"task '{name}' already has credentials for {credential.login_server}; use `credential update`",
                target="loginServer",
            )
        if not create and not exists:
            raise NotFound(f"task '{name}' has no credentials for {credential.login_server}", target="loginServer")
        document = to_storage_document(credential, self._sealer_or_refuse(), context=_credentials_context(name))
        partition = credential_keys(name)[0]
        row = f"registry-{credential.login_server}"
        self._tables.upsert(
            CREDENTIALS_TABLE, {"PartitionKey": partition, "RowKey": row, "Document": json.dumps(document)}
        )

    def remove_registry_credential(self, name: str, login_server: str) -> None:
        if not any(c.login_server == login_server.lower() for c in self.registry_credentials(name)):
            raise NotFound(f"task '{name}' has no credentials for {login_server}", target="loginServer")
        self._tables.delete(CREDENTIALS_TABLE, credential_keys(name)[0], f"registry-{login_server.lower()}")

    def git_token(self, name: str) -> str | None:
        """The token as given: a Key Vault reference (resolve it) or the plain value, unsealed."""
        entity = self._tables.get(CREDENTIALS_TABLE, *credential_keys(name))
        if entity is None:
            return None
        stored = str(entity.properties["Token"])
        sealer = self._sealer()
        if is_sealed(stored) and sealer is not None:
            return sealer.unseal(stored, context=f"task/{name.lower()}/git-token")
        return stored
