"""Deployment options: dropped options keep their reason, dominated ones are pruned safely, TP respects NVLink."""

from __future__ import annotations

from planner.fleet.options import enumerate_options, tp_degrees
from tests.solve_helpers import offer, override, scenario, workload


def test_tp_degrees_follow_nvlink_group_and_node():
    s = scenario([workload("w", 10)], [offer("h", "h100-sxm", 2.0, gpus_per_node=8),
                                        offer("p", "h100-pcie", 2.0, gpus_per_node=8),
                                        offer("l", "l40s", 1.0, gpus_per_node=4)], [])
    cat = s.catalog
    o = {x.id: x for x in s.scenario.offers}
    assert tp_degrees(o["h"], cat.gpu("h100-sxm")) == [1, 2, 4, 8]   # 8-GPU NVSwitch node
    assert tp_degrees(o["p"], cat.gpu("h100-pcie")) == [1, 2]         # NVLink bridge pairs only
    assert tp_degrees(o["l"], cat.gpu("l40s")) == [1, 2, 4]           # no NVLink: TP over PCIe inside the node


def test_dropped_options_keep_reasons():
    # Llama-3.1-70B bf16 (~141 GB) cannot fit one 48 GB L40S; fp4 is refused off Blackwell.
    s = scenario([workload("w", 10, model="llama-3.1-70b", precisions=("bf16", "fp4"))],
                 [offer("l", "l40s", 1.0)], [])
    opts = enumerate_options(s)
    assert not opts.deployments
    reasons = {(r.precision, r.tp): r.reason for r in opts.rejected}
    assert "fit" in reasons[("bf16", 1)].lower() or "memory" in reasons[("bf16", 1)].lower()
    assert "fp4" in reasons[("fp4", 1)].lower() or "blackwell" in reasons[("fp4", 1)].lower()


def test_dominated_option_pruned_with_reason():
    # On one 2-GPU node: tp1 serves 50 req/min, tp2 serves 60 < 2 x 50, so bf16 tp1 dominates bf16 tp2 per GPU
    # (two tp1 replicas fit in the tp2 replica's GPUs). fp8 tp1 at 70 dominates bf16 tp1 (50) and bf16/fp8 tp2
    # (60, 65 < 2 x 70); the reason names the kept dominator.
    ovs = [override("w", "h100-sxm", 50, tp=1), override("w", "h100-sxm", 60, tp=2),
           override("w", "h100-sxm", 70, precision="fp8", tp=1), override("w", "h100-sxm", 65, precision="fp8", tp=2)]
    s = scenario([workload("w", 10, precisions=("bf16", "fp8"))], [offer("h", "h100-sxm", 2.0, gpus_per_node=2)], ovs)
    opts = enumerate_options(s)
    kept = {(d.precision, d.tp) for d in opts.deployments}
    assert kept == {("fp8", 1)}
    dominated = {(r.precision, r.tp) for r in opts.rejected if r.state == "dominated"}
    assert dominated == {("bf16", 1), ("bf16", 2), ("fp8", 2)}
    assert all("dominated by fp8 TP1" in r.reason for r in opts.rejected if r.state == "dominated")


def test_zero_override_means_cannot_serve():
    s = scenario([workload("w", 10)], [offer("l", "l40s", 1.0)], [override("w", "l40s", 0)])
    opts = enumerate_options(s)
    assert not opts.deployments and "override" in opts.rejected[0].reason
