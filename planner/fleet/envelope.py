r"""The peak envelope of a horizon: one period in which every workload has its busiest demand, and its fleet run
in every period.

Used by ``planner.fleet.restricted`` on horizons of several periods (a daily profile: XL has 24), whose programs
its solver cannot improve within the time limit (XL-1's restricted program over ~500 options x 24 periods: the
constructive start after 40 s), while one period's program solves in a second or two. Symbols as in
``planner.fleet.formulation``.

The envelope period E has lambda_{w,E} = max_t lambda_{w,t}, hours H = sum_t h_t, and each offer's price factor
the hours-weighted mean of its factors, sum_t h_t f_{o,t} / H (1 in ``plan solve``). Its fleet, repeated, meets
every period's rows: (n_o, m_o, r_d, g_{o,k}) of a point of E's program, the same in every period t, with the loads
x_{d,b,t} = x_{d,b,E} lambda_{w,t} / lambda_{w,E}:

- demand, capacity, minimum replicas, node packing, MIG patterns, caps: each row of t is E's row with the loads
  scaled by lambda_{w,t} / lambda_{w,E} <= 1 (capacity: sum_b x_{d,b,t} / (a cap) <= the same sum at E <= rho r);
- the spot hedge: the non-spot floor, each pool-loss routing y and each node-loss state's routing z scale the same
  way (their right-hand sides are shares of lambda_{w,t}); the state switches e_{m,t}, u, sigma, y_P and the
  budget row's f_t depend only on the spot nodes, the same as at E;
- the objective is sum_t h_t P_t / H = P_E (the same nodes, the mean price factor), and a ``budget_usd_per_hour``
  row holds in each period whenever it holds at E and the factors do not vary (``plan solve``); where they vary the
  completion below finds the break and the rung gives nothing.

So the envelope's optimum bounds the horizon's optimum from above, never below (a daily peak served all day). The
fleet enters the horizon's program as a start whose integer columns (nodes, reserved, replicas, MIG patterns) are
fixed and the rest (loads, the hedge's binaries) completed by the solver (``planner.fleet.restrict.complete``):
a plan of the program, checked against all its rows and then verified independently. ``by_period`` then
solves each period's own program from that fleet, the reserved nodes held at the envelope's (their count is one
per epoch, so the periods' fleets fit together), and completes the periods' fleets together the same way. Only
for one epoch and no commitments (``plan forecast``'s reserved terms span epochs; ``planner.fleet.restricted`` is
not used there).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from planner.fleet.formulation import BuildOutOfTime, Formulation, build
from planner.fleet.horizon import Horizon, PeriodSpec
from planner.fleet.restrict import complete
from planner.fleet.start import carry_start
from planner.problem import Solution, SolveOptions, cheaper_than
from planner.scenario.model import Scenario
from solvers.registry import get_backend

# ``by_period`` keeps this share of its time for completing the periods' fleets together in the horizon's program
# (XL-2: its hedge's binaries for 24 hours; with the periods' solves taking all the time it failed every time)
COMPLETE_SHARE = 0.25
SPREAD_BLOCKS = ("nodes", "reserved", "replicas", "mig")  # the integer blocks of a start (``planner.fleet.start``)


def envelope_horizon(horizon: Horizon) -> Horizon | None:
    """The one-period horizon of the peak envelope (module docstring); None for one period, several epochs or
    commitments."""
    periods = horizon.periods
    if len(periods) < 2 or horizon.commitments is not None or len({p.epoch for p in periods}) > 1:
        return None
    hours = sum(p.hours for p in periods)
    if hours <= 0:
        return None
    demand: dict[str, float] = {}
    for p in periods:
        for w, lam in p.demand_rpm.items():
            demand[w] = max(demand.get(w, 0.0), lam)
    offers = {o for p in periods for o in p.price_factor}
    factor = {o: sum(p.hours * p.price_multiplier(o) for p in periods) / hours for o in sorted(offers)}
    peak = PeriodSpec(name="peak envelope", hours=hours, epoch=periods[0].epoch, demand_rpm=demand,
                      price_factor=factor)
    return replace(horizon, periods=(peak,))


def spread(f_env: Formulation, values: np.ndarray, f: Formulation) -> tuple[np.ndarray, np.ndarray]:
    """(columns, values) of f's integer start blocks for the envelope point ``values`` of ``f_env`` (f's program
    over the same options and the envelope horizon): each period's column takes its envelope twin's value."""
    p_env, p = f_env.problem, f.problem
    at = {p_env.var_key(int(j)): int(j) for block in SPREAD_BLOCKS for j in p_env.block_columns(block)}
    cols, vals = [], []
    for block in SPREAD_BLOCKS:
        for j in p.block_columns(block):
            key = p.var_key(int(j))
            twin = at.get(key if block == "reserved" else (*key[:-1], 0))
            cols.append(int(j))
            vals.append(0.0 if twin is None else float(values[twin]))
    return np.asarray(cols, dtype=np.int64), np.asarray(vals, dtype=float)


def by_period(s: Scenario, horizon: Horizon, settings, extra_blocks, solver: str, until: Callable[[], float],
              env: tuple[Formulation, Solution], whole: Formulation, gap: float, min_s: float) -> Solution | None:
    """Each period t's own program over ``whole``'s options (its horizon the period alone), the reserved nodes fixed
    at the envelope's, solved from the envelope's fleet (a point of it: the envelope's demand is at least t's); the
    periods' fleets together, the rest completed in the horizon's program ``whole`` (``complete``). A period not
    solved in time, or not cheaper, keeps the envelope's fleet, so the result costs at most the envelope's. None when
    no period improved or the completion failed. ``settings``: ``planner.fleet.solve.SolveSettings``; ``min_s``: no
    period is started with less left.

    The periods are solved in turn, each in an even share of what is left before ``until()`` (less ``COMPLETE_SHARE``
    of it); what their solves leave (a period solved to its gap before its limit, a solver that gave up) goes to a
    second pass: first to the periods still at the envelope's fleet, then to those with the most left open (objective
    less bound), each from its best fleet so far, in even shares but none shorter than a first-pass share. Splitting
    the time into two passes up front was measured and dropped: a period's solve improves on the envelope's fleet
    only once past its root (XL-2 at 120 s: ~1 s), and 0.6 of an even share left as many periods unimproved in both
    passes (XL-2: 296.9 and 299.4 USD/h, where one pass gives ~287)."""
    f_env, sol_env = env
    cols, vals = spread(f_env, sol_env.values, whole)
    value = dict(zip(cols.tolist(), vals.tolist()))
    by_t: dict[int, list] = {}   # period -> (the horizon program's column, its twin's key in the period's program)
    for block in ("nodes", "replicas", "mig"):
        for j in whole.problem.block_columns(block).tolist():
            key = whole.problem.var_key(j)
            by_t.setdefault(key[-1], []).append((j, (*key[:-1], 0)))
    reserved = f_env.problem.block_columns("reserved")
    t0 = time.perf_counter()
    keep = COMPLETE_SHARE * (until() - t0)   # for the completion of all periods together

    built: dict[int, tuple[Formulation, object]] = {}   # period -> its program, and that with the reserved nodes fixed
    best: dict[int, Solution] = {}   # period -> its solution cheaper than the envelope's

    def run(t: int, f: Formulation, problem, limit: float) -> None:
        start = (np.arange(problem.n_vars), best[t].values) if t in best else carry_start(f_env, sol_env.values, f)
        sol = get_backend(solver, problem).solve(problem, SolveOptions(time_limit_s=max(limit, 0.1), mip_gap=gap,
                                                                       start=start))
        now = best[t].objective if t in best else sol_env.objective
        if sol.has_values and cheaper_than(sol.objective, now):
            best[t] = sol

    for t, per in enumerate(horizon.periods):
        if until() - keep - time.perf_counter() < min_s:
            break
        try:
            f = build(s, whole.options, replace(horizon, periods=(per,)), allow_unmet=settings.allow_unmet,
                      extra_blocks=extra_blocks, project_loads=settings.project_loads, deadline=until() - keep)
        except BuildOutOfTime:
            break
        fixed = np.asarray([f.problem.index(f_env.problem.var_key(int(j))) for j in reserved], dtype=np.int64)
        built[t] = (f, f.problem.with_bounds(fixed, sol_env.values[reserved], sol_env.values[reserved]))
        run(t, *built[t], (until() - keep - time.perf_counter()) / (len(horizon.periods) - t))
    again = sorted((t for t in built if t not in best or best[t].status != "optimal"),
                   key=lambda t: (t in best, -_open(best.get(t)), t))
    share = (until() - keep - t0) / len(horizon.periods)   # a period's in the first pass
    for k, t in enumerate(again):
        rest = until() - keep - time.perf_counter()
        if rest < min_s:
            break
        run(t, *built[t], max(rest / (len(again) - k), min(share, rest)))
    for t, sol in best.items():
        f = built[t][0]
        at = {f.problem.var_key(int(j)): int(j) for block in ("nodes", "replicas", "mig")
              for j in f.problem.block_columns(block)}
        for j, twin in by_t.get(t, ()):
            value[j] = float(sol.values[at[twin]]) if twin in at else 0.0
    if not best:
        return None
    return complete(whole.problem, solver, (np.asarray(list(value), dtype=np.int64), np.asarray(list(value.values()))),
                    max(until() - time.perf_counter(), 0.1), gap)


def _open(sol: Solution | None) -> float:
    """What a period's solution leaves open, objective less bound (0 without one)."""
    if sol is None or sol.bound is None or not np.isfinite(sol.bound):
        return 0.0
    return max(sol.objective - sol.bound, 0.0)
