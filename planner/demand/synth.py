"""A synthetic request trace for tests and benchmarks (no downloads): diurnal Poisson-like arrivals, log-normal sizes.

Three default keys, named after catalog models so that ``plan demand`` maps them without ``--model-map``:

===============  =====  ================================================================  ===================
key              share  prompt tokens                                                     output tokens
===============  =====  ================================================================  ===================
llama-3.1-8b     0.60   log-normal, median 600, σ 1.0                                     median 180, σ 0.8
llama-3.1-70b    0.15   70 %: median 4 000, σ 0.4; 30 %: median 16 000, σ 0.3             median 300, σ 0.5
qwen3-30b-a3b    0.25   median 2 000, σ 0.6                                               median 400, σ 0.7
===============  =====  ================================================================  ===================

(prompts capped at 30 000 tokens, outputs at 4 000). The number of requests in hour h is drawn multinomially
from the total, proportional to ``1 + 0.6·sin(2π(h − 9)/24)`` (peak at 15:00 UTC) times 0.7 on Saturdays and
Sundays; arrival times are uniform within their hour. The trace starts Monday 2026-01-05 00:00 UTC. These
shapes are illustrative, not measurements of any service: the generator exists to exercise the reader.

Run ``python -m planner.demand.synth OUT.parquet --requests 1000000 --days 7`` (or ``.csv`` / ``.jsonl``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

START = pd.Timestamp("2026-01-05 00:00", tz="UTC")
MODELS = (
    ("llama-3.1-8b", 0.60, ((1.0, 600, 1.0),), (180, 0.8)),
    ("llama-3.1-70b", 0.15, ((0.7, 4000, 0.4), (0.3, 16000, 0.3)), (300, 0.5)),
    ("qwen3-30b-a3b", 0.25, ((1.0, 2000, 0.6),), (400, 0.7)),
)
MAX_PROMPT, MAX_OUTPUT = 30_000, 4_000
PARQUET_ROW_GROUP = 250_000   # fixed, so files of every size have the same structure (readers decode a group at once)


def hourly_shape(hours: int) -> np.ndarray:
    """Relative arrival intensity of each hour from the start (Monday 00:00)."""
    h = np.arange(hours)
    day = 1.0 + 0.6 * np.sin(2 * np.pi * ((h % 24) - 9) / 24)
    weekend = np.where((h // 24) % 7 >= 5, 0.7, 1.0)
    return day * weekend


def _sizes(rng: np.random.Generator, n: int, prompt_mix, output) -> tuple[np.ndarray, np.ndarray]:
    comp = rng.choice(len(prompt_mix), size=n, p=[c[0] for c in prompt_mix])
    med = np.array([c[1] for c in prompt_mix])[comp]
    sig = np.array([c[2] for c in prompt_mix])[comp]
    p = np.clip(np.rint(med * np.exp(sig * rng.standard_normal(n))), 1, MAX_PROMPT).astype("int64")
    o = np.clip(np.rint(output[0] * np.exp(output[1] * rng.standard_normal(n))), 1, MAX_OUTPUT).astype("int64")
    return p, o


def generate(requests: int, days: float = 7.0, seed: int = 0, models=MODELS) -> Iterator[pd.DataFrame]:
    """Yield the trace one day at a time (columns timestamp [epoch s], model, prompt_tokens, output_tokens)."""
    rng = np.random.default_rng(seed)
    hours = max(1, int(round(days * 24)))
    shape = hourly_shape(hours)
    shares = np.array([m[1] for m in models])
    per_model = rng.multinomial(requests, shares / shares.sum())
    per_hour = np.array([rng.multinomial(n, shape / shape.sum()) for n in per_model])  # models x hours
    t0 = START.timestamp()
    for d0 in range(0, hours, 24):
        parts = []
        for (name, _, pmix, out), counts in zip(models, per_hour[:, d0:d0 + 24]):
            n = int(counts.sum())
            if not n:
                continue
            hour = np.repeat(np.arange(d0, d0 + len(counts)), counts)
            ts = t0 + 3600.0 * (hour + rng.random(n))
            p, o = _sizes(rng, n, pmix, out)
            parts.append(pd.DataFrame({"timestamp": np.round(ts, 3), "model": name,
                                       "prompt_tokens": p, "output_tokens": o}))
        if parts:
            frame = pd.concat(parts, ignore_index=True).sort_values("timestamp", kind="stable")
            frame["model"] = frame["model"].astype("category")
            yield frame.reset_index(drop=True)


def write(path: str | Path, requests: int, days: float = 7.0, seed: int = 0) -> Path:
    """Write a synthetic trace to ``path`` (.parquet, .csv or .jsonl), a day at a time."""
    path = Path(path)
    ext = path.suffix.lower()
    writer = None
    with open(path, "w", encoding="utf-8") if ext in (".csv", ".jsonl") else _nullctx() as fh:
        for i, frame in enumerate(generate(requests, days, seed)):
            if ext == ".parquet":
                import pyarrow as pa  # noqa: PLC0415
                import pyarrow.parquet as pq  # noqa: PLC0415

                table = pa.Table.from_pandas(frame, preserve_index=False)
                writer = writer or pq.ParquetWriter(path, table.schema)
                writer.write_table(table, row_group_size=PARQUET_ROW_GROUP)
            elif ext == ".csv":
                frame.to_csv(fh, index=False, header=i == 0)
            elif ext == ".jsonl":
                for rec in frame.astype({"model": str}).to_dict("records"):
                    fh.write(json.dumps(rec) + "\n")
            else:
                raise ValueError(f"{path}: extension must be .parquet, .csv or .jsonl")
    if writer is not None:
        writer.close()
    return path


class _nullctx:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m planner.demand.synth", description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    write(a.out, a.requests, a.days, a.seed)


if __name__ == "__main__":
    main()
