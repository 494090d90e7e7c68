"""How a table cell and a column name read to a person: one place, so terminal, Markdown and HTML agree.

Formatting only: no number is derived here (that is ``reports.tables``' job).
"""

from __future__ import annotations

import math
import numbers
import re
import sys
from typing import Any

import numpy as np

MISSING = "—"
OK_MARK = "✓"
MISS_MARK = "✗"

# Longest first: "usd_per_hour_per_replica" must not be read as "usd_per_hour" + "_per_replica".
_UNITS = (
    ("usd_per_million_output_tokens", "USD/M output tok"),
    ("usd_per_million_requests", "USD/M req"),
    ("usd_per_hour_per_replica", "USD/h per replica"),
    ("price_usd_per_node_hour", "USD/node-h"),
    ("usd_per_node_hour", "USD/node-h"),
    ("usd_per_hour", "USD/h"),
    ("usd_per_month", "USD/month"),
    ("requests_per_min", "req/min"),
    ("solve_seconds", "solve s"),
)
_SUFFIX = (("_pct", " %"), ("_ms", " ms"), ("_usd", " USD"))
_LABELS = {
    "objective_usd_per_hour": "Cost USD/h",
    "usd_per_month": "USD/month (730 h)",
    "tp": "TP",
    "gpu": "GPU",
    "gpus": "GPUs",
    "mig_profile": "MIG profile",
    "ttft_ok": "TTFT ok",
    "tpot_ok": "TPOT ok",
    "slo_ok": "SLOs ok",
    "ok": "ok",
    "usd": "USD",
}


def label(col: str) -> str:
    """``predicted_ttft_ms`` -> ``Predicted TTFT ms``; ``usd_per_hour`` -> ``USD/h``."""
    if col in _LABELS:
        return _LABELS[col]
    if col.startswith("gpus_"):
        return f"GPUs {col[5:]}"
    if col.startswith("nodes_"):
        return f"nodes {col[6:]}"
    text = col
    for key, unit in _UNITS:
        if text.endswith(key):
            text = text[: -len(key)] + unit
            break
    else:
        for suf, unit in _SUFFIX:
            if text.endswith(suf):
                text = text[: -len(suf)] + unit
                break
    text = text.replace("_", " ").strip()
    text = re.sub(r"\b(ttft|tpot|slo|mig|gpu|usd)\b", lambda m: m.group(1).upper(), text)
    return text[:1].upper() + text[1:]


def is_missing(v: Any) -> bool:
    """None, NaN, and (once pandas is loaded: only its objects can hold them) ``pd.NA`` / ``NaT``: ``pd.isna``
    of one value, without importing pandas for the tables that never touch it."""
    if v is None:
        return True
    if isinstance(v, (float, complex, np.inexact)):
        return bool(v != v)
    if isinstance(v, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(v))
    if isinstance(v, (str, bool, int, np.bool_, np.integer)):
        return False
    pd = sys.modules.get("pandas")
    if pd is None:
        return False
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # containers
        return False


def cell(col: str, v: Any) -> str:
    """A value as text, by what its column name says it holds."""
    if is_missing(v):
        return MISSING
    if isinstance(v, (bool, np.bool_)):
        return OK_MARK if v else MISS_MARK
    if isinstance(v, str):
        return v
    if isinstance(v, numbers.Integral):
        return f"{int(v):,}"
    x = float(v)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if "usd" in col:
        return f"{x:,.2f}"
    if "attainment" in col:  # 99.95 % is not 100 %
        return f"{x:,.2f}"
    if "unserved" in col and col.endswith("_pct"):  # a rare shortfall is 0.0013 %, not 0.0 %
        return f"{x:,.4f}"
    if col.endswith("_pct"):
        return f"{x:,.1f}"
    if col.endswith("_ms"):
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"
    if "requests_per_min" in col:
        return f"{x:,.1f}"
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:.4g}"


def is_numeric_col(frame, col: str) -> bool:
    return frame[col].dtype.kind in "iuf"
