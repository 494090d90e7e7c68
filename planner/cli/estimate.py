"""``plan estimate``: what one replica of a model on a GPU configuration can do (``planner.perf.estimate.estimate``).

Parse -> ``Catalog`` lookups -> ``estimate`` -> render. ``--all-gpus`` asks the same question for every
catalog GPU (fits, or the reason it does not). ``--explain`` adds every roofline term with its unit.
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
from planner.errors import InputError


class EstimateFormat(str, Enum):
    table = "table"
    json = "json"


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
        t.add_row(*(Text(x) for x in (
            gpu_id, "yes" if est.fits else "no", _fmt(est.weights_gib_per_gpu), _fmt(est.max_concurrency),
            _fmt(est.tpot_ms) if est.fits else "-", _fmt(est.ttft_ms) if est.fits else "-",
            _fmt(est.output_tokens_per_s), _fmt(est.requests_per_min), est.reason or "")))
    _console().print(t)


def register(app: typer.Typer) -> None:
    @app.command("estimate", help=_HELP, epilog=_EPILOG)
    @guard
    def estimate_cmd(
        model: str = typer.Option(..., "--model", "-m", help="Catalog model id, alias or Hugging Face id.",
                                  show_default=False),
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
        fmt: EstimateFormat = typer.Option(EstimateFormat.table, "--format", "-f", help="table or json."),
        explain: bool = typer.Option(False, "--explain", help="Also print every roofline term with its unit."),
    ) -> None:
        from planner.perf.calibration import load_calibration  # noqa: PLC0415
        from planner.catalog import Catalog  # noqa: PLC0415
        from planner.perf.estimate import estimate  # noqa: PLC0415

        if (gpu is None) == (not all_gpus):
            raise InputError("give exactly one of --gpu GPU or --all-gpus")
        if all_gpus and mig_profile is not None:
            raise InputError("--mig-profile names a profile of one GPU; use it with --gpu, not --all-gpus")
        cat = Catalog.builtin()
        m = cat.model(model)
        cal = load_calibration(calibration) if calibration is not None else None
        kwargs = dict(tp=tp, precision=precision, kv_dtype=kv_dtype, engine=engine, prompt_tokens=prompt_tokens,
                      output_tokens=output_tokens, context_tokens=context_tokens, concurrency=concurrency,
                      ttft_slo_ms=ttft_slo_ms, tpot_slo_ms=tpot_slo_ms, ttft_percentile=ttft_percentile,
                      price_usd_per_hour=price_usd_per_hour, calibration=cal)
        if all_gpus:
            rows = [(g.id, estimate(m, g, mig_profile=None, **kwargs)) for g in cat.gpus.values()]
            if fmt is EstimateFormat.json:
                typer.echo(json.dumps([{"gpu": gid, **e.to_json(include_terms=explain)} for gid, e in rows], indent=2))
            else:
                _render_all(f"{m.id} {precision} tp={tp} {engine}, {prompt_tokens}/{output_tokens} tokens", rows)
            return
        g = cat.gpu(gpu)
        est = estimate(m, g, mig_profile=mig_profile, **kwargs)
        if fmt is EstimateFormat.json:
            typer.echo(json.dumps(est.to_json(include_terms=explain), indent=2))
            return
        where = f"MIG {mig_profile}" if mig_profile else f"tp={tp}"
        _render_one(f"{m.id} on {g.id} ({where}, {precision}, {engine}), {prompt_tokens}/{output_tokens} tokens",
                    est, explain)
