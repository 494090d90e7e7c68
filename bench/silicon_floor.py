"""How well do the silicon runs agree with themselves? The reproducibility floor under any input-only model.

Some aggregated runs in ``bench/data/silicon-dev.csv`` have a *twin*: a run of the same architecture on the same GPU,
engine, precision, layout (TP, attention DP, EP), ISL/OSL and client count, taken with another model build
(DeepSeek-R1 and DeepSeek-V3 share one architecture) or another engine version. Nothing a planner is given tells
twins apart, so for a row with twins, ``|median(twins) / row − 1|`` is an error no model of those inputs can avoid
on average. Printed per engine beside the model's in-sample error on the same rows (shipped constants), and the
rows that are *identical* in both latencies (the same run recorded under two model names), which make a
leave-one-family-out split see its held-out rows in training.

A second control, :func:`osl_pairs`: runs that differ *only* in their output length (same architecture, GPU,
engine, precision, layout, ISL and client count; OSL <= 1024 against OSL 8192). In a closed loop of C clients a
longer output lowers the arrival rate of prompts and leaves each prompt's own work unchanged, so the model's TTFT
ratio short/long is ~1; the table prints the measured ratio beside it per engine and model (medians over pairs).
Where one family's measured ratio departs from 1 while every other family's is ~1, the difference is in how those
runs were taken (client, server settings), not in anything a planner is given.

A third control, :func:`capped_runs`: runs with more than ``MANY_CLIENTS`` clients whose TPOT is no more than
``CAP_TPOT_RATIO`` times the TPOT of the same configuration (architecture, GPU, engine, precision, layout, ISL, OSL)
at ``FEW_CLIENTS`` clients or fewer. With continuous batching the decode step grows with the batch, so a TPOT that
did not grow from a few clients to hundreds says the server decoded only a few sequences at a time: a cap on
running sequences that is not among the run's columns (the rest of the clients wait, and their TTFT is their
queue). The table lists them per engine and model, with the band's in-sample TTFT error with and without them.

A fourth control, :func:`gpu_pairs`: the same configuration (architecture, engine, precision, layout, ISL, OSL and
client count) measured on two GPUs (``GPU_PAIR``: B200 and B300). Per engine, model, the two engine versions and
ISL, the measured TTFT and TPOT ratios (second GPU / first, medians over pairs) beside the model's. The catalog gives
the two GPUs the same BF16/FP8 peak and bandwidth (only FP4 differs), so the model's ratio is ~1 off FP4; where one
family's measured ratio goes the other way from every other family's, the runs disagree about the GPU, and a model
of a planner's inputs (which name the GPU, not the engine build) can follow at most one of them.

Run from the repository root:  python bench/silicon_floor.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# same architecture, different checkpoints (the catalog's config rows are identical)
SAME_ARCH = {"deepseek-v3": "deepseek-r1"}
KEY = ("arch", "gpu", "engine", "precision", "tp", "attention_dp", "expert_parallel", "isl", "osl", "concurrency")


def _predicted(pred, versions=None):
    """The rows the model predicts, with their architecture (``SAME_ARCH``) and, given ``versions`` (the engine
    version of each row of ``pred``, in order), their engine version."""
    import pandas as pd  # noqa: PLC0415

    df = pred[pred["ttft_pred_ms"].notna()].copy()
    df["arch"] = df["model"].replace(SAME_ARCH)
    if versions is not None:
        df["version"] = pd.Series(list(versions), index=pred.index).loc[df.index]
    return df


def twins(pred, versions):
    """One row per run that has a twin: the twins' median relative difference and the model's error (fractions).

    ``pred`` is ``planner.perf.silicon.predict_frame``'s frame, ``versions`` the engine version of each of its rows
    (in order); rows the model does not predict take no part."""
    import pandas as pd  # noqa: PLC0415

    df = _predicted(pred, versions)
    out = []
    for _, grp in df.groupby(list(KEY)):
        if len(grp) < 2:
            continue
        for i in range(len(grp)):
            r = grp.iloc[i]
            o = grp.drop(grp.index[i])
            o = o[(o["model"] != r["model"]) | (o["version"] != r["version"])]
            if o.empty:
                continue
            out.append(dict(
                engine=r["engine"], kind="same model, other version" if (o["model"] == r["model"]).all()
                else "R1 vs V3 (same architecture)",
                twin_ttft=abs(o["ttft_ms"].median() / r["ttft_ms"] - 1), twin_tpot=abs(o["tpot_ms"].median() / r["tpot_ms"] - 1),
                identical=bool(((o["ttft_ms"] == r["ttft_ms"]) & (o["tpot_ms"] == r["tpot_ms"])).any()),
                model_ttft=abs(r["ttft_pred_ms"] / r["ttft_ms"] - 1), model_tpot=abs(r["tpot_pred_ms"] / r["tpot_ms"] - 1)))
    return pd.DataFrame(out)


def table(t) -> str:
    """Markdown: per engine and kind of twin, rows with a twin, how many are duplicates (a twin with the same
    two latencies), and over the others the four medians in %."""
    lines = ["| engine | twin | rows | duplicates | rows compared | twins' TTFT diff % | twins' TPOT diff % "
             "| model TTFT APE % | model TPOT APE % |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    groups = [(k, g) for k, g in t.groupby(["engine", "kind"])] + [(("all", ""), t)]
    for (eng, kind), g in groups:
        dup = int(g["identical"].sum())
        g = g[~g["identical"]]
        if g.empty:
            lines.append(f"| {eng} | {kind} | {len(g) + dup} | {dup} | 0 | – | – | – | – |")
            continue
        lines.append(f"| {eng} | {kind} | {len(g) + dup} | {dup} | {len(g)} | {100 * g['twin_ttft'].median():.1f} | "
                     f"{100 * g['twin_tpot'].median():.1f} | {100 * g['model_ttft'].median():.1f} | "
                     f"{100 * g['model_tpot'].median():.1f} |")
    return "\n".join(lines)


OSL_KEY = ("arch", "gpu", "engine", "precision", "tp", "attention_dp", "expert_parallel", "isl", "concurrency")
LONG_OSL = 8192


def osl_pairs(pred):
    """One row per (configuration, short OSL) with a run at ``LONG_OSL`` of the same configuration: the measured
    and predicted TTFT ratios short/long (medians over duplicates of either side); rows the model does not predict
    take no part."""
    import pandas as pd  # noqa: PLC0415

    df = _predicted(pred)
    agg = dict(model=("model", "first"), ttft=("ttft_ms", "median"), pred=("ttft_pred_ms", "median"))
    short = df[df["osl"] < LONG_OSL].groupby([*OSL_KEY, "osl"], as_index=False).agg(**agg)
    long = df[df["osl"] == LONG_OSL].groupby(list(OSL_KEY), as_index=False).agg(**agg)
    pairs = short.merge(long.drop(columns="model"), on=list(OSL_KEY), suffixes=("", "_long"))
    return pd.DataFrame(dict(engine=pairs["engine"], model=pairs["model"], isl=pairs["isl"], osl=pairs["osl"],
                             concurrency=pairs["concurrency"], measured=pairs["ttft"] / pairs["ttft_long"],
                             predicted=pairs["pred"] / pairs["pred_long"]))


def osl_table(pairs) -> str:
    """Markdown: per engine and model, the pairs and the median TTFT ratio short/long, measured and predicted."""
    lines = ["| engine | model | pairs | measured TTFT ratio (OSL <= 1024 / 8192) | model's ratio |",
             "|---|---|---:|---:|---:|"]
    for (eng, model), g in pairs.groupby(["engine", "model"]):
        lines.append(f"| {eng} | {model} | {len(g)} | {g['measured'].median():.2f} | {g['predicted'].median():.2f} |")
    return "\n".join(lines)


MANY_CLIENTS = 128
FEW_CLIENTS = 8
CAP_TPOT_RATIO = 1.5
CAP_KEY = ("arch", "gpu", "engine", "precision", "tp", "attention_dp", "expert_parallel", "isl", "osl")


def capped_runs(pred):
    """Rows with more than ``MANY_CLIENTS`` clients whose measured TPOT is at most ``CAP_TPOT_RATIO`` x the median
    TPOT of the same configuration at ``FEW_CLIENTS`` or fewer (the module docstring), with that ratio; rows the
    model does not predict take no part."""
    import pandas as pd  # noqa: PLC0415

    df = _predicted(pred)
    few = (df[df["concurrency"] <= FEW_CLIENTS].groupby(list(CAP_KEY), as_index=False)
           .agg(tpot_few=("tpot_ms", "median")))
    many = df[df["concurrency"] > MANY_CLIENTS].merge(few, on=list(CAP_KEY))
    many["tpot_ratio"] = many["tpot_ms"] / many["tpot_few"]
    out = many[many["tpot_ratio"] <= CAP_TPOT_RATIO]
    return pd.DataFrame(out[["row", "engine", "model", "gpu", "tp", "isl", "osl", "concurrency", "ttft_ms",
                             "ttft_pred_ms", "tpot_ms", "tpot_ratio"]]).reset_index(drop=True)


def capped_table(pred, capped) -> str:
    """Markdown: the capped runs per engine and model, and the > MANY_CLIENTS band's in-sample median TTFT APE with
    and without them."""
    lines = [f"| engine | model | rows | TPOT / TPOT at <= {FEW_CLIENTS} clients (median) | measured TTFT s (median) "
             f"| model TTFT s (median) |", "|---|---|---:|---:|---:|---:|"]
    for (eng, model), g in capped.groupby(["engine", "model"]):
        lines.append(f"| {eng} | {model} | {len(g)} | {g['tpot_ratio'].median():.2f} | "
                     f"{g['ttft_ms'].median() / 1e3:.1f} | {g['ttft_pred_ms'].median() / 1e3:.1f} |")
    band = pred[pred["ttft_pred_ms"].notna() & (pred["concurrency"] > MANY_CLIENTS)]
    ape = (band["ttft_pred_ms"] / band["ttft_ms"] - 1).abs()
    rest = ape[~band["row"].isin(set(capped["row"]))]
    lines.append("")
    lines.append(f"> {MANY_CLIENTS} clients, in-sample TTFT median APE: {100 * ape.median():.1f} % on {len(ape)} rows; "
                 f"{100 * rest.median():.1f} % on the {len(rest)} without these")
    return "\n".join(lines)


GPU_PAIR = ("b200", "b300")
PAIR_KEY = ("arch", "engine", "precision", "tp", "attention_dp", "expert_parallel", "isl", "osl", "concurrency")


def gpu_pairs(pred, versions):
    """One row per configuration measured on both GPUs of ``GPU_PAIR`` (the module docstring): the engine version on
    each, and the measured and predicted TTFT and TPOT ratios second / first (medians over duplicates of either
    side); rows the model does not predict take no part. ``versions`` as for :func:`twins`."""
    import pandas as pd  # noqa: PLC0415

    df = _predicted(pred, versions)
    agg = dict(model=("model", "first"), version=("version", "first"), ttft=("ttft_ms", "median"),
               tpot=("tpot_ms", "median"), ttft_pred=("ttft_pred_ms", "median"), tpot_pred=("tpot_pred_ms", "median"))
    first, second = (df[df["gpu"] == g].groupby(list(PAIR_KEY), as_index=False).agg(**agg) for g in GPU_PAIR)
    p = first.merge(second.drop(columns="model"), on=list(PAIR_KEY), suffixes=("", "_2"))
    return pd.DataFrame(dict(engine=p["engine"], model=p["arch"], isl=p["isl"], version=p["version"],
                             version_2=p["version_2"], ttft=p["ttft_2"] / p["ttft"], tpot=p["tpot_2"] / p["tpot"],
                             ttft_pred=p["ttft_pred_2"] / p["ttft_pred"], tpot_pred=p["tpot_pred_2"] / p["tpot_pred"]))


def gpu_pair_table(pairs) -> str:
    """Markdown: per engine, model, versions and ISL, the pairs and the median ratios second GPU / first."""
    a, b = GPU_PAIR
    lines = [f"| engine | architecture | version on {a} | on {b} | ISL | pairs | TTFT {b} / {a} measured | model | "
             f"TPOT {b} / {a} measured | model |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for (eng, model, va, vb, isl), g in pairs.groupby(["engine", "model", "version", "version_2", "isl"]):
        lines.append(f"| {eng} | {model} | {va} | {vb} | {isl} | {len(g)} | {g['ttft'].median():.2f} | "
                     f"{g['ttft_pred'].median():.2f} | {g['tpot'].median():.2f} | {g['tpot_pred'].median():.2f} |")
    return "\n".join(lines)


def main() -> None:
    from planner.catalog import Catalog  # noqa: PLC0415
    from planner.perf.calibration import default_calibration  # noqa: PLC0415
    from planner.perf.silicon import SILICON_CSV, parse_silicon, predict_frame, read_silicon  # noqa: PLC0415

    cat = Catalog.builtin()
    frame = read_silicon(SILICON_CSV).reset_index(drop=True)
    cases, _ = parse_silicon(frame, cat)
    pred = predict_frame(cases, cat, default_calibration())
    versions = frame.loc[pred["row"], "backend_version"].astype(str)
    print(table(twins(pred, versions)))
    print()
    print(osl_table(osl_pairs(pred)))
    print()
    print(capped_table(pred, capped_runs(pred)))
    print()
    print(gpu_pair_table(gpu_pairs(pred, versions)))


if __name__ == "__main__":
    main()
