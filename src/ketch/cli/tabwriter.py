"""Go's text/tabwriter (left-aligned, space padding), which lays out Docker's tables.

Cells are separated by tabs; the last cell of a line is not aligned. Consecutive lines
that have a cell in a column form a block whose width is the widest cell plus padding,
at least `minwidth`. Widths count characters (runes), as Go does.
"""

from __future__ import annotations


def _format(lines: list[list[str]], widths: list[int], line0: int, line1: int,
            minwidth: int, padding: int, out: list[str]) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write(lines, widths, line0, this, out)
        line0 = this
        width = minwidth
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + padding)
            this += 1
        _format(lines, [*widths, width], line0, this, minwidth, padding, out)
        line0 = this
    _write(lines, widths, line0, line1, out)


def _write(lines: list[list[str]], widths: list[int], line0: int, line1: int,
           out: list[str]) -> None:
    for cells in lines[line0:line1]:
        parts = []
        for j, cell in enumerate(cells):
            parts.append(cell.ljust(widths[j]) if j < len(widths) else cell)
        out.append("".join(parts))


def tabulate(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """`text` laid out as tabwriter.NewWriter(w, minwidth, 1, padding, ' ', 0) would."""
    raw = text.split("\n")
    trailing = raw[-1] == ""
    if trailing:
        raw.pop()
    lines = [line.split("\t") for line in raw]
    out: list[str] = []
    _format(lines, [], 0, len(lines), minwidth, padding, out)
    return "\n".join(out) + ("\n" if trailing else "")
