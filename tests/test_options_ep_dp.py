"""Attention-DP × expert-parallel deployment options for MoE models: enumerated inside a node's NVLink group,
priced by the performance model's attention_dp / expert_parallel, carried into the plan, and re-derived by
the verifier (old plan JSON without the fields still reads)."""

from __future__ import annotations

import pytest

from planner.catalog import Catalog
from planner.fleet.options import enumerate_options
from planner.fleet.solve import SolveSettings, solve_scenario
from planner.perf.parallel import capacity_ep_dp, ep_dp_shapes, ep_dp_supported
from planner.plan import ReplicaLine
from planner.verify import verify_plan
from planner.verify.capacities import Capacities
from tests.solve_helpers import offer, scenario, workload

CAT = Catalog.builtin()
pytestmark = pytest.mark.skipif(not ep_dp_supported(), reason="performance model without attention_dp")


@pytest.mark.parametrize("model_id, gpu_id, node, shapes", [
    ("deepseek-r1", "h200", 8, [(1, 8, 8), (2, 4, 8), (4, 2, 8)]),   # 256 experts over 8 GPUs
    ("deepseek-r1", "h200", 4, [(1, 4, 4), (2, 2, 4)]),               # the node caps the group
    ("mixtral-8x7b", "gb200", 4, [(1, 4, 4), (2, 2, 4)]),             # a 4-GPU tray of the NVL72 domain
    ("llama-3.1-70b", "h200", 8, []),                                 # dense: no expert parallelism
    ("qwen3-30b-a3b", "l40s", 4, []),                                 # no NVLink
    ("gpt-oss-120b", "h100-pcie", 2, [(1, 2, 2)]),                    # NVLink bridge pair
])
def test_shapes_fill_the_nvlink_group(model_id, gpu_id, node, shapes):
    assert ep_dp_shapes(CAT.model(model_id), CAT.gpu(gpu_id), node) == shapes


def _deepseek(rpm=300.0):
    return scenario([workload("r1", rpm, model="deepseek-r1", prompt=2000, output=500, precisions=("fp8",),
                              ttft_slo_ms=3000, tpot_slo_ms=60, engine="sglang")],
                    [offer("h200x8", "h200", 4.0, gpus_per_node=8)], [])


def test_options_include_dp_ep_with_the_model_capacity():
    s = _deepseek()
    opts = enumerate_options(s)
    seen = {(d.tp, d.attention_dp, d.expert_parallel) for d in opts.deployments} | \
           {(r.tp, r.attention_dp, r.expert_parallel) for r in opts.rejected}
    assert {(8, 8, 8), (8, 4, 8), (8, 2, 8), (8, 1, 1)} <= seen
    w = s.scenario.workloads[0]
    for d in opts.deployments:
        if d.attention_dp > 1:
            direct = capacity_ep_dp(CAT.model("deepseek-r1"), CAT.gpu("h200"), w, tp=d.tp // d.attention_dp,
                                    attention_dp=d.attention_dp, expert_parallel=d.expert_parallel,
                                    precision="fp8")
            assert d.capacity_rpm == tuple(max(0.0, e.requests_per_min) for e in direct)


def test_solved_plan_verifies_and_old_json_reads():
    s = _deepseek()
    plan = solve_scenario(s, SolveSettings(baselines=False))
    assert plan.verification is not None and plan.verification.ok
    v = verify_plan(s, plan)
    assert v.ok, [c for c in v.checks if not c.ok]
    reps = plan.replicas
    assert reps
    # every option the plan lists carries its shape; the DP8 x EP8 option is among them
    assert any((o.tp, o.attention_dp, o.expert_parallel) == (8, 8, 8) for o in plan.options)
    # the verifier's own recomputation for a DP x EP line equals the estimate bucket by bucket
    caps = Capacities(s, None)
    w = s.scenario.workloads[0]
    line = ReplicaLine(workload="r1", offer="h200x8", gpu="h200", precision="fp8", tp=8, mig_profile=None, count=1,
                       capacity_requests_per_min=0.0, assigned_requests_per_min=0.0, utilization=0.0,
                       predicted_ttft_ms=0.0, predicted_tpot_ms=0.0, attention_dp=4, expert_parallel=8)
    direct = capacity_ep_dp(CAT.model("deepseek-r1"), CAT.gpu("h200"), w, tp=2, attention_dp=4, expert_parallel=8,
                            precision="fp8")
    assert caps.expected(w, CAT.gpu("h200"), line) == [max(0.0, e.requests_per_min) for e in direct]
    # plans written before the fields existed: the defaults make them plain TP replicas
    old = {k: val for k, val in reps[0].model_dump().items() if k not in ("attention_dp", "expert_parallel")}
    r = ReplicaLine(**old)
    assert (r.attention_dp, r.expert_parallel) == (1, 1)
