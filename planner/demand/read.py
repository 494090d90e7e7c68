"""Read a request trace in chunks of rows: CSV, JSONL (one JSON object a line) or Parquet.

Every chunk comes out in one shape: ``ts_s`` (float seconds), ``prompt`` and ``output`` (int64 tokens) and ``key``
(model/endpoint, ``""`` when the trace has no such column). Memory is bounded by ``chunk_rows`` whatever the file
size: CSV via ``pandas.read_csv(chunksize=)``, JSONL line by line, Parquet by record batches (``pyarrow``), reading
only the needed columns. The format comes from the extension (``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``/``.json``,
``.parquet``/``.pq``; ``.gz`` is allowed on the text formats).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from planner.demand.columns import resolve, to_seconds, to_tokens
from planner.errors import InputError

DEFAULT_CHUNK_ROWS = 500_000


@dataclass(frozen=True)
class Chunk:
    """One chunk of requests in the common shape."""

    ts_s: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    key_codes: np.ndarray    # int per request, index into key_names
    key_names: tuple[str, ...]
    relative_time: bool


def trace_format(path: Path) -> str:
    """'csv', 'jsonl' or 'parquet' from the file name."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext in (".csv", ".tsv", ".txt"):
        return "csv"
    if ext in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if ext in (".parquet", ".pq"):
        return "parquet"
    raise InputError(f"{path}: unknown trace format {ext or '(no extension)'!r}; allowed .csv, .tsv, .jsonl, "
                     ".ndjson, .json, .parquet (optionally .gz for the text formats)")


def _chunk(frame: pd.DataFrame, cols: dict[str, str], source: str) -> Chunk:
    ts, rel = to_seconds(frame[cols["timestamp"]], source)
    if "key" in cols:   # categorical codes: no Python string per request
        col = frame[cols["key"]]
        cat = (col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category")).cat
        codes, names = cat.codes.to_numpy(dtype="int64").copy(), [str(x) for x in cat.categories]
        if (codes < 0).any():       # missing model/endpoint: its own key ""
            names.append("")
            codes[codes < 0] = len(names) - 1
        names = tuple(names)
    else:
        codes, names = np.zeros(len(frame), dtype="int64"), ("",)
    return Chunk(ts_s=ts, prompt=to_tokens(frame[cols["prompt"]], "prompt", source),
                 output=to_tokens(frame[cols["output"]], "output", source), key_codes=codes, key_names=names,
                 relative_time=rel)


def _csv(path: Path, chunk_rows: int, key_column: str | None) -> Iterator[Chunk]:
    sep = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    try:
        header = pd.read_csv(path, nrows=0, sep=sep).columns.tolist()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    cols = resolve(header, str(path), key_column)
    dtypes = {cols["key"]: "category"} if "key" in cols else None
    try:
        for frame in pd.read_csv(path, sep=sep, usecols=list(cols.values()), chunksize=chunk_rows, dtype=dtypes):
            yield _chunk(frame, cols, str(path))
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None


def _jsonl(path: Path, chunk_rows: int, key_column: str | None) -> Iterator[Chunk]:
    try:
        yield from _jsonl_chunks(path, chunk_rows, key_column)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text at byte {exc.start}; expected one JSON object per line") from None
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise InputError(f"{path}: cannot read ({exc})") from None


def _jsonl_chunks(path: Path, chunk_rows: int, key_column: str | None) -> Iterator[Chunk]:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    cols: dict[str, str] | None = None
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        batch: list[dict] = []
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {lineno}: not JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise InputError(f"{path}: line {lineno}: expected one JSON object per line (got {type(rec).__name__})")
            batch.append(rec)
            if len(batch) >= chunk_rows:
                frame = pd.json_normalize(batch)
                cols = cols or resolve(frame.columns.tolist(), str(path), key_column)
                yield _chunk(frame, cols, str(path))
                batch = []
        if batch:
            frame = pd.json_normalize(batch)
            cols = cols or resolve(frame.columns.tolist(), str(path), key_column)
            yield _chunk(frame, cols, str(path))


def _parquet(path: Path, chunk_rows: int, key_column: str | None) -> Iterator[Chunk]:
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise InputError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    try:
        pf = pq.ParquetFile(path, pre_buffer=False)  # read-ahead buffers grew with the file (measured)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several unrelated types for a bad file
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    cols = resolve(pf.schema_arrow.names, str(path), key_column)
    for batch in pf.iter_batches(batch_size=chunk_rows, columns=list(dict.fromkeys(cols.values())), use_threads=False):
        yield _chunk(batch.to_pandas(), cols, str(path))


def read_trace(path: str | Path, chunk_rows: int = DEFAULT_CHUNK_ROWS, key_column: str | None = None) -> Iterator[Chunk]:
    """Yield the trace's requests chunk by chunk (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    fmt = trace_format(path)
    reader = {"csv": _csv, "jsonl": _jsonl, "parquet": _parquet}[fmt]
    yield from reader(path, chunk_rows, key_column)


