"""Benchmark result files -> runs -> measurement rows (``plan calibrate``) or ``capacity_overrides``.

This module is longer than 400 lines because the three formats, the row mapping and the two uses share one ``Run`` record and
splitting them would spread one contract over several modules.

Recognised by content, not by name:

=================  ==========================================================================================
tool               what identifies it; where the load comes from
=================  ==========================================================================================
vLLM               ``benchmark_serving.py --save-result`` / ``vllm bench serve --save-result`` JSON: a dict with
                   ``request_throughput`` and ``mean_ttft_ms`` / ``completed``. ``request_rate`` is ``"inf"`` or a
                   number (req/s, Poisson or gamma arrivals), ``max_concurrency`` null or an int. Sizes are
                   ``total_input_tokens / completed`` and ``total_output_tokens / completed``. TTFT percentiles
                   ``pNN_ttft_ms`` (``--metric-percentiles``, p99 by default), TPOT ``mean_tpot_ms``. GPU, TP,
                   precision: ``--metadata gpu=... tp=... precision=...`` keys in the file, else the options.
GenAI-Perf         ``profile_export_genai_perf.json``: metric dicts (``time_to_first_token``,
                   ``inter_token_latency``, ``request_throughput``, ``output_token_throughput``,
                   ``input_sequence_length``, ``output_sequence_length``; each ``{unit, avg, p50, ..., p99}``)
                   plus ``input_config`` (``model``, ``concurrency``, ``request_rate``).
                   ``profile_export_genai_perf.csv``: a ``Metric,avg,min,max,p99,...`` table then a
                   ``Metric,Value`` table; the CSV does not record the load, so it comes from the artifact
                   directory name (``...-concurrency8``, ``...-request_rate2.5``) or the options.
guidellm           ``guidellm benchmark --output-path report.json``: ``{"benchmarks": [...]}``, each with
                   ``args.strategy.type_`` (``synchronous`` = concurrency 1, ``concurrent`` = ``streams``,
                   ``throughput`` = all at once, ``constant``/``poisson`` = ``rate`` req/s) and ``metrics.*``
                   distributions (``successful.mean``, ``.median``, ``.percentiles.p95``, ...).
=================  ==========================================================================================

Load kinds are kept apart: **concurrency** (closed loop: C clients, each sends when the previous answer came back),
**rate** (open loop: arrivals at r req/s whatever the server does) and **max_load** (every request at once).

Calibration rows use the layout of ``bench/data/measured-public.csv``: a closed-loop run gives
``output_tok_s``, ``ttft_mean_ms`` and ``tpot_mean_ms`` at ``concurrency C``; a max-load run gives
``output_tok_s`` only (its latencies measure the queue). Rate runs are not calibration rows (the model predicts
closed loops) but they are the best capacity evidence: ``capacity_overrides`` take, per workload × GPU ×
precision × TP × size bucket, the highest achieved request rate among runs whose TTFT at the workload's
percentile (or a higher percentile, which is conservative) and mean TPOT meet its SLOs; rate runs are preferred
over closed-loop runs (a closed loop never queues a burst, so it flatters the tail).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from planner.catalog import Catalog
from planner.errors import CatalogError, InputError
from planner.perf.silicon_harness import TORCH_DTYPE_NAMES
from planner.scenario.model import MAX_RATE_RPM, Precision
from planner.suggest import did_you_mean

ROW_COLUMNS = ("source", "gpu", "gpu_count", "tp", "model", "precision", "engine", "engine_version",
               "batch_or_concurrency", "input_len", "output_len", "scenario", "metric", "value", "unit", "notes")
PERCENTILES = (50, 90, 95, 99)
KEEP_UP = 0.9     # a rate run whose achieved rate is below 90 % of the offered rate did not keep up


@dataclass(frozen=True)
class Run:
    """One benchmark run (one load point) in tool-neutral form; latencies in ms, throughputs per second."""

    source: str
    tool: str
    load: str                         # concurrency | rate | max_load
    model: str | None = None
    concurrency: int | None = None
    rate_rps: float | None = None
    prompt_tokens: float | None = None
    output_tokens: float | None = None
    request_throughput_rps: float | None = None
    output_tok_s: float | None = None
    ttft_ms: dict[str, float] = field(default_factory=dict)   # mean, p50, p90, p95, p99 (what the file has)
    tpot_mean_ms: float | None = None
    meta: dict[str, str] = field(default_factory=dict)        # gpu, tp, precision, engine, mig_profile

    @property
    def load_text(self) -> str:
        if self.load == "concurrency":
            return f"concurrency {self.concurrency}"
        if self.load == "rate":
            return f"rate {self.rate_rps:g} req/s"
        return "max load"


@dataclass(frozen=True)
class Unmapped:
    """A run (or file) that could not be used, and why."""

    source: str
    reason: str


class _BadField(ValueError):
    """A field of a result file that holds a value of the wrong kind (``read_runs`` adds the file's name)."""


def _obj(v) -> dict:
    """``v`` when it is a mapping, else an empty one: a metric block of the wrong type reads as absent, so the run
    is listed with what it lacks (never an internal error)."""
    return v if isinstance(v, dict) else {}


def _text(v) -> str | None:
    """A model name: a non-empty string, else None (the run is then listed as lacking it, or --model sets it)."""
    return v if isinstance(v, str) and v.strip() else None


def _count(v, field: str) -> int:
    """A number of clients (or GPUs): a whole number >= 1 (``8``, ``8.0``, ``"8"``); ``_BadField`` naming ``field``
    otherwise."""
    x = _num(v) if not isinstance(v, bool) else None
    if x is None or x < 1 or x != int(x) or x > 10 ** 9:
        raise _BadField(f"{field}: expected a whole number of clients (1 or more), got {str(v)[:40]!r}")
    return int(x)


def _tp(run: Run, defaults: dict[str, str], bad: list[Unmapped]) -> int | None:
    """The run's tensor-parallel degree (stated, or ``--tp``); None, with the run listed in ``bad``, when it is not a
    whole number of GPUs."""
    text = _setting(run, defaults, "tp")
    try:
        return _count(text, "tp")
    except _BadField:
        bad.append(Unmapped(run.source, f"tp {str(text)[:40]!r} is not a whole number of GPUs (1 or more)"))
        return None


PRECISIONS = typing.get_args(Precision)


def _precision(run: Run, defaults: dict[str, str], bad: list[Unmapped]) -> str | None:
    """The run's weight precision as a scenario names it (stated, or ``--precision``); None, with the run listed in
    ``bad``, when it is none of those (an override the scenario would then refuse)."""
    text = str(_setting(run, defaults, "precision")).strip()
    value = TORCH_DTYPE_NAMES.get(text.lower(), text.lower())
    if value in PRECISIONS:
        return value
    bad.append(Unmapped(run.source, f"precision {text[:40]!r} is not one a scenario takes ({', '.join(PRECISIONS)})"
                                    f"{did_you_mean(value, PRECISIONS)}"))
    return None


def _mig(run: Run, defaults: dict[str, str], gpu: str, catalog: Catalog, bad: list[Unmapped]) -> str | None | bool:
    """The run's MIG profile (stated, or ``--mig-profile``), None for whole GPUs; False, with the run listed in
    ``bad``, when the GPU has no such profile."""
    mig = _setting(run, defaults, "mig_profile")
    profiles = catalog.gpu(gpu).mig_profiles
    if mig is None or mig in profiles:
        return mig
    bad.append(Unmapped(run.source, f"MIG profile {str(mig)[:40]!r} is not one of {gpu}'s "
                                    f"({', '.join(profiles) or 'none: no MIG'}){did_you_mean(mig, profiles)}"))
    return False


def _ms(x: float, digits: int) -> str:
    """A latency for a message: ``digits`` decimals, or three significant digits where that would be a long number
    (a result file may hold 1e308)."""
    return f"{x:.{digits}f}" if abs(x) < 1e7 else f"{x:.3g}"


def _num(v) -> float | None:
    try:
        x = float(str(v).replace(",", "")) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


_META_KEYS = {"gpu": ("gpu", "accelerator", "gpu_type"), "tp": ("tp", "tensor_parallel_size", "tensor_parallel"),
              "precision": ("precision", "dtype", "quantization"), "engine": ("engine", "server", "backend"),
              "mig_profile": ("mig_profile", "mig")}


def _meta(d: dict) -> dict[str, str]:
    out = {}
    for role, keys in _META_KEYS.items():
        for k in keys:
            if d.get(k) not in (None, ""):
                out[role] = str(d[k])
                break
    return out


# --------------------------------------------------------------------------- the three formats


def _vllm(d: dict, source: str) -> list[Run]:
    rate = _num(d.get("request_rate"))
    conc = d.get("max_concurrency")
    conc = None if conc is None else _count(conc, "max_concurrency")
    done = _num(d.get("completed")) or 0
    meta = _meta(d)
    if meta.get("engine") in ("openai", "openai-chat", "openai-comp"):
        meta.pop("engine")
    load = "rate" if rate is not None else ("concurrency" if conc is not None else "max_load")
    ttft = {"mean": _num(d.get("mean_ttft_ms")), "p50": _num(d.get("median_ttft_ms"))}
    for k, v in d.items():
        m = re.fullmatch(r"p(\d+(?:\.\d+)?)_ttft_ms", k)
        if m:
            ttft[f"p{m.group(1)}"] = _num(v)
    return [Run(source=source, tool="vLLM", load=load, model=_text(d.get("model_id")),
                concurrency=conc, rate_rps=rate,
                prompt_tokens=(_num(d.get("total_input_tokens")) or 0) / done if done else None,
                output_tokens=(_num(d.get("total_output_tokens")) or 0) / done if done else None,
                request_throughput_rps=_num(d.get("request_throughput")), output_tok_s=_num(d.get("output_throughput")),
                ttft_ms={k: v for k, v in ttft.items() if v is not None}, tpot_mean_ms=_num(d.get("mean_tpot_ms")),
                meta=meta)]


_TO_MS = {"ms": 1.0, "ns": 1e-6, "us": 1e-3, "s": 1e3, "sec": 1e3}


def _gp_stats(entry: dict | None) -> dict[str, float]:
    if not isinstance(entry, dict):
        return {}
    scale = _TO_MS.get(str(entry.get("unit", "ms")).lower(), 1.0)
    out = {"mean": _num(entry.get("avg"))}
    for p in PERCENTILES:
        out[f"p{p}"] = _num(entry.get(f"p{p}"))
    return {k: v * scale for k, v in out.items() if v is not None}


def _genai_perf_json(d: dict, source: str, load_hint: tuple[str, float] | None) -> list[Run]:
    cfg = _obj(d.get("input_config"))
    model = cfg.get("model")
    model = _text(model[0] if isinstance(model, list) and model else model)
    rate, conc = _num(cfg.get("request_rate")), cfg.get("concurrency")
    conc = None if conc is None else _count(conc, "input_config.concurrency")
    if rate is None and conc is None and load_hint:
        rate, conc = (load_hint[1], None) if load_hint[0] == "rate" else (None, _count(load_hint[1], "concurrency"))
    if rate is None and conc is None:
        return []
    itl = _gp_stats(d.get("inter_token_latency"))
    return [Run(source=source, tool="GenAI-Perf", load="rate" if rate is not None else "concurrency", model=model,
                concurrency=conc if rate is None else None, rate_rps=rate,
                prompt_tokens=_num(_obj(d.get("input_sequence_length")).get("avg")),
                output_tokens=_num(_obj(d.get("output_sequence_length")).get("avg")),
                request_throughput_rps=_num(_obj(d.get("request_throughput")).get("avg")),
                output_tok_s=_num(_obj(d.get("output_token_throughput")).get("avg")),
                ttft_ms=_gp_stats(d.get("time_to_first_token")), tpot_mean_ms=itl.get("mean"), meta=_meta(cfg))]


def _genai_perf_csv(text: str, source: str, load_hint: tuple[str, float] | None) -> list[Run]:
    stats: dict[str, dict] = {}
    header: list[str] = []
    for row in csv.reader(io.StringIO(text)):
        if not row or not row[0].strip():
            header = []
            continue
        if row[0] == "Metric":
            header = [h.strip().lower() for h in row]
            continue
        name = re.sub(r"\s*\(.*\)$", "", row[0]).strip().lower().replace(" ", "_")
        unit = (re.search(r"\((.*)\)$", row[0]) or [None, ""])[1]
        stats[name] = {"unit": unit, **{h: row[i] for i, h in enumerate(header) if i and i < len(row)}}
        if "value" in stats[name]:
            stats[name]["avg"] = stats[name]["value"]
    d = {k: v for k, v in stats.items()}
    d["input_config"] = {}
    return _genai_perf_json(d, source, load_hint)


def _dist(metrics: dict, name: str) -> dict[str, float]:
    s = _obj(_obj(metrics.get(name)).get("successful"))
    out = {"mean": _num(s.get("mean")), "p50": _num(s.get("median"))}
    for p in PERCENTILES[1:]:
        out[f"p{p}"] = _num(_obj(s.get("percentiles")).get(f"p{p}"))
    return {k: v for k, v in out.items() if v is not None}


def _guidellm(d: dict, source: str) -> tuple[list[Run], list[Unmapped]]:
    runs, bad = [], []
    for i, b in enumerate(d.get("benchmarks") or []):
        src = f"{source}#{i}"
        if not isinstance(b, dict):
            bad.append(Unmapped(src, f"benchmarks[{i}]: expected a benchmark record (a mapping), got "
                                     f"{type(b).__name__}"))
            continue
        strat = _obj(_obj(b.get("args")).get("strategy"))
        kind = strat.get("type_")
        m = _obj(b.get("metrics"))
        common = dict(source=src, tool="guidellm", model=_text(_obj(b.get("worker")).get("backend_model")),
                      prompt_tokens=_dist(m, "prompt_token_count").get("mean"),
                      output_tokens=_dist(m, "output_token_count").get("mean"),
                      request_throughput_rps=_dist(m, "requests_per_second").get("mean"),
                      output_tok_s=_dist(m, "output_tokens_per_second").get("mean"),
                      ttft_ms=_dist(m, "time_to_first_token_ms"),
                      tpot_mean_ms=_dist(m, "inter_token_latency_ms").get("mean"), meta=_meta(_obj(b.get("extras"))))
        rate = _num(strat.get("rate"))
        if kind == "synchronous":
            runs.append(Run(load="concurrency", concurrency=1, **common))
        elif kind == "concurrent" and strat.get("streams") is not None:
            try:
                runs.append(Run(load="concurrency", concurrency=_count(strat["streams"], "args.strategy.streams"),
                                **common))
            except _BadField as exc:
                bad.append(Unmapped(src, str(exc)))
        elif kind == "throughput":
            runs.append(Run(load="max_load", **common))
        elif kind in ("constant", "poisson") and rate is not None and rate > 0:
            runs.append(Run(load="rate", rate_rps=rate, **common))
        else:
            bad.append(Unmapped(src, f"guidellm strategy {kind!r} not recognised (synchronous, concurrent, "
                                     "throughput, constant, poisson)"))
    return runs, bad


def _load_from_path(path: Path) -> tuple[str, float] | None:
    for part in [path.name] + [p.name for p in path.parents][:3]:
        m = re.search(r"concurrency[_-]?(\d+)", part)
        if m:
            return "concurrency", float(m.group(1))
        m = re.search(r"request[_-]?rate[_-]?(\d+(?:\.\d+)?)", part)
        if m:
            return "rate", float(m.group(1))
    return None


def read_runs(path: str | Path, load: tuple[str, float] | None = None) -> tuple[list[Run], list[Unmapped]]:
    """Recognise a result file by content and return its runs, plus what could not be mapped and why.

    ``load`` = ("concurrency", C) or ("rate", r) for files that do not record it (GenAI-Perf CSV).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file; expected a benchmark result (JSON or GenAI-Perf CSV)") from None
    try:
        return _parse(text, path.name, load or _load_from_path(path))
    except _BadField as exc:
        raise InputError(f"{path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: neither JSON nor a GenAI-Perf CSV ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be a benchmark result") from None


def _parse(text: str, src: str, hint: tuple[str, float] | None) -> tuple[list[Run], list[Unmapped]]:
    """``read_runs`` of a file's text (``_BadField`` and JSON errors go up to it, which names the file)."""
    if text.lstrip().startswith("Metric,"):
        runs = _genai_perf_csv(text, src, hint)
        return runs, ([] if runs else [Unmapped(src, "GenAI-Perf CSV does not record the load: pass --concurrency "
                                                     "or --request-rate, or keep the artifact directory name "
                                                     "(...-concurrency8)")])
    d = json.loads(text)
    if isinstance(d, dict) and isinstance(d.get("benchmarks"), list):
        return _guidellm(d, src)
    if isinstance(d, dict) and isinstance(d.get("request_throughput"), dict):
        runs = _genai_perf_json(d, src, hint)
        return runs, ([] if runs else [Unmapped(src, "input_config has neither concurrency nor request_rate")])
    if isinstance(d, dict) and "request_throughput" in d and ("mean_ttft_ms" in d or "completed" in d):
        return _vllm(d, src), []
    keys = ", ".join(list(d)[:8]) if isinstance(d, dict) else type(d).__name__
    raise _BadField(f"not a recognised benchmark result (got keys {keys}); expected a vLLM "
                    "benchmark_serving / vllm bench serve JSON (request_throughput, mean_ttft_ms, ...), a GenAI-Perf "
                    "profile export (*_genai_perf.json or .csv) or a guidellm report (benchmarks: [...])")


# --------------------------------------------------------------------------- -> measurement rows


def _setting(run: Run, defaults: dict[str, str], role: str) -> str | None:
    return run.meta.get(role) or defaults.get(role)


def measurement_rows(runs: list[Run], defaults: dict[str, str]) -> tuple[list[dict], list[Unmapped]]:
    """Rows in the ``measured-public.csv`` layout for ``plan calibrate``; rate runs and runs without a GPU/TP/
    precision are listed with the reason. ``defaults``: gpu, tp, precision, engine, model for runs that lack them."""
    rows, bad = [], []
    for r in runs:
        missing = [k for k in ("gpu", "tp", "precision") if not _setting(r, defaults, k)]
        model = defaults.get("model") or r.model
        if r.load == "rate":
            bad.append(Unmapped(r.source, f"{r.load_text}: an open-loop run; the model is calibrated on closed-loop "
                                          "and max-load runs (plan capacity import uses rate runs)"))
            continue
        if missing or not model:
            what = ", ".join(missing + ([] if model else ["model"]))
            bad.append(Unmapped(r.source, f"{what} not stated: pass --{missing[0] if missing else 'model'} or record "
                                          f"it in the run (vllm bench serve --metadata gpu=h100-sxm tp=1 precision=bf16)"))
            continue
        if r.prompt_tokens is None or r.output_tokens is None:
            bad.append(Unmapped(r.source, "mean input/output tokens not in the file"))
            continue
        tp = _tp(r, defaults, bad)
        precision = _precision(r, defaults, bad)   # a row of a precision plan calibrate cannot read would be skipped
        if tp is None or precision is None:
            continue
        base = dict(source=f"{r.tool}: {r.source}", gpu=_setting(r, defaults, "gpu"), gpu_count=tp, tp=tp, model=model,
                    precision=precision, engine=_setting(r, defaults, "engine") or "vllm",
                    engine_version="", input_len=round(r.prompt_tokens), output_len=round(r.output_tokens), notes="")
        if r.load == "concurrency":
            base.update(batch_or_concurrency=f"concurrency {r.concurrency}", scenario=f"{r.tool} closed loop")
            metrics = (("output_tok_s", r.output_tok_s, "tok/s"), ("ttft_mean_ms", r.ttft_ms.get("mean"), "ms"),
                       ("tpot_mean_ms", r.tpot_mean_ms, "ms"))
        else:
            base.update(batch_or_concurrency="max load (infinite request rate)",
                        scenario=f"{r.tool} offline max-throughput")
            metrics = (("output_tok_s", r.output_tok_s, "tok/s"),)
            bad.append(Unmapped(r.source, "max load: TTFT/TPOT measure the queue of the whole batch, not the model; "
                                          "only the throughput is a row"))
        for metric, value, unit in metrics:
            if value is not None and value > 0:
                rows.append({**base, "metric": metric, "value": value, "unit": unit})
    return rows, bad


def identifiability(cases, catalog: Catalog | None = None, base=None, rel_step: float = 0.05) -> dict:
    """How many of the constants that ``planner.perf.fit`` would fit the rows can pin down.

    J[i, j] = ∂ ln pred_i / ∂ ln θ_j by a forward difference of ``rel_step``; the rows identify rank(J) constants
    (numerical rank, singular values above 10⁻³ of the largest). A QR with column pivoting names a largest
    identifiable subset. Returns {"keys", "rows", "rank", "identifiable"}.
    """
    from scipy.linalg import qr  # noqa: PLC0415

    from planner.perf.calibration import default_calibration  # noqa: PLC0415
    from planner.perf.fit import _bounds, _predictions, _value, fittable_keys  # noqa: PLC0415

    cat = catalog or Catalog.builtin()
    base = base or default_calibration()
    keys = fittable_keys(cases, cat, base)
    ref = _predictions(cases, cat, base)
    ok = np.isfinite(ref) & (ref > 0)
    cols = []
    for k in keys:
        v, (lo, hi) = _value(base, k), _bounds(k)
        probe = v * (1 + rel_step) if v > 0 and v * (1 + rel_step) <= hi else (v - rel_step * (hi - lo))
        moved = _predictions(cases, cat, base.with_values({k: probe}))
        denom = math.log(probe / v) if v > 0 and probe > 0 else (probe - v)
        cols.append(np.where(ok & np.isfinite(moved) & (moved > 0), np.log(np.where(moved > 0, moved, 1.0)
                                                                        / np.where(ok, ref, 1.0)), 0.0) / denom)
    jac = np.column_stack(cols)[ok] if cols else np.zeros((int(ok.sum()), 0))
    if jac.size == 0:
        return {"keys": keys, "rows": int(ok.sum()), "rank": 0, "identifiable": []}
    sv = np.linalg.svd(jac, compute_uv=False)
    rank = int((sv > 1e-3 * sv[0]).sum()) if sv.size and sv[0] > 0 else 0
    _, _, piv = qr(jac, pivoting=True, mode="economic")
    return {"keys": keys, "rows": int(ok.sum()), "rank": rank, "identifiable": [keys[j] for j in piv[:rank]]}


def check_identifiable(cases, catalog: Catalog | None = None, base=None) -> dict:
    """Raise InputError when the fit would move more constants than the rows identify; else the report."""
    rep = identifiability(cases, catalog, base)
    if len(rep["keys"]) > rep["rank"]:
        raise InputError(
            f"measurements: {rep['rows']} usable row(s) identify at most {rep['rank']} of the {len(rep['keys'])} "
            f"constants a fit would move ({', '.join(rep['keys'])}); refusing to fit the rest from nothing. "
            f"Identifiable: {', '.join(rep['identifiable']) or 'none'}. Add runs that vary concurrency, sizes or "
            "GPUs (each adds rows that separate the constants)")
    return rep


# --------------------------------------------------------------------------- -> capacity_overrides


def _ttft_at(run: Run, percentile: float) -> tuple[str, float] | None:
    """The run's TTFT at the smallest recorded percentile >= ``percentile`` (conservative), if any."""
    have = sorted((float(k[1:]), k) for k in run.ttft_ms if k.startswith("p"))
    for q, k in have:
        if q >= percentile:
            return k, run.ttft_ms[k]
    return None


def _bucket(w, p: float, o: float, tol: float):
    best = None
    for b in w.buckets:
        dev = max(abs(p - b.prompt_tokens) / b.prompt_tokens, abs(o - b.output_tokens) / b.output_tokens)
        if dev <= tol and (best is None or dev < best[0]):
            best = (dev, b)
    return None if best is None else best[1]


def capacity_overrides(runs: list[Run], scenario, catalog: Catalog, defaults: dict[str, str],
                       tolerance: float = 0.25) -> tuple[list[dict], list[Unmapped]]:
    """``capacity_overrides`` entries for ``scenario`` from the runs (see the module docstring) and the runs not used.

    A run applies to a workload that serves its model, at the bucket whose prompt and output tokens are both within
    ``tolerance`` (relative) of the run's means (no bucket fields when the workload has a single size).
    """
    groups: dict[tuple, list[tuple]] = {}
    bad: list[Unmapped] = []
    for r in runs:
        if r.load == "max_load":
            bad.append(Unmapped(r.source, "max load: every request queued at once, no SLO can be checked"))
            continue
        missing = [k for k in ("gpu", "tp", "precision") if not _setting(r, defaults, k)]
        if missing:
            bad.append(Unmapped(r.source, f"{', '.join(missing)} not stated: pass --{missing[0]} or record it in the "
                                          "run's metadata"))
            continue
        name = defaults.get("model") or r.model
        try:
            gpu = catalog.gpu(_setting(r, defaults, "gpu")).id
            model = catalog.model(name).id if name else None
        except CatalogError as exc:
            bad.append(Unmapped(r.source, f"{exc}"))
            continue
        if model is None or r.prompt_tokens is None or r.output_tokens is None or not r.request_throughput_rps:
            bad.append(Unmapped(r.source, "model, mean sizes or request throughput not in the file (--model sets "
                                          "the model)"))
            continue
        if not 0 < r.request_throughput_rps * 60.0 <= MAX_RATE_RPM:
            bad.append(Unmapped(r.source, f"request throughput {r.request_throughput_rps:.3g} req/s is not a rate a "
                                          f"replica serves (a capacity is > 0 and at most {MAX_RATE_RPM:g} "
                                          "requests/min)"))
            continue
        tp = _tp(r, defaults, bad)
        if tp is None:
            continue
        ws = [w for w in scenario.workloads if w.model == model]
        if not ws:
            bad.append(Unmapped(r.source, f"no workload of the scenario serves {model}"))
            continue
        precision = _precision(r, defaults, bad)
        mig = _mig(r, defaults, gpu, catalog, bad)
        if precision is None or mig is False:
            continue
        used = False
        for w in ws:
            b = _bucket(w, r.prompt_tokens, r.output_tokens, tolerance)
            if b is None:
                sizes = ", ".join(f"{x.prompt_tokens}/{x.output_tokens}" for x in w.buckets)
                bad.append(Unmapped(r.source, f"{w.id}: run sizes {r.prompt_tokens:.0f}/{r.output_tokens:.0f} are not "
                                              f"within {tolerance:.0%} of a bucket ({sizes})"))
                continue
            tt = _ttft_at(r, w.ttft_percentile)
            if tt is None:
                bad.append(Unmapped(r.source, f"{w.id}: no TTFT percentile >= p{w.ttft_percentile:g} in the file "
                                              f"(has {', '.join(r.ttft_ms) or 'none'})"))
                continue
            if w.tpot_slo_ms is not None and r.tpot_mean_ms is None:
                bad.append(Unmapped(r.source, f"{w.id}: mean TPOT not in the file"))
                continue
            rpm = r.request_throughput_rps * 60.0
            kept_up = r.load != "rate" or r.request_throughput_rps >= KEEP_UP * r.rate_rps
            meets = tt[1] <= w.ttft_slo_ms and (w.tpot_slo_ms is None or r.tpot_mean_ms <= w.tpot_slo_ms) and kept_up
            why = (f"{r.tool} {r.source} ({r.load_text}): {tt[0]} TTFT {_ms(tt[1], 0)} ms vs {w.ttft_slo_ms:g}"
                   + (f", mean TPOT {_ms(r.tpot_mean_ms, 1)} ms vs {w.tpot_slo_ms:g}" if w.tpot_slo_ms else "")
                   + ("" if kept_up else f", achieved {r.request_throughput_rps:.3g} of {r.rate_rps:g} req/s"))
            single = len(w.buckets) == 1
            key = (w.id, gpu, precision, tp, mig, None if single else (b.prompt_tokens, b.output_tokens))
            groups.setdefault(key, []).append((r.load, r.concurrency or r.rate_rps, rpm, meets, why))
            used = True
        if not used and not any(u.source == r.source for u in bad):
            bad.append(Unmapped(r.source, "matched no workload"))
    out = []
    for (wid, gpu, precision, tp, mig, bucket), pts in sorted(groups.items(), key=lambda kv: str(kv[0])):
        pool = [p for p in pts if p[0] == "rate"] or pts
        ok = [p for p in pool if p[3]]
        rec = {"workload": wid, "gpu": gpu, "precision": precision, "tp": tp}
        if mig:
            rec["mig_profile"] = mig
        if bucket:
            rec["prompt_tokens"], rec["output_tokens"] = bucket
        if ok:
            best = max(ok, key=lambda p: p[2])
            rec.update(requests_per_min=round(best[2], 3), source=f"highest SLO-meeting run: {best[4]}")
        else:
            lowest = min(pool, key=lambda p: p[1])
            if lowest[0] == "concurrency" and lowest[1] == 1:
                rec.update(requests_per_min=0.0, source=f"even one request at a time misses the SLO: {lowest[4]}")
            else:
                bad.append(Unmapped(lowest[4].split(" (")[0], f"{wid} on {gpu}: no run meets the SLOs; capacity is "
                                                              f"below the lowest load measured ({lowest[4]})"))
                continue
        out.append(rec)
    return out, bad
