"""Aliases behave as acb's `graph/preprocessor.go`: version detection, the alias block, `$name`
substitution and image aliases in `cmd`.

Cases marked "acb" are transcribed from `graph/preprocessor_test.go` (TestFindVersion,
TestResolveMapAndValidate, TestPreProcessBytes with `testdata/preprocessor/preprocessing-stress.yaml`,
TestPreProcessSteps) and `testdata/preprocessor/valid-alias.yaml`.
"""

from __future__ import annotations

import pytest
import yaml

from core.errors import InvalidContext, InvalidTaskFile
from core.taskfile import load_task_file
from core.taskfile.aliases import (
    Aliases,
    aliases_enabled,
    expand_image_alias,
    find_version,
    read_aliases,
    separate_alias_block,
    substitute,
)
from core.taskfile.positions import TextMap
from tests.unit.taskfiles import IMAGES, RUN, load, load_error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        (" # task.yml file\n# should be skipped\n\nversion  : v1.1.0    \n", "v1.1.0"),
        ("\nbuild: something\nversion: v1.1.0", ""),
        ("\nversionOfTask:v1.1.0", ""),
        ("       \nversion", ""),
        ("       \nversion:v1.1.0\n\t\t\t", "v1.1.0"),
        ("       \nversion:foo:bar:beta", "foo:bar:beta"),
    ],
)
def test_the_version_is_read_only_from_the_first_meaningful_line(text: str, expected: str) -> None:
    assert find_version(text) == expected  # acb TestFindVersion


@pytest.mark.parametrize(
    ("version", "enabled"),
    [("v1.1.0", True), ("v1.0.0", False), ("1.0-preview-1", False), ("V1.1.0", False), ('"v1.1.0"', False)],
)
def test_aliases_are_enabled_by_a_string_comparison_with_v1_1_0(version: str, enabled: bool) -> None:
    assert aliases_enabled(version) is enabled


def _aliases(values: dict[str, str], directive: str = "$") -> Aliases:
    return Aliases(values, directive)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("$reg/app:$ID", "myreg.azurecr.io/app:{{.Run.ID}}"),
        ("{{$foo}}", "{{$foo}}"),
        ("$ID2 $ID", "$ID2 {{.Run.ID}}"),
        ("$$ID costs $$5", "$ID costs $5"),
        ("$reg$reg", "myreg.azurecr.iomyreg.azurecr.io"),
        ("$unknown$ID", "$unknown$ID"),
        ("echo $(date) ${HOME}", "echo $(date) ${HOME}"),
        ("trailing $", "trailing $"),
    ],
)
def test_dollar_names_are_replaced_up_to_the_first_non_alphanumeric_character(line: str, expected: str) -> None:
    aliases = _aliases({"reg": "myreg.azurecr.io", "ID": "{{.Run.ID}}"})

    assert substitute(TextMap.of_source("f", line), aliases).text == expected


def test_a_custom_directive_replaces_the_dollar_sign() -> None:
    aliases = _aliases({"a": "x", "b": "y"}, directive="🐳")

    assert substitute(TextMap.of_source("f", "🐳a🐳b $a 🐳🐳"), aliases).text == "xy $a 🐳"


def _preprocess(text: str, sources: dict[str, str] | None = None) -> object:
    """acb's PreprocessBytes (the alias block has no templates here), as parsed YAML."""
    block, rest = separate_alias_block(TextMap.of_source("acb.yaml", text))
    aliases = read_aliases(block, image_aliases={}, read_alias_source=(sources or {}).__getitem__)
    return yaml.safe_load(substitute(rest, aliases).text)


STRESS_EXPECTED = """stepTimeout: 600
version: v1.1.0
env:
  - "foo=taskEnv"
steps:
  - id: puller
    cmd: azure/images/docker pull ubuntu
    env: [eric=foo, foo=bar]
  - id: C
    cmd: blah
    ports:
      - "8000:8000"
      - "8080:8080"
"""


def test_chained_aliases_with_a_unicode_directive_resolve_like_acb() -> None:
    single_letters = "\n".join(
        f'"{c}": "{c}"' for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    )
    text = """alias:
  src:
    - testdata/preprocessor/alphanumeric-external.yaml
  directive: 🐳

stepTimeout: 600
version: v1.1.0
env:
  - "foo=taskEnv"
steps:
  - 🐳i🐳d: puller
    cmd: azure/images/docker pull ubuntu
    env: [eric=foo, foo=bar]
  - id: 🐳C
    cmd: blah
    ports:
      - "8000:8🐳0🐳0🐳0"
      - "8080:8🐳0🐳8🐳0"
"""  # acb TestPreProcessBytes "Chaining Directive Unicode", shortened

    parsed = _preprocess(text, {"testdata/preprocessor/alphanumeric-external.yaml": single_letters})

    assert parsed == yaml.safe_load(STRESS_EXPECTED)


def test_multiline_aliases_expand_into_whole_steps() -> None:
    text = """alias:
  values:
    Puller: |
      id: puller
          cmd: azure/images/docker pull ubuntu
          env: [eric=foo, foo=bar]
    C: |
      id: C
          cmd: blah
          ports:
            - "8000:8000"
            - "8080:8080"

stepTimeout: 600
version: v1.1.0
env:
  - "foo=taskEnv"
steps:
  - $Puller
  - $C
"""  # acb TestPreProcessBytes "Multiline Alias", shortened

    assert _preprocess(text) == yaml.safe_load(STRESS_EXPECTED)


def test_escaped_directives_are_kept_literally() -> None:
    text = """alias:
  values:
    puller: "break"
    azure: "break"
steps:
  - id: $$puller
    cmd: $$azure/$$images/$$docker pull ubuntu
    entryPoint: $$someEntryPoint
"""  # acb TestPreProcessBytes "Escape"

    assert _preprocess(text) == {
        "steps": [{"id": "$puller", "cmd": "$azure/$images/$docker pull ubuntu", "entryPoint": "$someEntryPoint"}]
    }


def test_defined_but_unused_aliases_change_nothing() -> None:
    text = (
        'alias:\n  values:\n    id: "break"\n    build: "break"\nsteps:\n  - id: puller\n    build: "-f Dockerfile ."\n'
    )

    assert _preprocess(text) == {"steps": [{"id": "puller", "build": "-f Dockerfile ."}]}  # acb "Alias No Use"


def test_alias_values_win_over_src_files_and_the_last_src_file_wins() -> None:
    task = load(
        "version: v1.1.0\nalias:\n  src: [first.yaml, second.yaml]\n  values:\n    a: from-values\n"
        "steps:\n  - cmd: echo $a $b $c $ID\n",
        sources={"first.yaml": "a: first\nb: first\nc: first\n", "second.yaml": "b: second\n"},
    )

    assert task.steps[0].cmd == f"echo from-values second first {RUN['ID']}"


def test_alias_values_are_rendered_as_templates_before_use() -> None:
    text = """# root -> puller
version: v1.1.0
alias:
  values:
    registry : "{{.Run.Registry}}"
    qux : https://github.com/ehotinger/qux
    acb : "azure/images/acr-builder"
steps:
  - id: build-qux
    cmd: 'acb build -f Dockerfile $qux -t $registry/qux'
"""  # adapted from acb testdata/preprocessor/valid-alias.yaml

    assert load(text).steps[0].cmd == (
        "azure/images/acr-builder build -f Dockerfile https://github.com/ehotinger/qux -t myregistry.azurecr.io/qux"
    )


@pytest.mark.parametrize(
    ("cmd", "aliases", "expected"),
    [
        (
            "purge --registry r --untagged",
            {"purge": "acr purge"},
            "acr purge --registry r --untagged",
        ),
        ("        purge --ago 0d            ", {"purge": "acr purge"}, "acr purge --ago 0d"),
        ("fakealias --wait 300", {"acr": "acr expanded"}, "fakealias --wait 300"),
        ("acrmixedin --wait 300", {"acr": "acr expanded"}, "acrmixedin --wait 300"),
    ],
)
def test_a_cmds_first_word_is_expanded_when_it_is_an_alias(cmd: str, aliases: dict[str, str], expected: str) -> None:
    assert expand_image_alias(cmd, aliases) == expected  # acb TestPreProcessSteps


def test_image_aliases_are_not_expanded_before_v1_1_0() -> None:
    assert load("version: v1.0.0\nsteps:\n  - cmd: bash echo hi\n").steps[0].cmd == "bash echo hi"


def test_an_image_alias_the_server_does_not_configure_is_an_error() -> None:
    error = load_error("version: v1.1.0\nsteps:\n  - cmd: cssc patch\n", images={"bash": IMAGES["bash"]})

    assert error.message.startswith("acb.yaml:3:10: steps[0].cmd: the image alias 'cssc' is not configured")
    assert error.target == "steps[0].cmd"


def test_a_users_alias_may_replace_an_image_alias() -> None:
    task = load("version: v1.1.0\nalias:\n  values:\n    bash: my/bash:1\nsteps:\n  - cmd: bash echo\n")

    assert task.steps[0].cmd == "my/bash:1 echo"


def test_comment_lines_are_dropped_but_errors_keep_their_original_lines() -> None:
    error = load_error("version: v1.1.0\n# a comment\nsteps:\n  # another\n  - cmd: x\n    tmeout: 5\n")

    assert error.message.startswith("acb.yaml:6:5: steps[0]: unknown property 'tmeout'; did you mean 'timeout'?")


def test_an_alias_block_in_a_file_that_is_not_v1_1_0_is_explained() -> None:
    error = load_error("steps:\n  - cmd: $x\nversion: v1.1.0\nalias:\n  values: {x: y}\n")

    assert error.message.startswith("acb.yaml:4:1: alias: is only read when the file's first line is `version: v1.1.0`")


def test_a_v1_1_0_version_that_is_not_on_the_first_line_warns_that_aliases_were_not_expanded() -> None:
    task = load("steps:\n  - cmd: echo $ID\nversion: v1.1.0\n")

    assert task.steps[0].cmd == "echo $ID"
    assert any("$aliases such as $Registry were not expanded" in warning for warning in task.warnings)


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("  values:\n    bad-name: x\n", "acb.yaml:4:5: alias name 'bad-name' is not allowed"),
        ("  directive: ab\n", "acb.yaml:3:14: alias.directive must be a single character; found 'ab'"),
        ("  directive: a\n", "acb.yaml:3:14: alias.directive 'a' cannot be a letter, a digit or a line break"),
        ("  src: [missing.yaml]\n", "acb.yaml:3:9: alias.src[0]: cannot read 'missing.yaml' from the build context"),
        (
            "  src: [https://example.com/a.yaml]\n",
            "acb.yaml:3:9: alias.src[0]: remote alias files ('https://example.com/a.yaml') are not fetched",
        ),
        ("  value: {a: b}\n", "acb.yaml:3:3: alias: unknown property 'value'; did you mean 'values'?"),
    ],
)
def test_alias_block_problems_are_reported_where_they_are_written(
    alias: str, message: str
) -> None:  # acb TestResolveMapAndValidate
    error = load_error(f"version: v1.1.0\nalias:\n{alias}steps:\n  - cmd: x\n")

    assert error.message.startswith(message)


def test_a_broken_alias_file_is_reported_with_its_own_position() -> None:
    error = load_error(
        "version: v1.1.0\nalias:\n  src: [a.yaml]\nsteps:\n  - cmd: x\n", sources={"a.yaml": "a: b\nc: [d\n"}
    )

    assert error.message.startswith("acb.yaml:3:9: alias.src[0]: a.yaml:3:1: YAML syntax error")


def test_an_alias_file_the_context_refuses_is_reported_with_the_contexts_reason() -> None:
    def read_source(path: str) -> str:
        raise InvalidContext(f"{path!r} leaves the build context")

    with pytest.raises(InvalidTaskFile) as caught:
        load_task_file(
            "version: v1.1.0\nalias:\n  src: [../secrets.yaml]\nsteps:\n  - cmd: x\n",
            file_name="acb.yaml",
            run=RUN,
            values={},
            image_aliases=IMAGES,
            read_alias_source=read_source,
        )

    assert caught.value.message == (
        "acb.yaml:3:9: alias.src[0]: cannot read '../secrets.yaml': '../secrets.yaml' leaves the build context"
    )


def test_alias_files_need_a_build_context() -> None:
    with pytest.raises(InvalidTaskFile) as caught:
        load_task_file(
            "version: v1.1.0\nalias:\n  src: [a.yaml]\nsteps:\n  - cmd: x\n",
            file_name="acb.yaml",
            run=RUN,
            values={},
            image_aliases=IMAGES,
        )

    assert caught.value.message.startswith(
        "acb.yaml:3:9: alias.src[0]: alias files can only be read from a build context"
    )
