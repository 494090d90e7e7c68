r"""The performance model's step time against forward passes measured in a serving engine (no fit, no refit).

    python -m bench.fpm_check [CSV]        (default: bench/data/fpm-steps-b300-vllm.csv)

The data: the forward-pass metrics (FPM) of aiconfigurator's golden runs (Apache-2.0; source and commit in every
row): Qwen3-32B in BF16 served by vLLM 0.20.1 at TP 1, 2, 4 and 8, and Qwen3.6-35B-A3B (the catalog's
``qwen3.5-35b-a3b``: 30 Gated-DeltaNet and 10 attention layers, every one a 256-expert MoE) at TP 1 and at TP 4 with
its experts over the 4 ranks (``expert_parallel`` 4), one step per row with what it carried (``ctx_tokens`` prompt
tokens of ``ctx_requests`` prompts, ``ctx_kv_tokens`` tokens of those prompts already cached from an earlier chunk,
``decode_requests`` decoding sequences holding ``decode_kv_tokens`` in all) and its latency. The rows are the runs'
sweep segments, the first 16,000 characters of each file as stored (``segment`` sweep: single prompts of 128-4,096
tokens, decode batches of 1-14 at ~4,096 tokens of context, and steps mixing chunks of up to 8,192 prompt tokens
with decodes), and for Qwen3-32B at TP 1 and 8 the 16,000 characters from offset 300,000 of its served workload
(``segment`` real: decode steps of 22-26 sequences at ~5k tokens). The hybrid model's engine splits long prompts (a
4,096-token one at 3,168 tokens) and reports the two steps' time unevenly (a 928-token tail in 0.35-52 ms): a prompt
step that the next step continues, the continuation, and that run's small chunks are not read. The runs' own files
do not name the GPU; the collector's notes of the same day and image (``SMALL_PREFILL_WHY_GOLDEN_16MS.md``:
"In-image B300 x8, vLLM 0.20.1") do, and the decode rate rules out Hopper (65.5 GB of weights in 13.6 ms at TP 1 is
4.8 TB/s).

Neither model is in ``bench/data/silicon-dev.csv`` (nor is any vLLM run of a Gated-DeltaNet model), and nothing here
was fitted to these rows: each step is ``planner.perf.roofline.step_time`` for the row's catalog model on ``b300``
at the row's TP with vLLM's shipped constants (``planner.perf.calibration.FITTED``), ``decode_seqs`` =
decode_requests, ``prefill_tokens`` = ctx_tokens, the decode context their mean, and the prefill context ctx_tokens
/ (2 ctx_requests) + ctx_kv_tokens / ctx_requests (each prompt's tokens attend to half of their own chunk and to
what is cached; attention is under a tenth of these steps, so the split's approximation moves little).

What it prints: per TP and kind of step, the measured median (the rows of one configuration), the model's whole
step, their ratio, and the model's step split into its terms; and a least-squares reading of the decode rows with
three constants of the same meaning as the model's: the weights' read rate, a fixed time per layer and an
all-reduce latency (TP > 1, two a layer). A step here is the engine's forward pass; the engine's host work around
it (HTTP, tokenising, scheduling, streaming) is not in these rows, while the model's fitted fixed costs hold
whatever the measured TTFT and TPOT need (docs/perf-model.md §6e says what that difference means).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from planner.catalog import Catalog
from planner.perf.calibration import Calibration, default_calibration
from planner.perf.device import KV_DTYPE_BYTES, PRECISION_BYTES, make_device
from planner.perf.memory import kv_read_bytes_per_sequence
from planner.perf.roofline import model_shape, step_context, step_time

DATA = Path(__file__).resolve().parent / "data" / "fpm-steps-b300-vllm.csv"
ENGINE = "vllm"


def read(path: Path = DATA):
    """The committed rows, labelled (:func:`read_frame`)."""
    import pandas as pd  # noqa: PLC0415

    return read_frame(pd.read_csv(path))


def read_frame(df):
    """``df`` with a ``kind`` label per row: ``context N`` (a prompt of N tokens alone), ``decode B`` (B sequences
    decoding, in bands), ``mixed`` (a chunk of >= 4,096 prompt tokens with decodes beside it), and ``read`` (False
    for the steps of split prompts, which are not compared)."""
    import pandas as pd  # noqa: PLC0415

    df = df.copy()
    band = pd.cut(df.decode_requests, [0, 1, 4, 9, 14, 10**6], labels=["1", "2-4", "5-9", "10-14", "15+"]).astype(str)
    kind = np.where(df.phase == "decode", "decode " + band,
                    np.where((df.phase == "context") & (df.ctx_requests == 1),
                             "context " + df.ctx_tokens.astype(str), "mixed"))
    df["kind"] = kind
    # a step with a few leftover prompt tokens (<= 64) beside decodes is a decode step in all but name
    small = (df.phase == "mixed") & (df.ctx_tokens <= 64)
    df.loc[small, "kind"] = "decode + <= 64 prompt tokens"
    df.loc[(df.phase == "mixed") & (df.ctx_tokens > 64) & (df.ctx_tokens < 4096), "kind"] = "mixed (small chunk)"
    # a run whose engine split its prompts (a context step that continues a cached prompt): the two halves' time is
    # reported unevenly (see the module docstring), so its split prompts' steps and its small chunks are not read
    if "expert_parallel" not in df:
        df["expert_parallel"] = 1
    run = ["model", "tp", "expert_parallel"]
    follows = df.groupby(run, sort=False)["ctx_kv_tokens"].shift(-1)   # the next step of the same run (file order)
    split = (df.phase == "context") & ((df.ctx_kv_tokens > 0) | (follows == df.ctx_tokens))
    split_runs = df.loc[split, run].drop_duplicates()
    of_split = df.set_index(run).index.isin(pd.MultiIndex.from_frame(split_runs)) if len(split_runs) else False
    unread = split | (of_split & (df.kind == "mixed (small chunk)"))
    df.loc[unread, "kind"] = df.loc[unread, "kind"].str.split(" ").str[0] + ", split prompt (not read)"
    df["read"] = ~unread
    return df


def _context(model: str, gpu: str, tp: int, cal: Calibration, ep: int = 1):
    """The step model's context for one BF16 replica (vLLM keeps a BF16 checkpoint's KV cache in BF16), its experts
    over ``ep`` of its TP ranks."""
    cat = Catalog.builtin()
    dev = make_device(cat.gpu(gpu), tp=tp, mig_profile=None, precision="bf16", kv_dtype="bf16", engine=ENGINE,
                      expert_parallel=ep)
    if isinstance(dev, str):
        raise ValueError(dev)
    return step_context(cat.model(model), dev, bytes_per_weight=PRECISION_BYTES["bf16"],
                        kv_bytes=KV_DTYPE_BYTES["bf16"], cal=cal, eng=cal.engine(ENGINE))


def predict(df, cal: Calibration | None = None):
    """``df`` (:func:`read_frame`'s) with the model's step (``model_ms``) and its terms (``<term>_ms``), row by row."""
    cal = cal or default_calibration()
    out = df.copy()
    for (model, gpu, tp, ep), _ in df.groupby(["model", "gpu", "tp", "expert_parallel"]):   # read_frame's columns
        ctx = _context(model, gpu, int(tp), cal, int(ep))
        m = (df.model == model) & (df.gpu == gpu) & (df.tp == tp) & (df.expert_parallel == ep)
        b = df.loc[m, "decode_requests"].to_numpy(float)
        t = df.loc[m, "ctx_tokens"].to_numpy(float)
        n_pf = np.maximum(df.loc[m, "ctx_requests"].to_numpy(float), 1.0)
        dec_ctx = np.where(b > 0, df.loc[m, "decode_kv_tokens"].to_numpy(float) / np.maximum(b, 1.0), 0.0)
        pf_ctx = t / (2.0 * n_pf) + df.loc[m, "ctx_kv_tokens"].to_numpy(float) / n_pf
        terms = [step_time(ctx, b[i], t[i], dec_ctx[i], pf_ctx[i]) for i in range(len(b))]
        out.loc[m, "model_ms"] = [1e3 * float(s["total"]) for s in terms]
        for k in ("weights_read", "gemm_compute", "kv_read", "attention_compute", "allreduce", "overhead"):
            out.loc[m, f"{k}_ms"] = [1e3 * float(s[k]) for s in terms]
    return out


def table(pred) -> str:
    """Median per (TP, kind): measured, model, ratio and the model's terms."""
    g = pred[pred.read].groupby(["model", "tp", "kind"], sort=False)
    agg = g.agg(rows=("latency_ms", "size"), measured=("latency_ms", "median"), predicted=("model_ms", "median"),
                w=("weights_read_ms", "median"), gc=("gemm_compute_ms", "median"),
                kv=("kv_read_ms", "median"), ac=("attention_compute_ms", "median"),
                ar=("allreduce_ms", "median"), fx=("overhead_ms", "median"))
    order = ["context 128", "context 1024", "context 4096", "decode 1", "decode 2-4", "decode 5-9", "decode 10-14",
             "decode 15+", "decode + <= 64 prompt tokens", "mixed"]
    agg = agg.reset_index()
    agg["_o"] = [order.index(k) if k in order else len(order) for k in agg["kind"]]
    agg = agg.sort_values(["model", "tp", "_o"])
    lines = ["| model | TP | step | rows | measured ms (median) | model ms | model / measured | weights read "
             "| GEMM compute | KV read | attention | all-reduce | fixed |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in agg.itertuples():
        lines.append(f"| {r.model} | {r.tp} | {r.kind} | {r.rows} | {r.measured:.2f} | {r.predicted:.2f} "
                     f"| {r.predicted / r.measured:.2f} | {r.w:.2f} | {r.gc:.2f} | {r.kv:.2f} | {r.ac:.2f} "
                     f"| {r.ar:.2f} | {r.fx:.2f} |")
    return "\n".join(lines)


def decode_reading(pred, model_name: str) -> dict[str, float]:
    """Least squares over one dense model's decode configurations (medians; batch <= 14, context ~4,096):
    ``t = W_gpu / R + L t_l + [tp > 1] 2 L t_ar + B (KV bytes per sequence) / R``, with W_gpu the weight bytes one
    GPU reads and R one read rate for weights and cache. Returns R (TB/s), t_l and t_ar (us)."""
    cat = Catalog.builtin()
    model = cat.model(model_name)
    rows_of = pred[(pred.phase == "decode") & (pred.model == model_name) & (pred.decode_requests <= 14)]
    d = rows_of.groupby(["tp", "decode_requests"]).agg(
        t=("latency_ms", "median"), kv=("decode_kv_tokens", "median")).reset_index()
    shape = model_shape(model)
    w_bytes = 2.0 * (shape.p_fixed + shape.p_expert)  # BF16; a dense model: every weight read every step
    rows, y = [], []
    for r in d.itertuples():
        kv = r.decode_requests * kv_read_bytes_per_sequence(model, 2.0, int(r.tp), int(r.kv / r.decode_requests))
        rows.append([(w_bytes / r.tp + kv) / 1e12, model.layers * 1e-3, (2.0 * model.layers * 1e-3) * (r.tp > 1)])
        y.append(r.t)
    (inv_rate, t_l, t_ar), *_ = np.linalg.lstsq(np.asarray(rows), np.asarray(y), rcond=None)
    return {"read_tb_s": 1e3 / inv_rate, "t_layer_us": t_l, "t_ar_us": t_ar}  # ms per TB -> TB/s


def kv_rate_reading(pred, model_name: str) -> dict[int, float]:
    """{TP: TB/s}: the rate at which the larger decode batches (15 or more sequences, the served workload's) read
    their extra KV cache, ``(KV_B - KV_1) / (t_B - t_1)`` per GPU, medians against the one-sequence decode step."""
    model = Catalog.builtin().model(model_name)
    out = {}
    d = pred[(pred.phase == "decode") & (pred.model == model_name)]
    for tp, rows in d.groupby("tp"):
        big, one = rows[rows.decode_requests >= 15], rows[rows.decode_requests == 1]
        if big.empty or one.empty:
            continue
        def kv(r):
            return r.decode_requests * kv_read_bytes_per_sequence(model, KV_DTYPE_BYTES["bf16"], int(tp),
                                                                   int(r.decode_kv_tokens / r.decode_requests))
        extra = big.apply(kv, axis=1).median() - one.apply(kv, axis=1).median()
        out[int(tp)] = extra / (big.latency_ms.median() - one.latency_ms.median()) / 1e9  # bytes per ms -> TB/s
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cal = default_calibration()
    pred = predict(read(Path(argv[0]) if argv else DATA), cal)
    print(table(pred))
    print()
    cat, eng = Catalog.builtin(), cal.engine(ENGINE)
    for (name, gpu_id), rows in pred.groupby(["model", "gpu"]):
        model, gpu = cat.model(name), cat.gpu(gpu_id)
        shipped = _context(name, gpu_id, 1, cal)
        if not model.is_moe and rows.tp.nunique() > 2:
            fit = decode_reading(pred, name)
            share = fit["read_tb_s"] * 1e3 / gpu.mem_bw_gbps
            print(f"- {name}: decode steps read with three constants (least squares, medians of each TP and batch): "
                  f"weights and cache read at {fit['read_tb_s']:.2f} TB/s ({share:.2f} of the datasheet's "
                  f"{gpu.mem_bw_gbps / 1e3:g} TB/s), {fit['t_layer_us']:.1f} us per layer, "
                  f"{fit['t_ar_us']:.1f} us per all-reduce; the model with vLLM's shipped constants: "
                  f"{shipped.bw_eff / 1e12:.2f} TB/s ({shipped.bw_eff / 1e9 / gpu.mem_bw_gbps:.2f}), t_layer_us "
                  f"{eng.t_layer_us:g}, t_ar_us {eng.t_ar_us:g}")
            kv = kv_rate_reading(pred, name)
            if kv:
                print(f"- {name}: decode batches of 15 or more (the served workload, ~5k tokens of context) read their "
                      "extra KV cache at " + ", ".join(f"{v:.2f} TB/s at TP {k}" for k, v in kv.items())
                      + f"; the model reads it at the weights' rate ({shipped.bw_eff / 1e12:.2f} TB/s)")
        kept = rows[rows.read]
        med = kept.assign(r=kept.model_ms / kept.latency_ms).groupby("phase")["r"].median()
        print(f"- {name}: every step with prompt tokens carries t_prefill_layer_us {eng.t_prefill_layer_us:g} x "
              f"{model.layers} layers = {shipped.t_pf_s * 1e3:.1f} ms; model / measured, median over rows: "
              + ", ".join(f"{k} {v:.2f}" for k, v in med.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
