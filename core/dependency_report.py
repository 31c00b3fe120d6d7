"""ACR's dependency report: what each built image was built from, with digests (reference §1.10).

The executor scanned each build step's Dockerfile before building. After the run, digests are filled
in: base images from the engine's `RepoDigests`, output images from what the push steps reported;
`render_dependency_report` gives the exact JSON shape acb prints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from core.dockerfile_deps import (
    DockerfileDependencies,
    ImageReference,
    parse_image_reference,
    render_dependency_report,
)
from core.engine import ContainerEngine
from core.errors import EngineError
from core.executor import Execution


def _with_local_digest(engine: ContainerEngine, reference: ImageReference) -> ImageReference:
    if reference.digest:
        return reference
    try:
        digests = engine.repo_digests(reference.reference)
    except EngineError:
        return reference
    for entry in digests:
        name, _, digest = entry.partition("@")
        known = parse_image_reference(name)
        # Only a digest the image has under this very name counts; the same image pushed elsewhere
        # says nothing about what `reference` points to.
        if (known.registry, known.repository) == (reference.registry, reference.repository):
            return reference.with_digest(digest)
    return reference


def dependency_report(
    execution: Execution, engine: ContainerEngine, *, git_head_revision: str | None = None
) -> list[dict[str, Any]]:
    """One entry per tag of every built image, as acb reports them."""
    pushed = {p.reference: p.digest for p in execution.pushed}
    entries: list[dict[str, Any]] = []
    for built in execution.built:
        dependencies = DockerfileDependencies(
            runtime=_with_local_digest(engine, built.dependencies.runtime) if built.dependencies.runtime else None,
            buildtime=tuple(_with_local_digest(engine, d) for d in built.dependencies.buildtime),
        )
        images = [parse_image_reference(tag).with_digest(pushed.get(tag, "")) for tag in built.tags]
        entries += render_dependency_report(images, dependencies, git_head_revision=git_head_revision)
    return entries


def format_report(report: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps(list(report), indent=2) + "\n"
