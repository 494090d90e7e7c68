"""Many SLO-mode estimates at once: every case's queueing fixed point solved in one stacked, vectorised pass.

The planner asks the performance model for thousands of cases (workload bucket × GPU × precision × TP × MIG
profile): 100 workloads × 12 GPUs is ~11,000 SLO searches, each a regula-falsi solve on a ≤ 64-point load
grid. One case at a time, numpy's per-call overhead dominates (each solve is ~16 rounds on 64 numbers).
Here the grids of all cases are laid end to end — point ``j`` of the stack belongs to case ``k(j)`` — and
the step-time coefficients (``planner.perf.step_coef.StepCoef``) and the loop's fields
(``planner.perf.queueing.Loop``) become arrays indexed the same way, so one ``solve`` runs every case::

    stack   = grid_1 ‖ grid_2 ‖ … ‖ grid_K          coef[j] = coef_{k(j)},  loop[j] = loop_{k(j)}
    state   = solve(eval_step(coef, ·), loop, stack)   → sliced back per case

The solve is elementwise and freezes each point where it converges, so each case's answer is the one
:func:`planner.perf.estimate.estimate` gives alone (to rounding in the last bits; the tests compare them).
What the SLO search reads of the fixed point (the slot queue's Erlang-C wait, one call per distinct slot
count; the TTFT percentile; the decode step's terms) is computed over the whole stack by the same functions
``estimate`` uses (``curve_terms``, ``decode_terms``), and so is each grid's best load (``stacked_search``); the
``Estimate`` and its terms are made per case, and a case whose grid has no load meeting its SLOs is searched on its
own (below load 1). Stacks are cut at ``MAX_POINTS`` points to bound memory.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from planner.catalog import GpuSpec, ModelSpec
from planner.perf.estimate import (CurveRows, Estimate, _check_args, _finish, _loop, _meets, _prepare, _replica,
                                   apply_override, bucket_kwargs, curve_terms, erlang_c_grouped, estimate, LOW_LOADS,
                                   grid_starts, settled_neighbour, slo_caps, slo_estimate, slo_grid, slo_seconds)
from planner.perf.queueing import Loop, solve
from planner.perf.stacked_search import best_loads
from planner.perf.step_coef import CoefStep, decode_terms, stack_coefs, step_coef

if TYPE_CHECKING:  # types only
    from planner.perf.calibration import Calibration
    from planner.scenario.model import CapacityOverride, Workload

MAX_POINTS = 65_536
_DEFAULTS = {n: p.default for n, p in inspect.signature(estimate).parameters.items()
             if p.kind is inspect.Parameter.KEYWORD_ONLY}
_REPLICA = ("tp", "mig_profile", "precision", "kv_dtype", "engine", "calibration", "attention_dp", "expert_parallel",
            "allow_multi_node")
_PREPARE = _REPLICA + ("prompt_tokens", "output_tokens", "context_tokens", "ttft_percentile")
_LOOP_FIELDS = ("prompt", "output", "c_max", "budget", "t_req_s", "ranks", "phase", "balance")


@dataclass(frozen=True)
class Request:
    """One :func:`planner.perf.estimate.estimate` call: its model, GPU and keyword arguments."""

    model: ModelSpec
    gpu: GpuSpec
    kwargs: dict[str, Any]


def _solve_stack(items: list[tuple[int, Any, np.ndarray]],
                 slos: dict[int, tuple[float, float]] | None = None) -> tuple[dict[int, CurveRows], CurveRows | None]:
    """Solve the open-loop fixed points of ``items`` ((index, case, grid)) in one stacked pass, and what
    the SLO search reads of them (slot queue, TTFT percentile, decode-step terms) over the whole stack:
    (index -> that curve on the case's grid, the whole stack's curve; None without items). ``slos``: index -> TTFT
    and TPOT SLOs (seconds) of an SLO search's grid, whose loads proven above one settle early (``estimate.slo_caps``);
    every curve has the ``"settled"`` row, 0 where a load was solved to its root."""
    if not items:
        return {}, None
    cases = [case for _, case, _ in items]
    counts = [len(grid) for _, _, grid in items]
    coef = stack_coefs([step_coef(c.ctx, c.prompt + c.output / 2.0, c.prompt / 2.0) for c in cases], counts)
    loops = [_loop(c, open_loop=True) for c in cases]
    fields = {f: np.repeat(np.array([float(getattr(lp, f)) for lp in loops]), counts) for f in _LOOP_FIELDS}
    for f in ("ranks", "phase", "balance"):   # the same in every case: one number, so the loop skips the terms a
        if np.all(fields[f] == fields[f][0]):   # scalar 1 rank, 0 phase (always, open loop) or 0 hold leaves out
            fields[f] = float(fields[f][0])
    conc = np.concatenate([grid for _, _, grid in items])
    caps = None if slos is None else slo_caps(*([slos[idx][k] for idx, _, _ in items] for k in (0, 1)), counts)
    ttft_cap, tpot_cap = (None, None) if caps is None else caps
    st = solve(CoefStep(coef), Loop(**fields, closed=False), conc, ttft_cap=ttft_cap, tpot_cap=tpot_cap)
    servers = fields["c_max"]
    p = np.repeat(np.array([c.p for c in cases]), counts)
    vals = curve_terms(st, conc, servers, p, True, decode_terms(coef, st["decode_batch"]),
                       p_wait=erlang_c_grouped(servers, conc))
    vals["settled"] = st["settled"] if caps is not None else 0.0
    row = {k: i for i, k in enumerate(vals)}
    matrix = np.vstack([np.broadcast_to(np.asarray(v, dtype=float), conc.shape) for v in vals.values()])
    out, start = {}, 0
    for (idx, _, _), n in zip(items, counts):
        out[idx] = CurveRows(row, matrix[:, start:start + n])
        start += n
    return out, CurveRows(row, matrix)


def _none_met(items: list[tuple[int, Any, np.ndarray]], whole: CurveRows,
              slos: dict[int, tuple[float, float]]) -> set[int]:
    """The indices of a solved stack (``_solve_stack``: its items and whole curve) whose grid starts at load 1 and
    has no load meeting both SLOs (``slos``: index -> TTFT and TPOT SLOs in seconds), those for which
    ``estimate._slo_search`` looks below load 1: the search's own test (``estimate._meets``) over the whole stack."""
    counts = [len(grid) for _, _, grid in items]
    ttft_s, tpot_s = (np.repeat(np.array([slos[idx][k] for idx, _, _ in items]), counts) for k in (0, 1))
    starts = grid_starts(counts)
    met = np.logical_or.reduceat(_meets(whole, ttft_s, tpot_s) & (whole["settled"] == 0), starts)
    return {idx for (idx, _, grid), any_met in zip(items, met) if grid[0] >= 1 and not any_met}


def _any_settled(items: list[tuple[int, Any, np.ndarray]], whole: CurveRows) -> np.ndarray:
    """For each item of a solved stack, whether any load of its grid settled (``whole``: the stack's curve)."""
    return np.logical_or.reduceat(whole["settled"] != 0, grid_starts([len(grid) for _, _, grid in items]))


def estimate_many(requests: Sequence[Request]) -> list[Estimate]:
    """``[estimate(r.model, r.gpu, **r.kwargs) for r in requests]``, with the SLO-mode fixed points solved in
    stacked batches. Requests without an SLO (a concurrency, or the maximum-throughput point) and nonsense
    arguments go through :func:`estimate` itself (which raises what it raises)."""
    out: list[Estimate | None] = [None] * len(requests)
    pending: dict[float, list[tuple[int, Any, np.ndarray]]] = {}   # smooth-roofline exponent -> cases
    preps: dict[int, Any] = {}
    replicas: dict[tuple, Any] = {}   # what one replica's cases share (``_replica``), computed once per replica
    for i, r in enumerate(requests):
        unknown = r.kwargs.keys() - _DEFAULTS.keys()
        if unknown:
            raise TypeError(f"estimate() got unexpected keyword arguments {sorted(unknown)}")
        kw = {**_DEFAULTS, **r.kwargs}   # every keyword argument of estimate(), defaults filled in
        if kw["concurrency"] is not None or (kw["ttft_slo_ms"] is None and kw["tpot_slo_ms"] is None):
            out[i] = estimate(r.model, r.gpu, **r.kwargs)
            continue
        _check_args(kw["prompt_tokens"], kw["output_tokens"], kw["context_tokens"], None, kw["ttft_slo_ms"],
                    kw["tpot_slo_ms"], kw["ttft_percentile"], kw["price_usd_per_hour"])
        # keyed by identity: the requests hold the model, GPU and calibration objects for the whole call
        key = (id(r.model), id(r.gpu), id(kw["calibration"])) + tuple(kw[k] for k in _REPLICA if k != "calibration")
        if key not in replicas:
            replicas[key] = _replica(r.model, r.gpu, **{k: kw[k] for k in _REPLICA})
        prep = _prepare(r.model, r.gpu, **{k: kw[k] for k in _PREPARE}, replica=replicas[key])
        if isinstance(prep, Estimate):
            out[i] = prep
            continue
        preps[i] = (prep, kw)
        pending.setdefault(float(prep[0].ctx.p), []).append((i, prep[0], slo_grid(prep[0])))
    for items in pending.values():
        batch: list[tuple[int, Any, np.ndarray]] = []
        size = 0
        for item in items + [None]:
            if item is None or (batch and size + len(item[2]) > MAX_POINTS):
                slos = {i: slo_seconds(preps[i][1]["ttft_slo_ms"], preps[i][1]["tpot_slo_ms"]) for i, _, _ in batch}
                curves, whole = _solve_stack(batch, slos)
                none_met = _none_met(batch, whole, slos)
                # the loads the search interpolates towards that settled early: solved to their roots in one more pass
                # (only the cases with a settled load are looked at: one test over the whole stack)
                again = [(i, case, grid[j:j + 1], j) for (i, case, grid), hit in zip(batch, _any_settled(batch, whole))
                         if hit and (j := settled_neighbour(grid, curves[i], *slos[i])) is not None]
                roots = _solve_stack([(i, case, one) for i, case, one, _ in again])[0]
                for i, _, _, j in again:
                    curves[i].matrix[:, j] = roots[i].matrix[:, 0]
                # the cases no load of whose grid meets the SLOs: their loads below 1 in one more stacked pass
                low = _solve_stack([(i, case, LOW_LOADS) for i, case, _ in batch if i in none_met])[0]
                # each grid's best load for the whole stack at once; the rest search on their own
                picks = best_loads(np.concatenate([grid for _, _, grid in batch]), whole,
                                   [len(grid) for _, _, grid in batch],
                                   *(np.array([slos[i][k] for i, _, _ in batch]) for k in (0, 1)))
                for (i, _, _), pick in zip(batch, picks):
                    prep, kw = preps[i]
                    if pick is not None:
                        out[i] = _finish(prep, pick[1], pick[0], None, True, kw["price_usd_per_hour"])
                    else:
                        out[i] = slo_estimate(prep, kw["ttft_slo_ms"], kw["tpot_slo_ms"], kw["price_usd_per_hour"],
                                              vals=curves[i], low=low.get(i))
                batch, size = [], 0
            if item is not None:
                batch.append(item)
                size += len(item[2])
    return out  # type: ignore[return-value]


def capacity_for_workload(model: ModelSpec, gpu: GpuSpec, workload: "Workload", *, tp: int = 1,
                          mig_profile: str | None = None, precision: str = "bf16",
                          calibration: "Calibration | None" = None,
                          overrides: Sequence["CapacityOverride"] = ()) -> list[Estimate]:
    """One Estimate per ``workload.buckets`` entry (same order) at the workload's SLOs; scenario
    ``capacity_overrides`` replace the model for their case (0 = cannot serve). The buckets' SLO searches are
    solved in one stacked pass (:func:`estimate_many`: each the answer ``estimate`` gives it alone, to rounding
    in the last bits; ``tests/test_perf_many.py``), as the planner's options stage solves many (workload, GPU,
    TP, ...) cases at once (:func:`capacities_for_workloads`)."""
    return capacities_for_workloads([(model, gpu, workload, precision, tp, mig_profile, 1, 1)], calibration,
                                    overrides)[0]


def capacities_for_workloads(cases: Sequence[tuple], calibration=None, overrides=()) -> list[list[Estimate]]:
    """One list of bucket Estimates per case ``(model, gpu, workload, precision, tp, mig_profile, attention_dp,
    expert_parallel)``: what ``capacity_for_workload`` (plain replicas, scenario overrides applied) or
    ``planner.perf.parallel.capacity_ep_dp`` (``tp`` GPUs per attention rank) returns, through
    :func:`estimate_many`."""
    requests, where = [], []
    for k, (model, gpu, workload, precision, tp, prof, dp, ep) in enumerate(cases):
        for bucket in workload.buckets:
            kw = bucket_kwargs(workload, bucket, tp=tp, mig_profile=prof, precision=precision,
                               calibration=calibration)
            if dp > 1 or ep > 1:
                kw.update(attention_dp=dp, expert_parallel=ep)
            requests.append(Request(model, gpu, kw))
            where.append((k, bucket))
    ests = estimate_many(requests)
    out: list[list[Estimate]] = [[] for _ in cases]
    for est, (k, bucket) in zip(ests, where):
        model, gpu, workload, precision, tp, prof, dp, ep = cases[k]
        if dp == 1 and ep == 1:
            est = apply_override(est, overrides, workload, gpu, precision, tp, prof, bucket)
        out[k].append(est)
    return out
