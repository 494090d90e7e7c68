"""``plan export``: the files parse back and say what the plan says (replicas, GPUs, spot), checked here by reading
the YAML independently of the exporter's own check; MIG resource names; KEDA cron schedules replayed hour by hour."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import InputError
from planner.export import kubernetes as k8s
from planner.export.groups import replica_groups
from planner.export.run import _schema, check_files, export_plan
from planner.fleet.solve import SolveSettings, solve_scenario
from planner.plan import Plan
from planner.scenario.io import load_scenario
from tests.solve_helpers import offer, override, scenario, workload

ROOT = Path(__file__).resolve().parent.parent
CHATBOT = ROOT / "scenarios/chatbot.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def chatbot(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    res = runner.invoke(app, ["solve", str(CHATBOT), "--solver", "highs", "--no-baselines", "--format", "json",
                              "--out", str(path)])
    assert res.exit_code == 0, res.output
    return path, Plan.from_json(json.loads(path.read_text()))


def _plan_view(plan: Plan, loaded):
    """(workload, offer) -> (replicas, GPUs per replica, spot?) straight from the plan JSON."""
    market = {o.id: o.market for o in loaded.scenario.offers}
    out: Counter = Counter()
    gpus = {}
    for r in plan.replicas:
        out[(r.workload, r.offer)] += r.count
        gpus[(r.workload, r.offer, r.tp)] = r.tp
    return out, gpus, market


def test_kubernetes_export_of_chatbot_matches_the_plan(chatbot, tmp_path):
    plan_path, plan = chatbot
    res = runner.invoke(app, ["export", str(plan_path), str(tmp_path), "--scenario", str(CHATBOT),
                              "--to", "kubernetes"])
    assert res.exit_code == 0, res.output
    loaded = load_scenario(CHATBOT)
    want, _, market = _plan_view(plan, loaded)
    got: Counter = Counter()
    for f in tmp_path.glob("*.yaml"):
        for d in yaml.safe_load_all(f.read_text()):
            if d["kind"] != "Deployment":
                assert d["kind"] == "Service"
                continue
            tmpl = d["spec"]["template"]
            ann, labels = d["metadata"]["annotations"], tmpl["metadata"]["labels"]
            wid = labels["app.kubernetes.io/name"]
            oid = tmpl["spec"]["nodeSelector"]["fleetplan.io/offer"]
            got[(wid, oid)] += d["spec"]["replicas"]
            assert tmpl["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": int(ann["fleetplan.io/tp"])}
            assert labels["fleetplan.io/market"] == market[oid].replace("_", "-")
            args = tmpl["spec"]["containers"][0]["args"]
            assert args[args.index("--tensor-parallel-size") + 1] == ann["fleetplan.io/tp"] if "--tensor-parallel-size" \
                in args else args[args.index("--tp") + 1] == ann["fleetplan.io/tp"]
    assert got == want
    sched = pd.read_csv(tmp_path / "schedule.csv")
    assert sched.groupby(["workload", "offer"])["replicas"].sum().to_dict() == dict(want)


def test_skypilot_export_of_chatbot_matches_the_plan(chatbot, tmp_path):
    plan_path, plan = chatbot
    res = runner.invoke(app, ["export", str(plan_path), str(tmp_path), "--scenario", str(CHATBOT),
                              "--to", "skypilot"])
    assert res.exit_code == 0, res.output
    loaded = load_scenario(CHATBOT)
    spot = {o.id: o.market == "spot" for o in loaded.scenario.offers}
    by_name = {(f"{r.workload}-{r.offer}-{r.precision}-tp{r.tp}"): r for r in plan.replicas}
    files = sorted(tmp_path.glob("*.yaml"))
    assert len(files) == len(by_name)
    for f in files:
        d = yaml.safe_load(f.read_text())
        r = by_name[d["name"]]
        acc, n = d["resources"]["accelerators"].split(":")
        assert (d["service"]["replicas"], int(n), d["resources"]["use_spot"]) == (r.count, r.tp, spot[r.offer])
        assert f"--tensor-parallel-size {r.tp}" in d["run"] or f"--tp {r.tp}" in d["run"]
        assert ("--quantization fp8" in d["run"]) == (r.precision == "fp8")


def test_mig_replicas_request_mig_resources_and_skypilot_refuses():
    loaded = load_scenario(ROOT / "scenarios/mig-small-models.yaml")
    plan = solve_scenario(loaded, SolveSettings(solver="highs", baselines=False))
    files = export_plan(plan, loaded.scenario, "kubernetes")
    limits = Counter()
    for name, text in files.items():
        for d in yaml.safe_load_all(text) if name.endswith(".yaml") else ():
            if d["kind"] == "Deployment":
                (res, n), = d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].items()
                limits[res] += n * d["spec"]["replicas"]
    want = Counter()
    for r in plan.replicas:
        want["nvidia.com/mig-" + r.mig_profile if r.mig_profile else "nvidia.com/gpu"] += r.count * (
            1 if r.mig_profile else r.tp)
    assert limits == want and any(k.startswith("nvidia.com/mig-1g.") for k in limits)
    with pytest.raises(InputError, match="MIG"):
        export_plan(plan, loaded.scenario, "skypilot")


PEAK = [1.0] * 9 + [3.0] * 3 + [1.0] * 12   # hours 09-11 three times the base


def test_diurnal_plan_becomes_cron_scaling_that_replays_the_plan():
    s = scenario([workload("chat", 80, profile={"hourly": PEAK})],
                 [offer("l40s-od", "l40s", 1.0), offer("l40s-spot", "l40s", 0.6, market="spot",
                                                       interruption_rate_per_hour=0.0)],
                 [override("chat", "l40s", 100)])
    plan = solve_scenario(s, SolveSettings(solver="highs", baselines=False))
    groups = replica_groups(plan, s.scenario)
    files = export_plan(plan, s.scenario, "kubernetes")
    for g in groups:
        docs = list(yaml.safe_load_all(files[f"{g.name}.yaml"]))
        so = next((d for d in docs if d["kind"] == "ScaledObject"), None)
        if len(set(g.replicas_by_period)) == 1:
            assert so is None
            continue
        hours = [so["spec"]["minReplicaCount"]] * 24
        for t in so["spec"]["triggers"]:
            start, end = int(t["metadata"]["start"].split()[1]), int(t["metadata"]["end"].split()[1])
            for h in range(start, end if end > start else 24):
                hours[h] = max(hours[h], int(t["metadata"]["desiredReplicas"]))
        assert tuple(hours) == g.replicas_by_period
    per_hour = [sum(r.count for r in p.replicas) for p in plan.periods]
    assert per_hour[10] > per_hour[0]   # the peak needs more replicas
    sky = export_plan(plan, s.scenario, "skypilot")
    pol = [yaml.safe_load(t)["service"].get("replica_policy") for n, t in sky.items() if n.endswith(".yaml")]
    assert any(p and p["max_replicas"] > p["min_replicas"] for p in pol)


def test_cron_triggers_by_hand():
    counts = tuple([1] * 9 + [3] * 3 + [1] * 12)
    assert k8s.cron_triggers(counts) == [{"type": "cron", "metadata": {
        "timezone": "Etc/UTC", "start": "0 9 * * *", "end": "0 12 * * *", "desiredReplicas": "3"}}]
    week = tuple([2] * 24 + [1] * 144)   # Monday all day
    (t,) = k8s.cron_triggers(week)
    assert (t["metadata"]["start"], t["metadata"]["end"]) == ("0 0 * * 1", "0 0 * * 2")


def test_the_check_catches_a_file_that_disagrees(chatbot):
    _, plan = chatbot
    loaded = load_scenario(CHATBOT)
    groups = replica_groups(plan, loaded.scenario)
    files = export_plan(plan, loaded.scenario, "kubernetes")
    g = groups[0]
    tampered = dict(files)
    tampered[f"{g.name}.yaml"] = files[f"{g.name}.yaml"].replace(f"replicas: {g.replicas}", f"replicas: {g.replicas + 1}")
    assert any("Deployment says replicas" in p for p in check_files(tampered, groups, "kubernetes"))
    bad = yaml.safe_load(files[f"service-{k8s.dns_name(g.workload)}.yaml"])
    bad["spec"]["portz"] = []
    assert _schema(bad, "x") and "schema" in _schema(bad, "x")[0]


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_an_attention_dp_replica_is_exported_as_one_and_apart_from_a_tp_one(chatbot, engine):
    # the same workload, offer, precision and 8 GPUs twice: tensor-parallel 8, and 8 attention-DP ranks with the
    # experts over all 8 GPUs. They are two deployments (before, one TP-8 group with both counts), and the DP one
    # starts the engine with its DP/EP flags; TensorRT-LLM's with the options file its capacity assumed.
    _, plan = chatbot
    loaded = load_scenario(CHATBOT)
    r = plan.replicas[0]
    tp_line = r.model_copy(update={"tp": 8, "count": 2})
    dp_line = r.model_copy(update={"tp": 8, "count": 3, "attention_dp": 8, "expert_parallel": 8})
    two = plan.model_copy(update={"replicas": [tp_line, dp_line], "periods": []})
    wls = [w.model_copy(update={"engine": engine}) for w in loaded.scenario.workloads]
    s = loaded.scenario.model_copy(update={"workloads": wls})
    groups = replica_groups(two, s)
    assert [(g.replicas, g.attention_dp, g.expert_parallel) for g in groups] == [(2, 1, 1), (3, 8, 8)]
    assert groups[0].name != groups[1].name and groups[1].name.endswith("-dp8-ep8")
    files = export_plan(two, s, "kubernetes")
    dep = {g.name: next(d for d in yaml.safe_load_all(files[f"{g.name}.yaml"]) if d["kind"] == "Deployment")
           for g in groups}
    c_tp, c_dp = (dep[g.name]["spec"]["template"]["spec"]["containers"][0] for g in groups)
    line = " ".join(c_dp["command"] + c_dp["args"])
    assert c_tp["resources"]["limits"] == c_dp["resources"]["limits"] == {"nvidia.com/gpu": 8}
    if engine == "vllm":
        assert "--tensor-parallel-size 1 " in line and "--data-parallel-size 8" in line
        assert "--enable-expert-parallel" in line and "--data-parallel-size" not in " ".join(c_tp["args"])
    elif engine == "sglang":
        assert "--tp 8 " in line and "--dp 8 --enable-dp-attention" in line and "--ep-size 8" in line
    else:
        assert c_dp["command"] == ["sh", "-c"] and "--ep_size 8" in line and "--extra_llm_api_options" in line
        written = c_dp["args"][0].split("printf '")[1].split("' >")[0].replace("\\n", "\n")
        assert yaml.safe_load(written) == {"enable_attention_dp": True, "attention_dp_config": {
            "enable_balance": True, "timeout_iters": 60, "batching_wait_iters": 0}}
        assert c_tp["command"] == ["trtllm-serve"] and "--extra_llm_api_options" not in c_tp["args"]
    sky = yaml.safe_load(export_plan(two, s, "skypilot")[f"{groups[1].name}.yaml"])
    assert sky["resources"]["accelerators"].endswith(":8") and sky["service"]["replicas"] == 3
