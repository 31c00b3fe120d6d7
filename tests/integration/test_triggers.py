"""Tasks and their triggers end to end: git server, GitHub deliveries, registry notifications, timers."""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from core.trigger_service import run_scheduler_tick
from core.wiring import create_services
from tests.integration.conftest import Stack, run_cli, run_log, unique, wait_for, wait_for_run
from tests.support.git_server import GitServer
from tests.support.github_payloads import pull_request_payload, signed_delivery

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git")).start()
    yield server
    server.close()


def task_runs(api: httpx.Client, task: str) -> list[dict]:
    return api.get("/runs", params={"task": task, "top": 50}).json()["value"]


def create_task(stack: Stack, *args: str) -> dict:
    result = run_cli(stack, "task", "create", *args, "-o", "json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def deliver(stack: Stack, event: str, payload: dict, *, secret: str | None = None, delivery: str | None = None):
    body, headers = signed_delivery(event, payload, secret=secret or stack.webhook_secret, delivery_id=delivery)
    return httpx.post(f"{stack.url}/api/webhooks/github", content=body, headers=headers, timeout=30)


def test_a_private_repository_task_runs_by_hand_with_its_token_kept_secret(
    stack: Stack, api: httpx.Client, git_server: GitServer, base_image: str, planted_secrets: dict[str, str]
) -> None:
    token = secrets.token_hex(16)
    planted_secrets["git-token"] = token
    name = unique("private")
    repo = git_server.create_repo(
        name, {"Dockerfile": f"FROM {base_image}\nCOPY app.txt /app.txt\n", "app.txt": "v1"}, token=token
    )
    url = git_server.url_for(repo)
    create_task(
        stack,
        "-n",
        name,
        "-c",
        f"{url}#main",
        "-f",
        "Dockerfile",
        "-t",
        f"{name}:{{{{.Run.ID}}}}",
        "--git-access-token",
        token,
    )
    shown = run_cli(stack, "task", "show", "-n", name, "-o", "json")
    assert token not in shown.stdout and json.loads(shown.stdout)["hasGitAccessToken"] is True
    result = run_cli(stack, "task", "run", "-n", name)
    assert result.code == 0, result.stderr + result.stdout
    run_id = result.stderr.split("Queued a run with ID: ")[1].split()[0]
    run = api.get(f"/runs/{run_id}").json()
    assert (run["status"], run["runType"], run["task"], run["trigger"]["kind"]) == (
        "Succeeded",
        "AutoBuild",
        name,
        "manual",
    )
    head = git_server.resolve(repo, "refs/heads/main")
    assert run["dependencies"][0]["git"]["git-head-revision"] == head
    assert token not in result.stdout and token not in json.dumps(run)
    assert any(r.authorization for r in git_server.requests_for(repo))
    assert all(token not in r.path for r in git_server.requests_for(repo))


def test_a_signed_push_starts_one_run_that_builds_the_pushed_commit(
    stack: Stack, api: httpx.Client, git_server: GitServer, base_image: str
) -> None:
    name = unique("pushed")
    repo = git_server.create_repo(name, {"Dockerfile": f"FROM {base_image}\nCOPY v.txt /v.txt\n", "v.txt": "one"})
    before = git_server.resolve(repo, "refs/heads/main")
    url = git_server.url_for(repo)
    task = create_task(stack, "-n", name, "-c", f"{url}#main", "-f", "Dockerfile", "-t", f"{name}:{{{{.Run.ID}}}}")
    assert task["webhookUrl"].endswith("/api/webhooks/github") and task["webhookSecret"] == stack.webhook_secret
    after = git_server.commit(repo, {"v.txt": "two"}, "second")
    payload = git_server.github_push_payload(repo, "main", before=before, after=after)
    delivery = str(uuid.uuid4())

    forged = deliver(stack, "push", payload, secret="not-the-secret")
    assert forged.status_code == 401
    accepted = deliver(stack, "push", payload, delivery=delivery)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["deliveryId"] == delivery
    # GitHub may deliver the same delivery again: it is accepted and recognised as a duplicate behind the queue.
    assert deliver(stack, "push", payload, delivery=delivery).status_code == 202

    run_id = wait_for(lambda: [r["runId"] for r in task_runs(api, name)], timeout=60, what="the triggered run")[0]
    run = wait_for_run(api, run_id)
    assert run["status"] == "Succeeded", run_log(api, run_id)
    assert run["trigger"]["kind"] == "commit" and run["trigger"]["commitId"] == after
    assert run["dependencies"][0]["git"]["git-head-revision"] == after
    assert len(task_runs(api, name)) == 1  # the forged and the duplicate delivery started nothing

    listed = run_cli(stack, "event", "list", "-n", name, "-o", "json")
    (event,) = json.loads(listed.stdout)
    decision = next(d for d in event["decisions"] if d["task"] == name)
    assert (decision["starts"], decision["runId"]) == (True, run_id)
    table = run_cli(stack, "task", "list-runs", "-n", name)
    assert "Commit" in table.stdout


def test_pushes_to_other_branches_are_recorded_with_the_reason_and_start_nothing(
    stack: Stack, api: httpx.Client, git_server: GitServer, base_image: str
) -> None:
    name = unique("branches")
    repo = git_server.create_repo(name, {"Dockerfile": f"FROM {base_image}\n"})
    create_task(stack, "-n", name, "-c", f"{git_server.url_for(repo)}#main", "-f", "Dockerfile", "--no-push")
    sha = git_server.commit(repo, {"x": "1"}, "on dev", branch="dev")
    payload = git_server.github_push_payload(repo, "dev", before=None, after=sha)
    assert deliver(stack, "push", payload).status_code == 202

    def recorded() -> dict | None:
        events = json.loads(run_cli(stack, "event", "list", "-n", name, "-o", "json").stdout)
        return events[0] if events else None

    event = wait_for(recorded, timeout=60, what="the event to be recorded")
    decision = next(d for d in event["decisions"] if d["task"] == name)
    assert decision["starts"] is False and "push to 'dev', task watches 'main'" in decision["message"]
    assert task_runs(api, name) == []


def test_a_pull_request_runs_the_pull_request_head(
    stack: Stack, api: httpx.Client, git_server: GitServer, base_image: str
) -> None:
    name = unique("pulls")
    repo = git_server.create_repo(name, {"Dockerfile": f"FROM {base_image}\nCOPY f.txt /f.txt\n", "f.txt": "base"})
    url = git_server.url_for(repo)
    create_task(
        stack,
        "-n",
        name,
        "-c",
        f"{url}#main",
        "-f",
        "Dockerfile",
        "--no-push",
        "--pull-request-trigger-enabled",
        "true",
        "--commit-trigger-enabled",
        "false",
    )
    head = git_server.create_pull_request_ref(repo, 5, {"f.txt": "from the pull request"})
    payload = pull_request_payload(number=5, head_sha=head, base_ref="main", full_name=f"tests/{name}")
    payload["repository"]["clone_url"] = url
    payload["pull_request"]["base"]["repo"]["clone_url"] = url
    payload["pull_request"]["head"]["repo"]["clone_url"] = url
    assert deliver(stack, "pull_request", payload).status_code == 202
    run_id = wait_for(lambda: [r["runId"] for r in task_runs(api, name)], timeout=60, what="the PR run")[0]
    run = wait_for_run(api, run_id)
    assert run["status"] == "Succeeded", run_log(api, run_id)
    assert (run["trigger"]["kind"], run["trigger"]["pullRequestId"]) == ("pullrequest", 5)
    assert run["dependencies"][0]["git"]["git-head-revision"] == head


def test_a_new_base_image_digest_from_the_registry_rebuilds_the_dependent_task_once(
    stack: Stack, api: httpx.Client, engine, base_image: str, tmp_path: Path
) -> None:
    name = unique("dependent")
    base = f"{stack.registry}/{unique('base')}:stable"

    def push(image: str) -> None:
        for line in engine.push(image, stream=True, decode=True):
            assert "error" not in line, line

    engine.tag(base_image, base)
    push(base)
    server = GitServer(tmp_path / "git").start()
    try:
        repo = server.create_repo(name, {"Dockerfile": f"FROM {base}\nRUN echo built\n"})
        create_task(
            stack,
            "-n",
            name,
            "-c",
            f"{server.url_for(repo)}#main",
            "-f",
            "Dockerfile",
            "-t",
            f"{name}:{{{{.Run.ID}}}}",
            "--commit-trigger-enabled",
            "false",
        )
        first = run_cli(stack, "task", "run", "-n", name)
        assert first.code == 0, first.stderr + first.stdout
        shown = json.loads(run_cli(stack, "task", "show", "-n", name, "-o", "json").stdout)
        assert [d["image"] for d in shown["baseImageDependencies"]] == [base]

        # Push a different image to the same tag: the registry notifies Slipway, which rebuilds the task.
        (tmp_path / "next").mkdir()
        (tmp_path / "next" / "Dockerfile").write_text(f"FROM {base_image}\nRUN echo {secrets.token_hex(4)} > /n\n")
        for line in engine.build(path=str(tmp_path / "next"), tag=base, rm=True, decode=True):
            assert "error" not in line, line
        push(base)
        rebuilt = wait_for(
            lambda: [r for r in task_runs(api, name) if r["trigger"].get("kind") == "imageupdate"],
            timeout=90,
            what="the base-image-triggered run",
        )
        assert len(rebuilt) == 1
        run = wait_for_run(api, rebuilt[0]["runId"])
        assert run["status"] == "Succeeded" and run["trigger"]["image"] == base
        # Re-pushing the same digest starts nothing.
        push(base)
        threading.Event().wait(5)
        assert len([r for r in task_runs(api, name) if r["trigger"].get("kind") == "imageupdate"]) == 1
    finally:
        server.close()


def test_a_timer_occurrence_runs_exactly_once_however_many_hosts_tick(
    stack: Stack, api: httpx.Client, base_image: str
) -> None:
    name = unique("nightly")
    create_task(
        stack, "-n", name, "-c", "/dev/null", "--cmd", f"{base_image} echo tick", "--schedule", "every:* * * * *"
    )
    settings = Settings(storage_connection=stack.storage, api_key=stack.api_key, registry=stack.registry)
    ticking = create_services(settings)
    at = (datetime.now(UTC) + timedelta(minutes=1)).replace(second=5, microsecond=0)
    # Two "hosts" tick at once, and one tick is retried: one run.
    threads = [threading.Thread(target=run_scheduler_tick, args=(ticking,), kwargs={"now": at}) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_scheduler_tick(ticking, now=at)
    runs = [r for r in task_runs(api, name) if r["trigger"].get("kind") == "timer"]
    occurrence = at.replace(second=0).isoformat()
    assert [r["trigger"]["scheduleOccurrence"] for r in runs] == [occurrence]
    run = wait_for_run(api, runs[0]["runId"])
    assert run["status"] == "Succeeded" and "tick" in run_log(api, run["runId"])


def test_a_newer_push_cancels_the_older_run_under_cancel_superseded(
    stack: Stack, api: httpx.Client, git_server: GitServer, base_image: str
) -> None:
    name = unique("superseded")
    repo = git_server.create_repo(name, {"Dockerfile": f"FROM {base_image}\nRUN echo first && sleep 120\n"})
    url = git_server.url_for(repo)
    create_task(
        stack,
        "-n",
        name,
        "-c",
        f"{url}#main",
        "-f",
        "Dockerfile",
        "--no-push",
        "--concurrency-policy",
        "cancel-superseded",
    )
    first = git_server.commit(repo, {"a.txt": "1"}, "first")
    assert (
        deliver(stack, "push", git_server.github_push_payload(repo, "main", before=None, after=first)).status_code
        == 202
    )
    older = wait_for(lambda: [r["runId"] for r in task_runs(api, name)], timeout=60, what="the first run")[0]
    wait_for(lambda: "first" in run_log(api, older), timeout=60, what="the first build to start")
    second = git_server.commit(repo, {"Dockerfile": f"FROM {base_image}\nRUN echo second\n"}, "second")
    payload = git_server.github_push_payload(repo, "main", before=first, after=second)
    assert deliver(stack, "push", payload).status_code == 202
    assert wait_for_run(api, older, timeout=60)["status"] == "Canceled"
    newer = wait_for(
        lambda: [r for r in task_runs(api, name) if r["trigger"].get("commitId") == second], timeout=60, what="run 2"
    )[0]
    assert wait_for_run(api, newer["runId"])["status"] == "Succeeded"


def test_event_grid_subscription_validation_is_answered(stack: Stack) -> None:
    code = str(uuid.uuid4())
    handshake = [
        {
            "id": str(uuid.uuid4()),
            "topic": "/subscriptions/x/resourceGroups/y/providers/Microsoft.ContainerRegistry/registries/z",
            "subject": "",
            "data": {"validationCode": code, "validationUrl": "https://rp.example.test/validate"},
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2026-11-26T12:00:00Z",
            "metadataVersion": "1",
            "dataVersion": "1",
        }
    ]
    token = stack.host_env["SLIPWAY_REGISTRY_EVENT_TOKEN"]
    reply = httpx.post(
        f"{stack.url}/api/webhooks/registry",
        json=handshake,
        headers={"aeg-event-type": "SubscriptionValidation", "x-slipway-token": token},
    )
    assert reply.status_code == 200 and reply.json() == {"validationResponse": code}
    refused = httpx.post(f"{stack.url}/api/webhooks/registry", json=handshake, headers={"x-slipway-token": "nope"})
    assert refused.status_code == 401
