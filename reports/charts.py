"""Charts for the HTML report: matplotlib figures drawn from the ``reports.tables`` frames, returned as inline
``<svg>`` text (no XML prolog, no metadata, text kept as text with ``svg.fonttype='none'``).

No pyplot and no global backend switch: each chart is a bare ``Figure`` on an Agg canvas, so importing this
module never changes how the caller's matplotlib behaves. Every element id in a chart is prefixed with the
chart's name, so several charts can sit in one HTML page without id clashes. Each function returns None when
its frame is empty (the report then leaves the chart out).
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports.tables import whatif_axes

MARKET_COLORS = {"on_demand": "#4C72B0", "spot": "#DD8452", "reserved": "#55A868", "unmet_penalty": "#C44E52"}
OK_COLOR, MISS_COLOR, UNKNOWN_COLOR = "#3A923A", "#C03D3E", "#9A9A9A"
_OFFER_COLORS = ("#4C72B0", "#DD8452", "#55A868", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD")
_STYLE = {
    "svg.fonttype": "none",  # text stays text: selectable, searchable, no embedded glyph paths
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "legend.frameon": False,
}
_ID = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')


@contextmanager
def _style(name: str) -> Iterator[None]:
    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": f"fleetplan-{name}"}):
        yield


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _to_svg(fig: Figure, name: str, description: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = _ID.sub(lambda m: f"{m.group(1)}{name}-{m.group(2)}", text)
    # An accessible name for screen readers, and a tooltip.
    title = html.escape(description, quote=True)
    return text.replace(">", f' role="img" aria-label="{title}">\n <title>{title}</title>', 1).strip() + "\n"


def _rows_height(n: int, per_row: float = 0.32, base: float = 1.0) -> float:
    return base + per_row * max(n, 1)


def _market_legend(fig: Figure, markets: list[str], labels: dict[str, str] | None = None) -> None:
    """The market colours, outside the axes on the right (constrained layout makes room): a legend inside
    would sit on a bar's label."""
    from matplotlib.patches import Patch
    handles = [Patch(color=MARKET_COLORS.get(m, "#777777"), label=(labels or {}).get(m, m.replace("_", "-")))
               for m in markets]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)


def _thousands(axis) -> None:
    """Tick labels with thousands separators (12,000 not 12000)."""
    from matplotlib.ticker import FuncFormatter
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 10 or v == int(v) else f"{v:g}"))


def _sparse_ticks(ax, labels: list[str], max_labels: int = 12) -> None:
    """Horizontal x tick labels, every k-th one so that at most ``max_labels`` show (rotated labels' boxes
    overlap each other, and slanted text is harder to read)."""
    step = max(1, -(-len(labels) // max_labels))
    x = list(range(len(labels)))
    ax.set_xticks(x[::step], labels[::step])


# --------------------------------------------------------------------------- plan charts


def fleet_mix_svg(fleet: pd.DataFrame) -> str | None:
    """GPUs by offer, coloured by market."""
    if fleet.empty:
        return None
    with _style("fleet-mix"):
        fig = _figure(9.0, _rows_height(len(fleet)))
        ax = fig.add_subplot()
        labels = [f"{r.offer}  ({r.gpu})" + (f", {r.owned_nodes} owned" if r.owned_nodes else "")
                  for r in fleet.itertuples()]
        y = range(len(fleet))
        bars = ax.barh(list(y), fleet["gpus"], color=[MARKET_COLORS.get(m, "#777777") for m in fleet["market"]])
        ax.bar_label(bars, labels=[f"{g} GPU{'s' * (g != 1)} · {n} node{'s' * (n != 1)}"
                                   for g, n in zip(fleet["gpus"], fleet["nodes"])],
                     padding=3, fontsize=8)
        ax.set_yticks(list(y), labels)
        ax.invert_yaxis()
        ax.set_xlabel("GPUs")
        ax.set_xlim(0, max(1, fleet["gpus"].max()) * 1.35)
        ax.set_title("Fleet mix: GPUs by offer and market")
        _market_legend(fig, list(dict.fromkeys(fleet["market"])))
        return _to_svg(fig, "fleet-mix", "GPUs by offer, coloured by market")


def cost_svg(cost: pd.DataFrame, fleet: pd.DataFrame) -> str | None:
    """USD/h by offer, coloured by market; the legend carries each market's total and share."""
    if cost.empty and fleet.empty:
        return None
    names = [f"{r.offer}  ({r.market.replace('_', '-')})" for r in fleet.itertuples()]
    values = list(fleet["usd_per_hour"])
    colors = [MARKET_COLORS.get(m, "#777777") for m in fleet["market"]]
    penalty = cost[cost["market"] == "unmet_penalty"]
    if not penalty.empty:
        names.append("unmet demand (penalty)")
        values.append(float(penalty["usd_per_hour"].iloc[0]))
        colors.append(MARKET_COLORS["unmet_penalty"])
    legend = {r.market: f"{r.market.replace('_', '-')}: {r.usd_per_hour:,.2f} USD/h ({r.share_pct:.0f} %)"
              for r in cost.itertuples()}
    with _style("cost"):
        fig = _figure(9.0, _rows_height(len(names)))
        ax = fig.add_subplot()
        y = list(range(len(names)))
        bars = ax.barh(y, values, color=colors)
        ax.bar_label(bars, labels=[f"{v:,.2f}" for v in values], padding=3, fontsize=8)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlabel("USD per hour")
        ax.set_xlim(0, max([1.0, *values]) * 1.3)
        ax.set_title("Cost breakdown: USD/h by offer")
        _market_legend(fig, list(legend), legend)
        return _to_svg(fig, "cost", "Hourly cost by offer, coloured by market")


def slo_svg(deployments: pd.DataFrame, target_utilization_pct: float | None = None) -> str | None:
    """Per deployment: utilisation against the target, and predicted TTFT against the workload's SLO."""
    if deployments.empty:
        return None
    labels = [f"{r.workload} · {r.offer} {r.precision} TP{r.tp}" + ("" if pd.isna(r.mig_profile) else f" {r.mig_profile}")
              for r in deployments.itertuples()]
    y = list(range(len(labels)))
    with _style("slo"):
        fig = _figure(9.0, _rows_height(len(labels), 0.38, 1.2))
        ax_u, ax_t = fig.subplots(1, 2, sharey=True)
        ax_u.barh(y, deployments["utilization_pct"], color="#4C72B0")
        if target_utilization_pct is not None and not pd.isna(target_utilization_pct):
            ax_u.axvline(target_utilization_pct, color="#333333", linestyle="--", linewidth=1,
                         label=f"target utilisation {target_utilization_pct:.0f} %")
        ax_u.set_xlim(0, 100)
        ax_u.set_xlabel("utilisation %")
        ax_u.set_yticks(y, labels)
        ax_u.invert_yaxis()
        ax_u.set_title("Utilisation")

        ok = deployments["ttft_ok"]
        colors = [UNKNOWN_COLOR if pd.isna(v) else (OK_COLOR if v else MISS_COLOR) for v in ok]
        ax_t.barh(y, deployments["predicted_ttft_ms"], color=colors)
        slo = deployments["ttft_slo_ms"]
        if slo.notna().any():
            ax_t.scatter(slo, y, marker="|", s=400, color="#222222", linewidths=2, label="TTFT SLO", zorder=3)
        top = pd.concat([deployments["predicted_ttft_ms"], slo]).max()
        ax_t.set_xlim(0, (top if pd.notna(top) and top > 0 else 1) * 1.15)
        ax_t.set_xlabel("predicted TTFT ms (green: meets SLO, red: misses)")
        ax_t.set_title("Predicted TTFT vs SLO")
        # One legend for both panels, below the figure: constrained layout gives it its own row, so it cannot
        # run into the x-axis labels however few deployments there are.
        handles = [h for a in (ax_u, ax_t) for h in a.get_legend_handles_labels()[0]]
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, markerscale=0.4)
        return _to_svg(fig, "slo", "Utilisation per deployment and predicted TTFT against each workload's SLO")


def periods_svg(periods: pd.DataFrame) -> str | None:
    """GPUs by offer per period (stacked) with the hourly cost on a second axis."""
    if periods.empty:
        return None
    offer_cols = [c for c in periods.columns if c.startswith("gpus_")]
    x = list(range(len(periods)))
    with _style("periods"):
        fig = _figure(9.0, 3.4)
        ax = fig.add_subplot()
        bottom = [0] * len(periods)
        for i, c in enumerate(offer_cols):
            ax.bar(x, periods[c], bottom=bottom, color=_OFFER_COLORS[i % len(_OFFER_COLORS)], label=c[5:])
            bottom = [b + v for b, v in zip(bottom, periods[c])]
        ax.set_ylabel("GPUs")
        _sparse_ticks(ax, [str(p) for p in periods["period"]])
        ax2 = ax.twinx()
        ax2.plot(x, periods["usd_per_hour"], color="#222222", marker=".", label="USD/h")
        ax2.set_ylabel("USD per hour")
        ax2.set_ylim(0, periods["usd_per_hour"].max() * 1.2 or 1)
        ax2.spines["right"].set_visible(True)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        fig.legend(h1 + h2, l1 + l2, loc="outside right upper", fontsize=8)
        ax.set_ylim(0, max(bottom) * 1.15 or 1)
        ax.set_title("Fleet and cost per period")
        return _to_svg(fig, "periods", "GPUs by offer and hourly cost for each period")


# --------------------------------------------------------------------------- what-if and forecast


TARGET_AXIS = "policy.spot.availability_target"


def attainment_limits(values: list[float], targets: list[float]) -> tuple[float, float]:
    """The attainment axis: from a floor below both the lowest point and the target, by half the distance from
    that low to 100 % (at least 0.1 point), up to just above 100 %. A dip from 99.95 % to 99.45 % against a 99 %
    target then reads as the small thing it is, and the target is always on the chart."""
    low = min([*values, *targets], default=99.0)
    floor = max(0.0, low - max(0.5 * (100.0 - low), 0.1))
    return floor, 100.0 + 0.04 * (100.0 - floor)


def whatif_svg(whatif: pd.DataFrame, availability_target_pct: float | None = None) -> str | None:
    """Cost (left axis) and simulated SLA attainment (right axis) against the first swept value; one line per
    combination of the other swept values; the availability target as a dotted line (one per target when the
    target is itself swept)."""
    axes = whatif_axes(whatif)
    if whatif.empty or not axes:
        return None
    xcol, others = axes[0], axes[1:]
    groups = list(whatif.groupby(others, sort=False, dropna=False)) if others else [((), whatif)]
    targets: list[float] = []
    with _style("whatif"):
        fig = _figure(9.0, 3.6)
        ax = fig.add_subplot()
        ax2 = ax.twinx()
        ax2.spines["right"].set_visible(True)
        for i, (key, grp) in enumerate(groups):
            grp = grp.sort_values(xcol)
            key = key if isinstance(key, tuple) else (key,)
            suffix = ", ".join(f"{o.rsplit('.', 1)[-1]}={k}" for o, k in zip(others, key))
            color = _OFFER_COLORS[i % len(_OFFER_COLORS)]
            ax.plot(grp[xcol], grp["objective_usd_per_hour"], marker="o", color=color,
                    label="USD/h" + (f" ({suffix})" if suffix else ""))
            if grp["simulated_attainment_pct"].notna().any():
                ax2.plot(grp[xcol], grp["simulated_attainment_pct"], marker="s", linestyle="--", color=color,
                         alpha=0.7, label="attainment %" + (f" ({suffix})" if suffix else ""))
            if TARGET_AXIS in others:
                target = 100.0 * float(dict(zip(others, key))[TARGET_AXIS])
                ax2.axhline(target, color=color, linestyle=":", linewidth=1.2, label=f"target {target:g} %")
                targets.append(target)
        if xcol == TARGET_AXIS:
            xs = sorted(whatif[xcol].dropna())
            ax2.plot(xs, [100.0 * v for v in xs], color="#222222", linestyle=":", linewidth=1.2, label="target")
            targets += [100.0 * v for v in xs]
        elif TARGET_AXIS not in others and availability_target_pct is not None:
            ax2.axhline(availability_target_pct, color="#222222", linestyle=":", linewidth=1.2,
                        label=f"availability target {availability_target_pct:g} %")
            targets.append(availability_target_pct)
        ax.set_xlabel("interruption rate per node-hour" if xcol == "interruption_rate" else xcol)
        ax.set_ylabel("USD per hour")
        _thousands(ax.yaxis)
        ax.set_ylim(bottom=0, top=max(1.0, float(whatif["objective_usd_per_hour"].max(skipna=True) or 0)) * 1.15)
        ax2.set_ylabel("simulated SLA attainment %")
        ax2.set_ylim(*attainment_limits(list(whatif["simulated_attainment_pct"].dropna()), targets))
        from matplotlib.ticker import FuncFormatter
        ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2f}".rstrip("0").rstrip(".")))
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        fig.legend(h1 + h2, l1 + l2, loc="outside right upper", fontsize=8)
        ax.set_title("What-if: cost and simulated attainment")
        return _to_svg(fig, "whatif", f"Cost and simulated SLA attainment against {xcol}")


def forecast_svg(months: pd.DataFrame, commitments: pd.DataFrame) -> str | None:
    """Monthly cost stacked by market; a dashed line where each commitment starts."""
    if months.empty:
        return None
    x = list(range(len(months)))
    month_index = {m: i for i, m in enumerate(months["month"])}
    with _style("forecast"):
        fig = _figure(9.0, 3.8)
        ax = fig.add_subplot()
        bottom = [0.0] * len(months)
        for col, market in (("reserved_usd", "reserved"), ("on_demand_usd", "on_demand"), ("spot_usd", "spot")):
            vals = months[col].fillna(0.0)
            ax.bar(x, vals, bottom=bottom, color=MARKET_COLORS[market], label=market.replace("_", "-"))
            bottom = [b + v for b, v in zip(bottom, vals)]
        top = max(bottom) or 1.0
        for n, c in enumerate(commitments.itertuples()):
            if c.start_month not in month_index:
                continue
            xi = month_index[c.start_month] - 0.5
            ax.axvline(xi, color="#222222", linestyle="--", linewidth=1)
            ax.annotate(f"commit {c.nodes} × {c.offer}\n{c.term_months} months", (xi, top * (1.28 - 0.14 * (n % 2))),
                        xytext=(4, 0), textcoords="offset points", fontsize=8, va="top")
        _sparse_ticks(ax, [str(m) for m in months["month"]])
        ax.set_ylabel("USD per month")
        _thousands(ax.yaxis)
        ax.set_ylim(0, top * 1.35)
        # Below the chart, not beside it: the month labels need the width.
        fig.legend(loc="outside lower center", ncol=3, fontsize=8)
        ax.set_title("Forecast: monthly cost by market")
        return _to_svg(fig, "forecast", "Monthly cost stacked by market, with commitment start months marked")
