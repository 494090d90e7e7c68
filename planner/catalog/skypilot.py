"""Import SkyPilot's published instance catalogs (``vms.csv``) into offer-catalog rows.

SkyPilot's catalog files (skypilot-org/skypilot-catalog, ``catalogs/v*/<cloud>/vms.csv``, schema in that
repository's README) have one row per instance type and region (and availability zone, where the cloud has them)
with the columns ``InstanceType, AcceleratorName, AcceleratorCount, vCPUs, MemoryGiB, Price, SpotPrice, Region``
and optionally ``AvailabilityZone`` and ``GpuInfo``; column order differs between clouds, so columns are read by
name. Rows without a GPU we know, with a fractional or non-power-of-two GPU count (or more than 64), without a
price, or whose instance type or region is not a plain name (``PLAIN_NAME``: no spaces, control characters or ';')
are skipped and counted.

Per instance type and region: the on-demand price is the highest ``Price`` over its zones (they are normally
equal); the spot price is the highest ``SpotPrice`` over the zones that list one (conservative), and
``price_note`` records the range when zones differ. Regions with the same instance type, market and price are
merged into one row. Spot rows get ``interruption_bucket = unknown`` (the catalog has no interruption data).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

from planner.catalog import Catalog
from planner.catalog.offers import AS_OF_PATTERN, OfferRow
from planner.errors import CatalogError, InputError

REQUIRED_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region")
PROVIDER_PATTERN = r"[a-z0-9][a-z0-9-]*"   # ``OfferRow.provider``
# instance types and regions as the clouds spell them (p5.48xlarge, Standard_ND96asr_v4, BM.GPU.H100.8, us-east-1):
# no spaces, control characters, or the ';' that joins a row's regions
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+-]*")
MAX_GPUS_PER_NODE = 64   # the largest power of two ``OfferRow.gpus_per_node`` holds (<= 72, a GB200 NVL72 rack)

# SkyPilot accelerator names -> GPU catalog ids, where the name alone decides (A100 is the 40 GB card there).
ACCELERATOR_IDS = {
    "A10G": "a10g", "L4": "l4", "L40S": "l40s", "A100": "a100-40gb", "A100-80GB": "a100-80gb",
    "H100": "h100-sxm", "H100-MEGA": "h100-sxm", "H100-SXM": "h100-sxm", "H100-NVL": "h100-nvl", "H200": "h200",
    "B200": "b200", "B300": "b300", "RTX4090": "rtx-4090", "MI300X": "mi300x",
}
# Instance names that say PCIe turn an SXM id into its PCIe sibling.
PCIE_IDS = {"a100-40gb": "a100-40gb-pcie", "a100-80gb": "a100-80gb-pcie", "h100-sxm": "h100-pcie"}


@dataclass
class ImportResult:
    """Rows made, and how many source rows were skipped for which reason."""

    rows: list[OfferRow]
    skipped: dict[str, int] = field(default_factory=dict)


def _float(cell: str | None) -> float | None:
    try:
        value = float(cell) if cell not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


def gpu_id_for(accelerator: str, instance_type: str, catalog: Catalog) -> str | None:
    """The GPU catalog id of a SkyPilot accelerator name (None when the catalog has no such GPU)."""
    gid = ACCELERATOR_IDS.get(accelerator.strip())
    if gid is None:
        gid = catalog.gpu(accelerator).id if catalog.has(accelerator, "gpu") else None
    if gid is not None and "pcie" in instance_type.lower():
        gid = PCIE_IDS.get(gid, gid)
    return gid


def import_skypilot(text: str, *, provider: str, as_of: str, where: str = "vms.csv",
                    catalog: Catalog | None = None, path: str | None = None) -> ImportResult:
    """Offer rows from the text of one SkyPilot ``vms.csv``; ``CatalogError`` naming the file on bad layout,
    ``InputError`` for a provider id or date the offer catalog cannot hold. ``where``: the file's name in the rows'
    ``source``; ``path``: the file as the user gave it, for errors (default ``where``)."""
    if not re.fullmatch(PROVIDER_PATTERN, provider):
        raise InputError(f"--provider {provider!r}: a provider id is lowercase letters, digits and '-', starting "
                         "with a letter or digit (e.g. aws, lambda, my-cloud)")
    if not re.fullmatch(AS_OF_PATTERN, as_of):
        raise InputError(f"--as-of {as_of!r}: expected the date the file was fetched, YYYY-MM-DD (or YYYY-MM, YYYY, "
                         "YYYY-Q1..Q4, YYYY-H1/H2)")
    cat = catalog or Catalog.builtin()
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CatalogError(f"{path or where}: not a SkyPilot vms.csv: missing column(s) {', '.join(missing)} "
                           f"(got {', '.join(header) or 'no header'})")
    skipped: dict[str, int] = defaultdict(int)
    shapes: dict[tuple[str, str], dict] = {}
    for rec in reader:
        itype, acc = (rec.get("InstanceType") or "").strip(), (rec.get("AcceleratorName") or "").strip()
        if not itype or not acc:
            skipped["no GPU"] += 1
            continue
        gid = gpu_id_for(acc, itype, cat)
        if gid is None:
            skipped[f"GPU {acc} not in the GPU catalog"] += 1
            continue
        count = _float(rec.get("AcceleratorCount"))
        if count is None or count != int(count) or int(count) & (int(count) - 1) or count > MAX_GPUS_PER_NODE:
            skipped[f"GPU count not a power of two up to {MAX_GPUS_PER_NODE}"] += 1
            continue
        region = (rec.get("Region") or "").strip()
        if not region:
            skipped["no region"] += 1
            continue
        if not (PLAIN_NAME.fullmatch(itype) and PLAIN_NAME.fullmatch(region)):
            skipped["instance type or region not a plain name"] += 1
            continue
        shape = shapes.setdefault((itype, region), {"gpu": gid, "count": int(count), "price": [], "spot": [],
                                                    "vcpus": _float(rec.get("vCPUs")),
                                                    "ram": _float(rec.get("MemoryGiB"))})
        for key, col in (("price", "Price"), ("spot", "SpotPrice")):
            value = _float(rec.get(col))
            if value is not None:
                shape[key].append(value)
    merged: dict[tuple, list[str]] = defaultdict(list)
    for (itype, region), s in shapes.items():
        if not s["price"] and not s["spot"]:
            skipped["no price"] += 1
            continue
        od = max(s["price"]) if s["price"] else None
        for market, values in (("on_demand", s["price"]), ("spot", s["spot"])):
            if not values:
                continue
            price, lo = max(values), min(values)
            note = f"{market.replace('_', '-')} {lo:g}-{price:g} across zones; the highest is kept" if lo < price else ""
            if market == "spot" and od is not None and price > od:
                note = (note + "; " if note else "") + f"spot above on-demand ({od:g}) in the source"
            merged[(itype, market, price, note, s["gpu"], s["count"], s["vcpus"], s["ram"])].append(region)
    rows = []
    for (itype, market, price, note, gid, count, vcpus, ram), regions in merged.items():
        gpu = cat.gpu(gid)
        rows.append(OfferRow(
            provider=provider, instance_type=itype, gpu=gid, gpus_per_node=count,
            nvlink_group=min(count, gpu.nvlink_max_gpus) if gpu.nvlink_max_gpus >= 8 else 1,
            vcpus=vcpus, ram_gib=ram, market=market, price_usd_per_node_hour=price, price_note=note,
            interruption_bucket="unknown" if market == "spot" else None,
            interruption_source="SkyPilot catalogs carry no interruption data" if market == "spot" else "",
            regions=tuple(sorted(regions)), source=f"SkyPilot catalog file {where} ({provider})", as_of=as_of,
            confidence="medium"))
    rows.sort(key=lambda r: (r.gpu, r.instance_type, r.market, r.regions))
    return ImportResult(rows=rows, skipped=dict(sorted(skipped.items())))
