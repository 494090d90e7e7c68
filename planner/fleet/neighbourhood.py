r"""A neighbourhood search from a plan of the program: a few workloads at a time re-planned over all their options,
the rest of the fleet's replicas held.

After the restricted ladder (``planner.fleet.restricted``) the best plan holds the options its rungs kept (the k
cheapest per request, the workloads' own choices); what it cannot reach is a plan in which several workloads move
to options none of the rungs kept, and re-pack the nodes they share. Each step here (large neighbourhood search,
as in MIP solvers' RINS and local branching) picks a set W of ``m`` workloads and solves the full formulation
(``planner.fleet.formulation.build``, the spot hedge included) over

    the ladder's options  U  the deployments the incumbent uses  U  every option of the workloads in W,

with every replica column r_{d,t} of a workload outside W fixed at the incumbent's value. Node counts, reserved
nodes, MIG patterns, loads and the hedge's columns stay free, so the workloads in W re-pack the nodes that the
others leave and the others' loads re-route. The incumbent is a point of the step's program (``carry_start``: its
fleet with every other deployment at 0 replicas), so a step's solution costs at most the incumbent's; it is kept
when it is cheaper. Every step's program is the scenario's own formulation over a subset of its deployments, so
its solution is a plan of the scenario (the others at 0, as for a restricted program); the plan is then checked
against every row of the program it came from and verified independently (``restricted.plan_of``).

A heuristic for the incumbent: it proves nothing, and the plan it improves is printed ``feasible`` with the full
program's bound. W is drawn at random (seeded, so one scenario gives the same sequence of steps), its size ``m``
grows by one after ``GROW_AFTER`` steps in a row solved without improving and shrinks after a step that hit its
time limit. In ``plan solve`` at 60 s the search has what the rungs leave of the ladder's core, ~20 s on L:
L-1 382.7 -> 376.3, L-2 333.0 -> 327.2, L-3 338.4 -> 335.3 USD/h (``python -m bench.frozen --only L``, one run each,
docs/BENCHMARKS.md "Nineteenth pass"). Tried and not kept: W grown from one random workload by those sharing an
offer with it (they share nodes), which improved L-1 by 0.2-0.5 % in 20 s where random sets of the same size did by
1.1-1.7 %; the search on the peak envelope of XL (its by-period rung then started from a fleet with more reserved
nodes, all day: XL-1 379.6 against 342.3 USD/h without it).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import numpy as np

from planner.fleet.formulation import BuildOutOfTime, Formulation, build
from planner.fleet.horizon import Horizon
from planner.fleet.options import OptionSet
from planner.fleet.start import carry_start
from planner.problem import Solution, SolveOptions, cheaper_than
from planner.scenario.model import Scenario
from solvers.registry import get_backend

WORKLOADS = 8  # workloads re-planned per step, at first
GROW_AFTER = 4  # steps in a row solved to optimality without improving before m grows by one
STEP_S = 3.0  # each step's solver limit (most steps on L solve in under a second)
MIN_STEP_S = 0.3  # no step is started with less left


def search(s: Scenario, options: OptionSet, horizon: Horizon, settings, extra_blocks, solver: str,
           start: tuple[Formulation, Solution], until: Callable[[], float], seed: int = 0,
           fresher: Callable[[float], tuple[Formulation, Solution] | None] | None = None,
           ) -> tuple[Formulation, Solution, int] | None:
    """Steps of the module docstring from the incumbent ``start`` (a program over a subset of ``options`` and its
    solution) until ``until()`` (a ``time.perf_counter`` value; it may move while the search runs); (program,
    solution, steps that improved) of the cheapest plan found, None when no step improved. ``fresher(objective)``,
    when given, is asked before each step for a cheaper incumbent found elsewhere (the full program's solver beside
    the search: ``planner.fleet.incumbents``), which the search then continues from."""
    f, sol = start
    base = {d.key for d in f.options.deployments}
    ids = [w.id for w in s.workloads if options.for_workload(w.id)]
    rng, m, idle, improved = random.Random(seed), min(WORKLOADS, len(ids)), 0, 0
    gap = s.policy.mip_gap
    while ids and until() - time.perf_counter() >= MIN_STEP_S:
        newer = fresher(sol.objective) if fresher is not None else None
        if newer is not None:
            f, sol = newer
        chosen = set(rng.sample(ids, m))
        step = _step(s, options, horizon, settings, extra_blocks, solver, (f, sol), base, chosen, gap,
                     min(STEP_S, until() - time.perf_counter()))
        if step is None:
            break
        g, new = step
        better = new.has_values and cheaper_than(new.objective, sol.objective)
        if better:
            f, sol, idle, improved = g, new, 0, improved + 1
        if new.status == "optimal" and m == len(ids):
            break   # nothing was held: that was the program over every option, solved
        if better:
            continue
        if new.status == "optimal":
            idle += 1
            if idle >= GROW_AFTER and m < len(ids):
                m, idle = m + 1, 0
        else:   # stopped at its limit: a smaller neighbourhood next
            m, idle = max(1, m - 1), 0
    return (f, sol, improved) if improved else None


def step_options(options: OptionSet, base: set, f: Formulation, sol: Solution, chosen: set[str]) -> OptionSet:
    """The step's deployments, renumbered 0.. in ``options``' order: ``base``, those of f with replicas in ``sol``,
    and every option of the workloads in ``chosen``."""
    keys = set(base) | {d.key for w in chosen for d in options.for_workload(w)}
    p = f.problem
    for j in p.block_columns("replicas").tolist():
        if sol.values[j] > 0.5:
            keys.add(f.options.deployments[p.var_key(j)[1]].key)
    return options.only(keys)


def held(g: Formulation, cols: np.ndarray, vals: np.ndarray, chosen: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """(columns, values) of g's replica columns of the workloads outside ``chosen``, at the start's values."""
    at = dict(zip(cols.tolist(), vals.tolist()))
    p = g.problem
    fix = [j for j in p.block_columns("replicas").tolist()
           if g.options.deployments[p.var_key(j)[1]].workload not in chosen]
    return np.asarray(fix, dtype=np.int64), np.asarray([at.get(j, 0.0) for j in fix], dtype=float)


def _step(s, options, horizon, settings, extra_blocks, solver, incumbent, base, chosen, gap, limit_s):
    """One step: (its program, its solution), or None when its program could not be built in time."""
    f, sol = incumbent
    sub = step_options(options, base, f, sol, chosen)
    deadline = time.perf_counter() + limit_s
    try:
        g = build(s, sub, horizon, allow_unmet=settings.allow_unmet, extra_blocks=extra_blocks,
                  project_loads=settings.project_loads, deadline=deadline)
    except BuildOutOfTime:
        return None
    cols, vals = carry_start(f, sol.values, g)
    fix, at = held(g, cols, vals, chosen)
    problem = g.problem.with_bounds(fix, at, at)
    left = deadline - time.perf_counter()
    if left < 0.05:
        return None
    return g, get_backend(solver, problem).solve(problem, SolveOptions(time_limit_s=left, mip_gap=gap,
                                                                        start=(cols, vals)))
