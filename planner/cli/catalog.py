"""``plan catalog``: show the built-in GPU, model and offer catalogs; import a model or SkyPilot prices.

Parse -> ``planner.catalog`` -> render. Tables show key columns; ``--format json`` prints every field of
every record, ``--format csv`` the same table pandas (or a spreadsheet) reads back.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any, Iterable

import typer
from rich import box
from planner.cli.common import SafeConsole as Console  # escapes control characters from inputs
from rich.table import Table

from planner.catalog import Catalog, catalog_frame, record_to_row
from planner.catalog.hf_config import model_from_hf_config
from planner.catalog.params import active_params, total_params
from planner.catalog.records import GpuSpec, ModelSpec
from planner.cli.common import guard, stdout_is_terminal
from reports.fit import Fit


class ListFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class ImportFormat(str, Enum):
    table = "table"
    json = "json"


catalog_app = typer.Typer(
    name="catalog",
    help="Show the GPU, model and offer catalogs; import a model (config.json) or prices (SkyPilot vms.csv).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)

_FORMAT_HELP = "table (key columns), json (every field) or csv (every field, pandas-readable)"


def register(app: typer.Typer) -> None:
    """Add the ``catalog`` sub-command group to the ``plan`` app."""
    app.add_typer(catalog_app, name="catalog")


# --------------------------------------------------------------------------- rendering helpers

def _console() -> Console:
    # Piped output gets a fixed 120-column layout instead of rich's 80-column fallback.
    return Console(highlight=False, width=None if stdout_is_terminal() else 120)


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _records_json(records: Iterable[Any]) -> str:
    return json.dumps([r.model_dump(mode="json") for r in records], indent=2)


def _gpu_table(gpus: Iterable[GpuSpec]) -> Table:
    t = Table(title="GPUs: VRAM GB as sold / GiB the driver reports; memory GB/s; dense tensor TFLOPS; "
                    "NVLink GB/s x group size", title_justify="left", box=box.SIMPLE_HEAD)
    for col, just in [("id", "left"), ("arch", "left"), ("GB", "right"), ("GiB", "right"),
                      ("mem GB/s", "right"), ("BF16", "right"), ("FP8", "right"), ("FP4", "right"),
                      ("NVLink", "right"), ("PCIe", "left"), ("MIG", "left"), ("confidence", "left")]:
        t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for g in gpus:
        link = f"{_num(g.nvlink_gbps)} x{g.nvlink_max_gpus}" if g.has_nvlink else "-"
        t.add_row(g.id, g.arch, _num(g.vram_gb), _num(g.vram_gib_usable, 1), _num(g.mem_bw_gbps),
                  _num(g.tflops_bf16), _num(g.tflops_fp8), _num(g.tflops_fp4), link, f"Gen{g.pcie_gen}",
                  "yes" if g.mig_supported else "-", g.confidence)
    return t


def _experts(m: ModelSpec) -> str:
    if not m.is_moe:
        return "-"
    shared = f"+{m.n_shared_experts}" if m.n_shared_experts else ""
    return f"{m.experts_per_token}{shared}/{m.n_routed_experts}"


# In a narrow terminal these columns go first, in this order, so no id or number is ever cut (reports.fit).
GPU_DROP_ORDER = ("confidence", "PCIe", "GiB", "arch", "FP4", "MIG")
MODEL_DROP_ORDER = ("hidden", "attn", "window", "heads q/kv", "layers", "context")


def _model_table(models: Iterable[ModelSpec], title: str = "Models") -> Table:
    t = Table(title=f"{title}: parameters in B computed from the architecture (published); "
                    "window = tokens x layers", title_justify="left", box=box.SIMPLE_HEAD)
    for col, just in [("id", "left"), ("attn", "left"), ("layers", "right"), ("hidden", "right"),
                      ("heads q/kv", "right"), ("experts", "right"), ("total", "right"),
                      ("active", "right"), ("context", "right"), ("window", "right")]:
        t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for m in models:
        total, active = total_params(m) / 1e9, active_params(m) / 1e9
        window = f"{m.sliding_window}x{m.sliding_window_layers}" if m.sliding_window else "-"
        t.add_row(m.id, m.attention, str(m.layers), str(m.hidden_size), f"{m.num_heads}/{m.num_kv_heads}",
                  _experts(m), f"{total:.2f} ({m.published_total_params_b:.4g})",
                  f"{active:.2f} ({m.published_active_params_b:.4g})", str(m.max_context), window)
    return t


def _record_table(m: ModelSpec) -> Table:
    t = Table(title=f"Imported model '{m.id}'", title_justify="left", show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value", overflow="fold")
    for key, value in record_to_row(m).items():
        if value is None or value == "" or (type(value) is int and value == 0):
            continue  # unset optional fields and zero MoE/MLA sizes
        t.add_row(key, str(value))
    t.add_row("total params (computed)", f"{total_params(m):,}")
    t.add_row("active params (computed)", f"{active_params(m):,}")
    return t


# --------------------------------------------------------------------------- commands


def _list(kind: str, fmt: "ListFormat") -> None:
    """Print one built-in catalog (``gpu`` or ``model``) as a table, JSON records or CSV."""
    cat = Catalog.builtin()
    records = cat.gpus.values() if kind == "gpu" else cat.models.values()
    if fmt is ListFormat.json:
        typer.echo(_records_json(records))
    elif fmt is ListFormat.csv:
        typer.echo(catalog_frame(kind, cat).to_csv(index=False), nl=False)
    else:
        _console().print(Fit.dropping(_gpu_table(records), GPU_DROP_ORDER) if kind == "gpu"
                         else Fit.dropping(_model_table(records), MODEL_DROP_ORDER))


@catalog_app.command("gpus", epilog="""Examples:

  plan catalog gpus

  plan catalog gpus --format json

  plan catalog gpus --format csv > gpus.csv
""")
@guard
def gpus_cmd(fmt: ListFormat = typer.Option(ListFormat.table, "--format", "-f", help=_FORMAT_HELP)) -> None:
    """List the built-in GPUs: memory, bandwidth, dense TFLOPS, interconnect, MIG, with sources in json/csv."""
    _list("gpu", fmt)


@catalog_app.command("models", epilog="""Examples:

  plan catalog models

  plan catalog models --format json

  plan catalog models --format csv > models.csv
""")
@guard
def models_cmd(fmt: ListFormat = typer.Option(ListFormat.table, "--format", "-f", help=_FORMAT_HELP)) -> None:
    """List the built-in models: architecture, computed vs published parameter counts, context, windows."""
    _list("model", fmt)


@catalog_app.command("import-model", epilog="""Examples:

  plan catalog import-model ./Llama-3.1-8B/config.json

  plan catalog import-model ~/models/my-finetune/config.json --id my-finetune-8b --format json

The JSON record can be pasted under a scenario's models: as spec, or point the scenario at the file
with hf_config.
""")
@guard
def import_model_cmd(
    path: str = typer.Argument(..., help="a Hugging Face config.json (or the folder holding it)"),
    model_id: str = typer.Option(None, "--id", help="catalog id for the model (default: from the config's "
                                                     "_name_or_path, else the file or folder name)"),
    fmt: ImportFormat = typer.Option(ImportFormat.table, "--format", "-f", help="table or json (the full record)"),
) -> None:
    """Read a local config.json: Llama (3, 4), Mistral, Mixtral, Qwen2/3 (MoE, VL, 3.5), DeepSeek-V3/V3.2, Kimi-K2,
    GLM-5, MiniMax-M2, gpt-oss, Gemma-2/3/4, Phi-3/4, MiMo, Step-3.7, Nemotron-H (Nemotron 3),
    Nemotron-NAS."""
    spec = model_from_hf_config(path, id=model_id)
    if fmt is ImportFormat.json:
        typer.echo(json.dumps(spec.model_dump(mode="json"), indent=2))
    else:
        _console().print(_record_table(spec))


# --------------------------------------------------------------------------- offers


class Market(str, Enum):
    on_demand = "on_demand"
    spot = "spot"
    reserved = "reserved"


def _split(values: list[str] | None) -> list[str]:
    """Repeated options and comma-separated lists alike: ``--gpu h100-sxm,l40s`` = ``--gpu h100-sxm --gpu l40s``."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _offer_table(rows: list[Any]) -> Table:
    t = Table(title="Offers: USD per node-hour and per GPU-hour (cheapest per GPU-hour first); "
                    "--format json|csv for sources and notes", title_justify="left", box=box.SIMPLE_HEAD)
    for col, just in [("provider", "left"), ("instance type", "left"), ("GPU", "left"), ("GPUs", "right"),
                      ("market", "left"), ("$/node-h", "right"), ("$/GPU-h", "right"), ("regions", "left"),
                      ("as of", "left"), ("confidence", "left")]:
        t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for r in rows:
        t.add_row(r.provider, r.instance_type, r.gpu, str(r.gpus_per_node), r.market_label,
                  f"{r.price_usd_per_node_hour:,.6g}", f"{r.usd_per_gpu_hour:,.3f}", ";".join(r.regions),
                  r.as_of, r.confidence)
    return t


def _print_offers(rows: list[Any], fmt: "ListFormat") -> None:
    from planner.catalog.offers import offers_frame, sort_key  # noqa: PLC0415

    rows = sorted(rows, key=sort_key)
    if fmt is ListFormat.json:
        frame = offers_frame(rows)
        typer.echo(frame.to_json(orient="records", indent=2))
    elif fmt is ListFormat.csv:
        typer.echo(offers_frame(rows).to_csv(index=False), nl=False)
    else:
        Console(highlight=False, width=None if stdout_is_terminal() else 220).print(_offer_table(rows))


@catalog_app.command("offers", epilog="""Examples:

  plan catalog offers --gpu h100-sxm

  plan catalog offers --provider aws,lambda --market spot --region 'us-*'

  plan catalog offers --format csv > offers.csv
""")
@guard
def offers_cmd(
    gpu: list[str] = typer.Option(None, "--gpu", help="GPU catalog id or alias (repeat or comma-separate)"),
    provider: list[str] = typer.Option(None, "--provider", help="provider id (repeat or comma-separate)"),
    market: list[Market] = typer.Option(None, "--market", help="on_demand, spot or reserved (repeatable)"),
    region: list[str] = typer.Option(None, "--region", help="region glob, e.g. 'us-*' (repeatable)"),
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", "-f", help=_FORMAT_HELP),
) -> None:
    """List the sourced offer catalog: instance prices by provider, market and region, with source and date."""
    from planner.catalog.offers import builtin_offers, filter_rows  # noqa: PLC0415
    from planner.errors import InputError  # noqa: PLC0415
    from planner.suggest import did_you_mean  # noqa: PLC0415

    rows = builtin_offers()
    cat = Catalog.builtin()
    gpus = [cat.gpu(g).id for g in _split(gpu)]
    providers = _split(provider)
    known = sorted({r.provider for r in rows})
    for p in providers:
        if p not in known:
            raise InputError(f"--provider: unknown provider '{p}'{did_you_mean(p, known)} (providers: {', '.join(known)})")
    chosen = filter_rows(rows, gpus=gpus, providers=providers, markets=[m.value for m in market or []],
                         regions=_split(region))
    _print_offers(chosen, fmt)


@catalog_app.command("import-skypilot", epilog="""Examples:

  plan catalog import-skypilot vms.csv --provider aws --as-of 2026-12-01 > aws-offers.csv

  plan catalog import-skypilot catalogs/v8/lambda/vms.csv --format table

The file is SkyPilot's published layout (skypilot-org/skypilot-catalog, catalogs/v*/<cloud>/vms.csv). The rows
come out in the columns of the built-in offer catalog (plan catalog offers --format csv).
""")
@guard
def import_skypilot_cmd(
    path: str = typer.Argument(..., help="a SkyPilot vms.csv"),
    provider: str = typer.Option(None, "--provider", help="provider id for the rows (default: the file's folder name)"),
    as_of: str = typer.Option(None, "--as-of", help="date the file was fetched, YYYY-MM-DD (default: today)"),
    fmt: ListFormat = typer.Option(ListFormat.csv, "--format", "-f", help="csv (offer-catalog columns), json or table"),
) -> None:
    """Turn SkyPilot's instance catalog (on-demand and spot prices per region) into offer-catalog rows."""
    import datetime as dt  # noqa: PLC0415
    import re  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from planner.catalog.skypilot import import_skypilot  # noqa: PLC0415
    from planner.cli.common import err_console  # noqa: PLC0415
    from planner.errors import InputError  # noqa: PLC0415

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if provider is None:   # the folder's name made into a provider id (catalogs/v8/Lambda_Cloud -> lambda-cloud)
        provider = re.sub(r"[^a-z0-9]+", "-", p.resolve().parent.name.lower()).strip("-") or "skypilot"
    provider = provider.lower()
    result = import_skypilot(text, provider=provider, as_of=as_of or dt.date.today().isoformat(), where=p.name,
                             path=str(p))
    skipped = ", ".join(f"{n} {why}" for why, n in result.skipped.items())
    err_console.print(f"{p}: {len(result.rows)} offer rows" + (f"; skipped {skipped}" if skipped else ""),
                      markup=False)
    _print_offers(result.rows, fmt)
