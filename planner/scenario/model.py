"""The scenario file: workloads (demand and SLAs), GPU offers, policy. YAML -> pydantic v2, frozen, ``extra="forbid"``.

This module checks everything that can be checked from the file alone (types, ranges, cross-field rules).
Checks that need the catalogs (unknown model/GPU ids, MIG support) live in ``planner.scenario.checks``;
reading YAML and turning errors into ``file: field.path: message`` lines lives in ``planner.scenario.io``.

Units are in the field names: ``requests_per_min``, ``ttft_slo_ms``, ``price_usd_per_gpu_hour``.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from planner.catalog.records import GpuSpec, ModelSpec
from planner.scenario.from_catalog import OfferSelector, expand_scenario_data

Precision = Literal["fp16", "bf16", "fp8", "int8", "int4", "fp4"]
KvDtype = Literal["auto", "bf16", "fp16", "fp8"]
Engine = Literal["vllm", "sglang", "trtllm"]
Market = Literal["on_demand", "spot", "reserved"]
SolverName = Literal["cbc", "scip", "highs", "cpsat"]

SHARE_TOLERANCE = 1e-6

# Sane ranges (upper bounds) of numeric fields: far above any real fleet, low enough that no number overflows or
# makes a builder loop (max_nodes bounds the spot hedge's breakpoints). Units are in the names; the reader adds
# them to its messages. Every float must also be finite (``allow_inf_nan=False``).
MAX_RATE_RPM = 1e9  # requests per minute
MAX_TOKENS = 10_000_000  # tokens per request / context
MAX_SLO_MS = 3_600_000.0  # one hour
MAX_USD_PER_HOUR = 1e6  # per GPU- or node-hour
MAX_USD = 1e12  # budgets, upfront fees
MAX_NODES = 10_000  # nodes of one offer (also min_replicas)
MAX_RECOVERY_MINUTES = 10_080.0  # one week
MAX_TERM_MONTHS = 120
MAX_PCT_PER_MONTH = 1000.0
MAX_MULTIPLIER = 1e6
MAX_PERIOD_HOURS = 8784.0  # a leap year
MAX_PERIODS = 8784
MAX_BUCKETS = 1000
MAX_RECORDS = 10_000  # workloads, offers, models, gpus ...
MAX_POOLS = 10_000
MAX_TIME_LIMIT_S = 7 * 86_400.0
HOURS_PER_MONTH = 730.0  # 8760 h / 12, the convention cloud price pages use


class Strict(BaseModel):
    """Base for every scenario record: immutable, unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True, allow_inf_nan=False)


class SpotPolicy(Strict):
    """How much spot risk a plan may carry (used from the spot-risk issue on)."""

    availability_target: float = Field(0.99, gt=0, le=1, description="probability each workload keeps its SLA")
    degraded_service: float = Field(0.8, ge=0, le=1, description="share of demand still served when pools are lost")
    pool_failures: int = Field(1, ge=0, le=MAX_POOLS, description="how many spot pools may be lost at once")
    min_non_spot_share: float = Field(0.0, ge=0, le=1, description="floor of demand served by on-demand/reserved")
    hedge: bool = Field(True, description="apply the pool-loss hedge; false = expected capacity only")
    pool_event_share: float = Field(0.25, ge=0, le=1, description="share of a spot node's interruption rate that "
                                    "comes from pool-wide events reclaiming every node of its pool at once")


class Policy(Strict):
    """Planning policy: utilisation headroom, solver, limits, budget."""

    target_utilization: float = Field(0.8, gt=0, le=1, description="plan replicas at <= this share of capacity")
    solver: SolverName = "highs"
    time_limit_s: float = Field(60.0, gt=0, le=MAX_TIME_LIMIT_S)
    mip_gap: float = Field(0.0, ge=0, lt=1)
    budget_usd_per_hour: float | None = Field(None, gt=0, le=MAX_USD)
    calibration: str | None = Field(None, description="calibration YAML, path relative to the scenario file")
    spot: SpotPolicy = SpotPolicy()

    @field_validator("solver")
    @classmethod
    def _integer_only_backend(cls, v: str) -> str:
        if v == "cpsat":
            raise ValueError("cpsat (OR-Tools CP-SAT) takes integer variables only, and the fleet program has "
                             "continuous loads (requests/min routed to each replica); use cbc, scip or highs")
        return v


class SizeBucket(Strict):
    """One bar of a request-size histogram."""

    prompt_tokens: int = Field(gt=0, le=MAX_TOKENS)
    output_tokens: int = Field(gt=0, le=MAX_TOKENS)
    share: float = Field(gt=0, le=1)


class Profile(Strict):
    """Multipliers on ``requests_per_min``: 24 values (a day) or 168 (a week, Monday 00:00 first)."""

    hourly: tuple[float, ...]

    @field_validator("hourly")
    @classmethod
    def _length_and_sign(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) not in (24, 168):
            raise ValueError(f"must have 24 (daily) or 168 (weekly) values (got {len(v)})")
        bad = [i for i, x in enumerate(v) if not (0 <= x <= MAX_MULTIPLIER and math.isfinite(x))]
        if bad:
            raise ValueError(f"multipliers must be finite, >= 0 and <= {MAX_MULTIPLIER:g} "
                             f"(entry {bad[0]} is {v[bad[0]]})")
        return v


class Period(Strict):
    """An explicit demand period: its own rate for a number of hours."""

    name: str = Field(min_length=1)
    hours: float = Field(gt=0, le=MAX_PERIOD_HOURS)
    requests_per_min: float = Field(ge=0, le=MAX_RATE_RPM)


class Workload(Strict):
    """One model served under one SLA. Give either ``prompt_tokens``+``output_tokens`` or ``size_mix``."""

    id: str = Field(min_length=1)
    model: str = Field(min_length=1)
    requests_per_min: float = Field(gt=0, le=MAX_RATE_RPM)
    prompt_tokens: int | None = Field(None, gt=0, le=MAX_TOKENS)
    output_tokens: int | None = Field(None, gt=0, le=MAX_TOKENS)
    size_mix: tuple[SizeBucket, ...] | None = Field(None, max_length=MAX_BUCKETS)
    context_tokens: int | None = Field(None, gt=0, le=MAX_TOKENS)
    ttft_slo_ms: float = Field(gt=0, le=MAX_SLO_MS)
    ttft_percentile: float = Field(95.0, gt=0, lt=100)
    tpot_slo_ms: float | None = Field(None, gt=0, le=MAX_SLO_MS)
    precisions: tuple[Precision, ...] = ("bf16",)
    kv_cache_dtype: KvDtype = "auto"
    engine: Engine = "vllm"
    min_replicas: int = Field(1, ge=0, le=MAX_NODES)
    profile: Profile | None = None
    periods: tuple[Period, ...] | None = Field(None, max_length=MAX_PERIODS)

    @field_validator("precisions")
    @classmethod
    def _precisions(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("must list at least one precision")
        if len(set(v)) != len(v):
            raise ValueError(f"lists a precision twice: {list(v)}")
        return v

    @field_validator("size_mix")
    @classmethod
    def _shares(cls, v: tuple[SizeBucket, ...] | None) -> tuple[SizeBucket, ...] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("must have at least one bucket")
        total = sum(b.share for b in v)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise ValueError(f"shares must sum to 1 (got {total:.6g})")
        sizes = [(b.prompt_tokens, b.output_tokens) for b in v]
        if len(set(sizes)) != len(sizes):
            raise ValueError("two buckets have the same prompt_tokens and output_tokens; merge them")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> "Workload":
        has_single = self.prompt_tokens is not None or self.output_tokens is not None
        if self.size_mix is not None and has_single:
            raise ValueError("give either size_mix or prompt_tokens/output_tokens, not both")
        if self.size_mix is None:
            missing = [f for f in ("prompt_tokens", "output_tokens") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"missing {' and '.join(missing)} (or give a size_mix)")
        if self.context_tokens is not None:
            need = max(b.prompt_tokens + b.output_tokens for b in self.buckets)
            if self.context_tokens < need:
                raise ValueError(
                    f"context_tokens ({self.context_tokens}) must be >= prompt + output tokens ({need})")
        if self.profile is not None and self.periods is not None:
            raise ValueError("give either profile or periods, not both")
        return self

    @property
    def buckets(self) -> tuple[SizeBucket, ...]:
        """The request-size histogram; a single bucket with share 1 when sizes are given directly."""
        if self.size_mix is not None:
            return self.size_mix
        return (SizeBucket(prompt_tokens=self.prompt_tokens, output_tokens=self.output_tokens, share=1.0),)

    def context_for(self, bucket: SizeBucket) -> int:
        """KV tokens reserved per sequence: ``context_tokens`` if given, else the bucket's prompt + output."""
        if self.context_tokens is not None:
            return self.context_tokens
        return bucket.prompt_tokens + bucket.output_tokens


class Offer(Strict):
    """A way to rent GPUs. A node is the unit sold: ``gpus_per_node`` GPUs sharing one NVLink group."""

    id: str = Field(min_length=1)
    gpu: str = Field(min_length=1)
    market: Market
    price_usd_per_gpu_hour: float | None = Field(None, gt=0, le=MAX_USD_PER_HOUR)
    price_usd_per_node_hour: float | None = Field(None, gt=0, le=MAX_USD_PER_HOUR)
    gpus_per_node: int = Field(1, ge=1, le=72)
    max_nodes: int | None = Field(None, ge=0, le=MAX_NODES)
    region: str | None = None
    # spot only
    interruption_rate_per_hour: float | None = Field(None, ge=0, le=10)
    recovery_minutes: float | None = Field(None, ge=0, le=MAX_RECOVERY_MINUTES)
    pool: str | None = None
    # reserved only
    term_months: int | None = Field(None, gt=0, le=MAX_TERM_MONTHS)
    owned_nodes: int = Field(0, ge=0, le=MAX_NODES)
    upfront_usd_per_node: float | None = Field(None, ge=0, le=MAX_USD)
    # MIG
    mig: bool = False
    source: str | None = Field(None, description="where the price came from")
    as_of: str | None = Field(None, description="date of the price")

    @field_validator("gpus_per_node")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        # Replicas use power-of-two TP degrees; packing them by GPU count is exact only when the node size is
        # a power of two (see planner.fleet.formulation). Other sizes are refused rather than silently mis-packed.
        if v & (v - 1):
            raise ValueError(f"must be a power of two (1, 2, 4, 8, ...) (got {v})")
        return v

    @model_validator(mode="after")
    def _market_fields(self) -> "Offer":
        prices = [p for p in (self.price_usd_per_gpu_hour, self.price_usd_per_node_hour) if p is not None]
        if len(prices) != 1:
            raise ValueError("give exactly one of price_usd_per_gpu_hour or price_usd_per_node_hour")
        spot_fields = {"interruption_rate_per_hour": self.interruption_rate_per_hour,
                       "recovery_minutes": self.recovery_minutes, "pool": self.pool}
        if self.market != "spot":
            given = [k for k, v in spot_fields.items() if v is not None]
            if given:
                raise ValueError(f"{', '.join(given)} only apply to spot offers (market is {self.market})")
        elif self.interruption_rate_per_hour is None:
            raise ValueError("spot offers need interruption_rate_per_hour (per node per hour; 0 if you accept no risk model)")
        if self.market != "reserved":
            given = [k for k, v in (("term_months", self.term_months), ("upfront_usd_per_node", self.upfront_usd_per_node))
                     if v is not None]
            if self.owned_nodes:
                given.append("owned_nodes")
            if given:
                raise ValueError(f"{', '.join(given)} only apply to reserved offers (market is {self.market})")
        if self.upfront_usd_per_node and self.term_months is None:
            raise ValueError("upfront_usd_per_node needs term_months (the fee is spread over the term)")
        if self.max_nodes is not None and self.owned_nodes > self.max_nodes:
            raise ValueError(f"owned_nodes ({self.owned_nodes}) exceeds max_nodes ({self.max_nodes})")
        return self

    @property
    def price_usd_per_node_hour_effective(self) -> float:
        """Hourly price of one node, whichever way the file gave it, with any upfront fee spread over the term.

        ``upfront_usd_per_node / (term_months x 730 h)`` is added for reserved offers that have an upfront fee.
        """
        hourly = (self.price_usd_per_node_hour if self.price_usd_per_node_hour is not None
                  else self.price_usd_per_gpu_hour * self.gpus_per_node)
        if self.upfront_usd_per_node:
            hourly += self.upfront_usd_per_node / (self.term_months * HOURS_PER_MONTH)
        return hourly

    @property
    def recovery_minutes_effective(self) -> float:
        """Recovery time of a reclaimed spot node; 10 minutes when not given (documented default)."""
        return 10.0 if self.recovery_minutes is None else self.recovery_minutes

    @property
    def pool_effective(self) -> str:
        """Spot pool; an offer without one is its own pool."""
        return self.pool or self.id


class ModelEntry(Strict):
    """A model added by the scenario: from a local Hugging Face config.json, or written out in full."""

    id: str = Field(min_length=1)
    hf_config: str | None = Field(None, description="path to config.json, relative to the scenario file")
    spec: ModelSpec | None = Field(None, description="the architecture written out (catalog model fields)")

    @model_validator(mode="after")
    def _one_source(self) -> "ModelEntry":
        if (self.hf_config is None) == (self.spec is None):
            raise ValueError("give exactly one of hf_config or spec")
        return self


class CapacityOverride(Strict):
    """Measured capacity replacing the performance model for one case (0 = this case cannot serve)."""

    workload: str = Field(min_length=1)
    gpu: str = Field(min_length=1)
    precision: Precision
    tp: int = Field(1, ge=1, le=64)
    mig_profile: str | None = None
    prompt_tokens: int | None = Field(None, gt=0, le=MAX_TOKENS)
    output_tokens: int | None = Field(None, gt=0, le=MAX_TOKENS)
    requests_per_min: float = Field(ge=0, le=MAX_RATE_RPM)
    source: str | None = None

    @model_validator(mode="after")
    def _bucket_pair(self) -> "CapacityOverride":
        if (self.prompt_tokens is None) != (self.output_tokens is None):
            raise ValueError("give both prompt_tokens and output_tokens to target a bucket, or neither")
        return self


class Growth(Strict):
    """Monthly demand growth: compound percent or explicit multipliers (month 1 first)."""

    growth_pct_per_month: float | None = Field(None, gt=-100, le=MAX_PCT_PER_MONTH)
    multipliers: tuple[float, ...] | None = Field(None, max_length=120)

    @model_validator(mode="after")
    def _one(self) -> "Growth":
        if (self.growth_pct_per_month is None) == (self.multipliers is None):
            raise ValueError("give exactly one of growth_pct_per_month or multipliers")
        if self.multipliers is not None and any(not (0 <= m <= MAX_MULTIPLIER and math.isfinite(m))
                                                for m in self.multipliers):
            raise ValueError(f"multipliers must be finite, >= 0 and <= {MAX_MULTIPLIER:g}")
        return self


class PriceTrend(Strict):
    """A monthly price change applied to every offer of a GPU, or to one offer."""

    offer: str | None = None
    gpu: str | None = None
    price_change_pct_per_month: float = Field(gt=-100, le=MAX_PCT_PER_MONTH)

    @model_validator(mode="after")
    def _target(self) -> "PriceTrend":
        if (self.offer is None) == (self.gpu is None):
            raise ValueError("give exactly one of offer or gpu")
        return self


class ReservedOption(Strict):
    """A commitment that may be newly signed at the start of any month of the forecast horizon.

    Signed in month m, it is paid ``price_usd_per_node_hour`` (times the offer's price trend at month m, then
    locked) for every hour of ``term_months``, also after the horizon, plus ``upfront_usd_per_node`` in month m.
    """

    offer: str = Field(min_length=1, description="a reserved offer whose GPU, node size and rate apply")
    term_months: int = Field(gt=0, le=MAX_TERM_MONTHS)
    price_usd_per_node_hour: float | None = Field(
        None, gt=0, le=MAX_USD_PER_HOUR,
        description="defaults to the offer's effective rate (its upfront fee spread over its term)")
    upfront_usd_per_node: float = Field(0.0, ge=0, le=MAX_USD)
    max_nodes: int | None = Field(None, ge=0, le=MAX_NODES, description="nodes signed through this option over the horizon, in all")


class Forecast(Strict):
    """Budget forecasting over months (used by ``plan forecast``)."""

    start: str = Field("2027-01", pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    months: int = Field(12, gt=0, le=120)
    hours_per_month: float = Field(730.0, gt=0, le=744)
    growth: dict[str, Growth] = Field(default_factory=dict, description="by workload id")
    price_trends: tuple[PriceTrend, ...] = Field((), max_length=MAX_RECORDS)
    reserved_options: tuple[ReservedOption, ...] | None = Field(
        None, description="None: every reserved offer with term_months may be signed on its own terms; () none")


class Scenario(Strict):
    """A whole planning problem."""

    name: str = Field(min_length=1)
    description: str | None = None
    policy: Policy = Policy()
    workloads: tuple[Workload, ...] = Field(min_length=1, max_length=MAX_RECORDS)
    offers: tuple[Offer, ...] = Field(min_length=1, max_length=MAX_RECORDS)
    offers_from_catalog: tuple[OfferSelector, ...] | None = Field(
        None, exclude=True, description="selectors expanded into offers from the offer catalog "
                                        "(planner.scenario.from_catalog); a single mapping is one selector")
    models: tuple[ModelEntry, ...] = Field((), max_length=MAX_RECORDS)
    gpus: tuple[GpuSpec, ...] = Field((), max_length=MAX_RECORDS)
    capacity_overrides: tuple[CapacityOverride, ...] = Field((), max_length=100 * MAX_RECORDS)
    forecast: Forecast | None = None

    @model_validator(mode="before")
    @classmethod
    def _expand_catalog_offers(cls, data: object) -> object:
        # Expanded offers join `offers`; the selectors stay for the record but are excluded from dumps, so a
        # dumped scenario validates again to the same offers.
        return expand_scenario_data(data)

    def workload(self, wid: str) -> Workload:
        return next(w for w in self.workloads if w.id == wid)

    def offer(self, oid: str) -> Offer:
        return next(o for o in self.offers if o.id == oid)
