"""Batch estimates: one configuration per CSV row in, the same row plus the prediction out.

Input columns (header names exact, any order; extra columns are passed through unchanged)::

    model           catalog id, alias, Hugging Face id, or a path to a config.json (relative paths are tried
                    against the CSV's folder first, then the working directory)
    gpu             catalog GPU id or alias (silicon spellings such as ``b200_sxm`` resolve)
    tp              tensor-parallel degree per attention rank
    precision       fp16, bf16, fp8, int8, int4, fp4
    engine          vllm, sglang, trtllm
    prompt_tokens   prompt tokens per request
    output_tokens   output tokens per request
    concurrency     requests in flight (closed loop, as a benchmark client holds them)
    attention_dp    optional, default 1: attention data-parallel ranks of ``tp`` GPUs
    expert_parallel optional, default 1: ranks the routed experts are split over (MoE only)
    kv_dtype        optional, default auto

Output columns, appended in this order: ``fits`` (memory fits and the row could be evaluated), ``reason``
(why not, or why it serves nothing), ``ttft_mean_ms``, ``ttft_ms`` (at ``ttft_percentile``), ``tpot_ms``,
``output_tokens_per_s``, ``requests_per_min``. A row that cannot be evaluated — unknown model, a cell that is
not a whole number, a configuration the model refuses — gets ``fits=false``, its reason, and empty
predictions; the batch never stops on one row. Only a file that is not a CSV with the required header is an
``InputError``.

Bounds (so a hostile file costs bounded time and memory): at most ``MAX_ROWS`` rows and ``MAX_BYTES`` bytes;
integers at most ``MAX_INT`` (tokens) and ``MAX_PARALLEL`` (tp, attention_dp, expert_parallel); a model path
must be a regular file (or a folder holding ``config.json``) of at most ``MAX_CONFIG_BYTES``.
"""

from __future__ import annotations

import csv
import functools
import inspect
import io
import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

from planner.catalog import Catalog, ModelSpec
from planner.errors import InputError, PlannerError
from planner.perf.calibration import Calibration
from planner.perf.estimate import estimate

__all__ = ["REQUIRED", "OPTIONAL", "OUTPUT", "MAX_ROWS", "read_batch", "estimate_batch", "to_csv", "to_json"]

REQUIRED = ("model", "gpu", "tp", "precision", "engine", "prompt_tokens", "output_tokens", "concurrency")
OPTIONAL = ("attention_dp", "expert_parallel", "kv_dtype")
OUTPUT = ("fits", "reason", "ttft_mean_ms", "ttft_ms", "tpot_ms", "output_tokens_per_s", "requests_per_min")
_INT_COLUMNS = ("tp", "prompt_tokens", "output_tokens", "concurrency", "attention_dp", "expert_parallel")

MAX_ROWS = 100_000
MAX_BYTES = 64 * 1024 * 1024
MAX_INT = 10_000_000
MAX_PARALLEL = 1024
MAX_CONFIG_BYTES = 4 * 1024 * 1024


def read_batch(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows as column -> cell text) of a batch CSV; InputError for a file that is not one."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            raise InputError(f"{p}: file is {p.stat().st_size:,} bytes; batch files are limited to {MAX_BYTES:,}")
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text (byte {exc.start}); save the CSV as UTF-8") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from None
    return parse_batch(text, str(p))


def parse_batch(text: str, where: str = "batch") -> tuple[list[str], list[dict[str, str]]]:
    """Parse batch CSV text (see the module docstring for the columns)."""
    if "\x00" in text:
        raise InputError(f"{where}: contains NUL bytes; not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise InputError(f"{where}: empty file; expected a header row with {', '.join(REQUIRED)}")
        header = [h.strip() for h in header]
        _check_header(header, where)
        rows: list[dict[str, str]] = []
        for cells in reader:
            if not cells or not any(c.strip() for c in cells):
                continue  # blank line
            if len(rows) >= MAX_ROWS:
                raise InputError(f"{where}: more than {MAX_ROWS:,} rows; split the file")
            if len(cells) > len(header):
                extra = cells[len(header):]
                if any(c.strip() for c in extra):
                    raise InputError(f"{where}: line {reader.line_num}: {len(cells)} cells for {len(header)} "
                                     f"header columns (got {cells!r:.80})")
                cells = cells[:len(header)]
            rows.append(dict(zip(header, cells + [""] * (len(header) - len(cells)))))
    except csv.Error as exc:
        raise InputError(f"{where}: not a readable CSV ({exc})") from None
    return header, rows


def _check_header(header: list[str], where: str) -> None:
    seen: set[str] = set()
    for h in header:
        if h in seen:
            raise InputError(f"{where}: header: column {h!r} appears twice")
        seen.add(h)
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        near = {c: _near(c, header) for c in missing}
        hints = "; ".join(f"{c!r}" + (f" (did you mean {near[c]!r}?)" if near[c] else "") for c in missing)
        raise InputError(f"{where}: header: missing column(s) {hints}; required: {', '.join(REQUIRED)}; "
                         f"optional: {', '.join(OPTIONAL)}")
    clash = [c for c in OUTPUT if c in seen]
    if clash:
        raise InputError(f"{where}: header: column(s) {', '.join(map(repr, clash))} are output columns; "
                         f"rename them (output: {', '.join(OUTPUT)})")


def _near(name: str, header: Sequence[str]) -> str | None:
    import difflib  # noqa: PLC0415
    hits = difflib.get_close_matches(name, list(header), n=1, cutoff=0.7)
    return hits[0] if hits else None


class _RowError(Exception):
    """This row cannot be evaluated (its reason goes to the ``reason`` column)."""


def _int(row: dict[str, str], col: str, default: int | None = None, hi: int = MAX_INT) -> int:
    cell = (row.get(col) or "").strip()
    if cell == "":
        if default is None:
            raise _RowError(f"{col}: empty; a whole number >= 1 is required")
        return default
    try:
        value = float(cell)
    except ValueError:
        raise _RowError(f"{col}: not a number (got {cell!r:.40})") from None
    if not math.isfinite(value) or value != int(value) or not 1 <= value <= hi:
        raise _RowError(f"{col}: must be a whole number from 1 to {hi:,} (got {cell!r:.40})")
    return int(value)


def _text(row: dict[str, str], col: str, default: str | None = None) -> str:
    cell = (row.get(col) or "").strip()
    if not cell:
        if default is None:
            raise _RowError(f"{col}: empty")
        return default
    return cell


@functools.lru_cache(maxsize=1)
def _estimate_params() -> frozenset[str]:
    return frozenset(inspect.signature(estimate).parameters)


def _resolve_model(cell: str, catalog: Catalog, base: Path | None, cache: dict[str, ModelSpec]) -> ModelSpec:
    if cell in cache:
        return cache[cell]
    if catalog.has(cell, "model"):
        spec = catalog.model(cell)
    elif cell.lower().endswith(".json") or _exists(cell, base):  # a config.json, or a folder holding one
        from planner.catalog.hf_config import model_from_hf_config  # noqa: PLC0415
        path = _path(cell, base)
        path = path / "config.json" if path.is_dir() else path
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            raise _RowError(f"model: {cell!r:.80} is not a catalog model, and not a config.json file of at most "
                            f"{MAX_CONFIG_BYTES:,} bytes")
        spec = model_from_hf_config(path)
    else:
        catalog.model(cell)  # raises CatalogError with the suggestions
        raise AssertionError("unreachable")
    cache[cell] = spec
    return spec


def _path(cell: str, base: Path | None) -> Path:
    p = Path(cell).expanduser()
    if not p.is_absolute() and base is not None and (base / p).exists():
        return base / p
    return p


def _exists(cell: str, base: Path | None) -> bool:
    try:
        return _path(cell, base).exists()
    except (OSError, ValueError):
        return False


def estimate_row(row: dict[str, str], catalog: Catalog, *, calibration: Calibration | None = None,
                 ttft_percentile: float = 95.0, base: Path | None = None,
                 models: dict[str, ModelSpec] | None = None) -> dict[str, Any]:
    """The output columns for one row (never raises for a bad row)."""
    out: dict[str, Any] = dict.fromkeys(OUTPUT)
    try:
        model = _resolve_model(_text(row, "model"), catalog, base, models if models is not None else {})
        gpu = catalog.gpu(_text(row, "gpu"))
        kwargs: dict[str, Any] = dict(
            tp=_int(row, "tp", hi=MAX_PARALLEL), precision=_text(row, "precision"), engine=_text(row, "engine"),
            prompt_tokens=_int(row, "prompt_tokens"), output_tokens=_int(row, "output_tokens"),
            concurrency=_int(row, "concurrency"), kv_dtype=_text(row, "kv_dtype", "auto"),
            ttft_percentile=ttft_percentile, calibration=calibration)
        for col in ("attention_dp", "expert_parallel"):
            value = _int(row, col, default=1, hi=MAX_PARALLEL)
            if col in _estimate_params():
                kwargs[col] = value
            elif value != 1:
                raise _RowError(f"{col}={value}: this version of the performance model has no {col}")
        est = estimate(model, gpu, **kwargs)
    except (_RowError, PlannerError, ValueError, OverflowError) as exc:
        out.update(fits=False, reason=str(exc).split(" (known ")[0])  # the catalog's full id list is too long here
        return out
    except Exception as exc:  # noqa: BLE001 - one broken row must not stop the batch; say it is a bug
        out.update(fits=False, reason=f"internal error: {type(exc).__name__}: {exc}")
        return out
    out.update(fits=bool(est.fits), reason=est.reason)
    if est.fits:
        out.update(ttft_mean_ms=float(est.terms.get("ttft_mean_ms", math.nan)), ttft_ms=est.ttft_ms,
                   tpot_ms=est.tpot_ms, output_tokens_per_s=est.output_tokens_per_s,
                   requests_per_min=est.requests_per_min)
    return out


def estimate_batch(rows: Iterable[dict[str, str]], catalog: Catalog | None = None, *,
                   calibration: Calibration | None = None, ttft_percentile: float = 95.0,
                   base: Path | None = None) -> list[dict[str, Any]]:
    """Every input row with the output columns appended (input cells unchanged, in input order)."""
    cat = catalog or Catalog.builtin()
    models: dict[str, ModelSpec] = {}
    return [{**row, **estimate_row(row, cat, calibration=calibration, ttft_percentile=ttft_percentile, base=base,
                                   models=models)} for row in rows]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.6g}"
    return str(v)


def to_csv(header: Sequence[str], results: Sequence[dict[str, Any]]) -> str:
    """CSV text: the input columns then :data:`OUTPUT` (``true``/``false``, empty = not predicted)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = [*header, *OUTPUT]
    w.writerow(cols)
    for r in results:
        w.writerow([_cell(r.get(c)) for c in cols])
    return buf.getvalue()


def _typed(col: str, v: Any) -> Any:
    if col in _INT_COLUMNS and isinstance(v, str):
        try:
            f = float(v)
            return int(f) if math.isfinite(f) and f == int(f) else v
        except ValueError:
            return v
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def to_json(header: Sequence[str], results: Sequence[dict[str, Any]]) -> str:
    """A JSON array of records (known integer columns as numbers, extra columns as given, null = none)."""
    cols = [*header, *OUTPUT]
    return json.dumps([{c: _typed(c, r.get(c)) for c in cols} for r in results], indent=2)
