r"""The workloads' own bounds as rows of the full program: one cut per workload and period from the caps' bound.

``planner.fleet.cap_bound`` solves each workload's own program (``workload_programs.program_rows`` with no room
rows) at replica prices c_d = pi_d s_d + nu_o s_d and proves LB_{w,t}(c) <= its optimum. Every feasible point of the
full program, restricted to (w, t), is a point of that program (the bound's validity argument,
``planner.fleet.workload_bound``), so it satisfies

    sum_{d in D_w} c_d r_{d,t} >= LB_{w,t}(c)                                                    (cut)

a valid inequality of the full program whatever c is (nothing else is assumed about c). With the caps' best prices
nu the cuts carry that bound into the full program's relaxation: its objective is sum_o p_o N_o >= sum_d pi_d s_d r_d
(packing) and sum_o nu_o (G_o U_o − sum_{d on o} s_d r_d) >= 0 (the caps), so every point of its LP relaxation with the
cuts costs at least sum_w LB_w(c) − sum_o nu_o G_o U_o, the caps' bound L(nu). HiGHS then starts from that bound and
adds what the caps' bound relaxes: the nodes' packing, the node-loss states and the caps' integrality.

In the program ``planner.fleet.solve`` builds, interchangeable on-demand offers are merged (``planner.fleet.merge``:
a merged deployment stands for its twins on every member offer, which differ only in price) and dominated twins are
dropped (``planner.fleet.reduce``). A merged replica gets the least c of its twins: a point of the merged program,
restricted to (w, t), with all of each merged deployment's replicas (and loads and routing) put on its cheapest twin
is a point of w's own program (the twins carry the same and, on demand, survive every pool loss; the program has no
caps), so its cost there, the merged cut's left side, is at least LB. A dropped column is a column at 0, which
changes no left side. A workload with a replica column that no price covers (a deployment its program did not have)
gets no cut. The right side is LB less 10⁻⁶ of it (HiGHS' tolerances: a proven bound is at most the program's
optimum, and the rows are then never tighter than valid).
"""

from __future__ import annotations

from planner.fleet.formulation import Formulation

SLACK = 1e-6  # the cut's right side: LB less this share of |LB| (and of 1 USD/h at least)


def cut_block(cuts: list[tuple[int, str, dict[tuple, float], float]]):
    """A block for ``formulation.build(extra_blocks=...)`` adding one row per ``(period, workload, c by deployment
    key, LB)`` of ``cuts`` (``planner.fleet.cap_bound``'s ``cuts``), as the module docstring says."""

    def _workload_cuts(f: Formulation) -> None:
        members = {} if f.merge is None else {g: [m.id for m in ms] for g, ms in f.merge.groups.items()}
        by_w: dict[str, list] = {}
        for d in f.options.deployments:
            by_w.setdefault(d.workload, []).append(d)
        for k, (t, wid, price, lb) in enumerate(cuts):
            if t >= len(f.horizon.periods) or lb <= 0:
                continue
            coeffs = {}
            for d in by_w.get(wid, []):
                twins = [price[key] for key in map(d.key_on, members.get(d.offer, [d.offer])) if key in price]
                if not twins:
                    break   # a column no price covers: no cut for this workload
                coeffs[("replicas", d.index, t)] = min(twins)
            else:
                if coeffs:
                    f.problem.add_constraint("workload_cut", (wid, t, k), coeffs, ">=",
                                             lb - SLACK * max(abs(lb), 1.0))

    return _workload_cuts
