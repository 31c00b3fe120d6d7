"""Go's `fmt` printing of one value under a verb and flags, and `fmt.Sprint`/`fmt.Sprintln`.

A port of the parts of Go's `fmt/print.go` and `fmt/format.go` that template values can reach:
flags `+ - # 0` and space, width and precision, and the verbs `v s q x X d b o O c U e E f F g G t T`.
A verb that does not fit the value prints as Go prints it (`%!d(string=a)`) instead of raising.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.templating.values import dig, format_float, format_time_default, go_type, is_int, sorted_items


def go_quote(text: str, *, ascii_only: bool = False, quote: str = '"') -> str:
    """Go's `strconv.Quote` (or `QuoteToASCII`, or `QuoteRune` with quote "'")."""
    out = [quote]
    for ch in text:
        code = ord(ch)
        if ch in (quote, "\\"):
            out.append("\\" + ch)
        elif (code < 0x80 or not ascii_only) and ch.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append(quote)
    return "".join(out)


def _can_backquote(text: str) -> bool:
    return all(ch == "\t" or (ch >= " " and ch not in "`\x7f\ufeff") for ch in text)


@dataclass
class Flags:
    plus: bool = False
    minus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    plus_v: bool = False
    sharp_v: bool = False
    wid: int | None = None
    prec: int | None = None


class Printer:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.f = Flags()

    # -- padding --------------------------------------------------------------------------------
    def padding(self, count: int) -> None:
        if count > 0:
            self.out.append(("0" if self.f.zero and not self.f.minus else " ") * count)

    def pad(self, text: str) -> None:
        if not self.f.wid:
            self.out.append(text)
            return
        width = self.f.wid - len(text)
        if self.f.minus:
            self.out.append(text)
            self.padding(width)
        else:
            self.padding(width)
            self.out.append(text)

    def pad_unzeroed(self, text: str) -> None:
        zero, self.f.zero = self.f.zero, False
        self.pad(text)
        self.f.zero = zero

    # -- bad input ------------------------------------------------------------------------------
    def bad_verb(self, verb: str, arg: Any) -> None:
        self.out.append(f"%!{verb}(")
        if arg is None:
            self.out.append("<nil>")
        else:
            self.out.append(go_type(arg) + "=")
            self.print_arg(arg, "v")
        self.out.append(")")

    # -- scalars --------------------------------------------------------------------------------
    def fmt_integer(self, value: int, verb: str) -> None:  # noqa: PLR0912
        f = self.f
        if verb == "c":
            self.pad(chr(value) if 0 <= value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF else "\ufffd")
            return
        if verb == "q":
            valid = 0 <= value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF
            self.pad(go_quote(chr(value) if valid else "\ufffd", ascii_only=f.plus, quote="'"))
            return
        if verb == "U":
            width = max(4, f.prec or 0)
            text = f"U+{(value if value >= 0 else value & 0xFFFFFFFFFFFFFFFF):0{width}X}"
            if f.sharp and 0 <= value <= 0x10FFFF and chr(value).isprintable():
                text += f" '{chr(value)}'"
            self.pad_unzeroed(text)
            return
        bases = {"d": 10, "v": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}
        if verb not in bases:
            self.bad_verb(verb, value)
            return
        base = bases[verb]
        negative = value < 0
        magnitude = -value if negative else value
        if f.prec is not None and f.prec == 0 and magnitude == 0:
            zero, f.zero = f.zero, False
            self.padding(f.wid or 0)
            f.zero = zero
            return
        digits = {2: f"{magnitude:b}", 8: f"{magnitude:o}", 10: str(magnitude), 16: f"{magnitude:x}"}[base]
        if verb == "X":
            digits = digits.upper()
        prec = 0
        if f.prec is not None:
            prec = f.prec
        elif f.zero and not f.minus and f.wid is not None:
            prec = f.wid - (1 if negative or f.plus or f.space else 0)
        digits = digits.rjust(prec, "0")
        if f.sharp:
            if base == 2:
                digits = "0b" + digits
            elif base == 8 and not digits.startswith("0"):
                digits = "0" + digits
            elif base == 16:
                digits = ("0X" if verb == "X" else "0x") + digits
        if verb == "O":
            digits = "0o" + digits
        if negative:
            digits = "-" + digits
        elif f.plus:
            digits = "+" + digits
        elif f.space:
            digits = " " + digits
        self.pad_unzeroed(digits)

    def fmt_float(self, value: float, verb: str) -> None:
        f = self.f
        if verb not in "veEfFgG":
            self.bad_verb(verb, value)
            return
        go_verb = "g" if verb == "v" else ("f" if verb == "F" else verb)
        prec = -1 if go_verb in "gG" else 6
        if f.prec is not None:
            prec = f.prec
        num = format_float(value, go_verb, prec)
        if num[0] not in "+-":
            num = "+" + num
        if f.space and num[0] == "+" and not f.plus:
            num = " " + num[1:]
        if num[1] in "IN":
            if num[1] == "N" and not f.space and not f.plus:
                num = num[1:]
            self.pad_unzeroed(num)
            return
        if f.plus or num[0] != "+":
            if f.zero and not f.minus and f.wid is not None and f.wid > len(num):
                self.out.append(num[0])
                self.padding(f.wid - len(num))
                self.out.append(num[1:])
                return
            self.pad(num)
            return
        self.pad(num[1:])

    def fmt_string(self, text: str, verb: str) -> None:
        f = self.f
        if verb == "v" and f.sharp_v:
            verb = "q"
        if f.prec is not None and verb in "vsq":
            text = text[: f.prec]
        if verb in "vs":
            self.pad(text)
        elif verb == "q":
            if f.sharp and _can_backquote(text):
                self.pad("`" + text + "`")
            else:
                self.pad(go_quote(text, ascii_only=f.plus))
        elif verb in "xX":
            self.fmt_hex_bytes(text.encode("utf-8", "surrogateescape"), verb)
        else:
            self.bad_verb(verb, text)

    def fmt_hex_bytes(self, data: bytes, verb: str) -> None:
        f = self.f
        if f.prec is not None:
            data = data[: f.prec]
        hex_digits = "0123456789abcdef" if verb == "x" else "0123456789ABCDEF"
        prefix = "0" + verb if f.sharp else ""
        if not data:
            self.padding(f.wid or 0)
            return
        parts = [hex_digits[b >> 4] + hex_digits[b & 15] for b in data]
        text = " ".join(prefix + p for p in parts) if f.space else prefix + "".join(parts)
        zero, f.zero = f.zero, False
        self.pad(text)
        f.zero = zero

    # -- any value ------------------------------------------------------------------------------
    def print_arg(self, arg: Any, verb: str) -> None:  # noqa: PLR0911, PLR0912 - one branch per Go kind
        arg = dig(arg)
        if arg is None:
            if verb in "Tv":
                self.pad("<nil>")
            else:
                self.bad_verb(verb, None)
            return
        if verb == "T":
            self.fmt_string(go_type(arg), "s")
            return
        if verb == "p":
            self.bad_verb(verb, arg)
            return
        if isinstance(arg, bool):
            if verb in "tv":
                self.pad("true" if arg else "false")
            else:
                self.bad_verb(verb, arg)
            return
        if is_int(arg):
            self.fmt_integer(arg, verb)
            return
        if isinstance(arg, float):
            self.fmt_float(arg, verb)
            return
        if isinstance(arg, str):
            self.fmt_string(arg, verb)
            return
        if isinstance(arg, datetime):
            if verb in "vsxXq":
                self.fmt_string(format_time_default(arg), verb)
            else:
                self.bad_verb(verb, format_time_default(arg))
            return
        self.print_composite(arg, verb)

    def print_composite(self, arg: Any, verb: str) -> None:
        if self.f.sharp_v:
            self.out.append(go_syntax(arg))
            return
        if isinstance(arg, Mapping):
            self.out.append("map[")
            for i, (key, value) in enumerate(sorted_items(arg)):
                if i:
                    self.out.append(" ")
                self.print_arg(key, verb)
                self.out.append(":")
                self.print_arg(value, verb)
            self.out.append("]")
        elif isinstance(arg, list | tuple):
            self.out.append("[")
            for i, item in enumerate(arg):
                if i:
                    self.out.append(" ")
                self.print_arg(item, verb)
            self.out.append("]")
        else:
            self.pad(str(arg))


def go_syntax(value: Any) -> str:
    """Go's `%#v` for template values."""
    value = dig(value)
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{go_syntax(k)}:{go_syntax(v)}" for k, v in sorted_items(value))
        return go_type(value) + "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[]interface {}{" + ", ".join(go_syntax(v) for v in value) + "}"
    printer = Printer()
    printer.print_arg(value, "v")
    return "".join(printer.out)


def sprint(args: list[Any]) -> str:
    """Go's `fmt.Sprint`: spaces between operands when neither side is a string."""
    printer = Printer()
    previous_string = False
    for i, arg in enumerate(args):
        is_string = isinstance(dig(arg), str)
        if i and not is_string and not previous_string:
            printer.out.append(" ")
        printer.print_arg(arg, "v")
        previous_string = is_string
    return "".join(printer.out)


def sprintln(args: list[Any]) -> str:
    """Go's `fmt.Sprintln`: operands separated by spaces, then a newline."""
    printer = Printer()
    for i, arg in enumerate(args):
        if i:
            printer.out.append(" ")
        printer.print_arg(arg, "v")
    printer.out.append("\n")
    return "".join(printer.out)
