"""ACR task files through the whole stack: `slipway run` → host → worker → Docker engine → registry."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Stack, registry_digest, run_cli, run_log, unique, wait_for, wait_for_run

pytestmark = pytest.mark.integration


def write(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def queued_id(stderr: str) -> str:
    return stderr.split("Queued a run with ID: ")[1].split(maxsplit=1)[0]


def test_a_task_file_builds_pushes_and_runs_the_pushed_image(
    stack: Stack, api: httpx.Client, base_image: str, tmp_path: Path
) -> None:
    repository = unique("app")
    context = write(
        tmp_path / "ctx",
        {
            "Dockerfile": f"FROM {base_image}\nCOPY hello.txt /hello.txt\n",
            "hello.txt": "hello from the pushed image\n",
            "acb.yaml": (
                "version: v1.1.0\n"
                "steps:\n"
                f"  - id: build\n    build: -t $Registry/{repository}:$ID .\n"
                f"  - id: push\n    push: ['$Registry/{repository}:$ID']\n"
                f"  - id: run\n    cmd: $Registry/{repository}:$ID cat /hello.txt\n"
            ),
        },
    )
    result = run_cli(stack, "run", "-f", "acb.yaml", str(context))
    assert result.code == 0, result.stderr + result.stdout
    run_id = queued_id(result.stderr)
    for expected in (
        "Executing step ID: build",
        "Executing step ID: run",
        "hello from the pushed image",
        "Step ID: push marked as successful",
        "The following dependencies were found:",
        f"Run ID: {run_id} was successful",
    ):
        assert expected in result.stdout
    run = api.get(f"/runs/{run_id}").json()
    assert run["runType"] == "QuickRun"
    (image,) = run["outputImages"]
    assert (image["repository"], image["tag"]) == (repository, run_id)
    assert image["digest"] == registry_digest(stack, repository, run_id)


def test_parallel_builds_fan_in_share_the_workspace_and_reach_a_detached_service_by_id(
    stack: Stack, base_image: str, tmp_path: Path
) -> None:
    token = secrets.token_hex(4)
    context = write(
        tmp_path / "ctx",
        {
            "a.Dockerfile": f"FROM {base_image}\nRUN echo a-{token} > /a\n",
            "b.Dockerfile": f"FROM {base_image}\nRUN echo b-{token} > /b\n",
            "acb.yaml": (
                "steps:\n"
                "  - id: web\n"
                f"    cmd: {base_image} sh -c 'mkdir -p /www && echo pong > /www/ping && httpd -f -p 8080 -h /www'\n"
                "    detach: true\n"
                "    when: ['-']\n"
                f"  - id: a\n    build: -t {stack.registry}/a-{token}:1 -f a.Dockerfile .\n    when: ['-']\n"
                f"  - id: b\n    build: -t {stack.registry}/b-{token}:1 -f b.Dockerfile .\n    when: ['-']\n"
                "  - id: write\n"
                f"    cmd: {base_image} sh -c 'echo written-by-$0 > /workspace/shared.txt' write\n"
                "    when: ['a', 'b']\n"
                "  - id: read\n"
                f"    cmd: {base_image} sh -c 'cat /workspace/shared.txt; wget -qO- http://web:8080/ping'\n"
            ),
        },
    )
    result = run_cli(stack, "run", "-f", "acb.yaml", str(context))
    assert result.code == 0, result.stderr + result.stdout
    assert "[read] written-by-write" in result.stdout
    assert "[read] pong" in result.stdout
    assert "Step ID: web marked as successful" in result.stdout


def test_retries_and_ignore_errors_behave_as_in_acr(stack: Stack, base_image: str, tmp_path: Path) -> None:
    task = tmp_path / "acb.yaml"
    task.write_text(
        "steps:\n"
        "  - id: flaky\n"
        f"    cmd: {base_image} sh -c 'n=$(cat /workspace/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /workspace/n;"
        " echo attempt-$n; test $n -ge 3'\n"
        "    retries: 2\n"
        "    retryDelay: 1\n"
        "  - id: broken\n"
        f"    cmd: {base_image} false\n"
        "    ignoreErrors: true\n"
        "  - id: after\n"
        f"    cmd: {base_image} echo still-running\n"
    )
    result = run_cli(stack, "run", "-f", str(task), "/dev/null")
    assert result.code == 0, result.stderr + result.stdout
    assert "attempt-3" in result.stdout and "still-running" in result.stdout


def test_a_step_past_its_timeout_ends_the_run_timeout(stack: Stack, api: httpx.Client, base_image: str) -> None:
    result = run_cli(stack, "run", "--cmd", f"{base_image} sleep 60", "--timeout", "3", "/dev/null")
    assert result.code == 1
    run = api.get(f"/runs/{queued_id(result.stderr)}").json()
    assert run["status"] == "Timeout"


def test_cancel_during_a_parallel_phase_removes_every_container_network_and_volume(
    stack: Stack, api: httpx.Client, base_image: str, engine, tmp_path: Path
) -> None:
    task = tmp_path / "acb.yaml"
    steps = "".join(
        f"  - id: sleeper{i}\n    cmd: {base_image} sh -c 'echo started-{i}; sleep 300'\n    when: ['-']\n"
        for i in range(3)
    )
    task.write_text(f"steps:\n  - id: svc\n    cmd: {base_image} sleep 300\n    detach: true\n    when: ['-']\n{steps}")
    result = run_cli(stack, "run", "-f", str(task), "--no-wait", "/dev/null")
    run_id = queued_id(result.stderr)
    wait_for(
        lambda: all(f"started-{i}" in run_log(api, run_id) for i in range(3)), timeout=60, what="the parallel steps"
    )
    assert run_cli(stack, "task", "cancel-run", "--run-id", run_id).code == 0
    assert wait_for_run(api, run_id, timeout=60)["status"] == "Canceled"
    labels = {"label": [f"slipway.run={run_id}", f"slipway.stack={stack.host_env['SLIPWAY_STACK_ID']}"]}
    wait_for(
        lambda: (
            not engine.containers(all=True, filters=labels)
            and not engine.networks(filters=labels)
            and not (engine.volumes(filters=labels) or {}).get("Volumes")
        ),
        timeout=30,
        what="every Docker object of the canceled run to be removed",
    )


def test_values_and_a_single_command_render_as_in_az_acr_run(stack: Stack, base_image: str, tmp_path: Path) -> None:
    task = tmp_path / "acb.yaml"
    task.write_text(f"steps:\n  - cmd: {base_image} echo {{{{.Values.greeting | upper}}}}-{{{{.Run.ID}}}}\n")
    result = run_cli(stack, "run", "-f", str(task), "--set", "greeting=hello", "/dev/null")
    assert result.code == 0, result.stderr + result.stdout
    assert f"HELLO-{queued_id(result.stderr)}" in result.stdout
    single = run_cli(stack, "run", "--cmd", f"{base_image} echo one-command", "/dev/null")
    assert single.code == 0 and "one-command" in single.stdout


def test_a_dry_run_prints_the_plan_and_runs_nothing(
    stack: Stack, api: httpx.Client, base_image: str, tmp_path: Path
) -> None:
    before = api.get("/runs", params={"top": 1}).json()["value"]
    task = tmp_path / "acb.yaml"
    task.write_text(
        f"steps:\n  - id: first\n    cmd: {base_image} echo {{{{.Values.x}}}}\n"
        f"  - id: second\n    cmd: {base_image} true\n"
    )
    result = run_cli(stack, "run", "-f", str(task), "--set", "x=rendered", "--dry-run", "/dev/null")
    assert result.code == 0, result.stderr
    assert f"docker run {base_image} echo rendered" in result.stdout
    assert "step second (cmd, timeout 600s), waits for first" in result.stdout
    assert api.get("/runs", params={"top": 1}).json()["value"] == before


def test_task_file_mistakes_are_refused_with_file_line_and_column(stack: Stack, api: httpx.Client) -> None:
    encoded = base64.b64encode(b"steps:\n  - cmd: busybox true\n    whne: ['-']\n").decode()
    response = api.post("/runs", json={"type": "EncodedTaskRunRequest", "encodedTaskContent": encoded})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidTaskFile"
    assert error["message"].startswith("acb.yaml:3:5:") and "did you mean 'when'" in error["message"]


def test_a_file_task_in_the_context_that_fails_to_render_ends_failed_with_the_position(
    stack: Stack, api: httpx.Client, tmp_path: Path
) -> None:
    context = write(tmp_path / "ctx", {"acb.yaml": "steps:\n  - cmd: {{ .Values.x | uper }}\n"})
    result = run_cli(stack, "run", "-f", "acb.yaml", str(context))
    assert result.code == 1
    run = api.get(f"/runs/{queued_id(result.stderr)}").json()
    assert run["status"] == "Failed"
    assert run["runErrorMessage"].startswith("acb.yaml:2:")
    assert 'did you mean "upper"' in run["runErrorMessage"]
