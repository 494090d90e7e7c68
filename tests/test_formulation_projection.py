"""One-bucket workloads without load variables (``planner.fleet.formulation``, "Loads projected out"): the same
optimum as the program with every load variable, on random small scenarios (spot hedge, non-spot floor, reserved,
two-bucket workloads alongside); hand values for the rows and the decoded loads; a property test of the decoding.

Capacities come from ``capacity_overrides``; the helper's target utilisation is 0.8 unless said otherwise.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import InfeasibleError
from planner.fleet.formulation import build
from planner.fleet.horizon import horizon_for
from planner.fleet.options import enumerate_options
from planner.fleet.plan_build import _projected_loads
from planner.fleet.solve import SolveSettings, solve_scenario
from tests.solve_helpers import offer, override, scenario, workload

N_CASES = 120
MIX = [{"prompt_tokens": 500, "output_tokens": 200, "share": 0.6},
       {"prompt_tokens": 3000, "output_tokens": 300, "share": 0.4}]


def random_case(seed: int):
    """1-3 workloads (some with two request sizes), 1-3 L40S/L4 offers in mixed markets and pools, the spot
    hedge on or off, a non-spot floor of 0, 25 or 50 %, sometimes --allow-unmet."""
    rng = random.Random(f"projection-{seed}")
    offers, gpus = [], []
    for j in range(rng.randint(1, 3)):
        gpu, market = rng.choice(["l40s", "l4"]), rng.choice(["on_demand", "on_demand", "spot", "reserved"])
        extra = {"max_nodes": rng.randint(2, 6)} if rng.random() < 0.5 or market == "reserved" else {}
        if market == "spot":
            extra.update(interruption_rate_per_hour=rng.choice([0.0, 0.01, 0.1]), pool=rng.choice(["a", "b"]))
        if market == "reserved":
            extra.update(owned_nodes=rng.randint(0, extra["max_nodes"]), term_months=12)
        offers.append(offer(f"o{j}", gpu, round(rng.uniform(0.3, 3.0), 2), market=market, **extra))
        gpus.append(gpu)
    workloads, overrides = [], []
    for i in range(rng.randint(1, 3)):
        two = rng.random() < 0.35
        w = workload(f"w{i}", rng.choice([5, 10, 20, 35, 50, 80]), min_replicas=rng.randint(0, 1),
                     **({"size_mix": MIX} if two else {}))
        workloads.append(w)
        for k, gpu in enumerate(dict.fromkeys(gpus)):
            caps = [25, 40, 60] if k == 0 else [0, 25, 40, 60]  # the first GPU always serves (some cases feasible)
            if two:
                overrides += [override(f"w{i}", gpu, rng.choice(caps), prompt_tokens=b["prompt_tokens"],
                                       output_tokens=b["output_tokens"]) for b in MIX]
            else:
                overrides.append(override(f"w{i}", gpu, rng.choice(caps)))
    spot = {"hedge": rng.random() < 0.5, "min_non_spot_share": rng.choice([0.0, 0.25, 0.5])}
    loaded = scenario(workloads, offers, overrides, target_utilization=rng.choice([0.5, 0.8, 1.0]), spot=spot)
    return loaded, rng.random() < 0.2


def _solve(loaded, allow_unmet: bool, project: bool):
    try:
        return solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=False,
                                                    allow_unmet=allow_unmet, project_loads=project))
    except InfeasibleError:
        return None


def test_projected_program_has_the_optimum_of_the_full_one():
    mismatches, projected = [], 0
    for seed in range(N_CASES):
        loaded, unmet = random_case(seed)
        full, proj = _solve(loaded, unmet, False), _solve(loaded, unmet, True)
        if full is None or proj is None:
            if (full is None) != (proj is None):
                mismatches.append((seed, full and full.objective_usd_per_hour, proj and proj.objective_usd_per_hour))
            continue
        for plan in (full, proj):
            assert plan.status == "optimal" and plan.verification.ok, (seed, plan.status, plan.verification)
        gap = abs(full.objective_usd_per_hour - proj.objective_usd_per_hour)
        if gap > 1e-6 * max(1.0, full.objective_usd_per_hour):
            mismatches.append((seed, full.objective_usd_per_hour, proj.objective_usd_per_hour))
        single = [w for w in loaded.scenario.workloads if len(w.buckets) == 1]
        if single and not unmet:
            projected += 1
            assert proj.problem_size["variables"] < full.problem_size["variables"], seed
        else:
            assert proj.problem_size == full.problem_size, seed
    assert projected >= N_CASES // 3, f"only {projected} cases had loads to project out"
    assert not mismatches, f"{len(mismatches)} of {N_CASES} differ (seed, full, projected): {mismatches[:5]}"


def _formulation(loaded, **kw):
    s = loaded.scenario
    return build(s, enumerate_options(loaded), horizon_for(s), **kw)


def test_demand_row_and_decoded_loads_by_hand():
    # 100 req/min; L40S replicas carry 40 at 80 % -> v = 32, L4 replicas 25 -> v = 20. Demand row:
    # 32 r_l40s + 20 r_l4 >= 100. Optimum: L40S 0.91/h per replica = 0.02844 per unit of v, L4 0.50/h = 0.025
    # per v -> 5 L4 (2.50) vs 4 L40S (3.64) vs 3 L40S + 1 L4 (2.73 + 0.50 = 3.23) ... 5 L4 = 2.50 is cheapest.
    loaded = scenario([workload("chat", 100)], [offer("big", "l40s", 0.91), offer("small", "l4", 0.50)],
                      [override("chat", "l40s", 40), override("chat", "l4", 25)])
    f = _formulation(loaded)
    assert f.no_loads == {"chat"} and f.problem.block_columns("load").size == 0
    assert f.problem.block_rows("capacity").size == 0 and f.problem.block_rows("replica_cuts").size == 0
    row = f.problem.row_index(("demand", "chat", 0, 0))
    arr = f.problem.to_arrays()
    nz = slice(arr.A.indptr[row], arr.A.indptr[row + 1])   # the row's stored entries
    coeffs = {f.problem.var_key(int(j))[1]: v for j, v in zip(arr.A.indices[nz], arr.A.data[nz])}
    by_offer = {f.options.deployments[i].offer: v for i, v in coeffs.items()}
    assert by_offer == pytest.approx({"big": 32.0, "small": 20.0})
    assert arr.row_lower[row] == pytest.approx(100.0)
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False, tie_break=False))
    assert plan.objective_usd_per_hour == pytest.approx(2.50)
    (line,) = plan.replicas
    # decoded: the whole 100 on the 5 L4 replicas, utilisation 100 / (5 x 25) = 0.8
    assert (line.offer, line.count, line.assigned_requests_per_min) == ("small", 5, pytest.approx(100.0))
    assert line.utilization == pytest.approx(0.8)
    assert plan.verification.ok


def test_decoded_loads_share_utilisation_and_meet_the_floor():
    # r = 2 L40S on demand (v 32 each: 64) and 2 L40S spot (64): demand 100. Equal utilisation: 50 / 50. With a
    # 60 % non-spot floor: 60 on demand (utilisation 60 / 80), 40 on spot.
    offers = [offer("od", "l40s", 0.91), offer("sp", "l40s", 0.30, market="spot", interruption_rate_per_hour=0.0)]
    for phi, expected in ((0.0, {"od": 50.0, "sp": 50.0}), (0.6, {"od": 60.0, "sp": 40.0})):
        loaded = scenario([workload("chat", 100)], offers, [override("chat", "l40s", 40)],
                          spot={"hedge": False, "min_non_spot_share": phi})
        f = _formulation(loaded)
        x = np.zeros(f.problem.n_vars)
        for d in f.options.deployments:
            x[f.problem.index(("replicas", d.index, 0))] = 2
        loads = _projected_loads(f, x, 0)
        assert {f.options.deployments[i].offer: v for i, v in loads.items()} == pytest.approx(expected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reps=st.lists(st.integers(0, 4), min_size=3, max_size=3), demand=st.sampled_from([10.0, 55.0, 100.0, 170.0]),
       phi=st.sampled_from([0.0, 0.3, 0.7, 1.0]), rho=st.sampled_from([0.5, 0.8, 1.0]))
def test_decoding_meets_every_projected_row(reps, demand, phi, rho):
    """Whenever r meets the projected rows (demand, non-spot floor), the decoded loads add up to the demand, stay
    within v_d r_d on every deployment and put at least phi x demand on non-spot replicas: the lemma of the
    docstring, on the code that writes the plan."""
    offers = [offer("od", "l40s", 0.91), offer("l4", "l4", 0.5),
              offer("sp", "l40s", 0.30, market="spot", interruption_rate_per_hour=0.0)]
    loaded = scenario([workload("chat", demand)], offers,
                      [override("chat", "l40s", 40), override("chat", "l4", 25)],
                      target_utilization=rho, spot={"hedge": False, "min_non_spot_share": phi})
    f = _formulation(loaded)
    x = np.zeros(f.problem.n_vars)
    v, spot = {}, {}
    for d, r in zip(f.options.deployments, reps):
        x[f.problem.index(("replicas", d.index, 0))] = r
        v[d.index], spot[d.index] = f.capacity_per_replica(d) * r, d.offer == "sp"
    if sum(v.values()) < demand or sum(c for i, c in v.items() if not spot[i]) < phi * demand:
        return  # r breaks a projected row: not a solution, nothing to decode
    loads = _projected_loads(f, x, 0)
    assert sum(loads.values()) == pytest.approx(demand)
    for i, load in loads.items():
        assert -1e-9 <= load <= v[i] * (1 + 1e-9)
    assert sum(load for i, load in loads.items() if not spot[i]) >= phi * demand * (1 - 1e-9)
