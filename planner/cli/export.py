"""``plan export``: a plan -> SkyServe service YAMLs or Kubernetes manifests (and the hourly schedule), checked."""

from __future__ import annotations

import inspect
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from planner.cli.common import err_console, guard
from planner.cli.simulate import read_plan
from planner.cli.solve import write_text


class Target(str, Enum):
    skypilot = "skypilot"
    kubernetes = "kubernetes"


EXAMPLES = """
Examples:

  plan solve scenarios/chatbot.yaml --format json --out plan.json

  plan export plan.json --scenario scenarios/chatbot.yaml --to kubernetes deploy/k8s

  plan export plan.json --scenario scenarios/chatbot.yaml --to skypilot deploy/sky
  (then: for f in deploy/sky/*.yaml; do sky serve up "$f"; done)
"""


def export_command(
    plan_path: Path = typer.Argument(..., metavar="PLAN.json", help="A plan from plan solve --format json."),
    out_dir: Path = typer.Argument(..., metavar="DIR", help="Directory to write the files into."),
    scenario: Path = typer.Option(..., "--scenario", help="The scenario the plan was solved for."),
    to: Target = typer.Option(..., "--to", help="skypilot (SkyServe service YAMLs) or kubernetes (manifests)."),
    image: Optional[List[str]] = typer.Option(None, "--image", help="ENGINE=IMAGE container image (repeatable)."),
    namespace: Optional[str] = typer.Option(None, "--namespace", help="Kubernetes namespace for every object."),
) -> None:
    """Write a plan as SkyServe service YAMLs or Kubernetes manifests, checked against the plan.

    One deployment per replica group of the plan (workload x offer x precision x TP x MIG profile): a
    SkyServe service YAML (accelerators, use_spot, replicas, the engine command with TP and precision) or a
    Kubernetes Deployment (engine container args, GPU or MIG resource requests, node selectors) with a Service per
    workload; for a diurnal plan the hourly schedule as KEDA cron ScaledObjects (kubernetes) or a replica policy
    (skypilot), and always schedule.csv. Every file is parsed back and checked against the plan before writing;
    Kubernetes objects are validated against the published schemas."""
    from planner.errors import InputError  # noqa: PLC0415
    from planner.export.run import export_plan  # noqa: PLC0415
    from planner.scenario.io import load_scenario  # noqa: PLC0415

    overrides = {}
    for item in image or []:
        eng, sep, img = item.partition("=")
        if not sep or not img:
            raise InputError(f"--image: expected ENGINE=IMAGE (got {item!r})")
        overrides[eng] = img
    plan = read_plan(plan_path)
    loaded = load_scenario(scenario)
    files = export_plan(plan, loaded.scenario, to.value, image_overrides=overrides, namespace=namespace,
                        source=f"plan export {plan_path.name} --scenario {scenario.name}", catalog=loaded.catalog)
    for rel, text in sorted(files.items()):
        write_text(out_dir / rel, text)
    err_console.print(f"wrote {len(files)} files to {out_dir} ({to.value}); parsed back and checked against the plan",
                      markup=False)


def register(app: typer.Typer) -> None:
    app.command("export", help=inspect.cleandoc(export_command.__doc__ or "") + "\n" + EXAMPLES)(guard(export_command))
