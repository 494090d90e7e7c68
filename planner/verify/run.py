r"""Independent verification of a Plan: recompute every constraint from the Scenario (+ catalog) and the Plan.

Shares no code with the formulation: ``planner.verify`` never imports ``planner.fleet.formulation``, ``planner.fleet.options``,
``planner.problem``, ``planner.catalog.mig`` or ``solvers`` (a test walks the imports). The performance model is an
*input* to planning, so capacities are recomputed with ``planner.perf.estimate`` (or the scenario's
``capacity_overrides``, matched here by our own rule) and a plan that claims more than the model gives fails.

Notation: period t (hours h_t, H = sum h_t), workload w with buckets b (share s_b), replica line r
(count n_r, availability a_r, per-bucket capacity c_{r,b} and load x_{r,b}), offer o (G_o GPUs per node,
price p_o per node-hour, U_o max nodes, R_o owned), rho = policy.target_utilization. One check per family:

demand_covered           sum_r x_{r,b,t} (+ unmet) = lambda_{w,t} s_b; lambda_{w,t} = the period's stated demand,
                         itself checked against the scenario (flat rate, hNN/hNNN profile multiplier, or the
                         workload's explicit period of that name; forecast periods "YYYY-MM[ shape]" times the
                         month's growth g_{w,m}); replica assigned = sum_b x_{r,b}.
capacity_respected       sum_b x_{r,b} / c_{r,b} <= rho n_r a_r  (a replica time-shares linearly between buckets);
                         stated utilization = sum_b x_{r,b} / c_{r,b} / (n_r a_r).
capacity_matches_model   c_{r,b} = override or perf model (1e-6 relative); line capacity = sum_b s_b c_{r,b};
                         a_r = max(0, 1 - rate x recovery_min / 60) on spot, 1 otherwise.
deployment_valid         gpu = offer's catalog GPU; precision allowed; tp a power of two, <= G_o, <= NVLink group;
                         MIG profile only on ``mig: true`` offers, one of the GPU's profiles, tp = 1.
gpus_fit_nodes           sum_{r not MIG} tp_r n_r + sum_{k} gpus_k <= G_o N_o; node line gpus = G_o N_o.
mig_patterns_valid       each pattern is placeable on one GPU (legal starts, disjoint memory slices).
mig_instances_cover_replicas  sum_k count_k(q) gpus_k >= sum_{r on q} n_r per offer and profile q.
node_caps                N_o <= U_o; reserved N_o >= R_o and equal in every period of an epoch; owned = R_o (0 off
                         reserved); node line offer/gpu/market match the scenario. Forecast (plan.commitments set):
                         reserved N_{o,e} = R_o + the nodes of o's commitments active in epoch e; per option, the
                         nodes signed <= its max_nodes; a commitment starts in a month of the horizon.
min_replicas             sum_{r of w} n_r >= min_replicas_w in every period.
budget                   recomputed node cost of every period <= budget_usd_per_hour.
costs_add_up             node usd = (N_o - R_o) p_{o,e} reserved, N_o p_{o,e} otherwise, p_{o,e} = p_o x the forecast
                         price trends on o or its GPU ^ epoch (1 in epoch 0); period usd = sum of node lines;
                         objective = sum_t h_t usd_t / H + penalty (+ commitments' upfront and after-horizon tail
                         / H); the market breakdown sums to the objective and matches the nodes; workloads[]
                         demand/served/unmet are the hour-weighted means. Forecast: reserved usd = sum of the active
                         commitments' nodes x locked rate; a commitment's rate = its option's (or the offer's) rate
                         x the trend at its start month, its upfront the option's; usd and tail_usd recomputed with
                         hours_per_month per month, which every epoch's periods must add up to.
status_honest            optimal => gap <= mip_gap; bound <= objective; infeasible/unbounded/error => no nodes.
top_level_is_a_period    top-level nodes/replicas/mig_partitions equal the peak-cost period's.

Plans whose status is not optimal/feasible carry no fleet: every check but ``status_honest`` is skipped (ok).
Overrides match on (workload, catalog GPU, precision, tp, MIG profile); a bucket's own override beats a generic
one, and the first listed wins. The MIG placement search (``geometry``) and the capacity lookup (``capacities``) are re-implemented in this
package so that nothing is shared with ``planner.catalog.mig`` / ``planner.fleet.options``. One module per
concern: ``capacity``, ``demand``, ``packing``, ``nodes``, ``costs``, ``status`` and ``spot``; ``base`` holds the
Context they read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.plan import Plan, Verification
from planner.verify import capacity, costs, demand, nodes, packing, status
from planner.verify.base import CHECKS, Context
from planner.verify.spot import spot_checks

if TYPE_CHECKING:
    from planner.scenario.io import LoadedScenario

# The order the checks run in: deployment_valid marks the lines capacity_matches_model may compare.
_STEPS = (capacity.deployment_valid, demand.demand_covered, capacity.capacity_respected,
          capacity.capacity_matches_model, packing.gpus_fit_nodes, packing.mig_patterns_valid,
          packing.mig_instances_cover_replicas, nodes.node_caps, demand.min_replicas, costs.budget,
          costs.costs_add_up, status.top_level_is_a_period)


def _run(ctx: Context) -> Verification:
    status.status_honest(ctx)
    if ctx.plan.status in ("optimal", "feasible"):
        for step in _STEPS:
            step(ctx)
    else:
        for name in CHECKS:
            if name != "status_honest":
                ctx.log.skipped[name] = f"status is {ctx.plan.status} (no fleet to check)"
    checks = ctx.log.checks()
    return Verification(ok=all(c.ok for c in checks), checks=checks)


def verify_plan(loaded: "LoadedScenario", plan: Plan, *, allow_unmet: bool = False, calibration: Any = None,
                tol: float = 1e-6) -> Verification:
    """Recompute every constraint of ``plan`` from ``loaded`` (scenario + catalog) and the plan alone.

    Args:
        loaded: the scenario and the catalog it resolves against.
        plan: the plan to check; its own ``verification`` field is ignored.
        allow_unmet: the plan was solved with ``--allow-unmet`` (unmet demand allowed, reported per workload).
        calibration: perf-model calibration; None loads ``policy.calibration`` when the scenario names one.
        tol: relative tolerance (``|a - b| <= tol x max(1, |a|, |b|)``) for loads and money.

    Returns:
        A ``Verification`` with one ``Check`` per family (``CHECKS``, then ``planner.verify.spot.SPOT_CHECKS`` when the
        scenario has spot offers); ``ok`` when all pass.
    """
    checks = _run(Context(loaded, plan, allow_unmet, calibration, tol)).checks + spot_checks(loaded, plan, tol=tol)
    return Verification(ok=all(c.ok for c in checks), checks=checks)
