"""Builders for small scenarios whose capacities are fixed by ``capacity_overrides`` (no perf model in the loop)."""

from __future__ import annotations

import functools

from planner.scenario.io import scenario_from_dict

H100_PROFILES = ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")


def workload(wid: str, rpm: float, *, model: str = "llama-3.2-1b", prompt: int = 1000, output: int = 250,
             precisions=("bf16",), min_replicas: int = 1, **extra) -> dict:
    w = {"id": wid, "model": model, "requests_per_min": rpm, "ttft_slo_ms": 2000,
         "precisions": list(precisions), "min_replicas": min_replicas}
    if "size_mix" not in extra:
        w.update(prompt_tokens=prompt, output_tokens=output)
    w.update(extra)
    return w


def offer(oid: str, gpu: str, price_gpu: float, *, market: str = "on_demand", gpus_per_node: int = 1,
          **extra) -> dict:
    o = {"id": oid, "gpu": gpu, "market": market, "price_usd_per_gpu_hour": price_gpu,
         "gpus_per_node": gpus_per_node}
    o.update(extra)
    return o


def override(wid: str, gpu: str, rpm: float, *, precision: str = "bf16", tp: int = 1, mig_profile=None,
             **bucket) -> dict:
    o = {"workload": wid, "gpu": gpu, "precision": precision, "tp": tp, "requests_per_min": rpm}
    if mig_profile:
        o["mig_profile"] = mig_profile
    o.update(bucket)
    return o


def scenario(workloads, offers, overrides, **policy) -> object:
    data = {"name": "test", "policy": {"target_utilization": 0.8, "time_limit_s": 30, **policy},
            "workloads": workloads, "offers": offers, "capacity_overrides": overrides}
    return scenario_from_dict(data)


def mig_only(wid: str, gpu: str, profile_rpm: dict[str, float]) -> list[dict]:
    """Overrides that leave only the given MIG profiles (and nothing else) able to serve ``wid``."""
    out = [override(wid, gpu, 0.0, tp=1)]
    for prof in H100_PROFILES:
        out.append(override(wid, gpu, profile_rpm.get(prof, 0.0), mig_profile=prof))
    return out


@functools.cache
def bench_medium() -> dict:
    """The benchmark's medium set, seed 1 (``bench.generate``), loaded once per test process, with its options."""
    from bench import generate  # noqa: PLC0415
    from planner.fleet.options import enumerate_options  # noqa: PLC0415

    loaded = generate.load("M", 1)
    return {"loaded": loaded, "options": enumerate_options(loaded)}
