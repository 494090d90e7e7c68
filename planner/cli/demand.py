"""``plan demand``: a request trace -> the scenario's ``workloads:`` block (rates, size mix, hourly profile)."""

from __future__ import annotations

import inspect
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from planner.cli.common import err_console, guard
from planner.cli.solve import write_text


class RateStatistic(str, Enum):
    mean = "mean"
    p50 = "p50"
    p90 = "p90"
    p95 = "p95"
    p99 = "p99"
    max = "max"


class ProfileKind(str, Enum):
    daily = "daily"
    weekly = "weekly"
    none = "none"


EXAMPLES = """
Examples:

  plan demand trace.parquet > workloads.yaml

  plan demand trace.parquet --scenario scenarios/chatbot.yaml --out scenario-from-trace.yaml

  plan demand BurstGPT_1.csv --model-map ChatGPT=llama-3.1-8b --model-map GPT-4=llama-3.1-70b
  --rate-statistic p99 --profile weekly --bucket-count 8

Accepted columns (any case/spacing): timestamp | time | created_at | TIMESTAMP (Azure) | Timestamp (BurstGPT);
prompt_tokens | input_tokens | ContextTokens | Request tokens; completion_tokens | output_tokens | GeneratedTokens |
Response tokens; optional model | endpoint | Model. See docs in planner/demand/columns.py.
"""


def demand_command(
    trace: Path = typer.Argument(..., help="Request trace: .csv, .tsv, .jsonl, .parquet (.gz for text)."),
    scenario: Optional[Path] = typer.Option(
        None, "--scenario", help="Base scenario: reuse its SLOs/offers and print the whole scenario with the "
                                 "trace's workloads."),
    bucket_count: int = typer.Option(6, "--bucket-count", min=1, max=64, help="Most size_mix buckets per workload."),
    rate_statistic: RateStatistic = typer.Option(RateStatistic.p95, "--rate-statistic",
                                                 help="Statistic of per-minute arrival counts planned for."),
    profile: ProfileKind = typer.Option(ProfileKind.daily, "--profile", help="Hourly profile: daily (24), weekly "
                                                                                "(168, Monday first) or none."),
    model: Optional[str] = typer.Option(None, "--model", help="Catalog model when the trace has no model column."),
    model_map: Optional[List[str]] = typer.Option(None, "--model-map", help="TRACE_NAME=CATALOG_ID (repeatable)."),
    key_column: Optional[str] = typer.Option(None, "--key-column", help="Column that names the model/endpoint."),
    ttft_slo_ms: Optional[float] = typer.Option(None, "--ttft-slo-ms", min=0.001,
                                                help="TTFT SLO of workloads not in --scenario (default 1000)."),
    chunk_rows: int = typer.Option(500_000, "--chunk-rows", min=1000, help="Rows read at a time (memory bound)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the YAML here instead of stdout."),
) -> None:
    """Turn a request trace into the scenario's workloads: rates, size mix and hourly profile per model.

    Per model/endpoint: the planned arrival rate (a statistic of per-minute counts), a size_mix of at most --bucket-count buckets (weighted k-means on log
    sizes) and an hourly profile. Reads in chunks: memory does not grow with the trace."""
    from planner.demand.accumulate import accumulate  # noqa: PLC0415
    from planner.demand.read import read_trace  # noqa: PLC0415
    from planner.demand.workloads import DemandSettings, render, summarise  # noqa: PLC0415
    from planner.errors import InputError  # noqa: PLC0415

    mapping = {}
    for item in model_map or []:
        name, sep, target = item.rpartition("=")
        if not sep or not name or not target:
            raise InputError(f"--model-map: expected TRACE_NAME=CATALOG_ID (got {item!r})")
        mapping[name] = target
    base = base_raw = None
    if scenario is not None:
        from planner.scenario.io import load_scenario  # noqa: PLC0415

        loaded = load_scenario(scenario)
        base, base_raw = loaded.scenario, loaded.raw
    settings = DemandSettings(bucket_count=bucket_count, rate_statistic=rate_statistic.value,
                              profile=None if profile is ProfileKind.none else profile.value,
                              model_map=mapping, model=model, ttft_slo_ms=ttft_slo_ms)
    stats = accumulate(read_trace(trace, chunk_rows=chunk_rows, key_column=key_column))
    demands = summarise(stats, settings, base=base)
    text, notes = render(demands, settings, trace.name, stats.rows, base, base_raw, scenario)
    for n in notes:
        err_console.print(f"note: {n}", markup=False)
    if out is not None:
        write_text(out, text)
    else:
        typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    app.command("demand", help=inspect.cleandoc(demand_command.__doc__ or "") + "\n" + EXAMPLES)(guard(demand_command))
