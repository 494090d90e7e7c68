r"""Independent verification of a Plan: recompute every constraint from the Scenario (+ catalog) and the Plan.

Shares no code with the formulation: this module never imports ``planner.formulation``, ``planner.options``,
``planner.problem``, ``planner.mig`` or ``solvers`` (a test walks the imports). The performance model is an
*input* to planning, so capacities are recomputed with ``planner.perf`` (or the scenario's
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
one, and the first listed wins. The module is longer than most on purpose: the MIG placement search and the
capacity lookup are re-implemented here so that nothing is shared with ``planner.mig`` / ``planner.options``.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from planner.plan import Check, PeriodPlan, Plan, ReplicaLine, Verification
from planner.scenario import Offer, SizeBucket, Workload
from planner.verify_spot import spot_checks

if TYPE_CHECKING:
    from planner.catalog.records import GpuSpec
    from planner.scenario_io import LoadedScenario

CHECKS = ("demand_covered", "capacity_respected", "capacity_matches_model", "deployment_valid", "gpus_fit_nodes",
          "mig_patterns_valid", "mig_instances_cover_replicas", "node_caps", "min_replicas", "budget",
          "costs_add_up", "status_honest", "top_level_is_a_period")
MAX_SHOWN = 3
CAPACITY_RTOL = 1e-6

# MIG geometry shared by A100/H100/H200/B200 (reference/mig.md section 3): class -> (memory slices, legal starts).
MIG_CLASSES = ("1g", "1g2m", "2g", "3g", "4g", "7g")  # the slot order of GpuSpec.mig_profiles
MIG_GEOMETRY = {"1g": (1, (0, 1, 2, 3, 4, 5, 6)), "1g2m": (2, (0, 2, 4, 6)), "2g": (2, (0, 2, 4)),
                "3g": (4, (0, 4)), "4g": (4, (0,)), "7g": (8, (0,))}
_BY_SHAPE = {(1, 1): "1g", (1, 2): "1g2m", (2, 2): "2g", (3, 4): "3g", (4, 4): "4g", (7, 8): "7g"}
_PROFILE_NAME = re.compile(r"(\d+)g\.(\d+(?:\.\d+)?)gb")


# --------------------------------------------------------------------------- small helpers


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def _le(a: float, b: float, tol: float) -> bool:
    return a <= b + tol * max(1.0, abs(a), abs(b))


def _g(x: float) -> str:
    return f"{x:.6g}"


class _Log:
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


def _gpu(catalog: Any, name: str) -> "GpuSpec | None":
    try:
        return catalog.gpu(name)
    except Exception:  # noqa: BLE001 - an unknown id is reported by the caller
        return None


def spot_availability(offer: Offer) -> float:
    """Expected up-share of a node: ``max(0, 1 - rate/h x recovery_min/60)`` on spot, 1 otherwise."""
    if offer.market != "spot":
        return 1.0
    return max(0.0, 1.0 - (offer.interruption_rate_per_hour or 0.0) * offer.recovery_minutes_effective / 60.0)


# --------------------------------------------------------------------------- MIG placement (own implementation)


def mig_class(gpu: "GpuSpec", profile: str) -> str | None:
    """Geometry class of ``profile`` on ``gpu`` (None when it is not one of the GPU's profiles).

    The catalog lists six names in slot order (1g, 1g2m, 2g, 3g, 4g, 7g; "" for a class the GPU lacks), so the
    class is the slot position, cross-checked against the name's compute prefix. Other tuples fall back to the
    name: compute prefix, and memory slices relative to the GPU's 7g profile.
    """
    profiles = tuple(gpu.mig_profiles)
    if not profile or profile not in profiles:
        return None
    m = _PROFILE_NAME.fullmatch(profile)
    if len(profiles) == len(MIG_CLASSES):
        cls = MIG_CLASSES[profiles.index(profile)]
        return cls if m is not None and profile.startswith(f"{cls[0]}g.") else None
    full = next((_PROFILE_NAME.fullmatch(p) for p in profiles if p.startswith("7g.")), None)
    if full is None or m is None:
        return None
    slices = round(float(m.group(2)) / (float(full.group(2)) / 8.0))
    return _BY_SHAPE.get((int(m.group(1)), slices))


def _profiles(gpu: "GpuSpec") -> str:
    return ", ".join(p for p in gpu.mig_profiles if p) or "none"


def mig_classes_fit(classes: Iterable[str]) -> bool:
    """True when instances of these classes can be placed on one GPU (legal starts, disjoint memory slices)."""
    items = sorted(classes, key=lambda c: -MIG_GEOMETRY[c][0])
    if len(items) > 7:
        return False

    def place(i: int, used: int) -> bool:
        if i == len(items):
            return True
        size, starts = MIG_GEOMETRY[items[i]]
        for s in starts:
            mask = ((1 << size) - 1) << s
            if s + size <= 8 and not used & mask and place(i + 1, used | mask):
                return True
        return False

    return place(0, 0)


def mig_pattern_problem(gpu: "GpuSpec", pattern: Iterable[str]) -> str | None:
    """Why ``pattern`` cannot be one GPU's MIG layout, or None when it can."""
    classes = []
    for p in pattern:
        c = mig_class(gpu, p)
        if c is None:
            return f"'{p}' is not a MIG profile of {gpu.id} (profiles: {_profiles(gpu)})"
        classes.append(c)
    if not mig_classes_fit(classes):
        return f"no placement of {list(pattern)} on one {gpu.id} (legal starts, disjoint memory slices)"
    return None


# --------------------------------------------------------------------------- capacities (override or perf model)


class _Capacities:
    """Recompute per-bucket capacity of a deployment: a matching override, else the performance model."""

    def __init__(self, loaded: "LoadedScenario", calibration: Any) -> None:
        self.s, self.cat = loaded.scenario, loaded.catalog
        self.calibration, self._calib_loaded = calibration, calibration is not None
        self.base_dir = Path(loaded.base_dir)
        self._perf: dict[tuple, list[float] | str] = {}

    def override(self, w: Workload, gpu_id: str, precision: str, tp: int, mig: str | None,
                 bucket: SizeBucket) -> float | None:
        general = specific = None
        for ov in self.s.capacity_overrides:
            if (ov.workload, ov.precision, ov.tp, ov.mig_profile) != (w.id, precision, tp, mig):
                continue
            g = _gpu(self.cat, ov.gpu)
            if g is None or g.id != gpu_id:
                continue
            if ov.prompt_tokens is None:
                general = ov.requests_per_min if general is None else general
            elif (ov.prompt_tokens, ov.output_tokens) == (bucket.prompt_tokens, bucket.output_tokens):
                specific = ov.requests_per_min if specific is None else specific
        return specific if specific is not None else general  # a bucket's own override first; first listed wins

    def _calib(self) -> Any:
        if not self._calib_loaded:
            self._calib_loaded = True
            path = self.s.policy.calibration
            if path is not None:
                from planner.calibration import load_calibration  # noqa: PLC0415 - perf-model input

                self.calibration = load_calibration(self.base_dir / path)
        return self.calibration

    def model(self, w: Workload, gpu: "GpuSpec", precision: str, tp: int, mig: str | None) -> list[float] | str:
        """Per-bucket requests/min from ``planner.perf`` (no overrides), or why it could not be computed."""
        key = (w.id, gpu.id, precision, tp, mig)
        if key not in self._perf:
            try:
                from planner.perf import capacity_for_workload  # noqa: PLC0415 - heavy, load when needed

                ests = capacity_for_workload(self.cat.model(w.model), gpu, w, tp=tp, mig_profile=mig,
                                             precision=precision, calibration=self._calib(), overrides=())
                self._perf[key] = [max(0.0, float(e.requests_per_min)) for e in ests]
            except Exception as exc:  # noqa: BLE001 - reported as a failed check, never raised
                self._perf[key] = f"performance model failed: {type(exc).__name__}: {exc}"
        return self._perf[key]

    def expected(self, w: Workload, gpu: "GpuSpec", r: ReplicaLine) -> list[float] | str:
        caps: list[float | None] = [self.override(w, gpu.id, r.precision, r.tp, r.mig_profile, b) for b in w.buckets]
        if any(c is None for c in caps):
            model = self.model(w, gpu, r.precision, r.tp, r.mig_profile)
            if isinstance(model, str):
                return model
            if len(model) != len(w.buckets):
                return f"performance model gave {len(model)} estimates for {len(w.buckets)} buckets"
            caps = [m if c is None else c for c, m in zip(caps, model)]
        return [float(c) for c in caps]


# --------------------------------------------------------------------------- the verifier


class _Verifier:
    def __init__(self, loaded: "LoadedScenario", plan: Plan, allow_unmet: bool, calibration: Any,
                 tol: float) -> None:
        self.loaded, self.s, self.cat, self.plan = loaded, loaded.scenario, loaded.catalog, plan
        self.allow_unmet, self.tol, self.log = allow_unmet, tol, _Log()
        self.offers = {o.id: o for o in self.s.offers}
        self.workloads = {w.id: w for w in self.s.workloads}
        self.caps = _Capacities(loaded, calibration)
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

    def run(self) -> Verification:
        self.status_honest()
        if self.plan.status in ("optimal", "feasible"):
            for step in (self.deployment_valid, self.demand_covered, self.capacity_respected,
                         self.capacity_matches_model, self.gpus_fit_nodes, self.mig_patterns_valid,
                         self.mig_instances_cover_replicas, self.node_caps, self.min_replicas, self.budget,
                         self.costs_add_up, self.top_level_is_a_period):
                step()
        else:
            for name in CHECKS:
                if name != "status_honest":
                    self.log.skipped[name] = f"status is {self.plan.status} (no fleet to check)"
        checks = self.log.checks()
        return Verification(ok=all(c.ok for c in checks), checks=checks)

    # ------------------------------------------------------------------ deployments and capacity

    def _where(self, per: PeriodPlan, r: ReplicaLine) -> str:
        mig = f" MIG {r.mig_profile}" if r.mig_profile else ""
        return f"period {per.name}: {r.workload} on {r.offer} {r.precision} tp{r.tp}{mig}"

    def deployment_valid(self) -> None:
        c = "deployment_valid"
        for per in self.periods:
            for r in per.replicas:
                before = len(self.log.fails[c])
                where = self._where(per, r)
                w, o = self.workloads.get(r.workload), self.offers.get(r.offer)
                gpu = _gpu(self.cat, o.gpu) if o else None
                if w is None:
                    self.log.fail(c, f"{where}: unknown workload '{r.workload}'")
                if o is None:
                    self.log.fail(c, f"{where}: unknown offer '{r.offer}'")
                elif gpu is None:
                    self.log.fail(c, f"{where}: offer GPU '{o.gpu}' is not in the catalog")
                if w is None or o is None or gpu is None:
                    self.valid_line[id(r)] = False
                    continue
                if r.gpu != gpu.id:
                    self.log.fail(c, f"{where}: gpu '{r.gpu}' but the offer's GPU is '{gpu.id}'")
                if r.precision not in w.precisions:
                    self.log.fail(c, f"{where}: precision {r.precision} not allowed "
                                     f"(allowed: {', '.join(w.precisions)})")
                if r.tp < 1 or r.tp & (r.tp - 1):
                    self.log.fail(c, f"{where}: tp {r.tp} is not a power of two")
                if r.tp > o.gpus_per_node:
                    self.log.fail(c, f"{where}: tp {r.tp} > gpus_per_node {o.gpus_per_node}")
                if gpu.has_nvlink and r.tp > gpu.nvlink_max_gpus:
                    self.log.fail(c, f"{where}: tp {r.tp} > NVLink group of {gpu.id} ({gpu.nvlink_max_gpus})")
                if r.mig_profile is not None:
                    if not o.mig:
                        self.log.fail(c, f"{where}: MIG profile on an offer without mig: true")
                    if mig_class(gpu, r.mig_profile) is None:
                        self.log.fail(c, f"{where}: '{r.mig_profile}' is not a MIG profile of {gpu.id} "
                                         f"(profiles: {_profiles(gpu)})")
                    if r.tp != 1:
                        self.log.fail(c, f"{where}: tp {r.tp} on a MIG instance (no TP across MIG slices)")
                self.valid_line[id(r)] = len(self.log.fails[c]) == before

    def _bucket_loads(self, w: Workload, r: ReplicaLine) -> list[tuple[SizeBucket | None, float, float]]:
        """(scenario bucket or None when unknown, capacity, assigned) per bucket line of ``r``."""
        if not r.buckets and len(w.buckets) == 1:  # a single-bucket line may omit its bucket breakdown
            return [(w.buckets[0], r.capacity_requests_per_min, r.assigned_requests_per_min)]
        sizes = {(b.prompt_tokens, b.output_tokens): b for b in w.buckets}
        return [(sizes.get((bl.prompt_tokens, bl.output_tokens)), bl.capacity_requests_per_min,
                 bl.assigned_requests_per_min) for bl in r.buckets]

    def capacity_respected(self) -> None:
        c, rho, tol = "capacity_respected", self.s.policy.target_utilization, self.tol
        self.log.note(c, "sum_b assigned_b / capacity_b <= count x target_utilization x availability "
                         "(a replica time-shares linearly between buckets)")
        if not _close(self.plan.target_utilization, rho, tol):
            self.log.fail(c, f"plan target_utilization {_g(self.plan.target_utilization)} != policy {_g(rho)}")
        for per in self.periods:
            for r in per.replicas:
                w = self.workloads.get(r.workload)
                if w is None:
                    continue
                where, used = self._where(per, r), 0.0
                for _, cap, x in self._bucket_loads(w, r):
                    if x > tol:
                        used += x / cap if cap > 0 else math.inf
                allowed = r.count * rho * r.availability
                if not _le(used, allowed, tol):
                    self.log.fail(c, f"{where}: load uses {_g(used)} replica-equivalents > count {r.count} x "
                                     f"{_g(rho)} x availability {_g(r.availability)} = {_g(allowed)}")
                if r.count > 0 and math.isfinite(used) and r.availability > 0:
                    util = used / (r.count * r.availability)
                    if not _close(r.utilization, util, tol):
                        self.log.fail(c, f"{where}: utilization {_g(r.utilization)} stated, {_g(util)} recomputed")

    def capacity_matches_model(self) -> None:
        c, rtol = "capacity_matches_model", max(self.tol, CAPACITY_RTOL)
        for per in self.periods:
            for r in per.replicas:
                if not self.valid_line.get(id(r), False):
                    self.log.note(c, "lines with an invalid deployment are not compared (see deployment_valid)")
                    continue
                w, o = self.workloads[r.workload], self.offers[r.offer]
                gpu, where = _gpu(self.cat, o.gpu), self._where(per, r)
                avail = spot_availability(o)
                if not _close(r.availability, avail, self.tol):
                    self.log.fail(c, f"{where}: availability {_g(r.availability)} stated, {_g(avail)} for "
                                     f"{o.market} (rate {o.interruption_rate_per_hour}/h, "
                                     f"recovery {_g(o.recovery_minutes_effective)} min)")
                expected = self.caps.expected(w, gpu, r)
                if isinstance(expected, str):
                    self.log.fail(c, f"{where}: {expected}")
                    continue
                by_size = {(b.prompt_tokens, b.output_tokens): e for b, e in zip(w.buckets, expected)}
                for bucket, cap, _ in self._bucket_loads(w, r):
                    if bucket is None:
                        continue  # reported by demand_covered
                    want = by_size[(bucket.prompt_tokens, bucket.output_tokens)]
                    if abs(cap - want) > rtol * max(abs(want), 1e-9):
                        self.log.fail(c, f"{where}: bucket {bucket.prompt_tokens}/{bucket.output_tokens} capacity "
                                         f"{_g(cap)} req/min claimed, the model gives {_g(want)}")
                line = sum(b.share * e for b, e in zip(w.buckets, expected))
                if abs(r.capacity_requests_per_min - line) > rtol * max(abs(line), 1e-9):
                    self.log.fail(c, f"{where}: line capacity {_g(r.capacity_requests_per_min)} claimed, "
                                     f"share-weighted model capacity is {_g(line)}")

    # ------------------------------------------------------------------ demand

    def _expected_demand(self, per: PeriodPlan, w: Workload) -> float | None:
        """The scenario's demand of ``w`` in ``per``, or None (with a note) when the periods are not ours to read."""
        c = "demand_covered"
        name, n_shape, growth = per.name, len(self.periods), 1.0
        if self.plan.commitments is not None:  # a forecast: "YYYY-MM" or "YYYY-MM <shape period>", epoch = month
            months = self._months()
            month, _, name = per.name.partition(" ")
            if per.epoch >= len(months) or months[per.epoch] != month:
                self.log.fail(c, f"period {per.name}: not month {per.epoch} of a forecast from "
                                 f"{self.s.forecast.start if self.s.forecast else '?'}")
                return None
            n_shape = len(self.periods) // max(len(months), 1)
            growth = self._growth(w, per.epoch)
            if growth is None:
                self.log.fail(c, f"period {per.name}: no growth multiplier for {w.id} in month {per.epoch + 1}")
                return None
        if w.periods is not None:
            match = next((p for p in w.periods if p.name == name), None)
            if match is None:
                self.log.note(c, f"period '{per.name}' is not among {w.id}'s periods; demand not compared")
            return None if match is None else match.requests_per_min * growth
        hourly = re.fullmatch(r"h(\d{2}|\d{3})", name) if n_shape in (24, 168) else None
        if w.profile is not None:
            if hourly is None:
                self.log.note(c, f"{w.id} has an hourly profile but the plan's periods are not h00..h23 / "
                                 "h000..h167; demand not compared")
                return None
            return w.requests_per_min * w.profile.hourly[int(hourly.group(1)) % len(w.profile.hourly)] * growth
        explicit = {p.name for x in self.s.workloads if x.periods for p in x.periods}
        if n_shape == 1 or hourly is not None or name in explicit:
            return w.requests_per_min * growth  # a flat workload
        self.log.note(c, f"period '{per.name}' is neither hourly nor a scenario period; demand not compared")
        return None

    def demand_covered(self) -> None:
        c, tol = "demand_covered", self.tol
        for per in self.periods:
            extra = set(per.demand_requests_per_min) - set(self.workloads)
            if extra:
                self.log.fail(c, f"period {per.name}: demand for unknown workloads {sorted(extra)}")
            load: dict[tuple[str, int, int], float] = defaultdict(float)
            for r in per.replicas:
                w = self.workloads.get(r.workload)
                if w is None:
                    continue
                where, total = self._where(per, r), 0.0
                for bucket, _, x in self._bucket_loads(w, r):
                    total += x
                    if x < -tol:
                        self.log.fail(c, f"{where}: negative load {_g(x)}")
                    if bucket is None:
                        if x > tol:
                            self.log.fail(c, f"{where}: load on a bucket {w.id} does not have")
                        continue
                    load[(w.id, bucket.prompt_tokens, bucket.output_tokens)] += x
                if not _close(r.assigned_requests_per_min, total, tol):
                    self.log.fail(c, f"{where}: assigned {_g(r.assigned_requests_per_min)} != sum of bucket "
                                     f"loads {_g(total)}")
            for w in self.s.workloads:
                stated = per.demand_requests_per_min.get(w.id)
                if stated is None:
                    self.log.fail(c, f"period {per.name}: no demand stated for {w.id}")
                    continue
                want = self._expected_demand(per, w)
                if want is not None and not _close(stated, want, tol):
                    self.log.fail(c, f"period {per.name}: {w.id} demand {_g(stated)} stated, the scenario gives "
                                     f"{_g(want)}")
                unmet = per.unmet_requests_per_min.get(w.id, 0.0)
                if unmet < -tol or (not self.allow_unmet and unmet > tol):
                    self.log.fail(c, f"period {per.name}: {w.id} unmet {_g(unmet)} req/min"
                                     + ("" if self.allow_unmet else " (unmet demand not allowed)"))
                served = 0.0
                for b in w.buckets:
                    got, need = load[(w.id, b.prompt_tokens, b.output_tokens)], stated * b.share
                    served += got
                    ok = _le(got, need, tol) if self.allow_unmet else _close(got, need, tol)
                    if not ok:
                        self.log.fail(c, f"period {per.name}: {w.id} bucket {b.prompt_tokens}/{b.output_tokens} "
                                         f"served {_g(got)} req/min, demand x share = {_g(need)}")
                if self.allow_unmet and not _close(served + unmet, stated, tol):
                    self.log.fail(c, f"period {per.name}: {w.id} served {_g(served)} + unmet {_g(unmet)} != "
                                     f"demand {_g(stated)}")
        if self.allow_unmet:
            self.log.note(c, "unmet is reported per workload, so buckets are checked as served <= demand x share")

    def min_replicas(self) -> None:
        for per in self.periods:
            for w in self.s.workloads:
                n = sum(r.count for r in per.replicas if r.workload == w.id)
                if n < w.min_replicas:
                    self.log.fail("min_replicas", f"period {per.name}: {w.id} has {n} replicas < min_replicas "
                                                  f"{w.min_replicas}")

    # ------------------------------------------------------------------ GPUs, MIG, nodes

    def _nodes(self, per: PeriodPlan) -> dict[str, int]:
        count: dict[str, int] = defaultdict(int)
        for n in per.nodes:
            count[n.offer] += n.count
        return count

    def gpus_fit_nodes(self) -> None:
        c = "gpus_fit_nodes"
        for per in self.periods:
            used: dict[str, int] = defaultdict(int)
            for r in per.replicas:
                if r.mig_profile is None:
                    used[r.offer] += r.tp * r.count
            for k in per.mig_partitions:
                used[k.offer] += k.gpus
            nodes = self._nodes(per)
            for n in per.nodes:
                o = self.offers.get(n.offer)
                if o is not None and n.gpus != n.count * o.gpus_per_node:
                    self.log.fail(c, f"period {per.name}: {n.offer} line says {n.gpus} GPUs for {n.count} nodes of "
                                     f"{o.gpus_per_node}")
            for oid, g in sorted(used.items()):
                o = self.offers.get(oid)
                have = nodes.get(oid, 0) * (o.gpus_per_node if o else 0)
                if g > have:
                    self.log.fail(c, f"period {per.name}: {oid} needs {g} GPUs (whole-GPU replicas tp x count + "
                                     f"MIG-partitioned GPUs), has {nodes.get(oid, 0)} nodes = {have} GPUs")

    def mig_patterns_valid(self) -> None:
        c = "mig_patterns_valid"
        for per in self.periods:
            for k in per.mig_partitions:
                o = self.offers.get(k.offer)
                gpu = _gpu(self.cat, o.gpu) if o else None
                where = f"period {per.name}: {k.offer} pattern {list(k.pattern)}"
                if o is None or gpu is None:
                    self.log.fail(c, f"{where}: unknown offer or GPU")
                    continue
                if not o.mig:
                    self.log.fail(c, f"{where}: offer is not mig: true")
                why = mig_pattern_problem(gpu, k.pattern)
                if why:
                    self.log.fail(c, f"{where}: {why}")

    def mig_instances_cover_replicas(self) -> None:
        for per in self.periods:
            have: dict[tuple[str, str], int] = defaultdict(int)
            need: dict[tuple[str, str], int] = defaultdict(int)
            for k in per.mig_partitions:
                for p in k.pattern:
                    have[(k.offer, p)] += k.gpus
            for r in per.replicas:
                if r.mig_profile is not None:
                    need[(r.offer, r.mig_profile)] += r.count
            for (oid, p), n in sorted(need.items()):
                if n > have[(oid, p)]:
                    self.log.fail("mig_instances_cover_replicas", f"period {per.name}: {oid} runs {n} replicas on "
                                                                  f"{p}, partitions provide {have[(oid, p)]} instances")

    def node_caps(self) -> None:
        c = "node_caps"
        reserved_counts: dict[tuple[str, int], set[int]] = defaultdict(set)
        for per in self.periods:
            seen = set()
            for n in per.nodes:
                o = self.offers.get(n.offer)
                where = f"period {per.name}: {n.offer}"
                if n.offer in seen:
                    self.log.fail(c, f"{where}: listed twice")
                seen.add(n.offer)
                if o is None:
                    self.log.fail(c, f"{where}: unknown offer")
                    continue
                gpu = _gpu(self.cat, o.gpu)
                if gpu is not None and n.gpu != gpu.id:
                    self.log.fail(c, f"{where}: gpu '{n.gpu}' but the offer's GPU is '{gpu.id}'")
                if n.market != o.market:
                    self.log.fail(c, f"{where}: market {n.market} but the offer is {o.market}")
                if o.max_nodes is not None and n.count > o.max_nodes:
                    self.log.fail(c, f"{where}: {n.count} nodes > max_nodes {o.max_nodes}")
                owned = o.owned_nodes if o.market == "reserved" else 0
                if n.owned != owned:
                    self.log.fail(c, f"{where}: owned {n.owned} stated, the scenario owns {owned}")
            nodes = self._nodes(per)
            for o in self.s.offers:
                if o.market == "reserved":
                    reserved_counts[(o.id, per.epoch)].add(nodes.get(o.id, 0))
                    if nodes.get(o.id, 0) < o.owned_nodes:
                        self.log.fail(c, f"period {per.name}: {o.id} has {nodes.get(o.id, 0)} nodes < owned "
                                         f"{o.owned_nodes}")
                    if self.plan.commitments is not None:
                        held = o.owned_nodes + sum(k.nodes for k in self._active(o.id, per.epoch))
                        if nodes.get(o.id, 0) != held:
                            self.log.fail(c, f"period {per.name}: {o.id} has {nodes.get(o.id, 0)} nodes; owned + "
                                             f"active commitments = {held}")
        for (oid, epoch), counts in sorted(reserved_counts.items()):
            if len(counts) > 1:
                self.log.fail(c, f"reserved {oid} changes between periods of epoch {epoch} ({sorted(counts)} nodes); "
                                 "a commitment is the same in every period")
        self._commitment_caps()

    # ------------------------------------------------------------------ forecast: months, trends, commitments

    def _months(self) -> list[str]:
        """Month names of the forecast horizon (epoch e = month e), from forecast.start."""
        fc = self.s.forecast
        n = 1 + max((p.epoch for p in self.periods), default=0)
        if fc is None:
            return []
        y, m = int(fc.start[:4]), int(fc.start[5:7]) - 1
        return [f"{y + (m + i) // 12:04d}-{(m + i) % 12 + 1:02d}" for i in range(n)]

    def _trend(self, o: Offer, epoch: int) -> float:
        """Price factor of ``o`` in month ``epoch``: the forecast trends naming o or its GPU, compounded."""
        fc = self.s.forecast
        if fc is None or epoch == 0:
            return 1.0
        gpu, rate = _gpu(self.cat, o.gpu), 1.0
        for t in fc.price_trends:
            tg = _gpu(self.cat, t.gpu) if t.gpu is not None else None
            if t.offer == o.id or (tg is not None and gpu is not None and tg.id == gpu.id):
                rate *= 1.0 + t.price_change_pct_per_month / 100.0
        return rate ** epoch

    def _growth(self, w: Workload, month: int) -> float | None:
        fc = self.s.forecast
        g = None if fc is None else fc.growth.get(w.id)
        if g is None:
            return 1.0
        if g.multipliers is not None:
            return g.multipliers[month] if month < len(g.multipliers) else None
        return (1.0 + g.growth_pct_per_month / 100.0) ** month

    def _active(self, offer: str, epoch: int) -> list:
        return [k for k in self.plan.commitments or () if k.offer == offer
                and k.start_epoch <= epoch < k.start_epoch + k.term_months]

    def _commit_terms(self, k) -> tuple[float, float, int | None] | str:
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
            return base * self._trend(o, k.start_epoch), o.upfront_usd_per_node or 0.0, None
        if options is None or not 0 <= k.option < len(options):
            return f"option {k.option} is not in forecast.reserved_options"
        r = options[k.option]
        if (r.offer, r.term_months) != (k.offer, k.term_months):
            return f"option {k.option} is {r.offer} for {r.term_months} months"
        rate = r.price_usd_per_node_hour if r.price_usd_per_node_hour is not None else \
            o.price_usd_per_node_hour_effective
        return rate * self._trend(o, k.start_epoch), r.upfront_usd_per_node, r.max_nodes

    def _commitment_caps(self) -> None:
        c, months = "node_caps", self._months()
        signed: dict[int | None, int] = defaultdict(int)
        for k in self.plan.commitments or ():
            terms = self._commit_terms(k)
            where = f"commitment {k.nodes} x {k.offer} from {k.start_month}"
            if isinstance(terms, str):
                self.log.fail(c, f"{where}: {terms}")
                continue
            if not 0 <= k.start_epoch < len(months) or months[k.start_epoch] != k.start_month:
                self.log.fail(c, f"{where}: start epoch {k.start_epoch} is not that month of the horizon")
            signed[k.option] += k.nodes
            cap = terms[2]
            if cap is not None and signed[k.option] > cap:
                self.log.fail(c, f"option {k.option}: {signed[k.option]} nodes signed > max_nodes {cap}")

    # ------------------------------------------------------------------ money

    def _node_cost(self, n, per: PeriodPlan) -> float | None:
        o = self.offers.get(n.offer)
        if o is None:
            return None
        if o.market == "reserved" and self.plan.commitments is not None:
            return sum(k.nodes * k.usd_per_node_hour for k in self._active(o.id, per.epoch))  # rates checked below
        paid = n.count - o.owned_nodes if o.market == "reserved" else n.count
        return paid * o.price_usd_per_node_hour_effective * self._trend(o, per.epoch)

    def budget(self) -> None:
        limit = self.s.policy.budget_usd_per_hour
        if limit is None:
            self.log.note("budget", "no budget_usd_per_hour in the policy")
            return
        for per in self.periods:
            cost = sum(self._node_cost(n, per) or 0.0 for n in per.nodes)
            if not _le(cost, limit, self.tol):
                self.log.fail("budget", f"period {per.name}: fleet costs {_g(cost)} USD/h > budget {_g(limit)}")

    def costs_add_up(self) -> None:
        c, tol, plan = "costs_add_up", self.tol, self.plan
        hours = sum(p.hours for p in self.periods)
        market_mean: dict[str, float] = defaultdict(float)
        for per in self.periods:
            total = 0.0
            for n in per.nodes:
                o, cost = self.offers.get(n.offer), self._node_cost(n, per)
                if o is None or cost is None:
                    continue  # node_caps reports it
                where = f"period {per.name}: {n.offer}"
                trend = self._trend(o, per.epoch)
                price = o.price_usd_per_node_hour_effective * trend
                paid = n.count - o.owned_nodes
                if o.market == "reserved" and self.plan.commitments is not None and paid > 0:
                    price = cost / paid  # the mean locked rate of the active commitments
                if not _close(n.price_usd_per_node_hour, price, tol):
                    self.log.fail(c, f"{where}: price {_g(n.price_usd_per_node_hour)} USD/node-h stated, the offer "
                                     f"says {_g(price)}")
                if not _close(n.price_multiplier, trend, tol):
                    self.log.fail(c, f"{where}: price_multiplier {_g(n.price_multiplier)} stated, the forecast's "
                                     f"price trend gives {_g(trend)}")
                if not _close(n.usd_per_hour, cost, tol):
                    self.log.fail(c, f"{where}: {_g(n.usd_per_hour)} USD/h stated, {_g(cost)} recomputed")
                total += cost
                market_mean[o.market] += per.hours * cost / hours
            if not _close(per.usd_per_hour, total, tol):
                self.log.fail(c, f"period {per.name}: {_g(per.usd_per_hour)} USD/h stated, node lines add up to "
                                 f"{_g(total)}")
        penalty = plan.cost.unmet_penalty_usd_per_hour
        if penalty < -tol or (penalty > tol and not self.allow_unmet):
            self.log.fail(c, f"unmet penalty {_g(penalty)} USD/h"
                             + ("" if self.allow_unmet else " without --allow-unmet"))
        commitments = self._commitment_costs(hours)
        objective = sum(market_mean.values()) + penalty + commitments
        if plan.objective_usd_per_hour is None:
            self.log.fail(c, f"no objective for a {plan.status} plan")
        elif not _close(plan.objective_usd_per_hour, objective, tol):
            self.log.fail(c, f"objective {_g(plan.objective_usd_per_hour)} USD/h stated, hour-weighted node cost + "
                             f"penalty + commitments' upfront and tail = {_g(objective)}")
        stated = {"on_demand": plan.cost.on_demand_usd_per_hour, "spot": plan.cost.spot_usd_per_hour,
                  "reserved": plan.cost.reserved_usd_per_hour}
        for market, v in stated.items():
            if not _close(v, market_mean.get(market, 0.0), tol):
                self.log.fail(c, f"cost.{market}_usd_per_hour {_g(v)} stated, {_g(market_mean.get(market, 0.0))} "
                                 "recomputed")
        stated_total = sum(stated.values()) + penalty + plan.cost.reserved_upfront_usd_per_hour + \
            plan.cost.reserved_tail_usd_per_hour
        if plan.objective_usd_per_hour is not None and not _close(stated_total, plan.objective_usd_per_hour, tol):
            self.log.fail(c, f"cost breakdown adds up to {_g(stated_total)}, objective is "
                             f"{_g(plan.objective_usd_per_hour)}")
        self._workload_lines(hours)

    def _commitment_costs(self, hours: float) -> float:
        """Check every commitment's rate, usd and tail; return (upfront + tail) / H, checked against plan.cost."""
        c, tol, plan = "costs_add_up", self.tol, self.plan
        upfront = tail = 0.0
        if plan.commitments is not None:
            fc, months = self.s.forecast, self._months()
            hpm = fc.hours_per_month if fc is not None else 0.0
            for e in range(len(months)):
                got = sum(p.hours for p in self.periods if p.epoch == e)
                if not _close(got, hpm, tol):
                    self.log.fail(c, f"month {months[e]}: periods add up to {_g(got)} h, hours_per_month is {_g(hpm)}")
            for k in plan.commitments:
                terms = self._commit_terms(k)
                if isinstance(terms, str):
                    continue  # node_caps reports it
                rate, fee, _ = terms
                where = f"commitment {k.nodes} x {k.offer} from {k.start_month}"
                after = max(0, k.start_epoch + k.term_months - len(months)) * hpm
                want = {"usd_per_node_hour": rate, "upfront_usd_per_node": fee,
                        "usd": k.nodes * (fee + rate * k.term_months * hpm), "tail_usd": k.nodes * rate * after}
                for name, v in want.items():
                    if not _close(getattr(k, name), v, tol):
                        self.log.fail(c, f"{where}: {name} {_g(getattr(k, name))} stated, {_g(v)} recomputed")
                upfront += k.nodes * fee / hours
                tail += k.nodes * rate * after / hours
        for name, v in (("reserved_upfront", upfront), ("reserved_tail", tail)):
            got = getattr(plan.cost, f"{name}_usd_per_hour")
            if not _close(got, v, tol):
                self.log.fail(c, f"cost.{name}_usd_per_hour {_g(got)} stated, {_g(v)} recomputed")
        return upfront + tail

    def _workload_lines(self, hours: float) -> None:
        c, tol = "costs_add_up", self.tol
        lines = {wl.id: wl for wl in self.plan.workloads}
        for w in self.s.workloads:
            wl = lines.get(w.id)
            if wl is None:
                self.log.fail(c, f"workloads[]: no line for {w.id}")
                continue
            mean = lambda f: sum(p.hours * f(p) for p in self.periods) / hours  # noqa: E731
            want = {"demand": mean(lambda p: p.demand_requests_per_min.get(w.id, 0.0)),
                    "served": mean(lambda p: sum(r.assigned_requests_per_min for r in p.replicas
                                                 if r.workload == w.id)),
                    "unmet": mean(lambda p: p.unmet_requests_per_min.get(w.id, 0.0))}
            got = {"demand": wl.demand_requests_per_min, "served": wl.served_requests_per_min,
                   "unmet": wl.unmet_requests_per_min}
            for k in want:
                if not _close(got[k], want[k], tol):
                    self.log.fail(c, f"workloads[{w.id}].{k}_requests_per_min {_g(got[k])} stated, hour-weighted "
                                     f"mean over periods {_g(want[k])}")
            out_tokens = sum(b.share * b.output_tokens for b in w.buckets)
            tokens_per_hour = wl.served_requests_per_min * 60.0 * out_tokens
            if wl.usd_per_million_output_tokens is not None and tokens_per_hour > 0:
                per_m = wl.usd_per_hour / tokens_per_hour * 1e6
                if not _close(wl.usd_per_million_output_tokens, per_m, tol):
                    self.log.fail(c, f"workloads[{w.id}].usd_per_million_output_tokens "
                                     f"{_g(wl.usd_per_million_output_tokens)} stated, {_g(per_m)} from its "
                                     "usd_per_hour and served tokens")
        extra = set(lines) - set(self.workloads)
        if extra:
            self.log.fail(c, f"workloads[]: unknown workloads {sorted(extra)}")

    # ------------------------------------------------------------------ status, top level

    def status_honest(self) -> None:
        c, plan, tol = "status_honest", self.plan, self.tol
        if plan.status == "optimal":
            gap, allowed = plan.gap or 0.0, self.s.policy.mip_gap + 1e-6
            if gap > allowed:
                self.log.fail(c, f"status optimal with gap {_g(gap)} > mip_gap {_g(self.s.policy.mip_gap)}")
        if plan.gap is not None and plan.gap < -tol:
            self.log.fail(c, f"negative gap {_g(plan.gap)}")
        if plan.status in ("optimal", "feasible"):
            if plan.objective_usd_per_hour is None:
                self.log.fail(c, f"status {plan.status} without an objective")
            elif plan.bound_usd_per_hour is not None and not _le(plan.bound_usd_per_hour,
                                                                  plan.objective_usd_per_hour, tol):
                self.log.fail(c, f"bound {_g(plan.bound_usd_per_hour)} > objective {_g(plan.objective_usd_per_hour)}")
        else:
            n = sum(x.count for x in plan.nodes) + sum(x.count for p in plan.periods for x in p.nodes)
            if n:
                self.log.fail(c, f"status {plan.status} but the plan lists {n} nodes")

    def top_level_is_a_period(self) -> None:
        c = "top_level_is_a_period"
        if not self.plan.periods:
            self.log.note(c, "plan has no periods; the top level is the plan")
            return
        key = lambda recs: sorted(json.dumps(x.model_dump(mode="json"), sort_keys=True) for x in recs)  # noqa: E731
        top = (key(self.plan.nodes), key(self.plan.replicas), key(self.plan.mig_partitions))
        same = [p for p in self.plan.periods if (key(p.nodes), key(p.replicas), key(p.mig_partitions)) == top]
        peak = max(p.usd_per_hour for p in self.plan.periods)
        if not same:
            self.log.fail(c, "top-level nodes/replicas/mig_partitions match no period")
        elif not any(_close(p.usd_per_hour, peak, self.tol) for p in same):
            self.log.fail(c, f"top level is period {same[0].name} ({_g(same[0].usd_per_hour)} USD/h), not the "
                             f"peak-cost period ({_g(peak)} USD/h)")


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
        A ``Verification`` with one ``Check`` per family (``CHECKS``, then ``verify_spot.SPOT_CHECKS`` when the
        scenario has spot offers); ``ok`` when all pass.
    """
    checks = _Verifier(loaded, plan, allow_unmet, calibration, tol).run().checks + spot_checks(loaded, plan, tol=tol)
    return Verification(ok=all(c.ok for c in checks), checks=checks)
