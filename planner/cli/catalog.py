"""``plan catalog``: show the built-in GPU and model catalogs, import a model from a config.json.

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


class ListFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class ImportFormat(str, Enum):
    table = "table"
    json = "json"


catalog_app = typer.Typer(
    name="catalog",
    help="Show the GPU and model catalogs; import a model from a Hugging Face config.json.",
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
        _console().print(_gpu_table(records) if kind == "gpu" else _model_table(records))


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
    model_id: str = typer.Option(None, "--id", help="catalog id for the model (default: from the config/folder name)"),
    fmt: ImportFormat = typer.Option(ImportFormat.table, "--format", "-f", help="table or json (the full record)"),
) -> None:
    """Read a local config.json (Llama, Mistral, Mixtral, Qwen2/3, Qwen3-MoE, DeepSeek-V3, Gemma-2/3, Phi-3/4)."""
    spec = model_from_hf_config(path, id=model_id)
    if fmt is ImportFormat.json:
        typer.echo(json.dumps(spec.model_dump(mode="json"), indent=2))
    else:
        _console().print(_record_table(spec))
