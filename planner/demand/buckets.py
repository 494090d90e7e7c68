"""Choose a ``size_mix`` of at most K buckets from the fine (prompt, output) histogram, and score it.

Why buckets matter: the planner sizes a replica for a workload as Σ_b λ·s_b / c(p_b, o_b) replica-units,
where s_b is a bucket's share, (p_b, o_b) its representative size and c the per-replica capacity (requests/min)
at that size. The per-request truth is λ·E[1 / c(p, o)] over the requests. Two things make the bucketed sum
differ from the truth:

1. *the representative*: taking each bucket's **mean** prompt and output tokens keeps the total prompt and output
   tokens exact, so any cost that is linear in (p, o) (prefill compute ∝ p, decode steps ∝ o) is reproduced
   exactly whatever the grouping;
2. *curvature*: 1/c is not linear (attention and KV memory grow with p·o and o², the TTFT term with p), so a
   bucket holding very different requests is mis-priced by ≈ ½·tr(H·Σ_b), H the Hessian of 1/c and Σ_b the
   bucket's covariance. The error is made small by making buckets tight where the work is.

The bucketing therefore runs weighted k-means (Lloyd's algorithm, k-means++ starts, best of ``N_INIT`` seeded
runs) on the non-empty fine cells in (log2 p, log2 o) space, where closeness is *relative* size difference (what
curvature acts on), weighting each cell by its requests times its tokens p + o, a proxy for the GPU time it
costs, so heavy requests get tighter buckets than the many cheap ones. Mélange instead fixes a 2-D grid of
length ranges in advance; :func:`grid_buckets` builds such a grid (doubling boundaries) for comparison, and
``bench/demand_memory.py`` reports the capacity error of both against per-request truth with the real
performance model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

N_INIT = 4
MAX_ITER = 100
SHARE_DIGITS = 6


@dataclass(frozen=True)
class Bucket:
    """One size-mix bar: mean prompt and output tokens of its requests and their share."""

    prompt_tokens: int
    output_tokens: int
    share: float
    requests: int


def _kmeans(x: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Weighted Lloyd from a weighted k-means++ start: labels and weighted inertia."""
    centers = [x[rng.choice(len(x), p=w / w.sum())]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None, :] - np.array(centers)[None, :, :]) ** 2).sum(-1), axis=1)
        p = w * d2
        if p.sum() <= 0:
            break
        centers.append(x[rng.choice(len(x), p=p / p.sum())])
    c = np.array(centers)
    labels = np.zeros(len(x), dtype="int64")
    for it in range(MAX_ITER):
        d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        new = d2.argmin(axis=1)
        if it and np.array_equal(new, labels):
            break
        labels = new
        for j in range(len(c)):
            m = labels == j
            if m.any():
                c[j] = (w[m, None] * x[m]).sum(0) / w[m].sum()
    inertia = float((w * ((x - c[labels]) ** 2).sum(-1)).sum())
    return labels, inertia


def _finish(count: np.ndarray, mp: np.ndarray, mo: np.ndarray, labels: np.ndarray) -> list[Bucket]:
    """Bucket means from labels; rounding, merging of equal sizes, shares that sum to exactly 1."""
    total = count.sum()
    merged: dict[tuple[int, int], float] = {}
    for j in np.unique(labels):
        m = labels == j
        n = count[m].sum()
        p = max(1, int(round(float((count[m] * mp[m]).sum() / n))))
        o = max(1, int(round(float((count[m] * mo[m]).sum() / n))))
        merged[(p, o)] = merged.get((p, o), 0.0) + float(n)
    out = sorted(((p, o, n) for (p, o), n in merged.items()), key=lambda t: (t[0], t[1]))
    shares = [round(float(n / total), SHARE_DIGITS) for _, _, n in out]
    keep = [i for i, s in enumerate(shares) if s > 0] or [int(np.argmax([n for *_, n in out]))]
    out = [out[i] for i in keep]
    shares = [max(shares[i], 10 ** -SHARE_DIGITS) for i in keep]
    big = int(np.argmax(shares))
    shares[big] = round(1.0 - (sum(shares) - shares[big]), SHARE_DIGITS + 3)
    return [Bucket(p, o, float(s), int(n)) for (p, o, n), s in zip(out, shares)]


def kmeans_buckets(count: np.ndarray, mp: np.ndarray, mo: np.ndarray, k: int, *, weight: str = "tokens",
                   seed: int = 0) -> list[Bucket]:
    """At most ``k`` buckets from fine cells (count, mean prompt, mean output); see the module docstring.

    ``weight``: ``"tokens"`` (count × (p + o), the default) or ``"requests"`` (count only).
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    if len(count) <= k:
        return _finish(count, mp, mo, np.arange(len(count)))
    x = np.column_stack([np.log2(np.maximum(mp, 1.0)), np.log2(np.maximum(mo, 1.0))])
    w = count * (mp + mo) if weight == "tokens" else count.astype("float64")
    rng = np.random.default_rng(seed)
    best = min((_kmeans(x, w, k, rng) for _ in range(N_INIT)), key=lambda t: t[1])
    return _finish(count, mp, mo, best[0])


def grid_buckets(count: np.ndarray, mp: np.ndarray, mo: np.ndarray, edges: tuple[float, ...]) -> list[Bucket]:
    """Fixed 2-D grid (Mélange style): a cell's bucket is the pair of ranges [edge_i, edge_i+1) it falls in."""
    e = np.asarray(edges, dtype="float64")
    ip = np.searchsorted(e, mp, side="right")
    io = np.searchsorted(e, mo, side="right")
    return _finish(count, mp, mo, ip * (len(e) + 1) + io)


def mean_bucket(count: np.ndarray, mp: np.ndarray, mo: np.ndarray) -> list[Bucket]:
    """The one-bucket baseline: the trace's mean prompt and output tokens."""
    return _finish(count, mp, mo, np.zeros(len(count), dtype="int64"))


def capacity_error(buckets: list[Bucket], prompt: np.ndarray, output: np.ndarray,
                   capacity: Callable[[int, int], float]) -> float:
    """Relative error of the replica-time the buckets imply vs per-request truth (positive = over-provisions).

    ``capacity(p, o)`` is per-replica requests/min at that size; truth is mean_i 1/c(p_i, o_i) over the requests
    given (a uniform sample is an unbiased estimate), bucketed is Σ_b s_b / c(p_b, o_b). Requests whose size
    cannot be served at all (capacity 0) make the truth infinite: the caller should filter them first.
    """
    cache: dict[tuple[int, int], float] = {}

    def inv(p: int, o: int) -> float:
        key = (int(p), int(max(o, 1)))
        if key not in cache:
            c = capacity(*key)
            cache[key] = float("inf") if c <= 0 else 1.0 / c
        return cache[key]

    truth = float(np.mean([inv(p, o) for p, o in zip(prompt.tolist(), output.tolist())]))
    bucketed = sum(b.share * inv(b.prompt_tokens, b.output_tokens) for b in buckets)
    return bucketed / truth - 1.0
