r"""Spot risk: the model, and the linear blocks that make a plan survive it (``policy.spot``).

This module is longer than ~400 lines because ~75 of them are the risk model and rules written out below.

Risk model (the simulator, ``planner.risk.simulate``, draws from exactly this model)
    - A spot node is up or down. While up it is reclaimed at hazard lambda_o (``interruption_rate_per_hour``)
      and then stays down for R_o (``recovery_minutes``: replace the node, reload the weights), then is up again.
      Its long-run availability is therefore A_o = 1 / (1 + lambda_o R_o); the base formulation counts spot
      replicas at a_o = 1 - lambda_o R_o <= A_o ("expected capacity").
    - Correlation: a share s (``policy.spot.pool_event_share``, assumed 0.25) of that hazard comes from pool
      events: pool P has Poisson events at Lambda_P = s x min_{o in P} lambda_o, and each event reclaims every
      up node of P at once; the rest, lambda_o - Lambda_P, hits nodes independently. Each node's hazard while up
      stays lambda_o, so A_o is unchanged. Spot pricing can differ by pool: give one spot offer per pool.
    - On-demand and reserved nodes are never reclaimed (hardware failures are out of scope).
    - A workload keeps its SLA at an instant when its replicas that are up, run at up to 100 % of their
      capacity at the SLOs, can carry its demand (load re-routed freely between its deployments).

Sets and data (as in ``planner.fleet.formulation``): deployments D_w of workload w, buckets b with shares sigma_b,
periods t with demand lambda_{w,t}; cap_{d,b}; a_d; spot pools; delta = ``degraded_service``; phi =
``min_non_spot_share``; r_{d,t}, x_{d,b,t}, s_{w,b,t} (unmet, only with ``--allow-unmet``), n_{o,t} (nodes).
Write L_{w,b,t} = sigma_b lambda_{w,t} - s_{w,b,t} (the demand the plan serves).

Blocks (``hedge_blocks``), all linear; every row below is exactly the rule it states
(a) expected capacity: already in ``_replica_capacity`` (spot replicas count at a_d).
(b) pool loss (``hedge``): for every set S of min(pool_failures, #pools) spot pools, a second-stage routing
    y^S ("hedge_load", "pools-lost:...", d, b, t) over the deployments outside S:
        sum_{d in D_w, pool(d) not in S} y^S_{d,b,t} >= delta L_{w,b,t}                         all w, b, t
        sum_b y^S_{d,b,t} / (a_d cap_{d,b}) <= r_{d,t}         (100 % utilisation, survivors at expected capacity)
    With ``share_routing`` (``plan solve``'s default), deployments with equal capacities and a_d (one GPU,
    precision and TP sold by several offers) share one routing y^S_{g,b,t} and one row with r summed over the group
    (``_serve``: exact, proof there; why ``plan solve`` turns it on: ``SolveSettings``).
    With one request size the routing collapses to one row, sum_d a_d cap_d r_{d,t} >= delta L (the same in (d):
    sum_d cap_d x survivors_d >= L), so no loads are added for it.
    Rows are written only for workloads with a deployment in S: for the others y^S = delta x satisfies them
    (x / (a cap) <= rho r <= r), so they are implied. All C(#pools, pool_failures) sets are enumerated: which
    pool is "largest" differs by workload and period, so no single set dominates in general.
(c) non-spot floor (whenever phi > 0, hedge or not):
        sum_{d in D_w not on spot} sum_b x_{d,b,t} >= phi sum_b L_{w,b,t}                          all w, t
    A one-bucket workload without load variables (``planner.fleet.formulation``, "Loads projected out") gets
    sum_{d not on spot} v_d r_{d,t} >= phi lambda_{w,t} instead: with its demand row sum_d v_d r_{d,t} >= lambda,
    exactly the r for which loads meeting both rows exist (route min(N, lambda) >= phi lambda to the non-spot
    replicas, N = their sum of v_d r_d, the rest, at most the spot replicas' sum, to spot).
(d) availability target alpha (``hedge``), with the numbers of ``planner.risk.tails``. Union bound, at every
    instant (so also as a share of time), D = spot nodes down on their own, mu_t = sum_o m_o n_{o,t}:
        P(SLA lost) <= P(more than j pools in an event at once)                        <= epsilon_pool / 2
                     + sum over sets S of 1..j pools holding nodes, not survived, of p_S
                     + sum over those survived of p_S P(D >= 1)          (together <= budget = epsilon_pool - tail)
                     + P(D > k(mu_t))                                                  <= epsilon_nodes
                     + P(no pool event, D <= k(mu_t), and still lost)                  = 0 by the node states
    - node states: for every multiset A of m = 1..K spot offers (m nodes lost, any mix of offers), active when
      k(mu_t) >= m, i.e. e_{m,t} = 1, each spot-using workload's full demand is served at up to 100 %:
        sum_{d in D_w} z^A_{d,b,t} (+ s_{w,b,t}) >= e_{m,t} sigma_b lambda_{w,t}                 all w, b, t
        sum_b z^A_{d,b,t} / cap_{d,b} <= r_{d,t}                                      d not on spot o in A
        sum_b z^A_{d,b,t} / cap_{d,b} <= v^A_{d,t} <= r_{d,t} - nu_d a u_{d,a,t},  v^A_{d,t} <= B_{d,t} u_{d,a,t}
                                                                                   d on o in A, a = A(o)
      e_{i,t} in {0,1} is 1 exactly when mu_t > mu_i (rows mu_t - (mu_max_t - mu_i) e_{i,t} <= mu_i and
      mu_t >= mu_i e_{i,t}; mu_i less 1e-6 relative, so an integer fleet at solver tolerance counts as above), so
      sum_i e_{i,t} = k(mu_t) and exactly the states k(mu_t) calls for are on; u_{d,a,t} in {0,1}: d keeps
      r - nu_d a replicas (u = 1) or none (u = 0), i.e. max(0, r - nu_d a).
    - pool states: sigma_{S,t} in {0,1} for every set S of 1..j pools; sigma = 1 switches on the state "S lost"
      (routing as above, every replica outside S at 100 %, demand >= sigma L). y_{P,t} in {0,1} is 1 when pool P
      has nodes (n_{o,t} <= Nbar_o y_{P,t}); the budget row, with c_{S,t} >= 0 continuous:
        sum_S p_S (1 - sigma_{S,t}) + sum_S c_{S,t} <= budget,  c_{S,t} >= p_S (f_t + sigma_{S,t} + y_{P,t} - 2), P in S
      where f_t >= 1 - exp(-mu_t) >= P(D >= 1) is linear in (n, e): the tangent mu_t - (mu_i - 1 + exp(-mu_i)) on
      breakpoint interval i while mu_max <= 1, else the bound's value at the interval's right end (``_pool_budget``).
      (A set holding no nodes cannot hurt; the optimum leaves sigma = 1 there.)
    nu_d = replicas of d one node can hold (G_o / tp_d, or G_o x the most instances of its MIG profile per GPU),
    so a lost node removes at most nu_d replicas of each deployment on it; B_{d,t} = sum_b sigma_b lambda_{w,t} /
    cap_{d,b} bounds any useful load. mu_max_t = sum_o m_o Nbar_{o,t}: Nbar_{o,t} = max_nodes, or the nodes whose
    price alone exceeds the period's all-on-demand fleet (``on_demand_costs``, a plan that meets every rule) or
    the budget, so the row n_{o,t} <= Nbar_{o,t} never binds at an optimum; only when neither exists, 2 x the
    nodes carrying every workload the offer can serve alone + 8 (a heuristic cap). More than 64 multisets (many offers,
    large K) fall back to one conservative state: every spot offer loses k(mu_t) nodes at once (loss nu_d sum_i
    e_{i,t}, u keyed "k"). States implied by the base rows are not written (workloads without spot; states whose
    lost offers and pools hold none of the workload's deployments), nor the pool states when sum_S p_S <= budget.

How close (d) is to P(SLA kept) >= alpha: sufficient, not necessary. Conservative steps: the union bound and the
even split of epsilon; q_o = lambda^ind R >= the exact down-probability; Poisson(mu) >= the number of nodes down;
p_S >= P(exactly S); a pool event costs the whole pool; k lost nodes may each hold every deployment of their
offer. The steps the other way: nodes taken as independent given no pool event, and own reclaims as independent
of pool events (in the model both are only weakly coupled: a node down from one cause cannot be hit by the
other). ``plan simulate`` measures the result (README, "What-if on spot interruptions").
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import chain, combinations, combinations_with_replacement, repeat

from planner.fleet.formulation import Formulation, check_deadline
from planner.fleet.options import Deployment, OptionSet
from planner.scenario.model import Scenario
from planner.risk.tails import SpotRisk, spot_offers, spot_risk

MAX_POOL_SETS = 2000  # more pool-loss sets than this is a modelling error, not a planning problem
MAX_MULTISETS = 64  # node-loss states per pool set before the conservative single state takes over
ADD_S_PER_COLUMN = 1.5e-6  # seconds to add one collected column to the problem (XL-2: 7.25 s / 5.64 M)
ADD_S_PER_ROW = 2.5e-6  # ... and one collected row (XL-2: 9.5 s / 4.1 M, with its coefficients)


def pool_sets(s: Scenario, size: int) -> list[tuple[str, ...]]:
    """Every set of ``size`` spot pools (all of them when there are fewer), sorted."""
    pools = sorted({o.pool_effective for o in spot_offers(s)})
    if size <= 0 or not pools:
        return []
    size = min(size, len(pools))
    if math.comb(len(pools), size) > MAX_POOL_SETS:
        from planner.errors import InputError  # noqa: PLC0415

        raise InputError(f"policy.spot: {math.comb(len(pools), size)} sets of {size} pools out of {len(pools)} "
                         f"to hedge against (more than {MAX_POOL_SETS}); lower pool_failures or merge pools")
    return list(combinations(pools, size))


@lru_cache(maxsize=None)
def _max_instances(mig_class: int) -> int:
    from planner.catalog.mig import maximal_multisets  # noqa: PLC0415

    return max(p[mig_class] for p in maximal_multisets())


def replicas_per_node(d: Deployment, gpus_per_node: int) -> int:
    """nu_d: replicas of d one node can hold."""
    if d.mig_profile is None:
        return max(1, gpus_per_node // d.tp)
    return gpus_per_node * _max_instances(d.mig_class)


def hedge_blocks(s: Scenario) -> tuple:
    """The spot blocks this scenario needs (for ``build(extra_blocks=...)``); () when it has no spot offers."""
    pol = s.policy.spot
    if not spot_offers(s) or not (pol.hedge or pol.min_non_spot_share > 0):
        return ()
    return (_spot_hedge,)


# --------------------------------------------------------------------------- the block


class _Rows:
    """Rows collected per block and added in one ``add_rows`` call each (one call per row is the slow part)."""

    def __init__(self, p):
        self.p = p
        self.blocks: dict[tuple[str, str], tuple[list, list, list, list, list]] = {}

    def register(self, block: str, sense: str) -> tuple[list, list, list, list, list]:
        """The block's lists; a block's place in the flush order is where it is first used."""
        got = self.blocks.get((block, sense))
        if got is None:
            got = self.blocks[(block, sense)] = ([], [], [], [], [])
        return got

    def add(self, block: str, key, coeffs: dict, sense: str, rhs: float) -> None:
        index = self.p.index   # a variable key or a column number
        self.add_cols(block, key, [k if isinstance(k, int) else index(k) for k in coeffs], list(coeffs.values()),
                      sense, rhs)

    def add_cols(self, block: str, key, cols: list[int], vals: list[float], sense: str, rhs: float) -> None:
        """``add`` of a row given by distinct column numbers and their coefficients (no dict, no key lookups)."""
        keys, rows, c, v, rhss = self.register(block, sense)
        rows.extend([len(keys)] * len(cols))
        keys.append(key)
        rhss.append(rhs)
        c.extend(cols)
        v.extend(vals)

    def add_periods(self, block: str, sense: str, keys: list, per: int, entries: list, rhs: list) -> None:
        """Rows ``keys``, ``per`` of them a period, periods in turn, from ``entries``: (row within a period, its
        column in each period, its coefficient: one, or a list with one per period). Distinct columns within a
        row."""
        if not keys:
            return
        k, rows, c, v, rhss = self.register(block, sense)
        n, start = len(keys) // per, len(k)
        if n == 1:   # one period (the common case of a daily plan): no per-entry iterators
            rows.extend([start + r for r, _, _ in entries])
            c.extend([col[0] for _, col, _ in entries])
            v.extend([val[0] if type(val) is list else val for _, _, val in entries])
        else:
            stop = start + per * n
            rows.extend(chain.from_iterable(range(start + r, stop, per) for r, _, _ in entries))
            c.extend(chain.from_iterable(col for _, col, _ in entries))
            v.extend(chain.from_iterable(val if type(val) is list else repeat(val, n) for _, _, val in entries))
        k.extend(keys)
        rhss.extend(rhs)

    def count(self) -> int:
        """Rows collected and not yet added."""
        return sum(len(b[0]) for b in self.blocks.values())

    def flush(self) -> None:
        for (block, sense), (keys, rows, cols, vals, rhss) in self.blocks.items():
            self.p.add_rows(block, keys, rows, cols, vals, sense, rhss)
        self.blocks = {}


class _Ctx:
    """What every sub-block needs: deployments by workload, spot flags, served-demand terms, the row buffer."""

    def __init__(self, f: Formulation):
        self.f, self.p, self.s = f, f.problem, f.scenario
        self.rows = _Rows(f.problem)
        self._spot_offer = {o.id: o.market == "spot" for o in self.s.offers}
        self.T = f.horizon.periods
        self.offers = {o.id: o for o in self.s.offers}
        self.by_w: dict[str, list[Deployment]] = {}
        for d in f.options.deployments:
            self.by_w.setdefault(d.workload, []).append(d)
        self._pool = {o.id: (o.pool_effective if o.market == "spot" else None) for o in self.s.offers}
        self.shares = {w.id: [b.share for b in w.buckets] for w in self.s.workloads}
        self._cols: dict = {}   # variable key -> column, for keys looked up once per period
        self._rper: dict[int, tuple[list[int], list[int]]] = {}   # d.index -> (periods, replicas columns)
        # columns made by ``new_vars`` and added to the problem together by ``commit`` (one call, not one per
        # variable): (keys, upper bounds, integrality), and the problem's column count when the first was made
        self._pending: tuple[list, list, list] = ([], [], [])
        self._pending_at = 0

    def col(self, key) -> int:
        """Column of an existing variable key (looked up once)."""
        got = self._cols.get(key)
        if got is None:
            got = self._cols[key] = self.p.index(key)
        return got

    def new_vars(self, keys: list, ubs: list, ints: list) -> int:
        """The first column the variables ``keys`` (lower bounds 0) will have, in order, once ``commit`` adds them
        (the problem's other columns are all made before them)."""
        pk, pu, pi = self._pending
        if not pk:
            self._pending_at = self.p.n_vars
        first = self._pending_at + len(pk)
        pk.extend(keys)
        pu.extend(ubs)
        pi.extend(ints)
        return first

    def commit(self) -> None:
        """Add the pending variables, in the order made: the columns ``new_vars`` promised."""
        keys, ubs, ints = self._pending
        if not keys:
            return
        if self.p.n_vars != self._pending_at:
            raise RuntimeError("hedge: variables were added to the problem while others were pending")
        self.p.add_keyed_vars(keys, [0.0] * len(keys), ubs, ints)
        self._pending = ([], [], [])

    def is_spot(self, d: Deployment) -> bool:
        return self._spot_offer[d.offer]

    def pool(self, d: Deployment) -> str | None:
        return self._pool[d.offer]

    def r(self, d: Deployment, t: int) -> int:
        """Column of ("replicas", d, t)."""
        return self.col(("replicas", d.index, t))

    def r_by_period(self, d: Deployment, ts: list[int]) -> list[int]:
        """Columns of ("replicas", d, t) for t in ``ts`` (its workload's periods with demand: made once)."""
        got = self._rper.get(d.index)
        if got is None or got[0] != ts:
            got = self._rper[d.index] = (ts, [self.r(d, t) for t in ts])
        return got[1]

    def unmet(self, wid: str, b: int, t: int) -> tuple | None:
        return ("unmet", wid, b, t) if self.f.allow_unmet else None


def _spot_hedge(f: Formulation) -> None:
    """Blocks (b), (c), (d) of the module docstring."""
    c = _Ctx(f)
    _non_spot_floor(c)
    pol = c.s.policy.spot
    if pol.hedge:
        for lost in pool_sets(c.s, pol.pool_failures) if pol.degraded_service > 0 else []:
            _pool_loss(c, lost, pol.degraded_service)
        _availability(c, spot_risk(c.s))
    # adding the collected columns and rows is one step that cannot stop midway (XL-2: 7.3 s for 5.6 M columns,
    # 9.5 s for 4.1 M rows): it starts only if its estimate fits before the deadline
    check_deadline(c.f, ADD_S_PER_COLUMN * len(c._pending[0]) + ADD_S_PER_ROW * c.rows.count(), len(c._pending[0]))
    c.commit()
    c.rows.flush()


def _non_spot_floor(c: _Ctx) -> None:
    phi = c.s.policy.spot.min_non_spot_share
    if phi <= 0:
        return
    for w in c.s.workloads:
        for t, per in enumerate(c.T):
            if per.demand_rpm[w.id] <= 0:
                continue
            coeffs: dict = {}
            for d in c.by_w.get(w.id, []):
                if c.is_spot(d):
                    continue
                if w.id in c.f.no_loads:  # loads projected out: sum_{d not on spot} v_d r_{d,t} >= phi lambda
                    if d.capacity_rpm[0] > 0:
                        coeffs[c.r(d, t)] = c.f.capacity_per_replica(d)
                else:
                    coeffs.update({("load", d.index, b, t): 1.0 for b, cap in enumerate(d.capacity_rpm) if cap > 0})
            for b in range(len(w.buckets)):
                if c.unmet(w.id, b, t):
                    coeffs[c.unmet(w.id, b, t)] = phi
            c.rows.add("spot_non_spot_share", (w.id, t), coeffs, ">=", phi * per.demand_rpm[w.id])


def _serve(c: _Ctx, name: str, w, ts: list[int], supply: list, share: float, act: dict, tpl=None) -> list[int]:
    """State ``name``: the deployments in ``supply`` carry ``share`` of w's served demand in period t (times the
    AND of the binaries in ``act``), each deployment d in ``supply`` with at most its replicas variable's value of
    replicas at 100 % of derate x cap_{d,b}. One bucket: one row,
    sum_d derate_d cap_d replicas_d >= share L (nothing to route); a size mix: loads y per bucket, as in
    ``_demand_cover`` / ``_replica_capacity``, one set per group g of supplies with the same capacities cap_{.,b}
    and derate (the same GPU, precision and TP sold by several offers): sum_b y_{g,b} / (derate cap_b) <= sum_{d in
    g} replicas_d. Exact: per-deployment loads meeting their rows sum to group loads meeting the group's; group
    loads split as y_{d,b} = y_{g,b} replicas_d / sum_g replicas (all >= 0) meet every deployment's row. The
    group's first deployment names its loads and row. Off (``Formulation.share_routing``; ``build``'s default, the
    program the oracle tests compare), every deployment is its own group: the program as first written. ``plan
    solve`` turns it on: why, and what it was measured to do, beside ``planner.fleet.solve.SolveSettings``. (It was
    off while HiGHS 1.15 spent 30-200 s in one round of root cut separation on L-2 and XL-1 with it, unchecked by
    its time limit.)

    Written for the periods ``ts`` at once (every row and column of one period, for each period in turn: the
    program and its order as period by period). ``supply``: (d, derate, its variable's columns by period, or
    None and the offset of a new variable in ``tpl``); ``tpl``: (keys without the period, upper bounds,
    integrality) of the new variables of one period made before the loads (``_state_rows``), whose rows the
    caller writes with the columns returned. Returns the first new column of each period (a new variable's
    column is that plus its offset in ``tpl``)."""
    check_deadline(c.f, pending=len(c._pending[0]))  # once per workload and state: most of XL-2's build (20-30 s)
    tpl_keys, tpl_ub, tpl_int = tpl if tpl is not None else ([], [], [])
    K, B = len(ts), len(w.buckets)
    single = B == 1
    groups: dict = {}
    load_off: dict[tuple[int, int], int] = {}
    if not single:  # loads y^S_{g,b,t}
        shared = c.f.share_routing
        for d, derate, old, off in supply:   # key -> (capacities, derate, members)
            key = (d.capacity_rpm, derate) if shared else d.index
            groups.setdefault(key, (d.capacity_rpm, derate, []))[2].append((d, old, off))
        for caps, _, members in groups.values():
            i = members[0][0].index
            for b, cap in enumerate(caps):
                if cap > 0:
                    load_off[(i, b)] = len(tpl_keys)
                    tpl_keys.append(("hedge_load", name, i, b))
                    tpl_ub.append(math.inf)
                    tpl_int.append(False)
    S = len(tpl_keys)
    start = c.new_vars([key + (t,) for t in ts for key in tpl_keys], tpl_ub * K, tpl_int * K)
    step = list(range(start, start + S * K, S)) if S else [start] * K   # + offset: a new variable's columns

    def cols(old, off):
        return old if old is not None else [x + off for x in step]

    load_cols = {pair: cols(None, off) for pair, off in load_off.items()}

    rhs0 = -(len(act) - 1.0) if act else 1.0  # AND of the binaries = sum - (#binaries - 1); they go to the left
    acts = [([c.col((blk, *key, t)) for t in ts], v) for (blk, *key), v in act.items()]
    dem = [c.T[t].demand_rpm[w.id] for t in ts]
    entries = []   # (row within a period, its column in each period, its coefficient(s))
    needs = []     # by bucket, by period
    for b in range(B):
        sh = c.shares[w.id][b]
        need = [share * (x * sh) for x in dem]
        needs.append(need)
        if single:   # distinct deployments: distinct columns
            entries += [(b, cols(old, off), derate * d.capacity_rpm[b]) for d, derate, old, off in supply
                        if d.capacity_rpm[b] > 0]
        else:
            entries += [(b, load_cols[(members[0][0].index, b)], 1.0) for caps, _, members in groups.values()
                        if caps[b] > 0]
        if c.f.allow_unmet:
            entries.append((b, [c.col(("unmet", w.id, b, t)) for t in ts], share))
        entries += [(b, a_cols, [0.0 - x * v for x in need]) for a_cols, v in acts]
    c.rows.add_periods("spot_hedge_demand", ">=", [(name, w.id, b, t) for t in ts for b in range(B)], B, entries,
                       [needs[b][k] * rhs0 for k in range(K) for b in range(B)])
    if not single:
        entries = []
        for g, (caps, derate, members) in enumerate(groups.values()):
            first = members[0][0].index
            entries += [(g, load_cols[(first, b)], 1.0 / (derate * cap)) for b, cap in enumerate(caps) if cap > 0]
            entries += [(g, cols(old, off), -1.0) for _, old, off in members]
        firsts = [members[0][0].index for _, _, members in groups.values()]
        c.rows.add_periods("spot_hedge_capacity", "<=", [(name, i, t) for t in ts for i in firsts], len(firsts),
                           entries, [0.0] * (K * len(firsts)))
    return step


def _pool_loss(c: _Ctx, lost: tuple[str, ...], delta: float) -> None:
    name = "pools-lost:" + "+".join(lost)
    for w in c.s.workloads:
        deps = c.by_w.get(w.id, [])
        if not any(c.pool(d) in lost for d in deps):
            continue  # implied by the base rows (see the docstring)
        ts = [t for t, per in enumerate(c.T) if per.demand_rpm[w.id] > 0]
        if ts:
            supply = [(d, d.availability, c.r_by_period(d, ts), None) for d in deps if c.pool(d) not in lost]
            _serve(c, name, w, ts, supply, delta, {})
    c.commit()


def on_demand_costs(f: Formulation) -> list[float] | None:
    """USD/h per period of a fleet that meets every rule: each workload, in turn, on its cheapest whole-GPU
    on-demand option that serves all its sizes and still fits the offer's max_nodes, at target utilisation (no
    spot, so no spot rule binds); None when some workload finds none. Given the reserved commitments, periods are
    independent, so in every cost-optimal plan a period's pay-as-you-go nodes cost no more than this. Computed from
    the unmerged offers (``planner.fleet.merge``), so the spot caps are the same with or without a merge."""
    s, options = f.unmerged()
    rho = s.policy.target_utilization
    offers = {o.id: o for o in s.offers}
    out = []
    for per in f.horizon.periods:
        gpus: dict[str, int] = {}
        for w in s.workloads:
            best = None
            for d in options.for_workload(w.id):
                o = offers[d.offer]
                if o.market != "on_demand" or d.mig_profile or any(c <= 0 for c in d.capacity_rpm):
                    continue
                need = per.demand_rpm[w.id] * sum(b.share / c for b, c in zip(w.buckets, d.capacity_rpm)) / rho
                g = max(w.min_replicas, math.ceil(need - 1e-9)) * d.tp
                if o.max_nodes is not None and math.ceil((gpus.get(o.id, 0) + g) / o.gpus_per_node) > o.max_nodes:
                    continue
                usd = g * o.price_usd_per_node_hour_effective / o.gpus_per_node
                if best is None or usd < best[0]:
                    best = (usd, o.id, g)
            if best is None:
                return None
            gpus[best[1]] = gpus.get(best[1], 0) + best[2]
        out.append(sum(math.ceil(g / offers[o].gpus_per_node) * offers[o].price_usd_per_node_hour_effective
                       * per.price_multiplier(o) for o, g in gpus.items()))
    return out


def node_bounds(f: Formulation, o_id: str, costs: list[float] | None) -> list[int]:
    """Nbar_{o,t} per period: max_nodes; the nodes whose cost alone would exceed the period's on-demand fleet
    (``on_demand_costs``) or the budget, so the cap never binds at an optimum; with neither, 2 x the nodes
    carrying every workload the offer can serve alone + 8."""
    o = next(x for x in f.scenario.offers if x.id == o_id)
    budget = f.scenario.policy.budget_usd_per_hour
    out = []
    for t, per in enumerate(f.horizon.periods):
        price = o.price_usd_per_node_hour_effective * per.price_multiplier(o_id)
        caps = [o.max_nodes] if o.max_nodes is not None else []
        caps += [math.floor(b / price + 1e-9) for b in (costs[t] if costs else None, budget) if b is not None]
        out.append(min(caps) if caps else _loose_bound(f, o))
    return out


def _loose_bound(f: Formulation, o) -> int:
    rho, gpus = f.scenario.policy.target_utilization, 0.0
    for d in f.options.deployments:
        if d.offer != o.id:
            continue
        w = f.scenario.workload(d.workload)
        peak = max(per.demand_rpm[w.id] for per in f.horizon.periods)
        cmin = min(cap for cap in d.capacity_rpm if cap > 0)
        reps = math.ceil(peak / (rho * d.availability * cmin)) + w.min_replicas
        gpus += reps * (d.tp if d.mig_profile is None else 1)
    return 2 * math.ceil(gpus / o.gpus_per_node) + 8


def _multisets(offers: list[str], k_max: int) -> list[tuple[str, ...]]:
    return [m for size in range(1, k_max + 1) for m in combinations_with_replacement(offers, size)]


def _availability(c: _Ctx, risk: SpotRisk) -> None:
    T = range(len(c.T))
    spot = spot_offers(c.s)
    used = sorted({d.offer for d in c.f.options.deployments if c.is_spot(d)})
    costs = on_demand_costs(c.f) if any(o.max_nodes is None for o in spot) else None
    # per period; a spot offer no deployment uses gets 0: its nodes would serve nothing and cost money, so dropping
    # them keeps any plan feasible and never dearer (the first plan's program: no spot deployment, no breakpoints,
    # and scipy's Poisson tails are not even imported)
    nbar = {o.id: node_bounds(c.f, o.id, costs) if o.id in used else [0] * len(T) for o in spot}
    finite = {o.id: risk.node_weight[o.id] for o in spot if math.isfinite(risk.node_weight[o.id])}
    mu_max = [sum(m * nbar[o][t] for o, m in finite.items()) for t in T]
    brk = risk.breakpoints(max(mu_max, default=0.0))
    total_p = sum(risk.pool_set_probability.values())
    sets = list(risk.pool_sets) if total_p > risk.unsurvived_budget else []
    if not brk and not sets:
        return  # k = 0 everywhere and every pool may go unsurvived: the base rows imply the rest
    for o in spot:
        if o.id not in finite:  # a node that is always down is useless; keep mu finite
            for t in T:
                c.rows.add("spot_node_bound", (o.id, t), {("nodes", o.id, t): 1.0}, "<=", 0.0)
        else:  # the big-Ms below hold for n <= Nbar: say so (never binding at an optimum, see node_bounds)
            for t in T:
                if o.max_nodes is None or nbar[o.id][t] < o.max_nodes:
                    c.rows.add("spot_node_bound", (o.id, t), {("nodes", o.id, t): 1.0}, "<=", float(nbar[o.id][t]))
    if brk:
        c.p.add_vars("spot_margin_step", [(i, t) for i in range(len(brk)) for t in T], 0, 1, integer=True)
        for i, mu_i in enumerate(brk):
            margin = 1e-6 * max(1.0, mu_i)  # an integer fleet within solver tolerance of mu_i counts as above
            for t in T:
                coeffs = {("nodes", o, t): m for o, m in finite.items() if m > 0}
                coeffs[("spot_margin_step", i, t)] = -(max(0.0, mu_max[t] - mu_i) + margin)
                c.rows.add("spot_margin_link", (i, t), coeffs, "<=", mu_i - margin)
                # and e = 1 only from there on (the pool budget's tangent bound would gain from a spurious e = 1)
                coeffs = {("nodes", o, t): m for o, m in finite.items() if m > 0}
                coeffs[("spot_margin_step", i, t)] = -(mu_i - margin)
                c.rows.add("spot_margin_only", (i, t), coeffs, ">=", 0.0)
    if sets:
        _pool_budget(c, risk, sets, brk, mu_max, nbar, finite)
    u_made: dict = {}
    for lost in [(), *sets]:
        offers_left = [o for o in used if c.offers[o].pool_effective not in lost]
        if lost:  # S lost (its reclaims coinciding with node reclaims are charged to the budget instead)
            states: list[tuple[tuple[str, ...] | str, int]] = [((), 0)]
        else:  # every mix of m = 1..K lost nodes, switched on by e_m; too many mixes: the conservative state
            combos = _multisets(offers_left, len(brk))
            states = [("k", 0)] if len(combos) > MAX_MULTISETS else [(a, len(a)) for a in combos]
        for nodes_lost, m in states:
            name = "availability:" + ("pools-lost=" + "+".join(lost) if lost else "") + \
                (":" if lost and nodes_lost else "") + \
                ("nodes-lost=" + ("k" if nodes_lost == "k" else "+".join(nodes_lost)) if nodes_lost else "")
            act: dict = {}
            if lost:
                act[("spot_pool_survived", lost)] = 1.0
            if m:
                act[("spot_margin_step", m - 1)] = 1.0
            for w in c.s.workloads:
                deps = c.by_w.get(w.id, [])
                hit = [d for d in deps if c.is_spot(d) and (c.pool(d) in lost or nodes_lost == "k"
                                                            or d.offer in nodes_lost)]
                if not hit:
                    continue  # implied by the base rows
                left = [d for d in deps if c.pool(d) not in lost]
                ts = [t for t, per in enumerate(c.T) if per.demand_rpm[w.id] > 0]
                if ts:
                    _state_rows(c, name, w, ts, left, act, nodes_lost, brk, u_made)
    c.commit()


def _pool_budget(c: _Ctx, risk: SpotRisk, sets: list, brk: list[float], mu_max: list[float], nbar: dict,
                 weight: dict[str, float]) -> None:
    """sum_S p_S (1 - sigma_S) + sum_S c_S <= budget, with c_S >= p_S (f_t + sigma_S + y_P - 2) for P in S,
    c_S >= 0: a survived set that holds nodes (y_P = 1: pool P has nodes) is charged the chance that one of its
    events meets a node down on its own, f_t >= 1 - exp(-mu_t) >= P(D >= 1). While mu_max <= 1, f_t = mu_t -
    sum_i delta_i e_{i,t}, the tangent through each breakpoint interval's left end (1 - exp(-mu) is concave, so
    mu - (mu_i - 1 + exp(-mu_i)) bounds it above from mu_i on); beyond, f_t = g_0 + sum_i (g_i - g_{i-1}) e_{i,t},
    the bound's value at the right end of mu_t's interval (1 - exp(-mu_1), ..., 1 - exp(-mu_max))."""
    T = range(len(c.T))
    p_set = risk.pool_set_probability
    pools = sorted({p for s in sets for p in s})
    tangent = max(mu_max) <= 1.0
    if tangent:  # f = mu - sum_i delta_i e_i: tangents at mu_i' = mu_i - margin (where e_i may turn 1), D_i =
        # mu_i' - 1 + exp(-mu_i'), increments delta_i
        cuts = [m - 1.0 + math.exp(-m) for m in (mu - 1e-6 * max(1.0, mu) for mu in brk)]
        step, f0 = [b - a for a, b in zip([0.0, *cuts], cuts)], 0.0
    else:  # f = g_0 + sum_i (g_i - g_{i-1}) e_i
        ends = [1.0 - math.exp(-m) for m in (*brk, max(mu_max))]
        step, f0 = [-(ends[i + 1] - ends[i]) for i in range(len(brk))], ends[0]
    c.p.add_vars("spot_pool_survived", [(s, t) for s in sets for t in T], 0, 1, integer=True)
    c.p.add_vars("spot_pool_used", [(p, t) for p in pools for t in T], 0, 1, integer=True)
    c.p.add_vars("spot_pool_overlap", [(s, t) for s in sets for t in T], 0, None, integer=False)
    for t in T:
        for o in spot_offers(c.s):
            if o.pool_effective in pools and nbar[o.id][t] > 0:
                c.rows.add("spot_pool_used_link", (o.id, t), {("nodes", o.id, t): 1.0,
                                                              ("spot_pool_used", o.pool_effective, t):
                                                              -float(nbar[o.id][t])}, "<=", 0.0)
        row = {("spot_pool_survived", s, t): -p_set[s] for s in sets}
        row.update({("spot_pool_overlap", s, t): 1.0 for s in sets})
        c.rows.add("spot_pool_budget", (t,), row, "<=", risk.unsurvived_budget - sum(p_set.values()))
        for s in sets:
            for pool in s:  # c_S - p_S (sigma_S + y_P + f_t - f0) >= p_S (f0 - 2)
                over = {("spot_pool_overlap", s, t): 1.0, ("spot_pool_survived", s, t): -p_set[s],
                        ("spot_pool_used", pool, t): -p_set[s]}
                over.update({("spot_margin_step", i, t): p_set[s] * d for i, d in enumerate(step)})
                if tangent:
                    over.update({("nodes", o, t): -p_set[s] * m for o, m in weight.items() if m > 0})
                c.rows.add("spot_pool_overlap_min", (s, pool, t), over, ">=", p_set[s] * (f0 - 2.0))


def _state_rows(c: _Ctx, name: str, w, ts: list[int], left: list[Deployment], act: dict, nodes_lost, brk,
                u_made: dict) -> None:
    """A node/pool state of (d), in the periods ``ts``: replicas of d that survive are r (not losing), or
    v <= max(0, r - loss). ``u_made``: the column of every ("spot_relied", d, tag, t) made so far (shared by the
    states; a deployment's are made in all of its workload's periods with demand at once)."""
    supply, hits = [], []
    tpl: tuple[list, list, list] = ([], [], [])
    for d in left:
        r_d = c.r_by_period(d, ts)
        if not c.is_spot(d) or (nodes_lost != "k" and d.offer not in nodes_lost):
            supply.append((d, 1.0, r_d, None))
            continue
        nu = float(replicas_per_node(d, c.offers[d.offer].gpus_per_node))
        v_off = len(tpl[0])
        tpl[0].append(("spot_survivors", name, d.index))
        tpl[1].append(math.inf)
        tpl[2].append(False)
        if nodes_lost == "k":  # loss nu sum_i e_i (at most nu K): v <= r - nu sum e + nu K (1 - u)
            tag, most = "k", float(len(brk))
            rhs = nu * most
        else:  # loss nu a: v <= r - nu a u
            tag = most = float(nodes_lost.count(d.offer))
            rhs = 0.0
        made = [u_made.get(("spot_relied", d.index, tag, t)) for t in ts]
        u_off, u_old = None, None
        if all(m is None for m in made):
            u_off = len(tpl[0])
            tpl[0].append(("spot_relied", d.index, tag))
            tpl[1].append(1.0)
            tpl[2].append(True)
        elif all(m is not None for m in made):
            u_old = made
        else:  # cannot happen: every state writes a workload's deployments in all its periods with demand
            raise RuntimeError(f"hedge: spot_relied of deployment {d.index} made in some periods only")
        hits.append((d, nu, tag, most, rhs, v_off, u_off, u_old, r_d))
        supply.append((d, 1.0, None, v_off))
    if hits:   # the rows' blocks in the order the program has always had them (the survivors' rows first)
        c.rows.register("spot_survivors_cap", "<=")
        c.rows.register("spot_relied_bound", "<=")
    step = _serve(c, name, w, ts, supply, 1.0, act, tpl)
    if not hits:
        return
    cap_e, bound_e = [], []
    for h, (d, nu, tag, most, rhs, v_off, u_off, u_old, r_d) in enumerate(hits):
        v = [x + v_off for x in step]
        u = u_old if u_old is not None else [x + u_off for x in step]
        if u_old is None:
            u_made.update(zip([("spot_relied", d.index, tag, t) for t in ts], u))
        cap_e += [(h, v, 1.0), (h, r_d, -1.0)]
        if nodes_lost == "k":
            cap_e += [(h, [c.col(("spot_margin_step", i, t)) for t in ts], nu) for i in range(len(brk))]
        cap_e.append((h, u, nu * most))
        bound = [sum(b.share * c.T[t].demand_rpm[w.id] / cap for b, cap in zip(w.buckets, d.capacity_rpm) if cap > 0)
                 for t in ts]
        bound_e += [(h, v, 1.0), (h, u, [-x for x in bound])]   # v <= B u
    keys = [(name, d.index, t) for t in ts for d, *_ in hits]
    c.rows.add_periods("spot_survivors_cap", "<=", keys, len(hits), cap_e, [h[4] for h in hits] * len(ts))
    c.rows.add_periods("spot_relied_bound", "<=", keys, len(hits), bound_e, [0.0] * len(keys))


# --------------------------------------------------------------------------- explanations and overrides


def explain_hedge(s: Scenario, options: OptionSet, joint: str) -> list[str]:
    """Why no fleet meets the spot rules, per workload, in words; else ``joint`` (the generic reason), followed by
    a note on the hedge when it is on."""
    if not hedge_blocks(s):
        return [joint]
    pol = s.policy.spot
    offers = {o.id: o for o in s.offers}
    reasons = []
    for w in s.workloads:
        deps = options.for_workload(w.id)
        if pol.min_non_spot_share > 0 and not any(offers[d.offer].market != "spot" for d in deps):
            reasons.append(f"workload '{w.id}': policy.spot.min_non_spot_share is {pol.min_non_spot_share:g} but no "
                           "on-demand or reserved offer can serve it")
            continue
        for lost in pool_sets(s, pol.pool_failures) if pol.hedge and pol.degraded_service > 0 else []:
            if deps and all(offers[d.offer].market == "spot" and offers[d.offer].pool_effective in lost for d in deps):
                reasons.append(f"workload '{w.id}': losing spot pool(s) {', '.join(lost)} leaves no option to serve "
                               f"it, and policy.spot.degraded_service is {pol.degraded_service:g}")
                break
    if reasons or not pol.hedge:
        return reasons or [joint]
    return [joint, f"the spot hedge is on (survive {pol.pool_failures} pool(s) lost at {pol.degraded_service:.0%} of "
                   f"demand; availability target {pol.availability_target:g}: node reclaims, and pool events up to "
                   f"{spot_risk(s).pools_lost} pool(s) at once, at full demand); policy.spot.hedge: false plans on "
                   "expected spot capacity only"]


def with_spot_overrides(s: Scenario, *, interruption_rate: float | None = None,
                        recovery_minutes: float | None = None) -> Scenario:
    """The scenario with every spot offer's rate and/or recovery time replaced (``--interruption-rate``)."""
    if interruption_rate is None and recovery_minutes is None:
        return s
    upd: dict = {}
    if interruption_rate is not None:
        upd["interruption_rate_per_hour"] = interruption_rate
    if recovery_minutes is not None:
        upd["recovery_minutes"] = recovery_minutes
    data = s.model_dump(exclude_unset=True)
    data["offers"] = [{**o.model_dump(exclude_unset=True), **upd} if o.market == "spot"
                      else o.model_dump(exclude_unset=True) for o in s.offers]
    return Scenario.model_validate(data)  # validated again: a rate above 10/h is refused here too
