"""``offers_from_catalog``: selectors that expand into concrete offers from the shipped offer catalog.

A selector names providers, region globs, GPUs, markets (and optionally node sizes, a minimum confidence and id
globs to exclude); every catalog row (``planner/catalog/offers.csv``) that matches all of them becomes one offer
per matching region, with the id ``provider/instance_type/market/region`` (``aws/p5.48xlarge/spot/us-east-2``).
An empty or missing criterion matches everything.

Expansion is deterministic: offers come out cheapest USD per GPU-hour first, ties broken by offer id (string
order), whatever the order of the catalog file or of the regions in a row; several selectors are expanded in the order written and concatenated.

Each expanded offer carries the row's price, node size, ``source`` (with the row's price note) and ``as_of``;
spot offers get ``interruption_rate_per_hour`` from the row's bucket (``planner.catalog.offers.rate_per_hour``)
and the pool ``provider/region`` (spot preemptions are correlated within a provider's region, so one region of
one provider is one failure domain); reserved offers get ``term_months`` and ``upfront_usd_per_node``.
``max_nodes`` of the selector applies to every offer; ``overrides`` change ``price_usd_per_node_hour``,
``max_nodes`` or ``owned_nodes`` of one offer by id.

A selector that matches nothing is an error naming the nearest rows (those failing the fewest criteria), and an
override or exclude naming no expanded offer is an error with a "did you mean".
"""

from __future__ import annotations

import fnmatch
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.catalog import Catalog
from planner.catalog.offers import CONFIDENCE_RANK, OfferRow, builtin_offers, region_matches, sort_key
from planner.errors import CatalogError
from planner.suggest import did_you_mean

Market = Literal["on_demand", "spot", "reserved"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class OfferOverride(_Strict):
    """A change to one expanded offer, by id."""

    id: str = Field(min_length=1, description="an expanded offer id, e.g. aws/p5.48xlarge/spot/us-east-2")
    price_usd_per_node_hour: float | None = Field(None, gt=0, description="your negotiated price, USD per node-hour")
    max_nodes: int | None = Field(None, ge=0, description="availability cap for this offer, nodes")
    owned_nodes: int | None = Field(None, ge=0, description="reserved nodes already paid for, nodes")


class OfferSelector(_Strict):
    """Which catalog rows become offers: every criterion must match; an empty list matches everything."""

    providers: tuple[str, ...] = Field((), description="provider ids (aws, gcp, azure, lambda, ...)")
    regions: tuple[str, ...] = Field((), description="region globs, e.g. us-*")
    gpus: tuple[str, ...] = Field((), description="GPU catalog ids or aliases")
    markets: tuple[Market, ...] = Field((), description="on_demand, spot, reserved")
    gpus_per_node: tuple[int, ...] = Field((), description="node sizes to keep, GPUs")
    min_confidence: Literal["low", "medium", "high"] = Field("low", description="drop rows below this confidence")
    exclude: tuple[str, ...] = Field((), description="offer-id globs to drop, e.g. */gpu_1x_*")
    max_nodes: int | None = Field(None, ge=0, description="availability cap for every offer, nodes")
    recovery_minutes: float | None = Field(None, ge=0, description="spot offers: minutes to replace a reclaimed node")
    interruption_rate_per_hour: float | None = Field(
        None, ge=0, le=10, description="spot offers: reclaims per node-hour, replacing the catalog bucket's rate")
    overrides: tuple[OfferOverride, ...] = Field((), description="per-offer changes, by expanded id")


class SelectionError(ValueError):
    """A selector that cannot be expanded; ``path`` is the field of the scenario at fault."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


def _criteria(sel: OfferSelector, gpus: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [("providers", lambda r: not sel.providers or r.provider in sel.providers),
            ("gpus", lambda r: not gpus or r.gpu in gpus),
            ("markets", lambda r: not sel.markets or r.market in sel.markets),
            ("gpus_per_node", lambda r: not sel.gpus_per_node or r.gpus_per_node in sel.gpus_per_node),
            ("min_confidence", lambda r: CONFIDENCE_RANK[r.confidence] >= CONFIDENCE_RANK[sel.min_confidence]),
            ("regions", lambda r: any(region_matches(reg, sel.regions) for reg in r.regions))]


def _nearest(rows: tuple[OfferRow, ...], criteria: list[tuple[str, Any]], n: int = 3) -> str:
    """The rows failing the fewest criteria, each with what it misses."""
    scored = []
    for r in rows:
        missed = [name for name, ok in criteria if not ok(r)]
        scored.append((len(missed), sort_key(r), r, missed))
    scored.sort(key=lambda t: (t[0], t[1]))
    return "; ".join(f"{r.id} (gpu {r.gpu}, {r.gpus_per_node} per node; differs in {', '.join(m)})"
                     for _, _, r, m in scored[:n])


def _offer(row: OfferRow, region: str, sel: OfferSelector) -> dict[str, Any]:
    note = f" [{row.price_note}]" if row.price_note else ""
    offer: dict[str, Any] = {
        "id": row.offer_id(region), "gpu": row.gpu, "market": row.market,
        "price_usd_per_node_hour": row.price_usd_per_node_hour, "gpus_per_node": row.gpus_per_node,
        "region": region, "source": f"{row.source}{note}; confidence {row.confidence}", "as_of": row.as_of,
    }
    if sel.max_nodes is not None:
        offer["max_nodes"] = sel.max_nodes
    if row.market == "spot":
        offer["interruption_rate_per_hour"] = (row.interruption_rate_per_hour if sel.interruption_rate_per_hour is None
                                               else sel.interruption_rate_per_hour)
        offer["pool"] = f"{row.provider}/{region}"
        if sel.recovery_minutes is not None:
            offer["recovery_minutes"] = sel.recovery_minutes
    if row.market == "reserved":
        offer["term_months"] = row.term_months
        if row.upfront_usd:
            offer["upfront_usd_per_node"] = row.upfront_usd
    return offer


def expand_selector(sel: OfferSelector, path: str, rows: tuple[OfferRow, ...] | None = None,
                    catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """The offers (as scenario mappings) one selector stands for; ``SelectionError`` when it cannot expand."""
    rows = builtin_offers() if rows is None else rows
    cat = catalog or Catalog.builtin()
    providers = sorted({r.provider for r in rows})
    for i, p in enumerate(sel.providers):
        if p not in providers:
            raise SelectionError(f"{path}.providers[{i}]", f"unknown provider '{p}'{did_you_mean(p, providers)} "
                                 f"(providers: {', '.join(providers)})")
    gpus = []
    for i, g in enumerate(sel.gpus):
        try:
            gpus.append(cat.gpu(g).id)
        except CatalogError as exc:
            raise SelectionError(f"{path}.gpus[{i}]", str(exc)) from None
    criteria = _criteria(sel, tuple(gpus))
    matched = [r for r in rows if all(ok(r) for _, ok in criteria)]
    keyed = [((round(r.usd_per_gpu_hour, 9), r.offer_id(reg)), _offer(r, reg, sel))
             for r in matched for reg in r.regions if region_matches(reg, sel.regions)]
    offers = [o for _, o in sorted(keyed, key=lambda t: t[0])]
    for i, pattern in enumerate(sel.exclude):
        kept = [o for o in offers if not fnmatch.fnmatchcase(o["id"], pattern)]
        if len(kept) == len(offers):
            raise SelectionError(f"{path}.exclude[{i}]", f"'{pattern}' matches none of the {len(offers)} offers "
                                 f"selected{did_you_mean(pattern, [o['id'] for o in offers])}")
        offers = kept
    if not offers:
        raise SelectionError(path, "no catalog offer matches every criterion; nearest rows: "
                             + _nearest(rows, criteria) + " (plan catalog offers lists them all)")
    by_id = {o["id"]: o for o in offers}
    for i, ov in enumerate(sel.overrides):
        if ov.id not in by_id:
            raise SelectionError(f"{path}.overrides[{i}].id", f"'{ov.id}' is not one of the offers this selector "
                                 f"expands to{did_you_mean(ov.id, list(by_id))}")
        for field in ("price_usd_per_node_hour", "max_nodes", "owned_nodes"):
            value = getattr(ov, field)
            if value is not None:
                by_id[ov.id][field] = value
        if ov.price_usd_per_node_hour is not None:
            by_id[ov.id]["source"] = "override in the scenario (catalog: " + by_id[ov.id]["source"] + ")"
            by_id[ov.id]["as_of"] = None
    return offers


def expand_scenario_data(data: Any) -> Any:
    """The scenario mapping with ``offers_from_catalog`` expanded into ``offers`` (input left unchanged).

    Selectors that fail their own validation are left for the model to report with their field paths; a
    selector that validates but cannot expand raises ``SelectionError`` (a ``ValueError``).
    """
    if not isinstance(data, dict) or data.get("offers_from_catalog") is None:
        return data
    raw = data["offers_from_catalog"]
    raw_list = [raw] if isinstance(raw, dict) else raw
    out = dict(data)
    out["offers_from_catalog"] = raw_list
    if not isinstance(raw_list, list):
        return out
    try:
        selectors = [OfferSelector.model_validate(s) for s in raw_list]
    except ValidationError:
        return out  # reported with its field path by the model's own validation
    expanded = []
    for i, sel in enumerate(selectors):
        expanded += expand_selector(sel, f"offers_from_catalog[{i}]")
    explicit = data.get("offers") or []
    if isinstance(explicit, (list, tuple)):  # anything else is reported by the model as "must be a list"
        out["offers"] = list(explicit) + expanded
    return out
