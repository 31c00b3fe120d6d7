"""Scanner cases transcribed from Go's src/text/template/parse/lex_test.go (TestLex, TestPos).

Go's test lexer also emits comment tokens; ours never does (as Go's does when it parses for
execution), so those items are left out below.
"""

import pytest

from core.templating.lexer import lex
from core.templating.tokens import Tok

L, R, EOF, SP = (Tok.LEFT_DELIM, "{{"), (Tok.RIGHT_DELIM, "}}"), (Tok.EOF, ""), (Tok.SPACE, " ")
RAW = "`" + 'abc\\n\\t\\" ' + "`"
RAW_NL = "`now is{{\n}}the time`"


def spaced(typ: Tok, texts: list[str]) -> list[tuple[Tok, str]]:
    """Tokens of one type, each followed by a space token."""
    return [item for text in texts for item in ((typ, text), SP)]


def scan(text: str) -> list[tuple[Tok, str]]:
    return [(t.typ, t.val) for t in lex(text)]


# lexTests from lex_test.go, in order.
LEX_TESTS = [
    ("empty", "", [EOF]),
    ("spaces", " \t\n", [(Tok.TEXT, " \t\n"), EOF]),
    ("text", "now is the time", [(Tok.TEXT, "now is the time"), EOF]),
    ("text with comment", "hello-{{/* this is a comment */}}-world", [(Tok.TEXT, "hello-"), (Tok.TEXT, "-world"), EOF]),
    ("punctuation", "{{,@% }}", [L, (Tok.CHAR, ","), (Tok.CHAR, "@"), (Tok.CHAR, "%"), SP, R, EOF]),
    (
        "parens",
        "{{((3))}}",
        [
            L,
            (Tok.LEFT_PAREN, "("),
            (Tok.LEFT_PAREN, "("),
            (Tok.NUMBER, "3"),
            (Tok.RIGHT_PAREN, ")"),
            (Tok.RIGHT_PAREN, ")"),
            R,
            EOF,
        ],
    ),
    ("empty action", "{{}}", [L, R, EOF]),
    ("for", "{{for}}", [L, (Tok.IDENTIFIER, "for"), R, EOF]),
    ("block", '{{block "foo" .}}', [L, (Tok.BLOCK, "block"), SP, (Tok.STRING, '"foo"'), SP, (Tok.DOT, "."), R, EOF]),
    ("quote", '{{"abc \\n\\t\\" "}}', [L, (Tok.STRING, '"abc \\n\\t\\" "'), R, EOF]),
    ("raw quote", "{{" + RAW + "}}", [L, (Tok.RAW_STRING, RAW), R, EOF]),
    ("raw quote with newline", "{{" + RAW_NL + "}}", [L, (Tok.RAW_STRING, RAW_NL), R, EOF]),
    (
        "numbers",
        "{{1 02 0x14 0X14 -7.2i 1e3 1E3 +1.2e-4 4.2i 1+2i 1_2 0x1.e_fp4 0X1.E_FP4}}",
        [
            L,
            *spaced(Tok.NUMBER, ["1", "02", "0x14", "0X14", "-7.2i", "1e3", "1E3", "+1.2e-4", "4.2i"]),
            *spaced(Tok.COMPLEX, ["1+2i"]),
            *spaced(Tok.NUMBER, ["1_2", "0x1.e_fp4"]),
            (Tok.NUMBER, "0X1.E_FP4"),
            R,
            EOF,
        ],
    ),
    (
        "characters",
        "{{'a' '\\n' '\\'' '\\\\' '\\u00FF' '\\xFF' '本'}}",
        [
            L,
            *spaced(Tok.CHAR_CONSTANT, ["'a'", "'\\n'", "'\\''", "'\\\\'", "'\\u00FF'", "'\\xFF'"]),
            (Tok.CHAR_CONSTANT, "'本'"),
            R,
            EOF,
        ],
    ),
    ("bools", "{{true false}}", [L, (Tok.BOOL, "true"), SP, (Tok.BOOL, "false"), R, EOF]),
    ("dot", "{{.}}", [L, (Tok.DOT, "."), R, EOF]),
    ("nil", "{{nil}}", [L, (Tok.NIL, "nil"), R, EOF]),
    (
        "dots",
        "{{.x . .2 .x.y.z}}",
        [
            L,
            (Tok.FIELD, ".x"),
            SP,
            (Tok.DOT, "."),
            SP,
            (Tok.NUMBER, ".2"),
            SP,
            (Tok.FIELD, ".x"),
            (Tok.FIELD, ".y"),
            (Tok.FIELD, ".z"),
            R,
            EOF,
        ],
    ),
    (
        "keywords",
        "{{range if else end with}}",
        [
            L,
            (Tok.RANGE, "range"),
            SP,
            (Tok.IF, "if"),
            SP,
            (Tok.ELSE, "else"),
            SP,
            (Tok.END, "end"),
            SP,
            (Tok.WITH, "with"),
            R,
            EOF,
        ],
    ),
    (
        "variables",
        "{{$c := printf $ $hello $23 $ $var.Field .Method}}",
        [
            L,
            (Tok.VARIABLE, "$c"),
            SP,
            (Tok.DECLARE, ":="),
            SP,
            (Tok.IDENTIFIER, "printf"),
            SP,
            (Tok.VARIABLE, "$"),
            SP,
            (Tok.VARIABLE, "$hello"),
            SP,
            (Tok.VARIABLE, "$23"),
            SP,
            (Tok.VARIABLE, "$"),
            SP,
            (Tok.VARIABLE, "$var"),
            (Tok.FIELD, ".Field"),
            SP,
            (Tok.FIELD, ".Method"),
            R,
            EOF,
        ],
    ),
    ("variable invocation", "{{$x 23}}", [L, (Tok.VARIABLE, "$x"), SP, (Tok.NUMBER, "23"), R, EOF]),
    (
        "pipeline",
        'intro {{echo hi 1.2 |noargs|args 1 "hi"}} outro',
        [
            (Tok.TEXT, "intro "),
            L,
            (Tok.IDENTIFIER, "echo"),
            SP,
            (Tok.IDENTIFIER, "hi"),
            SP,
            (Tok.NUMBER, "1.2"),
            SP,
            (Tok.PIPE, "|"),
            (Tok.IDENTIFIER, "noargs"),
            (Tok.PIPE, "|"),
            (Tok.IDENTIFIER, "args"),
            SP,
            (Tok.NUMBER, "1"),
            SP,
            (Tok.STRING, '"hi"'),
            R,
            (Tok.TEXT, " outro"),
            EOF,
        ],
    ),
    ("declaration", "{{$v := 3}}", [L, (Tok.VARIABLE, "$v"), SP, (Tok.DECLARE, ":="), SP, (Tok.NUMBER, "3"), R, EOF]),
    (
        "2 declarations",
        "{{$v , $w := 3}}",
        [
            L,
            (Tok.VARIABLE, "$v"),
            SP,
            (Tok.CHAR, ","),
            SP,
            (Tok.VARIABLE, "$w"),
            SP,
            (Tok.DECLARE, ":="),
            SP,
            (Tok.NUMBER, "3"),
            R,
            EOF,
        ],
    ),
    (
        "field of parenthesized expression",
        "{{(.X).Y}}",
        [L, (Tok.LEFT_PAREN, "("), (Tok.FIELD, ".X"), (Tok.RIGHT_PAREN, ")"), (Tok.FIELD, ".Y"), R, EOF],
    ),
    (
        "trimming spaces before and after",
        "hello- {{- 3 -}} -world",
        [(Tok.TEXT, "hello-"), L, (Tok.NUMBER, "3"), R, (Tok.TEXT, "-world"), EOF],
    ),
    (
        "trimming spaces before and after comment",
        "hello- {{- /* hello */ -}} -world",
        [(Tok.TEXT, "hello-"), (Tok.TEXT, "-world"), EOF],
    ),
    ("badchar", "#{{\x01}}", [(Tok.TEXT, "#"), L, (Tok.ERROR, "unrecognized character in action: U+0001")]),
    ("unclosed action", "{{", [L, (Tok.ERROR, "unclosed action")]),
    ("EOF in action", "{{range", [L, (Tok.RANGE, "range"), (Tok.ERROR, "unclosed action")]),
    ("unclosed quote", '{{"\n"}}', [L, (Tok.ERROR, "unterminated quoted string")]),
    ("unclosed raw quote", "{{`xx}}", [L, (Tok.ERROR, "unterminated raw quoted string")]),
    ("unclosed char constant", "{{'\n}}", [L, (Tok.ERROR, "unterminated character constant")]),
    ("bad number", "{{3k}}", [L, (Tok.ERROR, 'bad number syntax: "3k"')]),
    ("unclosed paren", "{{(3}}", [L, (Tok.LEFT_PAREN, "("), (Tok.NUMBER, "3"), (Tok.ERROR, "unclosed left paren")]),
    ("extra right paren", "{{3)}}", [L, (Tok.NUMBER, "3"), (Tok.ERROR, "unexpected right paren")]),
    ("long pipeline deadlock", "{{|||||}}", [L, *[(Tok.PIPE, "|")] * 5, R, EOF]),
    ("text with bad comment", "hello-{{/*/}}-world", [(Tok.TEXT, "hello-"), (Tok.ERROR, "unclosed comment")]),
    (
        "text with comment close separated from delim",
        "hello-{{/* */ }}-world",
        [(Tok.TEXT, "hello-"), (Tok.ERROR, "comment ends before closing delimiter")],
    ),
    ("unmatched right delimiter", "hello-{.}}-world", [(Tok.TEXT, "hello-{.}}-world"), EOF]),
]


@pytest.mark.parametrize(("name", "text", "expected"), LEX_TESTS, ids=[t[0] for t in LEX_TESTS])
def test_the_scanner_produces_the_tokens_go_produces(name: str, text: str, expected: list[tuple[Tok, str]]) -> None:
    assert scan(text) == expected


# lexPosTests from lex_test.go: offsets of each token.
POS_TESTS = [
    ("empty", "", [(Tok.EOF, 0, "")]),
    (
        "punctuation",
        "{{,@%#}}",
        [
            (Tok.LEFT_DELIM, 0, "{{"),
            (Tok.CHAR, 2, ","),
            (Tok.CHAR, 3, "@"),
            (Tok.CHAR, 4, "%"),
            (Tok.CHAR, 5, "#"),
            (Tok.RIGHT_DELIM, 6, "}}"),
            (Tok.EOF, 8, ""),
        ],
    ),
    (
        "sample",
        "0123{{hello}}xyz",
        [
            (Tok.TEXT, 0, "0123"),
            (Tok.LEFT_DELIM, 4, "{{"),
            (Tok.IDENTIFIER, 6, "hello"),
            (Tok.RIGHT_DELIM, 11, "}}"),
            (Tok.TEXT, 13, "xyz"),
            (Tok.EOF, 16, ""),
        ],
    ),
    (
        "trimafter",
        "{{x -}}\n{{y}}",
        [
            (Tok.LEFT_DELIM, 0, "{{"),
            (Tok.IDENTIFIER, 2, "x"),
            (Tok.RIGHT_DELIM, 5, "}}"),
            (Tok.LEFT_DELIM, 8, "{{"),
            (Tok.IDENTIFIER, 10, "y"),
            (Tok.RIGHT_DELIM, 11, "}}"),
            (Tok.EOF, 13, ""),
        ],
    ),
    (
        "trimbefore",
        "{{x}}\n{{- y}}",
        [
            (Tok.LEFT_DELIM, 0, "{{"),
            (Tok.IDENTIFIER, 2, "x"),
            (Tok.RIGHT_DELIM, 3, "}}"),
            (Tok.LEFT_DELIM, 6, "{{"),
            (Tok.IDENTIFIER, 10, "y"),
            (Tok.RIGHT_DELIM, 11, "}}"),
            (Tok.EOF, 13, ""),
        ],
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), POS_TESTS, ids=[t[0] for t in POS_TESTS])
def test_every_token_records_its_offset_as_go_does(name: str, text: str, expected: list[tuple[Tok, int, str]]) -> None:
    assert [(t.typ, t.pos, t.val) for t in lex(text)] == expected


def test_a_minus_without_a_space_is_a_negative_number_not_a_trim_marker() -> None:
    assert scan("{{-3}}") == [L, (Tok.NUMBER, "-3"), R, EOF]


def test_trim_markers_also_accept_a_tab_or_newline_after_the_minus() -> None:
    assert scan("a \n{{-\t.x\n-}}\n b") == [(Tok.TEXT, "a"), L, (Tok.FIELD, ".x"), R, (Tok.TEXT, "b"), EOF]


def test_break_and_continue_are_identifiers_when_a_function_has_that_name() -> None:
    assert [t.typ for t in lex("{{break}}", break_ok=False)][1] is Tok.IDENTIFIER
    assert [t.typ for t in lex("{{break}}")][1] is Tok.BREAK


def test_a_newline_inside_an_action_is_a_space_as_in_go_1_16() -> None:
    assert scan("{{.x\n| upper}}") == [
        L,
        (Tok.FIELD, ".x"),
        (Tok.SPACE, "\n"),
        (Tok.PIPE, "|"),
        SP,
        (Tok.IDENTIFIER, "upper"),
        R,
        EOF,
    ]


def test_an_equals_sign_right_after_a_variable_is_a_bad_character() -> None:
    tokens = scan("{{$x=1}}")
    assert tokens[-1][0] is Tok.ERROR
    assert tokens[-1][1].startswith("bad character U+003D")
