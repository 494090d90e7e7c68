"""One self-contained HTML report: headline numbers, charts (inline SVG), tables and the scenario as read.

Self-contained means the page asks for nothing: no scripts, fonts, images or styles from anywhere, and a
Content-Security-Policy that makes the browser refuse any it might find. Every dynamic string goes through
``html.escape``. The page reads the ``reports.tables`` frames only; charts come from ``reports.charts``.
Readable on a laptop (max ~72 rem wide; tables are laid out to fit it at 1280 px, headers wrapping and wide
cells stacked, with a sideways scroll only as a last resort on narrower screens) and printable (``@media print``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from planner.plan import Plan
from reports import charts
from reports.html_style import CSP as _CSP
from reports.html_style import CSS as _CSS
from reports.format import MISS_MARK, MISSING, OK_MARK, cell, is_missing, is_numeric_col, label
from reports.tables import forecast_tables, plan_tables, whatif_axes, whatif_tables

if TYPE_CHECKING:
    from planner.scenario.io import LoadedScenario

Frames = Mapping[str, pd.DataFrame]
_E = html.escape
# Short identifiers read badly when broken at their hyphens ("h100-" / "od"): keep them on one line.
_ID_COLS = {"workload", "offer", "gpu", "market", "precision", "mig_profile", "state", "status", "month",
            "period", "start_month", "check", "name", "scenario", "solver"}


def render_html(plan: Plan | None, loaded_scenario: LoadedScenario | Any = None, *,
                whatif: Sequence[dict] | None = None, forecast: dict | None = None,
                title: str | None = None) -> str:
    """The report as one HTML document (a string; write it with ``encoding="utf-8"``).

    Args:
        plan: the solved plan (None for a forecast-only or what-if-only report).
        loaded_scenario: a ``planner.scenario.io.LoadedScenario`` (only ``.scenario``, ``.raw`` and ``.path``
            are read): gives the SLOs and the "scenario as read" section.
        whatif: ``plan whatif --format json`` records; adds the what-if curve and table.
        forecast: ``plan forecast --format json`` result; adds the forecast chart and tables.
        title: page title; defaults to "fleetplan: <scenario name>".
    """
    scenario = getattr(loaded_scenario, "scenario", None)
    frames = plan_tables(plan, scenario) if plan is not None else None
    if frames is not None and scenario is not None and not frames["fleet"].empty:  # each chosen price's source/date
        offers = {o.id: o for o in scenario.offers}
        frames = {**frames, "fleet": frames["fleet"].assign(
            price_source=[getattr(offers.get(o), "source", None) or "-" for o in frames["fleet"]["offer"]],
            price_as_of=[getattr(offers.get(o), "as_of", None) or "-" for o in frames["fleet"]["offer"]])}
    return render_html_frames(
        frames,
        whatif=whatif_tables(list(whatif)) if whatif else None,
        forecast=forecast_tables(forecast) if forecast else None,
        scenario_text=scenario_text(loaded_scenario) if loaded_scenario is not None else None,
        scenario_name=getattr(scenario, "name", None),
        availability_target_pct=_availability_target_pct(scenario),
        title=title)


def _availability_target_pct(scenario: Any) -> float | None:
    try:
        return 100.0 * float(scenario.policy.spot.availability_target)
    except (AttributeError, TypeError, ValueError):
        return None


def scenario_text(loaded_scenario: Any) -> str:
    """The scenario file as it was read (comments kept) when the file still holds what was read; otherwise the
    parsed mapping dumped back to YAML."""
    raw = getattr(loaded_scenario, "raw", None)
    path = getattr(loaded_scenario, "path", None)
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
            if raw is None or yaml.safe_load(text) == raw:
                return text
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            pass
    return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True) if raw is not None else ""


# --------------------------------------------------------------------------- building blocks


def _bool_html(v: Any) -> str:
    if is_missing(v):
        return f'<span class="unknown" title="unknown">{MISSING}</span>'
    return (f'<span class="ok" title="met">{OK_MARK}</span>' if v
            else f'<span class="miss" title="missed">{MISS_MARK}</span>')


def _is_mark_col(frame: pd.DataFrame, col: str) -> bool:
    return frame[col].dtype == bool or col.endswith("_ok") or col in ("ok", "verified")


def _th_class(frame: pd.DataFrame, col: str) -> str:
    return " class=mark" if _is_mark_col(frame, col) else (" class=num" if is_numeric_col(frame, col) else "")


def _td(frame: pd.DataFrame, col: str, v: Any) -> str:
    if _is_mark_col(frame, col):
        return f'<td class="mark">{_bool_html(v)}</td>'
    cls = ' class="num"' if is_numeric_col(frame, col) else (' class="id"' if col in _ID_COLS else "")
    return f"<td{cls}>{_E(cell(col, v))}</td>"


def _header(text: str) -> str:
    """A header that may wrap between words but never inside an id ("h100-" / "od")."""
    return " ".join(f'<span class="nw">{_E(w)}</span>' if "-" in w else _E(w) for w in text.split(" "))


def table_html(frame: pd.DataFrame, cols: Sequence[str] | None = None, *, caption: str | None = None,
               row_class: str | None = None) -> str:
    """A frame as an escaped HTML table (labels and formatting from ``reports.format``)."""
    cols = list(cols or frame.columns)
    head = "".join(f'<th scope="col"{_th_class(frame, c)}>{_header(label(c))}</th>' for c in cols)
    body = []
    for _, row in frame.iterrows():
        cls = f' class="{_E(row_class)}-{_E(str(row[row_class]))}"' if row_class else ""
        body.append(f"<tr{cls}>" + "".join(_td(frame, c, row[c]) for c in cols) + "</tr>")
    cap = f"<caption class=note>{_E(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _figure(name: str, svg: str | None, caption: str) -> str:
    if not svg:
        return ""
    return (f'<figure class="chart" data-chart="{_E(name)}">{svg}'
            f"<figcaption>{_E(caption)}</figcaption></figure>")


def _card(key: str, value: str, detail: str = "", cls: str = "") -> str:
    return (f'<div class="card {cls}"><div class="k">{_E(key)}</div><div class="v">{_E(value)}</div>'
            f'<div class="d">{_E(detail)}</div></div>')


def _section(anchor: str, heading: str, body: str) -> str:
    return f'<section id="{_E(anchor)}"><h2>{_E(heading)}</h2>{body}</section>'


# --------------------------------------------------------------------------- sections


def _headline(s: pd.Series) -> str:
    status = str(s["status"])
    verified = s["verified"]
    ver = ("not verified" if is_missing(verified) else
           "all checks passed" if verified else f"{s['checks_failed']} checks FAILED")
    saving = (f"{cell('usd_per_hour', s['saving_usd_per_hour'])} USD/h"
              if not is_missing(s["baseline"]) else MISSING)
    saving_d = (f"{cell('saving_pct', s['saving_pct'])} % vs {s['baseline']} "
                f"({cell('usd_per_hour', s['baseline_usd_per_hour'])} USD/h)"
                if not is_missing(s["baseline"]) else "no baseline to compare with")
    cards = [
        _card("Cost per hour", f"{cell('usd_per_hour', s['objective_usd_per_hour'])} USD",
              "hour-weighted mean over periods" if s["periods"] > 1 else "whole fleet"),
        _card("Cost per month", f"{cell('usd_per_month', s['usd_per_month'])} USD",
              f"{cell('hours', s['hours_per_month'])} hours a month"),
        _card("Saving", saving, saving_d),
        _card("Fleet", f"{cell('gpus', s['gpus'])} GPUs", f"{cell('nodes', s['nodes'])} nodes"
              + (f", peak of {s['periods']} periods" if s["periods"] > 1 else "")),
        _card("Status", status, f"gap {cell('gap_pct', s['gap_pct'])} % · {s['solver']} · "
              f"{cell('solve_seconds', s['solve_seconds'])} s · {ver}",
              "good" if status == "optimal" and not is_missing(verified) and bool(verified) else "bad"),
    ]
    if s["unmet_requests_per_min"] > 0:
        cards.append(_card("Unmet demand", f"{cell('requests_per_min', s['unmet_requests_per_min'])} req/min",
                           "served with a penalty", "bad"))
    msg = f'<p class="note">{_E(str(s["message"]))}</p>' if not is_missing(s["message"]) else ""
    return f'<div class="cards">{"".join(cards)}</div>{msg}'


def _deployment_name(r: pd.Series) -> str:
    parts = [r["offer"], f"({r['gpu']})", r["precision"], f"TP{r['tp']}"]
    if not is_missing(r["mig_profile"]):
        parts.append(r["mig_profile"])
    return " ".join(str(p) for p in parts)


def _deployments_html(dep: pd.DataFrame) -> str:
    head = ("<tr><th>Workload</th><th>Deployment</th><th class=num>Replicas</th>"
            "<th class=num>Assigned req/min</th><th class=num>Capacity req/min per replica</th>"
            "<th class=num>Availability %</th><th class=num>Util %</th><th class=num>TTFT ms (SLO)</th>"
            "<th class=num>TPOT ms (SLO)</th></tr>")
    rows = []
    for _, r in dep.iterrows():
        def vs(pred: str, slo: str, ok: str, col: str) -> str:
            limit = cell(col, r[slo]) if not is_missing(r[slo]) else "no SLO"
            return f'<td class="num">{_E(cell(col, r[pred]))} ({_E(limit)}) {_bool_html(r[ok])}</td>'
        rows.append(
            f'<tr><td class="id">{_E(str(r["workload"]))}</td><td class="id">{_E(_deployment_name(r))}</td>'
            + "".join(f'<td class="num">{_E(cell(c, r[c]))}</td>' for c in
                      ("replicas", "assigned_requests_per_min", "capacity_requests_per_min", "availability_pct",
                       "utilization_pct"))
            + vs("predicted_ttft_ms", "ttft_slo_ms", "ttft_ok", "predicted_ttft_ms")
            + vs("predicted_tpot_ms", "tpot_slo_ms", "tpot_ok", "predicted_tpot_ms") + "</tr>")
    return f'<div class="scroll"><table><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'


def _options_html(options: pd.DataFrame) -> str:
    cols = ["capacity_requests_per_min", "usd_per_hour_per_replica", "usd_per_million_requests", "predicted_ttft_ms"]
    head = ("<th></th><th>Option</th>" + "".join(f"<th class=num>{_E(label(c))}</th>" for c in cols)
            + "<th>State</th><th>Reason</th>")
    bodies = []
    for wl, grp in options.groupby("workload", sort=False):
        counts = grp["state"].value_counts()
        summary = ", ".join(f"{n} {s}" for s, n in counts.items())
        rows = [f'<tr><th class="group" colspan="{len(cols) + 4}" scope="rowgroup">{_E(str(wl))} '
                f'<span class="note">({_E(summary)})</span></th></tr>']
        for _, r in grp.iterrows():
            mark = "●" if r["state"] == "chosen" else ""
            tds = []
            for c in cols:
                v = r[c]
                if c == "capacity_requests_per_min" and r["state"] == "dropped" and v == 0:
                    v = None  # a dropped option has no capacity to speak of
                tds.append(_td(options, c, v))
            rows.append(f'<tr class="state-{_E(str(r["state"]))}"><td class="ok">{mark}</td>'
                        f'<td class="id">{_E(_deployment_name(r))}</td>{"".join(tds)}'
                        f'<td class="id">{_E(str(r["state"]))}</td>'
                        f'<td class="reason">{_E(cell("reason", r["reason"]))}</td></tr>')
        bodies.append(f"<tbody>{''.join(rows)}</tbody>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>{"".join(bodies)}</table></div>'
            '<p class="note">● chosen. Within each state, options are sorted by USD per million requests at full '
            "capacity; the first feasible one is the runner-up.</p>")


def _plan_sections(f: Frames) -> list[tuple[str, str, str]]:
    s = f["summary"].iloc[0]
    out = [("summary", "Headline", _headline(s))]
    fleet = _figure("fleet-mix", charts.fleet_mix_svg(f["fleet"]), "GPUs by offer; colour is the market.")
    fleet += table_html(f["fleet"])
    if not f["mig_partitions"].empty:
        fleet += "<h3>MIG partitions</h3>" + table_html(f["mig_partitions"])
    out.append(("fleet", "Fleet", fleet))
    cost = _figure("cost", charts.cost_svg(f["cost"], f["fleet"]),
                   "USD per hour by offer; owned nodes cost nothing (already paid).")
    cost += "<h3>By market</h3>" + table_html(f["cost"])
    if not f["baselines"].empty:
        cost += "<h3>Against the baselines</h3>" + table_html(f["baselines"])
    out.append(("cost", "Cost", cost))
    slo = _figure("slo", charts.slo_svg(f["deployments"], s["target_utilization_pct"]),
                  "Each deployment's utilisation and predicted TTFT; the black tick is the workload's TTFT SLO.")
    if not f["deployments"].empty:
        slo += "<h3>Deployments</h3>" + _deployments_html(f["deployments"])
    if not f["workloads"].empty:
        slo += "<h3>Workloads</h3>" + table_html(f["workloads"])
    out.append(("slo", "Workloads and SLOs", slo))
    if not f["periods"].empty:
        out.append(("periods", "Periods", _figure("periods", charts.periods_svg(f["periods"]),
                                                  "GPUs by offer (bars) and USD/h (line) per period.")
                    + table_html(f["periods"])))
    return out


def _whatif_cards(frame: pd.DataFrame, target_pct: float | None) -> str:
    """Headline of a sweep: its cost range, the dearest change, the worst attainment against the target."""
    solved = frame[frame["objective_usd_per_hour"].notna()]
    failed = len(frame) - len(solved)
    cards = [_card("Points", f"{len(frame)}", f"{failed} without a plan" if failed else "all solved",
                   "bad" if failed else "")]
    if not solved.empty:
        lo, hi = solved["objective_usd_per_hour"].min(), solved["objective_usd_per_hour"].max()
        cards.append(_card("Cost", f"{cell('usd_per_hour', lo)}–{cell('usd_per_hour', hi)} USD/h",
                           "cheapest to dearest point"))
        worst = solved.loc[solved["change_pct"].idxmax()] if solved["change_pct"].notna().any() else None
        if worst is not None:
            cards.append(_card("Largest increase", f"+{cell('change_pct', worst['change_pct'])} %",
                               f"{cell('usd_per_hour', worst['change_usd_per_hour'])} USD/h at "
                               + ", ".join(f"{a.rsplit('.', 1)[-1].replace('_', ' ')}\u00a0{cell(a, worst[a])}"
                                           for a in whatif_axes(frame))))
        att = solved["simulated_attainment_pct"].dropna()
        if not att.empty:
            low = att.min()
            met = target_pct is None or low >= target_pct
            detail = "worst point, simulated" + (f"; target {target_pct:g}\u00a0%" if target_pct is not None else "")
            cards.append(_card("Lowest SLA attainment", f"{cell('simulated_attainment_pct', low)} %", detail,
                               "good" if met and target_pct is not None else ("" if met else "bad")))
    return f'<div class="cards">{"".join(cards)}</div>'


def _whatif_table(frame: pd.DataFrame) -> str:
    """The sweep as a table that fits the page: GPUs by offer stacked in one cell, the bookkeeping columns
    (spot / non-spot GPU counts, empty messages) left to the CSV."""
    offers = [c for c in frame.columns if c.startswith("gpus_")]
    cols = [c for c in frame.columns if c not in offers and c not in ("spot_gpus", "non_spot_gpus", "message")]
    if "message" in frame.columns and frame["message"].notna().any():
        cols.append("message")
    head = "".join(f'<th scope="col"{_th_class(frame, c)}>{_header(label(c))}</th>' for c in cols)
    head += '<th scope="col">GPUs by offer</th>' if offers else ""
    body = []
    for _, row in frame.iterrows():
        gpus = "<br>".join(f"{int(row[c])} × {_E(c[5:])}" for c in offers if row[c])
        body.append("<tr>" + "".join(_td(frame, c, row[c]) for c in cols)
                    + (f'<td class="id">{gpus or MISSING}</td>' if offers else "") + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _whatif_section(w: Frames, target_pct: float | None = None) -> tuple[str, str, str]:
    frame = w["whatif"]
    axes = whatif_axes(frame)
    body = _whatif_cards(frame, target_pct)
    body += _figure("whatif", charts.whatif_svg(frame, target_pct),
                    f"Cost (solid) and simulated SLA attainment (dashed) against {axes[0] if axes else 'the sweep'}; "
                    "the dotted line is the availability target.")
    return ("whatif", "What-if sweep", body + _whatif_table(frame))


def _forecast_section(fc: Frames) -> tuple[str, str, str]:
    s = fc["forecast_summary"].iloc[0]
    cards = "".join([
        _card("Forecast total", f"{cell('usd', s['total_usd'])} USD", f"over {int(s['months'])} months"),
        _card("After the horizon", f"{cell('usd', s['tail_usd'])} USD", "commitments still running"),
        _card("Saving vs all on-demand", f"{cell('usd', s['saving_vs_all_on_demand_usd'])} USD",
              f"{cell('saving_pct', s['saving_vs_all_on_demand_pct'])} %"),
        _card("Saving vs no commitment", f"{cell('usd', s['saving_vs_no_commitment_usd'])} USD",
              f"{cell('saving_pct', s['saving_vs_no_commitment_pct'])} %"),
    ])
    body = f'<div class="cards">{cards}</div>'
    body += _figure("forecast", charts.forecast_svg(fc["forecast_months"], fc["forecast_commitments"]),
                    "USD per month by market; dashed lines mark when commitments start.")
    if not fc["forecast_commitments"].empty:
        body += "<h3>Commitments to make</h3>" + table_html(fc["forecast_commitments"])
    body += "<h3>Months</h3>" + table_html(fc["forecast_months"])
    return ("forecast", "Forecast", body)


def render_html_frames(frames: Frames | None, *, whatif: Frames | None = None, forecast: Frames | None = None,
                       scenario_text: str | None = None, scenario_name: str | None = None,
                       title: str | None = None, availability_target_pct: float | None = None) -> str:
    """The report from frames already built (``plan_tables``, ``whatif_tables``, ``forecast_tables``)."""
    name = scenario_name or (str(frames["summary"]["scenario"].iloc[0]) if frames else None)
    title = title or ("fleetplan: " + (name or "report"))
    sections: list[tuple[str, str, str]] = []
    if frames:
        sections += _plan_sections(frames)
    if whatif is not None:
        sections.append(_whatif_section(whatif, availability_target_pct))
    if forecast is not None:
        sections.append(_forecast_section(forecast))
    if frames and not frames["options"].empty:
        sections.append(("options", "Options considered", _options_html(frames["options"])))
    if frames and not frames["verification"].empty:
        sections.append(("verification", "Verification", table_html(frames["verification"])))
    if scenario_text is not None:
        sections.append(("scenario", "Scenario as read", f'<pre class="scenario">{_E(scenario_text)}</pre>'))

    nav = "".join(f'<a href="#{_E(a)}">{_E(h)}</a>' for a, h, _ in sections)
    sub = []
    if frames:
        s = frames["summary"].iloc[0]
        badge = "optimal" if s["status"] == "optimal" else "bad"
        sub.append(f'<span class="badge {badge}">{_E(str(s["status"]))}</span>')
    if name:
        sub.append(f"scenario <b>{_E(name)}</b>")
    sub.append("monthly figures use 730 hours a month")
    body = "".join(_section(a, h, b) for a, h, b in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{_E(_CSP)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="color-scheme" content="light">'
            '<link rel="icon" href="data:,">'
            f"<title>{_E(title)}</title><style>{_CSS}</style></head>\n<body>"
            f"<header><h1>{_E(title)}</h1><p class=\"sub\">{' · '.join(sub)}</p><nav>{nav}</nav></header>\n"
            f"<main>{body}</main>\n"
            '<footer class="note">Generated by fleetplan. Self-contained: this file loads nothing from '
            "the network.</footer></body></html>\n")
