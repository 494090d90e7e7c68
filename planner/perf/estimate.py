"""The performance model: model × GPU config × precision → memory fit, TPOT, TTFT and requests/min at the SLOs.

This module is longer than ~400 lines because it is the one public entry point and keeps its argument
checks, the case preparation shared by ``estimate`` and ``closed_loop_curve``, the SLO and maximum-throughput
searches and the ``--explain`` terms together; the engine's serving model itself lives in ``planner.perf.queueing``.

Pure functions; nothing is printed or read from disk. Memory lives in ``perf_memory``, the step-time roofline
in ``perf_roofline``, the hardware view (MIG, TP links, precision support) in ``perf_device``, the constants
in ``calibration``. This module adds serving at an SLA.

Symbols: prompt ``I`` and output ``O`` tokens per request; ``C`` concurrency (requests in service);
``c_max`` the KV/engine limit on concurrent sequences (``perf_memory``); ``t(B, T)`` the step time with
``B`` decode sequences and ``T`` prefill tokens (``perf_roofline``); ``X`` the chunk budget (tokens/step).

Decode (TPOT). Every running sequence emits one token per step, so a step completes ``B/O`` requests and
must prefill as many new prompts: ``T = B·I/O`` prefill tokens ride in each step (chunked prefill). The token
budget caps the decode batch at ``B_X = X·O/(I+O)``::

    B       = min(C, B_X, c_max)
    TPOT(C) = t(B, B·I/O)                                                     [s]

Prefill under load (TTFT service part). A new prompt waits for the running step (Poisson arrivals land
mid-step: ``TPOT/2``, or nothing when it is alone; closed-loop clients resubmit at a step boundary: nothing),
then is prefilled together with the other prompts that arrived meanwhile — a Poisson number with mean
``m = (B−1)/O`` — in ``n = ceil((I + X_o)/(X − B))`` steps that keep the other ``min(C, B) − 1`` decodes::

    X_o      = I·m   (mean)    or   I·ceil(m + z_p·√m − ½)   (percentile p, normal approx. of Poisson)
    TTFT_s   = t_req + [open loop] ½·TPOT·(1 − 1/C) + n·t(min(C, B) − 1, (I + X_o)/n)
    S        = TTFT_s,mean + (O − 1)·TPOT                        time a request holds a slot      [s]

Throughput (Little's law, per replica)::

    requests/s = C / S ;   requests/min = 60·C / (TTFT_s + (O − 1)·TPOT) ;   output tok/s = O·requests/s

Queueing. With ``concurrency`` given the load is a closed loop (benchmark clients): ``C − B`` requests
beyond the batch wait ``(C − B)·S/B`` and the rate is ``B/S``. With SLOs the arrivals are Poisson (open
loop) and a request waits for one of ``c = min(c_max, B_X)`` slots: an M/D/c queue, approximated as half
the Erlang-C (M/M/c) wait (Allen–Cunneen with zero service variance, the sizes of one bucket being fixed)::

    P_wait = ErlangC(c, a = C)                 W_mean = P_wait·S / (2·(c − C))
    P(W > w) ≈ P_wait·exp(−2·(c − C)·w / S)    W_p = S/(2·(c − C))·ln(P_wait / (1 − p))⁺

    TTFT_p(C) = TTFT_s,p + W_p                 (reported ``ttft_ms``; the mean is in ``terms``)

At the SLOs the model picks the ``C`` with the most requests/min among those with ``TTFT_p ≤ ttft_slo`` and
``TPOT ≤ tpot_slo`` (the largest such ``C`` whenever the rate grows with ``C``, which it does in practice).
Without SLOs or a concurrency it reports the closed-loop maximum: the best rate over ``C ≤ c_max`` on a
64-point grid (the offline benchmark case; past the prefill queue's saturation more clients only wait).

Cost: ``USD per 1M output tokens = price_usd_per_hour·gpus / (3600·output tok/s)·1e6`` with ``gpus`` = tp,
or c/7 of one GPU for a MIG instance.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, replace
from statistics import NormalDist
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np

from planner.perf.calibration import Calibration, default_calibration
from planner.catalog import normalize_name
from planner.catalog.records import GpuSpec, ModelSpec
from planner.errors import InputError
from planner.perf.device import KV_DTYPE_BYTES, Device, check_precision, make_device, resolve_kv_dtype
from planner.perf.memory import memory_plan, paged_concurrency, workspace_gib
from planner.perf.queueing import Loop, prefill_wait_percentile, solve
from planner.perf.roofline import StepContext, experts_touched, prefill_time, step_context, step_time
from planner.perf.step_coef import decode_terms, step_fn

if TYPE_CHECKING:  # types only
    from planner.scenario.model import CapacityOverride, Workload

__all__ = ["Estimate", "estimate", "usd_per_million_output_tokens", "JSON_KEYS"]

JSON_KEYS = ("fits", "reason", "weights_gib_per_gpu", "kv_bytes_per_token_per_gpu", "kv_capacity_tokens",
             "max_concurrency", "concurrency", "tpot_ms", "ttft_ms", "output_tokens_per_s", "requests_per_min",
             "bound", "usd_per_million_output_tokens")


@dataclass(frozen=True)
class Estimate:
    """One prediction. ``fits`` is about memory; ``requests_per_min == 0`` means 'cannot serve' (see reason)."""

    fits: bool
    reason: str | None
    weights_gib_per_gpu: float
    kv_bytes_per_token_per_gpu: float
    kv_capacity_tokens: int
    max_concurrency: int
    concurrency: int
    tpot_ms: float
    ttft_ms: float
    output_tokens_per_s: float
    requests_per_min: float
    bound: Literal["memory", "compute"]
    usd_per_million_output_tokens: float | None
    terms: Mapping[str, float] = field(default_factory=dict)  # LazyTerms from estimate()

    def to_json(self, include_terms: bool = False) -> dict:
        """The documented JSON keys (``terms`` too when asked), plain Python types only."""
        d = asdict(self)
        out = {k: d[k] for k in JSON_KEYS}
        for k, v in out.items():
            if isinstance(v, float) and not math.isfinite(v):
                out[k] = None
        if include_terms:
            out["terms"] = {k: (float(v) if math.isfinite(v) else None) for k, v in self.terms.items()}
        return out


class LazyTerms(Mapping):
    """The ``--explain`` breakdown, computed on first access (the planner asks for thousands of estimates and
    reads none of their terms). Copies, deep copies and pickles are plain dicts."""

    __slots__ = ("_make", "_d")

    def __init__(self, make: Callable[[], dict[str, float]]):
        self._make, self._d = make, None

    def _get(self) -> dict[str, float]:
        if self._d is None:
            self._d, self._make = self._make(), None
        return self._d

    def __getitem__(self, key: str) -> float:
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return repr(self._get())

    def __deepcopy__(self, memo) -> dict[str, float]:
        return dict(self._get())

    def __reduce__(self):
        return (dict, (dict(self._get()),))


def _cannot(reason: str, weights_gib: float = 0.0, **kw) -> Estimate:
    base = dict(fits=False, reason=reason, weights_gib_per_gpu=weights_gib, kv_bytes_per_token_per_gpu=0.0,
                kv_capacity_tokens=0, max_concurrency=0, concurrency=0, tpot_ms=0.0, ttft_ms=0.0,
                output_tokens_per_s=0.0, requests_per_min=0.0, bound="memory", usd_per_million_output_tokens=None)
    base.update(kw)
    return Estimate(**base)


def _check_args(prompt_tokens, output_tokens, context_tokens, concurrency, ttft_slo_ms, tpot_slo_ms,
                ttft_percentile, price_usd_per_hour) -> None:
    for name, v in (("prompt_tokens", prompt_tokens), ("output_tokens", output_tokens)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(f"{name} must be a whole number >= 1, got {v!r}")
    if context_tokens is not None and context_tokens < prompt_tokens + output_tokens:
        raise InputError(f"context_tokens ({context_tokens}) must be >= prompt + output tokens "
                         f"({prompt_tokens + output_tokens})")
    if concurrency is not None and (ttft_slo_ms is not None or tpot_slo_ms is not None):
        raise InputError("give either a concurrency or SLOs (ttft/tpot), not both")
    if concurrency is not None and (not isinstance(concurrency, (int, np.integer)) or concurrency < 1):
        raise InputError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
    for name, v in (("ttft_slo_ms", ttft_slo_ms), ("tpot_slo_ms", tpot_slo_ms)):
        if v is not None and not v > 0:
            raise InputError(f"{name} must be > 0, got {v!r}")
    if not 0 < ttft_percentile < 100:
        raise InputError(f"ttft_percentile must be between 0 and 100 (exclusive), got {ttft_percentile!r}")
    if price_usd_per_hour is not None and not price_usd_per_hour >= 0:
        raise InputError(f"price_usd_per_hour must be >= 0, got {price_usd_per_hour!r}")


def _erlang_c(servers: float, load: np.ndarray) -> np.ndarray:
    """Probability an arrival waits in M/M/c with ``servers`` servers and offered load ``load`` (< servers).

    With ``p_k`` the Poisson(a) pmf, ``P_wait = top / (below + top)``, ``top = p_c·c/(c − a)`` and ``below =
    P(Poisson(a) <= c − 1)``. Divided by ``p_c``: ``P_wait = (c/(c − a)) / (r + c/(c − a))`` with
    ``r = sum_{k<c} c!/(k!·a^(c−k)) = sum_{j=1..c} prod_{i<j} (c − i)/a``, one cumulative product per load (all
    terms positive: no cancellation; when ``r`` overflows, ``p_c`` is below the smallest double and
    ``P_wait`` is 0, as the Poisson form gives; a load whose last term alone passes e^700 is given 0 without it). A
    whole number of servers (every caller) needs no special functions; a fractional one keeps the continuous
    form with scipy's incomplete gamma."""
    a = np.maximum(load, 1e-12)
    c = float(servers)
    if not c.is_integer() or not 1.0 <= c <= 65536.0:
        from scipy import special  # noqa: PLC0415 - only a fractional number of servers needs it

        log_pc = c * np.log(a) - a - special.gammaln(c + 1.0)        # Poisson(a) pmf at c, in logs
        below = special.gammaincc(c, a)                              # P(Poisson(a) <= c - 1)
        top = np.exp(log_pc) * c / np.maximum(c - a, 1e-12)
        return np.clip(top / (below + top), 0.0, 1.0)
    flat = np.asarray(a, dtype=float).reshape(-1)
    out = np.zeros_like(flat)
    # r >= c!/a^c, its last term: where that exceeds e^700, P_wait < c·1e12/e^700 < 1e-287, which is 0 to every
    # sum it enters; only the other loads need the product (on a 64-point grid over 1 … c − 1, most of them
    # once c is in the thousands)
    live = math.lgamma(c + 1.0) - c * np.log(flat) <= 700.0
    if live.any():
        load_live = flat[live].reshape(-1, 1)
        with np.errstate(over="ignore"):
            r = np.cumprod(np.arange(c, 0.0, -1.0) / load_live, axis=1).sum(axis=1)  # c/a, c(c-1)/a^2, …, c!/a^c
        top = c / np.maximum(c - load_live[:, 0], 1e-12)
        out[live] = np.clip(top / (r + top), 0.0, 1.0)
    return out.reshape(np.shape(a))


@dataclass(frozen=True)
class _Case:
    ctx: StepContext
    prompt: int
    output: int
    c_max: int          # concurrent sequences the KV pool and engine allow
    b_budget: int       # tokens per step of one attention rank (the engine's chunk budget)
    t_req_s: float
    z: float            # standard normal quantile of the TTFT percentile
    p: float


def _step_fn(case: _Case):
    return step_fn(case.ctx, case.prompt + case.output / 2.0, case.prompt / 2.0)


def _loop(case: _Case, open_loop: bool) -> Loop:
    return Loop(prompt=case.prompt, output=case.output, c_max=float(case.c_max), budget=float(case.b_budget),
                t_req_s=case.t_req_s, ranks=case.ctx.dev.dp, phase=0.0 if open_loop else case.ctx.eng.phase,
                balance=float(case.ctx.eng.adp_balance_iters) if case.ctx.dev.dp > 1 else 0.0,
                closed=not open_loop)


def _curve(case: _Case, conc: np.ndarray, open_loop: bool, caps: tuple | None = None) -> dict[str, np.ndarray]:
    """TPOT, TTFT (mean, percentile) and requests/s for each concurrency in ``conc`` (seconds);
    ``planner.perf.queueing`` has the engine model, this adds the slot queue of the open loop
    (:func:`curve_terms`, which a stacked batch calls on its own fixed point). ``caps``: the solve's TTFT and TPOT caps
    (``queueing.solve``, :func:`slo_caps`); the loads it settles come back under ``"settled"``, their other values
    not at the root."""
    c = np.asarray(conc, dtype=float)
    step = _step_fn(case)
    ttft_cap, tpot_cap = (None, None) if caps is None else caps
    st = solve(step, _loop(case, open_loop), c, ttft_cap=ttft_cap, tpot_cap=tpot_cap)
    vals = curve_terms(st, c, float(case.c_max), case.p, open_loop, decode_terms(step.coef, st["decode_batch"]))
    if caps is not None:
        vals["settled"] = st["settled"]
    return vals


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct values, sorted; for each input, its position among them): ``np.unique(...,
    return_inverse=True)`` without importing numpy.ma (~40 ms of a small scenario's start-up)."""
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    first = np.empty(len(ranked), dtype=bool)
    first[:1] = True
    np.not_equal(ranked[1:], ranked[:-1], out=first[1:])
    where = np.empty(len(ranked), dtype=np.intp)
    where[order] = np.cumsum(first) - 1
    return ranked[first], where


def erlang_c_grouped(servers: np.ndarray, load: np.ndarray) -> np.ndarray:
    """:func:`_erlang_c` at each point with its own whole number of ``servers`` (a stacked batch of cases):
    one call per distinct server count, on its distinct loads only, the same values as one call per case.

    Every case with the same slot count has the same SLO grid (``slo_grid`` depends on the count alone), so a
    group's loads are a few dozen values repeated once per case; ``_erlang_c`` is elementwise (each load its own
    row of the cumulative product), so computing each distinct load once gives every point its value to the bit
    (an L scenario: ~4 cases per count, 0.9 s of the options stage's 4 s before)."""
    out = np.empty_like(load, dtype=float)
    order = np.argsort(servers, kind="stable")
    ranked = servers[order]
    cuts = np.flatnonzero(np.diff(ranked)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(ranked)]):
        idx = order[lo:hi]
        loads, where = _distinct(load[idx])
        out[idx] = _erlang_c_of(float(ranked[lo]), loads.tobytes())[where]
    return out


@functools.lru_cache(maxsize=4096)
def _erlang_c_of(servers: float, loads: bytes) -> np.ndarray:
    """:func:`_erlang_c` of float64 ``loads`` given as bytes, remembered: an options stage meets the same slot count
    and grid in several stacks (L-2: 3,024 groups, 963 of them distinct), and the cumulative product is O(c) a load."""
    out = _erlang_c(servers, np.frombuffer(loads, dtype=float))
    out.flags.writeable = False
    return out


def curve_terms(st: dict[str, np.ndarray], c: np.ndarray, servers, p, open_loop: bool,
                dec: dict[str, np.ndarray], p_wait: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """What :func:`_curve` reports, from the fixed point ``st`` at the loads ``c``: one case (scalar
    ``servers`` = c_max and TTFT percentile ``p``) or a stacked batch (one value of each per point, with the
    slot queue's waiting probability ``p_wait`` given). ``dec``: the decode step's terms at the decode batch."""
    hold, x = st["hold"], st["x"]
    w_pf_p = np.where(p > 0.5, prefill_wait_percentile(st, p), st["wait_prefill"])
    if open_loop:
        pw = _erlang_c(servers, c) if p_wait is None else p_wait
        gap = np.maximum(servers - c, 1e-12)
        w_mean = pw * hold / (2 * gap)
        w_p = hold / (2 * gap) * np.log(np.maximum(pw / (1 - p), 1.0))
        w_mean = np.where(c < servers, w_mean, np.inf)
        w_p = np.where(c < servers, w_p, np.inf)
        rps = x
    else:
        rps = np.minimum(c, servers) / hold   # Little's law on the slots (= X at the fixed point)
        w_mean = w_p = np.maximum(c - servers, 0.0) / np.maximum(rps, 1e-300)
    ttft_mean = st["ttft_service"] + w_mean
    # the attention-DP balance hold is uniform over its window (mean W, quantile 2p·W)
    w_bal_p = np.where(p > 0.5, (2.0 * p - 1.0) * st["wait_balance"], 0.0)
    ttft_p = st["ttft_service"] - st["wait_prefill"] + w_pf_p + w_p + w_bal_p
    # a high percentile of a right-skewed wait is never reported below its mean
    ttft_p = np.where(p >= 0.5, np.maximum(ttft_p, ttft_mean), ttft_p)
    return {"tpot": st["tpot"], "ttft_mean": ttft_mean, "ttft_p": ttft_p, "rps": rps,
            "wait_mean": w_mean, "wait_p": w_p, "prefill": st["prefill"], "residual": st["residual"],
            "wait_prefill": st["wait_prefill"], "wait_balance": st["wait_balance"], "prefill_util": st["rho"],
            "chunk_share": st["chunk_share"], "decode_batch": st["decode_batch"], "hold": hold,
            **{f"dec_{k}": v for k, v in dec.items()}}


def _load_text(load: float) -> str:
    return f"{load:g}" if load >= 1 else f"{load:g} (mean requests in service below 1)"


class CurveRows(Mapping):
    """A curve's named arrays as the rows of one matrix (what a stacked batch hands each case: a view of its
    columns), so that :func:`_pick` reads one column in one call instead of one numpy scalar per name."""

    __slots__ = ("_row", "_m")

    def __init__(self, row: dict[str, int], matrix: np.ndarray):
        self._row, self._m = row, matrix

    def __getitem__(self, key: str) -> np.ndarray:
        return self._m[self._row[key]]

    def __iter__(self):
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)

    def column(self, j: int) -> dict[str, float]:
        return dict(zip(self._row, self._m[:, j].tolist()))

    @property
    def rows(self) -> dict[str, int]:
        return self._row

    @property
    def matrix(self) -> np.ndarray:
        return self._m


def _pick(vals: Mapping[str, np.ndarray], j: int) -> dict[str, float]:
    if isinstance(vals, CurveRows):
        return vals.column(j)
    return {k: float(np.asarray(v)[j]) for k, v in vals.items()}


SLO_GRID = 64
# make_device is pure and its Device frozen: the options stage builds the same one for every workload and bucket
_device = functools.lru_cache(maxsize=8192)(make_device)


def slo_grid(case: _Case) -> np.ndarray:
    """The loads the SLO search evaluates: a 64-point geometric grid over ``1 … c_max − 1`` (one slot:
    ``LOW_LOADS``, the load must stay below 1, M/D/1)."""
    return _grid(int(case.c_max))


# Loads below one request in service: the one-slot grid, and where no load of a larger grid meets the SLOs, the
# search's second look (``_slo_search``). At equal load a faster replica serves more requests/s, so more prompts
# overlap and its TTFT percentile at load 1 can be higher than a slower one's; below 1 it meets SLOs the load-1 floor
# declared unreachable (Mistral-7B INT4, vLLM, 2,583/749 tokens, p95 TTFT 208 ms: A100-40GB 249 tok/s, A100-80GB
# unreachable, its best TTFT "at concurrency 1" 208.2 ms, until 2026-12-05)
LOW_LOADS = np.arange(1, 10) / 10.0
LOW_LOADS.flags.writeable = False


@functools.lru_cache(maxsize=4096)
def _grid(servers: int) -> np.ndarray:
    if servers >= 2:
        g = _distinct(np.geomspace(1.0, servers - 1.0, num=min(servers - 1, SLO_GRID)))[0]
    else:
        g = LOW_LOADS
    g.flags.writeable = False   # shared between calls
    return g


@functools.lru_cache(maxsize=4096)
def _throughput_grid(servers: int) -> np.ndarray:
    """The whole loads the maximum-throughput search evaluates first: a geometric grid over ``1 … c_max``, at
    most 64 of them (then every whole load between the best one's neighbours)."""
    g = np.unique(np.round(np.geomspace(1.0, float(servers), num=min(servers, SLO_GRID))))
    g.flags.writeable = False   # shared between calls
    return g


def _slo_search(case: _Case, ttft_slo_s: float, tpot_slo_s: float, vals: dict[str, np.ndarray] | None = None,
                low: dict[str, np.ndarray] | None = None) -> tuple[bool, float, dict[str, float]]:
    """Load (mean requests in service) with the most requests/s meeting both SLOs: one vectorised solve on
    :func:`slo_grid` (where the loads proven above the TTFT SLO stop before their roots: ``queueing.solve``'s
    settling, with :func:`slo_caps`), then linear interpolation between the best feasible grid
    point and its infeasible neighbour, to where the binding SLO is met exactly (TTFT and TPOT grow with the
    load, about linearly over one grid step of ≤ 13 %). Where no load of a grid starting at 1 qualifies, the loads
    below 1 (``LOW_LOADS``, and the grid's first point to interpolate towards) are searched the same way. When no
    load qualifies: (False, lowest load, its values) -- the best TTFT and TPOT the replica can offer. ``vals``: the
    open-loop curve on the grid (:func:`curve_terms`), when a stacked batch computed it; ``low`` the same on
    ``LOW_LOADS``."""
    grid = slo_grid(case)
    if vals is None:
        vals = _curve(case, grid, open_loop=True, caps=slo_caps(ttft_slo_s, tpot_slo_s, len(grid)))
        j = settled_neighbour(grid, vals, ttft_slo_s, tpot_slo_s) if np.count_nonzero(vals["settled"]) else None
        if j is not None:   # the interpolation reads it: solved to its root after all (a first load never settles)
            one = _curve(case, grid[j:j + 1], open_loop=True, caps=slo_caps(ttft_slo_s, tpot_slo_s, 1))
            vals = {k: np.array(np.broadcast_to(v, grid.shape), dtype=float) for k, v in vals.items()}
            for k, v in one.items():
                vals[k][j] = v[0]
    found = _best_load(grid, vals, ttft_slo_s, tpot_slo_s)
    if found is not None:
        return found
    if grid[0] < 1:
        return False, float(grid[0]), _pick(vals, 0)
    if low is None:
        low = _curve(case, LOW_LOADS, open_loop=True)
    found = _best_load(np.concatenate([LOW_LOADS, grid[:1]]), _joined(low, vals), ttft_slo_s, tpot_slo_s)
    return found if found is not None else (False, float(LOW_LOADS[0]), _pick(low, 0))


def slo_caps(ttft_slo_s, tpot_slo_s, counts) -> tuple[np.ndarray, np.ndarray]:
    """The TTFT and TPOT caps of an SLO search's solve (``queueing.solve``'s ``ttft_cap``, ``tpot_cap``): each grid's
    SLOs at every load but its first, which is solved to its root whatever its TTFT and TPOT (the search below load 1
    and the "unreachable" reason read it). One grid (``counts`` its length, each SLO one number) or grids laid end to
    end (one each)."""
    out = []
    for slo in (ttft_slo_s, tpot_slo_s):
        if isinstance(counts, int):
            cap = np.full(counts, float(slo))
            cap[0] = np.inf
        else:
            cap = np.repeat(np.asarray(slo, dtype=float), counts)
            cap[grid_starts(counts)] = np.inf
        out.append(cap)
    return out[0], out[1]


def grid_starts(counts) -> np.ndarray:
    """Where each grid starts when grids of lengths ``counts`` are laid end to end (a stacked batch)."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)


def _joined(low, grid_vals) -> CurveRows:
    """A curve on ``LOW_LOADS`` with the first point of the grid's curve appended (what the search below load 1
    reads), as one matrix: the stacked batch's two matrices side by side, or one built from two curves."""
    if isinstance(low, CurveRows) and isinstance(grid_vals, CurveRows) and low.rows == grid_vals.rows:
        return CurveRows(low.rows, np.hstack([low.matrix, grid_vals.matrix[:, :1]]))
    names = list(low)
    n = len(LOW_LOADS)
    return CurveRows({k: i for i, k in enumerate(names)},
                     np.vstack([np.concatenate([np.broadcast_to(np.asarray(low[k], dtype=float), (n,)),
                                                np.asarray(grid_vals[k], dtype=float).reshape(-1)[:1]])
                                for k in names]))


def _meets(vals, ttft_slo_s, tpot_slo_s) -> np.ndarray:
    """Which loads of a curve meet both SLOs (seconds: one number each, or one per load, as a stacked batch has)."""
    return (vals["ttft_p"] <= ttft_slo_s) & (vals["tpot"] <= tpot_slo_s)


def _best_index(grid: np.ndarray, vals, ttft_slo_s: float, tpot_slo_s: float) -> tuple[np.ndarray, int] | None:
    """(which loads of a curve meet both SLOs, the one of them with the most requests/s); None when none does.
    A curve with a ``"settled"`` row marks the loads whose solve stopped once their TTFT was proven above the SLO
    (:func:`slo_caps`; their other values are not at the root): they do not meet it."""
    ok = _meets(vals, ttft_slo_s, tpot_slo_s)
    if "settled" in vals:
        ok &= vals["settled"] == 0
    if not ok.any():
        return None
    idx = np.flatnonzero(ok)
    return ok, int(idx[np.argmax(vals["rps"][idx] + 1e-12 * grid[idx])])


def settled_neighbour(grid: np.ndarray, vals, ttft_slo_s: float, tpot_slo_s: float) -> int | None:
    """The load after the best one when its solve settled early (None otherwise): :func:`_best_load` interpolates
    towards it, so the caller solves it to its root first and puts those values in its place."""
    found = _best_index(grid, vals, ttft_slo_s, tpot_slo_s)
    if found is None or "settled" not in vals:
        return None
    j = found[1] + 1
    return j if j < len(grid) and vals["settled"][j] != 0 else None


def _best_load(grid: np.ndarray, vals, ttft_slo_s: float,
               tpot_slo_s: float) -> tuple[bool, float, dict[str, float]] | None:
    """The search of :func:`_slo_search` on one grid and its curve; None when no load of it meets the SLOs. The
    best load's neighbour must have been solved to its root (:func:`settled_neighbour`)."""
    found = _best_index(grid, vals, ttft_slo_s, tpot_slo_s)
    if found is None:
        return None
    ok, best = found
    out = _pick(vals, best)
    if best + 1 >= len(grid) or ok[best + 1]:
        return True, float(grid[best]), out
    nxt = _pick(vals, best + 1)
    frac = 1.0
    for key, slo in (("ttft_p", ttft_slo_s), ("tpot", tpot_slo_s)):
        lo, hi = out[key], nxt[key]
        if hi > slo and math.isfinite(hi) and hi > lo:
            frac = min(frac, (slo - lo) / (hi - lo))
    frac = min(max(frac, 0.0), 1.0)
    if frac <= 0.0:
        return True, float(grid[best]), out
    mix = {k: (v + frac * (nxt[k] - v) if math.isfinite(nxt[k]) and math.isfinite(v) else v)
           for k, v in out.items()}
    if mix["rps"] < out["rps"]:  # only move where the rate grows with the load
        return True, float(grid[best]), out
    return True, float(grid[best] + frac * (grid[best + 1] - grid[best])), mix


def _replica(model: ModelSpec, gpu: GpuSpec, *, tp: int, mig_profile: str | None, precision: str, kv_dtype: str,
             engine: str, calibration: Calibration | None, attention_dp: int, expert_parallel: int,
             allow_multi_node: bool) -> tuple | str:
    """What every case of one replica shares, whatever its tokens: (calibration, engine factors, bytes per weight,
    kv dtype, device, workspace GiB, step context), or the reason the replica cannot serve at all."""
    cal = calibration or default_calibration()
    eng = cal.engine(engine)
    bpw = check_precision(precision)
    kv_name = resolve_kv_dtype(kv_dtype, precision, engine, sparse_mla=model.sparse_mla, arch=gpu.arch)
    dev = _device(gpu, tp=tp, mig_profile=mig_profile, precision=precision, kv_dtype=kv_name, engine=engine,
                  attention_dp=attention_dp, expert_parallel=expert_parallel, allow_multi_node=allow_multi_node)
    if isinstance(dev, str):
        return dev
    eng = eng.on_device(dev.mem_gib, dev.dp, dev.gpu_id)
    if expert_parallel > 1 and not model.is_moe:
        return f"expert_parallel={expert_parallel} needs a mixture-of-experts model; {model.id} is dense"
    if expert_parallel > 1 and model.n_routed_experts % expert_parallel:
        return (f"expert_parallel={expert_parallel} does not divide the {model.n_routed_experts} "
                f"routed experts of {model.id} (the engines then add redundant expert slots, which the "
                f"model does not cover: docs/perf-model.md §6b)")
    if tp > 1 and model.num_heads % tp:
        return (f"tp={tp} does not divide the {model.num_heads} attention heads of {model.id} "
                f"(engines shard heads evenly)")
    ws = workspace_gib(model, tp, cal.workspace_gib, eng.chunk_tokens, eng.max_batch)
    ctx = step_context(model, dev, bytes_per_weight=bpw, kv_bytes=KV_DTYPE_BYTES[kv_name], cal=cal, eng=eng)
    return cal, eng, bpw, kv_name, dev, ws, ctx


def _prepare(model: ModelSpec, gpu: GpuSpec, *, tp: int, mig_profile: str | None, precision: str, kv_dtype: str,
             engine: str, prompt_tokens: int, output_tokens: int, context_tokens: int | None,
             ttft_percentile: float, calibration: Calibration | None, attention_dp: int, expert_parallel: int,
             allow_multi_node: bool, replica: tuple | str | None = None):
    """Everything fixed for one case: (case, device, memory plan, memory fields, kv dtype), or the
    'cannot serve' Estimate. ``replica``: :func:`_replica` of the same arguments, when the caller holds it (the
    stacked batch computes it once for all the cases of one replica)."""
    if replica is None:
        replica = _replica(model, gpu, tp=tp, mig_profile=mig_profile, precision=precision, kv_dtype=kv_dtype,
                           engine=engine, calibration=calibration, attention_dp=attention_dp,
                           expert_parallel=expert_parallel, allow_multi_node=allow_multi_node)
    if isinstance(replica, str):
        return _cannot(replica)
    cal, eng, bpw, kv_name, dev, ws, ctx = replica
    ctx_tokens = context_tokens or prompt_tokens + output_tokens
    mem = memory_plan(model, dev, bytes_per_weight=bpw, kv_bytes=KV_DTYPE_BYTES[kv_name],
                      context_tokens=ctx_tokens, mem_util=eng.mem_util, mem_mode=eng.mem_mode,
                      workspace_gib=ws, max_batch=eng.max_batch)
    mem_fields = dict(weights_gib_per_gpu=mem.weights_gib_per_gpu, kv_bytes_per_token_per_gpu=mem.kv_bytes_per_token_per_gpu,
                      kv_capacity_tokens=mem.kv_capacity_tokens, max_concurrency=mem.max_concurrency)
    if ctx_tokens > model.max_context:
        return _cannot(f"context of {ctx_tokens:,} tokens exceeds the {model.max_context:,}-token maximum of "
                       f"{model.id}", **mem_fields)
    if not mem.fits:
        return _cannot(mem.reason, **mem_fields)
    paged = paged_concurrency(model, KV_DTYPE_BYTES[kv_name], dev.tp, mem.kv_pool_gib, prompt_tokens,
                              output_tokens) * dev.dp
    c_max = max(1, min(paged, eng.max_batch * dev.dp))
    mem = replace(mem, max_concurrency=c_max)
    mem_fields["max_concurrency"] = c_max
    p = ttft_percentile / 100.0
    case = _Case(ctx=ctx, prompt=prompt_tokens, output=output_tokens, c_max=c_max,
                 b_budget=eng.chunk_tokens,
                 t_req_s=eng.t_request_ms * 1e-3, z=NormalDist().inv_cdf(p), p=p)
    return case, dev, mem, mem_fields, kv_name


def closed_loop_curve(model: ModelSpec, gpu: GpuSpec, concurrency: Sequence[int], *, tp: int = 1,
                      precision: str = "bf16", kv_dtype: str = "auto", engine: str = "vllm",
                      prompt_tokens: int = 1000, output_tokens: int = 250, calibration: Calibration | None = None,
                      attention_dp: int = 1, expert_parallel: int = 1,
                      allow_multi_node: bool = False) -> dict[str, np.ndarray] | str:
    """Mean TTFT and TPOT (seconds) at each closed-loop concurrency, in one vectorised pass: what
    ``estimate(..., concurrency=C)`` reports for each C (``terms['ttft_mean_ms']``, ``tpot_ms``), used by the
    error report and the fit. Returns the reason string when the case cannot be served."""
    _check_args(prompt_tokens, output_tokens, None, None, None, None, 50.0, None)
    prep = _prepare(model, gpu, tp=tp, mig_profile=None, precision=precision, kv_dtype=kv_dtype, engine=engine,
                    prompt_tokens=prompt_tokens, output_tokens=output_tokens, context_tokens=None,
                    ttft_percentile=50.0, calibration=calibration, attention_dp=attention_dp,
                    expert_parallel=expert_parallel, allow_multi_node=allow_multi_node)
    if isinstance(prep, Estimate):
        return prep.reason or "cannot serve"
    return _curve(prep[0], np.asarray(concurrency, dtype=float), open_loop=False)


def usd_per_million_output_tokens(estimate: Estimate, price_usd_per_hour: float | None) -> float | None:
    """USD per 1M output tokens at ``price_usd_per_hour`` per GPU (a MIG replica pays its c/7 share).

    None without a price or when the replica serves nothing.
    """
    if price_usd_per_hour is None or estimate.output_tokens_per_s <= 0:
        return None
    gpus = estimate.terms.get("gpus_per_replica", 1.0)
    return price_usd_per_hour * gpus / (3600.0 * estimate.output_tokens_per_s) * 1e6


def estimate(model: ModelSpec, gpu: GpuSpec, *, tp: int = 1, mig_profile: str | None = None,
             precision: str = "bf16", kv_dtype: str = "auto", engine: str = "vllm",
             prompt_tokens: int = 1000, output_tokens: int = 250, context_tokens: int | None = None,
             concurrency: int | None = None, ttft_slo_ms: float | None = None, tpot_slo_ms: float | None = None,
             ttft_percentile: float = 95.0, price_usd_per_hour: float | None = None,
             calibration: Calibration | None = None, attention_dp: int = 1,
             expert_parallel: int = 1, allow_multi_node: bool = False) -> Estimate:
    """Predict one replica. Never raises for 'cannot serve' (returns fits False / requests_per_min 0 with a
    reason); raises InputError for nonsense arguments (unknown precision/engine/kv dtype/MIG profile, tp not a
    power of two, concurrency together with SLOs, ...).

    ``attention_dp`` ranks of ``tp`` GPUs each (one replica of ``tp × attention_dp`` GPUs in one NVLink
    domain) each hold their own KV cache and 1/dp of the batch; ``expert_parallel`` splits the routed experts
    over that many ranks (MoE models only; the experts are sharded over all the replica's GPUs).
    ``allow_multi_node`` lets a replica span several NVLink domains (the scale-out network carries the
    traffic between them; for measured multi-node runs — the planner's options stay within one domain)."""
    _check_args(prompt_tokens, output_tokens, context_tokens, concurrency, ttft_slo_ms, tpot_slo_ms,
                ttft_percentile, price_usd_per_hour)
    prep = _prepare(model, gpu, tp=tp, mig_profile=mig_profile, precision=precision, kv_dtype=kv_dtype,
                    engine=engine, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                    context_tokens=context_tokens, ttft_percentile=ttft_percentile, calibration=calibration,
                    attention_dp=attention_dp, expert_parallel=expert_parallel, allow_multi_node=allow_multi_node)
    if isinstance(prep, Estimate):
        return prep
    if ttft_slo_ms is not None or tpot_slo_ms is not None:
        return slo_estimate(prep, ttft_slo_ms, tpot_slo_ms, price_usd_per_hour)
    case = prep[0]
    if concurrency is not None:
        conc = concurrency
        vals = _pick(_curve(case, np.array([conc]), open_loop=False), 0)
    else:  # the maximum-throughput point: the best rate over the loads the replica admits
        conc, vals = _max_throughput(case)
    return _finish(prep, vals, conc, None, False, price_usd_per_hour)


def _refined(grid: np.ndarray, j: int) -> np.ndarray:
    """The loads the maximum-throughput search settles on around grid point ``j``: 17 whole loads spread from its
    left neighbour to its right one (fewer where they are closer)."""
    return np.unique(np.round(np.linspace(grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)], 17)))


def _max_throughput(case: _Case) -> tuple[int, dict[str, float]]:
    """(load, the curve's values there) with the most requests/s: the best point of :func:`_throughput_grid`, then
    the best of :func:`_refined` around it. The loads around the grid's last two points (c_max, where the closed
    loop's rate peaks unless it bends down before, and the point before it, where the peak is when the rate dips at
    c_max itself) are solved with the grid in one fixed-point solve, and a refinement the loads solved already cover
    needs no second one: each load's root does not depend on the others solved with it
    (``planner.perf.queueing.solve``), so the answer is the one two solves give, in about half the evaluations."""
    grid = _throughput_grid(int(case.c_max))
    loads = np.union1d(grid, np.union1d(_refined(grid, len(grid) - 1), _refined(grid, len(grid) - 2)))
    curve = _curve(case, loads, open_loop=False)
    on_grid = np.searchsorted(loads, grid)   # where each grid load sits among the loads solved
    j = int(np.argmax(curve["rps"][on_grid] + 1e-12 * grid))
    fine = _refined(grid, j)
    if len(fine) <= 1:
        return int(grid[j]), _pick(curve, int(on_grid[j]))
    at = np.searchsorted(loads, fine)   # every whole load between the best grid point's neighbours (at most 17)
    if not np.array_equal(loads[np.minimum(at, len(loads) - 1)], fine):   # not all solved yet: solve them
        loads, curve, at = fine, _curve(case, fine, open_loop=False), np.arange(len(fine))
    k = int(at[np.argmax(curve["rps"][at] + 1e-12 * fine)])
    return int(loads[k]), _pick(curve, k)


def slo_seconds(ttft_slo_ms: float | None, tpot_slo_ms: float | None) -> tuple[float, float]:
    """The SLOs in seconds, inf where not given."""
    return (math.inf if ttft_slo_ms is None else ttft_slo_ms / 1e3,
            math.inf if tpot_slo_ms is None else tpot_slo_ms / 1e3)


def slo_estimate(prep, ttft_slo_ms: float | None, tpot_slo_ms: float | None,
                 price_usd_per_hour: float | None = None, vals: dict[str, np.ndarray] | None = None,
                 low: dict[str, np.ndarray] | None = None) -> Estimate:
    """The SLO-mode Estimate of a prepared case (``_prepare``): the open-loop load with the most requests/s
    meeting both SLOs, or the reason none does. ``vals``: the curve on :func:`slo_grid`, and ``low`` on
    ``LOW_LOADS``, when a stacked batch computed them (``planner.perf.many``)."""
    case = prep[0]
    ttft_slo_s, tpot_slo_s = slo_seconds(ttft_slo_ms, tpot_slo_ms)
    found, conc, vals = _slo_search(case, ttft_slo_s, tpot_slo_s, vals, low)
    reason = None
    if not found:
        if vals["ttft_p"] > ttft_slo_s:
            reason = (f"TTFT SLO unreachable: best TTFT at concurrency {_load_text(conc)} is "
                      f"{vals['ttft_p'] * 1e3:.0f} ms > {ttft_slo_ms:g} ms")
        else:
            reason = (f"TPOT SLO unreachable: TPOT at concurrency {_load_text(conc)} is "
                      f"{vals['tpot'] * 1e3:.1f} ms > {tpot_slo_ms:g} ms")
        conc = 0
    return _finish(prep, vals, conc, reason, True, price_usd_per_hour)


def _finish(prep, vals: dict[str, float], conc, reason: str | None, slo_mode: bool,
            price_usd_per_hour: float | None) -> Estimate:
    """The Estimate at the operating point ``vals`` (one point of a curve) and load ``conc``."""
    case, dev, mem, mem_fields, kv_name = prep
    rps = 0.0 if reason else vals["rps"]
    terms = LazyTerms(lambda: _terms(case, dev, mem, vals, conc, slo_mode, kv_name))
    mem_side = vals["dec_weights_read"] + vals["dec_kv_read"]
    comp_side = vals["dec_gemm_compute"] + vals["dec_attention_compute"]
    est = Estimate(
        fits=True, reason=reason, **mem_fields, concurrency=int(max(1, round(conc))) if conc else 0, tpot_ms=vals["tpot"] * 1e3,
        ttft_ms=vals["ttft_p"] * 1e3, output_tokens_per_s=rps * case.output, requests_per_min=60.0 * rps,
        bound="memory" if mem_side >= comp_side else "compute", usd_per_million_output_tokens=None, terms=terms)
    if price_usd_per_hour is not None:
        est = replace(est, usd_per_million_output_tokens=usd_per_million_output_tokens(est, price_usd_per_hour))
    return est


def _terms(case: _Case, dev: Device, mem, vals: dict[str, float], conc: int, slo_mode: bool,
           kv_name: str) -> dict[str, float]:
    """The --explain breakdown at the operating point, units in the names."""
    ctx, s = case.ctx, case.ctx.shape
    b = vals["decode_batch"]
    n_tok = b + b * case.prompt / case.output
    weights_per_step = ctx.bytes_per_weight * (s.p_fixed + s.p_expert * float(experts_touched(s, np.array(n_tok))))
    one = step_time(ctx, 1.0, 0.0, case.prompt + case.output / 2.0, 0.0)
    iso = float(prefill_time(ctx, case.prompt))
    terms = {
        "gpus_per_replica": dev.gpu_share,
        "tp": float(dev.tp),
        "attention_dp": float(dev.dp),
        "expert_parallel": float(dev.ep),
        "mem_gib_per_gpu": dev.mem_gib,
        "mem_bw_gbps_per_gpu": dev.bw_gbps,
        "gemm_peak_tflops_per_gpu": dev.peak_tflops,
        "link_gbps_per_gpu": dev.link_gbps,
        "kv_pool_gib_per_gpu": mem.kv_pool_gib,
        "kv_bytes_per_sequence_per_gpu": mem.kv_bytes_per_sequence,
        "kv_dtype_bytes": KV_DTYPE_BYTES[kv_name],
        "batch_cap_prefill_budget_seqs": float(case.b_budget),
        "decode_batch_seqs": b,
        "prefill_tokens_per_step": b * case.prompt / case.output,
        "weights_read_gb_per_step_per_replica": weights_per_step / 1e9,
        "decode_weights_read_ms": vals["dec_weights_read"] * 1e3,
        "decode_gemm_compute_ms": vals["dec_gemm_compute"] * 1e3,
        "decode_kv_read_ms": vals["dec_kv_read"] * 1e3,
        "decode_attention_compute_ms": vals["dec_attention_compute"] * 1e3,
        "decode_allreduce_ms": vals["dec_allreduce"] * 1e3,
        "decode_overhead_ms": vals["dec_overhead"] * 1e3,
        "tpot_ms": vals["tpot"] * 1e3,
        "single_seq_tpot_ms": float(one["total"]) * 1e3,
        "bandwidth_ceiling_tok_per_s_per_seq": ctx.dev.bw_gbps * 1e9 * dev.tp / (ctx.bytes_per_weight * (
            s.p_fixed + s.p_expert * float(experts_touched(s, np.array(1.0))) * ctx.bw_eff / ctx.exp_bw_eff)),
        "compute_ceiling_tok_per_s": ctx.dev.peak_tflops * 1e12 * dev.tp / (2.0 * s.p_active_body),
        "isolated_prefill_ms": iso * 1e3,
        "ttft_request_overhead_ms": case.t_req_s * 1e3,
        "ttft_step_wait_ms": vals["residual"] * 1e3,
        "ttft_prefill_under_load_ms": vals["prefill"] * 1e3,
        "ttft_queue_ms": vals["wait_p"] * 1e3,
        "ttft_dp_balance_wait_ms": vals["wait_balance"] * 1e3,
        "ttft_mean_ms": vals["ttft_mean"] * 1e3,
        "request_hold_s": vals["hold"],
        "open_loop": 1.0 if slo_mode else 0.0,
        "concurrency": float(conc),
    }
    if s.n_experts:
        terms["experts_touched_per_moe_layer"] = float(experts_touched(s, np.array(n_tok)))
        # < 1 on the weight-only INT4 path of a group-scaled INT4 checkpoint (the engine's wna16_moe_read)
        terms["expert_weights_bandwidth_share"] = ctx.exp_bw_eff / ctx.bw_eff
    return terms


def _gpu_matches(name: str, gpu: GpuSpec) -> bool:
    key = normalize_name(name)
    return key in {normalize_name(n) for n in (gpu.id, *gpu.aliases)}


def _override_for(overrides: Sequence["CapacityOverride"], workload_id: str, gpu: GpuSpec, precision: str,
                  tp: int, mig_profile: str | None, prompt: int, output: int) -> "CapacityOverride | None":
    """The override for this case; one naming the bucket beats a generic one."""
    generic = None
    for ov in overrides:
        if ov.workload != workload_id or not _gpu_matches(ov.gpu, gpu) or ov.precision != precision:
            continue
        if ov.tp != tp or (ov.mig_profile or "").lower() != (mig_profile or "").lower():
            continue
        if ov.prompt_tokens is None:
            generic = generic or ov
        elif (ov.prompt_tokens, ov.output_tokens) == (prompt, output):
            return ov
    return generic


def bucket_kwargs(workload: "Workload", bucket, *, tp: int, mig_profile: str | None, precision: str,
                  calibration: Calibration | None) -> dict:
    """The :func:`estimate` arguments of one bucket of a workload at its SLOs."""
    return dict(tp=tp, mig_profile=mig_profile, precision=precision, kv_dtype=workload.kv_cache_dtype,
                engine=workload.engine, prompt_tokens=bucket.prompt_tokens, output_tokens=bucket.output_tokens,
                context_tokens=workload.context_tokens, ttft_slo_ms=workload.ttft_slo_ms,
                tpot_slo_ms=workload.tpot_slo_ms, ttft_percentile=workload.ttft_percentile,
                calibration=calibration)


def apply_override(est: Estimate, overrides: Sequence["CapacityOverride"], workload: "Workload", gpu: GpuSpec,
                   precision: str, tp: int, mig_profile: str | None, bucket) -> Estimate:
    """``est`` with the scenario's capacity override for this case applied (none: unchanged)."""
    ov = _override_for(overrides, workload.id, gpu, precision, tp, mig_profile,
                       bucket.prompt_tokens, bucket.output_tokens)
    if ov is None:
        return est
    terms = {**est.terms, "capacity_override_rpm": ov.requests_per_min}
    if ov.requests_per_min == 0:
        src = f" ({ov.source})" if ov.source else ""
        return replace(est, fits=False, reason=f"capacity override: 0{src}", requests_per_min=0.0,
                       output_tokens_per_s=0.0, terms=terms)
    return replace(est, fits=True, reason=None, requests_per_min=ov.requests_per_min,
                   output_tokens_per_s=ov.requests_per_min / 60.0 * bucket.output_tokens, terms=terms)
