"""One pass over a trace, keeping only bounded summaries per model/endpoint key.

Per key, memory does not grow with the number of requests:

- per-minute arrival counts (one integer per minute that has a request: 10 080 for a week);
- a fine 2-D histogram of (prompt, output) tokens on a log grid with ``BINS_PER_OCTAVE`` bins per doubling
  (bin ``⌊8·log2 max(t, 1)⌋``, so a bin spans 9 % of its value), holding the count and the sums of prompt and
  output tokens of its requests: the sizing works on these ≤ 192² cells, never on the raw requests;
- a uniform random sample of at most ``sample_size`` requests (reservoir by random priorities, seeded), kept so
  that a bucketing can be scored against per-request truth (``planner.demand.buckets.capacity_error``).

A request with 0 output tokens (a failure in BurstGPT) counts as an arrival and is sized with 1 output token;
the count is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from planner.demand.read import Chunk
from planner.errors import InputError

BINS_PER_OCTAVE = 8
N_BINS = 24 * BINS_PER_OCTAVE          # up to 2^24 tokens; longer requests share the last bin
DEFAULT_SAMPLE = 20_000
MAX_SPAN_MINUTES = 366 * 24 * 60      # per-minute counts of at most a year (a few MB per key)


def size_bin(tokens: np.ndarray) -> np.ndarray:
    """Fine log-grid bin of a token count."""
    b = np.floor(BINS_PER_OCTAVE * np.log2(np.maximum(tokens, 1))).astype("int64")
    return np.minimum(b, N_BINS - 1)


@dataclass
class KeyStats:
    """Summaries of one model/endpoint."""

    requests: int = 0
    zero_output: int = 0
    prompt_sum: float = 0.0
    output_sum: float = 0.0
    minutes: dict[int, int] = field(default_factory=dict)
    cell_count: np.ndarray = field(default_factory=lambda: np.zeros(N_BINS * N_BINS))
    cell_prompt: np.ndarray = field(default_factory=lambda: np.zeros(N_BINS * N_BINS))
    cell_output: np.ndarray = field(default_factory=lambda: np.zeros(N_BINS * N_BINS))
    sample_prompt: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    sample_output: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    sample_priority: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Non-empty fine cells: (count, mean prompt, mean output)."""
        nz = self.cell_count > 0
        n = self.cell_count[nz]
        return n, self.cell_prompt[nz] / n, self.cell_output[nz] / n

    def minute_counts(self, lo: int | None = None, hi: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(minute index, count) for every minute from ``lo`` to ``hi`` (default: the key's first and last
        arrival; ``plan demand`` passes the whole trace's span), zeros included."""
        if not self.minutes:
            return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
        lo = min(self.minutes) if lo is None else min(lo, min(self.minutes))
        hi = max(self.minutes) if hi is None else max(hi, max(self.minutes))
        idx = np.arange(lo, hi + 1, dtype="int64")
        counts = np.zeros(len(idx), dtype="int64")
        ks = np.fromiter(self.minutes.keys(), dtype="int64", count=len(self.minutes))
        vs = np.fromiter(self.minutes.values(), dtype="int64", count=len(self.minutes))
        counts[ks - lo] = vs
        return idx, counts


@dataclass
class TraceStats:
    """Summaries of a whole trace, by key."""

    keys: dict[str, KeyStats] = field(default_factory=dict)
    relative_time: bool = False
    rows: int = 0
    chunks: int = 0
    first_minute: int = 2 ** 62
    last_minute: int = -(2 ** 62)


def _sample(ks: KeyStats, prompt: np.ndarray, output: np.ndarray, rng: np.random.Generator, size: int) -> None:
    pri = np.concatenate([ks.sample_priority, rng.random(len(prompt))])
    p = np.concatenate([ks.sample_prompt, prompt])
    o = np.concatenate([ks.sample_output, output])
    if len(pri) > size:
        keep = np.argpartition(pri, size - 1)[:size]
        pri, p, o = pri[keep], p[keep], o[keep]
    ks.sample_priority, ks.sample_prompt, ks.sample_output = pri, p, o


def accumulate(chunks: Iterable[Chunk], sample_size: int = DEFAULT_SAMPLE, seed: int = 0) -> TraceStats:
    """Fold the chunks into :class:`TraceStats`."""
    rng = np.random.default_rng(seed)
    stats = TraceStats()
    for ch in chunks:
        if stats.chunks == 0:
            stats.relative_time = ch.relative_time
        stats.chunks += 1
        stats.rows += len(ch.ts_s)
        if not len(ch.ts_s):
            continue
        minute = np.floor(ch.ts_s / 60.0).astype("int64")
        stats.first_minute = min(stats.first_minute, int(minute.min()))
        stats.last_minute = max(stats.last_minute, int(minute.max()))
        if stats.last_minute - stats.first_minute > MAX_SPAN_MINUTES:
            raise InputError(f"trace: spans {(stats.last_minute - stats.first_minute) / 1440:,.0f} days; at most 366 "
                             "(split the trace, or check the timestamp unit)")
        for j in np.unique(ch.key_codes):
            key = ch.key_names[j]
            sel = ch.key_codes == j
            ks = stats.keys.setdefault(str(key), KeyStats())
            p, o, m = ch.prompt[sel], ch.output[sel], minute[sel]
            ks.requests += int(len(p))
            ks.zero_output += int((o == 0).sum())
            o = np.maximum(o, 1)
            ks.prompt_sum += float(p.sum())
            ks.output_sum += float(o.sum())
            mu, mc = np.unique(m, return_counts=True)
            for mm, cc in zip(mu.tolist(), mc.tolist()):
                ks.minutes[mm] = ks.minutes.get(mm, 0) + cc
            cell = size_bin(p) * N_BINS + size_bin(o)
            ks.cell_count += np.bincount(cell, minlength=N_BINS * N_BINS)
            ks.cell_prompt += np.bincount(cell, weights=p.astype("float64"), minlength=N_BINS * N_BINS)
            ks.cell_output += np.bincount(cell, weights=o.astype("float64"), minlength=N_BINS * N_BINS)
            _sample(ks, p, o, rng, sample_size)
    return stats
