"""'Did you mean' hints for ids and field names (difflib, case-insensitive)."""

from __future__ import annotations

import difflib
from typing import Any, Iterable


def closest(word: Any, choices: Iterable[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The choices closest to ``word`` (original spelling kept), best first."""
    if not isinstance(word, str):
        return []
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    return [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=cutoff)]


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` or the empty string."""
    best = closest(word, choices)
    return f"; did you mean '{best[0]}'?" if best else ""
