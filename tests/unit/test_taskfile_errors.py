"""Every problem in a task file is an InvalidTaskFile that says where (`file:line:column` in the file
the user wrote), quotes what is wrong, and says what is allowed."""

from __future__ import annotations

import pytest

from core.errors import InvalidTaskFile
from core.taskfile import load_values_file
from tests.unit.taskfiles import load_error

CASES = [
    # (task file, start of the message, target)
    pytest.param(
        "steps:\n  - cmd: bash echo hi\n    whne: [a]\n",
        "acb.yaml:3:5: steps[0]: unknown property 'whne'; did you mean 'when'?",
        "steps[0].whne",
        id="unknown step property",
    ),
    pytest.param(
        "stps:\n  - cmd: x\n",
        "acb.yaml:1:1: unknown top-level property 'stps'; did you mean 'steps'?",
        "stps",
        id="unknown top-level property",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    workingdirectory: src\n",
        "acb.yaml:3:5: steps[0]: unknown property 'workingdirectory'; did you mean 'workingDirectory'?",
        "steps[0].workingdirectory",
        id="property in the wrong case",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    zzz: 1\n",
        "acb.yaml:3:5: steps[0]: unknown property 'zzz'; step properties are: id, cmd, build, push, when",
        "steps[0].zzz",
        id="unknown property without a near match",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    secret: {a: b}\n",
        "acb.yaml:3:5: steps[0]: unknown property 'secret'; the ACR docs list it, but acb has no such property",
        "steps[0].secret",
        id="documented but unimplemented step secret",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    downloadRetries: 2\n",
        "acb.yaml:3:5: steps[0]: unknown property 'downloadRetries'; the ACR docs call it that, but the property "
        "is 'cmdDownloadRetries'",
        "steps[0].downloadRetries",
        id="the docs' name for cmdDownloadRetries",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    timeout: ten\n",
        "acb.yaml:3:14: steps[0].timeout must be a whole number of seconds; found 'ten'",
        "steps[0].timeout",
        id="timeout is not a number",
    ),
    pytest.param(
        "stepTimeout: 1.5\nsteps:\n  - cmd: x\n",
        "acb.yaml:1:14: stepTimeout must be a whole number of seconds; found '1.5'",
        "stepTimeout",
        id="stepTimeout is a fraction",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    privileged: maybe\n",
        "acb.yaml:3:17: steps[0].privileged must be true or false; found 'maybe'",
        "steps[0].privileged",
        id="flag is not a boolean",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    when: '-'\n",
        "acb.yaml:3:11: steps[0].when must be a list, e.g. [\"-\"] or [other-step-id]; found the value '-'",
        "steps[0].when",
        id="when is not a list",
    ),
    pytest.param(
        "steps:\n  - cmd: [a, b]\n",
        "acb.yaml:2:10: steps[0].cmd must be a string; found a list",
        "steps[0].cmd",
        id="cmd is a list",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    retries: -1\n",
        "acb.yaml:3:14: steps[0].retries must be 0 or more; found '-1'",
        "steps[0].retries",
        id="negative retries",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    repeat: -2\n",
        "acb.yaml:3:13: steps[0].repeat must be 0 or more; found '-2'",
        "steps[0].repeat",
        id="negative repeat",
    ),
    pytest.param(
        "steps:\n  - id: a\n    when: ['-']\n",
        "acb.yaml:2:5: steps[0]: a step needs one of build, cmd or push; e.g. `- cmd: bash echo hello`",
        "steps[0]",
        id="no step type",
    ),
    pytest.param(
        "steps:\n  - id: a\n    cmd: ''\n",
        "acb.yaml:2:5: steps[0]: a step needs one of build, cmd or push (cmd is empty)",
        "steps[0]",
        id="empty step type",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    build: .\n",
        "acb.yaml:3:5: steps[0]: a step can have only one of build, cmd or push, but this one has both 'cmd' "
        "(line 2) and 'build'; split it into two steps",
        "steps[0]",
        id="two step types",
    ),
    pytest.param(
        "steps:\n  - - cmd: x\n",
        "acb.yaml:2:5: steps[0] must be a mapping of step properties; found a list",
        "steps[0]",
        id="step is not a mapping",
    ),
    pytest.param(
        "steps:\n  cmd: x\n",
        "acb.yaml:2:3: steps must be a list, e.g. [{cmd: bash echo hi}]; found a mapping",
        "steps",
        id="steps is not a list",
    ),
    pytest.param(
        "steps:\n  - id: a\n    cmd: x\n  - id: a\n    cmd: y\n",
        "acb.yaml:4:9: steps[1].id: 'a' is already the id of steps[0] (line 2); step ids must be unique",
        "steps[1].id",
        id="duplicate id",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n  - id: acb_step_0\n    cmd: y\n",
        "acb.yaml:3:9: steps[1].id: 'acb_step_0' is already the id of steps[0] (line 2); step ids must be unique",
        "steps[1].id",
        id="id equal to a default id",
    ),
    pytest.param(
        "steps:\n  - id: acb_root\n    cmd: x\n",
        "acb.yaml:2:9: steps[0].id: 'acb_root' is reserved by the engine; choose another id",
        "steps[0].id",
        id="reserved id",
    ),
    pytest.param(
        "steps:\n  - id: my step\n    cmd: x\n",
        "acb.yaml:2:9: steps[0].id 'my step' cannot contain spaces",
        "steps[0].id",
        id="id with a space",
    ),
    pytest.param(
        "steps:\n  - id: a\n    cmd: x\n    when: [b]\n  - id: b\n    cmd: y\n",
        "acb.yaml:4:12: step 'a' waits for 'b', which is defined below it (line 5); steps can only wait for "
        "earlier steps",
        "steps[0].when",
        id="when refers forward",
    ),
    pytest.param(
        "steps:\n  - id: build\n    cmd: x\n  - id: push\n    cmd: y\n    when: [tests]\n",
        "acb.yaml:6:12: step 'push' waits for 'tests', which is not defined above it; steps can only wait for "
        "earlier steps",
        "steps[1].when",
        id="when refers to a missing step",
    ),
    pytest.param(
        "steps:\n  - id: build\n    cmd: x\n  - id: push\n    cmd: y\n    when: [biuld]\n",
        "acb.yaml:6:12: step 'push' waits for 'biuld', which is not defined above it (did you mean 'build'?)",
        "steps[1].when",
        id="when with a typo",
    ),
    pytest.param(
        "steps:\n  - id: a\n    cmd: x\n    when: [a]\n",
        "acb.yaml:4:12: step 'a' waits for itself; steps can only wait for earlier steps",
        "steps[0].when",
        id="when refers to itself",
    ),
    pytest.param(
        "steps:\n  - id: a\n    cmd: x\n  - id: b\n    cmd: y\n    when: ['-', a]\n",
        "acb.yaml:6:12: step 'b': \"-\" (start at once) must be the only entry of when",
        "steps[1].when",
        id="immediate token with other ids",
    ),
    pytest.param(
        "version: v3.0.0\nsteps:\n  - cmd: x\n",
        "acb.yaml:1:10: version 'v3.0.0' is not supported; use v1.1.0 (aliases), v1.0.0 or 1.0-preview-1",
        "version",
        id="unsupported version",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    cache: yes please\n",
        "acb.yaml:3:12: steps[0].cache must be 'enabled' or 'disabled'; found 'yes please'",
        "steps[0].cache",
        id="cache value",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    env: [FOO]\n",
        "acb.yaml:3:11: steps[0].env[0]: an env entry must be KEY=value; found 'FOO'",
        "steps[0].env[0]",
        id="env entry without a value",
    ),
    pytest.param(
        "env: ['A=1,B']\nsteps:\n  - cmd: x\n",
        "acb.yaml:1:7: env[0]: an env entry must be KEY=value; found 'B' in 'A=1,B' (task env entries are split "
        "at commas)",
        "env[0]",
        id="task env entry without a value",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    env: TEST_TARGET=hello\n",
        "acb.yaml:3:10: steps[0].env must be a list, e.g. [\"KEY=value\"]; found the value 'TEST_TARGET=hello'",
        "steps[0].env",
        id="env is not a list",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    cmd: y\n",
        "acb.yaml:3:5: steps[0]: 'cmd' is given twice (first on line 2)",
        "steps[0].cmd",
        id="repeated key",
    ),
    pytest.param(
        "networks:\n  - driver: bridge\nsteps:\n  - cmd: x\n",
        "acb.yaml:2:5: networks[0] needs a name",
        "networks[0].name",
        id="network without a name",
    ),
    pytest.param(
        "networks:\n  - name: a\n  - name: a\nsteps:\n  - cmd: x\n",
        "acb.yaml:3:11: networks[1]: the network name 'a' is used twice (first on line 2)",
        "networks[1].name",
        id="network name twice",
    ),
    pytest.param(
        "volumes:\n  - name: my vol\n    secret: {a: YQ==}\nsteps:\n  - cmd: x\n",
        "acb.yaml:2:11: volumes[0].name 'my vol' is not allowed; use letters, digits, '-' and '_'",
        "volumes[0].name",
        id="volume name",
    ),
    pytest.param(
        "volumes:\n  - name: v\n    secret: {'a/b': YQ==}\nsteps:\n  - cmd: x\n",
        "acb.yaml:3:14: volumes[0].secret: file name 'a/b' is not allowed; use letters, digits, '-', '_' and '.'",
        "volumes[0].secret.a/b",
        id="volume file name",
    ),
    pytest.param(
        "volumes:\n  - name: v\n    secret:\n      a: not base64!\nsteps:\n  - cmd: x\n",
        "acb.yaml:4:10: volumes[0].secret.a: the content is not valid base64 (it is not shown, as it may be a "
        "secret); encode it with a template, e.g. {{.Secrets.mysecret | b64enc}}",
        "volumes[0].secret.a",
        id="volume content is not base64",
    ),
    pytest.param(
        "volumes:\n  - name: v\nsteps:\n  - cmd: x\n",
        "acb.yaml:2:5: volumes[0]: a volume needs secret: (the only kind of volume)",
        "volumes[0].secret",
        id="volume without secret",
    ),
    pytest.param(
        "volumes:\n  - name: v\n    secret: {a: YQ==}\nsteps:\n  - cmd: x\n    volumeMounts:\n"
        "      - name: w\n        mountPath: /run\n",
        "acb.yaml:7:15: steps[0].volumeMounts[0].name: there is no volume 'w' under volumes:; declared volumes: v",
        "steps[0].volumeMounts[0].name",
        id="mount of an undeclared volume",
    ),
    pytest.param(
        "volumes:\n  - name: v\n    secret: {a: YQ==}\nsteps:\n  - cmd: x\n    volumeMounts:\n"
        "      - {name: v, mountPath: /run}\n      - {name: v, mountPath: /run}\n",
        "acb.yaml:8:30: steps[0].volumeMounts[1].mountPath: '/run' is already mounted in this step (line 7)",
        "steps[0].volumeMounts[1].mountPath",
        id="mount path twice",
    ),
    pytest.param(
        "volumes:\n  - name: v\n    secret: {a: YQ==}\nsteps:\n  - push: [a]\n    volumeMounts:\n"
        "      - {name: v, mountPath: /run}\n",
        "acb.yaml:6:5: steps[0]: volumeMounts apply only to cmd and build steps",
        "steps[0].volumeMounts",
        id="mount on a push step",
    ),
    pytest.param(
        "secrets:\n  - id: a\n    keyvault: http://v.vault.azure.net/secrets/a\nsteps:\n  - cmd: x\n",
        "acb.yaml:3:15: secrets[0].keyvault 'http://v.vault.azure.net/secrets/a' is not a Key Vault secret URL "
        "(it must start with https://); use https://<vault>.vault.azure.net/secrets/<name>[/<version>]",
        "secrets[0].keyvault",
        id="secret URL scheme",
    ),
    pytest.param(
        "secrets:\n  - id: a\n    keyvault: https://v.vault.azure.net/secrets/a\n    clientID: me\n"
        "steps:\n  - cmd: x\n",
        "acb.yaml:4:15: secrets[0].clientID 'me' is not a GUID",
        "secrets[0].clientID",
        id="secret client id",
    ),
    pytest.param(
        "secrets:\n  - id: a\n    keyvault: https://v.vault.azure.net/secrets/a\n  - id: a\n"
        "    keyvault: https://v.vault.azure.net/secrets/b\nsteps:\n  - cmd: x\n",
        "acb.yaml:4:9: secrets[1].id: secret 'a' is declared twice (first on line 2)",
        "secrets[1].id",
        id="secret id twice",
    ),
    pytest.param(
        "secrets:\n  - keyvault: https://v.vault.azure.net/secrets/a\nsteps:\n  - cmd: x\n",
        "acb.yaml:2:5: secrets[0] needs an id, the name used as {{.Secrets.<id>}}",
        "secrets[0].id",
        id="secret without id",
    ),
]


@pytest.mark.parametrize(("text", "message", "target"), CASES)
def test_problems_name_the_position_the_offending_text_and_what_is_allowed(
    text: str, message: str, target: str
) -> None:
    error = load_error(text)

    assert error.message.startswith(message), error.message
    assert error.target == target
    assert error.to_body()["error"] == {"code": "InvalidTaskFile", "message": error.message, "target": target}


YAML_CASES = [
    pytest.param(
        "steps:\n  - cmd: bash echo\n  continued line\n",
        "acb.yaml:3:3: YAML syntax error: could not find expected ':'; YAML expected a 'key: value' line here.",
        "the line reads 'continued line'",
        id="the classic could not find expected ':'",
    ),
    pytest.param(
        "steps:\n  - cmd: bash -c 'echo a: b'\n",
        "acb.yaml:2:25: YAML syntax error: mapping values are not allowed here; a value contains ': '",
        "put the whole value in quotes",
        id="colon in a value",
    ),
    pytest.param(
        "steps:\n\t- cmd: x\n",
        "acb.yaml:2:1: YAML syntax error: found character '\\t' that cannot start any token",
        "YAML does not allow tabs for indentation, use spaces",
        id="tab indentation",
    ),
    pytest.param(
        "steps:\n  - cmd: x\n    when: -\n",
        "acb.yaml:3:11: YAML syntax error: sequence entries are not allowed here",
        'for `when`, write when: ["-"]',
        id="when dash without brackets",
    ),
    pytest.param(
        "steps:\n  - cmd: 'unclosed\n",
        "acb.yaml:3:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar that "
        "starts at line 2, column 10)",
        "a quote or bracket that was opened is never closed",
        id="unclosed quote",
    ),
    pytest.param(
        "steps:\n  - cmd: *image\n",
        "acb.yaml:2:10: YAML syntax error: found undefined alias 'image'",
        "put the value in quotes",
        id="star starts a YAML alias",
    ),
    pytest.param(
        "steps:\n  - cmd: docker push $Registry/app: x\n",
        "acb.yaml:2:35: YAML syntax error: mapping values are not allowed here",
        "aliases are only expanded when the file's first line is version: v1.1.0",
        id="dollar names in a file that is not v1.1.0",
    ),
]


@pytest.mark.parametrize(("text", "message", "hint"), YAML_CASES)
def test_yaml_syntax_errors_are_placed_and_explained(text: str, message: str, hint: str) -> None:
    error = load_error(text)

    assert error.message.startswith(message), error.message
    assert hint in error.message


def test_an_unreadable_character_is_placed() -> None:
    error = load_error("steps:\n  - cmd: a\x00b\n")

    assert error.message.startswith("acb.yaml:2:11: the file contains the character U+0000, which YAML does not allow")


def test_a_template_syntax_error_is_placed_on_its_line() -> None:
    error = load_error("version: v1.0.0\nsteps:\n  - cmd: echo {{.Run.ID\n")

    assert error.message.startswith("acb.yaml:3:15: template error: unclosed action")


def test_a_template_error_after_dropped_comment_lines_is_placed_in_the_original_file() -> None:
    error = load_error("# one\nversion: v1.1.0\n# two\nsteps:\n  - cmd: echo {{ nosuchfunction }}\n")

    assert error.message.startswith('acb.yaml:5:18: template error: function "nosuchfunction" not defined')


def test_a_template_error_in_the_alias_block_is_placed_in_the_original_file() -> None:
    error = load_error("version: v1.1.0\n# aliases\nalias:\n  values:\n    r: '{{ .Run.ID'\nsteps:\n  - cmd: x\n")

    assert error.message.startswith("acb.yaml:5:16: template error: bad character U+0027")


def test_a_value_produced_by_a_template_is_quoted_as_written_not_as_rendered() -> None:
    error = load_error("steps:\n  - cmd: x\n    timeout: {{.Values.t}}\n", values={"t": "ten"})

    assert error.message == (
        "acb.yaml:3:14: steps[0].timeout must be a whole number of seconds; found the value written as "
        "'timeout: {{.Values.t}}'"
    )


def test_a_template_that_expands_to_several_lines_says_where_in_the_expanded_file() -> None:
    error = load_error("steps:\n  - cmd: x\n{{.Values.extra}}\n", values={"extra": "    retries: 1\n    repeat: -1"})

    assert error.message.startswith("acb.yaml:3:1: steps[0].repeat must be 0 or more;")
    assert error.message.endswith("the problem is on line 4 of the expanded task file: 'repeat: -1')")


def test_lines_after_a_template_that_added_lines_keep_their_original_numbers() -> None:
    error = load_error(
        "steps:\n{{.Values.steps}}\n  - cmd: y\n    whne: [a]\n", values={"steps": "  - cmd: a\n  - cmd: b"}
    )

    assert error.message.startswith("acb.yaml:4:5: steps[2]: unknown property 'whne'")


def test_an_alias_that_expands_to_several_lines_is_explained() -> None:
    error = load_error('version: v1.1.0\nalias:\n  values:\n    two: "a\\n  b: c"\nsteps: $two\n')

    assert error.message.startswith("acb.yaml:5:")
    assert "expanded to several lines" in error.message


def test_a_values_file_syntax_error_names_the_values_file() -> None:
    with pytest.raises(InvalidTaskFile) as caught:
        load_values_file("image: a\ntags: [b\n", file_name="values.yaml")

    assert caught.value.message.startswith("values.yaml:3:1: YAML syntax error")


def test_a_values_file_must_be_a_mapping() -> None:
    with pytest.raises(InvalidTaskFile) as caught:
        load_values_file("- a\n", file_name="values.yaml")

    assert caught.value.message.startswith("values.yaml:1:1: a values file must be a mapping")


def test_a_step_property_at_the_top_level_is_explained() -> None:
    error = load_error("cmd: bash echo hi\n")

    assert error.message == (
        "acb.yaml:1:1: unknown property 'cmd'; it is a step property; write steps as a list under `steps:`, "
        "e.g. steps: [{cmd: bash echo hi}]"
    )


def test_a_list_where_a_number_belongs_is_described_by_its_kind() -> None:
    error = load_error("steps:\n  - cmd: x\n    timeout: [1]\n")

    assert error.message == "acb.yaml:3:14: steps[0].timeout must be a whole number of seconds; found a list"


def test_a_second_yaml_document_is_an_error_instead_of_being_ignored() -> None:
    error = load_error("---\nsteps:\n  - cmd: a\n---\nsteps:\n  - cmd: b\n")

    assert error.message.startswith("acb.yaml:5:1: the file holds more than one YAML document")
