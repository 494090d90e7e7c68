"""Kubernetes manifests: a Deployment per replica group, a Service per workload, KEDA cron scaling for diurnal plans.

Deployment ``<group>``: ``replicas`` = the plan's count (the largest over the periods), one container running the
engine (``command`` + ``args``), GPU requests/limits ``nvidia.com/gpu: TP`` or, for a MIG replica, one
``nvidia.com/mig-<profile>`` (the GPU Operator's *mixed* strategy names, e.g. ``nvidia.com/mig-1g.10gb``), a
``/dev/shm`` memory volume for TP > 1 (NCCL), a readiness probe on ``/health`` and a ``nodeSelector`` with
``fleetplan.io/offer: <offer id>`` (label each node pool with the offer it is bought from: that is what keeps spot
replicas on spot nodes) and, where known, ``nvidia.com/gpu.product`` (GPU Feature Discovery).
Service ``<workload>``: selects every group of the workload (traffic splits by replica count).
ScaledObject ``<group>`` (``keda.sh/v1alpha1``), only when the count changes over the periods: one ``cron``
trigger per run of equal hours above the minimum (KEDA scales to the largest active trigger and to
``minReplicaCount`` outside them); times in UTC; a weekly profile uses the day-of-week field (Monday = 1).
"""

from __future__ import annotations

import yaml

from planner.export.engines import GPU_PRODUCT_LABELS, PORT, engine_command
from planner.export.groups import ReplicaGroup, dns_name

MANAGED = {"app.kubernetes.io/managed-by": "fleetplan"}


def _labels(g: ReplicaGroup) -> dict[str, str]:
    return {**MANAGED, "app.kubernetes.io/name": dns_name(g.workload), "fleetplan.io/deployment": g.name,
            "fleetplan.io/offer": dns_name(g.offer), "fleetplan.io/market": g.market.replace("_", "-")}


def gpu_resource(g: ReplicaGroup) -> tuple[str, int]:
    """Extended resource name and count a replica requests."""
    if g.mig_profile:
        return f"nvidia.com/mig-{g.mig_profile}", 1
    return "nvidia.com/gpu", g.tp


def deployment(g: ReplicaGroup, image: str, namespace: str | None = None) -> dict:
    """The Deployment object of one group."""
    argv, _ = engine_command(g)
    res_name, n = gpu_resource(g)
    selector = {"fleetplan.io/offer": dns_name(g.offer)}
    if g.gpu in GPU_PRODUCT_LABELS and not g.mig_profile:
        selector["nvidia.com/gpu.product"] = GPU_PRODUCT_LABELS[g.gpu]
    head = {"python3": 3, "sh": 2}.get(argv[0], 1)   # the interpreter and its flag are the command
    container = {"name": "engine", "image": image, "command": argv[:head], "args": argv[head:],
                 "ports": [{"name": "http", "containerPort": PORT}],
                 "resources": {"requests": {res_name: n}, "limits": {res_name: n}},
                 "readinessProbe": {"httpGet": {"path": "/health", "port": PORT}, "periodSeconds": 10,
                                    "failureThreshold": 60}}
    pod = {"nodeSelector": selector, "containers": [container]}
    if g.tp > 1:
        container["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
        pod["volumes"] = [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
    meta = {"name": g.name, "labels": _labels(g),
            "annotations": {"fleetplan.io/gpu": g.gpu, "fleetplan.io/precision": g.precision,
                            "fleetplan.io/tp": str(g.tp),
                            "fleetplan.io/capacity-requests-per-min": f"{g.capacity_requests_per_min:.3f}"}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": g.replicas, "selector": {"matchLabels": {"fleetplan.io/deployment": g.name}},
                     "template": {"metadata": {"labels": _labels(g)}, "spec": pod}}}


def service(workload: str, namespace: str | None = None) -> dict:
    """The Service in front of every group of one workload."""
    meta = {"name": dns_name(workload), "labels": {**MANAGED, "app.kubernetes.io/name": dns_name(workload)}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"selector": {"app.kubernetes.io/name": dns_name(workload)},
                     "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]}}


def cron_triggers(counts: tuple[int, ...]) -> list[dict]:
    """KEDA cron triggers for hourly counts (24 = daily, 168 = weekly from Monday 00:00); runs of equal counts above
    the minimum become one trigger each (a run that wraps past midnight is split at the end of the cycle)."""
    lo = min(counts)
    out = []
    h = 0
    while h < len(counts):
        c, start = counts[h], h
        while h < len(counts) and counts[h] == c:
            h += 1
        if c > lo:
            out.append({"type": "cron", "metadata": {"timezone": "Etc/UTC", "start": _cron(start, len(counts)),
                                                     "end": _cron(h % len(counts), len(counts)),
                                                     "desiredReplicas": str(c)}})
    return out


def _cron(hour: int, cycle: int) -> str:
    if cycle == 168:
        dow = (hour // 24 + 1) % 7          # Monday = 1 ... Sunday = 0
        return f"0 {hour % 24} * * {dow}"
    return f"0 {hour % 24} * * *"


def scaled_object(g: ReplicaGroup, namespace: str | None = None) -> dict | None:
    """The KEDA ScaledObject of a group whose count changes hour by hour (24 or 168 periods); None otherwise."""
    counts = g.replicas_by_period
    if len(set(counts)) == 1 or len(counts) not in (24, 168):
        return None
    meta = {"name": g.name, "labels": _labels(g)}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": meta,
            "spec": {"scaleTargetRef": {"name": g.name}, "minReplicaCount": min(counts),
                     "maxReplicaCount": max(counts), "triggers": cron_triggers(counts)}}


def group_yaml(g: ReplicaGroup, image: str, source: str, namespace: str | None = None) -> str:
    """Deployment (and ScaledObject) of one group as a multi-document YAML."""
    _, notes = engine_command(g)
    docs = [deployment(g, image, namespace)]
    so = scaled_object(g, namespace)
    if so is not None:
        docs.append(so)
    head = [f"# {source}: workload {g.workload} on offer {g.offer} ({g.gpu}, {g.market}), {g.precision}, TP {g.tp}"
            + (f", MIG {g.mig_profile}" if g.mig_profile else "")]
    if len(g.replicas_by_period) > 1:
        head.append(f"# replicas per period: {', '.join(map(str, g.replicas_by_period))}")
    head += [f"# note: {n}" for n in notes]
    return "\n".join(head) + "\n" + yaml.safe_dump_all(docs, sort_keys=False, width=120)
