"""The scanner: template text to tokens, as Go's `text/template/parse/lex.go` does it.

Trim markers are handled here, exactly as in Go: `{{- ` removes the spaces, tabs and newlines
before the action and ` -}}` those after it; the marker needs the ASCII space (or tab or newline)
so that `{{-3}}` stays the number -3. Comments `{{/* ... */}}` produce no token. A lexical error
becomes an `ERROR` token that ends the stream; the parser reports it when it reaches it.
"""

from __future__ import annotations

import unicodedata

from core.templating.goprint import go_quote
from core.templating.tokens import KEYWORDS, Tok, Token

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
_SPACE = " \t\r\n"


def is_space(ch: str) -> bool:
    return ch in _SPACE and ch != ""


def is_alphanumeric(ch: str) -> bool:
    if ch == "_":
        return True
    if not ch:
        return False
    category = unicodedata.category(ch)
    return category.startswith("L") or category == "Nd"


def _has_left_trim(text: str, i: int) -> bool:
    return text[i : i + 1] == "-" and is_space(text[i + 1 : i + 2])


def _has_right_trim(text: str, i: int) -> bool:
    return is_space(text[i : i + 1]) and text[i + 1 : i + 2] == "-"


class _Lexer:
    def __init__(self, text: str, *, break_ok: bool, continue_ok: bool) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.break_ok = break_ok
        self.continue_ok = continue_ok
        self.tokens: list[Token] = []

    # -- helpers --------------------------------------------------------------------------------
    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def emit(self, typ: Tok) -> None:
        self.tokens.append(Token(typ, self.start, self.text[self.start : self.pos]))
        self.start = self.pos

    def error(self, message: str) -> None:
        self.tokens.append(Token(Tok.ERROR, self.start, message))

    def at_right_delim(self) -> tuple[bool, bool]:
        if _has_right_trim(self.text, self.pos) and self.text.startswith(RIGHT_DELIM, self.pos + 2):
            return True, True
        return self.text.startswith(RIGHT_DELIM, self.pos), False

    def at_terminator(self) -> bool:
        ch = self.peek()
        return ch == "" or is_space(ch) or ch in ".,|:)(" or ch == RIGHT_DELIM[0]

    # -- states: each returns False when scanning must stop ------------------------------------
    def run(self) -> list[Token]:
        state = self.lex_text
        while state():
            state = self.lex_inside_action if self.in_action else self.lex_text
        return self.tokens

    in_action = False

    def lex_text(self) -> bool:
        text = self.text
        found = text.find(LEFT_DELIM, self.pos)
        if found < 0:
            self.pos = len(text)
            if self.pos > self.start:
                self.emit(Tok.TEXT)
            self.emit(Tok.EOF)
            return False
        self.pos = found
        trim = 0
        if _has_left_trim(text, found + len(LEFT_DELIM)):
            before = text[self.start : found]
            trim = len(before) - len(before.rstrip(_SPACE))
        self.pos -= trim
        if self.pos > self.start:
            self.emit(Tok.TEXT)
        self.pos += trim
        self.start = self.pos
        return self.lex_left_delim()

    def lex_left_delim(self) -> bool:
        self.pos += len(LEFT_DELIM)
        trim = _has_left_trim(self.text, self.pos)
        after_marker = 2 if trim else 0
        if self.text.startswith("/*", self.pos + after_marker):
            self.pos += after_marker
            self.start = self.pos
            return self.lex_comment()
        self.emit(Tok.LEFT_DELIM)
        self.pos += after_marker
        self.start = self.pos
        self.paren_depth = 0
        self.in_action = True
        return True

    def lex_comment(self) -> bool:
        self.pos += 2
        close = self.text.find("*/", self.pos)
        if close < 0:
            self.error("unclosed comment")
            return False
        self.pos = close + 2
        delim, trim = self.at_right_delim()
        if not delim:
            self.error("comment ends before closing delimiter")
            return False
        self.pos += (2 if trim else 0) + len(RIGHT_DELIM)
        if trim:
            self.pos += len(self.text[self.pos :]) - len(self.text[self.pos :].lstrip(_SPACE))
        self.start = self.pos
        return True

    def lex_right_delim(self) -> bool:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += 2
            self.start = self.pos
        self.pos += len(RIGHT_DELIM)
        self.emit(Tok.RIGHT_DELIM)
        if trim:
            rest = self.text[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(_SPACE))
            self.start = self.pos
        self.in_action = False
        return True

    def lex_inside_action(self) -> bool:  # noqa: PLR0911, PLR0912
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim()
            self.error("unclosed left paren")
            return False
        ch = self.peek()
        if ch == "":
            self.error("unclosed action")
            return False
        if is_space(ch):
            return self.lex_space()
        self.pos += 1
        if ch == "=":
            self.emit(Tok.ASSIGN)
        elif ch == ":":
            if self.peek() != "=":
                self.error("expected :=")
                return False
            self.pos += 1
            self.emit(Tok.DECLARE)
        elif ch == "|":
            self.emit(Tok.PIPE)
        elif ch == '"':
            return self.lex_quote()
        elif ch == "`":
            return self.lex_raw_quote()
        elif ch == "$":
            return self.lex_variable()
        elif ch == "'":
            return self.lex_char()
        elif ch == "." and self.peek() != "" and not "0" <= self.peek() <= "9":
            return self.lex_field_or_variable(Tok.FIELD)
        elif ch in "+-." or "0" <= ch <= "9":
            self.pos -= 1
            return self.lex_number()
        elif is_alphanumeric(ch):
            self.pos -= 1
            return self.lex_identifier()
        elif ch == "(":
            self.emit(Tok.LEFT_PAREN)
            self.paren_depth += 1
        elif ch == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self.error("unexpected right paren")
                return False
            self.emit(Tok.RIGHT_PAREN)
        elif ord(ch) < 0x80 and ch.isprintable():
            self.emit(Tok.CHAR)
        else:
            self.error(f"unrecognized character in action: U+{ord(ch):04X}")
            return False
        return True

    def lex_space(self) -> bool:
        spaces = 0
        while is_space(self.peek()):
            self.pos += 1
            spaces += 1
        # A space followed by "-}}" belongs to the closing trim marker.
        if _has_right_trim(self.text, self.pos - 1) and self.text.startswith(RIGHT_DELIM, self.pos + 1):
            self.pos -= 1
            if spaces == 1:
                return self.lex_right_delim()
        self.emit(Tok.SPACE)
        return True

    def lex_identifier(self) -> bool:
        while is_alphanumeric(self.peek()):
            self.pos += 1
        word = self.text[self.start : self.pos]
        if not self.at_terminator():
            self.bad_character()
            return False
        keyword = KEYWORDS.get(word)
        if keyword is not None and keyword is not Tok.DOT:
            if (keyword is Tok.BREAK and not self.break_ok) or (keyword is Tok.CONTINUE and not self.continue_ok):
                self.emit(Tok.IDENTIFIER)
            else:
                self.emit(keyword)
        elif word in ("true", "false"):
            self.emit(Tok.BOOL)
        else:
            self.emit(Tok.IDENTIFIER)
        return True

    def bad_character(self) -> None:
        ch = self.peek()
        self.pos += 1
        self.error(f"bad character U+{ord(ch):04X} {ch!r}")

    def lex_variable(self) -> bool:
        if self.at_terminator():
            self.emit(Tok.VARIABLE)
            return True
        return self.lex_field_or_variable(Tok.VARIABLE)

    def lex_field_or_variable(self, typ: Tok) -> bool:
        if self.at_terminator():
            self.emit(Tok.VARIABLE if typ is Tok.VARIABLE else Tok.DOT)
            return True
        while is_alphanumeric(self.peek()):
            self.pos += 1
        if not self.at_terminator():
            self.bad_character()
            return False
        self.emit(typ)
        return True

    def lex_char(self) -> bool:
        while True:
            ch = self.peek()
            self.pos += 1
            if ch == "\\":
                nxt = self.peek()
                self.pos += 1
                if nxt not in ("", "\n"):
                    continue
                ch = nxt
            if ch in ("", "\n"):
                self.error("unterminated character constant")
                return False
            if ch == "'":
                break
        self.emit(Tok.CHAR_CONSTANT)
        return True

    def lex_number(self) -> bool:
        if not self.scan_number():
            self.error(f"bad number syntax: {go_quote(self.text[self.start : self.pos])}")
            return False
        if self.peek() in ("+", "-") and self.peek() != "":
            if not self.scan_number() or self.text[self.pos - 1] != "i":
                self.error(f"bad number syntax: {go_quote(self.text[self.start : self.pos])}")
                return False
            self.emit(Tok.COMPLEX)
        else:
            self.emit(Tok.NUMBER)
        return True

    def accept(self, valid: str) -> bool:
        ch = self.peek()
        if ch and ch in valid:
            self.pos += 1
            return True
        return False

    def accept_run(self, valid: str) -> None:
        while self.accept(valid):
            pass

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if is_alphanumeric(self.peek()):
            self.pos += 1
            return False
        return True

    def lex_quote(self) -> bool:
        while True:
            ch = self.peek()
            self.pos += 1
            if ch == "\\":
                nxt = self.peek()
                self.pos += 1
                if nxt not in ("", "\n"):
                    continue
                ch = nxt
            if ch in ("", "\n"):
                self.error("unterminated quoted string")
                return False
            if ch == '"':
                break
        self.emit(Tok.STRING)
        return True

    def lex_raw_quote(self) -> bool:
        close = self.text.find("`", self.pos)
        if close < 0:
            self.error("unterminated raw quoted string")
            return False
        self.pos = close + 1
        self.emit(Tok.RAW_STRING)
        return True


def lex(text: str, *, break_ok: bool = True, continue_ok: bool = True) -> list[Token]:
    """Scan the whole template; the list ends with an EOF or an ERROR token."""
    return _Lexer(text, break_ok=break_ok, continue_ok=continue_ok).run()
