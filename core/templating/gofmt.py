"""Go's `fmt.Sprintf`: format parsing on top of `goprint`.

Supports `%%`, flags, width, precision, `*` and `[n]` argument indexes; mistakes print as Go
prints them (`%!s(MISSING)`, `%!(EXTRA int=1)`, `%!(NOVERB)`) instead of raising.
"""

from __future__ import annotations

from typing import Any

from core.templating.goprint import Flags, Printer
from core.templating.values import dig, go_type, is_int

_TOO_LARGE = 1_000_000  # Go's fmt refuses widths and precisions above this.


def _parse_number(text: str, start: int, end: int) -> tuple[int, bool, int]:
    num, found, i = 0, False, start
    while i < end and "0" <= text[i] <= "9":
        if num > _TOO_LARGE:
            return 0, False, end
        num = num * 10 + int(text[i])
        found = True
        i += 1
    return num, found, i


class _Formatter:
    def __init__(self, fmt: str, args: list[Any]) -> None:
        self.fmt = fmt
        self.args = args
        self.p = Printer()
        self.arg_num = 0
        self.reordered = False
        self.good_arg_num = True

    def arg_number(self, i: int) -> tuple[int, bool]:
        """Parse an explicit `[n]` argument index at fmt[i]; returns the new i and whether found."""
        fmt = self.fmt
        if i >= len(fmt) or fmt[i] != "[":
            return i, False
        self.reordered = True
        close = fmt.find("]", i + 1)
        if len(fmt) - i < 3 or close < 0:
            self.good_arg_num = False
            return i + 1, False
        num, ok, after = _parse_number(fmt, i + 1, close)
        if not ok or after != close:
            self.good_arg_num = False
            return close + 1, False
        if 0 <= num - 1 < len(self.args):
            self.arg_num = num - 1
            return close + 1, True
        self.good_arg_num = False
        return close + 1, True

    def int_from_arg(self) -> tuple[int, bool]:
        if self.arg_num >= len(self.args):
            return 0, False
        value = dig(self.args[self.arg_num])
        self.arg_num += 1
        if not is_int(value) or abs(value) > _TOO_LARGE:
            return 0, False
        return value, True

    def run(self) -> str:  # noqa: PLR0912, PLR0915
        fmt, p, end = self.fmt, self.p, len(self.fmt)
        i = 0
        while i < end:
            self.good_arg_num = True
            start = i
            while i < end and fmt[i] != "%":
                i += 1
            p.out.append(fmt[start:i])
            if i >= end:
                break
            i += 1
            p.f = f = Flags()
            while i < end and fmt[i] in "#0+- ":
                ch = fmt[i]
                if ch == "#":
                    f.sharp = True
                elif ch == "0":
                    f.zero = not f.minus
                elif ch == "+":
                    f.plus = True
                elif ch == "-":
                    f.minus, f.zero = True, False
                else:
                    f.space = True
                i += 1
            i, after_index = self.arg_number(i)
            if i < end and fmt[i] == "*":
                i += 1
                wid, ok = self.int_from_arg()
                f.wid = wid if ok else None
                if not ok:
                    p.out.append("%!(BADWIDTH)")
                elif wid < 0:
                    f.wid, f.minus, f.zero = -wid, True, False
                after_index = False
            else:
                wid, ok, i = _parse_number(fmt, i, end)
                f.wid = wid if ok else None
                if after_index and ok:
                    self.good_arg_num = False
            if i + 1 < end and fmt[i] == ".":
                i += 1
                if after_index:
                    self.good_arg_num = False
                i, after_index = self.arg_number(i)
                if i < end and fmt[i] == "*":
                    i += 1
                    prec, ok = self.int_from_arg()
                    f.prec = prec if ok and prec >= 0 else None
                    if f.prec is None:
                        p.out.append("%!(BADPREC)")
                    after_index = False
                else:
                    prec, _, i = _parse_number(fmt, i, end)
                    f.prec = prec
            if not after_index:
                i, after_index = self.arg_number(i)
            if i >= end:
                p.out.append("%!(NOVERB)")
                break
            verb = fmt[i]
            i += 1
            if verb == "%":
                p.out.append("%")
            elif not self.good_arg_num:
                p.out.append(f"%!{verb}(BADINDEX)")
            elif self.arg_num >= len(self.args):
                p.out.append(f"%!{verb}(MISSING)")
            else:
                if verb == "v":
                    f.sharp_v, f.sharp = f.sharp, False
                    f.plus_v, f.plus = f.plus, False
                p.print_arg(self.args[self.arg_num], verb)
                self.arg_num += 1
        if not self.reordered and self.arg_num < len(self.args):
            p.f = Flags()
            p.out.append("%!(EXTRA ")
            for n, arg in enumerate(self.args[self.arg_num :]):
                if n:
                    p.out.append(", ")
                if dig(arg) is None:
                    p.out.append("<nil>")
                else:
                    p.out.append(go_type(arg) + "=")
                    p.print_arg(arg, "v")
            p.out.append(")")
        return "".join(p.out)


def sprintf(fmt: str, args: list[Any]) -> str:
    """Go's `fmt.Sprintf`."""
    return _Formatter(fmt, args).run()
