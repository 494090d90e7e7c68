"""Terminal rendering with rich: a summary panel, then the tables. Reads the frames of ``reports.tables`` only.

Made for an 80-column terminal: wide frames are shown through a few composed columns ("h100-od fp8 TP2"),
long text wraps inside its cell, and rich never draws past ``console.width``. Colour only carries meaning:
SLO met (green) / missed (red), the chosen options (bold green), a status that is not ``optimal``.
Every mark is also a character (✓ ✗ ●), so the output reads the same without colour.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from reports.format import MISS_MARK, MISSING, OK_MARK, cell, is_missing, is_numeric_col, label
from reports.tables import STATE_ORDER, whatif_axes

Frames = Mapping[str, pd.DataFrame]

_STATUS_STYLE = {"optimal": "green", "feasible": "yellow"}
_STATE_STYLE = {"chosen": "bold green", "feasible": "", "dominated": "dim", "dropped": "dim"}
_MAX_OFFER_COLUMNS = 4


def _table(title: str | None = None) -> Table:
    return Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
                 show_edge=False, collapse_padding=True)


def _simple(frame: pd.DataFrame, cols: Sequence[str], title: str) -> Table:
    """A frame's columns as they are, numbers right-aligned."""
    t = _table(title)
    for c in cols:
        t.add_column(label(c), justify="right" if is_numeric_col(frame, c) else "left", overflow="fold")
    for _, row in frame.iterrows():
        t.add_row(*[_mark(row[c]) if frame[c].dtype == bool or c.endswith("_ok") or c == "ok" else cell(c, row[c])
                    for c in cols])
    return t


def _mark(ok) -> Text:
    if is_missing(ok):
        return Text(MISSING, style="dim")
    return Text(OK_MARK, style="green") if ok else Text(MISS_MARK, style="bold red")


def _vs_slo(pred, slo, ok, col: str) -> Text:
    """``410 / 500 ✓``: the prediction against its SLO, marked."""
    text = Text(cell(col, pred))
    text.append(" / " + (cell(col, slo) if not is_missing(slo) else "no SLO"), style="dim")
    text.append(" ")
    text.append_text(_mark(ok))
    return text


def _deployment_name(row) -> str:
    parts = [row["offer"], row["precision"], f"TP{row['tp']}"]
    if not is_missing(row.get("mig_profile")):
        parts.append(row["mig_profile"])
    return " ".join(str(p) for p in parts)


# --------------------------------------------------------------------------- plan


def summary_panel(summary: pd.DataFrame) -> Panel:
    s = summary.iloc[0]
    lines = Text()
    lines.append("Cost     ", style="bold")
    lines.append(f"{cell('usd_per_hour', s['objective_usd_per_hour'])} USD/h", style="bold")
    lines.append(f"  ·  {cell('usd_per_month', s['usd_per_month'])} USD/month "
                 f"({cell('hours', s['hours_per_month'])} h)\n")
    lines.append("Status   ", style="bold")
    lines.append(str(s["status"]), style=_STATUS_STYLE.get(s["status"], "bold red"))
    lines.append(f"  ·  gap {cell('gap_pct', s['gap_pct'])} %  ·  {s['solver']} in "
                 f"{cell('solve_seconds', s['solve_seconds'])} s  ·  verified ")
    lines.append_text(_mark(s["verified"]))
    if s["checks_failed"]:
        lines.append(f" ({s['checks_failed']} checks failed)", style="bold red")
    lines.append("\nFleet    ", style="bold")
    lines.append(f"{cell('gpus', s['gpus'])} GPUs on {cell('nodes', s['nodes'])} nodes  ·  target utilisation "
                 f"{cell('target_utilization_pct', s['target_utilization_pct'])} %")
    if s["periods"] > 1:
        lines.append(f"  ·  peak of {s['periods']} periods (cost is the hour-weighted mean)")
    if s["unmet_requests_per_min"] > 0:
        lines.append(f"\nUnmet    {cell('requests_per_min', s['unmet_requests_per_min'])} req/min",
                     style="bold red")
    lines.append("\nSaving   ", style="bold")
    if is_missing(s["baseline"]):
        lines.append("no baseline to compare with", style="dim")
    else:
        lines.append(f"{cell('usd_per_hour', s['saving_usd_per_hour'])} USD/h "
                     f"({cell('saving_pct', s['saving_pct'])} %) vs {s['baseline']} at "
                     f"{cell('usd_per_hour', s['baseline_usd_per_hour'])} USD/h")
    if not is_missing(s["message"]):
        lines.append(f"\n{s['message']}", style="yellow")
    return Panel(lines, title=f"[bold]{s['scenario']}[/]", title_align="left", box=box.ROUNDED)


def deployments_table(dep: pd.DataFrame) -> Table:
    t = _table("Deployments (predicted vs SLO)")
    t.add_column("Workload", overflow="fold")
    t.add_column("Deployment", overflow="fold")
    t.add_column("Repl", justify="right")
    t.add_column("Util %", justify="right")
    t.add_column("TTFT ms", justify="right")
    t.add_column("TPOT ms", justify="right")
    last = None
    for _, r in dep.iterrows():
        if last is not None and r["workload"] != last:
            t.add_section()
        t.add_row(r["workload"] if r["workload"] != last else "", _deployment_name(r), cell("replicas", r["replicas"]),
                  cell("utilization_pct", r["utilization_pct"]),
                  _vs_slo(r["predicted_ttft_ms"], r["ttft_slo_ms"], r["ttft_ok"], "predicted_ttft_ms"),
                  _vs_slo(r["predicted_tpot_ms"], r["tpot_slo_ms"], r["tpot_ok"], "predicted_tpot_ms"))
        last = r["workload"]
    return t


def options_tables(options: pd.DataFrame, max_per_workload: int = 8) -> list[Table]:
    """One table per workload: chosen (●), then feasible, dominated, dropped, each with its reason.

    All chosen rows are shown; at most ``max_per_workload`` others, then a "… N more" line.
    """
    out = []
    for wl, grp in options.groupby("workload", sort=False):
        t = _table(f"Options for {wl}")
        t.add_column("", width=1)
        t.add_column("Option", overflow="fold", ratio=2)
        t.add_column("req/min", justify="right")
        t.add_column("USD/h", justify="right")
        t.add_column("USD/M req", justify="right")
        t.add_column("State · why", overflow="fold", ratio=3)
        shown = 0
        hidden: dict[str, int] = {}
        prev_state = None
        for _, r in grp.iterrows():
            state = r["state"]
            if state != "chosen" and shown >= max_per_workload:
                hidden[state] = hidden.get(state, 0) + 1
                continue
            if prev_state is not None and state != prev_state:
                t.add_section()
            prev_state = state
            shown += state != "chosen"
            style = _STATE_STYLE.get(state, "")
            why = Text(state, style=style or None)
            if not is_missing(r["reason"]):
                why.append(" · " + " ".join(str(r["reason"]).split()), style="dim" if state != "chosen" else None)
            option = r["gpu"] if is_missing(r["mig_profile"]) else f"{r['gpu']} {r['mig_profile']}"
            t.add_row(Text("●", style="bold green") if state == "chosen" else "",
                      Text(f"{r['offer']} {r['precision']} TP{r['tp']}\n{option}", style=style or None),
                      cell("capacity_requests_per_min", r["capacity_requests_per_min"]
                           if r["capacity_requests_per_min"] > 0 else None),
                      cell("usd_per_hour", r["usd_per_hour_per_replica"]),
                      cell("usd_per_million_requests", r["usd_per_million_requests"]), why)
        if hidden:
            detail = ", ".join(f"{n} {s}" for s, n in sorted(hidden.items(), key=lambda kv: STATE_ORDER.index(kv[0])))
            t.caption = f"… {sum(hidden.values())} more ({detail}), see --format csv"
            t.caption_justify = "left"
        out.append(t)
    return out


def _per_offer_cols(frame: pd.DataFrame, prefix: str) -> list[str]:
    cols = [c for c in frame.columns if c.startswith(prefix)]
    return cols if len(cols) <= _MAX_OFFER_COLUMNS else []


def plan_renderables(frames: Frames, *, max_options_per_workload: int = 8) -> list[RenderableType]:
    """The plan view: summary, fleet, cost by market, deployments vs SLO, workloads, MIG, periods, options,
    baselines, verification."""
    out: list[RenderableType] = [summary_panel(frames["summary"])]
    fleet = frames["fleet"]
    if not fleet.empty:
        out.append(_simple(fleet, ["offer", "gpu", "market", "nodes", "gpus", "owned_nodes",
                                   "price_usd_per_node_hour", "usd_per_hour"], "Fleet"))
    cost = frames["cost"]
    if not cost.empty:
        out.append(_simple(cost, ["market", "usd_per_hour", "usd_per_month", "share_pct", "gpus"], "Cost by market"))
    if not frames["deployments"].empty:
        out.append(deployments_table(frames["deployments"]))
    wl = frames["workloads"]
    if not wl.empty:
        out.append(_simple(wl, ["workload", "demand_requests_per_min", "served_pct", "replicas", "usd_per_hour",
                                "usd_per_million_output_tokens", "slo_ok"], "Workloads"))
    if not frames["mig_partitions"].empty:
        out.append(_simple(frames["mig_partitions"], ["offer", "gpu", "pattern", "gpus"], "MIG partitions"))
    per = frames["periods"]
    if not per.empty:
        offer_cols = _per_offer_cols(per, "gpus_")
        t = _simple(per, ["period", "hours", "usd_per_hour", "gpus", *offer_cols], "Periods")
        if not offer_cols:
            t.caption = "GPUs by offer: see --format csv"
        out.append(t)
    if not frames["options"].empty:
        out.extend(options_tables(frames["options"], max_options_per_workload))
    if not frames["baselines"].empty:
        out.append(_simple(frames["baselines"], ["name", "status", "usd_per_hour", "saving_usd_per_hour",
                                                 "saving_pct", "detail"], "Baselines"))
    if not frames["verification"].empty:
        out.append(_simple(frames["verification"], ["check", "ok", "detail"], "Verification"))
    return out


# --------------------------------------------------------------------------- what-if and forecast


def whatif_renderables(frames: Frames) -> list[RenderableType]:
    w = frames["whatif"]
    cols = whatif_axes(w) + ["status", "objective_usd_per_hour", "change_usd_per_hour", "change_pct",
                             "spot_gpu_share_pct", "simulated_attainment_pct"] + _per_offer_cols(w, "gpus_")
    t = _simple(w, cols, "What-if sweep")
    short = {"Objective USD/h": "USD/h", "Change USD/h": "Δ USD/h", "Change %": "Δ %",
             "Spot GPU share %": "Spot %", "Simulated attainment %": "SLA %"}
    for col, name in zip(t.columns, cols):  # shorter headers: this table is wide
        if name in whatif_axes(w):
            col.header = "Rate /h" if name == "interruption_rate" else name.rsplit(".", 1)[-1]
        else:
            col.header = short.get(str(col.header), col.header)
    return [t]


def forecast_renderables(frames: Frames) -> list[RenderableType]:
    s = frames["forecast_summary"].iloc[0]
    text = Text()
    text.append(f"Total    {cell('usd', s['total_usd'])} USD over {int(s['months'])} months", style="bold")
    text.append(f"  (+ {cell('usd', s['tail_usd'])} USD of commitments after the horizon)\n")
    text.append(f"Saving   {cell('usd', s['saving_vs_all_on_demand_usd'])} USD "
                f"({cell('saving_pct', s['saving_vs_all_on_demand_pct'])} %) vs all on-demand, "
                f"{cell('usd', s['saving_vs_no_commitment_usd'])} USD "
                f"({cell('saving_pct', s['saving_vs_no_commitment_pct'])} %) vs committing nothing")
    out: list[RenderableType] = [Panel(text, title="[bold]Forecast[/]", title_align="left", box=box.ROUNDED)]
    months = frames["forecast_months"]
    out.append(_simple(months, ["month", "usd", "reserved_usd", "on_demand_usd", "spot_usd", "cumulative_usd",
                                "reserved_utilization_pct"], "Months (USD)"))
    com = frames["forecast_commitments"]
    if not com.empty:
        out.append(_simple(com, ["description", "usd"], "Commitments to make"))
    return out


# --------------------------------------------------------------------------- output


def print_renderables(renderables: Iterable[RenderableType], console: Console | None = None) -> None:
    """Print to ``console`` (a new stdout console if None), one blank line between blocks."""
    console = console or Console()
    console.print(Group(*[item for r in renderables for item in (r, Text(""))]))


def render_text(renderables: Iterable[RenderableType], width: int = 80, color: bool = False) -> str:
    """The renderables as text at ``width`` columns (ANSI colour codes when ``color``)."""
    console = Console(width=width, record=True, file=io.StringIO(), force_terminal=color,
                      color_system="standard" if color else None)
    print_renderables(renderables, console)
    return console.export_text(styles=color)


def simulate_renderables(frames: Frames, sim: Mapping, availability_target: float | None = None) -> list[RenderableType]:
    """``plan simulate``: per workload (and the fleet at once) the share of time fully served and the shortfall."""
    frame = frames["simulate"]
    t = _table(f"Simulated {sim['hours']:g} h (seed {sim['seed']}): {sim['spot_nodes']} spot nodes, "
               f"{sim['reclaims']} reclaims, {sim['pool_events']} pool events")
    t.add_column("Workload", no_wrap=True)
    for header in ("Served\n% of time", "Worst short\nreq/min", "Worst\nshort %", "Unserved\nrequests",
                   "Unserved\n%"):
        t.add_column(header, justify="right", no_wrap=True)
    for _, r in frame.iterrows():
        fleet = r["workload"] == "(fleet)"
        t.add_row("(all at once)" if fleet else r["workload"], f"{r['attainment_pct']:.3f}",
                  f"{r['worst_shortfall_requests_per_min']:,.1f}", f"{r['worst_shortfall_pct']:.1f}",
                  f"{r['unserved_requests']:,.0f}", f"{r['unserved_pct']:.4f}", style="bold" if fleet else None)
    worst = sim.get("attainment")
    line = Text(f"SLA attainment (worst workload): {MISSING if worst is None else f'{100 * worst:.3f}'} %")
    if availability_target is not None:
        line.append(f"  ·  target {100 * availability_target:g} %")
    return [t, line]
