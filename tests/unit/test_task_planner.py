import base64

import pytest

from core.errors import InvalidTaskFile
from core.plan import BuildStep, CmdStep, PushStep, WorkspacePath
from core.task_planner import PlanPolicy, plan_task
from core.taskfile import load_task_file

RUN = {
    "ID": "ca1",
    "Registry": "reg.test:5000",
    "RegistryName": "reg",
    "Date": "20261126-120000z",
    "OS": "linux",
    "Architecture": "amd64",
    "Commit": "",
    "Branch": "",
}


def plan(text: str, policy: PlanPolicy | None = None, aliases: dict[str, str] | None = None):
    task = load_task_file(text, file_name="acb.yaml", run=RUN, values={}, image_aliases=aliases or {})
    return plan_task(task, file_name="acb.yaml", policy=policy or PlanPolicy())


def test_build_push_and_run_become_typed_steps_in_order() -> None:
    result = plan(
        "steps:\n"
        "  - build: -t {{.Run.Registry}}/app:{{.Run.ID}} -f Dockerfile .\n"
        "  - push: ['{{.Run.Registry}}/app:{{.Run.ID}}']\n"
        "  - cmd: '{{.Run.Registry}}/app:{{.Run.ID}} echo hello world'\n"
    )
    build, push, run = result.steps
    assert isinstance(build, BuildStep) and build.context == WorkspacePath("/workspace")
    assert build.options.tags == ("reg.test:5000/app:ca1",)
    assert isinstance(push, PushStep) and push.images == ("reg.test:5000/app:ca1",)
    assert isinstance(run, CmdStep) and (run.image, run.args) == ("reg.test:5000/app:ca1", ("echo", "hello", "world"))
    assert [s.depends_on for s in result.steps] == [(), ("acb_step_0",), ("acb_step_1",)]
    assert result.workspace and result.default_network == "acb_default_network"


def test_cmd_strings_split_like_a_shell_but_never_run_a_host_shell() -> None:
    (step,) = plan("steps:\n  - cmd: busybox sh -c 'echo a | tr a b'\n").steps
    assert isinstance(step, CmdStep) and step.args == ("sh", "-c", "echo a | tr a b")
    with pytest.raises(InvalidTaskFile, match=r"acb.yaml:2:1: step 'acb_step_0': cmd uses the shell operator '\|'"):
        plan("steps:\n  - cmd: busybox echo a | tr a b\n")


def test_pushing_an_image_without_a_registry_is_refused_with_the_fix() -> None:
    with pytest.raises(InvalidTaskFile, match=r"does not name a registry.*\{\{\.Run\.Registry\}\}/"):
        plan("steps:\n  - push: ['app:v1']\n")


def test_privileged_steps_and_the_host_network_follow_the_server_policy() -> None:
    privileged = "steps:\n  - cmd: busybox true\n    privileged: true\n"
    with pytest.raises(InvalidTaskFile, match="SLIPWAY_ALLOW_PRIVILEGED"):
        plan(privileged)
    assert plan(privileged, PlanPolicy(allow_privileged=True)).steps[0].privileged
    host = "steps:\n  - cmd: busybox true\n    network: host\n"
    with pytest.raises(InvalidTaskFile, match="SLIPWAY_ALLOW_HOST_NETWORK"):
        plan(host)
    with pytest.raises(InvalidTaskFile, match="network 'other' is not declared"):
        plan("steps:\n  - cmd: busybox true\n    network: other\n")


def test_secret_volumes_are_decoded_and_mounts_resolved() -> None:
    encoded = base64.b64encode(b"s3cret").decode()
    result = plan(
        "volumes:\n  - name: creds\n    secret:\n      token: " + encoded + "\n"
        "steps:\n  - cmd: busybox cat /run/secrets/token\n    volumeMounts:\n"
        "      - name: creds\n        mountPath: /run/secrets\n"
    )
    assert result.volumes[0].files == {"token": b"s3cret"}
    assert result.steps[0].volume_mounts[0].path == "/run/secrets"
    assert "s3cret" not in repr(result.volumes[0])


def test_options_without_effect_here_are_explained_in_notes() -> None:
    (step,) = plan(
        "steps:\n  - build: --network host -t a/b:c .\n    cache: enabled\n    isolation: hyperv\n"
        "    env: ['DOCKER_BUILDKIT=1']\n"
    ).steps
    text = "\n".join(step.notes)
    assert "isolation 'hyperv' has no effect" in text
    assert "cache: enabled" in text
    assert "--network host has no effect" in text
    assert "classic builder" in text


def test_build_argument_errors_point_at_the_step() -> None:
    with pytest.raises(InvalidTaskFile, match=r"acb.yaml:3:1: step 'b': build: docker build option '--squash'"):
        plan("steps:\n  - cmd: busybox true\n  - id: b\n    build: --squash .\n")


def test_disabling_the_working_directory_override_leaves_the_image_default() -> None:
    (step,) = plan("steps:\n  - cmd: busybox pwd\n    disableWorkingDirectoryOverride: true\n").steps
    assert isinstance(step, CmdStep) and step.working_directory is None
