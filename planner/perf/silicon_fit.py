"""Fit the engine constants to measured serving runs, and validate by leaving one family out.

Constants (per engine; each means something physical and is bounded, ``calibration.ENGINE_BOUNDS``):

==================  =================================================================================
t_request_ms        fixed latency per request outside the GPU steps: HTTP, tokenise, schedule, the first
                    token's detokenise and stream (added to TTFT once)
t_step_ms           fixed time per engine step: scheduler, sampling, launch gaps (added to every step)
t_prefill_layer_us  fixed time per layer of a step that carries prefill tokens (a pass outside the
                    decode CUDA graphs: launches, attention metadata, MoE routing set-up), × layers
t_seq_us            host time per running sequence per step on one attention rank's scheduler (batch
                    bookkeeping, sampling, incremental detokenise/output): grows the step with the batch
t_layer_us          fixed time per layer per step: kernel launch tails (× layers, every step)
t_moe_layer_us      extra fixed time per mixture-of-experts layer per step: router, top-k, token permutation,
                    the grouped GEMMs' launches (× MoE layers); fitted only where the rows include a dense
                    model (without one, only the sum with t_layer_us shows), and not for TRT-LLM (``HELD``)
t_sparse_layer_us   extra fixed time per DeepSeek-sparse-attention (DSA) layer per step: the indexer's kernels;
                    fitted only where the rows include a DSA model and another (alone, only the sum with
                    t_layer_us shows)
t_ar_us             latency of one NVLink all-reduce with the engine's kernels (× 2 per layer at tp > 1)
speed               multiplies every roofline efficiency (kernel quality)
moe_speed           multiplies the grouped-expert GEMM efficiency (MoE prefill runs far below the roofline)
phase               closed-loop burstiness: share of the other clients' prompts that arrive with one
                    (``planner.perf.queueing``); not used for open-loop (Poisson) capacity
adp_balance_iters   attention-DP replicas: steps a prompt may be held until every rank has one (TensorRT-LLM's
                    ``attention_dp_config``: ``enable_balance``, ``timeout_iters``); held at 0 for engines
                    without such a hold (``HELD``)
==================  =================================================================================

Objective, over the rows of one engine (``r`` = ln(predicted / measured), TTFT and TPOT each)::

    Σ ρ(r_ttft) + Σ ρ(r_tpot) + λ²·Σ_j ((θ_j − θ_j,0) / range_j)²

with ``ρ`` the Cauchy loss at a 10 % scale (``planner.perf.bounded_fit``: redescending, so a run measured at ten
times the prediction, r = −ln 10, pulls a twelfth as hard as one 10 % off; under soft-L1 it pulled 1.4 times as
hard) and a weak pull (λ = 0.1) to the defaults.
``scipy.optimize.least_squares``, trust-region reflective inside the bounds. The data hold clusters no step model
explains (SGLang's DeepSeek-R1 FP4 runs without expert parallel: a flat 7–9 s mean TTFT from 32 to 128 clients
where their TPOT is the model's within a third; 67 rows measure over 4× the prediction): under the soft-L1 loss
used until the thirty-sixth pass each such row pulled the constants with a constant force, however wild. What the
change did to the error tables: docs/perf-model.md §6b, thirty-sixth pass.

Identifiability: a constant is fitted only when at least ``MIN_ROWS`` rows move with it, and the set is
refused (InputError) when the Jacobian at the start has fewer independent columns than constants
(e.g. ``t_step_ms`` and ``t_layer_us`` with a single model: only their sum shows) or when there are fewer
rows than ``ROWS_PER_CONSTANT`` per constant. :func:`identifiable` picks the set the rows identify; without
an explicit list the fit takes, in the order of ``CONSTANTS``, as many of them as the rows allow.

Leave-one-family-out: for each family (model × GPU × engine) fit the engine's constants on the other
families of that engine and predict the held-out one; the error of those predictions is the out-of-family
error ``planner.perf.report`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.catalog import Catalog
from planner.errors import InputError
from planner.perf.calibration import ENGINE_BOUNDS, Calibration, prior_calibration
from planner.perf.bounded_fit import bounded_least_squares
from planner.perf.silicon import SiliconCase, predict_frame

# in order of priority: with few rows, the first ones the rows identify are fitted
CONSTANTS = ("t_request_ms", "speed", "t_layer_us", "phase", "moe_speed", "t_seq_us", "t_prefill_layer_us",
             "t_ar_us", "t_step_ms", "t_moe_layer_us", "t_sparse_layer_us", "adp_balance_iters")
# constants an engine keeps at their prior value, with the measurement that decided it
HELD: dict[str, dict[str, str]] = {
    "trtllm": {"t_moe_layer_us": "fitted with the rest it came out at 6-8 us and raised the out-of-family error "
                                 "(TPOT 17.7 -> 19.2 %, signed TTFT -9.6 -> -16.8 %; python -m planner.perf.report "
                                 "--silicon, 2026-12-03): TRT-LLM's fused MoE layers show no extra fixed cost",
               "adp_balance_iters": "the serving recipes' timeout_iters (60); fitted it came out at 138 (60 "
                                    "iterations of multi-token-prediction steps ~2.3 TPOTs long would give that) "
                                    "with the same out-of-family error (TTFT 29.28 %, TPOT 9.92 %; python "
                                    "-m planner.perf.report --silicon, 2026-12-04), so the recipes' value stays"},
    "vllm": {"adp_balance_iters": "vLLM's data-parallel ranks schedule their prompts as they arrive (its DP "
                                  "coordinator balances by queue length; no setting holds a prompt for the others)"},
    "sglang": {"adp_balance_iters": "SGLang's DP-attention controller dispatches each prompt to a rank at once; no "
                                    "setting holds it for the other ranks (and its rows hold no DP run)"},
}
MIN_ROWS = 10
ROWS_PER_CONSTANT = 5
PRIOR_WEIGHT = 0.1
LOSS = "cauchy"
LOSS_SCALE = 0.1


@dataclass
class EngineFit:
    """Fitted constants of one engine."""

    engine: str
    values: dict[str, float]
    rows: int
    success: bool
    message: str


def _value(cal: Calibration, engine: str, name: str) -> float:
    v = getattr(cal.engine(engine), name)
    if v is None:
        v = {"t_layer_us": cal.t_layer_us, "t_ar_us": cal.t_ar_nvlink_us}[name]
    return float(v)


def _predict(cases: list[SiliconCase], cat: Catalog, cal: Calibration) -> np.ndarray:
    df = predict_frame(cases, cat, cal)
    return np.concatenate([df["ttft_pred_ms"].to_numpy(), df["tpot_pred_ms"].to_numpy()])


def _jacobian(cases, cat, base: Calibration, engine: str, names) -> tuple[np.ndarray, np.ndarray]:
    ref = _predict(cases, cat, base)
    cols = []
    for n in names:
        lo, hi = ENGINE_BOUNDS[n]
        v = _value(base, engine, n)
        step = 0.1 * (hi - lo)
        probe = v + step if v + step <= hi else v - step
        moved = _predict(cases, cat, base.with_values({f"{engine}.{n}": probe}))
        cols.append(np.log(moved / ref) / (probe - v) * (hi - lo))
    return ref, np.array(cols).T


def identifiable(cases: list[SiliconCase], catalog: Catalog, base: Calibration, engine: str,
                 names=CONSTANTS) -> list[str]:
    """The constants of ``names`` the rows identify: each moves >= MIN_ROWS rows, and together they keep a
    full-rank Jacobian (dropping, greedily, the constant whose column adds least)."""
    ref, jac = _jacobian(cases, catalog, base, engine, names)
    ok = np.isfinite(ref)
    jac = np.where(np.isfinite(jac), jac, 0.0)[ok]
    keep = [j for j, _ in enumerate(names) if np.sum(np.abs(jac[:, j]) > 1e-3) >= MIN_ROWS]
    while keep:
        sub = jac[:, keep]
        norm = sub / np.maximum(np.linalg.norm(sub, axis=0), 1e-12)
        sv = np.linalg.svd(norm, compute_uv=False)
        if sv[-1] > 0.02 * sv[0]:
            break
        # drop the column best explained by the others
        worst, best_res = None, np.inf
        for j in range(len(keep)):
            others = np.delete(norm, j, axis=1)
            if others.shape[1] == 0:
                res = np.linalg.norm(norm[:, j])
            else:
                coef, *_ = np.linalg.lstsq(others, norm[:, j], rcond=None)
                res = np.linalg.norm(norm[:, j] - others @ coef)
            if res < best_res:
                worst, best_res = j, res
        keep.pop(worst)
    return [names[j] for j in keep]


def fit_engine(cases: list[SiliconCase], catalog: Catalog | None = None, base: Calibration | None = None,
               engine: str | None = None, names=None, max_evals: int = 60,
               time_limit_s: float | None = None, loss_scale: float = LOSS_SCALE) -> EngineFit:
    """Fit the constants ``names`` (default: the identifiable ones) of one engine to its ``cases``.

    InputError when the rows do not identify the constants asked for (too few rows, a constant no row
    moves, or constants whose effects the rows cannot tell apart). ``time_limit_s`` bounds the search
    (the best point evaluated is kept; ``success`` is then False). ``loss_scale``: the Cauchy loss's scale in log
    space (``LOSS_SCALE``; ``bench/nested_scale.py`` measures others)."""

    cat = catalog or Catalog.builtin()
    base = base or prior_calibration()
    engines = {c.engine for c in cases}
    engine = engine or (engines.pop() if len(engines) == 1 else None)
    if engine is None:
        raise InputError(f"fit_engine: the rows mix engines ({', '.join(sorted({c.engine for c in cases}))}); "
                         f"fit one engine at a time")
    asked = list(names) if names is not None else None
    auto = [n for n in CONSTANTS if n not in HELD.get(engine, ())
            and (n != "t_moe_layer_us" or any(not cat.model(c.model).is_moe for c in cases))
            and (n != "t_sparse_layer_us"
                 or len({cat.model(c.model).sparse_mla for c in cases}) == 2)]
    names = identifiable(cases, cat, base, engine, asked or auto)
    if asked is not None and set(names) != set(asked):
        lost = ", ".join(n for n in asked if n not in names)
        raise InputError(f"cannot fit {lost} for {engine}: the {len(cases)} rows do not identify it (fewer than "
                         f"{MIN_ROWS} rows move it, or its effect equals another constant's on these rows)")
    if asked is None:
        names = names[: len(cases) // ROWS_PER_CONSTANT]
    if len(cases) < ROWS_PER_CONSTANT * max(1, len(names)):
        raise InputError(f"cannot fit {len(names)} constants for {engine} from {len(cases)} rows (need at least "
                         f"{ROWS_PER_CONSTANT} rows per constant)")
    if not names:
        return EngineFit(engine, {}, len(cases), True, "nothing identifiable to fit")
    measured = np.concatenate([[c.ttft_ms for c in cases], [c.tpot_ms for c in cases]])
    lo = np.array([ENGINE_BOUNDS[n][0] for n in names])
    hi = np.array([ENGINE_BOUNDS[n][1] for n in names])
    x0 = np.clip([_value(base, engine, n) for n in names], lo, hi)
    span = hi - lo
    rows = np.isfinite(_predict(cases, cat, base))

    def cal_at(z):
        x = np.clip(lo + z * span, lo, hi)
        return base.with_values({f"{engine}.{n}": float(v) for n, v in zip(names, x)})

    def residuals(z):
        pred = _predict(cases, cat, cal_at(z))
        r = np.log(np.where(np.isfinite(pred) & (pred > 0), pred, measured) / measured)[rows]
        return np.concatenate([r, PRIOR_WEIGHT * (z - (x0 - lo) / span)])

    res = bounded_least_squares(residuals, (x0 - lo) / span, time_limit_s=time_limit_s, f_scale=loss_scale,
                                loss=LOSS, bounds=(0.0, 1.0), max_nfev=max_evals, diff_step=0.02)
    x = np.clip(lo + res.x * span, lo, hi)
    return EngineFit(engine, dict(zip(names, map(float, x))), int(rows.sum()), res.success, res.message)


def apply(cal: Calibration, fits: list[EngineFit], source: str | None = None) -> Calibration:
    """``cal`` with the fitted engine constants."""
    vals = {f"{f.engine}.{k}": v for f in fits for k, v in f.values.items()}
    return cal.with_values(vals, source=source)


def fit_all(cases: list[SiliconCase], catalog: Catalog | None = None, base: Calibration | None = None,
            max_evals: int = 60, time_limit_s: float | None = None) -> tuple[Calibration, list[EngineFit]]:
    """Fit every engine present in ``cases`` (each on its own rows); ``time_limit_s`` is shared by all the
    engines: each gets what the earlier ones left."""
    import time  # noqa: PLC0415

    cat = catalog or Catalog.builtin()
    base = base or prior_calibration()
    fits = []
    end = None if time_limit_s is None else time.monotonic() + time_limit_s
    for eng in sorted({c.engine for c in cases}):
        left = None if end is None else max(0.0, end - time.monotonic())
        fits.append(fit_engine([c for c in cases if c.engine == eng], cat, base, eng, max_evals=max_evals,
                               time_limit_s=left))
    rows = sum(f.rows for f in fits)
    return apply(base, fits, source=f"fitted per engine to {rows} measured serving runs "
                                    f"(planner.perf.silicon_fit)"), fits


def thin(cases: list[SiliconCase], per_family: int) -> list[SiliconCase]:
    """At most ``per_family`` rows of each family, spread evenly over its rows sorted by (ISL, OSL,
    concurrency, layout): a smaller training set with the same coverage (deterministic)."""
    out: list[SiliconCase] = []
    for fam in sorted({c.family for c in cases}):
        rows = sorted((c for c in cases if c.family == fam),
                      key=lambda c: (c.prompt_tokens, c.output_tokens, c.concurrency, c.tp, c.attention_dp,
                                     c.expert_parallel, c.precision, c.row))
        if len(rows) > per_family:
            idx = np.unique(np.linspace(0, len(rows) - 1, per_family).round().astype(int))
            rows = [rows[j] for j in idx]
        out += rows
    return out


def fit_without(cases: list[SiliconCase], left_out: set[str], catalog: Catalog, base: Calibration,
                max_evals: int = 60, per_family: int | None = 40,
                loss_scale: float = LOSS_SCALE) -> tuple[Calibration, str]:
    """``(calibration, note)``: the engine of the ``left_out`` families fitted on its other families (each thinned to
    ``per_family`` rows, :func:`thin`), from and pulled towards ``base``; ``base`` itself, with the reason in the
    note, where those rows cannot identify a constant. One fold of :func:`leave_one_family_out` (and of the nested
    folds of ``bench/nested_scale.py``, which leave out two families of one engine)."""
    eng = next(c.engine for c in cases if c.family in left_out)
    train = [c for c in cases if c.engine == eng and c.family not in left_out]
    if per_family:
        train = thin(train, per_family)
    try:
        f = fit_engine(train, catalog, base, eng, max_evals=max_evals, loss_scale=loss_scale)
    except InputError as exc:
        return base, f"defaults ({exc})"
    return apply(base, [f]), ", ".join(f"{n}={v:.3g}" for n, v in f.values.items())


def leave_one_family_out(cases: list[SiliconCase], catalog: Catalog | None = None,
                         base: Calibration | None = None, max_evals: int = 60, progress=None,
                         per_family: int | None = 40):
    """Out-of-family predictions: a DataFrame like ``predict_frame`` where each family's rows are predicted
    with the engine constants fitted on the other families of its engine (its own rows never seen; the
    fit starts from and is pulled towards the defaults, never the all-rows fit). ``per_family`` thins each
    training family (:func:`thin`) to keep the many refits affordable."""
    import pandas as pd  # noqa: PLC0415

    cat = catalog or Catalog.builtin()
    base = base or prior_calibration()
    out = []
    fams = sorted({c.family for c in cases})
    for k, fam in enumerate(fams):
        held = [c for c in cases if c.family == fam]
        cal, note = fit_without(cases, {fam}, cat, base, max_evals=max_evals, per_family=per_family)
        df = predict_frame(held, cat, cal)
        df["fit_note"] = note
        out.append(df)
        if progress:
            progress(f"{k + 1}/{len(fams)} {fam}: {note}")
    return pd.concat(out, ignore_index=True)
