"""A least-squares fit that stops at a wall-clock limit and keeps the best point it has seen.

``scipy.optimize.least_squares`` bounds only its count of residual evaluations (``max_nfev``), and with a
finite-difference Jacobian of ``k`` constants each iteration costs ``k + 1`` of them: a calibration on a few
hard rows (each a closed-loop fixed point) could run for minutes. :func:`bounded_least_squares` wraps the
residual function so that the first call after ``time_limit_s`` raises, remembers the point with the lowest
cost ``½ Σ ρ(r_i²)`` evaluated so far, and returns that point with ``success = False`` and a message saying the
limit stopped it. A limit never reads as convergence.

``ρ`` is one of scipy's robust losses with scale ``f`` (``LOSSES``):

- ``soft_l1``: ``ρ(s) = 2 f² (√(1 + s/f²) − 1)``: about ``s`` near 0 and ``2 f |r|`` far out, so a wild row pulls
  with a bounded but constant force, however wild;
- ``cauchy``: ``ρ(s) = f² ln(1 + s/f²)``: redescending, a row's pull ``r / (1 + (r/f)²)`` peaks at ``|r| = f`` and
  falls as ``f²/r`` beyond: a row at ten scales pulls a fifth as hard as one at the scale, at a hundred scales a
  fiftieth (not convex: started near a sensible point, as every fit here is, from its defaults).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np


class _OutOfTime(Exception):
    pass


@dataclass(frozen=True)
class BoundedFit:
    """The point returned and how the search ended."""

    x: np.ndarray
    success: bool
    message: str
    evaluations: int


def soft_l1_cost(r: np.ndarray, f_scale: float) -> float:
    """``½ Σ 2 f² (√(1 + (r/f)²) − 1)``: the objective ``least_squares(loss='soft_l1')`` minimises."""
    z = (np.asarray(r, float) / f_scale) ** 2
    return float(np.sum(f_scale ** 2 * (np.sqrt(1.0 + z) - 1.0)))


def cauchy_cost(r: np.ndarray, f_scale: float) -> float:
    """``½ Σ f² ln(1 + (r/f)²)``: the objective ``least_squares(loss='cauchy')`` minimises."""
    z = (np.asarray(r, float) / f_scale) ** 2
    return float(np.sum(0.5 * f_scale ** 2 * np.log1p(z)))


_COST = {"soft_l1": soft_l1_cost, "cauchy": cauchy_cost}
LOSSES = tuple(_COST)


def bounded_least_squares(residuals: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, *,
                          time_limit_s: float | None, f_scale: float, loss: str = "soft_l1",
                          **kwargs) -> BoundedFit:
    """``least_squares(residuals, x0, loss=loss, f_scale=f_scale, **kwargs)`` stopped at ``time_limit_s``
    seconds (None: no limit); the best point evaluated so far is returned when the limit stops it."""
    from scipy.optimize import least_squares  # noqa: PLC0415

    if loss not in _COST:
        raise ValueError(f"loss {loss!r}: one of {', '.join(LOSSES)}")
    cost_of = _COST[loss]

    deadline = None if time_limit_s is None else time.monotonic() + float(time_limit_s)
    best = {"x": np.array(x0, float), "cost": np.inf, "n": 0}

    def wrapped(z: np.ndarray) -> np.ndarray:
        if deadline is not None and time.monotonic() > deadline:
            raise _OutOfTime
        r = residuals(z)
        best["n"] += 1
        cost = cost_of(r, f_scale)
        if cost < best["cost"]:
            best["x"], best["cost"] = np.array(z, float), cost
        return r

    try:
        res = least_squares(wrapped, x0, loss=loss, f_scale=f_scale, **kwargs)
    except _OutOfTime:
        return BoundedFit(best["x"], False, f"stopped at the {time_limit_s:g} s time limit after {best['n']} "
                                            f"evaluations; the best point evaluated is returned", best["n"])
    return BoundedFit(np.asarray(res.x, float), bool(res.success), str(res.message), best["n"])
