"""Syntax errors: cases from Go's src/text/template/parse/parse_test.go (errorTests, TestBlock),
then the position and wording Slipway adds (file:line:column, and what would be allowed).

Go reports an unclosed action on the line where the input ends ("unclosed action started at
x:2"); Slipway points at the "{{" that is never closed.
"""

import pytest

from core.errors import InvalidTaskFile
from core.templating import TemplateError, render_template
from core.templating.builtins import builtin_functions
from core.templating.parser import parse

# (name, template, text the message must contain, line, column)
ERROR_TESTS = [
    ("unclosed1", "line1\n{{", "unclosed action", 2, 1),
    ("unclosed2", "line1\n{{define `x`}}line2\n{{", "unclosed action", 3, 1),
    ("unclosed3", 'line1\n{{"x"\n"y"\n', "unclosed action", 2, 1),
    ("unclosed4", "{{\n\n\n\n\n", "unclosed action", 1, 1),
    ("var1", "line1\n{{\nx\n}}", 'function "x" not defined', 3, 1),
    ("function", "{{foo}}", 'function "foo" not defined', 1, 3),
    ("comment1", "{{/*}}", "unclosed comment", 1, 3),
    ("comment2", "{{/*\nhello\n}}", "unclosed comment", 1, 3),
    ("lparen", "{{.X (1 2 3}}", "unclosed left paren", 1, 12),
    ("rparen", "{{.X 1 2 3 ) }}", "unexpected right paren", 1, 12),
    ("rparen2", "{{(.X 1 2 3", "unclosed action", 1, 1),
    ("space", "{{`x`3}}", "in operand", 1, 6),
    ("idchar", "{{a#}}", "'#'", 1, 3),
    ("charconst", "{{'a}}", "unterminated character constant", 1, 3),
    ("stringconst", '{{"a}}', "unterminated quoted string", 1, 3),
    ("rawstringconst", "{{`a}}", "unterminated raw quoted string", 1, 3),
    ("number", "{{0xi}}", "number syntax", 1, 3),
    ("multidefine", "{{define `a`}}a{{end}}{{define `a`}}b{{end}}", "multiple definition of template", 1, 23),
    ("eof", "{{range .X}}", "unexpected EOF", 1, 1),
    ("variable", "{{$x := 23}}{{with $x.y := 3}}{{$x 23}}{{end}}", 'unexpected ":="', 1, 25),
    ("multidecl", "{{$a,$b,$c := 23}}", "too many declarations", 1, 5),
    ("undefvar", "{{$a}}", "undefined variable", 1, 3),
    ("wrongdot", "{{true.any}}", "unexpected . after term", 1, 7),
    ("wrongpipeline", "{{12|false}}", "non executable command in pipeline", 1, 6),
    ("emptypipeline", "{{ ( ) }}", "missing value for parenthesized pipeline", 1, 6),
    ("multilinerawstring", "{{ $v := `\n` }} {{", "unclosed action", 2, 6),
    ("rangeundefvar", "{{range $k}}{{end}}", "undefined variable", 1, 9),
    ("rangeundefvars", "{{range $k, $v}}{{end}}", "undefined variable", 1, 13),
    ("rangemissingvalue1", "{{range $k,}}{{end}}", "missing value for range", 1, 12),
    ("rangemissingvalue2", "{{range $k, $v := }}{{end}}", "missing value for range", 1, 19),
    ("rangenotvariable1", "{{range $k, .}}{{end}}", "range can only initialize variables", 1, 11),
    ("rangenotvariable2", "{{range $k, 123 := .}}{{end}}", "range can only initialize variables", 1, 11),
]


@pytest.mark.parametrize(("name", "text", "wanted", "line", "column"), ERROR_TESTS, ids=[t[0] for t in ERROR_TESTS])
def test_syntax_errors_say_what_go_says_and_where(name: str, text: str, wanted: str, line: int, column: int) -> None:
    with pytest.raises(TemplateError) as caught:
        render_template(text, {}, name=name)
    error = caught.value
    assert wanted in error.message
    assert (error.name, error.line, error.column) == (name, line, column)
    assert error.message.startswith(f"{name}:{line}:{column}: ")


def test_a_block_defines_a_template_and_calls_it() -> None:
    # TestBlock from parse_test.go.
    trees = parse('a{{block "inner" .}}bar{{.}}baz{{end}}b', "outer", builtin_functions())
    assert str(trees["outer"]) == '"a"{{template "inner" .}}"b"'
    assert str(trees["inner"]) == '"bar"{{.}}"baz"'


def test_template_errors_are_invalid_task_files_with_a_target() -> None:
    with pytest.raises(InvalidTaskFile) as caught:
        render_template("steps:\n  - cmd: {{ .Run.ID | uper }}\n", {}, name="acb.yaml")
    assert caught.value.message == 'acb.yaml:2:23: function "uper" not defined; did you mean "upper"?'
    assert caught.value.target == "acb.yaml:2:23"
    assert caught.value.to_body() == {
        "error": {"code": "InvalidTaskFile", "message": caught.value.message, "target": "acb.yaml:2:23"}
    }


def test_an_unknown_function_without_a_close_match_lists_where_functions_come_from() -> None:
    with pytest.raises(TemplateError, match=r"use a Go template builtin .* or a Sprig function"):
        render_template("{{ frobnicate 1 }}", {})


def test_a_sprig_function_slipway_leaves_out_is_named_as_such() -> None:
    with pytest.raises(
        TemplateError, match='"genCA" not defined; it is a Sprig function that Slipway does not support'
    ):
        render_template('{{ genCA "x" 1 }}', {})


def test_an_undefined_variable_suggests_a_declared_one() -> None:
    with pytest.raises(TemplateError, match=r'undefined variable "\$tga".*did you mean "\$tag"'):
        render_template("{{ $tag := 1 }}{{ $tga }}", {})


def test_an_unexpected_brace_in_an_action_says_how_actions_end() -> None:
    with pytest.raises(TemplateError) as caught:
        render_template("a: {{ .Values.x }\n", {}, name="acb.yaml")
    assert caught.value.message.startswith('acb.yaml:1:17: unexpected "}" in operand; ')
    assert 'ends with "}}"' in caught.value.message


def test_an_unclosed_if_is_reported_where_it_opens() -> None:
    with pytest.raises(TemplateError) as caught:
        render_template("steps:\n{{ if .Values.x }}\n  - cmd: a\n", {}, name="acb.yaml")
    assert caught.value.message == "acb.yaml:2:1: unexpected EOF: {{if}} is never closed; end it with {{end}}"


def test_a_stray_end_says_nothing_is_open() -> None:
    with pytest.raises(TemplateError, match=r"1:4: unexpected \{\{end\}\}; there is no"):
        render_template("ab {{end}}", {})


def test_break_outside_range_is_refused() -> None:
    with pytest.raises(TemplateError, match=r"\{\{break\}\} outside \{\{range\}\}"):
        render_template("{{if true}}{{break}}{{end}}", {})


def test_columns_count_characters_not_bytes() -> None:
    with pytest.raises(TemplateError) as caught:
        render_template("héllo {{ nope }}", {})
    assert caught.value.column == 10


def test_nesting_deeper_than_the_limit_is_refused_with_a_clear_error() -> None:
    with pytest.raises(TemplateError, match="nests more than 100 levels"):
        render_template("{{" + "(" * 150 + "1" + ")" * 150 + "}}", {})
    with pytest.raises(TemplateError, match="nests more than 100 levels"):
        render_template("{{if true}}" * 150 + "{{end}}" * 150, {})
