"""Arrival rates from per-minute counts: the mean, a peak statistic, and an hourly profile.

For one key with per-minute counts n_m over every minute m from its first to its last arrival (zeros included):

- mean rate = Σ n_m / (number of minutes), requests/min;
- the planning rate R = a statistic of {n_m}: ``mean``, ``p50``, ``p90``, ``p95`` (default), ``p99`` or ``max``
  (percentiles by linear interpolation, ``numpy.percentile``);
- the hourly profile: for each slot h (hour of the day, 24 slots, or hour of the week with Monday 00:00 first,
  168 slots; UTC), the same statistic over the minutes that fall in slot h, divided by R. The scenario's rate in
  hour h is then R·profile[h], i.e. each hour is planned at its own statistic; the largest multiplier can exceed 1
  because the busiest hour's p95 is above the p95 of all minutes.

A slot the trace never covers has no data; that is an error rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.errors import InputError

STATISTICS = ("mean", "p50", "p90", "p95", "p99", "max")
PROFILE_SLOTS = {"daily": 24, "weekly": 168}
EPOCH_WEEKDAY_HOUR = 72   # 1970-01-01 was a Thursday: hour 72 of a Monday-first week


def statistic(counts: np.ndarray, name: str) -> float:
    """One of :data:`STATISTICS` of per-minute counts."""
    if name not in STATISTICS:
        raise InputError(f"--rate-statistic: {name!r} is not known; allowed {', '.join(STATISTICS)}")
    if not len(counts):
        return 0.0
    if name == "mean":
        return float(counts.mean())
    if name == "max":
        return float(counts.max())
    return float(np.percentile(counts, float(name[1:])))


@dataclass(frozen=True)
class Rates:
    """Rates of one key, requests/min."""

    mean_per_min: float
    planning_per_min: float
    statistic: str
    minutes: int
    profile: tuple[float, ...] | None


def hour_slot(minute_index: np.ndarray, slots: int, relative_time: bool) -> np.ndarray:
    """Slot of each minute: hour of day, or hour of a Monday-first week (relative traces start on Monday 00:00)."""
    hours = minute_index // 60
    if slots == 168 and not relative_time:
        hours = hours + EPOCH_WEEKDAY_HOUR
    return hours % slots


def rates(minute_index: np.ndarray, counts: np.ndarray, stat: str, profile: str | None, relative_time: bool,
          key: str = "") -> Rates:
    """Mean, planning rate and (optionally) the hourly profile; see the module docstring."""
    mean = float(counts.sum() / len(counts)) if len(counts) else 0.0
    planning = statistic(counts, stat)
    note = stat
    if planning <= 0:
        planning, note = mean, f"mean ({stat} of per-minute counts is 0: too few requests per minute)"
    prof = None
    if profile not in (None, "none"):
        if profile not in PROFILE_SLOTS:
            raise InputError(f"--profile: {profile!r} is not known; allowed daily, weekly, none")
        slots = PROFILE_SLOTS[profile]
        slot = hour_slot(minute_index, slots, relative_time)
        missing = [h for h in range(slots) if not (slot == h).any()]
        if missing:
            raise InputError(f"{key or 'trace'}: --profile {profile} needs every hour of the "
                             f"{'day' if slots == 24 else 'week'} in the trace (hours {missing[:5]}"
                             f"{' ...' if len(missing) > 5 else ''} have no minute); use a longer trace or "
                             f"--profile {'daily' if slots == 168 else 'none'}")
        per = [statistic(counts[slot == h], stat if not note.startswith("mean (") else "mean") for h in range(slots)]
        prof = tuple(round(v / planning, 4) for v in per)
    return Rates(mean_per_min=mean, planning_per_min=planning, statistic=note, minutes=int(len(counts)), profile=prof)
