"""Deployment options: every way each workload could be served, with the reason kept for each one dropped.

An option (a *deployment*) is workload x offer x precision x TP degree x MIG profile. Its capacity per replica
(requests/min at the workload's SLOs, one number per ``size_mix`` bucket) comes from ``planner.perf.estimate`` or
from the scenario's ``capacity_overrides``.

Enumeration, per workload w and offer o (GPU g, node size G_o):
- precisions: those the workload allows;
- TP degrees t in {1, 2, 4, ...}: t <= min(G_o, nvlink_max_gpus(g)) when g has NVLink; t <= G_o over PCIe when g
  has no NVLink at all (the performance model charges the slow PCIe all-reduce, so these survive only if they
  still meet the SLO);
- MIG profiles (offers with ``mig: true``): every profile of g, with t = 1 (no TP across MIG slices).
- Attention-DP × expert-parallel replicas (mixture-of-experts models, GPUs with NVLink): one replica fills the
  node's NVLink group G (``planner.perf.parallel.ep_dp_shapes``): ``attention_dp`` = dp >= 2 ranks of G/dp
  GPUs, experts over all G. Such a Deployment's ``tp`` is G, the GPUs it occupies (so every GPU count, packing
  rule and the dominance test below read it unchanged); the per-rank degree is ``tp // attention_dp``.

Dropped, with the reason kept: does not fit in memory, precision unsupported on the architecture, SLO
unreachable even at the lowest load (0.1 requests in service), spot availability 0, capacity override 0.

Dominance on the same offer (safe for the integer program): option A is dominated by B when both are whole-GPU
options (or both use the same MIG profile), B uses no more GPUs per replica (t_B <= t_A, so t_B divides t_A)
and (t_A / t_B) cap_B[b] >= cap_A[b] for every bucket b. Any fleet using A can swap each A replica for t_A / t_B
B replicas on the same GPUs of the same node without losing capacity (the bucket loads split evenly, so each
B replica's time-share sum_b x_b / (k cap_B[b]) <= sum_b x_b / cap_A[b]) or adding GPUs, and with no fewer
replicas, so removing A never raises the optimum. Exact ties keep the option listed first (workload's precision
order, then smaller TP). Per-GPU dominance matters for multi-period plans: every TP degree that is never
better per GPU multiplies the near-equivalent fractional fleets the solver must rule out in each period.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from planner.catalog.records import GpuSpec
from planner.plan import deployment_key
from planner.scenario.model import Offer, Workload
from planner.scenario.io import LoadedScenario


def spot_availability(offer: Offer) -> float:
    """Expected share of time a node of ``offer`` is up: ``max(0, 1 - rate/h x recovery_h)``; 1 off spot.

    This is the first-order (conservative) form of the renewal-process availability 1 / (1 + rate x recovery);
    the two differ by (rate x recovery)^2 at most, and the spot-risk simulator measures the exact one.
    """
    if offer.market != "spot":
        return 1.0
    return max(0.0, 1.0 - (offer.interruption_rate_per_hour or 0.0) * offer.recovery_minutes_effective / 60.0)


@dataclass(frozen=True)
class Deployment:
    """One usable option. ``capacity_rpm[b]`` is per replica at the SLO for bucket b (0: cannot serve b)."""

    index: int
    workload: str
    offer: str
    gpu: str
    precision: str
    tp: int
    mig_profile: str | None
    capacity_rpm: tuple[float, ...]
    ttft_ms: tuple[float, ...]
    tpot_ms: tuple[float, ...]
    availability: float
    price_usd_per_gpu_hour: float
    mig_class: int | None = None  # slot-class index of the MIG profile (``planner.catalog.mig`` order)
    attention_dp: int = 1         # attention data-parallel ranks (tp GPUs in all, tp // attention_dp per rank)
    expert_parallel: int = 1      # GPUs the routed experts are spread over (1: replicated / TP-sharded)

    @property
    def gpus_per_replica(self) -> int:
        """Whole GPUs a replica occupies (a MIG replica occupies an instance, counted through patterns)."""
        return 0 if self.mig_profile else self.tp

    @property
    def gpu_share(self) -> float:
        """GPUs a replica occupies: its TP degree, or c/7 of a GPU for a MIG instance of c compute slices."""
        if self.mig_class is None:
            return float(self.tp)
        from planner.catalog.mig import SLOT_CLASSES  # noqa: PLC0415

        return SLOT_CLASSES[self.mig_class].compute_fraction

    @property
    def key(self) -> tuple:
        return self.key_on(self.offer)

    def key_on(self, offer: str) -> tuple:
        """The key of this deployment's twin on ``offer`` (the same workload, precision and shape)."""
        return deployment_key(self, offer)


@dataclass(frozen=True)
class Rejected:
    """An option that will not be in the integer program, and why."""

    workload: str
    offer: str
    gpu: str
    precision: str
    tp: int
    mig_profile: str | None
    state: str  # "dropped" | "dominated"
    reason: str
    best_ttft_ms: float | None = None
    weights_gib_per_gpu: float | None = None
    attention_dp: int = 1
    expert_parallel: int = 1


@dataclass
class OptionSet:
    deployments: list[Deployment] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    mig_profiles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # MIG offer -> its GPU's profiles

    def for_workload(self, wid: str) -> list[Deployment]:
        """Deployments of one workload, in order (an index rebuilt whenever ``deployments`` is replaced or grows)."""
        cached = self.__dict__.get("_by_workload")
        if cached is None or cached[0] is not self.deployments or cached[1] != len(self.deployments):
            index: dict[str, list[Deployment]] = {}
            for d in self.deployments:
                index.setdefault(d.workload, []).append(d)
            cached = self.__dict__["_by_workload"] = (self.deployments, len(self.deployments), index)
        return list(cached[2].get(wid, ()))

    def rejected_for(self, wid: str) -> list[Rejected]:
        return [r for r in self.rejected if r.workload == wid]

    def only(self, keys) -> "OptionSet":
        """The deployments whose keys are in ``keys``, renumbered 0.. in order (a restricted program's options; no
        rejected options: its plan lists them again, ``planner.fleet.plan_build.relist_options``)."""
        deps = [d for d in self.deployments if d.key in keys]
        return OptionSet(deployments=[replace(d, index=j) for j, d in enumerate(deps)], rejected=[],
                         mig_profiles=self.mig_profiles)


def tp_degrees(offer: Offer, gpu: GpuSpec) -> list[int]:
    """Powers of two up to the node's NVLink group (or the node over PCIe when the GPU has no NVLink)."""
    limit = min(offer.gpus_per_node, gpu.nvlink_max_gpus) if gpu.has_nvlink else offer.gpus_per_node
    out, t = [], 1
    while t <= limit:
        out.append(t)
        t *= 2
    return out


def _load_calibration(loaded: LoadedScenario, calibration):
    if calibration is not None:
        return calibration
    path = loaded.scenario.policy.calibration
    if path is None:
        return None
    from planner.perf.calibration import load_calibration  # noqa: PLC0415

    return load_calibration(Path(loaded.base_dir) / path)


def _dominates(b: Deployment, a: Deployment) -> bool:
    """B dominates A per GPU: tp_B divides tp_A (powers of two, tp_B <= tp_A) and tp_A / tp_B replicas of B, which
    fit in the GPUs of one A replica, serve every bucket at least as fast: (tp_A / tp_B) cap_B[b] >= cap_A[b]."""
    if (a.mig_profile is None) != (b.mig_profile is None) or a.mig_profile != b.mig_profile:
        return False
    if b.tp > a.tp:
        return False
    k = a.tp // b.tp
    return all(k * cb >= ca for cb, ca in zip(b.capacity_rpm, a.capacity_rpm))


def _prune_dominated(cands: list[Deployment]) -> tuple[list[Deployment], list[tuple[Deployment, Deployment]]]:
    """Drop options dominated by another on the same offer; ties keep the earlier one."""
    kept: list[Deployment] = []
    pruned: list[tuple[Deployment, Deployment]] = []
    for i, a in enumerate(cands):
        winner = None
        for j, b in enumerate(cands):
            if i == j or not _dominates(b, a):
                continue
            strictly = b.tp < a.tp or any(cb > ca for cb, ca in zip(b.capacity_rpm, a.capacity_rpm))
            if strictly or j < i:
                winner = b
                break
        if winner is None:
            kept.append(a)
        else:
            pruned.append((a, winner))
    # Name a kept dominator in the reason (dominance is transitive, so one exists).
    pruned = [(a, next((b for b in kept if _dominates(b, a)), w)) for a, w in pruned]
    return kept, pruned


def _describe(d: Deployment) -> str:
    where = f"MIG {d.mig_profile}" if d.mig_profile else f"TP{d.tp}"
    if d.attention_dp > 1:
        where = f"DP{d.attention_dp}xTP{d.tp // d.attention_dp} EP{d.expert_parallel}"
    return f"{d.precision} {where}"


def _ep_dp_configs(model, gpu: GpuSpec, offer: Offer, precisions) -> list[tuple[str, int, None, int, int]]:
    """(precision, GPUs, no MIG, attention_dp, expert_parallel) of the DP × EP replicas (none for dense models)."""
    from planner.perf.parallel import ep_dp_shapes, ep_dp_supported  # noqa: PLC0415

    if not ep_dp_supported():
        return []
    return [(p, t * dp, None, dp, ep) for p in precisions for t, dp, ep in ep_dp_shapes(model, gpu, offer.gpus_per_node)]


def _configs(w, o: Offer, model, gpu: GpuSpec) -> list[tuple[str, int, str | None, int, int]]:
    """(precision, TP, MIG profile, attention DP, expert parallel) of every replica shape on offer ``o``."""
    configs = [(p, t, None, 1, 1) for p in w.precisions for t in tp_degrees(o, gpu)]
    if o.mig:
        configs += [(p, 1, prof, 1, 1) for p in w.precisions for prof in gpu.mig_profiles]
    return configs + _ep_dp_configs(model, gpu, o, w.precisions)


def _capacities(loaded: LoadedScenario, calib, workloads=None) -> dict[tuple, list]:
    """The capacities of every replica shape of ``workloads`` (default: the scenario's), keyed by (workload, GPU,
    precision, GPUs, MIG profile, attention DP, expert parallel), computed in stacked batches
    (``planner.perf.many``)."""
    from planner.perf.many import capacities_for_workloads  # noqa: PLC0415 - perf is heavy; only load when used

    s, cat = loaded.scenario, loaded.catalog
    keys: dict[tuple, tuple] = {}
    for w in s.workloads if workloads is None else workloads:
        model = cat.model(w.model)
        for o in s.offers:
            gpu = cat.gpu(o.gpu)
            for precision, tp, prof, dp, ep in _configs(w, o, model, gpu):
                key = (w.id, gpu.id, precision, tp, prof, dp, ep)
                if key not in keys:   # a DP x EP replica of tp GPUs has tp / dp per attention rank
                    keys[key] = (model, gpu, w, precision, tp // dp, prof, dp, ep)
    caps = capacities_for_workloads(list(keys.values()), calibration=calib, overrides=s.capacity_overrides)
    return dict(zip(keys, caps))


def enumerate_options(loaded: LoadedScenario, calibration=None) -> OptionSet:
    """All deployment options of the scenario, feasible ones first-class, the rest with their reasons.

    A large scenario's workloads are split into contiguous chunks whose options are built in forked worker
    processes (``planner.perf.workers``: a workload's options depend on it alone, so the chunks concatenated in
    order are the in-process set to the bit)."""
    from planner.perf.workers import CHUNKS_PER_WORKER, chunk_bounds, run_forked, worker_count  # noqa: PLC0415

    s = loaded.scenario
    calib = _load_calibration(loaded, calibration)
    weights = [len(w.buckets) * len(s.offers) for w in s.workloads]   # about the bucket estimates each one asks
    workers = worker_count(sum(weights)) if len(s.workloads) > 1 else 1
    parts = None
    if workers > 1:
        bounds = chunk_bounds(weights, workers * CHUNKS_PER_WORKER)
        parts = run_forked(lambda b: _options_for(loaded, calib, s.workloads[b[0]:b[1]]), bounds, workers)
    if parts is None:
        result = _options_for(loaded, calib, s.workloads)
    else:
        result = OptionSet()
        for part in parts:
            result.deployments.extend(part.deployments)
            result.rejected.extend(part.rejected)
            result.mig_profiles.update(part.mig_profiles)
    for i, d in enumerate(result.deployments):  # frozen to every reader; numbered here, before anyone reads it
        object.__setattr__(d, "index", i)      # (dataclasses.replace: ~20 µs a copy, 0.2 s on an L scenario)
    return result


def _options_for(loaded: LoadedScenario, calib, workloads) -> OptionSet:
    """The options of ``workloads`` (in order, unnumbered: index -1)."""
    s, cat = loaded.scenario, loaded.catalog
    result = OptionSet()
    # Capacity depends on the GPU, not on the offer that sells it: offers of one GPU (markets, regions, node
    # sizes) share one performance-model call per (workload, GPU, precision, TP, MIG profile, DP, EP), all
    # computed up front in stacked batches.
    memo: dict[tuple, list] = _capacities(loaded, calib, workloads)
    for w in workloads:
        model = cat.model(w.model)
        for o in s.offers:
            gpu = cat.gpu(o.gpu)
            avail = spot_availability(o)
            price_gpu = o.price_usd_per_node_hour_effective / o.gpus_per_node
            cands: list[Deployment] = []
            if o.mig:
                result.mig_profiles[o.id] = gpu.mig_profiles
            for precision, tp, prof, dp, ep in _configs(w, o, model, gpu):
                ests = memo[(w.id, gpu.id, precision, tp, prof, dp, ep)]
                caps = tuple(max(0.0, e.requests_per_min) for e in ests)
                base = dict(workload=w.id, offer=o.id, gpu=gpu.id, precision=precision, tp=tp, mig_profile=prof)
                if dp > 1 or ep > 1:
                    base.update(attention_dp=dp, expert_parallel=ep)
                if avail <= 0.0:
                    result.rejected.append(Rejected(**base, state="dropped",
                                                    reason="spot availability is 0 (interruption rate x recovery >= 1 hour)"))
                    continue
                if not any(c > 0 for c in caps):
                    first = next((e for e in ests if e.reason), ests[0])
                    best_ttft = min((e.ttft_ms for e in ests if e.fits and e.ttft_ms > 0), default=None)
                    result.rejected.append(Rejected(
                        **base, state="dropped", reason=first.reason or "cannot serve at the SLO",
                        best_ttft_ms=best_ttft, weights_gib_per_gpu=first.weights_gib_per_gpu))
                    continue
                cands.append(Deployment(
                    index=-1, **base, capacity_rpm=caps,
                    ttft_ms=tuple(e.ttft_ms for e in ests), tpot_ms=tuple(e.tpot_ms for e in ests),
                    availability=avail, price_usd_per_gpu_hour=price_gpu,
                    mig_class=None if prof is None else gpu.mig_profiles.index(prof)))
            kept, pruned = _prune_dominated(cands)
            for a, b in pruned:
                result.rejected.append(Rejected(
                    workload=a.workload, offer=a.offer, gpu=a.gpu, precision=a.precision, tp=a.tp,
                    mig_profile=a.mig_profile, attention_dp=a.attention_dp, expert_parallel=a.expert_parallel,
                    state="dominated",
                    reason=f"dominated by {_describe(b)} on the same offer (at least the capacity per GPU, "
                           "fits in the same GPUs)"))
            result.deployments.extend(kept)
    return result


def buckets_of(w: Workload) -> list[tuple[int, int, float]]:
    """(prompt_tokens, output_tokens, share) per bucket, in order."""
    return [(b.prompt_tokens, b.output_tokens, b.share) for b in w.buckets]
