"""The table `make bench` ends with: every target, what this run measured, and whether it was met."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    figure: str
    measured: str
    target: str
    met: bool


def table(rows: list[Row]) -> list[str]:
    header = Row("figure", "measured", "target", True)
    widths = [max(len(getattr(r, f)) for r in [header, *rows]) for f in ("figure", "measured", "target")]

    def line(row: Row, met: str) -> str:
        cells = [row.figure.ljust(widths[0]), row.measured.ljust(widths[1]), row.target.ljust(widths[2]), met]
        return "| " + " | ".join(cells) + " |"

    out = [line(header, "met"), "|" + "|".join("-" * (w + 2) for w in [*widths, 3]) + "|"]
    out += [line(row, "yes" if row.met else "NO ") for row in rows]
    return out
