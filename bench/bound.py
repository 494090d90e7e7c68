"""Where the bound is lost: problem size, LP bound, root bound and time to optimal, per formulation variant.

    python -m bench.bound                                # M seeds 1-5, every variant, 90 s limit
    python -m bench.bound --seeds 2,3 --variants base,projected --limit 60

Variants (``VARIANTS``): ``base`` the program with every load variable (``SolveSettings(project_loads=False)``,
the program as first written), ``projected`` one-bucket loads projected out (the default,
``planner.fleet.formulation``, "Loads projected out"), ``knapsack`` projected plus a candidate cut this script
adds itself (not in the planner: it did not help, see docs/BENCHMARKS.md): per workload and period,
sum_d c_d r_{d,t} >= c*_{w,t}, with c_d = p_o / G_o x the GPUs of a replica (its share of a node's price) and
c*_{w,t} the least value of sum_d c_d r_d over integer r >= 0 with sum_d v_d r_d >= lambda_{w,t} and
sum_d r_d >= min_replicas_w (a tiny integer program per row; valid since every feasible r meets both rows).
Per instance and variant:

- variables, integer variables and rows of the cost program as ``plan solve`` builds it (reductions, merge,
  spot hedge);
- the LP bound (HiGHS on the relaxation) and the root bound (HiGHS' dual bound after the root node:
  presolve, root cuts and heuristics, ``mip_max_nodes`` = 1);
- the cost solve as ``plan solve`` runs it (constructive start, completed, then HiGHS; no tie-break): status,
  objective, bound, gap, its CPU seconds (process time: HiGHS runs one thread in-process, so this is its work plus
  the Python around it and hardly moves with other load; the performance model's options are computed once per
  instance, outside) and wall seconds; the plan is decoded and checked by the independent verifier.

Nothing is asserted; a Markdown table is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import fields

from bench import generate

VARIANTS: dict[str, dict] = {
    "base": {"project_loads": False},
    "projected": {"project_loads": True},
    "knapsack": {"project_loads": True, "knapsack_cuts": True},
}


def _settings(limit: float, variant: dict):
    from planner.fleet.solve import SolveSettings  # noqa: PLC0415

    known = {f.name for f in fields(SolveSettings)}
    return SolveSettings(solver="highs", time_limit_s=limit, baselines=False, tie_break=False,
                         **{k: v for k, v in variant.items() if k in known})


def add_knapsack_cuts(f) -> int:
    """The candidate cut of the module docstring, added to f's problem; returns the number of rows."""
    import highspy  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import scipy.sparse as sp  # noqa: PLC0415

    p, s = f.problem, f.scenario
    offers = {o.id: o for o in s.offers}
    rows, cols, vals, keys, rhs = [], [], [], [], []
    for w in s.workloads:
        deps = [d for d in f.options.for_workload(w.id) if max(d.capacity_rpm) > 0]
        for t, per in enumerate(f.horizon.periods):
            lam = per.demand_rpm[w.id]
            if lam <= 0 or not deps:
                continue
            c = np.array([offers[d.offer].price_usd_per_node_hour_effective / offers[d.offer].gpus_per_node
                          * d.gpu_share for d in deps])
            v = np.array([f.capacity_per_replica(d) for d in deps])
            n = len(deps)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            h.setOptionValue("mip_rel_gap", 0.0)
            lp = highspy.HighsLp()
            lp.num_col_, lp.num_row_ = n, 2
            lp.col_cost_, lp.col_lower_, lp.col_upper_ = c, np.zeros(n), np.full(n, highspy.kHighsInf)
            lp.row_lower_, lp.row_upper_ = np.array([lam, float(w.min_replicas)]), np.full(2, highspy.kHighsInf)
            m = sp.csr_matrix(np.vstack([v, np.ones(n)]))
            lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
            lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, 2
            lp.a_matrix_.start_, lp.a_matrix_.index_ = m.indptr.astype(np.int32), m.indices.astype(np.int32)
            lp.a_matrix_.value_ = m.data
            lp.integrality_ = [highspy.HighsVarType.kInteger] * n
            h.passModel(lp)
            h.run()
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                continue
            r = len(keys)
            for d, cd in zip(deps, c):
                rows.append(r); cols.append(p.index(("replicas", d.index, t))); vals.append(cd)
            keys.append((w.id, t))
            rhs.append(h.getInfo().objective_function_value * (1 - 1e-9))
    if keys:
        p.add_rows("knapsack_cuts", keys, rows, cols, vals, ">=", rhs)
    return len(keys)


def _bounds(f, limit: float) -> tuple[float | None, float | None, float]:
    """LP bound, root bound (after HiGHS' root node), CPU s of the root solve."""
    import highspy  # noqa: PLC0415

    from solvers.highs import highs_lp  # noqa: PLC0415

    arr = f.problem.to_arrays()
    out = []
    for relax in (True, False):
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", 0)
        h.setOptionValue("time_limit", float(limit))
        lp = highs_lp(arr, f.problem.objective_constant, integer=not relax)
        if not relax:
            h.setOptionValue("mip_max_nodes", 1)
        h.passModel(lp)
        c0 = time.process_time()
        h.run()
        cpu = time.process_time() - c0
        info = h.getInfo()
        out.append(float(info.objective_function_value) if relax else float(info.mip_dual_bound))
    return out[0], out[1], cpu


def main(argv: list[str] | None = None) -> int:
    from planner.fleet.hedge import hedge_blocks  # noqa: PLC0415
    from planner.fleet.horizon import horizon_for  # noqa: PLC0415
    from planner.fleet.options import enumerate_options  # noqa: PLC0415
    from planner.fleet.plan_build import build_plan  # noqa: PLC0415
    from planner.fleet.solve import _Budget, _build_cost, _gpu_ids, _solve_formulation  # noqa: PLC0415
    from planner.scenario.io import scenario_from_dict  # noqa: PLC0415
    from planner.verify import verify_plan  # noqa: PLC0415

    ap = argparse.ArgumentParser(prog="python -m bench.bound", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="M")
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--limit", type=float, default=90.0, help="time limit per cost solve, seconds")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--no-solve", action="store_true", help="sizes and bounds only")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    rows = []
    for size in args.sizes.split(","):
        for seed in (int(x) for x in args.seeds.split(",")):
            loaded = scenario_from_dict(generate.generate(size, seed), name=f"{size}-{seed}.yaml")
            s = loaded.scenario
            options, horizon = enumerate_options(loaded), horizon_for(s)
            for name in args.variants.split(","):
                settings = _settings(args.limit, VARIANTS[name])
                f = _build_cost(s, options, horizon, settings, hedge_blocks(s))
                if VARIANTS[name].get("knapsack_cuts"):
                    add_knapsack_cuts(f)
                arr = f.problem.to_arrays()
                lp, root, root_cpu = _bounds(f, args.limit)
                row = {"instance": f"{size}-{seed}", "variant": name, "vars": f.problem.n_vars,
                       "ints": int(arr.integrality.sum()), "rows": f.problem.n_rows, "lp": lp, "root": root,
                       "root_cpu": root_cpu}
                if not args.no_solve:
                    c0, w0 = time.process_time(), time.perf_counter()
                    g, sol, _ = _solve_formulation(f, "highs", _Budget(args.limit), s.policy.mip_gap, False)
                    row.update(cpu=time.process_time() - c0, wall=time.perf_counter() - w0, status=sol.status,
                               obj=sol.objective, bound=sol.bound, gap=sol.gap)
                    if sol.has_values:
                        plan = build_plan(g, sol, gpu_ids=_gpu_ids(loaded))
                        row.update(obj=plan.objective_usd_per_hour, ok=verify_plan(loaded, plan).ok)
                rows.append(row)
                print(row, file=sys.stderr, flush=True)
    load1 = os.getloadavg()
    print(f"`python -m bench.bound {' '.join(argv if argv is not None else sys.argv[1:])}`: HiGHS, cost solve "
          f"only, {args.limit:g} s limit; load average at start {load0[0]:.1f}, {load0[1]:.1f}, {load0[2]:.1f}, at "
          f"the end {load1[0]:.1f}, {load1[1]:.1f}, {load1[2]:.1f} (2 shared cores).\n")
    print("| instance | variant | variables (integer) | rows | LP bound | root bound | status | USD/h | bound | gap "
          "| solve CPU s | solve wall s | verified |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        g = "–" if r.get("gap") is None else f"{100 * r['gap']:.2f} %"
        obj = "–" if r.get("obj") is None else f"{r['obj']:.6g}"
        bound = "–" if r.get("bound") is None else f"{r['bound']:.6g}"
        cpu = "–" if r.get("cpu") is None else f"{r['cpu']:.2f}"
        wall = "–" if r.get("wall") is None else f"{r['wall']:.2f}"
        ok = "–" if "ok" not in r else ("yes" if r["ok"] else "NO")
        print(f"| {r['instance']} | {r['variant']} | {r['vars']} ({r['ints']}) | {r['rows']} | {r['lp']:.6g} | "
              f"{r['root']:.6g} | {r.get('status', '–')} | {obj} | {bound} | {g} | {cpu} | {wall} | {ok} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
