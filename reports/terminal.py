"""Terminal rendering with rich: a summary panel, then the tables. Reads the frames of ``reports.tables`` only.

Made for an 80-column terminal: wide frames are shown through a few composed columns ("h100-od fp8 TP2"),
long text wraps inside its cell, and each table comes in a few layouts (``reports.fit.Fit``): the widest whose
ids and numbers all print whole at the console's width is shown; narrower ones drop or stack low-value columns
and say which in their caption. Colour only carries meaning:
SLO met (green) / missed (red), the chosen options (bold green), a status that is not ``optimal``.
Every mark is also a character (✓ ✗ ●), so the output reads the same without colour.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Union

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from reports.fit import Fit, whole
from reports.format import MISS_MARK, MISSING, OK_MARK, cell, is_missing, is_numeric_col, label
from reports.rows import Rows
from reports.tables import STATE_ORDER, whatif_axes

if TYPE_CHECKING:  # types only: the plan view renders ``reports.rows.Rows`` as well as DataFrames
    import pandas as pd

Frames = Mapping[str, Union["pd.DataFrame", Rows]]

_STATUS_STYLE = {"optimal": "green", "feasible": "yellow"}
_STATE_STYLE = {"chosen": "bold green", "feasible": "", "dominated": "dim", "dropped": "dim"}


def _table(title: str | None = None) -> Table:
    """A table; its title is a ``Text``, so names in it (workload ids) print as given, never as rich markup."""
    return Table(title=None if title is None else Text(title, style="bold"), title_justify="left",
                 box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)


# Columns of prose: they wrap at spaces. Every other column holds ids or numbers, printed whole.
_TEXT_COLS = {"detail", "reason", "message", "description", "name", "pattern"}


def _hidden_note(shown: Sequence[str], all_cols: Sequence[str], labels: dict[str, str] | None = None) -> str | None:
    hidden = [(labels or {}).get(c, label(c)) for c in all_cols if c not in shown]
    return f"not shown at this width: {', '.join(hidden)} (wider terminal or --format csv)" if hidden else None


def _simple_table(frame: pd.DataFrame, cols: Sequence[str], title: str | None, caption: str | None = None,
                  headers: dict[str, str] | None = None) -> Table:
    """A frame's columns as they are, numbers right-aligned, ids and numbers whole."""
    t = _table(title)
    for c in cols:
        t.add_column((headers or {}).get(c, label(c)), justify="right" if is_numeric_col(frame, c) else "left",
                     overflow="fold")
    for _, row in frame.iterrows():
        t.add_row(*[_mark(row[c]) if frame[c].dtype == bool or c.endswith("_ok") or c == "ok"
                    else (Text(cell(c, row[c])) if c in _TEXT_COLS else whole(cell(c, row[c]))) for c in cols])
    if caption:
        t.caption, t.caption_justify = caption, "left"
    return t


def _simple(frame: pd.DataFrame, layouts: Sequence[Sequence[str]], title: str,
            headers: dict[str, str] | None = None, caption: str | None = None) -> Fit:
    """The frame in each layout (a list of columns, widest first); see ``reports.fit``."""
    widest = list(layouts[0])
    tables = []
    for cols in layouts:
        note = _hidden_note(cols, widest, headers)
        text = "\n".join(x for x in (caption, note) if x) or None
        tables.append(_simple_table(frame, cols, title, text, headers))
    return Fit(tables)


def _without(cols: Sequence[str], *drop: str) -> list[str]:
    return [c for c in cols if c not in drop]


def _mark(ok) -> Text:
    if is_missing(ok):
        return whole(Text(MISSING, style="dim"))
    return whole(Text(OK_MARK, style="green") if ok else Text(MISS_MARK, style="bold red"))


def _vs_slo(pred, slo, ok, col: str) -> Text:
    """``410 / 500 ✓``: the prediction against its SLO, marked (one unbreakable cell)."""
    text = Text(cell(col, pred))
    text.append(" / " + (cell(col, slo) if not is_missing(slo) else "no SLO"), style="dim")
    text.append(" ")
    text.append_text(_mark(ok))
    return whole(text)


def _deployment_name(row) -> Text:
    parts = [row["offer"], row["precision"], f"TP{row['tp']}"]
    if not is_missing(row.get("mig_profile")):
        parts.append(row["mig_profile"])
    return Text(" ".join(str(p) for p in parts))


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
    return Panel(lines, title=Text(str(s["scenario"]), style="bold"), title_align="left", box=box.ROUNDED)


def _deployments_layout(dep: pd.DataFrame, util: bool, stacked: bool) -> Table:
    t = _table("Deployments (predicted vs SLO)")
    t.add_column("Workload")
    t.add_column("Deployment", overflow="fold")
    t.add_column("Repl", justify="right")
    if util:
        t.add_column("Util %", justify="right")
    if stacked:
        t.add_column("TTFT ms\nTPOT ms", justify="right")
    else:
        t.add_column("TTFT ms", justify="right")
        t.add_column("TPOT ms", justify="right")
    last = None
    for _, r in dep.iterrows():
        if last is not None and r["workload"] != last:
            t.add_section()
        ttft = _vs_slo(r["predicted_ttft_ms"], r["ttft_slo_ms"], r["ttft_ok"], "predicted_ttft_ms")
        tpot = _vs_slo(r["predicted_tpot_ms"], r["tpot_slo_ms"], r["tpot_ok"], "predicted_tpot_ms")
        cells = [whole(r["workload"]) if r["workload"] != last else "", _deployment_name(r),
                 whole(cell("replicas", r["replicas"]))]
        if util:
            cells.append(whole(cell("utilization_pct", r["utilization_pct"])))
        cells += [whole(Text("\n").join([ttft, tpot]))] if stacked else [ttft, tpot]
        t.add_row(*cells)
        last = r["workload"]
    if not util:
        t.caption, t.caption_justify = "not shown at this width: Util % (wider terminal or --format csv)", "left"
    return t


def deployments_table(dep: pd.DataFrame) -> Fit:
    """Per deployment: replicas, utilisation, TTFT and TPOT against the SLO; narrower: TTFT over TPOT, no Util."""
    return Fit([_deployments_layout(dep, True, False), _deployments_layout(dep, True, True),
                _deployments_layout(dep, False, True)])


def _options_layout(wl: str, grp: pd.DataFrame, max_per_workload: int, per_million: bool) -> Table:
    t = _table(f"Options for {wl}")
    t.add_column("", width=1)
    t.add_column("Option", overflow="fold", ratio=2)
    t.add_column("req/min", justify="right")
    t.add_column("USD/h", justify="right")
    if per_million:
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
        cells = [Text("●", style="bold green") if state == "chosen" else "",
                 Text(f"{r['offer']} {r['precision']} TP{r['tp']}\n{option}", style=style or None),
                 whole(cell("capacity_requests_per_min", r["capacity_requests_per_min"]
                            if r["capacity_requests_per_min"] > 0 else None)),
                 whole(cell("usd_per_hour", r["usd_per_hour_per_replica"]))]
        if per_million:
            cells.append(whole(cell("usd_per_million_requests", r["usd_per_million_requests"])))
        t.add_row(*cells, why)
    notes = []
    if hidden:
        detail = ", ".join(f"{n} {s}" for s, n in sorted(hidden.items(), key=lambda kv: STATE_ORDER.index(kv[0])))
        notes.append(f"… {sum(hidden.values())} more ({detail}), see --format csv")
    if not per_million:
        notes.append("not shown at this width: USD/M req (wider terminal or --format csv)")
    if notes:
        t.caption, t.caption_justify = "\n".join(notes), "left"
    return t


def options_tables(options: pd.DataFrame, max_per_workload: int = 8) -> list[Fit]:
    """One table per workload: chosen (●), then feasible, dominated, dropped, each with its reason.

    All chosen rows are shown; at most ``max_per_workload`` others, then a "… N more" line.
    """
    return [Fit([_options_layout(wl, grp, max_per_workload, True), _options_layout(wl, grp, max_per_workload, False)])
            for wl, grp in options.groupby("workload", sort=False)]


def plan_renderables(frames: Frames, *, max_options_per_workload: int = 8) -> list[RenderableType]:
    """The plan view: summary, fleet, cost by market, deployments vs SLO, workloads, MIG, periods, options,
    baselines, verification."""
    out: list[RenderableType] = [summary_panel(frames["summary"])]
    fleet = frames["fleet"]
    if not fleet.empty:
        cols = ["offer", "gpu", "market", "nodes", "gpus", "owned_nodes", "price_usd_per_node_hour", "usd_per_hour"]
        if not fleet["owned_nodes"].any():
            cols.remove("owned_nodes")
        out.append(_simple(fleet, [cols, _without(cols, "gpu"), _without(cols, "gpu", "price_usd_per_node_hour")],
                           "Fleet"))
    cost = frames["cost"]
    if not cost.empty:
        cols = ["market", "usd_per_hour", "usd_per_month", "share_pct", "gpus"]
        out.append(_simple(cost, [cols, _without(cols, "gpus")], "Cost by market"))
    if not frames["deployments"].empty:
        out.append(deployments_table(frames["deployments"]))
    wl = frames["workloads"]
    if not wl.empty:
        cols = ["workload", "demand_requests_per_min", "served_pct", "replicas", "usd_per_hour",
                "usd_per_million_output_tokens", "slo_ok"]
        out.append(_simple(wl, [cols, _without(cols, "served_pct"), _without(cols, "served_pct", "replicas"),
                                _without(cols, "served_pct", "replicas", "usd_per_million_output_tokens")],
                           "Workloads"))
    if not frames["mig_partitions"].empty:
        out.append(_simple(frames["mig_partitions"], [["offer", "gpu", "pattern", "gpus"]], "MIG partitions"))
    per = frames["periods"]
    if not per.empty:
        offer_cols = [c for c in per.columns if c.startswith("gpus_")]
        base = ["period", "hours", "usd_per_hour", "gpus"]
        layouts = [base + offer_cols[:k] for k in range(len(offer_cols), -1, -1)]
        out.append(_simple(per, layouts, "Periods", headers={c: c[5:] for c in offer_cols},
                           caption="offer columns: GPUs of that offer" if offer_cols else None))
    if not frames["options"].empty:
        out.extend(options_tables(frames["options"], max_options_per_workload))
    if not frames["baselines"].empty:
        cols = ["name", "status", "usd_per_hour", "saving_usd_per_hour", "saving_pct", "detail"]
        out.append(_simple(frames["baselines"], [cols, _without(cols, "saving_usd_per_hour")], "Baselines"))
    if not frames["verification"].empty:
        out.append(_simple(frames["verification"], [["check", "ok", "detail"]], "Verification"))
    return out


# --------------------------------------------------------------------------- what-if and forecast


_WHATIF_HEADERS = {"objective_usd_per_hour": "USD/h", "change_usd_per_hour": "Δ USD/h", "change_pct": "Δ %",
                   "spot_gpu_share_pct": "Spot %", "simulated_attainment_pct": "SLA %", "status": "Status"}


def _whatif_layout(w: pd.DataFrame, cols: list[str], offers: list[str], stacked: bool, hidden: list[str]) -> Table:
    """One layout of the sweep: per-offer GPU columns side by side, or stacked in one "GPUs by offer" column."""
    headers = {a: ("Rate /h" if a == "interruption_rate" else a.rsplit(".", 1)[-1]) for a in whatif_axes(w)}
    headers.update(_WHATIF_HEADERS)
    headers.update({f"gpus_{o}": f"GPUs\n{o}" for o in offers})
    shown = cols if stacked else cols + [f"gpus_{o}" for o in offers]
    t = _simple_table(w, shown, "What-if sweep", headers=headers)
    if stacked and offers:
        t.add_column("GPUs by offer")
        per_offer = [whole("\n".join(f"{int(r[f'gpus_{o}'])} {o}" for o in offers if r[f"gpus_{o}"]) or MISSING)
                     for _, r in w.iterrows()]
        t.columns[-1]._cells = per_offer  # noqa: SLF001 - add_column cannot take cells; rows already added
        t.show_lines = len(offers) > 1  # several lines per point: a rule between points
    if hidden:
        t.caption = f"not shown at this width: {', '.join(headers.get(c, label(c)) for c in hidden)} " \
                    "(wider terminal or --format csv)"
        t.caption_justify = "left"
    return t


def whatif_renderables(frames: Frames) -> list[RenderableType]:
    """The sweep, one row per point: swept values, status, cost and its change, spot share, attainment, GPUs by
    offer (side by side when they fit, else stacked in one column; then Δ USD/h, then Spot % are left out)."""
    w = frames["whatif"]
    offers = [c[5:] for c in w.columns if c.startswith("gpus_")]
    cols = whatif_axes(w) + ["status", "objective_usd_per_hour", "change_usd_per_hour", "change_pct",
                             "spot_gpu_share_pct", "simulated_attainment_pct"]
    layouts = [_whatif_layout(w, cols, offers, False, []) if len(offers) <= 6 else None,
               _whatif_layout(w, cols, offers, True, []),
               _whatif_layout(w, _without(cols, "change_usd_per_hour"), offers, True, ["change_usd_per_hour"]),
               _whatif_layout(w, _without(cols, "change_usd_per_hour", "spot_gpu_share_pct"), offers, True,
                              ["change_usd_per_hour", "spot_gpu_share_pct"])]
    return [Fit([t for t in layouts if t is not None])]


def forecast_renderables(frames: Frames) -> list[RenderableType]:
    s = frames["forecast_summary"].iloc[0]
    text = Text()
    text.append(f"Total    {cell('usd', s['total_usd'])} USD over {int(s['months'])} months", style="bold")
    text.append(f"  (+ {cell('usd', s['tail_usd'])} USD of commitments after the horizon)\n")
    text.append(f"Saving   {cell('usd', s['saving_vs_all_on_demand_usd'])} USD "
                f"({cell('saving_pct', s['saving_vs_all_on_demand_pct'])} %) vs all on-demand, "
                f"{cell('usd', s['saving_vs_no_commitment_usd'])} USD "
                f"({cell('saving_pct', s['saving_vs_no_commitment_pct'])} %) vs committing nothing")
    out: list[RenderableType] = [Panel(text, title=Text("Forecast", style="bold"), title_align="left", box=box.ROUNDED)]
    months = frames["forecast_months"]
    cols = ["month", "usd", "reserved_usd", "on_demand_usd", "spot_usd", "cumulative_usd", "reserved_utilization_pct"]
    headers = {"usd": "Total", "reserved_usd": "Reserved", "on_demand_usd": "On-demand", "spot_usd": "Spot",
               "cumulative_usd": "Cumulative", "reserved_utilization_pct": "Reserved\nutil %"}
    out.append(_simple(months, [cols, _without(cols, "cumulative_usd"),
                                _without(cols, "cumulative_usd", "reserved_utilization_pct")], "Months (USD)",
                       headers=headers))
    com = frames["forecast_commitments"]
    if not com.empty:
        out.append(_simple(com, [["description", "usd"]], "Commitments to make"))
    return out


# --------------------------------------------------------------------------- output


def print_renderables(renderables: Iterable[RenderableType], console: Console | None = None) -> None:
    """Print to ``console`` (a new stdout console if None), one blank line between blocks."""
    console = console or Console()
    console.print(Group(*[item for r in renderables for item in (r, Text(""))]))


def render_text(renderables: Iterable[RenderableType], width: int = 80, color: bool = False) -> str:
    """The renderables as text at ``width`` columns (ANSI colour codes when ``color``)."""
    console = Console(width=width, record=True, file=io.StringIO(), force_terminal=color, markup=False, emoji=False,
                      color_system="standard" if color else None)
    print_renderables(renderables, console)
    return console.export_text(styles=color)


def _simulate_layout(frame: pd.DataFrame, sim: Mapping, narrow: bool) -> Table:
    t = _table()
    t.add_column("Workload")
    headers = ["Served\n% of time", "Worst short\nreq/min", "Worst\nshort %", "Unserved\nrequests", "Unserved\n%"]
    keep = [0, 1, 3, 4] if narrow else [0, 1, 2, 3, 4]
    for i in keep:
        t.add_column(headers[i], justify="right")
    for _, r in frame.iterrows():
        fleet = r["workload"] == "(fleet)"
        values = [f"{r['attainment_pct']:.3f}", f"{r['worst_shortfall_requests_per_min']:,.1f}",
                  f"{r['worst_shortfall_pct']:.1f}", f"{r['unserved_requests']:,.0f}", f"{r['unserved_pct']:.4f}"]
        t.add_row(whole("(all at once)" if fleet else r["workload"]), *[whole(values[i]) for i in keep],
                  style="bold" if fleet else None)
    if narrow:
        t.caption, t.caption_justify = "not shown at this width: Worst short % (wider terminal or --format json)", "left"
    return t


def simulate_renderables(frames: Frames, sim: Mapping, availability_target: float | None = None) -> list[RenderableType]:
    """``plan simulate``: per workload (and the fleet at once) the share of time fully served and the shortfall."""
    frame = frames["simulate"]
    worst = sim.get("attainment")
    line = Text(f"SLA attainment (worst workload): {MISSING if worst is None else f'{100 * worst:.3f}'} %")
    if availability_target is not None:
        line.append(f"  ·  target {100 * availability_target:g} %")
    head = Text(f"Simulated {sim['hours']:g} h (seed {sim['seed']}): {sim['spot_nodes']} spot nodes, "
                f"{sim['reclaims']} reclaims, {sim['pool_events']} pool events", style="bold")
    return [Group(head, Fit([_simulate_layout(frame, sim, False), _simulate_layout(frame, sim, True)])), line]
