"""What every verifier check shares: tolerant comparisons, the findings log, and the Context (the scenario,
the plan, its periods and the lookups the checks read: offers, workloads, node counts, forecast months, trends, commitments)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from planner.plan import Check, PeriodPlan, Plan, ReplicaLine
from planner.scenario.model import Offer, SizeBucket, Workload
from planner.verify.capacities import Capacities

if TYPE_CHECKING:
    from planner.catalog.records import GpuSpec
    from planner.scenario.io import LoadedScenario

CHECKS = ("demand_covered", "capacity_respected", "capacity_matches_model", "deployment_valid", "gpus_fit_nodes",
          "mig_patterns_valid", "mig_instances_cover_replicas", "node_caps", "min_replicas", "budget",
          "costs_add_up", "status_honest", "top_level_is_a_period")
MAX_SHOWN = 3
CAPACITY_RTOL = 1e-6


def close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def le(a: float, b: float, tol: float) -> bool:
    return a <= b + tol * max(1.0, abs(a), abs(b))


def fmt(x: float) -> str:
    return f"{x:.6g}"


class Log:
    """Failures and notes per check family."""

    def __init__(self) -> None:
        self.fails: dict[str, list[str]] = defaultdict(list)
        self.notes: dict[str, list[str]] = defaultdict(list)
        self.skipped: dict[str, str] = {}

    def fail(self, check: str, msg: str) -> None:
        self.fails[check].append(msg)

    def note(self, check: str, msg: str) -> None:
        if msg not in self.notes[check]:
            self.notes[check].append(msg)

    def checks(self) -> tuple[Check, ...]:
        out = []
        for name in CHECKS:
            out.append(Check.from_findings(name, self.fails.get(name, []), self.skipped.get(name),
                                           self.notes.get(name, []), MAX_SHOWN))
        return tuple(out)
def gpu_or_none(catalog: Any, name: str) -> "GpuSpec | None":
    try:
        return catalog.gpu(name)
    except Exception:  # noqa: BLE001 - an unknown id is reported by the caller
        return None


def spot_availability(offer: Offer) -> float:
    """Expected up-share of a node: ``max(0, 1 - rate/h x recovery_min/60)`` on spot, 1 otherwise."""
    if offer.market != "spot":
        return 1.0
    return max(0.0, 1.0 - (offer.interruption_rate_per_hour or 0.0) * offer.recovery_minutes_effective / 60.0)

class Context:
    """The plan under verification with the scenario lookups the checks share; ``log`` collects findings."""

    def __init__(self, loaded: "LoadedScenario", plan: Plan, allow_unmet: bool, calibration: Any,
                 tol: float) -> None:
        self.loaded, self.s, self.cat, self.plan = loaded, loaded.scenario, loaded.catalog, plan
        self.allow_unmet, self.tol, self.log = allow_unmet, tol, Log()
        self.offers = {o.id: o for o in self.s.offers}
        self.workloads = {w.id: w for w in self.s.workloads}
        self.caps = Capacities(loaded, calibration)
        self.periods = self._periods()
        self.valid_line: dict[int, bool] = {}

    def _periods(self) -> list[PeriodPlan]:
        if self.plan.periods:
            return list(self.plan.periods)
        # A plan without periods: treat the top level as its only period (stated demand from workloads[]).
        self.log.note("costs_add_up", "plan has no periods; the top level is checked as a 1-hour period")
        stated = {wl.id: wl.demand_requests_per_min for wl in self.plan.workloads}
        demand = {w.id: stated.get(w.id, w.requests_per_min) for w in self.s.workloads}
        unmet = {wl.id: wl.unmet_requests_per_min for wl in self.plan.workloads if wl.unmet_requests_per_min}
        usd = (self.plan.objective_usd_per_hour or 0.0) - self.plan.cost.unmet_penalty_usd_per_hour
        return [PeriodPlan(name="(top level)", hours=1.0, demand_requests_per_min=demand, nodes=self.plan.nodes,
                           replicas=self.plan.replicas, mig_partitions=self.plan.mig_partitions,
                           usd_per_hour=usd, unmet_requests_per_min=unmet)]

    def where(self, per: PeriodPlan, r: ReplicaLine) -> str:
        mig = f" MIG {r.mig_profile}" if r.mig_profile else ""
        return f"period {per.name}: {r.workload} on {r.offer} {r.precision} tp{r.tp}{mig}"

    def bucket_loads(self, w: Workload, r: ReplicaLine) -> list[tuple[SizeBucket | None, float, float]]:
        """(scenario bucket or None when unknown, capacity, assigned) per bucket line of ``r``."""
        if not r.buckets and len(w.buckets) == 1:  # a single-bucket line may omit its bucket breakdown
            return [(w.buckets[0], r.capacity_requests_per_min, r.assigned_requests_per_min)]
        sizes = {(b.prompt_tokens, b.output_tokens): b for b in w.buckets}
        return [(sizes.get((bl.prompt_tokens, bl.output_tokens)), bl.capacity_requests_per_min,
                 bl.assigned_requests_per_min) for bl in r.buckets]

    def nodes(self, per: PeriodPlan) -> dict[str, int]:
        count: dict[str, int] = defaultdict(int)
        for n in per.nodes:
            count[n.offer] += n.count
        return count

    def months(self) -> list[str]:
        """Month names of the forecast horizon (epoch e = month e), from forecast.start."""
        fc = self.s.forecast
        n = 1 + max((p.epoch for p in self.periods), default=0)
        if fc is None:
            return []
        y, m = int(fc.start[:4]), int(fc.start[5:7]) - 1
        return [f"{y + (m + i) // 12:04d}-{(m + i) % 12 + 1:02d}" for i in range(n)]

    def trend(self, o: Offer, epoch: int) -> float:
        """Price factor of ``o`` in month ``epoch``: the forecast trends naming o or its GPU, compounded."""
        fc = self.s.forecast
        if fc is None or epoch == 0:
            return 1.0
        gpu, rate = gpu_or_none(self.cat, o.gpu), 1.0
        for t in fc.price_trends:
            tg = gpu_or_none(self.cat, t.gpu) if t.gpu is not None else None
            if t.offer == o.id or (tg is not None and gpu is not None and tg.id == gpu.id):
                rate *= 1.0 + t.price_change_pct_per_month / 100.0
        return rate ** epoch

    def growth(self, w: Workload, month: int) -> float | None:
        fc = self.s.forecast
        g = None if fc is None else fc.growth.get(w.id)
        if g is None:
            return 1.0
        if g.multipliers is not None:
            return g.multipliers[month] if month < len(g.multipliers) else None
        return (1.0 + g.growth_pct_per_month / 100.0) ** month

    def active(self, offer: str, epoch: int) -> list:
        return [k for k in self.plan.commitments or () if k.offer == offer
                and k.start_epoch <= epoch < k.start_epoch + k.term_months]

    def commit_terms(self, k) -> tuple[float, float, int | None] | str:
        """(locked rate, upfront per node, option max_nodes) the scenario gives commitment line k, or why not."""
        o, fc = self.offers.get(k.offer), self.s.forecast
        if o is None or o.market != "reserved":
            return f"'{k.offer}' is not a reserved offer of the scenario"
        options = None if fc is None else fc.reserved_options
        if k.option is None:
            if options is not None:
                return "no option index, but the scenario lists forecast.reserved_options"
            if o.term_months != k.term_months:
                return f"term {k.term_months} months, the offer's term_months is {o.term_months}"
            base = o.price_usd_per_node_hour if o.price_usd_per_node_hour is not None else \
                o.price_usd_per_gpu_hour * o.gpus_per_node
            return base * self.trend(o, k.start_epoch), o.upfront_usd_per_node or 0.0, None
        if options is None or not 0 <= k.option < len(options):
            return f"option {k.option} is not in forecast.reserved_options"
        r = options[k.option]
        if (r.offer, r.term_months) != (k.offer, k.term_months):
            return f"option {k.option} is {r.offer} for {r.term_months} months"
        rate = r.price_usd_per_node_hour if r.price_usd_per_node_hour is not None else \
            o.price_usd_per_node_hour_effective
        return rate * self.trend(o, k.start_epoch), r.upfront_usd_per_node, r.max_nodes

    def node_cost(self, n, per: PeriodPlan) -> float | None:
        o = self.offers.get(n.offer)
        if o is None:
            return None
        if o.market == "reserved" and self.plan.commitments is not None:
            return sum(k.nodes * k.usd_per_node_hour for k in self.active(o.id, per.epoch))  # rates checked below
        paid = n.count - o.owned_nodes if o.market == "reserved" else n.count
        return paid * o.price_usd_per_node_hour_effective * self.trend(o, per.epoch)
