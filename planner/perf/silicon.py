"""Measured serving runs in aiconfigurator's ``silicon_sample.csv`` layout → ``estimate()`` calls and errors.

``bench/data/silicon-dev.csv`` (Apache-2.0, source and commit in every row) holds closed-loop benchmark runs:
``batch_size`` clients each keep one request in flight (``mode=agg``: one aggregated replica serves prefill
and decode); ``silicon_ttft_ms`` and ``silicon_tpot_ms`` are the measured means. Mapping of one row:

=====================  ===================================================================================
column                 estimate() argument
=====================  ===================================================================================
model_path (HF id)     the catalog model with that id/alias; else the name without its org and without a
                       quantisation suffix (``-FP8``, ``-NVFP4``, ``-Instruct``); else skipped (reason)
system                 GPU: ``h100_sxm`` → h100-sxm, ``b200_sxm`` → b200, ``gb200`` → gb200 ... (catalog
                       ids/aliases tried with ``_`` → ``-`` and without ``_sxm``); else skipped
backend                engine (trtllm / vllm / sglang)
precision              bf16 / fp8 / fp4 / int4 (``gemm_quant_mode`` nvfp4 → fp4, fp8_block → fp8,
                       int4_wo → int4); empty → bf16 (noted); FP4 on a GPU without FP4 tensor
                       cores (gpt-oss MXFP4 on H100) → the 4-bit weight-only path (int4), noted
tp_size                tp (the attention tensor-parallel group); a MoE group recorded squared
                       (``moe_tp = moe_ep = G``, ``tp × attention_dp = G²``, beyond the NVLink group or with
                       attention DP) is the G-GPU run it is (:func:`squared_layout`); ``tp = moe_tp = N > 8``
                       with ``moe_ep = 1`` is attention DP N with expert parallel N (:func:`wide_layout`); a
                       replica still larger than one NVLink domain is predicted with ``allow_multi_node``
attention_dp_size      attention_dp
moe_ep_size            expert_parallel; ``moe_tp_size × moe_ep_size`` must equal ``tp × attention_dp``
kv_cache_dtype         kv_dtype, where the optional column gives it (``auto``, ``bf16``/``bfloat16``, ``fp16``/
(optional)             ``float16``, ``fp8``/``fp8_e4m3``/``fp8_e5m2``); else FP8 for vLLM's and SGLang's FP8
                       runs and ``auto`` for the others, as aiconfigurator's runs were taken (``silicon_harness``)
isl / osl              prompt_tokens / output_tokens
batch_size             concurrency (closed loop) — per attention rank: the client count is
                       ``silicon_concurrency`` in ``silicon_data_source`` where stated (:func:`clients`)
=====================  ===================================================================================

``mode=disagg`` rows (separate prefill and decode workers, KV moved between them) are skipped: the model
serves one aggregated replica. A *family* is architecture × GPU × engine: the unit left out in the
leave-one-family-out validation (``planner.perf.report``). Checkpoints of one architecture (DeepSeek-R1 and
DeepSeek-V3: every architecture field of the catalog equal) are one family: 289 of their rows have a twin with
the same two latencies under the other name (the same run recorded twice), so leaving out one name alone would
leave its own runs in the training set (``bench/silicon_floor.py`` counts them).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from planner.catalog import Catalog
from planner.errors import CatalogError, InputError, PlannerError
from planner.perf.calibration import Calibration, default_calibration
from planner.perf.measurements import finite_or_none as _num
from planner.perf.silicon_harness import KV_NAMES, benchmark_engine, kv_column, run_kv_dtype
from planner.suggest import did_you_mean

SILICON_CSV = Path(__file__).resolve().parents[2] / "bench" / "data" / "silicon-dev.csv"
_PRECISION = {"bf16": "bf16", "fp16": "fp16", "fp8": "fp8", "fp8_block": "fp8", "fp4": "fp4", "nvfp4": "fp4",
              "int4": "int4", "int4_wo": "int4", "w4a16": "int4", "int8": "int8"}
# quantisation and release suffixes of a checkpoint's name, stripped one at a time from the end (-BF16 and -FP16 too,
# the dtype names NVIDIA gives its unquantised checkpoints)
# (Qwen3-32B-FP8-Static-PerTensor -> Qwen3-32B-FP8-Static -> Qwen3-32B-FP8 -> Qwen3-32B)
_SUFFIX = re.compile(r"-(fp8|bf16|fp16|nvfp4|mxfp4|fp4|instruct|awq|int4|gptq|w8a8|w4a16|static|dynamic|pertensor)$",
                     re.I)


@dataclass(frozen=True)
class SiliconCase:
    """One measured run the model can express."""

    row: int
    run_id: str
    model: str
    gpu: str
    engine: str
    precision: str
    tp: int
    attention_dp: int
    expert_parallel: int
    prompt_tokens: int
    output_tokens: int
    concurrency: int
    ttft_ms: float
    tpot_ms: float
    notes: tuple[str, ...] = ()
    arch: str = ""      # the architecture's id: the first catalog id, in sorted order, of the models sharing it
    kv_dtype: str = "auto"   # the KV cache the run used: its kv_cache_dtype column, else run_kv_dtype()

    @property
    def family(self) -> str:
        """architecture × GPU × engine, the unit of the leave-one-family-out validation."""
        return f"{self.arch or self.model}/{self.gpu}/{self.engine}"

    @property
    def gpus(self) -> int:
        return self.tp * self.attention_dp


@dataclass(frozen=True)
class SiliconSkip:
    """One row the model does not predict, and why."""

    row: int
    run_id: str
    model: str
    system: str
    reason: str


def _int(v) -> int | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return int(x) if math.isfinite(x) and x == int(x) else None


def resolve_model(cat: Catalog, hf_id: str) -> str | None:
    """Catalog id for a Hugging Face id (exact, then without org, then without a quantisation suffix)."""
    name = str(hf_id).strip()
    tail = name.split("/")[-1]
    cands = [name, tail]
    t = tail
    while _SUFFIX.search(t):
        t = _SUFFIX.sub("", t)
        cands.append(t)
    for c in cands:
        if cat.has(c, "model"):
            return cat.model(c).id
    return None


def resolve_gpu(cat: Catalog, system: str) -> str | None:
    """Catalog id for an aiconfigurator system name (``b200_sxm``, ``gb200``, ...)."""
    s = str(system).strip().lower()
    for c in (s, s.replace("_", "-"), re.sub(r"_sxm$", "", s), re.sub(r"_sxm$", "-sxm", s)):
        if c and cat.has(c, "gpu"):
            return cat.gpu(c).id
    return None


def read_silicon(path: str | Path = SILICON_CSV):
    """The CSV as a DataFrame; InputError when unreadable."""
    import pandas as pd  # noqa: PLC0415

    p = Path(path)
    try:
        return pd.read_csv(p)
    except FileNotFoundError:
        raise InputError(f"{p}: no such measurements file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: cannot read measurements ({exc})") from None


REQUIRED = ("model_path", "system", "backend", "mode", "isl", "osl", "batch_size", "tp_size",
            "silicon_ttft_ms", "silicon_tpot_ms")


_CLIENTS = re.compile(r"(?:^|;)\s*silicon_concurrency\s*=\s*(\d+)\s*(?:;|$)")


def clients(r: dict, batch: int | None, tp: int | None, dp: int) -> tuple[int | None, int | None, int, str]:
    """The closed-loop client count of a row, and the layout it implies: ``(concurrency, tp, attention_dp,
    note)``.

    ``batch_size`` is the batch of one attention rank: with attention data parallelism the benchmark runs
    ``batch_size × attention_dp_size`` clients, and ``silicon_data_source`` states the true count as
    ``silicon_concurrency=N`` (in 2,004 of the 2,175 aggregated rows it equals ``batch_size``; in 155 of the
    156 attention-DP rows it is ``batch_size × attention_dp_size``). That count is used when stated. Where
    ``attention_dp_size`` is empty but ``silicon_concurrency = k · batch_size`` with ``k > 1`` dividing
    ``tp_size`` (14 TensorRT-LLM rows whose ``moe_tp × moe_ep`` still equals ``tp_size``), the run is
    attention-DP ``k`` with attention TP ``tp_size / k`` — the only layout for which the per-rank batch
    explains the client count."""
    m = _CLIENTS.search(str(r.get("silicon_data_source", "") or ""))
    if m is None or batch is None or tp is None:
        return batch, tp, dp, ""
    n = int(m.group(1))
    if n == batch:
        return batch, tp, dp, ""
    dp_raw = _num(r.get("attention_dp_size"))
    if dp_raw is None and n % batch == 0 and tp % (n // batch) == 0 and n // batch > 1:
        k = n // batch
        return n, tp // k, k, (f"silicon_concurrency={n} = {k} × batch_size with attention_dp_size empty: "
                               f"read as attention DP {k} × TP {tp // k}")
    return n, tp, dp, f"concurrency {n} from silicon_concurrency (batch_size {batch} is per attention rank)"


def squared_layout(tp: int, dp: int, moe_tp: int | None, ep: int, nvlink_gpus: int) -> tuple[int, int, str]:
    """The real layout of a row whose MoE group is recorded squared: ``(tp, attention_dp, note)``.

    Some rows record ``moe_tp_size = moe_ep_size = G`` and ``tp_size × attention_dp_size = G²`` for a run on
    ``G`` GPUs with expert parallelism ``G`` (``moe_tp = 1``): 16 for a 4-GPU run, 64 for an 8-GPU one. The
    measurements say so — of the 233 rows read this way, 83 have a twin under the plain label (``moe_tp = 1``,
    ``moe_ep = G``, ``G`` GPUs, the same client count) with identical TTFT and TPOT, and none has a twin
    under any other layout; and 64 B200s in one tensor-parallel group would span eight HGX nodes.
    Read as ``G`` GPUs (the TP or attention-DP degree divided by ``G``) where that is the only sensible
    reading: the label exceeds the system's NVLink group, or the row uses attention DP (7 gpt-oss rows with
    ``attention_dp = 4``, ``moe 2 × 2``: a twin at ``attention_dp = 2``, ``moe_ep = 2``). A TP-only label that
    fits the NVLink group (Qwen3.5 on 4 B300s, ``moe 2 × 2``) is a real hybrid MoE layout and stays: its
    TPOT is 1.2× the ``moe_tp = 4`` run's, not the ~1.6× two GPUs would take.

    vLLM's data-parallel rows square it the other way: ``tp_size = attention_dp_size = G``, ``moe_tp = 1``,
    ``moe_ep = G²`` for ``--data-parallel-size G --enable-expert-parallel`` (G one-GPU ranks, EP G). No twin
    proves it, but every one of the 97 rows agrees: read as G GPUs, the four families' median TPOT error
    falls from 10–23 % to 4–7 % with the same constants, and MiniMax-M2.5 on "16" H100s queues for 20–32 s
    at 64 clients — the KV pool of 4 H100s (about 25 sequences of 9k tokens), not of 16."""
    if moe_tp in (None, 1) and tp == dp > 1 and ep == tp * dp:
        return 1, dp, (f"tp = attention_dp = {dp} with moe_ep = {ep} = {dp}²: {dp} one-GPU attention-DP ranks "
                       f"recorded squared, read as tp 1 × attention_dp {dp}, expert parallel {dp}")
    g = ep
    if not (moe_tp is not None and moe_tp == g > 1 and tp * dp == g * g and (tp * dp > nvlink_gpus or dp > 1)):
        return tp, dp, ""
    if dp > 1 and dp % g == 0:
        new_tp, new_dp = tp, dp // g
    elif tp % g == 0:
        new_tp, new_dp = tp // g, dp
    else:
        return tp, dp, ""
    return new_tp, new_dp, (f"moe_tp = moe_ep = {g} with tp × attention_dp = {tp * dp} = {g}²: a {g}-GPU run "
                            f"recorded squared, read as tp {new_tp} × attention_dp {new_dp}, expert parallel {g}")


WIDE_TP = 8   # the largest tensor-parallel group of one HGX node


def wide_layout(tp: int, dp: int, moe_tp: int | None, ep: int, is_moe: bool) -> tuple[int, int, int, str]:
    """The real layout of a MoE row labelled ``tp = moe_tp = N > 8`` with ``moe_ep = 1``: ``(tp, attention_dp,
    expert_parallel, note)``, read as N GPUs of attention data parallelism with expert parallelism N (DEP N).

    All 55 such rows are GB200 runs of DeepSeek-R1 from one source file (TensorRT-LLM at N = 12 … 64, SGLang at
    N = 72). A literal reading is impossible or contradicted by the measurements: 53 of them have N in {12, 20,
    24, 28, 36, 40, 48, 52, 72}, which divides neither the model's 128 attention heads (no engine shards heads
    unevenly) nor its 256 experts' intermediate size; the other two (N = 32 and 64) come from the same sweep and
    measure a TPOT that a 64-way tensor-parallel MLA replica cannot reach (its latent KV cache is replicated on
    every rank: 538 clients at 10.1 ms measured; the TP-64 reading predicts 58 ms, the DEP-64 reading 12.7 ms).
    Wide expert parallelism with attention DP across the NVL72 domain is how both engines' published GB200
    DeepSeek recipes serve it. Where N does not divide the 256 routed experts (the recipes then add redundant
    expert slots), the estimate declines the row with that reason."""
    if is_moe and dp == 1 and ep == 1 and moe_tp == tp and tp > WIDE_TP:
        return 1, tp, tp, (f"tp = moe_tp = {tp} with moe_ep = 1: a {tp}-GPU wide-EP run, read as attention DP "
                           f"{tp} with expert parallel {tp}")
    return tp, dp, ep, ""


def parse_silicon(frame, catalog: Catalog | None = None) -> tuple[list[SiliconCase], list[SiliconSkip]]:
    """Split the runs into cases the model expresses and skipped rows (each with its reason)."""
    cat = catalog or Catalog.builtin()
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"silicon measurements: missing column(s) {', '.join(missing)} "
                         f"(expected aiconfigurator's silicon_sample.csv layout)")
    cases: list[SiliconCase] = []
    skipped: list[SiliconSkip] = []
    cols = list(frame.columns)
    for i, vals in enumerate(frame.itertuples(index=False, name=None)):
        r = dict(zip(cols, vals))
        run_id = str(r.get("id", i))

        def skip(reason: str) -> None:
            skipped.append(SiliconSkip(i, run_id, str(r["model_path"]), str(r["system"]), reason))

        if str(r["mode"]).strip() != "agg":
            skip("disaggregated run (separate prefill and decode workers): the model serves one aggregated "
                 "replica")
            continue
        model = resolve_model(cat, r["model_path"])
        if model is None:
            skip(f"model {r['model_path']!r} is not in the catalog")
            continue
        gpu = resolve_gpu(cat, r["system"])
        if gpu is None:
            skip(f"GPU system {r['system']!r} is not in the catalog")
            continue
        notes = []
        prec_raw = r.get("gemm_quant_mode")
        if not isinstance(prec_raw, str) or not prec_raw.strip():
            prec_raw = r.get("precision")
        if not isinstance(prec_raw, str) or not prec_raw.strip():
            prec_raw = "bf16"
            notes.append("precision not stated: bf16 assumed")
        precision = _PRECISION.get(prec_raw.strip().lower())
        if precision is None:
            skip(f"precision {prec_raw!r} not recognised")
            continue
        spec = cat.gpu(gpu)
        if precision == "fp4" and not spec.tflops_fp4:
            precision = "int4"
            notes.append(f"FP4 (MXFP4/NVFP4) weights on {gpu} (no FP4 tensor cores) run weight-only: modelled as "
                         f"4-bit weight-only (int4 path)")
        engine = str(r["backend"]).strip().lower()
        tp, dp = _int(r["tp_size"]), _int(r.get("attention_dp_size", 1)) or 1
        ep, mtp = _int(r.get("moe_ep_size", 1)) or 1, _int(r.get("moe_tp_size", None))
        isl, osl, conc = _int(r["isl"]), _int(r["osl"]), _int(r["batch_size"])
        ttft, tpot = _num(r["silicon_ttft_ms"]), _num(r["silicon_tpot_ms"])
        if None in (tp, isl, osl, conc) or not ttft or not tpot or ttft <= 0 or tpot <= 0:
            skip("a needed value (tp, isl, osl, batch size, measured TTFT/TPOT) is missing")
            continue
        conc, tp, dp, how = clients(r, conc, tp, dp)
        if how:
            notes.append(how)
        if (_int(r.get("pp_size", 1)) or 1) != 1:
            skip("pipeline parallelism is not modelled")
            continue
        tp, dp, how = squared_layout(tp, dp, mtp, ep, spec.nvlink_max_gpus)
        if how:
            notes.append(how)
            mtp, ep = 1, tp * dp
        tp, dp, ep, how = wide_layout(tp, dp, mtp, ep, cat.model(model).is_moe)
        if how:
            notes.append(how)
            mtp = 1
        if cat.model(model).is_moe and mtp is not None and mtp * ep != tp * dp:
            skip(f"moe_tp × moe_ep = {mtp * ep} differs from tp × attention_dp = {tp * dp}")
            continue
        kv = kv_column(r.get("kv_cache_dtype"))
        if kv is None:
            raw = str(r.get("kv_cache_dtype")).strip()
            skip(f"kv_cache_dtype {raw!r} not recognised{did_you_mean(raw.lower(), KV_NAMES)} "
                 f"(one of: {', '.join(sorted(KV_NAMES))})")
            continue
        kv = kv or run_kv_dtype(engine, precision)
        cases.append(SiliconCase(row=i, run_id=run_id, model=model, gpu=gpu, engine=engine, precision=precision,
                                 tp=tp, attention_dp=dp, expert_parallel=ep, prompt_tokens=isl, output_tokens=osl,
                                 concurrency=conc, ttft_ms=ttft, tpot_ms=tpot, notes=tuple(notes), kv_dtype=kv))
    arch = architectures(cat, {c.model for c in cases})
    return [replace(c, arch=arch[c.model]) for c in cases], skipped


# catalog fields that name, source or size a checkpoint rather than shape its computation
_NOT_ARCHITECTURE = frozenset({"id", "name", "hf_id", "aliases", "max_context", "published_total_params_b",
                               "published_active_params_b", "source", "as_of", "confidence", "notes"})


def architectures(cat: Catalog, models) -> dict[str, str]:
    """Each model id → the id of its architecture: the smallest id among ``models`` whose catalog rows agree
    on every field that shapes the computation (layers, widths, heads, experts, attention kind, ...)."""
    def key(m: str) -> tuple:
        return tuple(sorted((k, v) for k, v in cat.model(m).model_dump().items() if k not in _NOT_ARCHITECTURE))
    first: dict[tuple, str] = {}
    for m in sorted(models):
        first.setdefault(key(m), m)
    return {m: first[key(m)] for m in models}


def _key(c: SiliconCase) -> tuple:
    return (c.model, c.gpu, c.engine, c.precision, c.tp, c.attention_dp, c.expert_parallel, c.prompt_tokens,
            c.output_tokens, c.kv_dtype)


def predict_frame(cases: list[SiliconCase], catalog: Catalog, cal: Calibration | None = None):
    """A DataFrame, one row per case: measured and predicted mean TTFT / TPOT in ms (NaN and the reason when
    the model does not serve it). Cases that differ only in concurrency share one vectorised
    :func:`planner.perf.estimate.closed_loop_curve` call: the same numbers ``estimate(concurrency=C)`` gives."""
    import pandas as pd  # noqa: PLC0415

    from planner.perf.estimate import closed_loop_curve  # noqa: PLC0415

    groups: dict[tuple, list[int]] = {}
    for j, c in enumerate(cases):
        groups.setdefault(_key(c), []).append(j)
    ttft = np.full(len(cases), np.nan)
    tpot = np.full(len(cases), np.nan)
    why = [""] * len(cases)
    base = cal or default_calibration()
    for key, idx in groups.items():
        c = cases[idx[0]]
        conc = sorted({cases[j].concurrency for j in idx})
        try:
            res = closed_loop_curve(catalog.model(c.model), catalog.gpu(c.gpu), conc, tp=c.tp,
                                    precision=c.precision, kv_dtype=c.kv_dtype,
                                    engine=c.engine, prompt_tokens=c.prompt_tokens,
                                    output_tokens=c.output_tokens, attention_dp=c.attention_dp,
                                    calibration=benchmark_engine(base, c.engine, max(conc), c.attention_dp),
                                    expert_parallel=c.expert_parallel, allow_multi_node=True)
        except (PlannerError, CatalogError) as exc:
            res = str(exc).splitlines()[0]
        for j in idx:
            if isinstance(res, str):
                why[j] = res
                continue
            k = conc.index(cases[j].concurrency)
            ttft[j], tpot[j] = res["ttft_mean"][k] * 1e3, res["tpot"][k] * 1e3
    return pd.DataFrame(dict(
        row=[c.row for c in cases], family=[c.family for c in cases], model=[c.model for c in cases],
        gpu=[c.gpu for c in cases], engine=[c.engine for c in cases], precision=[c.precision for c in cases],
        tp=[c.tp for c in cases], attention_dp=[c.attention_dp for c in cases],
        expert_parallel=[c.expert_parallel for c in cases], isl=[c.prompt_tokens for c in cases],
        osl=[c.output_tokens for c in cases], concurrency=[c.concurrency for c in cases],
        ttft_ms=[c.ttft_ms for c in cases], tpot_ms=[c.tpot_ms for c in cases], ttft_pred_ms=ttft,
        tpot_pred_ms=tpot, reason=why))
