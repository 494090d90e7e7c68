"""One vocabulary for every machine-readable output: the same names in JSON and CSV, units in the names, and
numbers rounded the same way wherever they are written.

Rounding, by what a column name says it holds (``round_value``):

- money (``usd`` in the name): to the cent, except unit prices (``price_…``, ``…_per_node_hour``,
  ``…_per_replica``, ``…_per_million_…``), which keep their digits: a price of 0.0425 USD/GPU-h is real;
- a share (``_pct``): to 0.01 %; an attainment to 0.001 % (so 99.996 % does not read as 100 %) and an
  unserved share to 0.0001 % (a rare shortfall is 0.0013 %, not 0.00 %);
- anything else: 12 significant digits, which removes binary noise (``17461.600000000002`` -> ``17461.6``)
  and nothing a person or a test could see.

Totals are rounded after they are summed, never summed from rounded parts, so a rounded total can differ from
the sum of its rounded lines by at most half a cent per line.
"""

from __future__ import annotations

import math
from typing import Any

_UNIT_PRICE = ("price_", "_per_node_hour", "_per_replica", "_per_million_", "_per_gpu_hour")


def is_money(name: str) -> bool:
    return "usd" in name and not any(p in name for p in _UNIT_PRICE)


def round_value(name: str, x: Any) -> Any:
    """``x`` rounded as its column ``name`` says (see the module docstring); non-floats unchanged."""
    if isinstance(x, bool) or not isinstance(x, float) or not math.isfinite(x):
        return x
    if is_money(name):
        return round(x, 2) + 0.0  # + 0.0: no "-0.0"
    if name.endswith("_pct"):
        return round(x, 3 if "attainment" in name else 4 if "unserved" in name else 2) + 0.0
    return float(f"{x:.12g}")


def tidy(obj: Any, name: str = "") -> Any:
    """A JSON-able structure with every float rounded by the name of the key that holds it (list items by the
    list's key). NaN becomes None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: tidy(v, str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [tidy(v, name) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return round_value(name, obj)


def denoise(obj: Any) -> Any:
    """Like ``tidy`` but only the float noise goes (12 significant digits): for the plan contract, whose lines
    must still add up to its totals exactly."""
    if isinstance(obj, dict):
        return {k: denoise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [denoise(v) for v in obj]
    if isinstance(obj, float) and math.isfinite(obj):
        return float(f"{obj:.12g}")
    return obj


def frame_records(frame) -> list[dict[str, Any]]:
    """A frame's rows as JSON records: the CSV's columns, in its order, NaN as null, numpy scalars as Python."""
    out = []
    for rec in frame.to_dict(orient="records"):
        row = {}
        for k, v in rec.items():
            if hasattr(v, "item"):
                v = v.item()
            row[k] = tidy(v, k)
        out.append(row)
    return out

