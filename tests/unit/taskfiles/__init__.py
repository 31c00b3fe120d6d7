"""Fixtures for the task-file tests: sample task files and a loader with test defaults."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from core.errors import InvalidTaskFile
from core.taskfile import InMemorySecretResolver, TaskFile, load_task_file

FIXTURES = Path(__file__).parent

RUN = {
    "ID": "cf19",
    "Registry": "myregistry.azurecr.io",
    "RegistryName": "myregistry",
    "Date": "20240102-030405z",
    "OS": "linux",
    "Architecture": "amd64",
    "Commit": "1a3065388a0238e52865db1c8f3e97492a43444c",
    "Branch": "main",
    "SharedVolume": "acb_vol_1",
    "TaskName": "hello",
}
IMAGES = {
    "acr": "images.example/acr-cli:0.19",
    "az": "images.example/azure-cli:2ff604c",
    "bash": "images.example/bash:2ff604c",
    "curl": "images.example/curl:2ff604c",
    "cssc": "images.example/cssc:2ff604c",
}


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def load(
    text: str,
    *,
    file_name: str = "acb.yaml",
    values: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    sources: Mapping[str, str] | None = None,
    images: Mapping[str, str] = IMAGES,
) -> TaskFile:
    """`load_task_file` with the test run, image aliases, a Key Vault fake (`secrets` by URL) and an
    in-memory build context (`sources` by path)."""

    def read_source(path: str) -> str:
        if sources is None or path not in sources:
            raise FileNotFoundError(2, "No such file or directory", path)
        return sources[path]

    return load_task_file(
        text,
        file_name=file_name,
        run=RUN,
        values=values or {},
        image_aliases=images,
        secret_resolver=InMemorySecretResolver(secrets or {}),
        read_alias_source=read_source,
    )


def load_error(text: str, **options: Any) -> InvalidTaskFile:
    """The `InvalidTaskFile` that loading `text` raises."""
    with pytest.raises(InvalidTaskFile) as caught:
        load(text, **options)
    return caught.value
