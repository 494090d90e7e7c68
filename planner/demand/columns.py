"""Which trace columns mean what: accepted names, and turning timestamps into seconds.

Column names are matched after lower-casing and dropping everything but letters and digits, so ``Request tokens``,
``request_tokens`` and ``requestTokens`` are one name. The first accepted name present wins.

============  ===========================================================================================
role          accepted names (in order of preference)
============  ===========================================================================================
timestamp     timestamp, time, ts, arrival_time, arrived_at, created, created_at, request_time,
              start_time, date  (Azure LLM inference traces: ``TIMESTAMP``; BurstGPT: ``Timestamp``)
prompt        prompt_tokens, input_tokens, num_prompt_tokens, prompt_len, input_len, context_tokens,
              request_tokens, usage.prompt_tokens, usage.input_tokens
              (Azure: ``ContextTokens``; BurstGPT: ``Request tokens``; OpenAI usage: ``prompt_tokens``)
output        completion_tokens, output_tokens, generated_tokens, num_generated_tokens, output_len,
              response_tokens, usage.completion_tokens, usage.output_tokens
              (Azure: ``GeneratedTokens``; BurstGPT: ``Response tokens``)
key           model, model_name, model_id, endpoint, deployment, served_model_name  (optional;
              BurstGPT: ``Model``; OpenAI-style logs: ``model``)
============  ===========================================================================================

Timestamps: numbers are seconds; numbers above 10^11 are read as epoch milliseconds (10^11 s is the year 5138).
Numbers below 10^9 (before 2001 as epoch seconds) are read as seconds from the start of the trace, which is then
taken to begin on a Monday at 00:00 (BurstGPT counts from 0). Strings are parsed as ISO-8601 dates in UTC
(Azure's ``2023-11-16 18:15:46.6805900``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from planner.errors import InputError
from planner.suggest import closest

ACCEPTED: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "time", "ts", "arrival_time", "arrived_at", "created", "created_at", "request_time",
                  "start_time", "date"),
    "prompt": ("prompt_tokens", "input_tokens", "num_prompt_tokens", "prompt_len", "input_len", "context_tokens",
               "request_tokens", "usage.prompt_tokens", "usage.input_tokens"),
    "output": ("completion_tokens", "output_tokens", "generated_tokens", "num_generated_tokens", "output_len",
               "response_tokens", "usage.completion_tokens", "usage.output_tokens"),
    "key": ("model", "model_name", "model_id", "endpoint", "deployment", "served_model_name"),
}
REQUIRED = ("timestamp", "prompt", "output")
MAX_TOKENS = 10_000_000          # longer than any served context window: a unit or parsing error
EPOCH_MS_ABOVE = 1e11
RELATIVE_BELOW = 1e9


def norm(name: str) -> str:
    """``'Request tokens'`` -> ``'requesttokens'``."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def resolve(columns: list[str], source: str, key_column: str | None = None) -> dict[str, str]:
    """Map roles to the file's column names; InputError naming what is missing and what is accepted."""
    by_norm = {}
    for c in columns:
        by_norm.setdefault(norm(c), c)
    out: dict[str, str] = {}
    for role, names in ACCEPTED.items():
        if role == "key" and key_column is not None:
            if key_column not in columns:
                hint = closest(key_column, columns)
                raise InputError(f"{source}: --key-column {key_column!r} is not a column (got {', '.join(columns)})"
                                 + (f"; did you mean '{hint[0]}'?" if hint else ""))
            out["key"] = key_column
            continue
        hit = next((by_norm[norm(n)] for n in names if norm(n) in by_norm), None)
        if hit is not None:
            out[role] = hit
        elif role in REQUIRED:
            hint = closest(names[0], columns, cutoff=0.5)
            raise InputError(f"{source}: no {role} column (got {', '.join(map(str, columns[:12]))}); "
                             f"accepted: {', '.join(names)}" + (f"; did you mean '{hint[0]}'?" if hint else ""))
    return out


def to_seconds(values: pd.Series, source: str) -> tuple[np.ndarray, bool]:
    """Timestamps -> float seconds and whether they are relative to the trace start (see module docstring)."""
    num = pd.to_numeric(values, errors="coerce")
    if num.notna().all():
        x = num.to_numpy(dtype="float64")
        bad = ~np.isfinite(x) | (x < 0) | (x > 1e14)
        if bad.any():
            raise InputError(f"{source}: timestamp {values[bad].iloc[0]} is not a time (seconds since the epoch or "
                             "the trace start, or epoch milliseconds)")
        if len(x) and np.nanmax(x) > EPOCH_MS_ABOVE:
            x = x / 1000.0
        relative = bool(len(x)) and float(np.nanmax(x)) < RELATIVE_BELOW
        return x, relative
    try:
        t = pd.to_datetime(values, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        bad = next((v for v in values if pd.isna(pd.to_datetime(v, errors="coerce", utc=True))), values.iloc[0])
        raise InputError(f"{source}: timestamp {bad!r} is neither a number of seconds nor a date ({exc})") from None
    if t.isna().any():
        raise InputError(f"{source}: empty timestamp in row(s) of this chunk; every request needs its arrival time")
    return ((t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype="float64"), False


def to_tokens(values: pd.Series, role: str, source: str) -> np.ndarray:
    """Token counts as int64; InputError on negatives or non-numbers."""
    num = pd.to_numeric(values, errors="coerce")
    if num.isna().any():
        bad = values[num.isna()].iloc[0]
        raise InputError(f"{source}: {role} token count {str(bad)!r} is not a number")
    x = num.to_numpy(dtype="float64")
    if (x < 0).any():
        raise InputError(f"{source}: {role} token count {x[x < 0][0]:g} is negative")
    if (x > MAX_TOKENS).any():
        raise InputError(f"{source}: {role} token count {x[x > MAX_TOKENS][0]:g} is above {MAX_TOKENS:,}")
    return np.rint(x).astype("int64")
