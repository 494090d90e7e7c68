"""Planning periods: when demand differs over time, the fleet is planned per period.

A ``Horizon`` is an ordered list of periods t with hours h_t, an *epoch* e(t) (reserved capacity is fixed within
an epoch; ``plan solve`` has one epoch, ``plan forecast`` one per month), the demand lambda_{w,t} of every
workload (requests/min) and a price multiplier per offer (forecast price trends; 1 otherwise).

Derivation from a scenario (``plan solve``):
- no workload has ``profile`` or ``periods``: one period "all" of 1 hour (the single-period special case);
- daily profiles (24 values) give periods h00..h23 of 1 hour; if any workload has a weekly profile (168 values)
  the horizon is the week h000..h167 and daily profiles repeat 7 times; workloads without a profile are flat;
- explicit ``periods`` lists: every workload that has one must list the same names and hours (in order);
  workloads without one are flat. Profiles and explicit periods cannot be mixed across workloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.errors import Issue, ScenarioError
from planner.scenario.model import Scenario


@dataclass(frozen=True)
class PeriodSpec:
    name: str
    hours: float
    epoch: int
    demand_rpm: dict[str, float]
    price_factor: dict[str, float] = field(default_factory=dict)

    def price_multiplier(self, offer_id: str) -> float:
        return self.price_factor.get(offer_id, 1.0)


@dataclass(frozen=True)
class CommitmentOption:
    """A reserved term that may be signed at the start of any epoch (``plan forecast``; built by planner.forecast.run).

    Signed in epoch s, ``c`` nodes of ``offer`` are available in epochs s .. s + term_epochs - 1 and cost
    ``c x usd_per_node_hour[s]`` every hour of that term (the rate is locked at signing), plus
    ``c x upfront_usd_per_node`` once; ``tail_hours[s]`` of the term fall after the horizon.
    """

    offer: str
    option: int | None  # index in forecast.reserved_options; None = derived from the reserved offer itself
    term_epochs: int
    usd_per_node_hour: tuple[float, ...]  # by signing epoch
    upfront_usd_per_node: float
    max_nodes: int | None  # nodes signed through this option over the horizon, in all
    tail_hours: tuple[float, ...]  # by signing epoch
    fixed_nodes: tuple[int, ...] | None = None  # by signing epoch: the decision is given (planner.forecast.decompose)

    def active(self, start: int, epoch: int) -> bool:
        return start <= epoch < start + self.term_epochs


@dataclass(frozen=True)
class Horizon:
    """Periods, their epochs and, for ``plan forecast``, the reserved terms that may be signed.

    ``commitments`` None (``plan solve``): reserved nodes beyond the owned ones are bought per epoch at the offer's
    hourly rate. A tuple (``plan forecast``, may be empty): new reserved nodes exist only through commitments.
    """

    periods: tuple[PeriodSpec, ...]
    epoch_names: tuple[str, ...] = ("all",)
    commitments: tuple[CommitmentOption, ...] | None = None

    @property
    def total_hours(self) -> float:
        return sum(p.hours for p in self.periods)

    @property
    def n_epochs(self) -> int:
        return len(self.epoch_names)

    @property
    def epoch_hours(self) -> tuple[float, ...]:
        hours = [0.0] * self.n_epochs
        for p in self.periods:
            hours[p.epoch] += p.hours
        return tuple(hours)


def _profile_periods(s: Scenario) -> list[PeriodSpec]:
    weekly = any(w.profile is not None and len(w.profile.hourly) == 168 for w in s.workloads)
    n = 168 if weekly else 24
    width = 3 if weekly else 2
    periods = []
    for h in range(n):
        demand = {}
        for w in s.workloads:
            mult = 1.0 if w.profile is None else w.profile.hourly[h % len(w.profile.hourly)]
            demand[w.id] = w.requests_per_min * mult
        periods.append(PeriodSpec(name=f"h{h:0{width}d}", hours=1.0, epoch=0, demand_rpm=demand))
    return periods


def _explicit_periods(s: Scenario) -> list[PeriodSpec]:
    ref = next(w for w in s.workloads if w.periods is not None)
    shape = [(p.name, p.hours) for p in ref.periods]
    issues = []
    for i, w in enumerate(s.workloads):
        if w.periods is not None and [(p.name, p.hours) for p in w.periods] != shape:
            issues.append(Issue(f"workloads[{i}].periods",
                                f"must list the same period names and hours as workload '{ref.id}' ({shape})"))
    if issues:
        raise ScenarioError(issues)
    periods = []
    for k, (name, hours) in enumerate(shape):
        demand = {w.id: (w.periods[k].requests_per_min if w.periods is not None else w.requests_per_min)
                  for w in s.workloads}
        periods.append(PeriodSpec(name=name, hours=hours, epoch=0, demand_rpm=demand))
    return periods


def horizon_for(s: Scenario) -> Horizon:
    """The periods ``plan solve`` plans over (see the module docstring)."""
    has_profile = [i for i, w in enumerate(s.workloads) if w.profile is not None]
    has_periods = [i for i, w in enumerate(s.workloads) if w.periods is not None]
    if has_profile and has_periods:
        raise ScenarioError([Issue(f"workloads[{has_periods[0]}].periods",
                                   "cannot mix explicit periods with hourly profiles across workloads "
                                   f"(workloads[{has_profile[0]}] has a profile)")])
    if has_profile:
        return Horizon(periods=tuple(_profile_periods(s)))
    if has_periods:
        return Horizon(periods=tuple(_explicit_periods(s)))
    demand = {w.id: w.requests_per_min for w in s.workloads}
    return Horizon(periods=(PeriodSpec(name="all", hours=1.0, epoch=0, demand_rpm=demand),))
