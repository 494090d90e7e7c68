"""MIG partition geometry, re-implemented for the verifier (it shares nothing with ``planner.catalog.mig``).

A100/H100/H200/B200 share one geometry: six instance classes, each a number of the eight memory slices and the
slice indices it may start at. A pattern fits one GPU when its instances can be placed at legal starts on
disjoint memory slices (a depth-first search over at most seven instances).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from planner.catalog.records import GpuSpec

# MIG geometry shared by A100/H100/H200/B200 (reference/mig.md section 3): class -> (memory slices, legal starts).
MIG_CLASSES = ("1g", "1g2m", "2g", "3g", "4g", "7g")  # the slot order of GpuSpec.mig_profiles
MIG_GEOMETRY = {"1g": (1, (0, 1, 2, 3, 4, 5, 6)), "1g2m": (2, (0, 2, 4, 6)), "2g": (2, (0, 2, 4)),
                "3g": (4, (0, 4)), "4g": (4, (0,)), "7g": (8, (0,))}
_BY_SHAPE = {(1, 1): "1g", (1, 2): "1g2m", (2, 2): "2g", (3, 4): "3g", (4, 4): "4g", (7, 8): "7g"}
_PROFILE_NAME = re.compile(r"(\d+)g\.(\d+(?:\.\d+)?)gb")


def mig_class(gpu: "GpuSpec", profile: str) -> str | None:
    """Geometry class of ``profile`` on ``gpu`` (None when it is not one of the GPU's profiles).

    The catalog lists six names in slot order (1g, 1g2m, 2g, 3g, 4g, 7g; "" for a class the GPU lacks), so the
    class is the slot position, cross-checked against the name's compute prefix. Other tuples fall back to the
    name: compute prefix, and memory slices relative to the GPU's 7g profile.
    """
    profiles = tuple(gpu.mig_profiles)
    if not profile or profile not in profiles:
        return None
    m = _PROFILE_NAME.fullmatch(profile)
    if len(profiles) == len(MIG_CLASSES):
        cls = MIG_CLASSES[profiles.index(profile)]
        return cls if m is not None and profile.startswith(f"{cls[0]}g.") else None
    full = next((_PROFILE_NAME.fullmatch(p) for p in profiles if p.startswith("7g.")), None)
    if full is None or m is None:
        return None
    slices = round(float(m.group(2)) / (float(full.group(2)) / 8.0))
    return _BY_SHAPE.get((int(m.group(1)), slices))


def profiles_text(gpu: "GpuSpec") -> str:
    return ", ".join(p for p in gpu.mig_profiles if p) or "none"


def mig_classes_fit(classes: Iterable[str]) -> bool:
    """True when instances of these classes can be placed on one GPU (legal starts, disjoint memory slices)."""
    items = sorted(classes, key=lambda c: -MIG_GEOMETRY[c][0])
    if len(items) > 7:
        return False

    def place(i: int, used: int) -> bool:
        if i == len(items):
            return True
        size, starts = MIG_GEOMETRY[items[i]]
        for s in starts:
            mask = ((1 << size) - 1) << s
            if s + size <= 8 and not used & mask and place(i + 1, used | mask):
                return True
        return False

    return place(0, 0)


def mig_pattern_problem(gpu: "GpuSpec", pattern: Iterable[str]) -> str | None:
    """Why ``pattern`` cannot be one GPU's MIG layout, or None when it can."""
    classes = []
    for p in pattern:
        c = mig_class(gpu, p)
        if c is None:
            return f"'{p}' is not a MIG profile of {gpu.id} (profiles: {profiles_text(gpu)})"
        classes.append(c)
    if not mig_classes_fit(classes):
        return f"no placement of {list(pattern)} on one {gpu.id} (legal starts, disjoint memory slices)"
    return None
