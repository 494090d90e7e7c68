"""Seeded scenario generator for the benchmarks: realistic workload mixes and priced offers, as plain dicts.

Sizes (workloads x offers, periods):

    S          3 x 6      1 period
    M         20 x 30     1 period; several markets (on-demand, spot, reserved), MIG offers, multi-GPU nodes (TP)
    L        100 x 60     1 period; the same mix, larger
    XL       100 x 60     24 hourly periods (every workload has a daily profile; phases differ, as time zones do)
    forecast   6 x 12     daily profiles over 12 months (``forecast:`` block) = 288 periods; two reserved offers
                          that may be signed for 12 or 36 months, growth and price trends (the program is
                          288 times a single period, so the base mix is kept small)

Realism rules (so that the integer program is the one users have, not a toy):
- models are catalog ids, weighted towards small models (most traffic), with some 70B-class and a few 235B+;
- every price is one quoted in ``shared/reference/pricing.md`` (SkyPilot catalog, provider pages, neoclouds),
  with a regional spread of 0-30 % for repeated offers (pricing.md section 3: "Regional spread");
- spot interruption rates are AWS Spot Advisor bucket midpoints turned into a per-node-hour hazard
  ``-ln(1 - r) / 730`` (pricing.md section 4); reserved offers are 20-45 % below on-demand (section 5);
- SLOs follow the workload's kind (chat, RAG, agent, batch) and are relaxed for larger models, so that some GPU
  meets them; some options (a 70B model on an L4, FP8 on Ampere, ...) are infeasible, as they are in practice;
- three uncapped "anchor" offers (1xL40S, 8xH100 SXM, 8xH200 on-demand) are always present, so that every
  generated scenario is feasible whatever the caps on the others.

The generator is pure: ``generate(size, seed)`` returns the same dict for the same arguments (``random.Random``
only, no global state), and ``load(size, seed)`` validates it through ``planner.scenario.io.scenario_from_dict``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

SIZES: dict[str, tuple[int, int]] = {"S": (3, 6), "M": (20, 30), "L": (100, 60), "XL": (100, 60), "forecast": (6, 12)}
PERIODS: dict[str, int] = {"S": 1, "M": 1, "L": 1, "XL": 24, "forecast": 12 * 24}
DEFAULT_SEED = 20260701

# --------------------------------------------------------------------------- models

# (catalog id, size class, max context tokens). Classes: s <= 15B, m 15-50B total, l 50-150B, h > 150B.
MODELS: tuple[tuple[str, str, int], ...] = (
    ("llama-3.2-1b", "s", 131072), ("llama-3.2-3b", "s", 131072), ("llama-3.1-8b", "s", 131072),
    ("mistral-7b", "s", 32768), ("qwen2.5-7b", "s", 32768), ("phi-4", "s", 16384),
    ("gemma-2-27b", "m", 8192), ("gemma-3-27b", "m", 131072), ("qwen3-30b-a3b", "m", 40960),
    ("mixtral-8x7b", "m", 32768),
    ("llama-3.1-70b", "l", 131072), ("qwen2.5-72b", "l", 32768), ("mixtral-8x22b", "l", 65536),
    ("llama-3.1-405b", "h", 131072), ("qwen3-235b-a22b", "h", 40960), ("deepseek-v3", "h", 163840),
)
CLASS_WEIGHTS = {"s": 0.50, "m": 0.22, "l": 0.22, "h": 0.06}
# requests/min drawn log-uniformly in these ranges (big models carry less traffic)
RATE_RPM = {"s": (20.0, 1200.0), "m": (15.0, 500.0), "l": (8.0, 200.0), "h": (4.0, 40.0)}
# SLO multipliers by class (a 405B model is not held to an 8B model's TTFT)
SLO_SCALE = {"s": (1.0, 1.0), "m": (1.3, 1.2), "l": (1.8, 1.5), "h": (3.0, 2.0)}
PRECISIONS = {
    "s": (("bf16", "fp8"), ("bf16", "int8"), ("bf16",), ("bf16", "fp8", "int8")),
    "m": (("bf16", "fp8"), ("fp8",), ("bf16", "int8")),
    "l": (("fp8",), ("fp8", "int4"), ("bf16", "fp8")),
    "h": (("fp8",), ("fp8", "int4")),
}

# workload kinds: prompt range, output range, TTFT ms, TPOT ms, percentile
KINDS = {
    "chat": ((400, 1500), (120, 400), 800.0, 50.0, 95.0),
    "agent": ((1500, 4000), (200, 500), 1500.0, 45.0, 95.0),
    "rag": ((3000, 6000), (200, 400), 2500.0, 80.0, 95.0),
    "batch": ((800, 3000), (200, 600), 8000.0, 120.0, 90.0),
}
KIND_WEIGHTS = {"chat": 0.4, "agent": 0.2, "rag": 0.2, "batch": 0.2}

# --------------------------------------------------------------------------- offers (pricing.md section 3)


@dataclass(frozen=True)
class OfferTemplate:
    """A priced way to rent a GPU, quoted in pricing.md. ``usd_gpu`` is per GPU-hour on-demand."""

    gpu: str
    gpus: int
    usd_gpu: float
    provider: str
    source: str
    spot_usd_gpu: float | None = None  # spot price per GPU-hour where pricing.md quotes one
    mig_ok: bool = False


TEMPLATES: tuple[OfferTemplate, ...] = (
    OfferTemplate("l4", 1, 0.8048, "aws", "pricing.md §3 AWS g6.xlarge $0.8048/h [mem]", 0.43),
    OfferTemplate("l4", 8, 1.6688, "aws", "pricing.md §3 AWS g6.48xlarge $13.3504/h [catalog]", 0.41),
    OfferTemplate("l4", 1, 0.43, "runpod", "pricing.md §3 RunPod L4 ≈ $0.43/GPU-h [mem]"),
    OfferTemplate("l4", 1, 0.71, "gcp", "pricing.md §3 GCP g2-standard-4 ≈ $0.71/h [mem]"),
    OfferTemplate("a10g", 1, 1.006, "aws", "pricing.md §3 AWS g5.xlarge $1.006/h [mem]", 0.52),
    OfferTemplate("a10g", 4, 2.036, "aws", "pricing.md §3 AWS g5.24xlarge $8.144/h [catalog]", 0.80),
    OfferTemplate("rtx-4090", 1, 0.69, "runpod", "pricing.md §3 RunPod RTX 4090 ≈ $0.69/GPU-h [mem]", 0.34),
    OfferTemplate("rtx-4090", 1, 0.45, "vast", "pricing.md §3 Vast.ai RTX 4090 ≈ $0.25–0.45/GPU-h [mem]"),
    OfferTemplate("l40s", 1, 1.861, "aws", "pricing.md §3 AWS g6e.xlarge $1.861/h [catalog]", 0.82),
    OfferTemplate("l40s", 8, 3.766, "aws", "pricing.md §3 AWS g6e.48xlarge $30.13/h [catalog]", 0.97),
    OfferTemplate("l40s", 1, 0.86, "runpod", "pricing.md §3 RunPod L40S ≈ $0.86/GPU-h [mem]"),
    OfferTemplate("l40s", 8, 2.25, "coreweave", "pricing.md §3 CoreWeave L40S ≈ $2.25/GPU-h [mem]"),
    OfferTemplate("a100-40gb", 8, 4.097, "aws", "pricing.md §3 AWS p4d.24xlarge $32.77/h [catalog]", 1.00, True),
    OfferTemplate("a100-40gb", 8, 1.29, "lambda", "pricing.md §3 Lambda 8xA100 40 GB $10.32/h [catalog v7]", None, True),
    OfferTemplate("a100-80gb", 8, 5.121, "aws", "pricing.md §3 AWS p4de.24xlarge $40.97/h [catalog]", 0.78, True),
    OfferTemplate("a100-80gb", 8, 1.79, "lambda", "pricing.md §3 Lambda 8xA100 80 GB $14.32/h [catalog v7]", None, True),
    OfferTemplate("a100-80gb", 1, 1.89, "runpod", "pricing.md §3 RunPod A100 80 GB SXM $1.89/GPU-h [catalog v7]", None, True),
    OfferTemplate("a100-80gb-pcie", 1, 1.64, "runpod", "pricing.md §3 RunPod A100 80 GB PCIe $1.64 OD / $1.19 spot [catalog v7]", 1.19, True),
    OfferTemplate("a100-80gb-pcie", 1, 3.67, "azure", "pricing.md §3 Azure NC24ads_A100_v4 ≈ $3.67/h [mem]", None, True),
    OfferTemplate("h100-pcie", 1, 2.49, "lambda", "pricing.md §3 Lambda 1xH100 PCIe $2.49/h [catalog v7]", None, True),
    OfferTemplate("h100-pcie", 1, 2.39, "runpod", "pricing.md §3 RunPod H100 PCIe ≈ $2.39/GPU-h [mem]", None, True),
    OfferTemplate("h100-sxm", 1, 3.29, "lambda", "pricing.md §3 Lambda 1xH100 SXM $3.29/h [catalog v7]", None, True),
    OfferTemplate("h100-sxm", 2, 2.99, "runpod", "pricing.md §3 RunPod H100 SXM ≈ $2.69–2.99/GPU-h [mem]", None, True),
    OfferTemplate("h100-sxm", 8, 12.29, "aws", "pricing.md §3 AWS p5.48xlarge $98.32/h [catalog]", 1.89, True),
    OfferTemplate("h100-sxm", 8, 6.16, "coreweave", "pricing.md §3 CoreWeave HGX H100 ≈ $49.24/h [mem]", None, True),
    OfferTemplate("h100-nvl", 1, 6.98, "azure", "pricing.md §3 Azure NC40ads_H100_v5 ≈ $6.98/h [mem]", None, True),
    OfferTemplate("h200", 8, 10.60, "aws", "pricing.md §3 AWS p5en.48xlarge $84.80/h [catalog]", 2.56, True),
    OfferTemplate("h200", 1, 3.79, "runpod", "pricing.md §3 RunPod H200 ≈ $3.59–3.99/GPU-h [mem]", None, True),
    OfferTemplate("b200", 8, 4.99, "lambda", "pricing.md §3 Lambda B200 ≈ $4.99/GPU-h [mem]", None, True),
    OfferTemplate("b200", 8, 8.60, "coreweave", "pricing.md §3 CoreWeave HGX B200 ≈ $68.80/h [mem]", None, True),
)
# Always present, uncapped: every generated workload has somewhere to go (see the module docstring).
ANCHORS: tuple[OfferTemplate, ...] = (
    OfferTemplate("l40s", 1, 0.86, "runpod", "pricing.md §3 RunPod L40S ≈ $0.86/GPU-h [mem]"),
    OfferTemplate("h100-sxm", 8, 2.99, "lambda", "pricing.md §3 Lambda 8xH100 SXM ≈ $2.99/GPU-h [mem]"),
    OfferTemplate("h200", 8, 6.31, "coreweave", "pricing.md §3 CoreWeave HGX H200 ≈ $50.44/h [mem]"),
)
RESERVABLE: tuple[OfferTemplate, ...] = (  # the forecast case always has these two to commit to
    OfferTemplate("h100-sxm", 8, 2.99, "lambda", "pricing.md §3 Lambda 8xH100 SXM ≈ $2.99/GPU-h [mem]"),
    OfferTemplate("l40s", 8, 3.766, "aws", "pricing.md §3 AWS g6e.48xlarge $30.13/h [catalog]"),
)
REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-north-1", "ap-south-1")
SPOT_MONTHLY = (0.025, 0.075, 0.125, 0.175, 0.25)  # AWS Spot Advisor bucket midpoints (pricing.md §4)


def _rng(seed: int, size: str) -> random.Random:
    return random.Random(f"{seed}:{size}")


def _pick_weighted(rng: random.Random, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _workload(rng: random.Random, i: int) -> dict:
    cls = _pick_weighted(rng, CLASS_WEIGHTS)
    model, _, max_ctx = rng.choice([m for m in MODELS if m[1] == cls])
    kind = _pick_weighted(rng, KIND_WEIGHTS)
    (p_lo, p_hi), (o_lo, o_hi), ttft, tpot, pct = KINDS[kind]
    t_scale, p_scale = SLO_SCALE[cls]
    w: dict = {"id": f"w{i:03d}-{kind}-{model}", "model": model,
               "requests_per_min": round(_log_uniform(rng, *RATE_RPM[cls]), 1)}
    if kind == "rag":  # two-bucket size mix: ordinary and long documents, within the model's context
        short_p = min(rng.randint(p_lo, p_hi), max_ctx // 2)
        long_p = min(short_p * rng.choice((3, 4)), max_ctx - 1024)
        share = rng.choice((0.7, 0.8))
        w["size_mix"] = [{"prompt_tokens": short_p, "output_tokens": rng.randint(o_lo, o_hi), "share": share},
                         {"prompt_tokens": long_p, "output_tokens": o_hi, "share": round(1 - share, 2)}]
    else:
        w["prompt_tokens"] = min(rng.randint(p_lo, p_hi), max_ctx - o_hi)
        w["output_tokens"] = rng.randint(o_lo, o_hi)
    w["ttft_slo_ms"] = round(ttft * t_scale * rng.uniform(0.9, 1.3), -1)
    w["ttft_percentile"] = pct
    w["tpot_slo_ms"] = round(tpot * p_scale * rng.uniform(0.9, 1.3))
    w["precisions"] = list(rng.choice(PRECISIONS[cls]))
    if cls in ("l", "h") and "fp8" in w["precisions"] and rng.random() < 0.5:
        w["kv_cache_dtype"] = "fp8"
    w["engine"] = rng.choice(("vllm", "vllm", "sglang"))
    w["min_replicas"] = rng.choice((1, 1, 1, 2))
    return w


def _offer(rng: random.Random, t: OfferTemplate, oid: str, *, market: str, price_factor: float,
           capped: bool, mig: bool) -> dict:
    region = rng.choice(REGIONS)
    o: dict = {"id": oid, "gpu": t.gpu, "market": market, "gpus_per_node": t.gpus, "region": region,
               "source": t.source, "as_of": "2025"}
    if market == "spot":
        price = (t.spot_usd_gpu or 0.45 * t.usd_gpu) * price_factor
        monthly = rng.choice(SPOT_MONTHLY)
        o["interruption_rate_per_hour"] = round(-math.log(1 - monthly) / 730.0, 6)
        o["recovery_minutes"] = rng.choice((8, 10, 15, 20))
        o["pool"] = f"{t.provider}-{region}{rng.choice('abc')}"
    elif market == "reserved":
        price = t.usd_gpu * price_factor * rng.uniform(0.55, 0.8)  # pricing.md §5: 20-45 % below on-demand
        o["term_months"] = rng.choice((12, 36))
        o["source"] += "; reserved at 20–45 % below on-demand (pricing.md §5)"
    else:
        price = t.usd_gpu * price_factor
    o["price_usd_per_gpu_hour"] = round(price, 4)
    if capped:
        o["max_nodes"] = rng.choice((1, 2, 2, 4, 4, 8, 16)) if t.gpus == 1 else rng.choice((1, 1, 2, 2, 4))
    if market == "reserved" and "max_nodes" not in o:
        o["max_nodes"] = rng.choice((1, 2))
    if mig:
        o["mig"] = True
    return o


def _offers(rng: random.Random, n: int, rich: bool) -> list[dict]:
    """``n`` offers: the anchors, then templates drawn without replacement in each round (a round per region)."""
    out = [_offer(rng, t, f"anchor-{t.gpu}-{t.gpus}x-od", market="on_demand", price_factor=1.0, capped=False,
                  mig=False) for t in ANCHORS[:n]]
    k = 0
    while len(out) < n:
        pool = list(TEMPLATES)
        rng.shuffle(pool)
        for t in pool:
            if len(out) >= n:
                break
            r = rng.random()
            # several markets: spot where pricing.md quotes it (or rich mixes assume ~45 % of OD), some reserved
            if rich and r < 0.25 and (t.spot_usd_gpu is not None or t.provider in ("aws", "gcp", "runpod")):
                market = "spot"
            elif rich and r < 0.40 and t.provider in ("lambda", "coreweave", "aws", "azure"):
                market = "reserved"
            else:
                market = "on_demand"
            factor = 1.0 if k < len(TEMPLATES) else rng.uniform(1.0, 1.3)
            mig = rich and t.mig_ok and t.gpus == 1 and market != "spot" and rng.random() < 0.6
            oid = f"o{len(out):02d}-{t.provider}-{t.gpu}-{t.gpus}x-{market.replace('_', '')}"
            out.append(_offer(rng, t, oid, market=market, price_factor=factor, capped=rng.random() < 0.7, mig=mig))
            k += 1
    return out


def _daily_profile(rng: random.Random, kind: str) -> list[float]:
    """24 multipliers, peak 1.0: a diurnal curve with a random peak hour (time zone), flatter for batch."""
    peak = rng.randint(0, 23)
    trough = rng.uniform(0.5, 0.8) if kind == "batch" else rng.uniform(0.08, 0.3)
    vals = []
    for h in range(24):
        x = 0.5 * (1 + math.cos(2 * math.pi * (h - peak) / 24))  # 1 at peak, 0 twelve hours away
        vals.append(round(trough + (1 - trough) * x ** 1.5, 3))
    return vals


def _forecast_block(rng: random.Random, workloads: list[dict], offers: list[dict]) -> dict:
    growth = {}
    for w in workloads:
        if rng.random() < 0.6:
            growth[w["id"]] = {"growth_pct_per_month": round(rng.uniform(0, 10), 1)}
        else:
            steps = [0.5, 0.75, 1.0, 1.25, 1.5]
            start = rng.randint(0, 2)
            growth[w["id"]] = {"multipliers": [steps[min(start + m // 3, len(steps) - 1)] for m in range(12)]}
    gpus = sorted({o["gpu"] for o in offers})
    trends = [{"gpu": g, "price_change_pct_per_month": round(rng.uniform(-3.0, 0.0), 1)}
              for g in rng.sample(gpus, k=min(3, len(gpus)))]
    reserved = [o for o in offers if o["market"] == "reserved"]
    options = []
    for o in reserved[:3]:
        base = o["price_usd_per_gpu_hour"] * o["gpus_per_node"]
        options.append({"offer": o["id"], "term_months": 12, "price_usd_per_node_hour": round(base, 2),
                        "max_nodes": 2})
        options.append({"offer": o["id"], "term_months": 36, "price_usd_per_node_hour": round(base * 0.8, 2),
                        "upfront_usd_per_node": round(base * 730 * 2, -2), "max_nodes": 1})
    return {"start": "2026-07", "months": 12, "hours_per_month": 730.0, "growth": growth,
            "price_trends": trends, "reserved_options": options}


NO_HEDGE = "-nohedge"  # diagnostic variant: the same scenario with ``policy.spot.hedge: false``
NO_POOL = "-nopool"    # diagnostic variant: ``policy.spot.pool_failures: 0`` (the node-loss states stay)
DIAGNOSTIC_SPOT = {NO_HEDGE: {"hedge": False}, NO_POOL: {"pool_failures": 0}}


def generate(size: str, seed: int = DEFAULT_SEED) -> dict:
    """The scenario dict of ``size`` (one of ``SIZES``) for ``seed``; same arguments, same dict.

    ``size + "-nohedge"`` (e.g. ``"M-nohedge"``) is the same scenario planned on expected spot capacity only
    (no pool-loss hedge): a diagnostic that isolates what the hedge costs in problem size and solve time.
    ``size + "-nopool"`` keeps the hedge's node-loss states and drops the loss of a whole pool
    (``pool_failures: 0``): with ``-nohedge``, it tells the two parts of the hedge apart.
    """
    for suffix, spot in DIAGNOSTIC_SPOT.items():
        if size.endswith(suffix) and size[: -len(suffix)] in SIZES:
            data = generate(size[: -len(suffix)], seed)
            data["name"] = f"bench-{size}-{seed}"
            data["policy"] = {**data["policy"], "spot": spot}
            return data
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
    n_w, n_o = SIZES[size]
    # XL is L with profiles: draw its workloads and offers from L's stream so the two differ only in time
    rng = _rng(seed, "L" if size == "XL" else size)
    workloads = [_workload(rng, i) for i in range(n_w)]
    if size == "forecast":  # commitments are what a forecast decides: make sure there are some to sign
        offers = _offers(rng, n_o - len(RESERVABLE), rich=True)
        offers += [_offer(rng, t, f"r{k}-{t.provider}-{t.gpu}-{t.gpus}x-reserved", market="reserved",
                          price_factor=1.0, capped=True, mig=False) for k, t in enumerate(RESERVABLE)]
    else:
        offers = _offers(rng, n_o, rich=size != "S")
    data: dict = {
        "name": f"bench-{size}-{seed}",
        "description": f"generated by bench.generate (size {size}, seed {seed})",
        "policy": {"target_utilization": 0.8, "solver": "highs", "time_limit_s": 120.0, "mip_gap": 0.0},
        "workloads": workloads,
        "offers": offers,
    }
    if size in ("XL", "forecast"):
        prof = _rng(seed, f"{size}-profiles")
        for w in workloads:
            kind = w["id"].split("-")[1]
            w["profile"] = {"hourly": _daily_profile(prof, kind)}
    if size == "forecast":
        data["forecast"] = _forecast_block(_rng(seed, "forecast-block"), workloads, offers)
    return data


def load(size: str, seed: int = DEFAULT_SEED):
    """``generate`` then validate against the built-in catalog: a ``LoadedScenario``."""
    from planner.scenario.io import scenario_from_dict  # noqa: PLC0415 - keep the generator importable alone

    return scenario_from_dict(generate(size, seed), name=f"bench-{size}-{seed}.yaml")
