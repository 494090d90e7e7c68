"""The offer catalog: sourced prices of GPU instances, one row per provider x shape x market x price.

``offers.csv`` (shipped next to this module) has one row per provider, instance type, market and price; a row
lists every region where that price holds (``regions``, ``;``-separated). Every row carries ``source`` (a page,
guide or catalog file a reader can follow), ``as_of`` (when the price was read: ``2026-03-20``, ``2025-06``,
``2025-H1``, ``2025``) and ``confidence``. ``price_note`` says how a single number was picked where the source
publishes a range (spot across availability zones, "from" prices, discounts given as a range).

``vcpus`` and ``ram_gib`` are informational and filled only where the source file gives them (SkyPilot catalogs);
they are empty for figures read from price pages.

Markets: ``on_demand``, ``spot`` (with ``interruption_bucket`` and its ``interruption_source``) and ``reserved``
(``term_months`` > 0, optional ``upfront_usd``). A concrete offer made from a row has the id
``provider/instance_type/market/region`` (``reserved-<term>mo`` for reserved rows), e.g.
``aws/p5.48xlarge/spot/us-east-2``.

Spot hazard. AWS's Spot Instance Advisor publishes the monthly interruption frequency in buckets (< 5 %, 5-10 %,
10-15 %, 15-20 %, > 20 %). A bucket is turned into a per-node-hour rate with its midpoint r (25 % for "> 20 %")
and a constant hazard over the 730 hours of a month:

    lambda = -ln(1 - r) / 730        (reclaims per node-hour)

A row whose bucket is not published (``unknown``) gets the top bucket: the planner never assumes spot capacity is
safer than the worst bucket a provider publishes.

Nothing is read at import time: :func:`builtin_offers` reads the shipped file on first call.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import math
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from planner.errors import CatalogError

if TYPE_CHECKING:
    import pandas as pd

OfferMarket = Literal["on_demand", "spot", "reserved"]
Bucket = Literal["<5%", "5-10%", "10-15%", "15-20%", ">20%", "unknown"]
Confidence = Literal["high", "medium", "low"]
CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}

HOURS_PER_MONTH = 730.0
# Midpoint of each Spot Advisor bucket (monthly share of capacity reclaimed); "unknown" = the top bucket.
BUCKET_MONTHLY_RATE = {"<5%": 0.025, "5-10%": 0.075, "10-15%": 0.125, "15-20%": 0.175, ">20%": 0.25, "unknown": 0.25}
AS_OF_PATTERN = r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?|-H[12]|-Q[1-4])?$"
DEFAULT_MAX_AGE_DAYS = 180


def rate_per_hour(bucket: str) -> float:
    """Reclaims per node-hour for a Spot Advisor bucket: ``-ln(1 - r) / 730`` with r the bucket midpoint."""
    return -math.log(1.0 - BUCKET_MONTHLY_RATE[bucket]) / HOURS_PER_MONTH


class OfferRow(BaseModel):
    """One row of the offer catalog: a shape on one market at one price, in the regions listed."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    provider: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$", description="lowercase provider id")
    instance_type: str = Field(min_length=1, description="the provider's name for the shape")
    gpu: str = Field(min_length=1, description="GPU catalog id (plan catalog gpus)")
    gpus_per_node: int = Field(ge=1, le=72, description="GPUs in one instance, a power of two")
    nvlink_group: int = Field(ge=1, description="GPUs per NVLink domain inside the instance; 1 = PCIe only")
    vcpus: float | None = Field(None, gt=0, description="informational")
    ram_gib: float | None = Field(None, gt=0, description="host memory, GiB; informational")
    market: OfferMarket
    term_months: int | None = Field(None, gt=0, description="reserved only: commitment length, months")
    upfront_usd: float | None = Field(None, ge=0, description="reserved only: one-off fee per instance, USD")
    price_usd_per_node_hour: float = Field(gt=0, allow_inf_nan=False, description="USD per instance-hour")
    price_note: str = Field("", description="how one number was picked where the source gives a range")
    interruption_bucket: Bucket | None = Field(None, description="spot only: Spot-Advisor-style monthly bucket")
    interruption_source: str = Field("", description="spot only: where the bucket (or its absence) comes from")
    regions: tuple[str, ...] = Field(min_length=1, description="regions where this price holds")
    source: str = Field(min_length=8, description="page, guide or catalog file (with commit) the price is from")
    as_of: str = Field(pattern=AS_OF_PATTERN, description="when the price was read")
    confidence: Confidence

    @field_validator("gpus_per_node")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError(f"must be a power of two (got {v})")
        return v

    @model_validator(mode="after")
    def _market_fields(self) -> "OfferRow":
        if self.nvlink_group > self.gpus_per_node:
            raise ValueError(f"nvlink_group ({self.nvlink_group}) exceeds gpus_per_node ({self.gpus_per_node})")
        if self.market == "reserved" and self.term_months is None:
            raise ValueError("reserved rows need term_months")
        if self.market != "reserved" and (self.term_months is not None or self.upfront_usd is not None):
            raise ValueError("term_months and upfront_usd only apply to reserved rows")
        if self.market == "spot" and (self.interruption_bucket is None or not self.interruption_source):
            raise ValueError("spot rows need interruption_bucket and interruption_source")
        if self.market != "spot" and self.interruption_bucket is not None:
            raise ValueError("interruption_bucket only applies to spot rows")
        if len(set(self.regions)) != len(self.regions):
            raise ValueError(f"a region is listed twice: {';'.join(self.regions)}")
        return self

    @property
    def market_label(self) -> str:
        """``on_demand``, ``spot`` or ``reserved-12mo``: the market part of an offer id."""
        return f"reserved-{self.term_months}mo" if self.market == "reserved" else self.market

    @property
    def id(self) -> str:
        """Row key: ``provider/instance_type/market/region;region...``."""
        return f"{self.provider}/{self.instance_type}/{self.market_label}/{';'.join(self.regions)}"

    def offer_id(self, region: str) -> str:
        """The concrete offer id in one region, e.g. ``aws/p5.48xlarge/spot/us-east-2``."""
        return f"{self.provider}/{self.instance_type}/{self.market_label}/{region}"

    @property
    def usd_per_gpu_hour(self) -> float:
        """Price per GPU-hour, any upfront fee spread over the term: ``(p + upfront / (term x 730)) / gpus``."""
        hourly = self.price_usd_per_node_hour
        if self.upfront_usd:
            hourly += self.upfront_usd / (self.term_months * HOURS_PER_MONTH)
        return hourly / self.gpus_per_node

    @property
    def interruption_rate_per_hour(self) -> float | None:
        """Spot reclaims per node-hour from the bucket (None off the spot market)."""
        return rate_per_hour(self.interruption_bucket) if self.market == "spot" else None


# ----------------------------------------------------------------------------------------------- reading

def parse_offers(text: str, where: str) -> tuple[OfferRow, ...]:
    """Parse offer-catalog CSV text; every problem names the file and line. Offer ids must be unique."""
    from planner.catalog import _parse_rows  # noqa: PLC0415 - the package's shared CSV reader

    rows = _parse_rows(text, OfferRow, where)
    seen: dict[str, str] = {}
    for row in rows:
        for region in row.regions:
            oid = row.offer_id(region)
            if oid in seen:
                raise CatalogError(f"{where}: offer {oid!r} is in two rows ({seen[oid]!r} and {row.id!r})")
            seen[oid] = row.id
    return rows


def read_offers_csv(path: str | Path) -> tuple[OfferRow, ...]:
    """Read an offer table with the columns of ``offers.csv``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CatalogError(f"{p}: cannot read offer catalog ({exc.strerror or exc})") from None
    return parse_offers(text, str(p))


@functools.cache
def builtin_offers() -> tuple[OfferRow, ...]:
    """The shipped offer catalog, in file order (read once, on first call)."""
    text = resources.files("planner.catalog").joinpath("offers.csv").read_text(encoding="utf-8")
    return parse_offers(text, "planner/catalog/offers.csv")


# ----------------------------------------------------------------------------------------------- filtering

def region_matches(region: str, patterns: Sequence[str] | None) -> bool:
    """Whether a region matches any glob (``us-*``), case-insensitively; no patterns = every region."""
    return not patterns or any(fnmatch.fnmatchcase(region.lower(), p.lower()) for p in patterns)


def filter_rows(rows: Iterable[OfferRow], *, gpus: Sequence[str] | None = None,
                providers: Sequence[str] | None = None, markets: Sequence[str] | None = None,
                regions: Sequence[str] | None = None) -> list[OfferRow]:
    """Rows whose GPU, provider and market are listed (None = any) and that hold in a matching region."""
    return [r for r in rows
            if (not gpus or r.gpu in gpus) and (not providers or r.provider in providers)
            and (not markets or r.market in markets)
            and any(region_matches(reg, regions) for reg in r.regions)]


def sort_key(row: OfferRow) -> tuple:
    """Cheapest per GPU-hour first; ties by id, so the order never depends on the file order."""
    return (round(row.usd_per_gpu_hour, 9), row.id)


def offers_frame(rows: Iterable[OfferRow]) -> "pd.DataFrame":
    """One row per catalog row, every column plus ``id`` and ``usd_per_gpu_hour``, cheapest first."""
    import pandas as pd  # noqa: PLC0415

    ordered = sorted(rows, key=sort_key)
    cols = ["id", *OfferRow.model_fields, "usd_per_gpu_hour"]
    data = [{"id": r.id, **{k: (";".join(v) if isinstance(v, tuple) else v) for k, v in r.model_dump().items()},
             "usd_per_gpu_hour": r.usd_per_gpu_hour} for r in ordered]
    frame = pd.DataFrame(data, columns=cols)
    for name in ("term_months",):
        frame[name] = frame[name].astype("Int64")
    return frame


# ----------------------------------------------------------------------------------------------- freshness

def as_of_date(text: str | None) -> dt.date | None:
    """The latest day an ``as_of`` can mean (``2025-H1`` -> 2025-06-30, ``2025`` -> 2025-12-31); None if unparsable.

    Taking the end of the period means a price is called stale only when it certainly is.
    """
    if not text:
        return None
    s = str(text).strip()
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?|-H([12])|-Q([1-4]))?", s)
    if not m:
        return None
    year = int(m.group(1))
    try:
        if m.group(3):
            return dt.date(year, int(m.group(2)), int(m.group(3)))
        if m.group(2):
            month = int(m.group(2))
        elif m.group(4):
            month = 6 * int(m.group(4))
        elif m.group(5):
            month = 3 * int(m.group(5))
        else:
            month = 12
        if not 1 <= month <= 12:
            return None
        first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    except ValueError:
        return None
    return first_next - dt.timedelta(days=1)


def stale_prices(offers: Iterable[tuple[str, str | None]], today: dt.date,
                 max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> list[tuple[str, str, int]]:
    """``(offer id, as_of, age in days)`` for every ``(id, as_of)`` older than ``max_age_days``, oldest first.

    Offers without a parsable ``as_of`` are not reported here (they have no date to age).
    """
    out = []
    for oid, as_of in offers:
        day = as_of_date(as_of)
        if day is not None and (today - day).days > max_age_days:
            out.append((oid, str(as_of), (today - day).days))
    return sorted(out, key=lambda t: (-t[2], t[0]))


MAX_AGE_ENV = "FLEETPLAN_PRICE_MAX_AGE_DAYS"


def max_age_days_from_env(environ: dict | None = None) -> int:
    """The freshness threshold: ``FLEETPLAN_PRICE_MAX_AGE_DAYS`` if set (a whole number >= 0), else 180 days."""
    import os  # noqa: PLC0415

    raw = (os.environ if environ is None else environ).get(MAX_AGE_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_AGE_DAYS
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise CatalogError(f"{MAX_AGE_ENV}: must be a whole number of days >= 0 (got {raw!r})")
    return value


def price_age_warning(chosen: Iterable[tuple[str, str | None]], today: dt.date | None = None,
                      max_age_days: int | None = None) -> str | None:
    """One line naming the chosen offers whose price is older than the threshold (None when all are fresh)."""
    limit = max_age_days_from_env() if max_age_days is None else max_age_days
    stale = stale_prices(dict(chosen).items(), today or dt.date.today(), limit)
    if not stale:
        return None
    listed = ", ".join(f"{oid} (as_of {as_of}, {age} days)" for oid, as_of, age in stale[:5])
    more = f" and {len(stale) - 5} more" if len(stale) > 5 else ""
    return (f"warning: {len(stale)} chosen offer{'s' if len(stale) != 1 else ''} priced more than {limit} days ago: "
            f"{listed}{more}; refresh the prices (plan catalog import-skypilot) or set {MAX_AGE_ENV}")
