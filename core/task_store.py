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

from core.errors import ConcurrentUpdate, Conflict, NotFound, StorageError
from core.ports import TableStore
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


@dataclass(frozen=True)
class StoredTask:
    task: Task
    etag: str


class TaskStore:
    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

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
        self._tables.delete(CREDENTIALS_TABLE, *credential_keys(name))

    def list(self) -> list[Task]:
        rows = self._tables.query(TASKS_TABLE, _PARTITION)
        return [task_from_document(json.loads(row.properties["Document"])) for row in rows]

    def set_git_token(self, name: str, token: str | None) -> None:
        partition, row = credential_keys(name)
        if token:
            self._tables.upsert(CREDENTIALS_TABLE, {"PartitionKey": partition, "RowKey": row, "Token": token})
        else:
            self._tables.delete(CREDENTIALS_TABLE, partition, row)

    def git_token(self, name: str) -> str | None:
        entity = self._tables.get(CREDENTIALS_TABLE, *credential_keys(name))
        return None if entity is None else str(entity.properties["Token"])
