"""``plan init``: write a commented, valid scenario whose offers come from the offer catalog.

No questions asked: every input is a flag, the output is YAML on stdout (or ``--out``), and it is validated
before it is printed, so ``plan init ... | plan solve /dev/stdin`` works. Sizes that the flags do not give are
placeholders, marked as such in the comments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from planner.cli.common import guard

# Request sizes when the flags do not give them: round placeholders, flagged as such in the output, not estimates.
PLACEHOLDER_PROMPT_TOKENS = 1000
PLACEHOLDER_OUTPUT_TOKENS = 250

EPILOG = """Examples:

  plan init --model llama-3.1-70b --rate 300 --ttft-ms 1000 --providers aws,lambda > scenario.yaml

  plan init --model llama-3.1-8b --rate 60 --ttft-ms 500 --gpus l40s,h100-sxm --markets on_demand | plan solve /dev/stdin
"""


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _flow(items: list) -> str:
    """A YAML flow list (JSON is valid YAML; ids with '*' stay quoted)."""
    return json.dumps(items)


def scenario_yaml(*, model: str, rate: float, ttft_ms: float, tpot_ms: float | None, prompt_tokens: int,
                  output_tokens: int, providers: list[str], gpus: list[str], markets: list[str], regions: list[str],
                  max_nodes: int | None, name: str, schema_url: str | None,
                  placeholders: tuple[bool, bool] = (False, False)) -> str:
    """The scenario text ``plan init`` prints (validated by the caller)."""
    rows: list[tuple[str, str]] = []  # (YAML, comment); comments are aligned when joined
    if schema_url:
        rows.append((f"# yaml-language-server: $schema={schema_url}", ""))
    rows += [
        ("# Written by `plan init`. Offers are selected from fleetplan's offer catalog (`plan catalog offers`);", ""),
        ("# every catalog price carries its source and date. Check the placeholders, then run", ""),
        ("#   plan validate THIS_FILE    (lists the expanded offers)", ""),
        ("#   plan solve THIS_FILE", ""), ("", ""),
        (f"name: {json.dumps(name)}", "scenario name, shown in reports"), ("", ""),
        ("workloads:", "the demand"),
        (f"  - id: {json.dumps(model.split('/')[-1].lower())}", "your name for the workload"),
        (f"    model: {json.dumps(model)}", "catalog model id, alias or Hugging Face id (plan catalog models)"),
        (f"    requests_per_min: {rate:g}", "mean arrival rate, requests per minute"),
        (f"    prompt_tokens: {prompt_tokens}",
         "mean prompt length, tokens" + (" (placeholder: measure yours)" if placeholders[0] else "")),
        (f"    output_tokens: {output_tokens}",
         "mean output length, tokens" + (" (placeholder: measure yours)" if placeholders[1] else "")),
        (f"    ttft_slo_ms: {ttft_ms:g}", "time-to-first-token target, milliseconds (at p95)"),
    ]
    if tpot_ms is not None:
        rows.append((f"    tpot_slo_ms: {tpot_ms:g}", "time per output token target, milliseconds"))
    rows += [
        ("    precisions: [bf16, fp8]", "weight precisions you accept"), ("", ""),
        ("offers_from_catalog:", "one offer per matching catalog row and region, cheapest first"),
        (f"  providers: {_flow(providers)}", "provider ids" if providers else "[] = every provider"),
        (f"  gpus: {_flow(gpus)}", "GPU catalog ids" if gpus else "[] = every GPU the providers sell"),
        (f"  markets: {_flow(markets)}", "on_demand, spot, reserved"),
        (f"  regions: {_flow(regions)}", "region globs such as us-*" if regions else "[] = every region"),
    ]
    if max_nodes is not None:
        rows.append((f"  max_nodes: {max_nodes}", "availability cap per offer, nodes"))
    rows += [
        ("  # overrides:                        per-offer changes by expanded id, e.g. a negotiated price:", ""),
        ("  #   - {id: aws/p5.48xlarge/on_demand/us-east-1, price_usd_per_node_hour: 55.0, max_nodes: 2}", ""),
    ]
    width = max(len(code) for code, comment in rows if comment) + 2
    lines = [f"{code.ljust(width)}# {comment}" if comment else code for code, comment in rows]
    return "\n".join(lines) + "\n"


def register(app: typer.Typer) -> None:
    @app.command("init", epilog=EPILOG)
    @guard
    def init_cmd(
        model: str = typer.Option(..., "--model", help="model to serve: catalog id, alias or Hugging Face id"),
        rate: float = typer.Option(..., "--rate", min=0.000001, help="mean request rate, requests per minute"),
        ttft_ms: float = typer.Option(..., "--ttft-ms", min=0.001, help="time-to-first-token target, ms (p95)"),
        tpot_ms: Optional[float] = typer.Option(None, "--tpot-ms", min=0.001, help="time per output token target, ms"),
        prompt_tokens: Optional[int] = typer.Option(None, "--prompt-tokens", min=1,
                                                    help="mean prompt length, tokens (default: a 1000 placeholder)"),
        output_tokens: Optional[int] = typer.Option(None, "--output-tokens", min=1,
                                                    help="mean output length, tokens (default: a 250 placeholder)"),
        providers: str = typer.Option("", "--providers", help="comma-separated provider ids (default: all)"),
        gpus: str = typer.Option("", "--gpus", help="comma-separated GPU ids (default: every GPU offered)"),
        markets: str = typer.Option("on_demand,spot", "--markets", help="comma-separated markets"),
        regions: str = typer.Option("", "--regions", help="comma-separated region globs, e.g. 'us-*' (default: all)"),
        max_nodes: Optional[int] = typer.Option(8, "--max-nodes", min=0, help="availability cap per offer, nodes"),
        name: Optional[str] = typer.Option(None, "--name", help="scenario name (default: from the model)"),
        schema_url: Optional[str] = typer.Option(None, "--schema", help="add a yaml-language-server $schema line "
                                                                         "pointing here (see plan schema)"),
        out: Optional[Path] = typer.Option(None, "--out", help="write the scenario here instead of stdout"),
    ) -> None:
        """Write a commented scenario for one model, with offers selected from the catalog, ready for plan solve."""
        import yaml  # noqa: PLC0415

        from planner.errors import InputError  # noqa: PLC0415
        from planner.scenario.io import scenario_from_dict  # noqa: PLC0415

        text = scenario_yaml(model=model, rate=rate, ttft_ms=ttft_ms, tpot_ms=tpot_ms,
                             prompt_tokens=prompt_tokens or PLACEHOLDER_PROMPT_TOKENS,
                             output_tokens=output_tokens or PLACEHOLDER_OUTPUT_TOKENS,
                             placeholders=(prompt_tokens is None, output_tokens is None), providers=_list(providers), gpus=_list(gpus),
                             markets=_list(markets), regions=_list(regions), max_nodes=max_nodes,
                             name=name or f"{model.split('/')[-1].lower()}-from-catalog", schema_url=schema_url)
        scenario_from_dict(yaml.safe_load(text), name="plan init")  # refuse to print a scenario that would not load
        if out is None:
            typer.echo(text, nl=False)
            return
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{out}: cannot write ({exc.strerror})") from None
