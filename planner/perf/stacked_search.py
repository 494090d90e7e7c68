"""The SLO search's last step for many grids laid end to end: each grid's best load, found for the whole stack at once.

``planner.perf.estimate._best_load`` reads one case's curve: of the loads that meet both SLOs (and were solved to
their roots, not settled), the one with the most requests/s ``j*``; then, where the load after it misses an SLO, the
point between the two where the binding SLO is met exactly::

    f   = min(1, min over the SLOs s with  y_{j*+1} > s,  y_{j*+1} finite,  y_{j*+1} > y_{j*}  of
              (s − y_{j*}) / (y_{j*+1} − y_{j*}))                             (y: the TTFT percentile, the TPOT)
    load = g_{j*} + f·(g_{j*+1} − g_{j*}),   every value v_{j*} + f·(v_{j*+1} − v_{j*}) (where both are finite)

kept only where f > 0 and the rate there is not below the rate at ``j*``. In a stacked batch
(``planner.perf.many``) the options stage asks this for thousands of cases; one case at a time it cost ~80 µs of
Python each (``_best_index``, two columns read as dicts, the loop over the SLOs), about a sixth of the stage. Here
the same arithmetic runs over the stack's columns: the same IEEE operations in the same order per element, so each
case's answer is the one ``_best_load`` gives, to the bit (``tests/test_perf_stacked_search.py``, a hypothesis
property against it). A case none of whose loads qualifies, or whose rates are not all numbers, is left to the
per-case search (``None``).
"""

from __future__ import annotations

import numpy as np

from planner.perf.estimate import CurveRows, grid_starts


def best_loads(conc: np.ndarray, whole: CurveRows, counts: list[int], ttft_slo_s: np.ndarray,
               tpot_slo_s: np.ndarray) -> list[tuple[float, dict[str, float]] | None]:
    """For each grid of the stack (``conc``: the grids end to end, ``counts`` their lengths, ``whole`` the curve over
    them with its ``"settled"`` row; one TTFT and TPOT SLO in seconds per grid): (load, the curve's values there) of
    ``estimate._best_load``, or None where that search finds no load or must run on its own."""
    k = len(counts)
    starts = grid_starts(counts)
    seg = np.repeat(np.arange(k), counts)
    m, row = whole.matrix, whole.rows
    ttft, tpot, rps = m[row["ttft_p"]], m[row["tpot"]], m[row["rps"]]
    slo_t, slo_p = np.repeat(ttft_slo_s, counts), np.repeat(tpot_slo_s, counts)
    ok = (ttft <= slo_t) & (tpot <= slo_p) & (m[row["settled"]] == 0)
    score = np.where(ok, rps + 1e-12 * conc, -np.inf)
    top = np.maximum.reduceat(score, starts)
    cand = np.flatnonzero(ok & (score == top[seg]))   # np.argmax's pick: the first load at its grid's maximum
    first, at = np.unique(seg[cand], return_index=True)
    best = np.full(k, -1)
    best[first] = cand[at]
    ends = starts + np.asarray(counts)
    has = best >= 0
    nxt = np.where(has, best + 1, 0)
    inner = has & (nxt < ends)
    move = inner.copy()
    move[inner] = ~ok[nxt[inner]]      # the load after the best one misses an SLO: interpolate towards it
    out: list[tuple[float, dict[str, float]] | None] = [None] * k
    names = list(row)
    stay = np.flatnonzero(has & ~move)
    for i, col in zip(stay.tolist(), m[:, best[stay]].T.tolist()):
        out[i] = float(conc[best[i]]), dict(zip(names, col))
    idx = np.flatnonzero(move)
    if not len(idx):
        return out
    b, n = best[idx], best[idx] + 1
    frac = np.ones(len(idx))
    for y, slo in ((ttft, slo_t), (tpot, slo_p)):
        lo, hi, s = y[b], y[n], slo[b]
        with np.errstate(invalid="ignore", divide="ignore"):
            cut = (hi > s) & np.isfinite(hi) & (hi > lo)
            frac = np.where(cut, np.fmin(frac, (s - lo) / np.where(cut, hi - lo, 1.0)), frac)   # min(), NaN kept out
    frac = np.minimum(np.maximum(frac, 0.0), 1.0)
    v, w = m[:, b], m[:, n]
    with np.errstate(invalid="ignore"):
        mix = np.where(np.isfinite(w) & np.isfinite(v), v + frac * (w - v), v)
    r = row["rps"]
    moved = (frac > 0.0) & ~(mix[r] < v[r])
    load = np.where(moved, conc[b] + frac * (conc[n] - conc[b]), conc[b])
    cols = np.where(moved, mix, v)
    for i, x, col in zip(idx.tolist(), load.tolist(), cols.T.tolist()):
        out[i] = x, dict(zip(names, col))
    return out
