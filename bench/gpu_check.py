r"""The performance model's step time against steps measured on a GPU (``bench/gpu_steps.py``'s CSVs).

    python -m bench.gpu_check [STEPS_CSV [PARTS_CSV ...]]  (default: bench/data/h200-pytorch-{steps,parts,fp8}.csv)

Every prediction is ``planner.perf.roofline.step_time`` for the row's model (the catalog's shape at the row's
layer count), GPU (from the device name), TP 1, the row's weight precision (BF16, or FP8 in ``--fp8`` rows:
1 byte a weight, the FP8 peak at eta_fp8) and a BF16 KV cache, with the default calibration:

- parts (``--parts`` rows), one roofline term each, with the calibration's efficiencies and no engine factor:
  ``decode_gemms``  smax(Q_w / (BW eta_bw), F_g / (peak eta_bf16))          (B tokens; the LM head on all B)
  ``decode_attention``  smax(Q_kv / (BW eta_bw), F_a / (peak eta_attn))      (B sequences at context C)
  ``prefill_gemms``  smax(Q_w / (BW eta_bw), (F_g + 2 V h N) / (peak eta_bf16))  (N = B T tokens; the benchmark
                    runs the LM head on all N, the model only on sampling tokens, so its FLOP are added here)
  ``prefill_attention``  F_a / (peak eta_attn)                              (causal: T/2 keys per query on average)
- whole steps: ``kernels`` = the GEMM and attention terms above summed (no fixed times; no all-reduce at TP 1),
  and ``vllm`` = the whole step as the planner charges it for vLLM (its speed factor and its fixed per-layer,
  per-step and per-sequence times). Plain PyTorch is not vLLM: that column is context, not a target.
- ``rest per layer``: (whole step - its GEMMs - its attention) / L, measured, where the parts hold the same
  configuration: the norms, RoPE, residual adds, cache writes and the gaps between kernels, which the model
  charges as t_layer_us (the calibration's, or the engine's).

Achieved rates are bytes / time for decode rows and FLOP / time for prefill rows, counted as the roofline counts
them, against the catalog's datasheet figures.
"""

from __future__ import annotations

import csv
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from planner.catalog import Catalog
from planner.perf.calibration import Calibration, default_calibration
from planner.perf.device import PRECISION_BYTES, make_device
from planner.perf.memory import kv_read_bytes_per_sequence
from planner.perf.roofline import model_shape, smooth_max, step_context, step_time

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_STEPS = DATA / "h200-pytorch-steps.csv"
DEFAULT_PARTS = (DATA / "h200-pytorch-parts.csv", DATA / "h200-pytorch-fp8.csv")
_GPU_NAMES = {r"\bH200\b": "h200", r"\bH100\b": "h100-sxm", r"\bB200\b": "b200", r"\bA100\b": "a100-80gb"}
PHASES = ("decode", "prefill", "decode_gemms", "decode_attention", "prefill_gemms", "prefill_attention")


def gpu_id(device_name: str) -> str:
    """The catalog id of ``torch.cuda.get_device_name``'s answer (ValueError for a GPU not listed here)."""
    for pattern, gid in _GPU_NAMES.items():
        if re.search(pattern, device_name):
            return gid
    raise ValueError(f"no catalog GPU for device {device_name!r}; known: {', '.join(_GPU_NAMES.values())}")


def read_rows(path: Path) -> list[dict]:
    """The rows with a time (failed configurations carry none), medians over runs of one configuration, with
    the runs' spread (max / min - 1)."""
    by: dict[tuple, list[dict]] = defaultdict(list)
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["phase"] in PHASES and r["median_ms"]:
                by[(r["device"], r["model"], r["layers"], r["precision"], r["phase"], r["batch"], r["context"],
                    r["tokens"])].append(r)
    out = []
    for (device, model, layers, precision, phase, batch, context, tokens), runs in by.items():
        t = [float(r["median_ms"]) for r in runs]
        out.append(dict(device=device, model=model, layers=int(layers), precision=precision, phase=phase,
                        batch=int(batch), context=int(context), tokens=int(tokens or 0),
                        measured_ms=statistics.median(t), runs=len(t), spread=max(t) / min(t) - 1.0))
    return out


def _contexts(row: dict, catalog: Catalog, cal: Calibration):
    model = catalog.model(row["model"])
    if row["layers"] != model.layers:
        model = model.model_copy(update={"layers": row["layers"]})
    gpu = catalog.gpu(gpu_id(row["device"]))
    precision = row.get("precision", "bf16")
    dev = make_device(gpu, tp=1, mig_profile=None, precision=precision, kv_dtype="bf16", engine="vllm")
    vllm = cal.engine("vllm")
    kw = dict(bytes_per_weight=PRECISION_BYTES[precision], kv_bytes=2.0, cal=cal)
    return model, gpu, step_context(model, dev, eng=vllm.model_copy(update={"speed": 1.0}), **kw), \
        step_context(model, dev, eng=vllm, **kw)


def predict(row: dict, catalog: Catalog, cal: Calibration) -> dict:
    """The model's times (ms) for one row: ``model_ms`` (the row's term, or the kernels of a whole step),
    ``vllm_ms`` (whole steps only), and the row's bytes and FLOP as the roofline counts them."""
    model, gpu, bare, vllm = _contexts(row, catalog, cal)
    shape, p = model_shape(model), cal.roofline_p
    b, c = float(row["batch"]), float(row["context"])
    decode = row["phase"].startswith("decode")
    if row["phase"].endswith("_gemms"):  # the rows that ran (FP8 pads a decode batch to 16)
        b = float(row.get("tokens") or b) if decode else float(row.get("tokens") or b * c) / c
    args = (b, 0.0, c, 0.0) if decode else (0.0, b * c, 0.0, c / 2.0)
    terms = step_time(bare, *args)
    gemm = float(smooth_max(terms["weights_read"], terms["gemm_compute"], p))
    attn = float(smooth_max(terms["kv_read"], terms["attention_compute"], p))
    n = b if decode else b * c
    weights = PRECISION_BYTES[row.get("precision", "bf16")] * shape.p_fixed
    gemm_flop = 2.0 * (shape.p_active_body + shape.lm_head) * n
    kv = b * kv_read_bytes_per_sequence(model, 2.0, 1, int(c)) if decode else 0.0
    attn_flop = (b * c * shape.attn_dec if decode else b * c * (c / 2.0) * shape.attn_pf) * shape.layers
    out = dict(gpu=gpu, vllm_ms=None)
    if row["phase"] == "prefill_gemms":
        gemm = float(smooth_max(terms["weights_read"], gemm_flop / bare.gemm_eff, p))
    if row["phase"] in ("decode_gemms", "prefill_gemms"):
        out.update(model_ms=1e3 * gemm, bytes=weights, flop=gemm_flop)
    elif row["phase"] == "decode_attention":
        out.update(model_ms=1e3 * attn, bytes=kv, flop=attn_flop)
    elif row["phase"] == "prefill_attention":
        out.update(model_ms=1e3 * float(terms["attention_compute"]), bytes=0.0, flop=attn_flop)
    else:  # a whole step: the prefill floor of step_time (compute-bound prefill tokens) included
        kern = float(terms["total"] - terms["overhead"]) if not decode else gemm + attn
        # the LM head runs on one token per sequence (b of them) in a whole step, decode or prefill
        out.update(model_ms=1e3 * kern, vllm_ms=1e3 * float(step_time(vllm, *args)["total"]), bytes=weights + kv,
                   flop=2.0 * shape.p_active_body * n + 2.0 * shape.lm_head * b + attn_flop)
    return out


def compare(rows: list[dict], catalog: Catalog | None = None, cal: Calibration | None = None) -> list[dict]:
    """Each row with the model's prediction (``predict``) and the achieved rate (``rate``, ``rate_of_peak``)."""
    catalog = catalog or Catalog.builtin()
    cal = cal or default_calibration()
    out = []
    for row in rows:
        pr = predict(row, catalog, cal)
        gpu = pr.pop("gpu")
        t = row["measured_ms"] * 1e-3
        if row["phase"].startswith("decode"):
            rate, peak = pr["bytes"] / t / 1e9, gpu.mem_bw_gbps
        else:
            rate, peak = pr["flop"] / t / 1e12, (gpu.tflops_fp8 if row.get("precision") == "fp8" else gpu.tflops_bf16)
        out.append({**row, **pr, "rate": rate, "rate_of_peak": rate / peak})
    return out


def rest_per_layer(steps: list[dict], parts: list[dict]) -> dict[tuple, float]:
    """(model, phase, batch, context) -> (whole step - its GEMMs - its attention) / layers, in us, where the parts
    hold the configuration (same model, layers and precision)."""
    idx = {(r["model"], r["layers"], r.get("precision"), r["phase"], r["batch"], r["context"]): r["measured_ms"]
           for r in parts}
    out = {}
    for r in steps:
        key = (r["model"], r["layers"], r.get("precision"))
        g = idx.get((*key, f"{r['phase']}_gemms", r["batch"], r["context"]))
        a = idx.get((*key, f"{r['phase']}_attention", r["batch"], r["context"]))
        if g is not None and a is not None:
            out[(r["model"], r["phase"], r["batch"], r["context"])] = 1e3 * (r["measured_ms"] - g - a) / r["layers"]
    return out


def _unit(r: dict) -> str:
    return "GB/s" if r["phase"].startswith("decode") else "TFLOP/s"


def parts_table(res: list[dict]) -> str:
    lines = ["| model (layers) | precision | part | batch | context | measured ms | model ms | measured / model | "
             "achieved | of datasheet |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res:
        lines.append(f"| {r['model']} ({r['layers']}) | {r['precision']} | {r['phase']} | {r['batch']} | "
                     f"{r['context']:,} | "
                     f"{r['measured_ms']:.2f} | {r['model_ms']:.2f} | {r['measured_ms'] / r['model_ms']:.2f} | "
                     f"{r['rate']:,.0f} {_unit(r)} | {r['rate_of_peak']:.2f} |")
    return "\n".join(lines)


def steps_table(res: list[dict], rest: dict[tuple, float]) -> str:
    lines = ["| model (layers) | phase | batch | context | measured ms (runs, spread) | kernels ms | measured / "
             "kernels | vLLM step ms | measured / vLLM | rest per layer us |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res:
        o = rest.get((r["model"], r["phase"], r["batch"], r["context"]))
        lines.append(f"| {r['model']} ({r['layers']}) | {r['phase']} | {r['batch']} | {r['context']:,} | "
                     f"{r['measured_ms']:.2f} ({r['runs']}, {100 * r['spread']:.1f} %) | {r['model_ms']:.2f} | "
                     f"{r['measured_ms'] / r['model_ms']:.2f} | {r['vllm_ms']:.2f} | "
                     f"{r['measured_ms'] / r['vllm_ms']:.2f} | {'' if o is None else f'{o:.0f}'} |")
    return "\n".join(lines)


def _med(xs) -> str:
    xs = list(xs)
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f}, {len(xs)} rows)" if xs else "no rows"


def _kv_heads(row: dict) -> int:
    return Catalog.builtin().model(row["model"]).num_kv_heads


def summary(steps: list[dict], parts: list[dict], cal: Calibration | None = None) -> str:
    cal = cal or default_calibration()
    out = []
    for phase, precision in (("decode_gemms", "bf16"), ("decode_attention", "bf16"), ("prefill_gemms", "bf16"),
                             ("prefill_attention", "bf16"), ("decode_gemms", "fp8"), ("prefill_gemms", "fp8")):
        rows = [r for r in parts if r["phase"] == phase and r["precision"] == precision]
        if not rows:
            continue
        if phase == "decode_attention":  # one thread block per (sequence, KV head) without split-KV
            groups = (("B x KV heads >= 256", [r for r in rows if r["batch"] * _kv_heads(r) >= 256]),
                      ("B x KV heads < 256", [r for r in rows if r["batch"] * _kv_heads(r) < 256]))
        else:
            groups = (("", rows),)
        for label, sub in groups:
            out.append(f"- {phase}, {precision}{f' ({label})' if label else ''}: measured / model "
                       f"{_med(r['measured_ms'] / r['model_ms'] for r in sub)}; achieved share of the datasheet "
                       f"{_med(r['rate_of_peak'] for r in sub)}")
    for phase in ("decode", "prefill"):
        rows = [r for r in steps if r["phase"] == phase]
        out.append(f"- whole {phase} steps: measured / kernels {_med(r['measured_ms'] / r['model_ms'] for r in rows)}"
                   f"; measured / vLLM step {_med(r['measured_ms'] / r['vllm_ms'] for r in rows)}")
    rest = rest_per_layer(steps, parts)
    dec = [v for k, v in rest.items() if k[1] == "decode"]
    if dec:
        out.append(f"- decode, rest per layer (whole step - GEMMs - attention): {_med(dec)} us; the model charges "
                   f"t_layer_us = {cal.t_layer_us:g} (calibration), {cal.engine('vllm').t_layer_us:g} (vLLM)")
    pf = [1e3 * v / (k[2] * k[3]) for k, v in rest.items() if k[1] == "prefill"]
    if pf:
        out.append(f"- prefill, rest per token per layer (unfused norms, RoPE, SiLU: memory traffic per token): "
                   f"{_med(pf)} ns; the model charges none (engines fuse these)")
    out.append(f"- the model's efficiencies: eta_bw {cal.eta_bw:.2f}, eta_bf16 {cal.eta_bf16:.2f}, eta_fp8 "
               f"{cal.eta_fp8:.2f}, eta_attn "
               f"{cal.eta_attn:.2f}; vLLM's speed factor {cal.engine('vllm').speed:g} multiplies eta_bw and eta_bf16 "
               f"(capped at 1)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    steps_path = Path(argv[0]) if argv else DEFAULT_STEPS
    parts_paths = [Path(a) for a in argv[1:]] or list(DEFAULT_PARTS)
    steps = compare(read_rows(steps_path))
    parts = compare([r for path in parts_paths if path.exists() for r in read_rows(path)])
    if parts:
        print(parts_table(parts))
        print()
    print(steps_table(steps, rest_per_layer(steps, parts)))
    print()
    print(summary(steps, parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
