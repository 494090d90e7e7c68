"""``plan estimate``: what one replica of a model on a GPU configuration can do (``planner.perf.estimate.estimate``).

Parse -> ``Catalog`` lookups -> ``estimate`` -> render. ``--all-gpus`` asks the same question for every
catalog GPU (fits, or the reason it does not). ``--explain`` adds every roofline term with its unit.
``--batch FILE.csv`` evaluates one configuration per row (``planner.perf.batch``) and writes CSV or JSON;
``--simulate`` adds the discrete-event simulation of the same replica (``planner.perf.simulator``) next to the
analytic figures.
"""

from __future__ import annotations

import json
import os
import tempfile
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich import box
from planner.cli.common import SafeConsole as Console  # escapes control characters from inputs
from rich.table import Table
from rich.text import Text

from reports.fit import Fit, whole

from planner.cli.common import guard, stdout_is_terminal
from planner.errors import InputError


class EstimateFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


_HELP = (
    "Predict one replica: memory fit, KV capacity, TPOT, TTFT and requests/min.\n\n"
    "With --concurrency: at that many concurrent requests (closed loop). With --ttft-slo-ms / --tpot-slo-ms: "
    "at the largest concurrency meeting the SLOs (Poisson arrivals, TTFT at --ttft-percentile). With neither: "
    "the maximum-throughput point (as many requests as the KV cache and engine allow)."
)

_EPILOG = """Examples:

  plan estimate --model llama-3.1-8b --gpu h100-sxm

  plan estimate --model llama-3.1-70b --gpu h100-sxm --tp 4 --precision fp8 --ttft-slo-ms 500 --tpot-slo-ms 50

  plan estimate --model llama-3.1-8b --gpu a100-80gb --mig-profile 3g.40gb --concurrency 8 --explain

  plan estimate --model mixtral-8x7b --gpu l40s --tp 4 --engine trtllm --precision fp8 --format json

  plan estimate --model llama-3.1-70b --all-gpus --tp 8 --precision fp8

  plan estimate --model llama-3.1-8b --gpu h100 --price-usd-per-hour 2.5 --calibration calibration.yaml

  plan estimate --model llama-3.1-8b --gpu h100 --concurrency 32 --simulate

  plan estimate --model deepseek-r1 --gpu h200 --tp 1 --attention-dp 8 --expert-parallel 8 --precision fp8 --engine sglang

  plan estimate --batch configs.csv --format csv --out results.csv
    (columns: model, gpu, tp, precision, engine, prompt_tokens, output_tokens, concurrency;
     optional attention_dp, expert_parallel, kv_dtype; other columns are copied through)
"""

_ROWS = (
    ("fits", "fits", ""), ("reason", "reason", ""), ("weights_gib_per_gpu", "weights / GPU", "GiB"),
    ("kv_bytes_per_token_per_gpu", "KV / token / GPU", "bytes"), ("kv_capacity_tokens", "KV capacity", "tokens"),
    ("max_concurrency", "max concurrency", "sequences"), ("concurrency", "concurrency", "requests"),
    ("tpot_ms", "TPOT", "ms"), ("ttft_ms", "TTFT", "ms"), ("output_tokens_per_s", "output", "tokens/s"),
    ("requests_per_min", "requests", "per min"), ("bound", "decode bound", ""),
    ("usd_per_million_output_tokens", "cost", "USD / 1M output tokens"),
)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _console() -> Console:
    return Console(highlight=False, width=None if stdout_is_terminal() else 160)


def _render_one(title: str, est, explain: bool) -> None:
    c = _console()
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_column("unit")
    data = est.to_json()
    for key, label, unit in _ROWS:
        if key == "reason" and data[key] is None:
            continue
        t.add_row(Text(label), Text(_fmt(data[key])), Text(unit))
    c.print(t)
    if explain:
        e = Table(title="Roofline terms (per GPU unless named per replica)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
        e.add_column("term")
        e.add_column("value", justify="right")
        for k, v in est.terms.items():
            e.add_row(Text(k), Text(_fmt(float(v))))
        c.print(e)


def _render_all(title: str, rows: list[tuple[str, object]]) -> None:
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col, just in (("GPU", "left"), ("fits", "left"), ("weights GiB/GPU", "right"), ("max conc.", "right"),
                      ("TPOT ms", "right"), ("TTFT ms", "right"), ("tok/s", "right"), ("req/min", "right"),
                      ("reason", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for gpu_id, est in rows:
        t.add_row(*(whole(x) for x in (
            gpu_id, "yes" if est.fits else "no", _fmt(est.weights_gib_per_gpu), _fmt(est.max_concurrency),
            _fmt(est.tpot_ms) if est.fits else "-", _fmt(est.ttft_ms) if est.fits else "-",
            _fmt(est.output_tokens_per_s), _fmt(est.requests_per_min))), Text(est.reason or ""))
    # Ids and numbers never cut: narrower terminals drop the low-value columns first, and say so.
    _console().print(Fit.dropping(t, ("max conc.", "weights GiB/GPU", "tok/s"), where="--format json"))


def _write(text: str, out: Optional[Path]) -> None:
    """``text`` to stdout, or atomically to ``out`` (a temporary file in the same folder, then renamed)."""
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"--out {out}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"--out {out}: cannot write ({exc.strerror or exc})") from None


def _out_format(fmt: "EstimateFormat", out: Optional[Path]) -> "EstimateFormat":
    """--format as given; with --out and the default table, the format the file's extension names."""
    if out is not None and fmt is EstimateFormat.table:
        ext = out.suffix.lower().lstrip(".")
        if ext in ("csv", "json"):
            return EstimateFormat(ext)
        raise InputError(f"--out {out}: give --format csv or json (a table is for the terminal)")
    return fmt


def _run_batch(batch: Path, fmt: "EstimateFormat", out: Optional[Path], cal, ttft_percentile: float) -> None:
    from planner.perf.batch import OUTPUT, estimate_batch, read_batch, to_csv, to_json  # noqa: PLC0415

    header, rows = read_batch(batch)
    results = estimate_batch(rows, calibration=cal, ttft_percentile=ttft_percentile, base=batch.parent)
    if fmt is EstimateFormat.csv:
        _write(to_csv(header, results), out)
    elif fmt is EstimateFormat.json:
        _write(to_json(header, results), out)
    else:
        t = Table(title=f"{batch.name}: {len(results)} configurations", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
        shown = [c for c in ("model", "gpu", "tp", "precision", "engine", "concurrency") if c in header]
        for col in (*shown, *OUTPUT):
            t.add_column(col, justify="right" if col.endswith(("_ms", "_s", "_min")) else "left")
        for r in results:
            t.add_row(*(Text(_fmt(r.get(c))) for c in (*shown, *OUTPUT)))
        _console().print(t)


def _simulated(m, g, kwargs: dict, concurrency: Optional[int], est) -> dict:
    """The simulation of the same replica: closed loop at --concurrency, else open loop at the estimate's rate."""
    from planner.perf.simulator import simulate  # noqa: PLC0415

    keys = ("tp", "precision", "kv_dtype", "engine", "prompt_tokens", "output_tokens", "ttft_percentile", "calibration",
            "attention_dp", "expert_parallel")
    args = {k: kwargs[k] for k in keys if k in kwargs}
    if concurrency is not None:
        sim = simulate(m, g, concurrency=concurrency, **args)
    elif est.requests_per_min > 0:
        sim = simulate(m, g, rate_per_s=est.requests_per_min / 60.0, **args)
    else:
        return {"simulated": None, "reason": "the estimate serves nothing; nothing to simulate"}
    if isinstance(sim, str):
        return {"simulated": None, "reason": sim}
    return {"simulated": sim.to_json()}


def _render_side_by_side(est, sim: dict) -> None:
    t = Table(title="Analytic vs simulated (same step-time model)", title_justify="left", box=box.SIMPLE_HEAD,
              pad_edge=False)
    for col, just in (("quantity", "left"), ("analytic", "right"), ("simulated", "right"), ("unit", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    s = sim.get("simulated")
    if s is None:
        _console().print(Text(f"simulation: {sim.get('reason')}"))
        return
    rows = (("TTFT mean", est.terms.get("ttft_mean_ms"), s["ttft_mean_ms"], "ms"),
            (f"TTFT p{s['percentile']:g}", est.ttft_ms, s["ttft_p_ms"], "ms"),
            ("TPOT", est.tpot_ms, s["tpot_mean_ms"], "ms"),
            ("requests", est.requests_per_min, s["requests_per_min"], "per min"),
            ("output", est.output_tokens_per_s, s["output_tokens_per_s"], "tokens/s"))
    for label, a, b, unit in rows:
        t.add_row(Text(label), Text(_fmt(a)), Text(_fmt(b)), Text(unit))
    _console().print(t)
    _console().print(Text(f"simulated: {s['mode']} loop, {s['requests']:,} requests measured, {s['steps']:,} steps, "
                          f"mean decode batch {s['mean_batch']:.1f}, {s['preemptions']:,} preemptions"))


def register(app: typer.Typer) -> None:
    @app.command("estimate", help=_HELP, epilog=_EPILOG)
    @guard
    def estimate_cmd(
        model: Optional[str] = typer.Option(None, "--model", "-m", show_default=False,
                                            help="Catalog model id, alias or Hugging Face id."),
        gpu: Optional[str] = typer.Option(None, "--gpu", "-g", help="Catalog GPU id or alias.", show_default=False),
        all_gpus: bool = typer.Option(False, "--all-gpus", help="One row per catalog GPU instead of --gpu."),
        tp: int = typer.Option(1, "--tp", help="Tensor-parallel degree (power of two)."),
        mig_profile: Optional[str] = typer.Option(None, "--mig-profile", help="Run on one MIG instance, e.g. 3g.40gb.",
                                                  show_default=False),
        precision: str = typer.Option("bf16", "--precision", help="fp16, bf16, fp8, int8, int4 or fp4."),
        kv_dtype: str = typer.Option("auto", "--kv-dtype", help="auto, bf16, fp16 or fp8."),
        engine: str = typer.Option("vllm", "--engine", help="vllm, sglang or trtllm."),
        prompt_tokens: int = typer.Option(1000, "--prompt-tokens", help="Prompt tokens per request."),
        output_tokens: int = typer.Option(250, "--output-tokens", help="Output tokens per request."),
        context_tokens: Optional[int] = typer.Option(None, "--context-tokens", show_default=False,
                                                     help="KV tokens reserved per sequence (default prompt+output)."),
        concurrency: Optional[int] = typer.Option(None, "--concurrency", show_default=False,
                                                  help="Concurrent requests (closed loop); excludes the SLO flags."),
        ttft_slo_ms: Optional[float] = typer.Option(None, "--ttft-slo-ms", show_default=False,
                                                    help="TTFT SLO at --ttft-percentile, ms."),
        tpot_slo_ms: Optional[float] = typer.Option(None, "--tpot-slo-ms", show_default=False, help="TPOT SLO, ms."),
        ttft_percentile: float = typer.Option(95.0, "--ttft-percentile", help="Percentile the TTFT SLO applies to."),
        price_usd_per_hour: Optional[float] = typer.Option(None, "--price-usd-per-hour", show_default=False,
                                                           help="Price per GPU-hour (a MIG replica pays its c/7 share)."),
        calibration: Optional[Path] = typer.Option(None, "--calibration", show_default=False,
                                                   help="Calibration YAML written by 'plan calibrate'."),
        fmt: EstimateFormat = typer.Option(EstimateFormat.table, "--format", "-f",
                                           help="table, json, or csv (csv with --batch only)."),
        explain: bool = typer.Option(False, "--explain", help="Also print every roofline term with its unit."),
        batch: Optional[Path] = typer.Option(None, "--batch", show_default=False,
                                             help="CSV with one configuration per row (see the examples); "
                                                  "replaces --model/--gpu and the per-row flags."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", show_default=False,
                                           help="Write the csv/json output to this file instead of stdout."),
        simulate: bool = typer.Option(False, "--simulate",
                                      help="Also simulate the replica step by step (discrete-event) and show both."),
        attention_dp: int = typer.Option(1, "--attention-dp",
                                         help="Attention data-parallel ranks of --tp GPUs each (MoE serving)."),
        expert_parallel: int = typer.Option(1, "--expert-parallel",
                                            help="GPUs the routed experts are spread over (MoE models)."),
    ) -> None:
        from planner.perf.calibration import load_calibration  # noqa: PLC0415
        from planner.catalog import Catalog  # noqa: PLC0415
        from planner.perf.estimate import estimate  # noqa: PLC0415

        fmt = _out_format(fmt, out)
        cal = load_calibration(calibration) if calibration is not None else None
        if batch is not None:
            given = [flag for flag, v in (("--model", model), ("--gpu", gpu), ("--all-gpus", all_gpus or None),
                                          ("--mig-profile", mig_profile), ("--concurrency", concurrency),
                                          ("--ttft-slo-ms", ttft_slo_ms), ("--tpot-slo-ms", tpot_slo_ms),
                                          ("--simulate", simulate or None)) if v is not None]
            if given:
                raise InputError(f"--batch takes every configuration from the file; drop {', '.join(given)}")
            _run_batch(batch, fmt, out, cal, ttft_percentile)
            return
        if model is None:
            raise InputError("give --model MODEL (or --batch FILE.csv)")
        if fmt is EstimateFormat.csv:
            raise InputError("--format csv is for --batch; use table or json for one estimate")
        if (gpu is None) == (not all_gpus):
            raise InputError("give exactly one of --gpu GPU or --all-gpus")
        if all_gpus and mig_profile is not None:
            raise InputError("--mig-profile names a profile of one GPU; use it with --gpu, not --all-gpus")
        if simulate and (all_gpus or mig_profile is not None):
            raise InputError("--simulate runs one replica: use it with --gpu and without --mig-profile")
        cat = Catalog.builtin()
        m = cat.model(model)
        kwargs = dict(tp=tp, precision=precision, kv_dtype=kv_dtype, engine=engine, prompt_tokens=prompt_tokens,
                      output_tokens=output_tokens, context_tokens=context_tokens, concurrency=concurrency,
                      ttft_slo_ms=ttft_slo_ms, tpot_slo_ms=tpot_slo_ms, ttft_percentile=ttft_percentile,
                      price_usd_per_hour=price_usd_per_hour, calibration=cal)
        if attention_dp != 1 or expert_parallel != 1:
            from planner.perf.parallel import ep_dp_supported  # noqa: PLC0415

            if not ep_dp_supported():
                raise InputError("this version of the performance model has no --attention-dp/--expert-parallel")
            kwargs.update(attention_dp=attention_dp, expert_parallel=expert_parallel)
        if all_gpus:
            rows = [(g.id, estimate(m, g, mig_profile=None, **kwargs)) for g in cat.gpus.values()]
            if fmt is EstimateFormat.json:
                _write(json.dumps([{"gpu": gid, **e.to_json(include_terms=explain)} for gid, e in rows], indent=2), out)
            else:
                _render_all(f"{m.id} {precision} tp={tp} {engine}, {prompt_tokens}/{output_tokens} tokens", rows)
            return
        g = cat.gpu(gpu)
        est = estimate(m, g, mig_profile=mig_profile, **kwargs)
        sim = _simulated(m, g, kwargs, concurrency, est) if simulate and est.fits else None
        if simulate and not est.fits:
            sim = {"simulated": None, "reason": est.reason}
        if fmt is EstimateFormat.json:
            data = est.to_json(include_terms=explain)
            if sim is not None:
                data.update(sim)
            _write(json.dumps(data, indent=2), out)
            return
        where = f"MIG {mig_profile}" if mig_profile else f"tp={tp}"
        _render_one(f"{m.id} on {g.id} ({where}, {precision}, {engine}), {prompt_tokens}/{output_tokens} tokens",
                    est, explain)
        if sim is not None:
            _render_side_by_side(est, sim)
