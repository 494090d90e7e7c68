"""Tables that fit the terminal without cutting an id or a number: a table is built in a few layouts, widest
first, and ``Fit`` shows the first one in which every id and number is printed whole, on one line.

Rich, given a table wider than the terminal, narrows every column, then folds or cuts cells ("optima/l",
"2…"). Here an id or a number is a ``whole`` cell (``Text`` that never wraps); text meant for people (a reason,
a detail) wraps at spaces; headers wrap at spaces too. A layout "fits" when, rendered at the console's width,
each whole cell appears intact on one line. Narrower layouts drop or stack low-value columns and say so in
their caption, so nothing disappears silently.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text


def whole(value: str | Text, style: str | None = None) -> Text:
    """A cell that must never be cut or wrapped: an id or a number (a ``Text`` is kept with its styles)."""
    text = value.copy() if isinstance(value, Text) else Text(str(value), style=style or "")
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def _whole_cells(table: Table) -> list[str]:
    """The text of every cell that must stay whole: ``whole`` cells, and every cell of a ``no_wrap`` column."""
    out = []
    for column in table.columns:
        for cell in column._cells:  # noqa: SLF001 - rich keeps a column's cells here; read only
            if isinstance(cell, Text) and (cell.no_wrap or column.no_wrap):
                out += [line for line in cell.plain.split("\n") if line.strip()]
            elif isinstance(cell, str) and column.no_wrap:
                out += [line for line in cell.split("\n") if line.strip()]
    return out


def fits(table: Table, width: int) -> bool:
    """True when ``table`` rendered ``width`` columns wide shows every whole cell intact on one line."""
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False,
                      force_terminal=False)
    with console.capture() as cap:
        console.print(table)
    return _lines_fit(cap.get().splitlines(), table, width)


def _lines_fit(lines: Sequence[str], table: Table, width: int) -> bool:
    """``fits`` on the text lines of ``table`` as rendered."""
    if any(len(line.rstrip()) > width for line in lines):
        return False
    return all(any(cell in line for line in lines) for cell in _whole_cells(table))


def _rendered(console: Console, options: ConsoleOptions, table: Table) -> tuple[list[list[Segment]], list[str]]:
    """``table`` rendered by ``console`` at ``options``: its lines of segments (each ending in a new line, the
    last one too when the table's output does) and their text, as ``fits`` reads it."""
    lines = list(Segment.split_and_crop_lines(console.render(table, options), options.max_width, pad=False))
    text = "".join(seg.text for line in lines for seg in line if not seg.control)
    return lines, text.splitlines()


def without(table: Table, headers: Sequence[str], note: str | None = None) -> Table:
    """A copy of ``table`` without the columns headed ``headers`` (rows and styles kept), captioned ``note``."""
    out = copy.copy(table)
    out.columns = [copy.copy(c) for c in table.columns if str(c.header) not in headers]
    for i, c in enumerate(out.columns):
        c._index = i  # noqa: SLF001 - rich numbers columns by position
    if note:
        out.caption = f"{table.caption}\n{note}" if table.caption else note
        out.caption_justify = "left"
    return out


class Fit:
    """The first layout that fits the console's width (the last one when none does)."""

    def __init__(self, layouts: Sequence[Table]):
        if not layouts:
            raise ValueError("Fit needs at least one layout")
        self.layouts = list(layouts)

    @classmethod
    def dropping(cls, table: Table, drop_order: Sequence[str], where: str = "--format csv") -> Fit:
        """``table``, then copies without the first 1, 2, ... columns of ``drop_order`` (headers), each saying
        what is not shown."""
        layouts = [table]
        for k in range(1, len(drop_order) + 1):
            gone = list(drop_order[:k])
            layouts.append(without(table, gone, f"not shown at this width: {', '.join(gone)} ({where})"))
        return cls(layouts)

    def choose(self, width: int) -> Table:
        for table in self.layouts[:-1]:
            if fits(table, width):
                return table
        return self.layouts[-1]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # ``choose``, rendering each layout once: the one that fits is yielded as the segments it was tested
        # on (the same text a fresh console gives ``fits``: widths and text do not depend on colours or styles).
        width = options.max_width
        for table in self.layouts[:-1]:
            lines, text = _rendered(console, options, table)
            if _lines_fit(text, table, width):
                for line in lines:
                    yield from line
                return
        yield self.layouts[-1]

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.choose(options.max_width))
