"""Which verified plan is printed, and the bound it carries: the better of two candidates, and the best proven
lower bound (a solver's, or the closed-form ``planner.fleet.share_bound``) with the gap and status it gives.

Every bound here bounds every plan of the scenario, so it may travel from one candidate to another; ``optimal``
is claimed only where the gap it leaves is within ``policy.mip_gap``.
"""

from __future__ import annotations

import numpy as np

from planner.fleet.formulation import Formulation
from planner.fleet.share_bound import share_bound
from planner.plan import Plan
from planner.problem import cheaper_than, zero_gap


def bound_of(f: Formulation, solver_bound: float | None = None) -> float | None:
    """The better of a solver's proven bound (None or -inf: none) and the closed-form ``share_bound`` of f's
    scenario (before any merge; the reductions are exact, so a bound of the reduced program bounds the scenario)."""
    s, options = f.unmerged()
    bounds = [b for b in (solver_bound, share_bound(s, options, f.horizon, f.allow_unmet))
              if b is not None and np.isfinite(b)]
    return max(bounds) if bounds else None


def cheaper(a: Plan | None, b: Plan | None) -> Plan | None:
    """The cheaper of two verified plans (either may be None); a on ties."""
    if a is None or b is None:
        return a if b is None else b
    return b if cheaper_than(b.objective_usd_per_hour, a.objective_usd_per_hour) else a


def with_bound(plan: Plan, bound: float | None, mip_gap: float) -> Plan:
    """``plan`` with ``bound`` (a lower bound on every plan of the scenario) where it is higher than its own, and
    the gap and status that follow: ``optimal`` only when that gap is within ``mip_gap``.

    A bound above the cost of ``plan``, a verified plan of the scenario, by more than the zero-gap tolerance of
    ``planner.problem`` cannot be a lower bound: it is not carried, and the message says so. Such a bound is a proof
    that failed (HiGHS 1.16 with lifting for probing "proved" 57.20 USD/h optimal on a program with a verified plan
    of 54.80: docs/BENCHMARKS.md, "Forty-first pass"); carried, it would have closed the gap and printed
    ``optimal``."""
    own = plan.bound_usd_per_hour
    if plan.status == "optimal" or bound is None or (own is not None and own >= bound):
        return plan
    obj = plan.objective_usd_per_hour
    if bound - obj > zero_gap(obj):
        return plan.model_copy(update={"message": f"{plan.message}; a lower bound of {bound:.6g} USD/h was not "
                                                  f"carried: it is above this verified plan's {obj:.6g} USD/h, so "
                                                  "the proof behind it failed"})
    bound = min(bound, obj)
    gap = max(0.0, (obj - bound) / max(abs(obj), 1e-9))
    return plan.model_copy(update={"status": "optimal" if gap <= mip_gap else "feasible",
                                   "bound_usd_per_hour": bound, "gap": gap})


def adopt_cheaper(plan: Plan, restricted: Plan | None, mip_gap: float) -> Plan:
    """``plan`` (the full program's), or the restricted program's plan where that is cheaper, carrying the better
    of both bounds (``with_bound``). Its tables are its own; its verification is dropped, to be done again on it
    before it is printed."""
    if cheaper(plan, restricted) is plan:
        return plan
    message = (f"{restricted.message}; cheaper than the full program's plan within the limit "
               f"({plan.objective_usd_per_hour:.6g} USD/h, {plan.status}), whose bound it carries where higher")
    return with_bound(restricted.model_copy(update={"message": message, "verification": None}),
                      plan.bound_usd_per_hour, mip_gap)


def with_workload_bound(plan: Plan | None, bound: float | None, mip_gap: float) -> Plan | None:
    """``with_bound`` for the bound of ``planner.fleet.workload_bound``, saying so in the message where it is the
    higher one."""
    return _with_named_bound(plan, bound, mip_gap, "from each workload's own program, node packing priced away "
                                                   "(planner.fleet.workload_bound)")


def with_cap_bound(plan: Plan | None, bound: float | None, mip_gap: float) -> Plan | None:
    """``with_bound`` for the bound of ``planner.fleet.cap_bound``, saying so in the message where it is the higher
    one."""
    return _with_named_bound(plan, bound, mip_gap, "from each workload's own program with the offers' node caps "
                                                   "priced in (planner.fleet.cap_bound)")


def _with_named_bound(plan: Plan | None, bound: float | None, mip_gap: float, what: str) -> Plan | None:
    if plan is None:
        return None
    out = with_bound(plan, bound, mip_gap)
    if out is plan:
        return plan
    return out.model_copy(update={"message": f"{out.message}; bound {out.bound_usd_per_hour:.6g} USD/h {what}"})
