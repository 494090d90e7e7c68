"""Error tables of the performance model on the measured serving runs (``bench/data/silicon-dev.csv``).

    python -m planner.perf.report --silicon                       # print (in-sample and out-of-family)
    python -m planner.perf.report --silicon --write docs/perf-model.md   # replace the marked block

Per row: ``e = predicted / measured − 1`` for mean TTFT and TPOT. Tables give, per group, the rows, the median
absolute percentage error (``APE = |e|``), the signed median of ``e`` (negative = the model is too fast /
optimistic) and the share of rows within 20 %. Groups: GPU, engine, model, concurrency band, ISL/OSL ratio.

*In-sample*: constants fitted on every row (what ships in ``calibration.py``). *Out-of-family* (the figure
that counts): each family (model × GPU × engine) predicted with the engine's constants fitted on the other
families only (``planner.perf.silicon_fit.leave_one_family_out``; each training family thinned to 40 rows
spread over its configurations, at most 15 least-squares evaluations, so that the 26 refits take minutes).
"""

from __future__ import annotations

import numpy as np

BANDS = ((1, 8, "1–8"), (9, 32, "9–32"), (33, 128, "33–128"), (129, 10 ** 9, "> 128"))
RATIOS = ((0, 0.99, "ISL < OSL"), (0.99, 1.01, "ISL = OSL"), (1.01, 1e9, "ISL > OSL"))


def _band(c: int) -> str:
    return next(label for lo, hi, label in BANDS if lo <= c <= hi)


def _ratio(r: float) -> str:
    return next(label for lo, hi, label in RATIOS if lo <= r < hi)


def add_groups(df):
    """Concurrency band and ISL/OSL class columns."""
    df = df.copy()
    df["concurrency_band"] = df["concurrency"].map(_band)
    df["isl_osl"] = (df["isl"] / df["osl"]).map(_ratio)
    return df


def summary(df) -> dict[str, float]:
    """Rows, median APE %, signed median %, share within 20 % — for TTFT and TPOT."""
    ok = df.dropna(subset=["ttft_pred_ms", "tpot_pred_ms"])
    out = {"rows": float(len(ok))}
    for m in ("ttft", "tpot"):
        e = ok[f"{m}_pred_ms"] / ok[f"{m}_ms"] - 1.0
        out[f"{m}_ape"] = float(np.median(np.abs(e)) * 100) if len(e) else float("nan")
        out[f"{m}_signed"] = float(np.median(e) * 100) if len(e) else float("nan")
        out[f"{m}_within20"] = float(np.mean(np.abs(e) <= 0.2) * 100) if len(e) else float("nan")
    return out


def _table(df, by: str, title: str) -> list[str]:
    lines = [f"**{title}**", "", "| " + by.replace("_", " ") + " | rows | TTFT median APE % | TTFT signed % | "
             "TTFT within 20 % | TPOT median APE % | TPOT signed % | TPOT within 20 % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    order = [b[2] for b in BANDS] if by == "concurrency_band" else (
        [r[2] for r in RATIOS] if by == "isl_osl" else sorted(df[by].unique()))
    for key in order:
        g = df[df[by] == key]
        if g.empty:
            continue
        s = summary(g)
        lines.append(f"| {key} | {int(s['rows'])} | {s['ttft_ape']:.1f} | {s['ttft_signed']:+.1f} | "
                     f"{s['ttft_within20']:.0f} | {s['tpot_ape']:.1f} | {s['tpot_signed']:+.1f} | "
                     f"{s['tpot_within20']:.0f} |")
    return lines + [""]


def tables(df, label: str) -> list[str]:
    """All group tables of one prediction frame."""
    df = add_groups(df)
    s = summary(df)
    out = [f"**{label}: all rows** — {int(s['rows'])} rows; TTFT median APE {s['ttft_ape']:.1f} % (signed "
           f"{s['ttft_signed']:+.1f} %, {s['ttft_within20']:.0f} % within 20 %); TPOT median APE "
           f"{s['tpot_ape']:.1f} % (signed {s['tpot_signed']:+.1f} %, {s['tpot_within20']:.0f} % within 20 %).", ""]
    for by, title in (("gpu", "by GPU"), ("engine", "by engine"), ("model", "by model"),
                      ("concurrency_band", "by concurrency (closed-loop clients)"), ("isl_osl", "by ISL/OSL")):
        out += _table(df, by, f"{label}, {title}")
    return out


SEED_CASES = (
    # (label, model, gpu, kwargs, the guide's figure, unit)
    ("Llama-3.1-8B on one L40S, FP16, batch 1", "llama-3.1-8b", "l40s",
     dict(precision="bf16", engine="vllm", concurrency=1, prompt_tokens=128, output_tokens=512), 46.0,
     "output tok/s"),
    ("Llama-3.1-8B on one L40S, FP16, batch 8", "llama-3.1-8b", "l40s",
     dict(precision="bf16", engine="vllm", concurrency=8, prompt_tokens=128, output_tokens=512), 336.0,
     "output tok/s"),
    ("Llama-2-70B, 8×H100 SXM, FP8, offline (MLPerf v4.1 ÷ 8)", "llama-2-70b", "h100-sxm",
     dict(tp=8, precision="fp8", engine="trtllm", prompt_tokens=1024, output_tokens=300), 3066.0, "tok/s per GPU"),
    ("Llama-2-70B, 8×H200, FP8, offline (MLPerf v5.0 ÷ 8)", "llama-2-70b", "h200",
     dict(tp=8, precision="fp8", engine="trtllm", prompt_tokens=1024, output_tokens=300), 4374.0, "tok/s per GPU"),
    ("Llama-2-70B, 8×B200, FP4, offline (MLPerf v5.1 ÷ 8)", "llama-2-70b", "b200",
     dict(tp=8, precision="fp4", engine="trtllm", prompt_tokens=1024, output_tokens=300), 12841.0,
     "tok/s per GPU"),
    ("Llama-2-70B, B200, FP8 (guide: H100 figure × TFLOPS ratio)", "llama-2-70b", "b200",
     dict(tp=8, precision="fp8", engine="trtllm", prompt_tokens=1024, output_tokens=300), 6972.0, "tok/s per GPU"),
)


def seed_figures(cal=None) -> list[str]:
    """The seed guides' figures next to what the model says (shipped constants unless ``cal``)."""
    from planner.catalog import Catalog  # noqa: PLC0415
    from planner.perf.estimate import estimate  # noqa: PLC0415

    cat = Catalog.builtin()
    out = ["| guide's case | guide | model | unit | model's operating point |", "|---|---:|---:|---|---|"]
    for label, model, gpu, kw, figure, unit in SEED_CASES:
        e = estimate(cat.model(model), cat.gpu(gpu), calibration=cal, **kw)
        val = e.output_tokens_per_s / kw.get("tp", 1) if e.fits else float("nan")
        note = (f"C = {e.concurrency}, TPOT {e.tpot_ms:.1f} ms, TTFT {e.terms.get('ttft_mean_ms', 0):.0f} ms, "
                f"{e.bound}-bound" if e.fits else e.reason)
        out.append(f"| {label} | {figure:,.0f} | {val:,.0f} | {unit} | {note} |")
    return out + [""]


def build(csv=None, max_evals: int = 15, progress=None, out_of_family: bool = True, per_family: int = 40) -> str:
    """The Markdown block: coverage, constants, in-sample and out-of-family tables."""
    from collections import Counter  # noqa: PLC0415

    from planner.catalog import Catalog  # noqa: PLC0415
    from planner.perf.silicon import SILICON_CSV, parse_silicon, predict_frame, read_silicon  # noqa: PLC0415
    from planner.perf.silicon_fit import fit_all, leave_one_family_out  # noqa: PLC0415

    cat = Catalog.builtin()
    frame = read_silicon(csv or SILICON_CSV)
    cases, skipped = parse_silicon(frame, cat)
    agg = int((frame["mode"] == "agg").sum())
    cal, fits = fit_all(cases, cat, max_evals=max_evals)
    ins = predict_frame(cases, cat, cal)
    predicted = int(ins["ttft_pred_ms"].notna().sum())
    out = [f"Generated by `python -m planner.perf.report --silicon --write docs/perf-model.md` from "
           f"`{(csv or SILICON_CSV).name}`: {len(frame)} runs, {agg} aggregated; **{predicted} of {agg} aggregated "
           f"runs predicted**. e = predicted/measured − 1 of the mean TTFT and mean TPOT; APE = |e|; signed = "
           f"median of e (negative: the model is optimistic).", ""]
    reasons = Counter(s.reason for s in skipped if "disaggregated" not in s.reason)
    reasons.update(r for r in ins.loc[ins["ttft_pred_ms"].isna(), "reason"])
    out += ["**Aggregated runs not predicted**", "", "| rows | why |", "|---:|---|"]
    for why, n in reasons.most_common():
        out.append(f"| {n} | {why.replace('|', '/')} |")
    out += ["", ("**Engine constants fitted on all rows** (the all-rows fit of this run; the shipped defaults are "
            "`FITTED` in `planner/perf/calibration.py`, see the text above the table)"), "",
            "| engine | rows | " + " | ".join(sorted({k for f in fits for k in f.values})) + " |",
            "|---|---:|" + "---:|" * len({k for f in fits for k in f.values})]
    keys = sorted({k for f in fits for k in f.values})
    for f in fits:
        out.append(f"| {f.engine} | {f.rows} | " + " | ".join(
            f"{f.values[k]:.3g}" if k in f.values else "-" for k in keys) + " |")
    out.append("")
    if out_of_family:
        loo = leave_one_family_out(cases, cat, max_evals=max_evals, progress=progress, per_family=per_family)
        out += tables(loo, "Out-of-family (leave one architecture × GPU × engine out)")
    out += tables(ins, "In-sample (constants fitted on all rows)")
    out += ["**The seed guides' figures** (model with the all-rows fit; ISL/OSL as stated in the code: "
            "`SEED_CASES` in `planner/perf/silicon_report.py`)", ""] + seed_figures(cal)
    return "\n".join(out) + "\n"
