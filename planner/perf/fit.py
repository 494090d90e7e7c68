"""Fit the calibration constants to measurements (``plan calibrate``).

Minimises, over the constants θ that the measurements can inform (scalars of :data:`CONSTANT_BOUNDS`,
``speed`` and ``t_request_ms`` of each engine and ``gpu_speed`` of each GPU that appear in them)::

    Σ_rows ρ( ln(pred_row(θ) / measured_row) )  +  λ² · Σ_j ( ln(θ_j / θ_j,default) )²

with ``scipy.optimize.least_squares`` inside the bounds (trust-region reflective), ``ρ`` the soft-L1 loss
with a 10 % scale (a few wild rows cannot drag every constant) and a weak pull towards the defaults
(λ = 0.3) so that constants the data barely constrain stay where the literature puts them. Time constants
that default to 0 are pulled in absolute terms instead. A constant is fitted only if moving it changes at
least one prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from planner.perf.calibration import CONSTANT_BOUNDS, ENGINE_BOUNDS, GPU_SPEED_BOUNDS, Calibration, default_calibration
from planner.catalog import Catalog
from planner.perf.bounded_fit import bounded_least_squares
from planner.perf.measurements import ErrorTable, MeasuredCase, Skipped, error_table, predict

PRIOR_WEIGHT = 0.3
# engine constants this public-table fit may move (the silicon runs fit the rest: ``planner.perf.silicon_fit``)
ENGINE_FIELDS = ("speed", "t_request_ms")
LOSS_SCALE = 0.1


@dataclass
class FitResult:
    """The fitted calibration and the error tables before and after."""

    calibration: Calibration
    before: ErrorTable
    after: ErrorTable
    fitted: dict[str, tuple[float, float]]   # name -> (default, fitted)
    success: bool
    message: str


def _value(cal: Calibration, key: str) -> float:
    if key.startswith("gpu_speed."):
        return float(cal.gpu_speed.get(key.split(".", 1)[1], 1.0))
    if "." in key:
        eng, fld = key.split(".", 1)
        return float(getattr(cal.engines[eng], fld))
    return float(getattr(cal, key))


def _bounds(key: str) -> tuple[float, float]:
    if key.startswith("gpu_speed."):
        return GPU_SPEED_BOUNDS
    return ENGINE_BOUNDS[key.split(".", 1)[1]] if "." in key else CONSTANT_BOUNDS[key]


def _predictions(cases: list[MeasuredCase], cat: Catalog, cal: Calibration) -> np.ndarray:
    out = np.full(len(cases), np.nan)
    for i, c in enumerate(cases):
        pred, _ = predict(c, cat, cal)
        if pred is not None and pred > 0:
            out[i] = pred
    return out


def fittable_keys(cases: list[MeasuredCase], cat: Catalog, base: Calibration) -> list[str]:
    """Constants whose change moves at least one prediction."""
    engines = sorted({c.engine for c in cases})
    gpus = sorted({c.gpu for c in cases})
    keys = (list(CONSTANT_BOUNDS) + [f"{e}.{f}" for e in engines for f in ENGINE_FIELDS]
            + [f"gpu_speed.{g}" for g in gpus])
    ref = _predictions(cases, cat, base)
    out = []
    for k in keys:
        lo, hi = _bounds(k)
        v = _value(base, k)
        probe = min(hi, v * 1.2 + 0.05 * (hi - lo)) if v < hi else lo
        moved = _predictions(cases, cat, base.with_values({k: probe}))
        both = np.isfinite(ref) & np.isfinite(moved)
        if np.any(np.abs(moved[both] - ref[both]) > 1e-9 * np.abs(ref[both])):
            out.append(k)
    return out


def fit(cases: list[MeasuredCase], skipped: list[Skipped] = (), catalog: Catalog | None = None,
        base: Calibration | None = None, max_evals: int = 400, time_limit_s: float | None = None) -> FitResult:
    """Fit the constants to ``cases``; returns the new calibration and the error tables before/after.

    ``time_limit_s`` bounds the search (:func:`planner.perf.bounded_fit.bounded_least_squares`): when it
    stops the fit, the best point evaluated is kept and ``success`` is False."""

    cat = catalog or Catalog.builtin()
    base = base or default_calibration()
    keys = fittable_keys(cases, cat, base)
    measured = np.array([c.value for c in cases])
    x0 = np.array([_value(base, k) for k in keys])
    lo = np.array([_bounds(k)[0] for k in keys])
    hi = np.array([_bounds(k)[1] for k in keys])
    x0 = np.clip(x0, lo, hi)
    scale = np.where(x0 > 0, x0, hi - lo)  # optimise in units of the default (or of the range when 0)
    ok_rows = np.isfinite(_predictions(cases, cat, base))

    def residuals(z: np.ndarray) -> np.ndarray:
        x = np.clip(z * scale, lo, hi)
        cal = base.with_values(dict(zip(keys, map(float, x))))
        pred = _predictions(cases, cat, cal)
        r = np.log(np.where(np.isfinite(pred), pred, measured) / measured)[ok_rows]
        prior = np.where(x0 > 0, np.log(np.maximum(x, 1e-12) / np.where(x0 > 0, x0, 1.0)), (x - x0) / (hi - lo))
        return np.concatenate([r, PRIOR_WEIGHT * prior])

    if keys and ok_rows.any():
        res = bounded_least_squares(residuals, x0 / scale, time_limit_s=time_limit_s, f_scale=LOSS_SCALE,
                                    bounds=(lo / scale, hi / scale), max_nfev=max_evals, x_scale="jac")
        x = np.clip(res.x * scale, lo, hi)
        success, message = res.success, res.message
    else:
        x, success, message = x0, True, "nothing to fit"
    values = dict(zip(keys, map(float, x)))
    cal = base.with_values(values, source=f"plan calibrate: fitted {len(keys)} constants to {int(ok_rows.sum())} "
                                          f"measurements (soft-L1 on log error, prior weight {PRIOR_WEIGHT})")
    return FitResult(calibration=cal, before=error_table(cases, skipped, cat, base),
                     after=error_table(cases, skipped, cat, cal),
                     fitted={k: (float(v0), values[k]) for k, v0 in zip(keys, x0)},
                     success=success, message=message)


def split_half(cases: list[MeasuredCase], seed: int = 0) -> tuple[list[MeasuredCase], list[MeasuredCase]]:
    """A seeded random split into two halves, stratified by metric group (throughput/TPOT/TTFT) so that both
    halves see every kind of metric; a group's odd row goes to the first half."""
    rng = np.random.default_rng(seed)
    first: list[int] = []
    second: list[int] = []
    for group in sorted({c.group for c in cases}):
        idx = [i for i, c in enumerate(cases) if c.group == group]
        order = rng.permutation(len(idx))
        half = math.ceil(len(idx) / 2)
        first += [idx[j] for j in order[:half]]
        second += [idx[j] for j in order[half:]]
    return [cases[i] for i in sorted(first)], [cases[i] for i in sorted(second)]
