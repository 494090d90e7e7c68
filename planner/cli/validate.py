"""``plan validate``: check a scenario file and show what it resolves to.

Parse -> ``planner.scenario.io.load_scenario`` -> render. Every problem in the file is reported, one line
each (``FILE: field.path: what was wrong``), with exit code 2; a valid file prints a short summary.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich import box
from planner.cli.common import SafeConsole as Console  # escapes control characters from inputs
from rich.table import Table
from rich.text import Text

from planner.cli.common import guard, out_console
from planner.errors import InputError, ScenarioError
from planner.scenario.io import LoadedScenario, load_scenario
from reports.fit import Fit, whole


class ValidateFormat(str, Enum):
    table = "table"
    json = "json"


_HELP = (
    "Check a scenario file: types, ranges, cross-field rules and every catalog id.\n\n"
    "Prints what each workload, offer and model resolves to, or every problem found, one per line as "
    "FILE: field.path: what was wrong. Exit code 0 when valid, 2 when not."
)

# Typer's rich help joins single newlines; paragraphs (blank lines) become line breaks.
_EPILOG = """Examples:

  plan validate scenarios/chatbot.yaml

  plan validate scenarios/chatbot.yaml --format json

  plan validate my-fleet.yaml || echo "fix the lines above"
"""


# --------------------------------------------------------------------------- summary data


def _sizes(w) -> list[dict[str, Any]]:
    return [{"prompt_tokens": b.prompt_tokens, "output_tokens": b.output_tokens, "share": b.share}
            for b in w.buckets]


def summarize(loaded: LoadedScenario) -> dict[str, Any]:
    """The resolved scenario as plain data (what the table and the JSON both show)."""
    s, cat = loaded.scenario, loaded.catalog
    scenario_models = {m.id for m in s.models}
    workloads, used_by = [], {}
    for w in s.workloads:
        model = cat.model(w.model)
        used_by.setdefault(model.id, []).append(w.id)
        workloads.append({
            "id": w.id, "model": model.id, "model_as_written": w.model,
            "requests_per_min": w.requests_per_min, "sizes": _sizes(w), "context_tokens": w.context_tokens,
            "ttft_slo_ms": w.ttft_slo_ms, "ttft_percentile": w.ttft_percentile, "tpot_slo_ms": w.tpot_slo_ms,
            "precisions": list(w.precisions), "kv_cache_dtype": w.kv_cache_dtype, "engine": w.engine,
            "min_replicas": w.min_replicas,
            "demand_shape": "profile" if w.profile else "periods" if w.periods else "flat",
        })
    offers = []
    for o in s.offers:
        gpu = cat.gpu(o.gpu)
        node_price = o.price_usd_per_node_hour_effective
        offers.append({
            "id": o.id, "gpu": gpu.id, "gpu_as_written": o.gpu, "market": o.market,
            "gpus_per_node": o.gpus_per_node, "price_usd_per_node_hour": node_price,
            "price_usd_per_gpu_hour": node_price / o.gpus_per_node, "max_nodes": o.max_nodes,
            "owned_nodes": o.owned_nodes, "region": o.region, "mig": o.mig,
            "interruption_rate_per_hour": o.interruption_rate_per_hour,
            "recovery_minutes": o.recovery_minutes_effective if o.market == "spot" else None,
            "pool": o.pool_effective if o.market == "spot" else None,
            "term_months": o.term_months, "source": o.source, "as_of": o.as_of,
        })
    for entry in s.models:  # models the scenario adds are listed even when no workload uses them (yet)
        used_by.setdefault(cat.model(entry.id).id, [])
    models = []
    for mid, wids in used_by.items():
        m = cat.model(mid)
        models.append({
            "id": m.id, "name": m.name, "origin": "scenario" if m.id in scenario_models else "catalog",
            "total_params_b": m.published_total_params_b, "active_params_b": m.published_active_params_b,
            "moe": m.is_moe, "max_context": m.max_context, "used_by": wids,
        })
    p = s.policy
    return {
        "file": str(loaded.path), "valid": True, "name": s.name,
        "policy": {"target_utilization": p.target_utilization, "solver": p.solver, "time_limit_s": p.time_limit_s,
                   "mip_gap": p.mip_gap, "budget_usd_per_hour": p.budget_usd_per_hour},
        "workloads": workloads, "offers": offers, "models": models,
        "capacity_overrides": len(s.capacity_overrides), "forecast": s.forecast is not None,
    }


# --------------------------------------------------------------------------- rendering


def _num(x: float | None, fmt: str = "g") -> str:
    return "-" if x is None else format(x, fmt)


def _usd(x: float) -> str:
    """Cents, unless the file gave finer prices (AWS's $0.8048/h stays as written)."""
    return f"{x:.2f}" if round(x, 2) == round(x, 6) else f"{x:.4g}"


def _size_text(sizes: list[dict[str, Any]]) -> str:
    if len(sizes) == 1:
        return f"{sizes[0]['prompt_tokens']}/{sizes[0]['output_tokens']}"
    return "\n".join(f"{b['prompt_tokens']}/{b['output_tokens']} ×{b['share']:g}" for b in sizes)


def _layout(title: str, columns: list[tuple[str, str, bool]], rows: list[list[str]], keep: list[int],
            caption: str | None = None) -> Table:
    """One layout of a table: the columns ``keep`` of (header, justify, whole) and of every row. A whole cell (an
    id, a number) is never cut or wrapped (``reports.fit``); prose wraps at spaces."""
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, caption=caption,
              caption_justify="left")
    for i in keep:
        header, just, _ = columns[i]
        t.add_column(header, justify=just)  # type: ignore[arg-type]
    for row in rows:
        # Text, not markup: ids such as "chat[beta]" must print as written.
        t.add_row(*(whole(Text(row[i])) if columns[i][2] else Text(row[i]) for i in keep))
    return t


def _fit(title: str, columns: list[tuple[str, str, bool]], rows: list[list[str]],
         layouts: list[tuple[list[int], str | None]]) -> Fit:
    """The table in each layout (columns to keep, a caption saying what moved or was left out), widest first."""
    return Fit([_layout(title, columns, rows, keep, note) for keep, note in layouts])


def _render_table(summary: dict[str, Any]) -> None:
    # In a terminal the tables fit its width (ids and numbers whole); piped output is not wrapped at 80 columns.
    c = out_console if out_console.is_terminal else Console(highlight=False, width=200)
    n_w, n_o, n_m = len(summary["workloads"]), len(summary["offers"]), len(summary["models"])
    c.print(f"{summary['file']}: valid: scenario '{summary['name']}' with {n_w} workload{'s' * (n_w != 1)}, "
            f"{n_o} offer{'s' * (n_o != 1)}, {n_m} model{'s' * (n_m != 1)}", markup=False)
    p = summary["policy"]
    budget = "none" if p["budget_usd_per_hour"] is None else f"${p['budget_usd_per_hour']:g}/h"
    c.print(f"policy: target utilization {p['target_utilization']:g}, solver {p['solver']}, "
            f"time limit {p['time_limit_s']:g} s, MIP gap {p['mip_gap']:g}, budget {budget}", markup=False)

    cols = [("workload", "left", True), ("model", "left", True), ("req/min", "right", True),
            ("prompt/output\ntokens", "left", True), ("context", "right", True), ("TTFT SLO", "right", True),
            ("TPOT SLO", "right", True), ("precisions", "left", False), ("workload\nmodel", "left", True),
            ("TTFT SLO\nTPOT SLO", "right", True)]
    rows = []
    for w in summary["workloads"]:
        shape = "" if w["demand_shape"] == "flat" else f" ({w['demand_shape']})"
        ttft = f"p{w['ttft_percentile']:g} ≤ {w['ttft_slo_ms']:g} ms"
        tpot = "-" if w["tpot_slo_ms"] is None else f"≤ {w['tpot_slo_ms']:g} ms"
        rows.append([w["id"], w["model"], f"{w['requests_per_min']:g}{shape}", _size_text(w["sizes"]),
                     _num(w["context_tokens"], "d") if w["context_tokens"] else "p+o", ttft, tpot,
                     ", ".join(w["precisions"]), f"{w['id']}\n{w['model']}", f"{ttft}\n{tpot}"])
    c.print(_fit("Workloads", cols, rows, [([0, 1, 2, 3, 4, 5, 6, 7], None), ([8, 2, 3, 4, 9, 7], None),
                                           ([8, 2, 3, 9, 7], "not shown at this width: context (--format json)")]))

    cols = [("offer", "left", True), ("GPU", "left", True), ("market", "left", True), ("GPUs/node", "right", True),
            ("$/node-h", "right", True), ("$/GPU-h", "right", True), ("max nodes", "right", True),
            ("notes", "left", False), ("GPU\nmarket", "left", True), ("GPUs\n/node", "right", True),
            ("max\nnodes", "right", True)]
    rows = []
    for o in summary["offers"]:
        notes = []
        if o["market"] == "spot":
            notes.append(f"pool {o['pool']}, {o['interruption_rate_per_hour']:g}/node-h reclaims, "
                         f"{o['recovery_minutes']:g} min to recover")
        if o["market"] == "reserved":
            notes.append(f"{o['term_months'] or '?'}-month term" + (f", {o['owned_nodes']} owned" if o["owned_nodes"] else ""))
        if o["mig"]:
            notes.append("MIG")
        nodes = "∞" if o["max_nodes"] is None else str(o["max_nodes"])
        rows.append([o["id"], o["gpu"], o["market"], str(o["gpus_per_node"]), _usd(o["price_usd_per_node_hour"]),
                     _usd(o["price_usd_per_gpu_hour"]), nodes, "; ".join(notes), f"{o['gpu']}\n{o['market']}",
                     str(o["gpus_per_node"]), nodes])
    below = "\n".join(f"{r[0]}: {r[7]}" for r in rows if r[7])
    below = f"notes:\n{below}" if below else None
    c.print(_fit("Offers", cols, rows, [
        ([0, 1, 2, 3, 4, 5, 6, 7], None), ([0, 8, 9, 4, 5, 10, 7], None), ([0, 8, 9, 4, 5, 10], below),
        ([0, 8, 9, 5, 10], "\n".join(x for x in (below, "not shown at this width: $/node-h (--format json)") if x))]))

    cols = [("model", "left", True), ("name", "left", True), ("params (B)", "right", True), ("from", "left", True),
            ("used by", "left", False)]
    rows = []
    for m in summary["models"]:
        params = f"{m['total_params_b']:g}" + (f" ({m['active_params_b']:g} active)" if m["moe"] else "")
        rows.append([m["id"], m["name"], params, m["origin"], ", ".join(m["used_by"]) or "-"])
    c.print(_fit("Models", cols, rows, [([0, 1, 2, 3, 4], None),
                                        ([0, 2, 3, 4], "not shown at this width: name (--format json)"),
                                        ([0, 2, 4], "not shown at this width: name, from (--format json)")]))


def _print_json(data: dict[str, Any]) -> None:
    # Plain print: rich would re-wrap or colour the JSON.
    typer.echo(json.dumps(data, indent=2))


# --------------------------------------------------------------------------- command


def register(app: typer.Typer) -> None:
    @app.command("validate", help=_HELP, epilog=_EPILOG)
    @guard
    def validate(
        scenario: Path = typer.Argument(..., metavar="SCENARIO.yaml", help="The scenario file to check.",
                                        show_default=False),
        fmt: ValidateFormat = typer.Option(ValidateFormat.table, "--format", "-f",
                                           help="table: rich summary; json: machine-readable (errors too)."),
    ) -> None:
        if fmt is ValidateFormat.json:
            try:
                loaded = load_scenario(scenario)
            except ScenarioError as exc:
                _print_json({"file": str(scenario), "valid": False,
                             "errors": [{"path": i.path, "message": i.message} for i in exc.issues]})
                raise typer.Exit(exc.exit_code) from None
            except InputError as exc:
                _print_json({"file": str(scenario), "valid": False, "errors": [{"path": "", "message": str(exc)}]})
                raise typer.Exit(exc.exit_code) from None
            _print_json(summarize(loaded))
            return
        _render_table(summarize(load_scenario(scenario)))
