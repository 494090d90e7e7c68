"""Machine- and paste-friendly outputs: JSON (the Plan contract), CSV (one file per table), Markdown.

CSV and Markdown read the frames of ``reports.tables`` only. CSV keeps the raw column names (units in them) and
the frames' values (rounded once, in ``reports.vocabulary``), so ``read_csv`` here gives back the same values and
dtypes, empty tables included; Markdown uses the readable labels and rounding of ``reports.format``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from planner.plan import Plan
from reports.format import cell, is_numeric_col, label
from reports.tables import SCHEMAS

if TYPE_CHECKING:  # types only: pandas is imported by the functions that build or read a DataFrame
    import pandas as pd


def to_json(plan: Plan, indent: int | None = 2) -> str:
    """The plan as JSON text with the contract keys of ``planner.plan``; ``Plan.model_validate_json`` reads it back
    exactly (so its floats are written in full: the plan contract is an exchange format, not a display)."""
    return plan.model_dump_json(indent=indent)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP "CSV Injection": cells a spreadsheet may run as formulas


def neutralise_cell(value):
    """A text cell that a spreadsheet would read as a formula, prefixed with ``'`` (OWASP's advice); numbers and
    other cells unchanged. ``-5`` stays the number -5; the id ``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell (and column name) passed through ``neutralise_cell``."""
    import pandas as pd  # noqa: PLC0415

    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(neutralise_cell)
    out.columns = [neutralise_cell(c) for c in out.columns]
    return out


def csv_text(frame: pd.DataFrame) -> str:
    """One frame as CSV text, formula-like text cells neutralised (see ``neutralise_cell``)."""
    return neutralise_frame(frame).to_csv(index=False, lineterminator="\n")


def write_csv(frames: Mapping[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write ``<name>.csv`` per frame (empty frames too: header only) into ``out_dir``; return the paths.

    Missing values are empty cells; floats keep full precision; booleans are ``True``/``False``; text cells that
    start with ``= + - @``, tab or CR get a leading ``'`` (spreadsheet formula injection, OWASP).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in frames.items():
        path = out / f"{name}.csv"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(csv_text(frame), encoding="utf-8")
        tmp.replace(path)  # atomic: a failed write never truncates a good file
        paths.append(path)
    return paths


def column_dtypes(name: str, columns) -> dict[str, str]:
    """pandas dtypes of a table's columns: its schema's, and by name for the per-offer / per-workload ones."""
    kinds = {"int": "int64", "float": "float64", "bool": "bool", "bool?": "object", "str": "str"}
    schema = SCHEMAS.get(name, {})
    out = {}
    for c in columns:
        if c in schema:
            out[c] = kinds[schema[c]]
        elif c in ("message", "description", "detail", "reason"):
            out[c] = "str"
        elif c.startswith(("gpus_", "nodes_")):
            out[c] = "int64"
        elif c.endswith(("_requests_per_min", "_pct", "_usd", "_usd_per_hour")) or "." in c or c == "interruption_rate":
            out[c] = "float64"
    return out


def read_csv(path, name: str) -> pd.DataFrame:
    """A CSV written by ``write_csv`` (or ``--format csv``) read back with its table's dtypes, empty or not:
    ``pandas.read_csv`` alone gives ``object`` columns for a header-only file."""
    import pandas as pd  # noqa: PLC0415

    frame = pd.read_csv(path, keep_default_na=True)
    types = column_dtypes(name, frame.columns)
    for c, t in types.items():
        if t == "object" or (t == "int64" and frame[c].isna().any()):
            continue
        if t == "bool" and frame[c].dtype != bool:
            frame[c] = frame[c].map({"True": True, "False": False, True: True, False: False}).astype(bool)
            continue
        frame[c] = frame[c].astype(t)
    return frame


def _md_cell(text: str) -> str:
    """One line, pipes escaped: a cell that cannot break the table it sits in."""
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.replace("\r", "\n").split("\n")).strip() or " "


def _md_table(header: list[str], rows: list[list[str]], right: list[bool]) -> str:
    head = "| " + " | ".join(_md_cell(h) for h in header) + " |"
    sep = "|" + "|".join("---:" if r else ":---" for r in right) + "|"
    body = ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join([head, sep, *body])


def frame_to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured pipe table; a one-row ``*summary`` frame is shown as field / value pairs."""
    cols = list(frame.columns)
    if len(frame) == 1 and len(cols) > 6:
        row = frame.iloc[0]
        return _md_table(["Field", "Value"], [[label(c), cell(c, row[c])] for c in cols], [False, True])
    rows = [[cell(c, v) for c, v in zip(cols, rec)] for rec in frame.itertuples(index=False, name=None)]
    return _md_table([label(c) for c in cols], rows, [is_numeric_col(frame, c) for c in cols])


def to_markdown(frames: Mapping[str, pd.DataFrame], title: str | None = None, *, include_empty: bool = False) -> str:
    """All frames as Markdown sections (``### Fleet`` + table). Empty frames are left out unless asked for."""
    parts = [f"## {_md_cell(title)}"] if title else []
    for name, frame in frames.items():
        if frame.empty and not include_empty:
            continue
        parts.append(f"### {name.replace('_', ' ').capitalize()}")
        parts.append(frame_to_markdown(frame) if not frame.empty else "_none_")
    return "\n\n".join(parts) + "\n"
