"""SkyServe service YAMLs, one per replica group (``sky serve up FILE``).

Each file: ``service`` (a fixed ``replicas`` count; for a diurnal plan a ``replica_policy`` from the fewest to the
most replicas over the day with ``target_qps_per_replica`` = capacity × target utilisation / 60, so SkyServe's
QPS autoscaler follows the load the plan sized for), ``resources`` (``accelerators`` GPU:TP, ``use_spot`` for spot
offers, the port) and ``run`` (the engine command). SkyServe cannot place MIG slices: a plan that uses them is
refused for this target (export it to Kubernetes).
"""

from __future__ import annotations

import shlex

import yaml

from planner.errors import InputError
from planner.export.engines import PORT, SKY_ACCELERATORS, engine_command
from planner.export.groups import ReplicaGroup


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the run script) as literal blocks."""


_Dumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s,
                                                             style="|" if "\n" in s else None))


def service_yaml(g: ReplicaGroup, source: str) -> str:
    """The SkyServe YAML text of one group."""
    if g.mig_profile:
        raise InputError(f"export --to skypilot: {g.name} runs on MIG slice {g.mig_profile}, which SkyPilot cannot "
                         "request; use --to kubernetes for plans with MIG")
    acc = SKY_ACCELERATORS.get(g.gpu)
    if acc is None:
        raise InputError(f"export --to skypilot: GPU {g.gpu!r} has no SkyPilot accelerator name here; known: "
                         f"{', '.join(sorted(SKY_ACCELERATORS))}")
    argv, notes = engine_command(g)
    counts = g.replicas_by_period
    if len(set(counts)) == 1:
        service = {"readiness_probe": "/health", "replicas": g.replicas}
    else:
        qps = g.capacity_requests_per_min * g.target_utilization / 60.0
        service = {"readiness_probe": "/health",
                   "replica_policy": {"min_replicas": min(counts), "max_replicas": max(counts),
                                      "target_qps_per_replica": round(qps, 4)}}
    doc = {"name": g.name, "service": service,
           "resources": {"accelerators": f"{acc}:{g.tp}", "use_spot": g.market == "spot", "ports": PORT},
           "run": shlex.join(argv) + "\n"}
    head = [f"# {source}: workload {g.workload} on offer {g.offer} ({g.gpu}, {g.market}), {g.precision}, TP {g.tp}",
            f"# replicas per period: {', '.join(map(str, counts))}" if len(counts) > 1 else
            f"# {g.replicas} replica(s) of {g.tp} GPU(s); plan capacity {g.capacity_requests_per_min:.1f} req/min each"]
    if g.market == "reserved":
        head.append("# reserved offer: point this service at your reservation (SkyPilot config / infra)")
    if g.region:
        head.append(f"# offer region: {g.region}")
    head += [f"# note: {n}" for n in notes]
    return "\n".join(head) + "\n" + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=120)


def read_service(text: str) -> dict:
    """What a SkyServe YAML says: replicas (most), GPUs per replica, GPU name, use_spot."""
    d = yaml.safe_load(text)
    svc, res = d["service"], d["resources"]
    acc, n = str(res["accelerators"]).split(":")
    pol = svc.get("replica_policy")
    return {"name": d["name"], "replicas": svc["replicas"] if pol is None else pol["max_replicas"],
            "min_replicas": svc["replicas"] if pol is None else pol["min_replicas"],
            "gpus_per_replica": int(n), "accelerator": acc, "use_spot": bool(res["use_spot"]), "run": d["run"]}
