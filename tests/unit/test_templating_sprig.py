"""Sprig functions, with cases transcribed from Masterminds/sprig's tests (strings_test.go,
regex_test.go, defaults_test.go, list_test.go, dict_test.go, numeric_test.go, crypto_test.go).

acb uses Sprig v2.22, whose behaviour differs from Sprig 3 in a few places (trunc with a negative
length panics instead of counting from the end; list functions panic on non-lists); these tests
follow v2.22, and say so where Sprig's current tests expect v3.
"""

from datetime import UTC, datetime
from typing import Any

import pytest

from core.templating import Environment, TemplateError, render_template

FIXED = Environment(clock=lambda: datetime(2024, 3, 5, 14, 7, 9, 123456, tzinfo=UTC), random_bytes=bytes)


def render(text: str, data: dict[str, Any] | None = None) -> str:
    return render_template(text, data or {}, env=FIXED)


CASES = [
    # strings_test.go
    ("TestSubstr", '{{"fooo" | substr 0 3 }}', "foo"),
    ("TestSubstr_shorterString", '{{"foo" | substr 0 10 }}', "foo"),
    ("TestTrunc", '{{ "foooooo" | trunc 3 }}', "foo"),
    ("TestTrunc zero", '{{ "baaaaaz" | trunc 0 }}', ""),
    ("TestQuote", '{{quote "a" "b" "c"}}', '"a" "b" "c"'),
    ("TestQuote escaped", '{{quote "\\"a\\"" "b" "c"}}', '"\\"a\\"" "b" "c"'),
    ("TestQuote numbers", "{{quote 1 2 3 }}", '"1" "2" "3"'),
    ("TestSquote", '{{squote "a" "b" "c"}}', "'a' 'b' 'c'"),
    ("TestSquote numbers", "{{squote 1 2 3 }}", "'1' '2' '3'"),
    ("TestContains", '{{if contains "cat" "fair catch"}}1{{end}}', "1"),
    ("TestContains hasPrefix", '{{if hasPrefix "cat" "catch"}}1{{end}}', "1"),
    ("TestContains hasSuffix", '{{if hasSuffix "cat" "ducat"}}1{{end}}', "1"),
    ("TestTrim", '{{trim "   5.00   "}}', "5.00"),
    ("TestTrim trimAll", '{{trimAll "$" "$5.00$"}}', "5.00"),
    ("TestTrim trimPrefix", '{{trimPrefix "$" "$5.00"}}', "5.00"),
    ("TestTrim trimSuffix", '{{trimSuffix "$" "5.00$"}}', "5.00"),
    ("TestSplit", '{{$v := "foo$bar$baz" | split "$"}}{{$v._0}}', "foo"),
    ("TestSplitn", '{{$v := "foo$bar$baz" | splitn "$" 2}}{{$v._1}}', "bar$baz"),
    ("TestToStrings", "{{ $s := list 1 2 3 | toStrings }}{{ index $s 1 | kindOf }}", "string"),
    ("TestJoin tuple", '{{ tuple "a" "b" "c" | join "-" }}', "a-b-c"),
    ("TestJoin numbers", '{{ tuple 1 2 3 | join "-" }}', "1-2-3"),
    ("TestSortAlpha", '{{ list "c" "a" "b" | sortAlpha | join "" }}', "abc"),
    ("TestSortAlpha numbers", '{{ list 2 1 4 3 | sortAlpha | join "" }}', "1234"),
    ("TestBase64EncodeDecode", '{{b64enc "coffee"}} {{b64dec "Y29mZmVl"}}', "Y29mZmVl coffee"),
    ("TestBase32EncodeDecode", '{{b32enc "coffee"}} {{b32dec "MNXWMZTFMU======"}}', "MNXWMZTFMU====== coffee"),
    ("TestGoutils abbrev", '{{abbrev 5 "hello world"}}', "he..."),
    ("TestGoutils nospace", '{{nospace "h e l l o "}}', "hello"),
    ("TestGoutils untitle", '{{untitle "First Try"}}', "first try"),
    ("TestGoutils initials", '{{initials "First Try"}}', "FT"),
    ("TestCat", '{{$b := "b"}}{{"c" | cat "a" $b}}', "a b c"),
    ("TestIndent", '{{indent 4 "a\\nb\\nc"}}', "    a\n    b\n    c"),
    ("TestNindent", '{{nindent 4 "a\\nb\\nc"}}', "\n    a\n    b\n    c"),
    ("TestReplace", '{{"I Am Henry VIII" | replace " " "-"}}', "I-Am-Henry-VIII"),
    ("TestPlural", '{{$num := len "two"}}{{$num}} {{$num | plural "1 char" "chars"}}', "3 chars"),
    ("TestPlural one", '{{len "t" | plural "cheese" "%d chars"}}', "cheese"),
    (
        "upper lower title",
        '{{ upper "hello" }} {{ lower "HeLLo" }} {{ title "hello wide world" }}',
        "HELLO hello Hello Wide World",
    ),
    ("repeat", '{{ "ab" | repeat 3 }}', "ababab"),
    (
        "snakecase",
        '{{ snakecase "FirstName" }} {{ snakecase "HTTPServer" }} {{ snakecase "HTTP20xOK" }}',
        "first_name http_server http_20x_ok",
    ),
    ("kebabcase", '{{ kebabcase "FirstName" }} {{ kebabcase "NoHTTPS" }}', "first-name no-https"),
    (
        "camelcase",
        '{{ camelcase "http_server" }} {{ camelcase "_camel_case" }} {{ camelcase "GOLANG_IS_GREAT" }}',
        "HttpServer _CamelCase GolangIsGreat",
    ),
    ("swapcase", '{{ swapcase "swapCase" }}', "SWAPcASE"),
    # regex_test.go
    ("TestRegexMatch", '{{ regexMatch "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\\\.[A-Za-z]{2,}" "test@acme.com" }}', "true"),
    ("TestRegexMatch no", '{{ regexMatch "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\\\.[A-Za-z]{2,}" "test@acme" }}', "false"),
    (
        "TestRegexFindAll",
        '{{ regexFindAll "a{2}" "aaaa" -1 | len }} {{ regexFindAll "a{2}" "aaaaaaaa" 1 | len }}',
        "2 1",
    ),
    ("TestRegexFindl", '{{ regexFind "fo.?" "foorbar" }}|{{ regexFind "fo.?" "none" }}', "foo|"),
    ("TestRegexReplaceAll T", '{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "T" }}', "-T-T-"),
    ("TestRegexReplaceAll $1", '{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "$1" }}', "--xx-"),
    ("TestRegexReplaceAll $1W", '{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "$1W" }}', "---"),
    ("TestRegexReplaceAll ${1}W", '{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}', "-W-xxW-"),
    ("TestRegexReplaceAllLiteral", '{{ regexReplaceAllLiteral "a(x*)b" "-ab-axxb-" "${1}" }}', "-${1}-${1}-"),
    (
        "TestRegexSplit",
        '{{ regexSplit "a" "banana" -1 | len }} {{ regexSplit "a" "banana" 0 | len }} '
        '{{ regexSplit "a" "banana" 2 | len }}',
        "4 0 2",
    ),
    ("TestRegexSplit z+", '{{ regexSplit "z+" "pizza" -1 }}', "[pi a]"),
    (
        "regexReplaceAll skips an empty match after a match, as Go does",
        '{{ regexReplaceAll "x*" "abxd" "-" }}',
        "-a-b-d-",
    ),
    (
        "regex dollar means end of text",
        '{{ regexMatch "^a$" "a\\n" }} {{ regexMatch "(?m)^a$" "a\\nb" }}',
        "false true",
    ),
    (
        "regex classes are ASCII",
        '{{ regexMatch "^\\\\w+$" "héllo" }} {{ regexMatch "^[[:alpha:]]+$" "abc" }}',
        "false true",
    ),
    # defaults_test.go
    (
        "TestDefault",
        '{{ "" | default "foo" }} {{ "bar" | default "foo" }} {{ default "foo" 0 }} {{ default "foo" false }}',
        "foo bar foo foo",
    ),
    ("TestDefault missing", '{{ .Nothing | default "123" }}', "123"),
    ("TestDefault list", "{{ list | default 1 }}", "1"),
    (
        "TestEmpty",
        '{{ if empty "" }}1{{ end }}{{ if empty 0 }}2{{ end }}{{ if not (empty "x") }}3{{ end }}'
        "{{ if empty .Nope }}4{{ end }}",
        "1234",
    ),
    ("TestCoalesce", '{{ coalesce "" 0 nil 2 }} {{ coalesce .Nope "b" }}', "2 b"),
    ("TestTernary", '{{ true | ternary "foo" "bar" }} {{ false | ternary "foo" "bar" }}', "foo bar"),
    (
        "TestToJson",
        '{{ dict "Top" (dict "bool" true "string" "test" "number" 42) | toJson }}',
        '{"Top":{"bool":true,"number":42,"string":"test"}}',
    ),
    (
        "TestToPrettyJson",
        '{{ dict "a" (list 1 2) "b" (dict) | toPrettyJson }}',
        '{\n  "a": [\n    1,\n    2\n  ],\n  "b": {}\n}',
    ),
    ("toJson escapes HTML as Go does", '{{ toJson "<a&b>" }}', '"\\u003ca\\u0026b\\u003e"'),
    (
        "fromJson numbers are floats",
        '{{ (fromJson "{\\"a\\": 1, \\"b\\": [true, null]}").a }} {{ (fromJson "{\\"b\\": 1000000}").b }}',
        "1 1e+06",
    ),
    ("fromJson of bad JSON is nothing", '{{ fromJson "{" }}', ""),
    # list_test.go
    ("TestTuple", '{{ $t := tuple 1 "a" "foo" }}{{ index $t 2 }}{{ index $t 0 }}{{ index $t 1 }}', "foo1a"),
    ("TestList", '{{ $t := list 1 "a" "foo" }}{{ index $t 2 }}{{ index $t 0 }}{{ index $t 1 }}', "foo1a"),
    ("TestPush", "{{ $t := tuple 1 2 3 }}{{ append $t 4 | len }}", "4"),
    ("TestPrepend", "{{ $t := tuple 1 2 3 }}{{ prepend $t 0 | len }} {{ prepend $t 0 }}", "4 [0 1 2 3]"),
    ("TestFirst", "{{ list 1 2 3 | first }} {{ list | first }}|", "1 |"),
    ("TestLast", "{{ list 1 2 3 | last }}", "3"),
    ("TestInitial", "{{ list 1 2 3 | initial }}", "[1 2]"),
    ("TestRest", "{{ list 1 2 3 | rest }}", "[2 3]"),
    ("TestReverse", "{{ list 1 2 3 | reverse }}", "[3 2 1]"),
    ("TestCompact", '{{ list 1 0 "" "hello" | compact }}', "[1 hello]"),
    ("TestUniq", '{{ list 1 2 1 3 "a" "a" | uniq }}', "[1 2 3 a]"),
    ("TestWithout", "{{ without (list 1 2 3 4) 1 3 }}", "[2 4]"),
    ("TestHas", '{{ list 1 2 3 | has 1 }} {{ has "x" (list "y") }} {{ has 1 .Nope }}', "true false false"),
    ("TestSlice", "{{ slice (list 1 2 3) 1 }} {{ slice (list 1 2 3) 0 2 }}", "[2 3] [1 2]"),
    ("TestConcat", "{{ concat (list 1 2) (list 3) }}", "[1 2 3]"),
    ("TestUntil", "{{ until 3 }} {{ untilStep 0 10 4 }} {{ until -2 }}", "[0 1 2] [0 4 8] [0 -1]"),
    # dict_test.go
    ("TestDict", '{{ $d := dict "a" 1 "b" 2 }}{{ $d.a }}{{ $d.b }}', "12"),
    ("TestDict odd", '{{ $d := dict "a" }}[{{ $d.a }}]', "[]"),
    (
        "TestUnset",
        '{{- $d := dict "one" 1 "two" 222222 -}}{{- $_ := unset $d "two" -}}'
        "{{- range $k, $v := $d}}{{$k}}-{{$v}}{{- end -}}",
        "one-1",
    ),
    (
        "TestHasKey",
        '{{- $d := dict "one" 1 "two" 222222 -}}{{ hasKey $d "one" }} {{ hasKey $d "three" }}',
        "true false",
    ),
    (
        "TestPluck",
        '{{ $d := dict "one" 1 "two" 222222 }}{{ $d2 := dict "one" 1 "two" 33333 }}{{ pluck "two" $d $d2 }}',
        "[222222 33333]",
    ),
    ("TestKeys", '{{ dict "b" 2 "a" 1 | keys }}', "[a b]"),
    ("TestPick", '{{- $d := dict "one" 1 "two" 222222 }}{{- pick $d "two" | len -}}', "1"),
    ("TestOmit", '{{- $d := dict "one" 1 "two" 222222 }}{{- omit $d "one" | len -}}', "1"),
    ("TestSet", '{{- $d := dict "one" 1 }}{{- $_ := set $d "two" 2 }}{{ len $d }}', "2"),
    ("TestValues", '{{ dict "a" 1 "b" 2 | values }}', "[1 2]"),
    ("TestGet", '{{ get (dict "a" 1) "a" }}|{{ get (dict "a" 1) "b" }}|', "1||"),
    # numeric_test.go and functions_test.go
    ("TestAdd", '{{ 3 | add 1 2}} {{ add "3" 1 }} {{ add1 1 }}', "6 4 2"),
    ("TestSub", "{{ 3 | sub 14 }}", "11"),
    ("TestMul", "{{ 1 | mul 2 3 4 }}", "24"),
    ("TestDiv", "{{ 4 | div 5 }} {{ div -7 2 }}", "1 -3"),
    ("TestMod", "{{ 2 | mod 5 }} {{ mod -7 2 }}", "1 -1"),
    ("TestMax", "{{ max 1 2 3 }} {{ biggest 1 2 3 }}", "3 3"),
    ("TestMin", "{{ min 1 2 3 }}", "1"),
    ("TestToInt", '{{ int "12" }} {{ int 1.9 }} {{ int "x" }} {{ int64 true }} {{ atoi "42" }}', "12 1 0 1 42"),
    ("TestToFloat64", '{{ float64 "1.5" }} {{ float64 3 }}', "1.5 3"),
    ("TestFloor/Ceil/Round", "{{ floor 1.5 }} {{ ceil 1.2 }} {{ round 3.756 2 }}", "1 2 3.76"),
    # crypto_test.go
    ("TestSha256Sum", '{{"abc" | sha256sum}}', "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("TestSha1Sum", '{{"abc" | sha1sum}}', "a9993e364706816aba3e25717850c26c9cd0d89d"),
    ("TestAdler32Sum", '{{"abc" | adler32sum}}', "38600999"),
    # date, paths, reflection
    ("date with a Go layout", '{{ now | date "2006-01-02T15:04:05Z07:00" }}', "2024-03-05T14:07:09Z"),
    ("date of a unix time", '{{ date "2006-01-02 Mon Jan _2" 0 }}', "1970-01-01 Thu Jan  1"),
    ("dateInZone", '{{ dateInZone "15:04 MST" (now) "America/New_York" }}', "09:07 EST"),
    ("htmlDate", "{{ htmlDate now }}", "2024-03-05"),
    ("now prints like Go's time.Time", "{{ now }}", "2024-03-05 14:07:09.123456 +0000 UTC"),
    (
        "paths",
        '{{ base "a/b/c.txt" }} {{ dir "a/b/c.txt" }} {{ ext "c.tar.gz" }} {{ clean "a//b/../c/." }} {{ isAbs "/x" }}',
        "c.txt a/b .gz a/c true",
    ),
    (
        "typeOf and kindOf",
        '{{ typeOf 1 }} {{ typeOf "a" }} {{ typeOf (list) }} {{ kindOf (dict) }} {{ kindIs "int" 3 }}',
        "int string []interface {} map true",
    ),
    ("deepEqual", "{{ deepEqual (list 1 2) (list 1 2) }} {{ deepEqual 1 (int64 1) }}", "true false"),
    ("uuidv4 uses the environment's randomness", "{{ uuidv4 }}", "00000000-0000-4000-8000-000000000000"),
    ("env never reads the worker's environment", '{{ env "HOME" }}|{{ expandenv "a $HOME b ${PATH}c" }}', "|a  b c"),
]


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_sprig_functions_render_what_sprig_renders(name: str, text: str, expected: str) -> None:
    assert render(text) == expected


def test_quote_cat_and_squote_skip_nil_values() -> None:
    # TestQuote, TestSquote and TestCat with a nil .value.
    data = {"value": None}
    assert render('{{ .value | quote }}|{{ .value | squote }}|{{ .value | cat "a" "b" }}', data) == "||a b"


def test_join_drops_nil_elements() -> None:
    # TestJoin with []interface{}{"1", nil, "2"}.
    assert render('{{ join "-" .value }}', {"value": ["1", None, "2"]}) == "1-2"


def test_to_strings_drops_nil_elements() -> None:
    assert render("{{ list 1 .value 2 | toStrings }}", {"value": None}) == "[1 2]"


def test_b64enc_gives_empty_for_nil_as_acb_overrides_it() -> None:
    assert render("[{{ b64enc .Secrets.missing }}]", {"Secrets": {}}) == "[]"
    assert render("{{ .Secrets.s | b64enc }}", {"Secrets": {"s": "hunter2"}}) == "aHVudGVyMg=="


def test_b64dec_of_bad_input_renders_go_s_error_text() -> None:
    assert render('{{ b64dec "Y29mZmVl!" }}') == "illegal base64 data at input byte 8"
    assert render('{{ b64dec "Y29" }}') == "illegal base64 data at input byte 0"


def test_trunc_with_a_negative_length_fails_as_in_sprig_2() -> None:
    # Sprig 3's TestTrunc expects "aar" for trunc -3; acb's Sprig 2.22 panics instead.
    with pytest.raises(TemplateError, match="error calling trunc"):
        render('{{ "baaaaaar" | trunc -3 }}')


def test_list_functions_refuse_values_that_are_not_lists() -> None:
    with pytest.raises(TemplateError, match="error calling first: Cannot find first on type string"):
        render('{{ first "abc" }}')


def test_division_by_zero_is_an_error_not_a_crash() -> None:
    with pytest.raises(TemplateError, match="error calling div: runtime error: integer divide by zero"):
        render("{{ div 1 0 }}")


def test_arithmetic_returns_int64_which_an_int_parameter_refuses_as_go_does() -> None:
    with pytest.raises(TemplateError, match="expected int; got int64"):
        render('{{ repeat (add 1 1) "x" }}')


def test_required_fails_with_its_message_and_passes_values_through() -> None:
    assert render('{{ required "need tag" .Values.tag }}', {"Values": {"tag": "v1"}}) == "v1"
    with pytest.raises(TemplateError, match="error calling required: need tag"):
        render('{{ required "need tag" .Values.tag }}', {"Values": {}})


def test_fail_stops_rendering_with_its_message() -> None:
    with pytest.raises(TemplateError, match="error calling fail: stop here"):
        render('{{ fail "stop here" }}')


def test_an_invalid_regular_expression_is_an_error_for_replace_but_false_for_match() -> None:
    assert render('{{ regexMatch "(" "x" }}') == "false"
    with pytest.raises(TemplateError, match=r"regexp: Compile\(`\(`\)"):
        render('{{ regexReplaceAll "(" "x" "y" }}')


def test_perl_syntax_that_re2_lacks_is_refused() -> None:
    with pytest.raises(TemplateError, match="invalid or unsupported Perl syntax"):
        render('{{ regexReplaceAll "a(?=b)" "ab" "x" }}')


def test_caller_functions_are_added_and_can_replace_sprig_ones() -> None:
    functions = {"shout": lambda s: str(s).upper() + "!", "upper": lambda s: "replaced"}
    assert render_template("{{ shout .x }} {{ upper .x }}", {"x": "hi"}, functions=functions) == "HI! replaced"


def test_a_caller_function_that_raises_is_reported_at_its_action() -> None:
    def boom(_: object) -> str:
        raise ValueError("kaboom")

    with pytest.raises(TemplateError, match=r"1:8: at <boom \.x>: error calling boom: kaboom"):
        render_template("abc {{ boom .x }}", {"x": 1}, functions={"boom": boom})
