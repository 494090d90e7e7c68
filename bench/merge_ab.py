"""A/B of the offer merge (``planner.fleet.merge``): the same instance solved with each merge policy.

    python -m bench.merge_ab                        # M seeds 1-5, cost solve only, 90 s limit each
    python -m bench.merge_ab --sizes M --seeds 1,4 --limit 60 --tie-break
    python -m bench.merge_ab --twins 2              # every capped on-demand offer gets 2 same-price twins

``--twins K`` adds, for every on-demand offer with ``max_nodes``, K copies at the same price and cap (ids
``...-twinJ``): the same provider in more regions at one list price, the symmetric case the default policy
("equal_price") merges.

Per instance and variant: status, objective, bound, gap, CPU seconds of ``solve_scenario`` (process time: HiGHS
runs one thread in-process, so this is its work plus the Python around it and hardly moves with other load) and
wall seconds, the problem size, and how many offers were merged away. The variants run back to back per instance,
so both see the same machine; a policy that merges nothing builds the very program of "off" and is not solved
again (no row). Nothing is asserted; a Markdown table is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from bench import generate


def _solve(loaded, limit: float, tie_break: bool, merge: str):
    from planner.fleet.solve import SolveSettings, solve_scenario

    settings = SolveSettings(solver="highs", time_limit_s=limit, baselines=False, tie_break=tie_break, merge=merge)
    c0, w0 = time.process_time(), time.perf_counter()
    plan = solve_scenario(loaded, settings)
    return plan, time.process_time() - c0, time.perf_counter() - w0


def _merged_offers(loaded, policy: str) -> int:
    from planner.fleet.horizon import horizon_for
    from planner.fleet.merge import merge_offers
    from planner.fleet.options import enumerate_options
    from planner.fleet.reduce import reduced_options

    s = loaded.scenario
    h = horizon_for(s)
    merge = merge_offers(s, reduced_options(enumerate_options(loaded), s, h), h, policy)[2]
    return 0 if merge is None else sum(len(m) for m in merge.groups.values()) - len(merge.groups)


def main(argv: list[str] | None = None) -> int:
    from planner.scenario.io import scenario_from_dict

    ap = argparse.ArgumentParser(prog="python -m bench.merge_ab", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="M")
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--limit", type=float, default=90.0, help="time limit per solve, seconds")
    ap.add_argument("--tie-break", action="store_true", help="also run the tie-break (off: the cost solve only)")
    ap.add_argument("--twins", type=int, default=0, help="same-price copies of every capped on-demand offer")
    ap.add_argument("--policies", default="off,equal_price,any_price")
    args = ap.parse_args(argv)
    rows = []
    for size in args.sizes.split(","):
        for seed in (int(x) for x in args.seeds.split(",")):
            data = generate.generate(size, seed)
            data["offers"] += [{**o, "id": f"{o['id']}-twin{j}"} for o in data["offers"] for j in range(args.twins)
                               if o["market"] == "on_demand" and o.get("max_nodes") is not None]
            loaded = scenario_from_dict(data)
            for merge in args.policies.split(","):
                dropped = _merged_offers(loaded, merge)
                if merge != "off" and dropped == 0:  # the very program of "off": not solved again
                    print(f"{size}-{seed} {merge}: nothing merged", file=sys.stderr)
                    continue
                plan, cpu, wall = _solve(loaded, args.limit, args.tie_break, merge)
                ok = plan.verification is not None and plan.verification.ok
                rows.append((f"{size}-{seed}" + (f" +{args.twins} twins" if args.twins else ""), merge, plan.status,
                             plan.objective_usd_per_hour, plan.bound_usd_per_hour, plan.gap, cpu, wall,
                             plan.problem_size["variables"], plan.problem_size["deployments"], dropped, ok))
                print(" ".join(map(str, rows[-1])), file=sys.stderr)
    load = os.getloadavg()
    print(f"`python -m bench.merge_ab {' '.join(argv if argv is not None else sys.argv[1:])}`: HiGHS, "
          f"{'cost solve + tie-break' if args.tie_break else 'cost solve only'}, {args.limit:g} s limit; load average "
          f"at the end {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} (2 shared cores).\n")
    print("| instance | merge policy | status | USD/h | bound | gap | CPU s | wall s | variables | deployments "
          "| offers merged away | verified |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, var, status, obj, bound, gap, cpu, wall, nv, nd, dropped, ok in rows:
        gap_s = "–" if gap is None else f"{100 * gap:.2f} %"
        bound_s = "–" if bound is None else f"{bound:.6g}"
        print(f"| {name} | {var} | {status} | {obj:.6g} | {bound_s} | {gap_s} | {cpu:.2f} | {wall:.2f} | {nv} | {nd} "
              f"| {dropped} | {'yes' if ok else 'NO'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
