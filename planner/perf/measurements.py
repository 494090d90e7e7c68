"""Measurements in the column layout of ``measured-public.csv``: parse, map to catalog ids, predict, compare.

Each row becomes either a :class:`MeasuredCase` the model can express or a :class:`Skipped` with the reason.
Mapping rules (also used by ``plan calibrate`` on user files):

- GPU and model names resolve through the catalog after dropping a parenthetical and a trailing ``?``
  (``"B200-SXM-180GB (1000W)"`` -> b200, ``"A100-SXM-80GB?"`` -> a100-80gb, noted as an assumption);
  a model cell like ``"LLaMA-7B (Llama-2-7B)"`` uses the name in parentheses.
- precision: the first of fp16/bf16/fp8/int8/fp4/int4 ("4-bit" = int4) named in the cell; ``FP16/BF16`` = bf16.
- engine: TensorRT-LLM -> trtllm, vLLM -> vllm, SGLang -> sglang; any other engine is predicted with the
  vLLM factors and says so.
- what was measured (from ``scenario``, ``batch_or_concurrency`` and ``metric``):

  ======================  =========================================================================
  kind                    prediction
  ======================  =========================================================================
  offline (max load)      closed loop at the replica's maximum concurrency; ``gpu_count/tp`` data-
                          parallel replicas when the row covers more GPUs than one TP group
  static batch            TensorRT-LLM gptSessionBenchmark: one prefill of B·I tokens, then O−1
                          decode steps of B sequences at mean context I + O/2; B·O / total time
  isolated prefill        TTFT of one request alone (concurrency 1, one output token, no front-end latency)
  decode batch B          B / (one decode step of B sequences at a short context)
  concurrency C           closed loop at C (``vllm bench serve --max-concurrency``)
  ======================  =========================================================================

Rows are skipped when a needed input is missing (input length, TP layout, whether a figure is per GPU),
when the GPU is not in the catalog, or when the notes flag them as unverified ("SEED").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from planner.perf.calibration import Calibration, default_calibration
from planner.catalog import Catalog
from planner.errors import CatalogError, InputError, PlannerError

THROUGHPUT_METRICS = ("output_tok_s", "total_output_tok_s")
TPOT_METRICS = ("tpot_ms", "tpot_mean_ms")
TTFT_METRICS = ("ttft_ms", "ttft_mean_ms")
REQUIRED_COLUMNS = ("gpu", "gpu_count", "tp", "model", "precision", "engine", "batch_or_concurrency",
                    "input_len", "output_len", "scenario", "metric", "value")
_ENGINES = {"tensorrt-llm": "trtllm", "trtllm": "trtllm", "trt-llm": "trtllm", "vllm": "vllm", "sglang": "sglang"}
_PRECISIONS = (("fp16/bf16", "bf16"), ("bf16", "bf16"), ("fp16", "fp16"), ("fp8", "fp8"), ("int8", "int8"),
               ("fp4", "fp4"), ("int4", "int4"), ("4-bit", "int4"), ("w4a16", "int4"))


def metric_group(metric: str) -> str:
    """'throughput', 'tpot' or 'ttft'."""
    if metric in TPOT_METRICS:
        return "tpot"
    if metric in TTFT_METRICS:
        return "ttft"
    return "throughput"


@dataclass(frozen=True)
class MeasuredCase:
    """One row the model can express."""

    row: int
    gpu: str
    model: str
    tp: int
    replicas: int
    precision: str
    engine: str
    kind: str            # offline | static | prefill | decode | closed
    batch: int
    prompt_tokens: int
    output_tokens: int
    metric: str
    value: float
    assumptions: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        return metric_group(self.metric)


@dataclass(frozen=True)
class Skipped:
    """One row the model cannot express, and why."""

    row: int
    gpu: str
    model: str
    metric: str
    value: float
    reason: str


def finite_or_none(v) -> float | None:
    """``v`` as a finite float, or None (empty, text, NaN, inf)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _name(cell: str) -> tuple[str, bool]:
    """Name to look up (parenthetical alias preferred for models) and whether a '?' made it a guess."""
    s = str(cell).strip()
    guess = s.endswith("?")
    return s.rstrip("?").strip(), guess


def _resolve_gpu(cat: Catalog, cell: str) -> tuple[str, list[str]]:
    name, guess = _name(cell)
    base = re.sub(r"\s*\(.*?\)\s*", "", name).strip()
    gpu = cat.gpu(base).id
    notes = [f"GPU '{cell}' read as {gpu}"] if guess or base != name else []
    return gpu, notes


def _resolve_model(cat: Catalog, cell: str) -> str:
    name, _ = _name(cell)
    inner = re.search(r"\(([^)]+)\)", name)
    for cand in ([inner.group(1)] if inner else []) + [re.sub(r"\s*\(.*?\)", "", name)]:
        try:
            return cat.model(cand.strip()).id
        except CatalogError:
            continue
    return cat.model(name).id  # raises with did-you-mean


def _precision(cell: str) -> str | None:
    s = str(cell).lower()
    hits = [(s.find(k), v) for k, v in _PRECISIONS if k in s]
    return min(hits)[1] if hits else None


def parse_rows(frame, catalog: Catalog | None = None) -> tuple[list[MeasuredCase], list[Skipped]]:
    """Split a measurements DataFrame into expressible cases and skipped rows (each with its reason)."""
    cat = catalog or Catalog.builtin()
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"measurements: missing column(s) {', '.join(missing)} "
                         f"(expected the layout of measured-public.csv: {', '.join(REQUIRED_COLUMNS)})")
    cases, skipped = [], []
    for i, r in frame.reset_index(drop=True).iterrows():
        rec = {k: r.get(k) for k in frame.columns}
        value = finite_or_none(rec["value"])
        metric = str(rec["metric"]).strip()

        def skip(reason: str) -> None:
            skipped.append(Skipped(int(i), str(rec["gpu"]), str(rec["model"]), metric, value or float("nan"), reason))

        notes = str(rec.get("notes") or "")
        scenario = str(rec["scenario"] or "").lower()
        batch_cell = str(rec["batch_or_concurrency"] if rec["batch_or_concurrency"] is not None else "").lower()
        if value is None or value <= 0:
            skip("no numeric value")
            continue
        if notes.upper().startswith("SEED"):
            skip("SEED: figure quoted by a guide, not re-verified (notes)")
            continue
        if metric not in THROUGHPUT_METRICS + TPOT_METRICS + TTFT_METRICS:
            skip(f"metric {metric!r} not predicted")
            continue
        try:
            gpu, gnotes = _resolve_gpu(cat, rec["gpu"])
        except CatalogError:
            skip(f"GPU {rec['gpu']!r} is not in the catalog")
            continue
        try:
            model = _resolve_model(cat, rec["model"])
        except CatalogError:
            skip(f"model {rec['model']!r} is not in the catalog")
            continue
        precision = _precision(rec["precision"])
        if precision is None:
            skip(f"precision {rec['precision']!r} not recognised")
            continue
        assumptions = list(gnotes)
        if "/" in str(rec["precision"]) and "fp16/bf16" not in str(rec["precision"]).lower():
            assumptions.append(f"precision '{rec['precision']}' read as {precision}")
        eng_raw = str(rec["engine"] or "").strip().lower()
        engine = _ENGINES.get(eng_raw)
        if engine is None:
            engine = "vllm"
            assumptions.append(f"engine '{rec['engine']}' not modelled: vLLM factors used")
        gpus = int(finite_or_none(rec["gpu_count"]) or 1)
        tp_v = finite_or_none(rec["tp"])
        i_len, o_len = finite_or_none(rec["input_len"]), finite_or_none(rec["output_len"])
        batch_num = finite_or_none(batch_cell)
        if "mlperf" in scenario and (i_len is None or o_len is None):
            skip("MLPerf row without input/output lengths: the csv records neither the dataset's mean input "
                 "length nor the TP layout of each replica")
            continue
        if tp_v is None:
            skip("TP layout not stated")
            continue
        if tp_v < 1 or tp_v != int(tp_v) or tp_v > 1024:
            skip(f"tp must be a whole number from 1 to 1024 (got {rec['tp']})")
            continue
        tp = int(tp_v)
        bad = [(c, v) for c, v in (("gpu_count", finite_or_none(rec["gpu_count"])), ("input_len", i_len),
                                   ("output_len", o_len), ("batch_or_concurrency", batch_num))
               if v is not None and not 0 < v <= 1e7]
        if bad or value is None or not 0 < value <= 1e12:
            what = f"{bad[0][0]} must be > 0 and <= 1e7" if bad else "value must be a number > 0 and <= 1e12"
            skip(f"{what} (got {rec[bad[0][0]] if bad else rec['value']})")
            continue
        if "ambiguous" in notes.lower():
            skip("notes say per-GPU vs total is ambiguous")
            continue
        scale = 1
        if re.search(r"(/gpu|per gpu)", notes.lower()) and metric in THROUGHPUT_METRICS:
            scale = gpus  # figure is per GPU; the model predicts the whole TP group
        replicas = max(1, gpus // tp)
        if "static batch" in scenario:
            kind = "static"
        elif "max load" in batch_cell or "max-throughput" in scenario or "offline" in scenario:
            kind = "offline"
        elif "first-token" in scenario or "isolated prefill" in scenario:
            kind = "prefill"
        elif batch_cell.startswith("concurrency"):
            kind, batch_num = "closed", finite_or_none(batch_cell.split()[-1])
        elif "decode" in scenario and batch_num is not None:
            kind = "decode"
        else:
            skip(f"scenario {rec['scenario']!r} not recognised")
            continue
        if kind in ("static", "closed", "decode", "prefill") and batch_num is None:
            skip("batch size / concurrency not stated")
            continue
        if kind == "decode" and (i_len is None or o_len is None):
            i_len, o_len = 128.0, 128.0
            assumptions.append("context not stated: 256 tokens assumed (KV read < 2 % of the weights)")
        if i_len is None or o_len is None:
            skip("input or output length not stated")
            continue
        cases.append(MeasuredCase(
            row=int(i), gpu=gpu, model=model, tp=tp, replicas=replicas if kind == "offline" else 1,
            precision=precision, engine=engine, kind=kind, batch=int(batch_num or 0), prompt_tokens=int(i_len),
            output_tokens=int(o_len), metric=metric, value=value * scale, assumptions=tuple(assumptions)))
    return cases, skipped


MAX_ROWS = 20_000
MAX_BYTES = 16 * 1024 * 1024


def read_measurements(path: str | Path):
    """The CSV as a DataFrame (fields may contain commas: real CSV parsing); at most ``MAX_ROWS`` rows and
    ``MAX_BYTES`` bytes, so that a fit's cost is bounded by its input."""
    import pandas as pd  # noqa: PLC0415

    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise InputError(f"{p}: file is {size:,} bytes; measurement files are limited to {MAX_BYTES:,}")
        frame = pd.read_csv(p, nrows=MAX_ROWS + 1)
        if len(frame) > MAX_ROWS:
            raise InputError(f"{p}: more than {MAX_ROWS:,} rows; measurement files are limited to {MAX_ROWS:,} "
                             f"(split the file)")
        return frame
    except FileNotFoundError:
        raise InputError(f"{p}: no such measurements file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: cannot read measurements ({exc})") from None


def predict(case: MeasuredCase, catalog: Catalog | None = None, cal: Calibration | None = None) -> tuple[float | None, str]:
    """The model's value for ``case`` in the row's unit, or None with the reason it cannot."""
    from planner.perf.estimate import estimate  # noqa: PLC0415

    cat = catalog or Catalog.builtin()
    cal = cal or default_calibration()
    model, gpu = cat.model(case.model), cat.gpu(case.gpu)
    common = dict(tp=case.tp, precision=case.precision, engine=case.engine, calibration=cal)
    try:
        if case.kind == "static":
            return _static_batch(case, model, gpu, cal)
        if case.kind == "prefill":
            # measured inside the engine (gptSessionBenchmark, trtllm-bench): no serving front end, so none of
            # the per-request latency the engine's t_request_ms carries for served runs
            quiet = cal.with_values({f"{case.engine}.t_request_ms": 0.0})
            e = estimate(model, gpu, **{**common, "calibration": quiet}, prompt_tokens=case.prompt_tokens,
                         output_tokens=1, concurrency=1)
            return (e.ttft_ms if e.fits else None), (e.reason or "")
        if case.kind == "decode":
            return _decode_batch(case, model, gpu, cal)
        conc = case.batch if case.kind == "closed" else None
        e = estimate(model, gpu, **common, prompt_tokens=case.prompt_tokens, output_tokens=case.output_tokens,
                     concurrency=conc)
    except PlannerError as exc:
        return None, str(exc)
    if not e.fits:
        return None, e.reason or "does not fit"
    if case.group == "throughput":
        return e.output_tokens_per_s * case.replicas, ""
    if case.group == "tpot":
        return e.tpot_ms, ""
    return e.terms["ttft_mean_ms"] if case.metric.endswith("mean_ms") else e.ttft_ms, ""


def _roofline_ctx(case: MeasuredCase, model, gpu, cal: Calibration):
    from planner.perf.device import KV_DTYPE_BYTES, PRECISION_BYTES, make_device, resolve_kv_dtype  # noqa: PLC0415
    from planner.perf.memory import memory_plan, workspace_gib  # noqa: PLC0415
    from planner.perf.roofline import step_context  # noqa: PLC0415

    kv = resolve_kv_dtype("auto", case.precision, case.engine, sparse_mla=model.sparse_mla, arch=gpu.arch)
    dev = make_device(gpu, tp=case.tp, mig_profile=None, precision=case.precision, kv_dtype=kv, engine=case.engine)
    if isinstance(dev, str):
        return None, dev
    eng = cal.engine(case.engine).on_device(dev.mem_gib, dev.dp, dev.gpu_id)
    mem = memory_plan(model, dev, bytes_per_weight=PRECISION_BYTES[case.precision], kv_bytes=KV_DTYPE_BYTES[kv],
                      context_tokens=case.prompt_tokens + case.output_tokens, mem_util=eng.mem_util,
                      mem_mode=eng.mem_mode, max_batch=10 ** 9,
                      workspace_gib=workspace_gib(model, case.tp, cal.workspace_gib, eng.chunk_tokens, eng.max_batch))
    if not mem.fits:
        return None, mem.reason
    return step_context(model, dev, bytes_per_weight=PRECISION_BYTES[case.precision], kv_bytes=KV_DTYPE_BYTES[kv],
                        cal=cal, eng=eng), ""


def _static_batch(case: MeasuredCase, model, gpu, cal: Calibration) -> tuple[float | None, str]:
    from planner.perf.roofline import step_time  # noqa: PLC0415

    ctx, why = _roofline_ctx(case, model, gpu, cal)
    if ctx is None:
        return None, why
    b, i, o = case.batch, case.prompt_tokens, case.output_tokens
    prefill = float(step_time(ctx, 0.0, b * i, 0.0, i / 2.0)["total"])
    decode = (o - 1) * float(step_time(ctx, float(b), 0.0, i + o / 2.0, 0.0)["total"])
    return b * o / (prefill + decode), ""


def _decode_batch(case: MeasuredCase, model, gpu, cal: Calibration) -> tuple[float | None, str]:
    from planner.perf.roofline import step_time  # noqa: PLC0415

    ctx, why = _roofline_ctx(case, model, gpu, cal)
    if ctx is None:
        return None, why
    t = float(step_time(ctx, float(case.batch), 0.0, case.prompt_tokens + case.output_tokens / 2.0, 0.0)["total"])
    return case.batch / t, ""


@dataclass
class ErrorTable:
    """Per-row predictions and absolute percentage errors, plus the skipped rows."""

    rows: list[dict] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def frame(self):
        import pandas as pd  # noqa: PLC0415

        return pd.DataFrame(self.rows)

    def medians(self) -> dict[str, float]:
        """Median APE (%) per metric group over the rows that have a prediction."""
        out: dict[str, list[float]] = {}
        for r in self.rows:
            if r["ape_pct"] is not None:
                out.setdefault(r["group"], []).append(r["ape_pct"])
        return {g: float(np.median(v)) for g, v in sorted(out.items())}


def error_table(cases: list[MeasuredCase], skipped: list[Skipped] = (), catalog: Catalog | None = None,
                cal: Calibration | None = None, predictor: Callable | None = None) -> ErrorTable:
    """Predict every case; APE = |predicted − measured| / measured × 100."""
    tab = ErrorTable(skipped=list(skipped))
    for c in cases:
        pred, why = (predictor or predict)(c, catalog, cal)
        ape = None if pred is None else abs(pred - c.value) / c.value * 100.0
        tab.rows.append(dict(row=c.row, gpu=c.gpu, model=c.model, tp=c.tp, replicas=c.replicas,
                             precision=c.precision, engine=c.engine, kind=c.kind, batch=c.batch,
                             prompt_tokens=c.prompt_tokens, output_tokens=c.output_tokens, metric=c.metric,
                             group=c.group, measured=c.value, predicted=pred, ape_pct=ape,
                             note="; ".join(c.assumptions + ((why,) if why else ()))))
    return tab
