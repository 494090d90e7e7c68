"""``plan calibrate``: fit the performance model's constants to measurements and write them as YAML.

Parse -> ``planner.perf.measurements`` (rows -> cases) -> ``planner.perf.fit.fit`` -> render the error
before and after, by GPU and metric. A scenario uses the result through ``policy.calibration``.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich import box
from planner.cli.common import SafeConsole as Console  # escapes control characters from inputs
from rich.table import Table
from rich.text import Text

from planner.cli.common import guard, stdout_is_terminal


class CalibrateFormat(str, Enum):
    table = "table"
    json = "json"


_HELP = (
    "Fit the performance model's efficiency constants and engine/GPU factors to measurements.\n\n"
    "MEASUREMENTS.csv uses the columns of measured-public.csv (gpu, gpu_count, tp, model, precision, engine, "
    "batch_or_concurrency, input_len, output_len, scenario, metric, value, ...). Rows the model cannot express "
    "are listed with the reason. Prints the median absolute % error by GPU and metric before and after.\n\n"
    "A file in aiconfigurator's silicon layout (model_path, system, backend, isl, osl, batch_size, tp_size, "
    "silicon_ttft_ms, silicon_tpot_ms, ...; e.g. bench/data/silicon-dev.csv; an optional kv_cache_dtype column "
    "says which KV cache each run used, else vLLM's and SGLang's FP8 runs are read with an FP8 one, as the "
    "reference runs were taken) fits each engine's physical "
    "constants (per-request and per-step overheads, all-reduce latency, kernel and MoE speed, closed-loop "
    "phase) to TTFT and TPOT; constants the rows do not identify are left at their defaults."
)

_EPILOG = """Examples:

  plan calibrate bench/data/measured-public.csv

  plan calibrate bench/data/silicon-dev.csv --out calibration.yaml

  plan calibrate my-measurements.csv --out calibration.yaml

  plan calibrate my-measurements.csv --base calibration.yaml --out calibration-v2.yaml --format json

Then point a scenario at it (policy: calibration: calibration.yaml) or pass --calibration to plan estimate.
"""


def _console() -> Console:
    return Console(highlight=False, width=None if stdout_is_terminal() else 140)


def _by_gpu_metric(before, after) -> list[dict]:
    import pandas as pd  # noqa: PLC0415

    b, a = before.frame(), after.frame()
    if b.empty:
        return []
    b = b.assign(ape_after=a["ape_pct"])
    out = []
    for (gpu, group), g in b.groupby(["gpu", "group"], sort=True):
        out.append({"gpu": gpu, "metric": group, "rows": int(g["ape_pct"].notna().sum()),
                    "median_ape_pct_before": float(g["ape_pct"].median()),
                    "median_ape_pct_after": float(g["ape_after"].median())})
    for group, g in b.groupby("group", sort=True):
        out.append({"gpu": "all", "metric": group, "rows": int(g["ape_pct"].notna().sum()),
                    "median_ape_pct_before": float(g["ape_pct"].median()),
                    "median_ape_pct_after": float(g["ape_after"].median())})
    return [{k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in r.items()} for r in out]


def register(app: typer.Typer) -> None:
    @app.command("calibrate", help=_HELP, epilog=_EPILOG)
    @guard
    def calibrate_cmd(
        measurements: Path = typer.Argument(..., metavar="MEASUREMENTS.csv", show_default=False,
                                            help="Measurements in the measured-public.csv layout."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", show_default=False,
                                           help="Write the fitted calibration YAML here."),
        base: Optional[Path] = typer.Option(None, "--base", show_default=False,
                                            help="Start from this calibration YAML instead of the defaults."),
        fmt: CalibrateFormat = typer.Option(CalibrateFormat.table, "--format", "-f", help="table or json."),
        time_limit: float = typer.Option(120.0, "--time-limit", min=1.0, max=86400.0,
                                         help="Stop the fit after this many seconds and keep the best constants "
                                              "found (reported as not converged)."),
    ) -> None:
        from planner.perf.calibration import load_calibration, save_calibration  # noqa: PLC0415
        from planner.perf.fit import fit  # noqa: PLC0415
        from planner.catalog import Catalog  # noqa: PLC0415
        from planner.errors import InputError  # noqa: PLC0415
        from planner.perf.measurements import parse_rows, read_measurements  # noqa: PLC0415

        cat = Catalog.builtin()
        frame = read_measurements(measurements)
        if "silicon_ttft_ms" in frame.columns:
            _silicon(frame, measurements, cat, load_calibration(base) if base is not None else None, out, fmt,
                     time_limit)
            return
        cases, skipped = parse_rows(frame, cat)
        if not cases:
            raise InputError(f"{measurements}: no row the model can express ({len(skipped)} skipped: "
                             + "; ".join(sorted({s.reason for s in skipped})[:3]) + ")")
        start = load_calibration(base) if base is not None else None
        result = fit(cases, skipped, cat, start, time_limit_s=time_limit)
        if out is not None:
            save_calibration(result.calibration, out)
        table = _by_gpu_metric(result.before, result.after)
        if fmt is CalibrateFormat.json:
            typer.echo(json.dumps({
                "rows_used": len(cases), "rows_skipped": [s.__dict__ for s in skipped],
                "fitted": {k: {"before": v0, "after": v1} for k, (v0, v1) in result.fitted.items()},
                "error": table, "converged": result.success, "message": result.message,
                "out": None if out is None else str(out)}, indent=2, default=str))
            return
        c = _console()
        c.print(f"{measurements}: {len(cases)} rows used, {len(skipped)} skipped", markup=False)
        for s in skipped:
            c.print(f"  skipped row {s.row} ({s.gpu}, {s.model}, {s.metric}): {s.reason}", markup=False)
        t = Table(title="Fitted constants", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for col, just in (("constant", "left"), ("before", "right"), ("after", "right")):
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for k, (v0, v1) in result.fitted.items():
            t.add_row(Text(k), Text(f"{v0:.4g}"), Text(f"{v1:.4g}"))
        c.print(t)
        e = Table(title="Median absolute % error", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for col, just in (("GPU", "left"), ("metric", "left"), ("rows", "right"), ("before %", "right"),
                          ("after %", "right")):
            e.add_column(col, justify=just)  # type: ignore[arg-type]
        for r in table:
            e.add_row(*(Text(x) for x in (r["gpu"], r["metric"], str(r["rows"]),
                                           "-" if r["median_ape_pct_before"] is None else f"{r['median_ape_pct_before']:.1f}",
                                           "-" if r["median_ape_pct_after"] is None else f"{r['median_ape_pct_after']:.1f}")))
        c.print(e)
        if not result.success:
            c.print(f"warning: the optimiser did not converge ({result.message})", markup=False)
        if out is not None:
            c.print(f"wrote {out}", markup=False)


def _silicon(frame, path: Path, cat, base, out: Optional[Path], fmt: CalibrateFormat, time_limit: float) -> None:
    """Fit the engine constants to measured serving runs (TTFT and TPOT), per engine."""
    import numpy as np  # noqa: PLC0415

    from planner.errors import InputError  # noqa: PLC0415
    from planner.perf.calibration import prior_calibration, save_calibration  # noqa: PLC0415
    from planner.perf.silicon import parse_silicon, predict_frame  # noqa: PLC0415
    from planner.perf.silicon_fit import fit_all  # noqa: PLC0415

    cases, skipped = parse_silicon(frame, cat)
    if not cases:
        raise InputError(f"{path}: no run the model can express ({len(skipped)} skipped: "
                         + "; ".join(sorted({s.reason for s in skipped})[:3]) + ")")
    start = base or prior_calibration()
    cal, fits = fit_all(cases, cat, start, max_evals=30, time_limit_s=time_limit)
    if out is not None:
        save_calibration(cal, out)
    before, after = predict_frame(cases, cat, start), predict_frame(cases, cat, cal)
    rows = []
    for eng in sorted({c.engine for c in cases}):
        r = {"engine": eng}
        for tag, df in (("before", before), ("after", after)):
            g = df[(df["engine"] == eng) & df["ttft_pred_ms"].notna()]
            for m in ("ttft", "tpot"):
                e = np.abs(g[f"{m}_pred_ms"] / g[f"{m}_ms"] - 1.0) * 100
                r[f"{m}_median_ape_pct_{tag}"] = float(e.median()) if len(e) else None
        r["rows"] = int(after[(after["engine"] == eng) & after["ttft_pred_ms"].notna()].shape[0])
        rows.append(r)
    if fmt is CalibrateFormat.json:
        typer.echo(json.dumps({"rows_used": len(cases), "rows_skipped": len(skipped),
                               "fitted": {f.engine: f.values for f in fits}, "error": rows,
                               "converged": all(f.success for f in fits),
                               "message": "; ".join(f"{f.engine}: {f.message}" for f in fits),
                               "out": None if out is None else str(out)}, indent=2))
        return
    c = _console()
    c.print(f"{path}: {len(cases)} runs used, {len(skipped)} skipped "
            f"({sum('disaggregated' in s.reason for s in skipped)} disaggregated)", markup=False)
    t = Table(title="Fitted engine constants", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    keys = sorted({k for f in fits for k in f.values})
    for col in ("engine", "rows", *keys):
        t.add_column(col, justify="left" if col == "engine" else "right")
    for f in fits:
        t.add_row(Text(f.engine), Text(str(f.rows)), *(Text(f"{f.values[k]:.4g}" if k in f.values else "-")
                                                       for k in keys))
    c.print(t)
    e = Table(title="Median absolute % error (in-sample)", title_justify="left", box=box.SIMPLE_HEAD,
              pad_edge=False)
    for col in ("engine", "rows", "TTFT before", "TTFT after", "TPOT before", "TPOT after"):
        e.add_column(col, justify="left" if col == "engine" else "right")
    fmt1 = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for r in rows:
        e.add_row(Text(r["engine"]), Text(str(r["rows"])), Text(fmt1(r["ttft_median_ape_pct_before"])),
                  Text(fmt1(r["ttft_median_ape_pct_after"])), Text(fmt1(r["tpot_median_ape_pct_before"])),
                  Text(fmt1(r["tpot_median_ape_pct_after"])))
    c.print(e)
    for f in fits:
        if not f.success:
            c.print(f"warning: {f.engine}: the optimiser did not converge ({f.message})", markup=False)
    if out is not None:
        c.print(f"wrote {out}", markup=False)
