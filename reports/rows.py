"""Typed tables: a row list -> a pandas DataFrame (``dataframe``), or the same table on plain lists (``Rows``),
which answers the few DataFrame reads the terminal renderer makes without importing pandas.

``plan solve`` shows its tables in the terminal; building them as pandas DataFrames costs the import of pandas
and pyarrow (about a fifth of a second), more than the rest of the report. ``Rows`` holds the same table as
``reports.tables`` would put in a DataFrame -- the same columns, each value converted exactly as ``_column``
converts it (floats rounded by ``reports.vocabulary``, missing text as NaN, yes/no columns with a missing value
as ``object``) -- and answers the reads of ``reports.terminal`` and ``reports.format`` the way a DataFrame does:
``empty``, ``columns``, ``len``, ``frame[col].dtype`` / ``.any()``, ``iterrows()``, ``iloc[0]`` and
``groupby(col, sort=False)``. ``to_pandas()`` gives the DataFrame ``dataframe`` builds from the same rows, for
the outputs that need one (CSV, Markdown, HTML).

Row values follow ``DataFrame.iterrows``: a row of a table with any non-numeric column keeps each column's
values as they are; a table whose columns are all numbers (none of the plan's tables) gives every value as a
float when one column is float.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from reports.vocabulary import round_value

if TYPE_CHECKING:  # types only: pandas is imported where a DataFrame is built
    import pandas as pd

# Column kind (``reports.tables.SCHEMAS``) -> the dtype its DataFrame column has (``str`` reads as object).
_DTYPES = {"int": np.dtype("int64"), "float": np.dtype("float64"), "bool": np.dtype("bool"),
           "bool?": np.dtype("object"), "str": np.dtype("object")}


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def dataframe_column(values: list, kind: str, name: str = "") -> pd.Series:
    """A column of ``kind`` (``reports.tables.SCHEMAS``): typed, floats rounded by their name, missing as NaN."""
    import pandas as pd  # noqa: PLC0415 - only the outputs that need a DataFrame pay for pandas

    if kind == "int":
        return pd.Series(values, dtype="int64")
    if kind == "float":
        return pd.Series([round_value(name, float("nan") if v is None else float(v)) for v in values],
                         dtype="float64")
    if kind == "bool":
        return pd.Series(values, dtype="bool")
    if kind == "bool?":
        if values and all(isinstance(v, (bool, np.bool_)) for v in values):
            return pd.Series(values, dtype="bool")
        return pd.Series([np.nan if _missing(v) else bool(v) for v in values], dtype="object")
    # An empty string is missing too: CSV cannot tell "" from a missing cell, and JSON should not either.
    return pd.Series([None if _missing(v) or v == "" else str(v) for v in values], dtype="str")


def dataframe(rows: Iterable[Mapping[str, Any]], schema: Mapping[str, str],
              extra: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Rows -> a frame with exactly the schema's columns (then ``extra``), typed, missing values as NaN."""
    import pandas as pd  # noqa: PLC0415

    rows = list(rows)
    cols = dict(schema)
    cols.update(extra or {})
    data = {c: dataframe_column([r.get(c) for r in rows], kind, c) for c, kind in cols.items()}
    return pd.DataFrame(data, columns=list(cols)).reset_index(drop=True)


def convert(values: list, kind: str, name: str = "") -> tuple[list, np.dtype]:
    """(values, dtype) of a column of ``kind`` as ``dataframe_column`` stores it in a DataFrame."""
    if kind == "int":
        out = []
        for v in values:
            if isinstance(v, float) and not v.is_integer():  # pandas refuses to cast it too
                raise ValueError(f"{name}: {v!r} is not a whole number")
            out.append(int(v))
        return out, _DTYPES["int"]
    if kind == "float":
        return [round_value(name, float("nan") if v is None else float(v)) for v in values], _DTYPES["float"]
    if kind == "bool":
        return [bool(v) for v in values], _DTYPES["bool"]
    if kind == "bool?":
        if values and all(isinstance(v, (bool, np.bool_)) for v in values):
            return [bool(v) for v in values], _DTYPES["bool"]
        return [math.nan if _missing(v) else bool(v) for v in values], _DTYPES["bool?"]
    # text: an empty string is missing too (as in ``dataframe_column``); a DataFrame's str column holds NaN
    return [math.nan if _missing(v) or v == "" else str(v) for v in values], _DTYPES["str"]


class Column(list):
    """One column's values, with the column's ``dtype``."""

    def __init__(self, values: Sequence, dtype: np.dtype):
        super().__init__(values)
        self.dtype = dtype

    def any(self) -> bool:
        return any(bool(v) for v in self if not _missing(v))


class Row(dict):
    """One row: column -> value (``row[col]``, ``row.get(col)``), like the Series of ``DataFrame.iterrows``."""


class _ILoc:
    def __init__(self, frame: Rows):
        self._frame = frame

    def __getitem__(self, i: int) -> Row:
        n = len(self._frame)
        if not -n <= i < n:
            raise IndexError(f"row {i} of a {n}-row table")
        return self._frame.row(i % n)


class Rows:
    """A table: ``columns`` in order, each a ``Column`` of converted values, all of one length."""

    def __init__(self, columns: Mapping[str, Column], source: tuple | None = None):
        self._cols = dict(columns)
        lengths = {len(c) for c in self._cols.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self._len = lengths.pop() if lengths else 0
        self._source = source  # (rows, schema, extra) it was built from, for ``to_pandas``
        kinds = {c.dtype.kind for c in self._cols.values()}
        # iterrows' upcast: a table of numbers only, one of them float, gives its ints as floats
        self._as_float = bool(kinds) and kinds <= set("iuf") and "f" in kinds

    @classmethod
    def build(cls, rows: Sequence[Mapping[str, Any]], schema: Mapping[str, str],
              extra: Mapping[str, str] | None = None) -> Rows:
        """Rows -> a table with exactly the schema's columns (then ``extra``): ``dataframe`` without pandas."""
        rows = list(rows)
        kinds = dict(schema)
        kinds.update(extra or {})
        cols = {c: Column(*convert([r.get(c) for r in rows], kind, c)) for c, kind in kinds.items()}
        return cls(cols, (rows, dict(schema), dict(extra) if extra else None))

    # -- the DataFrame reads
    @property
    def columns(self) -> list[str]:
        return list(self._cols)

    @property
    def empty(self) -> bool:
        return self._len == 0 or not self._cols

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, col: str) -> Column:
        return self._cols[col]

    def row(self, i: int) -> Row:
        if self._as_float:
            return Row((c, float(v[i])) for c, v in self._cols.items())
        return Row((c, v[i]) for c, v in self._cols.items())

    def iterrows(self) -> Iterator[tuple[int, Row]]:
        for i in range(self._len):
            yield i, self.row(i)

    @property
    def iloc(self) -> _ILoc:
        return _ILoc(self)

    def take(self, index: Sequence[int]) -> Rows:
        """The rows at ``index``, in that order (same columns)."""
        return Rows({c: Column([v[i] for i in index], v.dtype) for c, v in self._cols.items()})

    def groupby(self, col: str, sort: bool = False) -> list[tuple[Any, Rows]]:
        """(key, rows with that key) in order of first appearance; missing keys are left out (pandas' dropna)."""
        if sort:
            raise NotImplementedError("Rows.groupby keeps the order of first appearance (sort=False)")
        groups: dict[Any, list[int]] = {}
        for i, key in enumerate(self._cols[col]):
            if not _missing(key):
                groups.setdefault(key, []).append(i)
        return [(key, self.take(index)) for key, index in groups.items()]

    def to_pandas(self):
        """The DataFrame ``dataframe`` builds from the same rows."""
        if self._source is None:
            raise ValueError("a table cut from another has no rows to build a DataFrame from")
        rows, schema, extra = self._source
        return dataframe(rows, schema, extra)
