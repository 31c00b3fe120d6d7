"""Task files load to the steps, defaults and DAG that acb (Azure/acr-builder) builds.

Cases marked "acb" are transcribed from acr-builder's tests: `graph/dag_test.go`
(TestDagCreation_ValidFile with `graph/testdata/acb.yaml`) and `graph/task_test.go`
(TestInitializeTimeouts, TestMergeEnvs, TestNewTaskFromString, TestValidateTaskVersion).
"""

from __future__ import annotations

import json

import pytest

from core.taskfile import NetworkSpec, StepKind, VolumeMount, VolumeSpec
from core.taskfile.model import DEFAULT_NETWORK_NAME
from tests.unit.taskfiles import IMAGES, RUN, fixture_text, load, load_error


def test_acb_testdata_file_builds_the_same_steps_and_dag_as_acr_builder() -> None:
    task = load(fixture_text("acb-testdata.yaml"))

    assert task.version == "v1.0.0"
    assert [(step.id, step.depends_on) for step in task.steps] == [
        ("puller", ()),
        ("build-qux", ()),
        ("C", ()),
        ("build-bar", ()),
        ("B", ("C",)),
        ("build-foo", ("build-qux",)),
        ("build-qaz", ("build-foo",)),
    ]
    puller = task.step("puller")
    assert puller.cmd == "azure/images/docker pull ubuntu"
    assert puller.entry_point == "someEntryPoint"
    assert puller.env == ("eric=foo", "foo=bar")
    assert puller.exited_without == (0, 255)
    assert puller.timeout == 600
    assert puller.working_directory == "/workspace/pullDir"
    assert puller.network == DEFAULT_NETWORK_NAME
    assert (puller.retries, puller.retry_delay, puller.pull) == (5, 90, True)
    c = task.step("C")
    assert c.exited_with == (0, 1, 2, 3, 4)
    assert c.ports == ("8000:8000", "8080:8080")
    assert c.expose == ("80", "81")
    assert (c.keep, c.isolation, c.env, c.retry_delay) == (True, "default", ("foo=taskEnv",), 5)
    b = task.step("B")
    assert (b.ignore_errors, b.disable_working_directory_override) == (True, True)
    assert task.step("build-foo").env == ("eric=foo", "foo=taskEnv")
    qux = task.step("build-qux")
    assert (qux.detach, qux.start_delay) == (True, 50)
    qaz = task.step("build-qaz")
    assert qaz.kind is StepKind.BUILD
    assert qaz.build == "-f Dockerfile https://github.com/ehotinger/qaz --cache-from=ubuntu"
    assert (qaz.privileged, qaz.user, qaz.network, qaz.repeat) == (True, "root", "host", 2)


@pytest.mark.parametrize(("step_timeout", "expected"), [(0, 600), (20000, 20000), (-3, 600)])
def test_step_timeout_defaults_to_600_seconds_when_not_positive(step_timeout: int, expected: int) -> None:
    task = load(f"stepTimeout: {step_timeout}\nsteps:\n  - cmd: bash echo hi\n")  # acb TestInitializeTimeouts

    assert task.step_timeout == expected
    assert task.steps[0].timeout == expected


def test_a_step_timeout_overrides_the_task_step_timeout_unless_it_is_not_positive() -> None:
    task = load("stepTimeout: 90\nsteps:\n  - cmd: a\n    timeout: 30\n  - cmd: b\n    timeout: 0\n")

    assert [step.timeout for step in task.steps] == [30, 90]


@pytest.mark.parametrize(
    ("task_env", "step_env", "expected"),
    [
        (["key1=val1", "key2=val2", "key3=val3"], [], ["key1=val1", "key2=val2", "key3=val3"]),
        (
            ["key1=val1", "key2=val2", "key3=val3"],
            ["key1=newVal1", "key2=newVal2"],
            ["key1=newVal1", "key2=newVal2", "key3=val3"],
        ),
        (
            ["key1=val1,key2=val2,key3=val3"],
            ["key1=newVal1", "key2=newVal2", "key3=newVal3="],
            ["key1=newVal1", "key2=newVal2", "key3=newVal3="],
        ),
        (["key1=val1,key2=val2,key3=val3"], [], ["key1=val1", "key2=val2", "key3=val3"]),
        (
            ["key1=val1,key2=val2", "key3=val3,key4=val4"],
            ["key1=newVal1", "key2=newVal2"],
            ["key1=newVal1", "key2=newVal2", "key3=val3", "key4=val4"],
        ),
        (
            ["key1=val1,key2=val2", "key3=val3,key4=val4"],
            ["key1=newVal1", "key2=newVal2", "key3=newVal3="],
            ["key1=newVal1", "key2=newVal2", "key3=newVal3=", "key4=val4"],
        ),
        ([], [], []),
        ([], ["key=val1"], ["key=val1"]),
    ],
)
def test_step_env_is_merged_per_key_with_the_task_env(
    task_env: list[str], step_env: list[str], expected: list[str]
) -> None:
    task = load(
        f"env: {json.dumps(task_env)}\nsteps:\n  - cmd: a\n    env: {json.dumps(step_env)}\n"
    )  # acb TestMergeEnvs

    assert list(task.steps[0].env) == expected


def test_commas_split_task_env_entries_but_not_step_env_entries() -> None:
    task = load('env: ["a=1,b=2"]\nsteps:\n  - cmd: a\n    env: ["c=3,d=4"]\n')

    assert task.env == ("a=1", "b=2")
    assert task.steps[0].env == ("c=3,d=4", "a=1", "b=2")


VAULT = "https://myvault.vault.azure.net/secrets/"


def test_secrets_are_read_with_their_vault_urls_and_client_ids() -> None:
    text = (
        f"secrets:\n  - id: mysecret\n    keyvault: {VAULT}mysecret\n  - id: mysecret1\n"
        f"    keyvault: {VAULT}mysecret1\n    clientID: c72b2df0-b9d8-4ac6-9363-7c1eb06c1c86"
    )  # acb TestNewTaskFromString

    task = load(text, secrets={f"{VAULT}mysecret": "a", f"{VAULT}mysecret1": "b"})

    assert [(secret.id, secret.keyvault, secret.client_id) for secret in task.secrets] == [
        ("mysecret", f"{VAULT}mysecret", None),
        ("mysecret1", f"{VAULT}mysecret1", "c72b2df0-b9d8-4ac6-9363-7c1eb06c1c86"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "\nsecrets:\n  - id: MYSecret1\n  - id: mysecret1\n    clientID: c72b2df0-b9d8-4ac6-9363-7c1eb06c1c86",
        "\nsecrets:\n  - id: mysecret1\n    keyvault: secretvault1\n  - id: mysecret1\n    keyvault: secretvault2\n",
    ],
)
def test_secrets_without_a_vault_url_or_with_a_repeated_id_are_rejected(text: str) -> None:
    load_error(text)  # acb TestNewTaskFromString, the failing cases


@pytest.mark.parametrize(
    "text",
    [
        "\nsecrets:",
        "",
        "\nsteps:\n  - id: mystep\n    cmd: bash echo hello world",
        "\nsteps:\n  - cmd: bash echo hello world",
    ],
)
def test_task_files_without_secrets_or_steps_load(text: str) -> None:
    assert load(text).secrets == ()  # acb TestNewTaskFromString, the passing cases


@pytest.mark.parametrize("version", ["1.0-preview-1", "v1.0.0", "v1.1.0", "V1.0.0", '""'])
def test_supported_versions_are_accepted_in_any_case(version: str) -> None:
    task = load(f"version: {version}\nsteps:\n  - cmd: hello-world\n")  # acb TestValidateTaskVersion

    assert task.version in ("1.0-preview-1", "v1.0.0", "v1.1.0")


@pytest.mark.parametrize("version", ["v1.0.0-alpha", "foo", "v2"])
def test_other_versions_are_rejected(version: str) -> None:
    error = load_error(f"version: {version}\nsteps:\n  - cmd: hello-world\n")  # acb TestValidateTaskVersion

    assert error.message.startswith("acb.yaml:1:10: version ")
    assert "use v1.1.0 (aliases), v1.0.0 or 1.0-preview-1" in error.message
    assert error.target == "version"


def test_a_file_without_version_is_v1_0_0_so_aliases_stay_unexpanded() -> None:
    task = load("steps:\n  - cmd: bash echo $ID $Registry\n")

    assert task.version == "v1.0.0"
    assert task.steps[0].cmd == "bash echo $ID $Registry"


def test_a_step_without_when_waits_only_for_the_step_just_above() -> None:
    task = load("steps:\n  - cmd: a\n    when: ['-']\n  - cmd: b\n    when: ['-']\n  - cmd: c\n")

    assert [step.depends_on for step in task.steps] == [(), (), ("acb_step_1",)]


def test_steps_without_ids_get_acb_default_ids() -> None:
    task = load("steps:\n  - cmd: a\n  - id: named\n    cmd: b\n  - cmd: c\n")

    assert [step.id for step in task.steps] == ["acb_step_0", "named", "acb_step_2"]


SAMPLE_DAGS = {
    "build-push-hello-world.yaml": [
        ("acb_step_0", StepKind.BUILD, ()),
        ("acb_step_1", StepKind.PUSH, ("acb_step_0",)),
    ],
    "when-parallel-dependent.yaml": [
        ("build-hello-world", StepKind.BUILD, ()),
        ("build-hello-world-test", StepKind.BUILD, ()),
        ("hello-world", StepKind.CMD, ("build-hello-world",)),
        ("func-tests", StepKind.CMD, ("hello-world",)),
        ("acb_step_4", StepKind.PUSH, ("func-tests",)),
    ],
    "build-test-hello-world.yaml": [
        ("build-hello-world", StepKind.BUILD, ()),
        ("build-hello-world-test", StepKind.BUILD, ()),
        ("hello-world", StepKind.CMD, ("build-hello-world",)),
        ("func-tests", StepKind.CMD, ("build-hello-world-test", "hello-world")),
    ],
    "build-test-update-hello-world.yaml": [
        ("acb_step_0", StepKind.BUILD, ()),
        ("acb_step_1", StepKind.BUILD, ()),
        ("hello-world", StepKind.CMD, ("acb_step_1",)),
        ("func-tests", StepKind.CMD, ("hello-world",)),
        ("acb_step_4", StepKind.PUSH, ("func-tests",)),
        ("acb_step_5", StepKind.CMD, ("acb_step_4",)),
    ],
    "network-curl.yaml": [
        ("nginx", StepKind.CMD, ()),
        ("acb_step_1", StepKind.BUILD, ("nginx",)),
        ("acb_step_2", StepKind.CMD, ("acb_step_1",)),
    ],
    "when-sequential-id.yaml": [
        ("step1", StepKind.CMD, ()),
        ("step2", StepKind.CMD, ("step1",)),
        ("step3", StepKind.CMD, ("step2",)),
    ],
    "mounts-multistep.yaml": [
        ("acb_step_0", StepKind.CMD, ()),
        ("acb_step_1", StepKind.CMD, ("acb_step_0",)),
    ],
    "files-working-directory.yaml": [
        ("write-file", StepKind.CMD, ()),
        ("read-file", StepKind.CMD, ("write-file",)),
        ("list-workspace-files", StepKind.CMD, ("read-file",)),
    ],
}


@pytest.mark.parametrize("name", sorted(SAMPLE_DAGS))
def test_azure_samples_task_files_parse_to_the_expected_dag(name: str) -> None:
    task = load(fixture_text(f"samples/{name}"), file_name=name)

    assert [(step.id, step.kind, step.depends_on) for step in task.steps] == SAMPLE_DAGS[name]


def test_templates_in_samples_are_rendered_with_run_values() -> None:
    task = load(fixture_text("samples/build-test-update-hello-world.yaml"))

    assert task.steps[0].build == "-t myregistry.azurecr.io/hello-world:cf19 -f hello-world.dockerfile ."
    assert task.steps[4].push == ("myregistry.azurecr.io/hello-world:cf19",)
    assert task.steps[5].cmd == (
        "cmd.azurecr.io/helm:v2.11.0-rc.2 update helloworld ./release/helm/  --reuse-values  "
        "--set helloworld.image=myregistry.azurecr.io/hello-world:cf19\n"
    )


def test_the_network_sample_runs_every_step_on_the_default_network() -> None:
    task = load(fixture_text("samples/network-curl.yaml"))

    assert task.networks == (NetworkSpec(DEFAULT_NETWORK_NAME, driver="bridge", is_default=True),)
    assert task.step("nginx").detach is True
    assert {step.network for step in task.steps} == {DEFAULT_NETWORK_NAME}


def test_declared_networks_replace_the_default_and_the_last_default_one_wins() -> None:
    task = load(
        "networks:\n  - name: a\n    isDefault: true\n  - name: b\n    driver: overlay\n    ipv6: true\n"
        "  - name: c\n    isDefault: true\n    skipCreation: true\n"
        "steps:\n  - cmd: x\n  - cmd: y\n    network: a\n"
    )

    assert task.networks == (
        NetworkSpec("a", is_default=True),
        NetworkSpec("b", driver="overlay", ipv6=True),
        NetworkSpec("c", skip_creation=True, is_default=True),
    )
    assert [step.network for step in task.steps] == ["c", "a"]


def test_declared_networks_without_a_default_leave_steps_on_dockers_default() -> None:
    task = load("networks:\n  - name: a\nsteps:\n  - cmd: x\n")

    assert task.steps[0].network is None


def test_the_mounts_sample_decodes_to_a_secret_volume_mounted_in_the_step() -> None:
    task = load(
        fixture_text("samples/mounts-secrets.yaml"),
        secrets={"https://myacbvault2.vault.azure.net/secrets/SampleSecret": "hunter2"},
    )

    assert task.volumes == (
        VolumeSpec("mysecrets", {"mysecret1": "aHVudGVyMg==", "mysecret2": "dGhpcyBpcyBhIG5vbiBlbmNvZGVkIHN0cmluZw=="}),
    )
    assert task.steps[0].volume_mounts == (VolumeMount("mysecrets", "/run/test"),)


def test_volume_mounts_work_on_build_steps_too() -> None:
    task = load(
        "volumes:\n  - name: v\n    secret: {f: YQ==}\n"
        "steps:\n  - build: .\n    volumeMounts: [{name: v, mountPath: /s}]\n"
    )

    assert task.steps[0].volume_mounts == (VolumeMount("v", "/s"),)


@pytest.mark.parametrize(
    ("task_directory", "step_directory", "expected"),
    [
        (None, None, "/workspace"),
        ("src", None, "/workspace/src"),
        ("src", "/abs/dir/", "/abs/dir"),
        (None, "a/../b", "/workspace/b"),
        (None, "../../..", "/"),
    ],
)
def test_working_directories_are_absolute_with_relative_ones_under_workspace(
    task_directory: str | None, step_directory: str | None, expected: str
) -> None:
    task_line = f"workingDirectory: {task_directory}\n" if task_directory else ""
    step_line = f"    workingDirectory: {step_directory}\n" if step_directory else ""

    task = load(f"{task_line}steps:\n  - cmd: x\n{step_line}")

    assert task.steps[0].working_directory == expected
    assert task.working_directory == task_directory


@pytest.mark.parametrize(("written", "expected"), [(None, 5), (0, 5), (-1, 5), (7, 7)])
def test_the_retry_delay_defaults_to_five_seconds(written: int | None, expected: int) -> None:
    line = f"    retryDelay: {written}\n" if written is not None else ""

    assert load(f"steps:\n  - cmd: x\n    retries: 2\n{line}").steps[0].retry_delay == expected


def test_push_images_get_latest_when_untagged_and_are_deduplicated() -> None:
    task = load(
        "steps:\n  - push: [reg.io/a, 'reg.io/a:latest', 'localhost:5000/b', 'reg.io/c@sha256:abc', reg.io/d:v1]\n"
    )

    assert task.steps[0].push == ("reg.io/a:latest", "localhost:5000/b:latest", "reg.io/c@sha256:abc", "reg.io/d:v1")


def test_string_properties_take_the_text_of_any_scalar_as_yaml_v2_does() -> None:
    task = load("steps:\n  - id: 1\n    cmd: true\n    user: 1000\n    ports: [8080:80]\n    cpus: 0.5\n")

    step = task.steps[0]
    assert (step.id, step.cmd, step.user, step.ports, step.cpus) == ("1", "true", "1000", ("8080:80",), "0.5")


def test_isolation_cpus_cache_and_download_retries_are_kept_for_the_executor() -> None:
    step = load(
        "steps:\n  - build: .\n    cache: Enabled\n    isolation: hyperv\n    cpus: '2'\n"
        "    cmdDownloadRetries: 3\n    cmdDownloadRetryDelay: 4\n    retryOnErrors: [reset]\n"
    ).steps[0]

    assert (step.cache, step.isolation, step.cpus) == ("enabled", "hyperv", "2")
    assert (step.cmd_download_retries, step.cmd_download_retry_delay, step.retry_on_errors) == (3, 4, ("reset",))


def test_properties_acb_ignores_are_accepted_with_a_warning() -> None:
    task = load("totalTimeout: 100\nsteps:\n  - cmd: x\n    exitedWith: [0]\n")

    assert task.steps[0].exited_with == (0,)
    assert any("totalTimeout is no longer supported" in warning for warning in task.warnings)
    assert any("steps[0].exitedWith has no effect" in warning for warning in task.warnings)


def test_an_empty_file_loads_with_no_steps_and_a_warning() -> None:
    task = load("# nothing here\n")

    assert task.steps == ()
    assert task.warnings == ("the task file is empty, so a run does nothing",)


def test_yaml_anchors_and_merge_keys_are_supported() -> None:
    task = load("steps:\n  - &base\n    cmd: a\n    retries: 3\n  - <<: *base\n    id: again\n")

    assert [(step.id, step.cmd, step.retries) for step in task.steps] == [("acb_step_0", "a", 3), ("again", "a", 3)]


def test_values_are_available_to_templates() -> None:
    task = load("steps:\n  - cmd: {{.Values.image}} run\n", values={"image": "alpine:3"})

    assert task.steps[0].cmd == "alpine:3 run"


def test_run_values_render_in_a_v1_1_0_file_through_builtin_aliases() -> None:
    task = load("version: v1.1.0\nsteps:\n  - build: -t $Registry/app:$ID-$Branch .\n")

    assert task.steps[0].build == f"-t {RUN['Registry']}/app:{RUN['ID']}-{RUN['Branch']} ."


def test_image_aliases_come_from_the_servers_mapping() -> None:
    task = load("version: v1.1.0\nsteps:\n  - cmd: az login --identity\n  - cmd: curl http://nginx\n")

    assert [step.cmd for step in task.steps] == [f"{IMAGES['az']} login --identity", f"{IMAGES['curl']} http://nginx"]


TEST_B64 = "dGhpcyBpcyBhIHRlc3Q="  # "this is a test"


@pytest.mark.parametrize(
    ("volume", "valid"),
    [
        ('{name: "", secret: {a: ' + TEST_B64 + "}}", False),
        ("{name: test, secret: {}}", False),
        ('{name: "", secret: {}}', False),
        ("{name: test, secret: {a: " + TEST_B64 + "}}", True),
        ("{name: test123-_, secret: {a: " + TEST_B64 + "}}", True),
        ("{name: test/., secret: {a: " + TEST_B64 + "}}", False),
        ('{name: test, secret: {"": ' + TEST_B64 + "}}", False),
        ('{name: test, secret: {a: ""}}', True),
        ("{name: test, secret: {a.b_c-1: " + TEST_B64 + "}}", True),
        ("{name: test}", False),
    ],
)
def test_volumes_are_validated_like_acb(volume: str, valid: bool) -> None:
    text = f"volumes:\n  - {volume}\nsteps:\n  - cmd: x\n"  # acb pkg/volume TestVolumeValidate, TestSourceValidate

    if valid:
        assert len(load(text).volumes) == 1
    else:
        assert load_error(text).message.startswith("acb.yaml:2:")


@pytest.mark.parametrize(
    ("mount", "valid"),
    [
        ('{name: "", mountPath: /run/test}', False),
        ('{name: test, mountPath: ""}', False),
        ('{name: "", mountPath: ""}', False),
        ("{name: test, mountPath: /run/test}", True),
    ],
)
def test_volume_mounts_need_a_name_and_a_path(mount: str, valid: bool) -> None:
    text = f"volumes:\n  - {{name: test, secret: {{a: {TEST_B64}}}}}\nsteps:\n  - cmd: x\n    volumeMounts: [{mount}]\n"

    if valid:
        assert load(text).steps[0].volume_mounts == (VolumeMount("test", "/run/test"),)
    else:
        assert load_error(text).message.startswith(
            "acb.yaml:5:20: steps[0].volumeMounts[0] needs a "
        )  # acb TestMountValidate


def test_two_volumes_with_one_name_are_rejected() -> None:
    error = load_error(
        f"volumes:\n  - {{name: v, secret: {{a: {TEST_B64}}}}}\n  - {{name: v, secret: {{b: {TEST_B64}}}}}\n"
    )

    assert error.message.startswith("acb.yaml:3:12: volumes[1]: the volume name 'v' is used twice (first on line 2)")


def test_the_managed_identities_sample_uses_aliases_values_and_secrets_together() -> None:
    task = load(
        fixture_text("samples/managed-identities.yaml"),
        values={"registryName": "myregistry"},
        secrets={"https://myacbvault2.vault.azure.net/secrets/SampleSecret": "hunter2"},
    )

    assert task.version == "v1.1.0"
    assert task.steps[0].env == ("MY_SECRET='hunter2'",)
    assert task.steps[1].cmd == (
        "docker build -t myregistry.azurecr.io/repo:cf19 https://github.com/Azure-Samples/aci-helloworld.git"
    )
    assert task.steps[2].push == ("myregistry.azurecr.io/repo:cf19",)
    assert task.steps[3].cmd == f"{IMAGES['az']} login --identity"
    assert task.steps[4].cmd == f"{IMAGES['az']} acr repository show-tags -n myregistry --repository repo"


def test_a_tagged_bash_image_is_not_an_image_alias() -> None:
    assert load(fixture_text("samples/bash-echo-3.yaml")).steps[0].cmd == "bash:3.0 echo hello world"
