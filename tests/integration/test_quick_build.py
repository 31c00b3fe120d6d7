"""Quick builds end to end: the CLI, the local host, Azurite, the Docker engine and the registry."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import (
    Stack,
    registry_digest,
    run_cli,
    run_log,
    unique,
    wait_for,
    wait_for_run,
)

pytestmark = pytest.mark.integration


def make_context(root: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile)
    for name, content in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def test_the_cli_builds_pushes_and_records_the_digest_the_registry_serves(
    stack: Stack, api: httpx.Client, base_image: str, engine, tmp_path: Path
) -> None:
    repository = unique("hello")
    context = make_context(
        tmp_path / "ctx",
        f"FROM {base_image}\nARG GREETING=hi\nCOPY . /app\n"
        "RUN test ! -e /app/ignored.txt && echo $GREETING > /greeting\n",
        {"app.txt": "app", "ignored.txt": "secret", ".dockerignore": "ignored.txt\n"},
    )
    result = run_cli(
        stack,
        "build",
        "-t",
        f"{repository}:{{{{.Run.ID}}}}",
        "-t",
        f"{repository}:latest",
        "--build-arg",
        "GREETING=hello",
        str(context),
    )
    assert result.code == 0, result.stderr + result.stdout
    assert "Queued a build with ID: " in result.stderr
    run_id = result.stderr.split("Queued a build with ID: ")[1].split()[0]
    assert f"Run ID: {run_id} was successful" in result.stdout

    run = api.get(f"/runs/{run_id}").json()
    assert run["status"] == "Succeeded"
    tags = {image["tag"]: image for image in run["outputImages"]}
    assert set(tags) == {run_id, "latest"}
    for tag, image in tags.items():
        assert image["registry"] == stack.registry and image["repository"] == repository
        assert image["digest"] == registry_digest(stack, repository, tag)

    # Pull the pushed tag back from the registry and compare digests.
    reference = f"{stack.registry}/{repository}:{run_id}"
    engine.remove_image(reference)
    engine.pull(f"{stack.registry}/{repository}", tag=run_id)
    pulled = engine.inspect_image(reference)["RepoDigests"]
    assert f"{stack.registry}/{repository}@{tags[run_id]['digest']}" in pulled
    container = engine.create_container(reference, command=["cat", "/greeting"])
    engine.start(container)
    engine.wait(container)
    assert engine.logs(container).decode().strip() == "hello"
    engine.remove_container(container, force=True)


def test_the_dependency_report_lists_runtime_and_build_time_bases_with_digests(
    stack: Stack, api: httpx.Client, base_image: str, engine, tmp_path: Path
) -> None:
    # Base images in the local registry, so the engine knows their registry digests.
    bases = {}
    for name in ("builder", "runtime"):
        reference = f"{stack.registry}/{unique(name)}:1"
        engine.tag(base_image, reference)
        for line in engine.push(reference, stream=True, decode=True):
            assert "error" not in line, line
        bases[name] = reference
    dockerfile = (
        f"ARG BUILDER={bases['builder']}\n"
        "FROM ${BUILDER} AS build\nRUN echo built > /out\n"
        "FROM build AS test\nRUN true\n"
        f"FROM {bases['runtime']}\nCOPY --from=build /out /out\n"
    )
    context = make_context(tmp_path / "ctx", dockerfile)
    result = run_cli(stack, "build", "-t", unique("deps") + ":v1", str(context))
    assert result.code == 0, result.stderr + result.stdout
    assert "The following dependencies were found:" in result.stdout
    run_id = result.stderr.split("Queued a build with ID: ")[1].split()[0]
    (entry,) = api.get(f"/runs/{run_id}").json()["dependencies"]
    runtime_digest = engine.inspect_image(bases["runtime"])["RepoDigests"][0].split("@")[1]
    builder_digest = engine.inspect_image(bases["builder"])["RepoDigests"][0].split("@")[1]
    assert entry["runtime-dependency"]["reference"] == bases["runtime"]
    assert entry["runtime-dependency"]["digest"] == runtime_digest
    assert [(d["reference"], d["digest"]) for d in entry["buildtime-dependency"]] == [
        (bases["builder"], builder_digest)
    ]
    assert entry["image"]["digest"].startswith("sha256:")


def test_a_user_following_the_log_sees_lines_while_the_build_still_runs(
    stack: Stack, api: httpx.Client, base_image: str, tmp_path: Path
) -> None:
    # Variables keep the markers out of the echoed `Step 2/2 : RUN …` line; the token defeats the cache.
    run_line = f"RUN a=first; b=second; echo $a-marker && sleep 4 && echo $b-marker {unique('no-cache')}"
    context = make_context(tmp_path / "ctx", f"FROM {base_image}\n{run_line}\n")
    result = run_cli(stack, "build", "--no-push", "--no-wait", str(context))
    run_id = result.stderr.split("Queued a build with ID: ")[1].split()[0]

    def first_line_seen_while_running() -> bool:
        log = run_log(api, run_id)
        status = api.get(f"/runs/{run_id}").json()["status"]
        assert status not in {"Succeeded", "Failed"}, f"the build finished before its first line appeared: {log}"
        return "first-marker" in log and "second-marker" not in log

    wait_for(first_line_seen_while_running, timeout=60, what="the first line of a running build")
    follow = run_cli(stack, "task", "logs", "--run-id", run_id)
    assert "first-marker" in follow.stdout and "second-marker" in follow.stdout
    assert f"Run ID: {run_id} was successful" in follow.stdout


def test_cancel_stops_a_running_build_within_seconds(
    stack: Stack, api: httpx.Client, base_image: str, engine, tmp_path: Path
) -> None:
    marker = unique("sleeper")  # this build's own container, not another test's
    context = make_context(tmp_path / "ctx", f"FROM {base_image}\nRUN echo sleeping {marker} && sleep 300\n")
    result = run_cli(stack, "build", "--no-push", "--no-wait", str(context))
    run_id = result.stderr.split("Queued a build with ID: ")[1].split()[0]
    wait_for(lambda: "sleeping" in run_log(api, run_id), timeout=60, what="the build to start")
    canceled_at = time.monotonic()
    assert run_cli(stack, "task", "cancel-run", "--run-id", run_id).code == 0
    run = wait_for_run(api, run_id, timeout=60)
    assert run["status"] == "Canceled"
    assert time.monotonic() - canceled_at < 30
    assert "was canceled" in run_log(api, run_id)
    # The engine aborted the build: no container of it is still running `sleep 300`.
    assert not [c for c in engine.containers() if marker in c.get("Command", "")]


def test_a_run_past_its_timeout_ends_timeout(stack: Stack, api: httpx.Client, base_image: str, tmp_path: Path) -> None:
    context = make_context(tmp_path / "ctx", f"FROM {base_image}\nRUN sleep 300\n")
    result = run_cli(stack, "build", "--no-push", "--timeout", "3", str(context))
    assert result.code == 1
    run_id = result.stderr.split("Queued a build with ID: ")[1].split()[0]
    run = api.get(f"/runs/{run_id}").json()
    assert run["status"] == "Timeout"
    assert f"Run ID: {run_id} timed out" in result.stdout


def test_concurrent_builds_get_distinct_run_ids(
    stack: Stack, api: httpx.Client, base_image: str, tmp_path: Path
) -> None:
    context = make_context(tmp_path / "ctx", f"FROM {base_image}\nRUN true\n")
    results: list[str] = []

    def build() -> None:
        outcome = run_cli(stack, "build", "--no-push", "--no-wait", str(context))
        results.append(outcome.stderr.split("Queued a build with ID: ")[1].split()[0])

    threads = [threading.Thread(target=build) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 6
    for run_id in results:
        assert wait_for_run(api, run_id)["status"] == "Succeeded"
    listed = [r["runId"] for r in api.get("/runs", params={"top": 50}).json()["value"]]
    assert set(results) <= set(listed)


def test_list_runs_shows_newest_first_and_filters_by_status(stack: Stack, api: httpx.Client) -> None:
    table = run_cli(stack, "task", "list-runs", "--top", "5")
    assert table.code == 0
    assert table.stdout.splitlines()[0].split() == [
        "RUN",
        "ID",
        "TASK",
        "PLATFORM",
        "STATUS",
        "TRIGGER",
        "STARTED",
        "DURATION",
    ]
    runs = api.get("/runs", params={"top": 100}).json()["value"]
    numbers = [int(r["runId"][2:], 36) for r in runs]
    assert numbers == sorted(numbers, reverse=True)
    succeeded = api.get("/runs", params={"status": "Succeeded", "top": 100}).json()["value"]
    assert succeeded and all(r["status"] == "Succeeded" for r in succeeded)
