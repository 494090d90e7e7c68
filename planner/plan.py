"""The Plan: what fleetplan recommends, as plain data. JSON keys are a public contract (scripts read them).

A plan has one or more periods (a single-period solve is the special case of one). Top-level ``nodes``,
``replicas`` and ``mig_partitions`` describe the only period when there is one; with several periods they
describe the peak-cost period, and ``periods`` holds every period.

Units are in the names. ``usd_per_hour`` at the top level is the hour-weighted mean over the periods.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["optimal", "feasible", "infeasible", "unbounded", "error"]


class _Rec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class NodeLine(_Rec):
    """Nodes of one offer in the fleet. ``owned`` of them are already paid (reserved, sunk)."""

    offer: str
    gpu: str
    market: Literal["on_demand", "spot", "reserved"]
    count: int = Field(ge=0)
    gpus: int = Field(ge=0)
    usd_per_hour: float
    owned: int = 0
    price_usd_per_node_hour: float = Field(description="this period's price; for reserved nodes under forecast "
                                                       "commitments, the mean locked rate of the paid nodes")
    price_multiplier: float = Field(1.0, description="price trend factor of this period (plan forecast); 1 otherwise")


class BucketLoad(_Rec):
    """Load of one request-size bucket on one deployment."""

    prompt_tokens: int
    output_tokens: int
    capacity_requests_per_min: float = Field(description="per replica at the SLO, before target_utilization")
    assigned_requests_per_min: float


def deployment_key(d, offer: str) -> tuple:
    """What names a deployment of a workload on ``offer``: its workload, precision and shape (``d``: a
    ``planner.fleet.options.Deployment`` or a ``ReplicaLine``, which carry the same fields)."""
    return (d.workload, offer, d.precision, d.tp, d.mig_profile, d.attention_dp, d.expert_parallel)


class ReplicaLine(_Rec):
    """Replicas of one deployment (workload x offer x precision x TP x MIG profile)."""

    workload: str
    offer: str
    gpu: str
    precision: str
    tp: int
    mig_profile: str | None
    count: int = Field(ge=0)
    capacity_requests_per_min: float = Field(description="per replica at the SLO: share-weighted mean of the bucket capacities")
    assigned_requests_per_min: float
    utilization: float = Field(description="sum over buckets of assigned_b / capacity_b, divided by count x availability "
                                           "(a replica time-shares between buckets; one bucket: assigned / (count x capacity))")
    availability: float = Field(1.0, description="expected share of time a replica is up (spot < 1)")
    predicted_ttft_ms: float
    predicted_tpot_ms: float
    buckets: tuple[BucketLoad, ...] = ()
    attention_dp: int = Field(1, ge=1, description="attention data-parallel ranks; tp is then the replica's GPUs, "
                                                   "tp // attention_dp per rank")
    expert_parallel: int = Field(1, ge=1, description="GPUs the routed experts are spread over (1: not expert-parallel)")

    @property
    def key(self) -> tuple:
        """``Deployment.key`` of the deployment these replicas are of (its offer as the plan lists it)."""
        return self.key_on(self.offer)

    def key_on(self, offer: str) -> tuple:
        """``Deployment.key_on``: the key of the same deployment on ``offer``."""
        return deployment_key(self, offer)


class MigPartition(_Rec):
    """``gpus`` GPUs of ``offer`` partitioned as ``pattern`` (one profile name per instance)."""

    offer: str
    pattern: tuple[str, ...]
    gpus: int = Field(ge=0)


class WorkloadLine(_Rec):
    """Per workload, hour-weighted means over the periods (the only period's values when there is one)."""

    id: str
    demand_requests_per_min: float
    served_requests_per_min: float
    unmet_requests_per_min: float = 0.0
    usd_per_hour: float
    usd_per_million_output_tokens: float | None


class PeriodPlan(_Rec):
    """The fleet during one period (an hour of the day, a month, ...)."""

    name: str
    hours: float = Field(gt=0)
    epoch: int = Field(0, ge=0, description="reserved capacity is fixed within an epoch (plan forecast: the month index)")
    demand_requests_per_min: dict[str, float]
    nodes: tuple[NodeLine, ...]
    replicas: tuple[ReplicaLine, ...]
    mig_partitions: tuple[MigPartition, ...] = ()
    usd_per_hour: float
    unmet_requests_per_min: dict[str, float] = Field(default_factory=dict)


class CommitmentLine(_Rec):
    """``nodes`` reserved nodes of ``offer`` signed at the start of epoch ``start_epoch`` for ``term_months`` (forecast)."""

    offer: str
    option: int | None = Field(description="index in forecast.reserved_options; null = the reserved offer's own terms")
    nodes: int = Field(gt=0)
    start_epoch: int = Field(ge=0)
    start_month: str
    term_months: int = Field(gt=0)
    usd_per_node_hour: float = Field(description="rate locked at signing (price trend of the start month applied)")
    upfront_usd_per_node: float = 0.0
    usd: float = Field(description="whole term: nodes x (upfront + rate x term hours), also after the horizon")
    tail_usd: float = Field(0.0, description="the part of usd paid after the horizon")


class Baseline(_Rec):
    name: str
    usd_per_hour: float | None
    status: str
    detail: str = ""


class OptionLine(_Rec):
    """A deployment option considered: chosen, feasible but not chosen, dominated, or dropped with why."""

    workload: str
    offer: str
    gpu: str
    precision: str
    tp: int
    mig_profile: str | None
    state: Literal["chosen", "feasible", "dominated", "dropped"]
    reason: str | None = None
    capacity_requests_per_min: float = 0.0
    usd_per_hour_per_replica: float | None = None
    predicted_ttft_ms: float | None = None
    attention_dp: int = 1
    expert_parallel: int = 1


class Check(_Rec):
    name: str
    ok: bool
    detail: str = ""

    @classmethod
    def from_findings(cls, name: str, fails: list[str], skipped: str | None = None,
                      notes: list[str] = (), max_shown: int = 3) -> "Check":
        """One check family's outcome: ok when nothing failed; the detail names the first failures, the skip
        reason and the notes, joined by `` | ``."""
        parts = []
        if fails:
            more = f"; ... and {len(fails) - max_shown} more" if len(fails) > max_shown else ""
            parts.append(f"{len(fails)} failure(s): " + "; ".join(fails[:max_shown]) + more)
        if skipped:
            parts.append(f"skipped: {skipped}")
        parts += [f"note: {n}" for n in notes]
        return cls(name=name, ok=not fails, detail=" | ".join(parts))


class Verification(_Rec):
    ok: bool
    checks: tuple[Check, ...]


class CostBreakdown(_Rec):
    on_demand_usd_per_hour: float = 0.0
    spot_usd_per_hour: float = 0.0
    reserved_usd_per_hour: float = Field(0.0, description="new reserved commitments; owned nodes cost 0")
    unmet_penalty_usd_per_hour: float = 0.0
    reserved_upfront_usd_per_hour: float = Field(0.0, description="forecast: commitments' upfront fees / horizon hours")
    reserved_tail_usd_per_hour: float = Field(0.0, description="forecast: commitment cost after the horizon / horizon hours")


class Plan(_Rec):
    """A solved (or unsolved) fleet plan."""

    scenario: str
    status: Status
    objective_usd_per_hour: float | None
    bound_usd_per_hour: float | None
    gap: float | None
    solver: str
    solve_seconds: float
    message: str = ""
    target_utilization: float
    nodes: tuple[NodeLine, ...] = ()
    replicas: tuple[ReplicaLine, ...] = ()
    mig_partitions: tuple[MigPartition, ...] = ()
    workloads: tuple[WorkloadLine, ...] = ()
    cost: CostBreakdown = CostBreakdown()
    periods: tuple[PeriodPlan, ...] = ()
    commitments: tuple[CommitmentLine, ...] | None = Field(
        None, description="plan forecast: reserved terms to sign (new reserved nodes exist only through these); "
                          "null for plan solve")
    baselines: tuple[Baseline, ...] = ()
    options: tuple[OptionLine, ...] = ()
    verification: Verification | None = None
    tie_break: str = Field("", description="what the lexicographic tie-break did, or why it was skipped")
    problem_size: dict[str, int] = Field(default_factory=dict)

    @property
    def total_gpus(self) -> int:
        return sum(n.gpus for n in self.nodes)

    def to_json(self) -> dict:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict) -> "Plan":
        return cls.model_validate(data)
