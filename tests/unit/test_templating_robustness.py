"""Hostile and random input: only TemplateError ever escapes, and runaway templates stop.

Property tests generate random text, random token soup and mutations of valid task templates.
"""

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.templating import Limits, TemplateError, render_template
from core.templating.sprig import default_functions

DATA: dict[str, Any] = {
    "Run": {"ID": "ca1", "Registry": "r.azurecr.io", "Date": "20240305-140709z"},
    "Values": {"tag": "v1", "n": 3, "f": 1.5, "on": True, "list": ["a", "b", None], "map": {"k": "v"}, "nul": None},
    "Secrets": {},
}
SMALL = Limits(max_output=20_000, max_steps=5_000, max_template_depth=10)

CORPUS = [
    '{{ .Values.tag | default "latest" | upper }}',
    "{{- range $i, $v := .Values.list }}{{ $i }}={{ $v }},{{ end -}}",
    "{{ if and .Values.on (gt .Values.n 2) }}big{{ else if .Values.nul }}nul{{ else }}small{{ end }}",
    '{{ with .Values.map }}{{ .k }}{{ end }} {{ printf "%s-%05.1f" .Run.ID .Values.f }}',
    '{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" .Run.ID }}{{ block "b" . }}x{{ end }}',
    '{{ $x := dict "a" 1 }}{{ $_ := set $x "b" (list 1 2) }}{{ toJson $x }} {{ index $x "b" 1 }}',
    "{{/* comment */}}{{ len .Values.list }} {{ slice .Values.list 1 }} {{ .Values.list | first }}",
    '{{ regexReplaceAll "a(x*)b" "-axb-" "${1}W" }} {{ "a-b" | replace "-" "_" | b64enc | b64dec }}',
    "{{ range 3 }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ . }}{{ if eq . 2 }}{{ break }}{{ end }}{{ end }}",
    '{{ (.Values.missing).x }} {{ eq .Values.nul nil }} {{ not .Values.on }} {{ or 0 "" .Values.tag }}',
]
TOKENS = [
    "{{", "}}", "{{- ", " -}}", "{{/*", "*/}}", " ", "\n", "|", "(", ")", ":=", "=", ",", ".", "$", "$x", "$.",
    '"', "`", "'", "\\", "-", "1", "1.5", "0x1F", "'a'", "true", "nil", "if", "else", "end", "range", "with",
    "define", "template", "block", "break", "continue", '"t"', ".Values", ".Run.ID", ".Values.list", ".Values.map.k",
    ".Values.nul.x", "printf", '"%s %d %v"', "index", "len", "eq", "and", "or", "not", "default", "upper", "repeat",
    "until", "toJson", "regexMatch", '"(a|b)*"', "dict", "list", "first", "add", "div", "0", "-1", "99999999",
]  # fmt: skip
FUNCTION_NAMES = sorted(default_functions())


def render(text: str) -> str:
    return render_template(text, DATA, limits=SMALL)


def attempt(text: str) -> None:
    try:
        render(text)
    except TemplateError as error:
        assert error.line >= 1
        assert error.column >= 1
        assert error.message.startswith(f"template:{error.line}:{error.column}: ")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_text_without_actions_renders_unchanged(text: str) -> None:
    assume("{{" not in text and "<no value>" not in text)
    assert render(text) == text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60).map(lambda s: "{{" + s + "}}"))
def test_random_actions_only_ever_raise_template_errors(text: str) -> None:
    attempt(text)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS + FUNCTION_NAMES), max_size=40).map("".join))
def test_random_token_soup_only_ever_raises_template_errors(text: str) -> None:
    attempt(text)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 8)))
        edit = draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if edit == "delete":
            text = text[:i] + text[j:]
        elif edit == "insert":
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
        else:
            text = text[:i] + text[i:j] * 2 + text[j:]
    return text


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_templates_only_ever_raise_template_errors(text: str) -> None:
    attempt(text)


@pytest.mark.parametrize("text", CORPUS)
def test_the_corpus_itself_renders(text: str) -> None:
    assert isinstance(render(text), str)


def test_a_huge_repeat_is_refused_before_it_allocates() -> None:
    with pytest.raises(TemplateError, match="repeat would produce 100000000000 characters"):
        render_template('{{ "x" | repeat 100000000000 }}', {})


def test_output_beyond_the_limit_is_refused() -> None:
    with pytest.raises(TemplateError, match="rendered output is longer than 1000 characters"):
        render_template("{{ range 100 }}0123456789ab{{ end }}", {}, limits=Limits(max_output=1000))


def test_a_runaway_range_stops_at_the_step_limit() -> None:
    with pytest.raises(TemplateError, match="more than 1000 steps"):
        render_template("{{ range 1000000000000 }}{{ end }}", {}, limits=Limits(max_steps=1000))


def test_recursive_templates_stop_at_the_depth_limit() -> None:
    text = '{{ define "loop" }}x{{ template "loop" . }}{{ end }}{{ template "loop" . }}'
    with pytest.raises(TemplateError, match=r"exceeded maximum template depth \(50\)"):
        render_template(text, {})


def test_values_that_grow_by_doubling_are_stopped() -> None:
    text = '{{ $s := "xx" }}{{ range 40 }}{{ $s = printf "%s%s" $s $s }}{{ end }}'
    with pytest.raises(TemplateError, match=r"printf returned .* the limit is 8388608"):
        render_template(text, {})


def test_a_self_containing_map_is_an_error_not_a_crash() -> None:
    with pytest.raises(TemplateError):
        render_template('{{ $d := dict }}{{ $_ := set $d "me" $d }}{{ $d }}', {})
