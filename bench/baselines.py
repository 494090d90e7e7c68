"""Decision quality: fleetplan's optimum against what people do today, on the same capacity table.

Every baseline is the same integer program (``planner.fleet.formulation.build`` + a backend) on a *restricted*
option set, except Mélange, which is its own small ILP (``bench.melange``) on the same capacities. So a saving
is never "our model against someone else's model": it is the value of the freedom the baseline gives up.

Baselines (each sized to meet all demand at the SLOs, min_replicas, max_nodes, and the spot policy):

- single (GPU, market), cheapest and dearest: every workload on one GPU type bought in one market (all of that
  scenario's offers of it, e.g. every H100 on-demand offer), for each pair that can serve every workload;
- guide B's decision table (shared/seeds/gpu-inference-guide-b.txt), applied literally, see ``GUIDE_B_RULE``;
- guide A's "Recommended Setup by Scale" (gpu-inference-guide-a.txt), see ``GUIDE_A_RULE``;
- Mélange-style (``bench.melange``): on-demand only, whole GPUs, smallest TP, no MIG, no spot, sliced sizes.

saving = (baseline - optimum) / baseline.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from planner.scenario.io import LoadedScenario, load_scenario

from bench import generate, stages
from bench.melange import solve_melange

# --------------------------------------------------------------------------- the guides' rules, quoted

GUIDE_B_QUOTE = (
    "Decision table: | Interactive chatbot | < 500ms TTFT | 7B–13B | L40S | ... | 13B–70B | H100 SXM | ... "
    "| 70B+ | H200 SXM | Batch processing | Flexible | 7B–13B | L40S (FP8) | ... | 70B | H100 spot (FP8) | "
    "... | 70B+ max throughput | B200 (FP4) |  -- and: \"Use spot pricing ($0.99/hr) for batch workloads, "
    "on-demand ($2.01/hr) for production.\"")
GUIDE_B_RULE = (
    "size class by published total parameters P (MoE: total, since \"all expert weights must reside in VRAM\"): "
    "P <= 13.5B is the 7B–13B row (smaller models too), 13.5B < P <= 75B the 13B–70B row (70B/72B models are the "
    "guide's \"70B\"), P > 75B the 70B+ row. A workload with ttft_slo_ms >= 5000 is \"Batch processing / "
    "Flexible\", any other is \"Interactive\". Interactive: L40S / H100 SXM / H200 SXM on-demand. Batch: L40S "
    "on-demand / H100 SXM spot, topped up with H100 SXM on-demand when spot capacity (max_nodes) runs out (the "
    "table has no 13B–70B batch row; its \"70B\" row is used) / B200 on-demand. If the scenario has no offer of "
    "that GPU in those markets, the same GPU in any market; no offer of that GPU at all: n/a.")
GUIDE_A_QUOTE = (
    "Recommended Setup by Scale: Prototyping / <10 req/min: Single RTX 4090 ... Small production / 10–100 "
    "req/min: Single L40S ... Medium production / 100–500 req/min: 2× L40S or 1× H100 SXM5 ... Large production "
    "/ 500+ req/min: H100 cluster (2–8 GPUs). SXM5 with NVLink for tensor-parallel serving.")
GUIDE_A_RULE = (
    "by each workload's requests_per_min r (peak of its profile): r < 10 -> RTX 4090; 10 <= r < 100 -> L40S; "
    "100 <= r < 500 -> L40S or H100 SXM; r >= 500 -> H100 SXM; any market of that GPU (the guide's prices are "
    "on-demand, so on-demand when offered). The replica count, TP and precision are left to the integer program.")

BATCH_TTFT_MS = 5000.0


def _size_class(params_b: float) -> str:
    if params_b <= 13.5:
        return "small"
    if params_b <= 75.0:
        return "mid"
    return "large"


def guide_b_choice(params_b: float, ttft_slo_ms: float) -> tuple[str, tuple[str, ...]]:
    """(GPU id, markets) guide B's decision table names for a model of ``params_b`` at this TTFT SLO."""
    cls = _size_class(params_b)
    od = ("on_demand",)
    if ttft_slo_ms >= BATCH_TTFT_MS:
        return {"small": ("l40s", od), "mid": ("h100-sxm", ("spot", "on_demand")), "large": ("b200", od)}[cls]
    return {"small": ("l40s", od), "mid": ("h100-sxm", od), "large": ("h200", od)}[cls]


def guide_a_gpus(peak_rpm: float) -> tuple[str, ...]:
    if peak_rpm < 10:
        return ("rtx-4090",)
    if peak_rpm < 100:
        return ("l40s",)
    if peak_rpm < 500:
        return ("l40s", "h100-sxm")
    return ("h100-sxm",)


def _offer_sets_for(loaded: LoadedScenario, gpus: tuple[str, ...], markets: tuple[str, ...]) -> set[str]:
    """Offers of those GPUs in ``markets``; in any market when none is offered in those."""
    offers = [o for o in loaded.scenario.offers if loaded.catalog.gpu(o.gpu).id in gpus]
    if any(o.market in markets for o in offers):
        offers = [o for o in offers if o.market in markets]
    return {o.id for o in offers}


def guide_b_offers(loaded: LoadedScenario) -> dict[str, set[str]]:
    out = {}
    for w in loaded.scenario.workloads:
        gpu, markets = guide_b_choice(loaded.catalog.model(w.model).published_total_params_b, w.ttft_slo_ms)
        out[w.id] = _offer_sets_for(loaded, (gpu,), markets)
    return out


def guide_a_offers(loaded: LoadedScenario) -> dict[str, set[str]]:
    out = {}
    for w in loaded.scenario.workloads:
        peak = w.requests_per_min * (max(w.profile.hourly) if w.profile is not None else 1.0)
        if w.periods is not None:
            peak = max(p.requests_per_min for p in w.periods)
        out[w.id] = _offer_sets_for(loaded, guide_a_gpus(peak), ("on_demand",))
    return out


# --------------------------------------------------------------------------- running them


@dataclass
class Result:
    name: str
    usd_per_hour: float | None
    status: str
    saving: float | None = None  # (baseline - optimum) / baseline
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ScenarioQuality:
    scenario: str
    kind: str  # "example" | "generated"
    optimum: Result
    baselines: list[Result] = field(default_factory=list)

    def saving(self, prefix: str) -> float | None:
        return next((b.saving for b in self.baselines if b.name.startswith(prefix)), None)


def _result(name: str, out: stages.Outcome, detail: str = "") -> Result:
    status = out.status if out.usd_per_hour is not None or out.status != "infeasible" else "infeasible"
    return Result(name, out.usd_per_hour, status, detail=detail or out.detail, seconds=out.seconds)


def _per_workload(allowed: dict[str, set[str]]):
    return lambda d: d.offer in allowed.get(d.workload, set())


def evaluate(loaded: LoadedScenario, label: str, kind: str, solver: str, time_limit_s: float) -> ScenarioQuality:
    """The optimum and every baseline for one scenario (single-period or profiled; ``plan solve`` semantics)."""
    s = loaded.scenario
    opts = stages.options(loaded)
    hz = stages.horizon(loaded)
    opt = _result("fleetplan optimum", stages.solve_options(loaded, opts, hz, solver, time_limit_s))
    q = ScenarioQuality(label, kind, opt)

    gpu_of = {o.id: loaded.catalog.gpu(o.gpu).id for o in s.offers}
    market_of = {o.id: o.market for o in s.offers}
    pairs = sorted({(gpu_of[o.id], o.market) for o in s.offers})
    singles = []
    for gpu, market in pairs:
        sub = stages.restrict(opts, lambda d, g=gpu, m=market: gpu_of[d.offer] == g and market_of[d.offer] == m)
        out = stages.solve_options(loaded, sub, hz, solver, time_limit_s)
        if out.usd_per_hour is not None:
            singles.append((f"{gpu} {market.replace('_', '-')}", out))
    if singles:
        cheap = min(singles, key=lambda x: x[1].usd_per_hour)
        dear = max(singles, key=lambda x: x[1].usd_per_hour)
        q.baselines.append(_result(f"cheapest single GPU+market ({cheap[0]})", cheap[1],
                                   f"{len(singles)} of {len(pairs)} GPU+market pairs can serve everything"))
        q.baselines.append(_result(f"dearest single GPU+market ({dear[0]})", dear[1]))
    else:
        q.baselines.append(Result("cheapest single GPU+market", None, "infeasible",
                                  detail="no GPU+market pair can serve every workload"))
        q.baselines.append(Result("dearest single GPU+market", None, "infeasible"))

    for name, allowed in (("guide B decision table", guide_b_offers(loaded)),
                          ("guide A setup by scale", guide_a_offers(loaded))):
        empty = [w for w, o in allowed.items() if not o]
        if empty:
            q.baselines.append(Result(name, None, "n/a", detail=f"the guide's GPU is not offered for {empty[0]}"
                                      + (f" (+{len(empty) - 1} more)" if len(empty) > 1 else "")))
            continue
        sub = stages.restrict(opts, _per_workload(allowed))
        q.baselines.append(_result(name, stages.solve_options(loaded, sub, hz, solver, time_limit_s)))

    q.baselines.append(_result("Mélange-style ILP", solve_melange(loaded, opts, hz, solver, time_limit_s)))
    if opt.usd_per_hour is not None:
        for b in q.baselines:
            if b.usd_per_hour:
                b.saving = (b.usd_per_hour - opt.usd_per_hour) / b.usd_per_hour
    return q


def example_paths(root: Path) -> list[Path]:
    return sorted((root / "scenarios").glob("*.yaml"))


def run_all(root: Path, generated: list[tuple[str, int]], solver: str, time_limit_s: float,
            log=lambda msg: None) -> list[ScenarioQuality]:
    out = []
    for path in example_paths(root):
        try:
            loaded = load_scenario(path)
        except Exception as exc:  # an example being edited by someone else right now
            log(f"{path.name}: cannot load ({exc})")
            continue
        out.append(evaluate(loaded, path.name, "example", solver, time_limit_s))
        log(f"{path.name}: optimum {out[-1].optimum.usd_per_hour}")
    for size, seed in generated:
        loaded = generate.load(size, seed)
        out.append(evaluate(loaded, f"{size} seed {seed}", "generated", solver, time_limit_s))
        log(f"{size} seed {seed}: optimum {out[-1].optimum.usd_per_hour}")
    return out


BASELINE_KINDS = ("cheapest single", "dearest single", "guide B", "guide A", "Mélange")


def summary(results: list[ScenarioQuality]) -> list[dict]:
    """Mean, min and max saving per baseline kind over the generated scenarios (those where both solved)."""
    gen = [r for r in results if r.kind == "generated"]
    rows = []
    for kind in BASELINE_KINDS:
        vals = [r.saving(kind) for r in gen if r.saving(kind) is not None]
        rows.append({"baseline": kind, "n": len(vals), "of": len(gen),
                     "mean": statistics.mean(vals) if vals else None,
                     "min": min(vals) if vals else None, "max": max(vals) if vals else None})
    return rows


def to_dicts(results: list[ScenarioQuality]) -> list[dict]:
    return [asdict(r) for r in results]
