"""Attention-DP × expert-parallel replicas of mixture-of-experts models: which shapes a node's NVLink group
holds, and their per-bucket capacity at a workload's SLOs.

A replica of ``G`` GPUs (one NVLink group, ``G`` a power of two) runs ``dp`` attention data-parallel ranks of
``t`` GPUs each (``dp·t = G``; each rank keeps its own KV cache and batch) and spreads the routed experts over
all ``G`` GPUs (``ep = G``), the way DeepSeek-class models are served (SGLang ``--enable-dp-attention``,
TensorRT-LLM attention DP, vLLM ``--data-parallel-size`` with expert parallelism). Shapes with ``dp = 1`` are
plain tensor parallelism and are enumerated elsewhere; ``ep`` must divide the routed experts.

Capacity is :func:`planner.perf.estimate.estimate` with ``attention_dp`` / ``expert_parallel`` (``tp`` = the
per-rank degree ``t``), one call per size bucket. Scenario ``capacity_overrides`` are keyed by TP and apply to
plain TP replicas only.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING

from planner.catalog.records import GpuSpec, ModelSpec

if TYPE_CHECKING:
    from planner.perf.calibration import Calibration
    from planner.perf.estimate import Estimate
    from planner.scenario.model import Workload

__all__ = ["ep_dp_supported", "ep_dp_shapes", "capacity_ep_dp"]


@functools.lru_cache(maxsize=1)
def ep_dp_supported() -> bool:
    """Whether the performance model takes ``attention_dp`` and ``expert_parallel``."""
    from planner.perf.estimate import estimate  # noqa: PLC0415

    params = inspect.signature(estimate).parameters
    return "attention_dp" in params and "expert_parallel" in params


def ep_dp_shapes(model: ModelSpec, gpu: GpuSpec, gpus_per_node: int) -> list[tuple[int, int, int]]:
    """``(t, dp, ep)`` with ``dp ≥ 2`` filling the node's NVLink group ``G`` (the largest power of two ≤
    min(node, NVLink group)): ``t·dp = G``, ``ep = G``; empty for dense models, GPUs without NVLink, or when
    ``G`` does not divide the routed experts."""
    if not model.is_moe or not gpu.has_nvlink:
        return []
    limit = min(gpus_per_node, gpu.nvlink_max_gpus)
    group = 1
    while group * 2 <= limit:
        group *= 2
    if group < 2 or model.n_routed_experts % group:
        return []
    out = []
    dp = group
    while dp >= 2:
        out.append((group // dp, dp, group))
        dp //= 2
    return out


def capacity_ep_dp(model: ModelSpec, gpu: GpuSpec, workload: "Workload", *, tp: int, attention_dp: int,
                   expert_parallel: int, precision: str = "bf16",
                   calibration: "Calibration | None" = None) -> list["Estimate"]:
    """One Estimate per ``workload.buckets`` entry (same order) at the workload's SLOs for a DP × EP replica
    (``tp`` GPUs per attention rank)."""
    from planner.perf.estimate import bucket_kwargs, estimate  # noqa: PLC0415

    return [estimate(model, gpu, **bucket_kwargs(workload, b, tp=tp, mig_profile=None, precision=precision,
                                                 calibration=calibration),
                     attention_dp=attention_dp, expert_parallel=expert_parallel)
            for b in workload.buckets]
