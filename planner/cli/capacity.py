"""``plan capacity``: benchmark results (vLLM, GenAI-Perf, guidellm) -> capacity_overrides, measurement rows, a fit."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import List, Optional

import typer

from planner.cli.common import err_console, guard
from planner.cli.solve import write_text

capacity_app = typer.Typer(name="capacity", no_args_is_help=True, add_completion=False,
                           pretty_exceptions_enable=False,
                           help="Benchmark results (vLLM, GenAI-Perf, guidellm) as capacity overrides, measurements "
                                "or a checked fit.")

EXAMPLES = """
Examples:

  plan capacity import results/*.json --scenario scenarios/chatbot.yaml --gpu h100-sxm --tp 1 --precision bf16

  plan capacity rows vllm-c16.json guidellm.json --gpu l40s --tp 1 --precision fp8 --out measurements.csv
  (then: plan calibrate measurements.csv)

  plan capacity calibrate sweep/*.json --gpu h100-sxm --tp 1 --precision bf16 --out calibration.yaml
"""

_FILES = typer.Argument(..., help="Result files (JSON or GenAI-Perf CSV).")
_GPU = typer.Option(None, "--gpu", help="GPU of runs that do not record it (catalog id or name).")
_TP = typer.Option(None, "--tp", min=1, help="Tensor-parallel degree of runs that do not record it.")
_PREC = typer.Option(None, "--precision", help="Weight precision of runs that do not record it (bf16, fp8, ...).")
_ENGINE = typer.Option(None, "--engine", help="Serving engine (vllm, sglang, trtllm) of runs that do not record it.")
_MODEL = typer.Option(None, "--model", help="Catalog model, overriding the file's model name.")
_CONC = typer.Option(None, "--concurrency", min=1, help="Load of files that do not record it (GenAI-Perf CSV).")
_RATE = typer.Option(None, "--request-rate", min=0.0, help="Request rate (req/s) of files that do not record it.")


def _runs(files: List[Path], concurrency, request_rate):
    from planner.errors import InputError  # noqa: PLC0415
    from planner.perf.bench_import import read_runs  # noqa: PLC0415

    if concurrency is not None and request_rate is not None:
        raise InputError("--concurrency and --request-rate: give at most one (a run is closed or open loop)")
    load = ("concurrency", float(concurrency)) if concurrency else (("rate", request_rate) if request_rate else None)
    runs, bad = [], []
    for f in files:
        r, b = read_runs(f, load)
        runs += r
        bad += b
    return runs, bad


def _defaults(gpu, tp, precision, engine, model, mig_profile=None) -> dict[str, str]:
    d = {"gpu": gpu, "tp": None if tp is None else str(tp), "precision": precision, "engine": engine, "model": model,
         "mig_profile": mig_profile}
    return {k: v for k, v in d.items() if v}


def _report(bad) -> None:
    for u in bad:
        err_console.print(f"not used: {u.source}: {u.reason}", markup=False)


def import_command(
    files: List[Path] = _FILES,
    scenario: Path = typer.Option(..., "--scenario", help="Scenario whose workloads the runs measure."),
    gpu: Optional[str] = _GPU, tp: Optional[int] = _TP, precision: Optional[str] = _PREC,
    engine: Optional[str] = _ENGINE, model: Optional[str] = _MODEL,
    mig_profile: Optional[str] = typer.Option(None, "--mig-profile", help="MIG profile the runs used (e.g. 3g.40gb)."),
    concurrency: Optional[int] = _CONC, request_rate: Optional[float] = _RATE,
    tolerance: float = typer.Option(0.25, "--tolerance", min=0.0, max=1.0,
                                    help="Relative size difference at which a run still matches a bucket."),
    merge: bool = typer.Option(False, "--merge", help="Print the whole scenario with the overrides added."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the YAML here instead of stdout."),
) -> None:
    """Turn benchmark runs into the scenario's capacity_overrides.

    Per workload x GPU x precision x TP x size bucket, the highest achieved request rate among runs that meet the workload's TTFT (at its percentile or above) and TPOT
    SLOs; request-rate runs are preferred over closed-loop concurrency runs. Runs that cannot be used are listed on
    stderr with the reason."""
    import yaml  # noqa: PLC0415

    from planner.errors import InputError  # noqa: PLC0415
    from planner.perf.bench_import import capacity_overrides  # noqa: PLC0415
    from planner.scenario.io import load_scenario, scenario_from_dict  # noqa: PLC0415

    loaded = load_scenario(scenario)
    runs, bad = _runs(files, concurrency, request_rate)
    recs, bad2 = capacity_overrides(runs, loaded.scenario, loaded.catalog,
                                    _defaults(gpu, tp, precision, engine, model, mig_profile), tolerance)
    _report(bad + bad2)
    if not recs:
        raise InputError(f"{files[0]}: no run could become a capacity override ({len(bad + bad2)} not used; see above)")
    data = dict(loaded.raw)
    keep = [c for c in (data.get("capacity_overrides") or [])
            if not any(all(c.get(k) == r.get(k) for k in ("workload", "gpu", "precision", "tp", "prompt_tokens"))
                       for r in recs)]
    data["capacity_overrides"] = keep + recs
    scenario_from_dict(data, base_dir=scenario.parent, name=str(scenario))  # what we print must load
    body = data if merge else {"capacity_overrides": recs}
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=120)
    write_text(out, text) if out else typer.echo(text, nl=False)


def rows_command(
    files: List[Path] = _FILES,
    gpu: Optional[str] = _GPU, tp: Optional[int] = _TP, precision: Optional[str] = _PREC,
    engine: Optional[str] = _ENGINE, model: Optional[str] = _MODEL,
    concurrency: Optional[int] = _CONC, request_rate: Optional[float] = _RATE,
    out: Optional[Path] = typer.Option(None, "--out", help="Write the CSV here instead of stdout."),
) -> None:
    """Write the runs as measurement rows (the measured-public.csv layout) for plan calibrate.

    Closed-loop runs
    give output_tok_s, ttft_mean_ms and tpot_mean_ms at their concurrency; max-load runs give output_tok_s;
    request-rate runs are listed as not used (the model is calibrated on closed loops)."""
    import pandas as pd  # noqa: PLC0415

    from planner.errors import InputError  # noqa: PLC0415
    from planner.perf.bench_import import ROW_COLUMNS, measurement_rows  # noqa: PLC0415
    from reports.export import csv_text  # noqa: PLC0415 - text cells come from the user's files: neutralised

    runs, bad = _runs(files, concurrency, request_rate)
    rows, bad2 = measurement_rows(runs, _defaults(gpu, tp, precision, engine, model))
    _report(bad + bad2)
    if not rows:
        raise InputError(f"{files[0]}: no run could become a measurement row ({len(bad + bad2)} not used; see above)")
    text = csv_text(pd.DataFrame(rows, columns=list(ROW_COLUMNS)))
    write_text(out, text) if out else typer.echo(text, nl=False)


def calibrate_command(
    files: List[Path] = _FILES,
    gpu: Optional[str] = _GPU, tp: Optional[int] = _TP, precision: Optional[str] = _PREC,
    engine: Optional[str] = _ENGINE, model: Optional[str] = _MODEL,
    concurrency: Optional[int] = _CONC, request_rate: Optional[float] = _RATE,
    out: Optional[Path] = typer.Option(None, "--out", help="Write the fitted calibration YAML here."),
    force: bool = typer.Option(False, "--force", help="Fit even when the rows do not identify every constant (the "
                                                      "fit's prior then decides the unidentified ones)."),
) -> None:
    """Fit the performance model to benchmark runs, refusing constants the runs cannot identify.

    The plan calibrate path (rows -> cases -> fit), after
    checking that the rows identify every constant the fit would move (rank of the Jacobian of log predictions);
    refuses (exit 2) otherwise, naming the constants the rows can identify, unless --force. Prints the fitted constants and the error before/after as JSON."""
    import pandas as pd  # noqa: PLC0415

    from planner.catalog import Catalog  # noqa: PLC0415
    from planner.errors import InputError  # noqa: PLC0415
    from planner.perf.bench_import import ROW_COLUMNS, check_identifiable, measurement_rows  # noqa: PLC0415
    from planner.perf.calibration import save_calibration  # noqa: PLC0415
    from planner.perf.fit import fit  # noqa: PLC0415
    from planner.perf.measurements import parse_rows  # noqa: PLC0415

    runs, bad = _runs(files, concurrency, request_rate)
    rows, bad2 = measurement_rows(runs, _defaults(gpu, tp, precision, engine, model))
    _report(bad + bad2)
    cat = Catalog.builtin()
    cases, skipped = parse_rows(pd.DataFrame(rows, columns=list(ROW_COLUMNS)), cat)
    for s in skipped:
        err_console.print(f"not used: row {s.row} ({s.metric}): {s.reason}", markup=False)
    if not cases:
        raise InputError(f"{files[0]}: no run the model can express")
    if force:
        from planner.perf.bench_import import identifiability  # noqa: PLC0415

        rep = identifiability(cases, cat)
        if len(rep["keys"]) > rep["rank"]:
            err_console.print(f"warning: {rep['rows']} rows identify {rep['rank']} of {len(rep['keys'])} constants; "
                              "the others follow the prior (--force)", markup=False)
    else:
        rep = check_identifiable(cases, cat)
    result = fit(cases, skipped, cat)
    if out is not None:
        save_calibration(result.calibration, out)
    typer.echo(json.dumps({"rows_used": len(cases), "rank": rep["rank"],
                           "fitted": {k: {"before": a, "after": b} for k, (a, b) in result.fitted.items()},
                           "median_ape_pct_before": result.before.medians(),
                           "median_ape_pct_after": result.after.medians(),
                           "converged": result.success, "out": None if out is None else str(out)}, indent=2))


capacity_app.command("import", help=inspect.cleandoc(import_command.__doc__ or "") + "\n" + EXAMPLES)(guard(import_command))
capacity_app.command("rows", help=inspect.cleandoc(rows_command.__doc__ or "") + "\n" + EXAMPLES)(guard(rows_command))
capacity_app.command("calibrate", help=inspect.cleandoc(calibrate_command.__doc__ or "") + "\n" + EXAMPLES)(guard(calibrate_command))


def register(app: typer.Typer) -> None:
    app.add_typer(capacity_app, name="capacity")
