"""Execution cases transcribed from Go's src/text/template/exec_test.go (execTests, TestExecError).

Go's tests run against a struct `tVal`; Slipway's data is what a YAML loader produces, so `T_VAL`
below holds the same values in maps and lists. Cases about methods, pointers, channels, complex
numbers and typed maps (map[string]int) have no equivalent in that data and are left out. The
engine runs here with Go's builtins only (no Sprig), exactly like Go's own tests.
"""

from typing import Any

import pytest

from core.templating.builtins import builtin_functions
from core.templating.diagnostics import ParseFailure
from core.templating.executor import ExecFailure, Executor, Limits
from core.templating.funcs import FunctionError, GoFunction, GoType
from core.templating.parser import parse


def _die() -> bool:
    raise FunctionError("die")


TEST_FUNCTIONS = {
    "add": GoFunction("add", lambda *a: sum(a), (), GoType.INT),
    "die": GoFunction("die", _die),
    "echo": GoFunction("echo", lambda a: a, (GoType.ANY,)),
    "makemap": GoFunction("makemap", lambda *a: dict(zip(a[::2], a[1::2], strict=True)), (), GoType.STRING),
    "oneArg": GoFunction("oneArg", lambda a: "oneArg=" + a, (GoType.STRING,)),
    "twoArgs": GoFunction("twoArgs", lambda a, b: "twoArgs=" + a + b, (GoType.STRING, GoType.STRING)),
    "dddArg": GoFunction("dddArg", lambda a, *b: f"{a} {list(b)}\n", (GoType.INT,), GoType.STRING),
    "returnInt": GoFunction("returnInt", lambda: 7),
    "valueString": GoFunction("valueString", lambda v: "value is ignored", (GoType.STRING,)),
    "zeroArgs": GoFunction("zeroArgs", lambda: "zeroArgs"),
    "mapOfThree": GoFunction("mapOfThree", lambda: {"three": 3}),
    "typeOf": GoFunction("typeOf", lambda a: {int: "int", float: "float64", str: "string"}[type(a)], (GoType.ANY,)),
}

T_VAL: dict[str, Any] = {
    "True": True,
    "I": 17,
    "U16": 16,
    "X": "x",
    "S": "xyz",
    "U": {"V": "v"},
    "FloatZero": 0.0,
    "SI": [3, 4, 5],
    "SIEmpty": [],
    "SB": [True, False],
    "AI": [3, 4, 5],
    "MSI": {"one": 1, "two": 2, "three": 3},
    "MSIone": {"one": 1},
    "MSIEmpty": {},
    "MXI": {"one": 1},
    "SMSI": [{"one": 1, "two": 2}, {"eleven": 11, "twelve": 12}],
    "Empty0": None,
    "Empty1": 3,
    "Empty2": "empty2",
    "Empty3": [7, 8],
    "Empty4": {"V": "UinEmpty"},
    "PSI": [21, 22, 23],
}


def execute(text: str, data: Any) -> str:
    functions = builtin_functions() | TEST_FUNCTIONS
    trees = parse(text, "test", functions)
    return Executor(trees, functions, Limits()).execute("test", data)


T = T_VAL
EXEC_TESTS: list[tuple[str, str, str, Any]] = [
    # Trivial cases.
    ("empty", "", "", None),
    ("text", "some text", "some text", None),
    # Ideal constants.
    ("ideal int", "{{typeOf 3}}", "int", 0),
    ("ideal float", "{{typeOf 1.0}}", "float64", 0),
    ("ideal exp float", "{{typeOf 1e1}}", "float64", 0),
    ("ideal int max", "{{typeOf 0x7fffffffffffffff}}", "int", 0),
    # Fields.
    (".X", "-{{.X}}-", "-x-", T),
    (".U.V", "-{{.U.V}}-", "-v-", T),
    ("map .one", "{{.MSI.one}}", "1", T),
    ("map .two", "{{.MSI.two}}", "2", T),
    ("map .NO", "{{.MSI.NO}}", "<no value>", T),
    ("map .one interface", "{{.MXI.one}}", "1", T),
    # Dots of all kinds.
    ("dot int", "<{{.}}>", "<13>", 13),
    ("dot float", "<{{.}}>", "<15.1>", 15.1),
    ("dot bool", "<{{.}}>", "<true>", True),
    ("dot string", "<{{.}}>", "<hello>", "hello"),
    ("dot slice", "<{{.}}>", "<[-1 -2 -3]>", [-1, -2, -3]),
    ("dot map", "<{{.}}>", "<map[two:22]>", {"two": 22}),
    # Variables.
    ("$ int", "{{$}}", "123", 123),
    ("$.I", "{{$.I}}", "17", T),
    ("$.U.V", "{{$.U.V}}", "v", T),
    ("declare in action", "{{$x := $.U.V}}{{$x}}", "v", T),
    ("simple assignment", "{{$x := 2}}{{$x = 3}}{{$x}}", "3", T),
    ("nested assignment", "{{$x := 2}}{{if true}}{{$x = 3}}{{end}}{{$x}}", "3", T),
    (
        "nested assignment changes the last declaration",
        "{{$x := 1}}{{if true}}{{$x := 2}}{{if true}}{{$x = 3}}{{end}}{{end}}{{$x}}",
        "1",
        T,
    ),
    # Empty interfaces holding values.
    ("empty nil", "{{.Empty0}}", "<no value>", T),
    ("empty with int", "{{.Empty1}}", "3", T),
    ("empty with string", "{{.Empty2}}", "empty2", T),
    ("empty with slice", "{{.Empty3}}", "[7 8]", T),
    ("empty with map, field", "{{.Empty4.V}}", "UinEmpty", T),
    ("field on interface", "{{.foo}}", "<no value>", None),
    ("field on parenthesized interface", "{{(.).foo}}", "<no value>", None),
    ("parenthesized non-function with no args", "{{(1)}}", "1", None),
    # Pipelines and parentheses.
    ("parens in pipeline", "{{printf `%d %d %d` (1) (2 | add 3) (add 4 (add 5 6))}}", "1 5 15", T),
    ("parens: $ in paren", "{{($).X}}", "x", T),
    ("parens: $ in paren in pipe", "{{($ | echo).X}}", "x", T),
    ("parens: spaces and args", '{{(makemap "up" "down" "left" "right").left}}', "right", T),
    # If.
    ("if true", "{{if true}}TRUE{{end}}", "TRUE", T),
    ("if false", "{{if false}}TRUE{{else}}FALSE{{end}}", "FALSE", T),
    ("if 1", "{{if 1}}NON-ZERO{{else}}ZERO{{end}}", "NON-ZERO", T),
    ("if 0", "{{if 0}}NON-ZERO{{else}}ZERO{{end}}", "ZERO", T),
    ("if 1.5", "{{if 1.5}}NON-ZERO{{else}}ZERO{{end}}", "NON-ZERO", T),
    ("if 0.0", "{{if .FloatZero}}NON-ZERO{{else}}ZERO{{end}}", "ZERO", T),
    ("if emptystring", "{{if ``}}NON-EMPTY{{else}}EMPTY{{end}}", "EMPTY", T),
    ("if string", "{{if `notempty`}}NON-EMPTY{{else}}EMPTY{{end}}", "NON-EMPTY", T),
    ("if emptyslice", "{{if .SIEmpty}}NON-EMPTY{{else}}EMPTY{{end}}", "EMPTY", T),
    ("if slice", "{{if .SI}}NON-EMPTY{{else}}EMPTY{{end}}", "NON-EMPTY", T),
    ("if emptymap", "{{if .MSIEmpty}}NON-EMPTY{{else}}EMPTY{{end}}", "EMPTY", T),
    ("if map", "{{if .MSI}}NON-EMPTY{{else}}EMPTY{{end}}", "NON-EMPTY", T),
    ("if map unset", "{{if .MXI.none}}NON-ZERO{{else}}ZERO{{end}}", "ZERO", T),
    ("if map not unset", "{{if not .MXI.none}}ZERO{{else}}NON-ZERO{{end}}", "ZERO", T),
    ("if $x with $y int", "{{if $x := true}}{{with $y := .I}}{{$x}},{{$y}}{{end}}{{end}}", "true,17", T),
    ("if $x with $x int", "{{if $x := true}}{{with $x := .I}}{{$x}},{{end}}{{$x}}{{end}}", "17,true", T),
    ("if else if", "{{if false}}FALSE{{else if true}}TRUE{{end}}", "TRUE", T),
    ("if else chain", "{{if eq 1 3}}1{{else if eq 2 3}}2{{else if eq 3 3}}3{{end}}", "3", T),
    # Print.
    ("print", '{{print "hello, print"}}', "hello, print", T),
    ("print 123", "{{print 1 2 3}}", "1 2 3", T),
    ("print nil", "{{print nil}}", "<nil>", T),
    ("println", "{{println 1 2 3}}", "1 2 3\n", T),
    ("printf int", '{{printf "%04x" 127}}', "007f", T),
    ("printf float", '{{printf "%g" 3.5}}', "3.5", T),
    ("printf string", '{{printf "%s" "hello"}}', "hello", T),
    ("printf function", '{{printf "%#q" zeroArgs}}', "`zeroArgs`", T),
    ("printf field", '{{printf "%s" .U.V}}', "v", T),
    ("printf dot", '{{with .I}}{{printf "%d" .}}{{end}}', "17", T),
    ("printf var", '{{with $x := .I}}{{printf "%d" $x}}{{end}}', "17", T),
    # HTML, JavaScript, URL query.
    (
        "html",
        '{{html "<script>alert(\\"XSS\\");</script>"}}',
        "&lt;script&gt;alert(&#34;XSS&#34;);&lt;/script&gt;",
        None,
    ),
    (
        "html pipeline",
        '{{printf "<script>alert(\\"XSS\\");</script>" | html}}',
        "&lt;script&gt;alert(&#34;XSS&#34;);&lt;/script&gt;",
        None,
    ),
    ("html untyped nil", "{{html .Empty0}}", "&lt;no value&gt;", T),
    ("js", "{{js .}}", "It\\'d be nice.", "It'd be nice."),
    ("urlquery", '{{"http://www.example.org/"|urlquery}}', "http%3A%2F%2Fwww.example.org%2F", None),
    # Booleans.
    ("not", "{{not true}} {{not false}}", "false true", None),
    ("and", "{{and false 0}} {{and 1 0}} {{and 0 true}} {{and 1 1}}", "false 0 0 1", None),
    ("or", "{{or 0 0}} {{or 1 0}} {{or 0 true}} {{or 1 1}}", "0 1 true 1", None),
    ("or short-circuit", "{{or 0 1 (die)}}", "1", None),
    ("and short-circuit", "{{and 1 0 (die)}}", "0", None),
    ("and pipe-true", "{{1 | and 1}}", "1", None),
    ("and pipe-false", "{{0 | and 1}}", "0", None),
    ("or pipe-true", "{{1 | or 0}}", "1", None),
    ("or pipe-false", "{{0 | or 0}}", "0", None),
    ("and undef", "{{and 1 .Unknown}}", "<no value>", None),
    ("or undef", "{{or 0 .Unknown}}", "<no value>", None),
    ("boolean if", "{{if and true 1 `hi`}}TRUE{{else}}FALSE{{end}}", "TRUE", T),
    ("boolean if not", "{{if and true 1 `hi` | not}}TRUE{{else}}FALSE{{end}}", "FALSE", None),
    ("boolean if pipe", "{{if true | not | and 1}}TRUE{{else}}FALSE{{end}}", "FALSE", None),
    # Indexing.
    ("slice[0]", "{{index .SI 0}}", "3", T),
    ("slice[1]", "{{index .SI 1}}", "4", T),
    ("map[one]", "{{index .MSI `one`}}", "1", T),
    ("map[two]", "{{index .MSI `two`}}", "2", T),
    ("map[NO] of an interface map", "{{index .MSI `XXX`}}", "<no value>", T),
    ("double index", "{{index .SMSI 1 `eleven`}}", "11", T),
    ("index of an interface field", "{{index .Empty3 0}}", "7", T),
    # Slicing.
    ("slice[:]", "{{slice .SI}}", "[3 4 5]", T),
    ("slice[1:]", "{{slice .SI 1}}", "[4 5]", T),
    ("slice[1:2]", "{{slice .SI 1 2}}", "[4]", T),
    ("string[:]", "{{slice .S}}", "xyz", T),
    ("string[0:1]", "{{slice .S 0 1}}", "x", T),
    ("string[1:]", "{{slice .S 1}}", "yz", T),
    ("string[1:2]", "{{slice .S 1 2}}", "y", T),
    ("slice of an interface field", "{{slice .Empty3 0 1}}", "[7]", T),
    # Len.
    ("len slice", "{{len .SI}}", "3", T),
    ("len map", "{{len .MSI }}", "3", T),
    ("len of an interface field", "{{len .Empty3}}", "2", T),
    # With.
    ("with true", "{{with true}}{{.}}{{end}}", "true", T),
    ("with false", "{{with false}}{{.}}{{else}}FALSE{{end}}", "FALSE", T),
    ("with 1", "{{with 1}}{{.}}{{else}}ZERO{{end}}", "1", T),
    ("with 0", "{{with 0}}{{.}}{{else}}ZERO{{end}}", "ZERO", T),
    ("with 1.5", "{{with 1.5}}{{.}}{{else}}ZERO{{end}}", "1.5", T),
    ("with emptystring", "{{with ``}}{{.}}{{else}}EMPTY{{end}}", "EMPTY", T),
    ("with string", "{{with `notempty`}}{{.}}{{else}}EMPTY{{end}}", "notempty", T),
    ("with slice", "{{with .SI}}{{.}}{{else}}EMPTY{{end}}", "[3 4 5]", T),
    ("with map", "{{with .MSIone}}{{.}}{{else}}EMPTY{{end}}", "map[one:1]", T),
    ("with $x int", "{{with $x := .I}}{{$x}}{{end}}", "17", T),
    ("with $x struct.U.V", "{{with $x := $}}{{$x.U.V}}{{end}}", "v", T),
    ("with variable and action", "{{with $x := $}}{{$y := $.U.V}}{{$y}}{{end}}", "v", T),
    ("with else with", "{{with 0}}{{.}}{{else with true}}{{.}}{{end}}", "true", T),
    (
        "with else with chain",
        "{{with 0}}{{.}}{{else with false}}{{.}}{{else with `notempty`}}{{.}}{{end}}",
        "notempty",
        T,
    ),
    # Range.
    ("range []int", "{{range .SI}}-{{.}}-{{end}}", "-3--4--5-", T),
    ("range empty no else", "{{range .SIEmpty}}-{{.}}-{{end}}", "", T),
    ("range []int else", "{{range .SI}}-{{.}}-{{else}}EMPTY{{end}}", "-3--4--5-", T),
    ("range empty else", "{{range .SIEmpty}}-{{.}}-{{else}}EMPTY{{end}}", "EMPTY", T),
    ("range []int break else", "{{range .SI}}-{{.}}-{{break}}NOTREACHED{{else}}EMPTY{{end}}", "-3-", T),
    ("range []int continue else", "{{range .SI}}-{{.}}-{{continue}}NOTREACHED{{else}}EMPTY{{end}}", "-3--4--5-", T),
    ("range []bool", "{{range .SB}}-{{.}}-{{end}}", "-true--false-", T),
    ("range map sorts its keys", "{{range .MSI}}-{{.}}-{{end}}", "-1--3--2-", T),
    ("range empty map else", "{{range .MSIEmpty}}-{{.}}-{{else}}EMPTY{{end}}", "EMPTY", T),
    ("range empty interface", "{{range .Empty3}}-{{.}}-{{else}}EMPTY{{end}}", "-7--8-", T),
    ("range empty nil", "{{range .Empty0}}-{{.}}-{{end}}", "", T),
    ("range $x SI", "{{range $x := .SI}}<{{$x}}>{{end}}", "<3><4><5>", T),
    ("range $x $y SI", "{{range $x, $y := .SI}}<{{$x}}={{$y}}>{{end}}", "<0=3><1=4><2=5>", T),
    ("range $x MSIone", "{{range $x := .MSIone}}<{{$x}}>{{end}}", "<1>", T),
    ("range $x $y MSIone", "{{range $x, $y := .MSIone}}<{{$x}}={{$y}}>{{end}}", "<one=1>", T),
    ("declare in range", "{{range $x := .PSI}}<{{$foo:=$x}}{{$x}}>{{end}}", "<21><22><23>", T),
    ("range 5", '{{range $v := 5}}{{printf "%T%d" $v $v}}{{end}}', "int0int1int2int3int4", None),
    ("or as if true", '{{or .SI "slice is empty"}}', "[3 4 5]", T),
    ("or as if false", '{{or .SIEmpty "slice is empty"}}', "slice is empty", T),
    # Numbers.
    ("decimal", "{{print 1234}}", "1234", T),
    ("decimal _", "{{print 12_34}}", "1234", T),
    ("binary", "{{print 0b101}}", "5", T),
    ("binary _", "{{print 0b_1_0_1}}", "5", T),
    ("BINARY", "{{print 0B101}}", "5", T),
    ("octal0", "{{print 0377}}", "255", T),
    ("octal", "{{print 0o377}}", "255", T),
    ("octal _", "{{print 0o_3_7_7}}", "255", T),
    ("OCTAL", "{{print 0O377}}", "255", T),
    ("hex", "{{print 0x123}}", "291", T),
    ("hex _", "{{print 0x1_23}}", "291", T),
    ("HEX", "{{print 0X123ABC}}", "1194684", T),
    ("float", "{{print 123.4}}", "123.4", T),
    ("float _", "{{print 0_0_1_2_3.4}}", "123.4", T),
    ("hex float", "{{print +0x1.ep+2}}", "7.5", T),
    ("hex float _", "{{print +0x_1.e_0p+0_2}}", "7.5", T),
    ("HEX float", "{{print +0X1.EP+2}}", "7.5", T),
    ("print multi", "{{print 1_2_3_4 7.5_00_00_00}}", "1234 7.5", T),
    ("print multi2", "{{print 1234 0x0_1.e_0p+02}}", "1234 7.5", T),
    # Fixed bugs.
    ("bug4", "{{if .Empty0}}non-nil{{else}}nil{{end}}", "nil", T),
    ("bug9", "{{.cause}}", "neglect", {"cause": "neglect"}),
    ("bug10", "{{mapOfThree.three}}-{{(mapOfThree).three}}", "3-3", 0),
    ("bug12xe", "{{printf `%T` 0xef}}", "int", None),
    ("bug12xE", "{{printf `%T` 0xEE}}", "int", None),
    ("bug12Xe", "{{printf `%T` 0Xef}}", "int", None),
    ("bug12XE", "{{printf `%T` 0XEE}}", "int", None),
    ("bug16g", '{{"aaa" |twoArgs "bbb"}}', "twoArgs=bbbaaa", T),
    ("bug16i", '{{"aaa"|oneArg}}', "oneArg=aaa", T),
    ("bug16k", '{{"aaa"|printf }}', "aaa", T),
    ("bug18a", "{{eq . '.'}}", "true", ord(".")),
    ("bug18b", "{{eq . 'e'}}", "true", ord("e")),
    ("bug18c", "{{eq . 'P'}}", "true", ord("P")),
    ("issue56490", "{{$i := 0}}{{$x := 0}}{{range $i = .AI}}{{end}}{{$i}}", "5", T),
    ("issue60801", "{{$k := 0}}{{$v := 0}}{{range $k, $v = .AI}}{{$k}}={{$v}} {{end}}", "0=3 1=4 2=5 ", T),
]

EXEC_ERRORS: list[tuple[str, str, Any]] = [
    ("nil action", "{{nil}}", None),
    ("ideal too big", "{{typeOf 0x8000000000000000}}", 0),
    ("map .WRONG args", "{{.MSI.one 1}}", T),
    ("unparenthesized non-function", "{{1 2}}", None),
    ("parenthesized non-function", "{{(1) 2}}", None),
    ("if nil", "{{if nil}}TRUE{{end}}", T),
    ("or short-circuit2", "{{or 0 0 (die)}}", None),
    ("and short-circuit2", "{{and 1 1 (die)}}", None),
    ("slice[HUGE]", "{{index .SI 10}}", T),
    ("slice[WRONG]", "{{index .SI `hello`}}", T),
    ("slice[nil]", "{{index .SI nil}}", T),
    ("map[nil]", "{{index .MSI nil}}", T),
    ("map[WRONG]", "{{index .MSI 10}}", T),
    ("nil[1]", "{{index nil 1}}", T),
    ("slice[-1:]", "{{slice .SI -1}}", T),
    ("slice[1:-2]", "{{slice .SI 1 -2}}", T),
    ("slice[2:1]", "{{slice .SI 2 1}}", T),
    ("out of range", "{{slice .SI 4 5}}", T),
    ("string out of range", "{{slice .S 1 5}}", T),
    ("3-index slice of string", "{{slice .S 1 2 2}}", T),
    ("len of int", "{{len 3}}", T),
    ("len of nothing", "{{len .Empty0}}", T),
    ("bug7a", "{{3 2}}", T),
    ("bug7b", "{{$x := 1}}{{$x 2}}", T),
    ("bug7c", "{{$x := 1}}{{3 | $x}}", T),
    ("bug8a", "{{3|oneArg}}", T),
    ("bug8b", "{{4|dddArg 3}}", T),
    ("bug11", "{{valueString .PS}}", {}),
    ("bug14a", "{{(nil).True}}", T),
    ("bug14b", "{{$x := nil}}{{$x.anything}}", T),
    ("bug14c", '{{$x := (1.0)}}{{$y := ("hello")}}{{$x.anything}}{{$y.true}}', T),
    ("bug15", "{{valueString returnInt}}", T),
    ("bug16a", "{{true|printf}}", T),
    ("bug16b", "{{1|printf}}", T),
    ("bug16c", "{{1.1|printf}}", T),
    ("bug16d", "{{'x'|printf}}", T),
    ("bug16f", '{{true|twoArgs "xxx"}}', T),
    ("bug16h", "{{1|oneArg}}", T),
    ("range 5 over two variables", "{{range $i, $c := 5}}{{$c}}{{end}}", None),
]


@pytest.mark.parametrize(("name", "text", "output", "data"), EXEC_TESTS, ids=[t[0] for t in EXEC_TESTS])
def test_templates_render_what_go_renders(name: str, text: str, output: str, data: Any) -> None:
    assert execute(text, data) == output


@pytest.mark.parametrize(("name", "text", "data"), EXEC_ERRORS, ids=[t[0] for t in EXEC_ERRORS])
def test_templates_that_go_refuses_are_refused(name: str, text: str, data: Any) -> None:
    with pytest.raises((ExecFailure, ParseFailure)):
        execute(text, data)


def test_a_field_of_a_missing_map_key_fails_as_in_go_with_missingkey_zero() -> None:
    # Go: "nil pointer evaluating interface {}.b" (Helm and acb report the same for .Values.a.b).
    with pytest.raises(ExecFailure, match=r"nil pointer evaluating interface \{\}\.b"):
        execute("{{.Values.a.b}}", {"Values": {}})


def test_a_field_of_a_variable_holding_nothing_is_nothing() -> None:
    assert execute("{{$x := .Values.a}}[{{$x.b}}]", {"Values": {}}) == "[<no value>]"


def test_an_error_in_a_nested_template_names_the_innermost_action() -> None:
    # TestExecError: Go reports "top:7:20" with a 0-based column; Slipway counts columns from 1.
    text = (
        'line 1\nline 2\nline 3\n{{template "one" .}}\n{{define "one"}}{{template "two" .}}{{end}}\n'
        '{{define "two"}}{{template "three" .}}{{end}}\n{{define "three"}}{{index "hi" $}}{{end}}'
    )
    with pytest.raises(ExecFailure) as caught:
        execute(text, 5)
    assert caught.value.context == 'index "hi" $'
    assert caught.value.message == "error calling index: index out of range: 5"
    assert text[: caught.value.pos].count("\n") + 1 == 7
    assert caught.value.pos - text.rfind("\n", 0, caught.value.pos) - 1 == 20
