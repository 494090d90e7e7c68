"""Export a plan: build the files in memory, parse every one back and check it against the plan before returning.

``export_plan`` returns ``{relative path: text}``; nothing is written until every check passed. Checks after
parsing back: per group the replicas (the largest count; for a schedule also every period's count), the GPUs per
replica (TP, or one MIG slice of the right profile) and the spot flag / market label equal the plan's. Kubernetes
objects of the built-in kinds are validated against the published OpenAPI schemas bundled by
``kubernetes-validate`` (offline); the KEDA ScaledObject, a custom resource without a bundled schema, is checked
field by field (``scaleTargetRef.name``, ``min/maxReplicaCount``, cron triggers of five fields, ``desiredReplicas``
as a string of an integer).
"""

from __future__ import annotations

import csv
import io
import re

import yaml

from planner.catalog import Catalog
from planner.errors import InputError
from planner.export import kubernetes as k8s
from planner.export import skypilot
from planner.export.engines import images
from planner.export.groups import ReplicaGroup, replica_groups, schedule_rows
from planner.plan import Plan
from planner.scenario.model import Scenario

TARGETS = ("skypilot", "kubernetes")
K8S_VERSION = "1.30"


class ExportCheckError(InputError):
    """What was written does not say what the plan says (a bug in the exporter; exit 1)."""

    exit_code = 1


def _schedule_csv(plan: Plan, groups: list[ReplicaGroup]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["period", "hours", "deployment", "workload", "offer", "replicas"])
    w.writeheader()
    w.writerows(schedule_rows(plan, groups))
    return buf.getvalue()


def export_plan(plan: Plan, scenario: Scenario, target: str, *, image_overrides: dict[str, str] | None = None,
                namespace: str | None = None, source: str = "plan export",
                catalog: Catalog | None = None) -> dict[str, str]:
    """Files for ``target`` ('skypilot' or 'kubernetes'), checked against the plan (see the module docstring)."""
    if target not in TARGETS:
        raise InputError(f"--to: {target!r} is not a target; allowed {', '.join(TARGETS)}")
    if plan.status not in ("optimal", "feasible"):
        raise InputError(f"plan: status {plan.status}: only a solved plan can be exported")
    groups = replica_groups(plan, scenario, catalog)
    if not groups:
        raise InputError("plan: no replicas to deploy")
    files: dict[str, str] = {}
    if target == "skypilot":
        for g in groups:
            files[f"{g.name}.yaml"] = skypilot.service_yaml(g, source)
    else:
        img = images(image_overrides)
        for g in groups:
            files[f"{g.name}.yaml"] = k8s.group_yaml(g, img[g.engine], source, namespace)
        for wid in sorted({g.workload for g in groups}):
            files[f"service-{k8s.dns_name(wid)}.yaml"] = yaml.safe_dump(k8s.service(wid, namespace), sort_keys=False)
    files["schedule.csv"] = _schedule_csv(plan, groups)
    problems = check_files(files, groups, target)
    if problems:
        raise ExportCheckError("export: what was written does not match the plan: " + "; ".join(problems[:5]))
    return files


def _check_scaled_object(d: dict, g: ReplicaGroup) -> list[str]:
    bad = []
    spec = d.get("spec") or {}
    if (spec.get("scaleTargetRef") or {}).get("name") != g.name:
        bad.append(f"{g.name}: ScaledObject targets {spec.get('scaleTargetRef')}")
    if spec.get("minReplicaCount") != min(g.replicas_by_period) or spec.get("maxReplicaCount") != g.replicas:
        bad.append(f"{g.name}: ScaledObject min/max {spec.get('minReplicaCount')}/{spec.get('maxReplicaCount')}")
    for t in spec.get("triggers") or []:
        m = t.get("metadata") or {}
        if t.get("type") != "cron" or not all(len(str(m.get(k, "")).split()) == 5 for k in ("start", "end")) \
                or not re.fullmatch(r"\d+", str(m.get("desiredReplicas", ""))) or not m.get("timezone"):
            bad.append(f"{g.name}: malformed cron trigger {t}")
    # replaying the triggers must give the plan's count in every hour
    cycle = len(g.replicas_by_period)
    got = [spec.get("minReplicaCount")] * cycle
    for t in spec.get("triggers") or []:
        m = t["metadata"]
        start, end = (_hour(m["start"], cycle), _hour(m["end"], cycle))
        h = start
        while True:
            got[h] = max(got[h], int(m["desiredReplicas"]))
            h = (h + 1) % cycle
            if h == end:
                break
    if tuple(got) != g.replicas_by_period:
        bad.append(f"{g.name}: cron triggers give {got} not the plan's {list(g.replicas_by_period)}")
    return bad


def _hour(cron: str, cycle: int) -> int:
    minute, hour, _, _, dow = cron.split()
    return int(hour) if cycle == 24 else ((int(dow) - 1) % 7) * 24 + int(hour)


def check_files(files: dict[str, str], groups: list[ReplicaGroup], target: str) -> list[str]:
    """Parse every file back; list every disagreement with the groups (empty = all agree)."""
    bad: list[str] = []
    for g in groups:
        text = files.get(f"{g.name}.yaml")
        if text is None:
            bad.append(f"{g.name}: no file")
            continue
        if target == "skypilot":
            r = skypilot.read_service(text)
            if (r["replicas"], r["min_replicas"], r["gpus_per_replica"], r["use_spot"]) != \
                    (g.replicas, min(g.replicas_by_period), g.tp, g.market == "spot"):
                bad.append(f"{g.name}: reads back as {r}")
            continue
        docs = [d for d in yaml.safe_load_all(text) if d]
        dep = next((d for d in docs if d.get("kind") == "Deployment"), None)
        if dep is None:
            bad.append(f"{g.name}: no Deployment")
            continue
        bad += _schema(dep, g.name)
        res = dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        name, n = k8s.gpu_resource(g)
        labels = dep["spec"]["template"]["metadata"]["labels"]
        if dep["spec"]["replicas"] != g.replicas or res != {name: n} or \
                labels.get("fleetplan.io/market") != g.market.replace("_", "-"):
            bad.append(f"{g.name}: Deployment says replicas {dep['spec']['replicas']}, {res}, "
                       f"market {labels.get('fleetplan.io/market')}")
        so = next((d for d in docs if d.get("kind") == "ScaledObject"), None)
        if (so is None) != (len(set(g.replicas_by_period)) == 1):
            bad.append(f"{g.name}: ScaledObject {'missing' if so is None else 'unexpected'}")
        elif so is not None:
            bad += _check_scaled_object(so, g)
    if target == "kubernetes":
        for path, text in files.items():
            if path.startswith("service-"):
                bad += _schema(yaml.safe_load(text), path)
    rows = list(csv.DictReader(io.StringIO(files["schedule.csv"])))
    by = {}
    for r in rows:
        by.setdefault(r["deployment"], []).append(int(r["replicas"]))
    for g in groups:
        if tuple(by.get(g.name, ())) != g.replicas_by_period:
            bad.append(f"schedule.csv: {g.name} reads {by.get(g.name)}")
    return bad


def _schema(obj: dict, where: str) -> list[str]:
    try:
        import kubernetes_validate  # noqa: PLC0415
    except ImportError:  # pragma: no cover - a dependency; the field checks above still ran
        return []
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{where}: {obj.get('kind')} fails the Kubernetes {K8S_VERSION} schema: {str(exc).splitlines()[0]}"]
    except Exception as exc:  # noqa: BLE001 - the validator's own errors (missing schema) must not pass silently
        return [f"{where}: could not validate against the Kubernetes schema ({type(exc).__name__}: {exc})"]
    return []
