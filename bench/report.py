"""Results as tables (data first), rendered to the terminal with rich and to docs/BENCHMARKS.md; the scaling plot."""

from __future__ import annotations

from pathlib import Path

from bench.timing import BUILD_SHARE_TARGET, TARGETS_S, Row

Table = tuple[list[str], list[list[str]]]  # headers, rows of cells


def _s(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _usd(x: float | None) -> str:
    return "–" if x is None else f"{x:,.2f}"


def _gap(g: float | None) -> str:
    return "–" if g is None else f"{100 * g:.2f} %"


def speed_table(rows: list[Row]) -> Table:
    head = ["size", "backend", "W×O×T", "options kept", "vars", "rows", "nonzeros", "options s", "build s",
            "solve s", "e2e s", "build / e2e", "status", "gap", "e2e status", "limit s", "n"]
    body = []
    for r in rows:
        share = r.build_share
        body.append([r.size, r.backend, f"{r.workloads}×{r.offers}×{r.periods}", str(r.deployments),
                     f"{r.variables:,}", f"{r.constraints:,}", f"{r.nonzeros:,}", _s(r.options_s), _s(r.build_s),
                     _s(r.solve_s), _s(r.e2e_s), _pct(share), r.status, _gap(r.gap), r.e2e_status or "–",
                     f"{r.time_limit_s:g}", str(r.repeats)])
    return head, body


def targets_table(rows: list[Row], default_backend: str) -> Table:
    head = ["size", "target", "measured e2e (default backend)", "status", "met?", "build share ≤ 20 %?"]
    body = []
    for size, limit in TARGETS_S.items():
        r = next((x for x in rows if x.size == size and x.backend == default_backend), None)
        if r is None:
            body.append([size, f"optimal in < {limit:g} s", "not run", "–", "–", "–"])
            continue
        ok = r.e2e_s is not None and r.e2e_s < limit and r.e2e_status == "optimal"
        share = r.build_share
        measured = f"{_s(r.e2e_s)} s" if r.e2e_s else f"not run; options + build alone {_s(r.options_s + r.build_s)} s"
        body.append([size, f"optimal in < {limit:g} s", measured, r.e2e_status or r.status,
                     "yes" if ok else "**no**", "–" if share is None else
                     ("yes" if share <= BUILD_SHARE_TARGET else f"**no** ({_pct(share)})")])
    return head, body


def quality_table(results) -> Table:
    from bench.baselines import BASELINE_KINDS  # noqa: PLC0415

    head = ["scenario", "fleetplan USD/h"] + [k for k in BASELINE_KINDS]
    body = []
    for q in results:
        cells = [q.scenario, f"{_usd(q.optimum.usd_per_hour)}" + ("" if q.optimum.status == "optimal"
                                                                   else f" ({q.optimum.status})")]
        for kind in BASELINE_KINDS:
            b = next((x for x in q.baselines if x.name.startswith(kind)), None)
            if b is None:
                cells.append("–")
            elif b.usd_per_hour is None:
                cells.append(b.status)
            else:
                pick = b.name[b.name.find("(") + 1:-1] + ": " if "(" in b.name else ""
                cells.append(f"{pick}{_usd(b.usd_per_hour)} (−{_pct(b.saving)})" if b.saving is not None
                             else f"{pick}{_usd(b.usd_per_hour)}")
        body.append(cells)
    return head, body


def quality_notes(results) -> list[str]:
    """One line per baseline that could not be computed, with the reason (infeasible, n/a)."""
    out = []
    for q in results:
        for b in q.baselines:
            if b.usd_per_hour is None and b.detail:
                out.append(f"{q.scenario}: {b.name}: {b.status} ({b.detail})")
    return out


def summary_table(rows: list[dict]) -> Table:
    head = ["baseline", "scenarios compared", "mean saving", "min", "max"]
    return head, [[r["baseline"], f"{r['n']} of {r['of']}", _pct(r["mean"]), _pct(r["min"]), _pct(r["max"])]
                  for r in rows]


def hot_table(hots, wall: float) -> Table:
    head = ["function", "own s", "own share", "cumulative s", "cum. share", "calls"]
    return head, [[f"`{h.function}`", _s(h.own_s), _pct(h.own_share), _s(h.cum_s), _pct(h.cum_share),
                   f"{h.calls:,}"] for h in hots]


# --------------------------------------------------------------------------- renderers


def rich_table(t: Table, title: str):
    from rich.table import Table as RichTable  # noqa: PLC0415

    head, body = t
    rt = RichTable(title=title, show_lines=False)
    for h in head:
        rt.add_column(h, overflow="fold")
    for row in body:
        rt.add_row(*[c.replace("**", "") for c in row])
    return rt


def markdown_table(t: Table) -> str:
    head, body = t
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines)


def scaling_plot(rows: list[Row], path: Path) -> None:
    """log-log: seconds against the number of variables. The S-M-L-XL series are joined per stage and backend;
    the forecast and the diagnostic sizes are single labelled points."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    series = ("S", "M", "L", "XL")
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    markers = {"cbc": "o", "highs": "s", "scip": "^", "cpsat": "D"}
    done = [r for r in rows if r.variables > 0 and r.status not in ("pending", "skipped")]
    solved = [r for r in done if r.status not in ("not solved", "out of memory")]
    for b in sorted({r.backend for r in solved}):
        pts = sorted((r for r in solved if r.backend == b and r.size in series), key=lambda r: r.variables)
        if pts:
            ax.plot([r.variables for r in pts], [max(r.solve_s, 1e-3) for r in pts], marker=markers.get(b, "o"),
                    label=f"cost solve ({b})")
        e2e = [(r.variables, r.e2e_s) for r in pts if r.e2e_s]
        if e2e:
            ax.plot(*zip(*e2e), marker=markers.get(b, "o"), linestyle="--", alpha=0.6, label=f"end to end ({b})")
    by_size: dict[str, Row] = {}
    for r in done:
        by_size.setdefault(r.size, r)
    main = sorted((r for r in by_size.values() if r.size in series), key=lambda r: r.variables)
    ax.plot([r.variables for r in main], [max(r.options_s, 1e-3) for r in main], color="black", marker="x",
            label="options (performance table)")
    ax.plot([r.variables for r in main], [max(r.build_s, 1e-3) for r in main], color="gray", marker="+",
            label="build (integer program)")
    for r in by_size.values():
        status = next((x for x in done if x.size == r.size and x.backend == "cbc"), r)
        tag = r.size + ("" if status.status == "optimal" else f": {status.status}"
                        + (f" {_gap(status.gap)}" if status.gap else ""))
        y = max(status.e2e_s or status.solve_s or r.build_s, 1e-3)
        if r.size not in series:
            ax.scatter([r.variables], [y], marker="*", s=80, color="purple", zorder=3)
        ax.annotate(tag, (r.variables, y), fontsize=7, xytext=(4, 5), textcoords="offset points")
    first = True
    for size, limit in TARGETS_S.items():
        r = by_size.get(size)
        if r is not None:
            ax.scatter([r.variables], [limit], marker="_", s=400, color="red", zorder=3,
                       label="end-to-end target" if first else None)
            first = False
    ax.scatter([], [], marker="*", color="purple", label="forecast / diagnostic sizes (end to end)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("variables in the cost problem")
    ax.set_ylabel("seconds (median, wall clock)")
    ax.set_title("fleetplan: time against problem size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
