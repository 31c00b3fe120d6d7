"""Rendering as acb does it: cases from Azure/acr-builder's templating/*_test.go and testdata,
and the task-file patterns the docs show (.Run variables, values with defaults, trim markers).

acb strips comment lines from a task file before rendering (templating/template.go); that is not
the renderer's job, so the test data below is given as acb renders it.
"""

from typing import Any

import pytest

from core.templating import TemplateError, render_template

RUN = {
    "ID": "ca1",
    "Registry": "myreg.azurecr.io",
    "RegistryName": "myreg",
    "Date": "20240305-140709z",
    "OS": "linux",
    "Architecture": "amd64",
    "Commit": "",
    "Branch": "main",
    "TaskName": "build",
    "SharedVolume": "acb_home_vol_ca1",
}


def test_sprig_math_renders_as_in_acb_test_render_math() -> None:
    # engine_test.go TestRenderMath
    text = "{{.foo | add .bar}}, {{- .bar | sub .foo }}, {{- .foo | mul .bar}}"
    assert render_template(text, {"foo": 5, "bar": 10}) == "15,-5,50"


def test_values_render_through_sprig_as_in_acb_test_render_all_templates() -> None:
    # engine_test.go TestRenderAllTemplates (values overridden by the --set config)
    data = {"jobName": "fruitjob", "description": "THIS IS a FRuiT JoB"}
    assert (
        render_template("{{ .jobName | upper }} - {{ .description | lower }}", data) == "FRUITJOB - this is a fruit job"
    )


def test_the_caching_task_renders_its_step_ids_from_values() -> None:
    # testdata/caching/cache.yaml with values.yaml (base_render_options_test.go TestLoadAndRenderSteps)
    text = (
        'steps:\n  - id: "{{.Values.pullStep}}"\n    cmd: docker pull golang:1.10.1-stretch\n\n'
        "  - id: build-bar\n    cmd: build -f Dockerfile https://github.com/Azure/acr-builder.git\n"
        '    when: ["{{.Values.pullStep}}"]'
    )
    expected = (
        'steps:\n  - id: "puller"\n    cmd: docker pull golang:1.10.1-stretch\n\n'
        "  - id: build-bar\n    cmd: build -f Dockerfile https://github.com/Azure/acr-builder.git\n"
        '    when: ["puller"]'
    )
    assert render_template(text, {"Values": {"pullStep": "puller"}, "Run": RUN}) == expected


def test_the_thames_task_renders_build_variables_and_missing_ones_as_empty() -> None:
    # testdata/thames/thames.yaml: .Build.Tag and friends are absent from the data.
    text = (
        'apiName: "{{.Values.apiName}}"\nmetadata:\n  - buildId: "{{.Build.ID | upper}}"\n'
        '    commit: "{{.Build.Commit | lower}}"\n    tag: "{{.Build.Tag}}"'
    )
    data = {"Values": {"apiName": "thames"}, "Build": {"ID": "ca1", "Commit": "ABC123"}}
    expected = 'apiName: "thames"\nmetadata:\n  - buildId: "CA1"\n    commit: "abc123"\n    tag: ""'
    assert render_template(text, data) == expected


def test_the_first_secrets_pass_renders_missing_secrets_as_empty() -> None:
    # testdata/mounts/mounts_secrets.yaml: acb renders once with an empty .Secrets map.
    text = (
        "      mysecret1: {{.Secrets.sampleSecret | b64enc}}\n"
        '      mysecret2: {{"this is a non encoded string" | b64enc}}'
    )
    first = render_template(text, {"Secrets": {}, "Values": {}, "Run": RUN})
    assert first == "      mysecret1: \n      mysecret2: dGhpcyBpcyBhIG5vbiBlbmNvZGVkIHN0cmluZw=="
    second = render_template(text, {"Secrets": {"sampleSecret": "s3cr3t"}, "Values": {}, "Run": RUN})
    assert second.startswith("      mysecret1: czNjcjN0\n")


def test_templated_secret_ids_render_from_run_and_values() -> None:
    # base_render_options_test.go TestRenderAndResolveSecrets, third case.
    text = (
        "secrets:\n  - id: mysecret\n    keyvault: {{.Values.myakv}}\n"
        "  - id: {{.Run.ID}}_{{.Values.myid2}}\n    keyvault: {{.Values.myakv2}}\n    clientID: {{.Values.myclientID}}"
    )
    values = {"ID": "runId", "myid2": "mysecret1", "myakv": "https://v/s", "myakv2": "https://v/s1", "myclientID": "c7"}
    rendered = render_template(text, {"Values": values, "Run": values, "Secrets": {}})
    assert "  - id: runId_mysecret1\n    keyvault: https://v/s1\n    clientID: c7" in rendered


def test_a_typical_multi_step_task_renders_to_the_yaml_acb_would_produce() -> None:
    text = """version: v1.1.0
steps:
{{- range $i, $image := .Values.images }}
  - id: build-{{ $image.name }}
    {{- $file := $image.dockerfile | default "Dockerfile" }}
    build: -t {{ $.Run.Registry }}/{{ $image.name }}:{{ $image.tag | default $.Run.ID }} -f {{ $file }} .
{{- end }}
{{- if .Values.push }}
  - push:
{{- range .Values.images }}
    - {{ $.Run.Registry }}/{{ .name }}:{{ .tag | default $.Run.ID }}
{{- end }}
{{- end }}
"""
    data: dict[str, Any] = {
        "Run": RUN,
        "Values": {
            "push": True,
            "images": [{"name": "web", "tag": "v2"}, {"name": "api", "dockerfile": "api.Dockerfile"}],
        },
    }
    assert render_template(text, data) == (
        "version: v1.1.0\nsteps:\n"
        "  - id: build-web\n    build: -t myreg.azurecr.io/web:v2 -f Dockerfile .\n"
        "  - id: build-api\n    build: -t myreg.azurecr.io/api:ca1 -f api.Dockerfile .\n"
        "  - push:\n    - myreg.azurecr.io/web:v2\n    - myreg.azurecr.io/api:ca1\n"
    )


def test_missing_values_render_empty_and_the_text_no_value_is_stripped_everywhere() -> None:
    assert (
        render_template("a={{ .Values.nope }};b={{ .Run.Nope }};c=<no value>", {"Values": {}, "Run": RUN}) == "a=;b=;c="
    )


def test_a_field_of_a_missing_value_fails_as_it_does_in_acb() -> None:
    # Go with missingkey=zero on map[string]interface{}: "nil pointer evaluating interface {}.b".
    with pytest.raises(TemplateError) as caught:
        render_template("x: {{ .Values.a.b }}", {"Values": {}}, name="acb.yaml")
    assert caught.value.message.startswith("acb.yaml:1:7: at <.Values.a.b>: nil pointer evaluating interface {}.b;")
    assert "test it first with {{if}} or {{with}}" in caught.value.message


def test_guarded_access_to_an_optional_nested_value_renders() -> None:
    text = "{{ with .Values.a }}{{ .b }}{{ end }}|{{ (.Values.a).b }}|{{ if .Values.a }}{{ .Values.a.b }}{{ end }}"
    assert render_template(text, {"Values": {}}) == "||"


def test_printing_a_missing_value_with_print_shows_go_s_nil() -> None:
    # fmt.Sprint(nil) is "<nil>"; only "<no value>" is stripped by acb.
    assert render_template("{{ print .Values.x }}", {"Values": {}}) == "<nil>"


def test_dollar_signs_in_text_are_left_alone() -> None:
    text = "cmd: bash -c 'echo $HOME $$ID ${X}' {{ .Run.ID }}"
    assert render_template(text, {"Run": RUN}) == "cmd: bash -c 'echo $HOME $$ID ${X}' ca1"


def test_yaml_floats_and_ints_print_as_go_prints_them() -> None:
    values = {"replicas": 3, "ratio": 1.5, "whole": 3.0, "big": 1e21, "tiny": 1e-05, "on": True}
    text = "{{.replicas}} {{.ratio}} {{.whole}} {{.big}} {{.tiny}} {{.on}}"
    assert render_template(text, values) == "3 1.5 3 1e+21 1e-05 true"


def test_values_maps_and_lists_print_as_go_formats_them() -> None:
    data = {"m": {"b": [1, "x"], "a": None}, "l": [{"k": "v"}]}
    assert render_template("{{ .m }} {{ .l }}", data) == "map[a:<nil> b:[1 x]] [map[k:v]]"
