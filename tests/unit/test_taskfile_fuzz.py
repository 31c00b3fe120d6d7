"""Whatever text arrives, loading it either succeeds or raises InvalidTaskFile: never anything else."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InvalidTaskFile
from core.taskfile import InMemorySecretResolver, TaskFile, load_task_file
from tests.unit.taskfiles import FIXTURES, IMAGES, RUN

URL = "https://myacbvault2.vault.azure.net/secrets/SampleSecret"
SECRET = "hunter2"
SEEDS = [path.read_text(encoding="utf-8") for path in sorted((FIXTURES / "samples").glob("*.yaml"))] + [
    (FIXTURES / "acb-testdata.yaml").read_text(encoding="utf-8"),
    "version: v1.1.0\nalias:\n  src: [aliases.yaml]\n  values:\n    repo: app\n  directive: '#'\n"
    "steps:\n  - build: -t #Registry/#repo:#ID .\n  - push: ['#Registry/#repo:#ID']\n",
    "networks:\n  - name: net\n    isDefault: true\nvolumes:\n  - name: v\n    secret: {f: YQ==}\n"
    "steps:\n  - cmd: bash cat /s/f\n    volumeMounts: [{name: v, mountPath: /s}]\n    network: net\n",
]
TOKENS = [
    "{{", "}}", "{{.Values.x}}", "{{.Secrets.sampleSecret}}", "{{ .Run.ID | b64enc }}", ":", ": ", "\t", "- ", "  ",
    "$", "$$", "$ID", "'", '"', "[", "]", "{", "}", "&a ", "*a", "<<: *a", "---\n", "#", "\n", "\r\n", "\x85",
    "whne: [a]", "when: ['-']", "id: x", "timeout: -1", "version: v1.1.0\n", "alias:\n", "secrets:\n", "push: ",
    "steps:\n", "\ufeff", "0x10", "~", "!!str ", "? ", "|\n", ">\n", "%", "@", "`", "\\", "\u2028",
]  # fmt: skip


def _load(text: str) -> TaskFile | None:
    def read_source(path: str) -> str:
        if path == "aliases.yaml":
            return "tool: images.example/tool:1\n"
        raise FileNotFoundError(2, "No such file or directory", path)

    try:
        return load_task_file(
            text,
            file_name="acb.yaml",
            run=RUN,
            values={"x": "value", "registryName": "reg"},
            image_aliases=IMAGES,
            secret_resolver=InMemorySecretResolver({URL: SECRET}),
            read_alias_source=read_source,
        )
    except InvalidTaskFile as error:
        assert re.match(r"\Aacb\.yaml:\d+:\d+: ", error.message), error.message
        assert SECRET not in error.message
        return None


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SEEDS)).split("\n")
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        lines = lines or [""]
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace", "indent"]))
        line = lines[index]
        if action == "delete":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, line)
        elif action == "swap" and len(line) > 1:
            at = draw(st.integers(min_value=0, max_value=len(line) - 2))
            lines[index] = line[:at] + line[at + 1] + line[at] + line[at + 2 :]
        elif action == "insert":
            at = draw(st.integers(min_value=0, max_value=len(line)))
            token = draw(st.sampled_from(TOKENS) | st.text(max_size=4))
            lines[index : index + 1] = [line[:at] + token + line[at:]]
        elif action == "replace" and line:
            at = draw(st.integers(min_value=0, max_value=len(line) - 1))
            lines[index] = line[:at] + draw(st.characters()) + line[at + 1 :]
        elif action == "indent":
            lines[index] = draw(st.sampled_from(["", " ", "    ", "\t"])) + line.lstrip()
    return "\n".join(lines)


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutated())
def test_mutated_task_files_load_or_fail_with_an_invalid_task_file_error(text: str) -> None:
    _load(text)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("{}:$-'\"[]\t\n #&*!|>%@`\\.ab")) | st.characters(), max_size=300))
def test_random_text_loads_or_fails_with_an_invalid_task_file_error(text: str) -> None:
    _load(text)


@FUZZ
@given(st.lists(st.sampled_from([*TOKENS, "a", "b", "cmd", "build", "steps", "-", " "]), max_size=60))
def test_strings_of_yaml_and_template_tokens_load_or_fail_with_an_invalid_task_file_error(tokens: list[str]) -> None:
    _load("".join(tokens))
