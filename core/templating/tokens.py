"""Tokens, and the look-ahead reader the parser uses over them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from core.templating.goprint import go_quote


class Tok(Enum):
    ERROR = "error"
    BOOL = "bool"
    CHAR = "char"
    CHAR_CONSTANT = "char constant"
    COMPLEX = "complex"
    ASSIGN = "="
    DECLARE = ":="
    EOF = "EOF"
    FIELD = "field"
    IDENTIFIER = "identifier"
    LEFT_DELIM = "{{"
    LEFT_PAREN = "("
    NUMBER = "number"
    PIPE = "|"
    RAW_STRING = "raw string"
    RIGHT_DELIM = "}}"
    RIGHT_PAREN = ")"
    SPACE = "space"
    STRING = "string"
    TEXT = "text"
    VARIABLE = "variable"
    # Keywords.
    BLOCK = "block"
    BREAK = "break"
    CONTINUE = "continue"
    DOT = "."
    DEFINE = "define"
    ELSE = "else"
    END = "end"
    IF = "if"
    NIL = "nil"
    RANGE = "range"
    TEMPLATE = "template"
    WITH = "with"


KEYWORDS = {
    ".": Tok.DOT,
    "block": Tok.BLOCK,
    "break": Tok.BREAK,
    "continue": Tok.CONTINUE,
    "define": Tok.DEFINE,
    "else": Tok.ELSE,
    "end": Tok.END,
    "if": Tok.IF,
    "range": Tok.RANGE,
    "nil": Tok.NIL,
    "template": Tok.TEMPLATE,
    "with": Tok.WITH,
}


@dataclass(frozen=True, slots=True)
class Token:
    typ: Tok
    pos: int  # character offset in the template text
    val: str

    def describe(self) -> str:
        """The token as Go's parser names it in `unexpected ...` messages."""
        if self.typ is Tok.EOF:
            return "EOF"
        if self.typ is Tok.ERROR:
            return self.val
        if self.typ in KEYWORDS.values():
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val)[:11] + '"...'
        return go_quote(self.val)


KEYWORD_TOKENS = {"if": Tok.IF, "with": Tok.WITH, "range": Tok.RANGE}
OPERAND_STARTS = {
    Tok.BOOL,
    Tok.CHAR_CONSTANT,
    Tok.COMPLEX,
    Tok.DOT,
    Tok.FIELD,
    Tok.IDENTIFIER,
    Tok.NUMBER,
    Tok.NIL,
    Tok.RAW_STRING,
    Tok.STRING,
    Tok.VARIABLE,
    Tok.LEFT_PAREN,
}


class TokenReader:
    """A token list with Go's parser look-ahead: peek, back up, and skip spaces."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def next(self) -> Token:
        token = self.tokens[min(self.index, len(self.tokens) - 1)]
        self.index += 1
        return token

    def backup(self, count: int = 1) -> None:
        self.index -= count

    def peek(self) -> Token:
        return self.tokens[min(self.index, len(self.tokens) - 1)]

    def next_non_space(self) -> Token:
        token = self.next()
        while token.typ is Tok.SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        start = self.index
        token = self.next_non_space()
        self.index = start
        return token
