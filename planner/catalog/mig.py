"""MIG partition geometry shared by A100, H100 (SXM/PCIe/NVL), H200, B200 and B300.

Source: the NVIDIA MIG User Guide (``nvidia-smi mig -lgipp``) and mig-parted's config-default.yaml.

A GPU has 7 compute slices and 8 memory slices. A GPU instance (GI) of slot class k takes
``mem_k`` contiguous memory slices starting at a legal start s, and compute slices s … s+c_k−1
(compute slice i sits inside memory slice i). Slot classes, in the fixed order used everywhere
(``GpuSpec.mig_profiles`` lists a GPU's profile names in this order):

    class  compute c  memory m  legal starts   H100-80GB name
    1g     1          1         0,1,2,3,4,5,6  1g.10gb
    1g2m   1          2         0,2,4,6        1g.20gb
    2g     2          2         0,2,4          2g.20gb
    3g     3          4         0,4            3g.40gb
    4g     4          4         0              4g.40gb
    7g     7          8         0              7g.80gb

A *layout* is a set of placements (class, start). It is valid iff every start is legal for its
class and the memory intervals [s, s+m) are pairwise disjoint (disjoint memory implies disjoint
compute, so no second check is needed). Per instance: compute fraction c/7, memory fraction m/8,
bandwidth fraction m/8.

Counts (checked by tests): 722 non-empty layouts; 77 distinct non-empty multisets of classes
(``valid_multisets``); 38 *maximal* multisets, i.e. those of the layouts to which no further GI
can be added (``maximal_multisets``); 14 when the 1g2m class is absent (older drivers). Fewer, 28,
multisets are *dominant* (no valid multiset is a strict superset; ``dominant_multisets``): the
smallest pattern set that still covers every valid multiset.

A multiset is represented as a tuple of 6 counts in slot order: ``(0, 0, 0, 1, 1, 0)`` is
3g + 4g. ``multiset_label`` renders it as "3g+4g".

Exact fleet formulation (pattern / cutting-stock): with p ranging over patterns P (the maximal
or dominant multisets) and n_p the number of GPUs cut in pattern p,
``Σ_p n_p · count_p[k] ≥ instances_k`` for every class k and ``Σ_p n_p = GPUs``.
The summed surrogate ``Σ_k c_k·instances_k ≤ 7·GPUs, Σ_k m_k·instances_k ≤ 8·GPUs`` is wrong:
three 4g instances pass it on two GPUs (compute 12 ≤ 14, memory 12 ≤ 16), but 4g starts only at
slice 0, so each 4g needs its own GPU (three GPUs). On one GPU alone the surrogate happens to
accept exactly the 77 valid multisets; the error comes from summing over GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from planner.errors import CatalogError

N_COMPUTE_SLICES = 7
N_MEMORY_SLICES = 8


@dataclass(frozen=True)
class SlotClass:
    """One MIG profile class of the shared geometry."""

    name: str
    compute: int
    memory: int
    starts: tuple[int, ...]

    @property
    def compute_fraction(self) -> float:
        return self.compute / N_COMPUTE_SLICES

    @property
    def memory_fraction(self) -> float:
        return self.memory / N_MEMORY_SLICES

    @property
    def bandwidth_fraction(self) -> float:
        """Memory bandwidth follows memory slices (each slice brings its controllers)."""
        return self.memory / N_MEMORY_SLICES

    def mask(self, start: int) -> int:
        """Memory slices used at ``start``, as a bit mask."""
        return ((1 << self.memory) - 1) << start


SLOT_CLASSES: tuple[SlotClass, ...] = (
    SlotClass("1g", 1, 1, (0, 1, 2, 3, 4, 5, 6)),
    SlotClass("1g2m", 1, 2, (0, 2, 4, 6)),
    SlotClass("2g", 2, 2, (0, 2, 4)),
    SlotClass("3g", 3, 4, (0, 4)),
    SlotClass("4g", 4, 4, (0,)),
    SlotClass("7g", 7, 8, (0,)),
)
SLOT_NAMES: tuple[str, ...] = tuple(c.name for c in SLOT_CLASSES)
_BY_NAME = {c.name: i for i, c in enumerate(SLOT_CLASSES)}
_PLACEMENTS = tuple((i, s) for i, c in enumerate(SLOT_CLASSES) for s in c.starts)

Placement = tuple[str, int]  # (class name, start memory slice)
Layout = tuple[Placement, ...]
Multiset = tuple[int, ...]  # counts in SLOT_CLASSES order


def slot_class(name: str) -> SlotClass:
    """The slot class called ``name`` (one of ``SLOT_NAMES``)."""
    try:
        return SLOT_CLASSES[_BY_NAME[name]]
    except KeyError:
        raise KeyError(f"unknown MIG slot class {name!r}; known: {', '.join(SLOT_NAMES)}") from None


def is_valid_layout(layout: Layout) -> bool:
    """Every start legal for its class, memory intervals pairwise disjoint."""
    used = 0
    for name, start in layout:
        cls = SLOT_CLASSES[_BY_NAME[name]] if name in _BY_NAME else None
        if cls is None or start not in cls.starts or used & cls.mask(start):
            return False
        used |= cls.mask(start)
    return True


def _class_indices(classes) -> tuple[int, ...]:
    return tuple(sorted(_BY_NAME[slot_class(c).name] for c in classes))


@lru_cache(maxsize=None)
def _layouts(allowed: tuple[int, ...]) -> tuple[tuple[tuple[int, int], ...], ...]:
    places = [p for p in _PLACEMENTS if p[0] in allowed]
    out: list[tuple[tuple[int, int], ...]] = []

    def grow(i: int, used: int, cur: tuple[tuple[int, int], ...]) -> None:
        if i == len(places):
            if cur:
                out.append(cur)
            return
        grow(i + 1, used, cur)
        k, s = places[i]
        m = SLOT_CLASSES[k].mask(s)
        if not used & m:
            grow(i + 1, used | m, cur + ((k, s),))

    grow(0, 0, ())
    return tuple(out)


def enumerate_layouts(classes=SLOT_NAMES) -> tuple[Layout, ...]:
    """Every non-empty valid layout using only ``classes`` (722 for all six)."""
    return tuple(tuple((SLOT_CLASSES[k].name, s) for k, s in lay) for lay in _layouts(_class_indices(classes)))


def _counts(layout) -> Multiset:
    c = [0] * len(SLOT_CLASSES)
    for k, _ in layout:
        c[k] += 1
    return tuple(c)


def valid_multisets(classes=SLOT_NAMES) -> tuple[Multiset, ...]:
    """Distinct non-empty multisets realisable on one GPU, sorted (77 for all six classes)."""
    return tuple(sorted({_counts(lay) for lay in _layouts(_class_indices(classes))}))


def maximal_multisets(classes=SLOT_NAMES) -> tuple[Multiset, ...]:
    """Multisets of the maximal layouts, those leaving no room for another GI (38; 14 without 1g2m)."""
    allowed = _class_indices(classes)
    free = [(SLOT_CLASSES[k].mask(s)) for k, s in _PLACEMENTS if k in allowed]
    out = set()
    for lay in _layouts(allowed):
        used = 0
        for k, s in lay:
            used |= SLOT_CLASSES[k].mask(s)
        if all(used & m for m in free):
            out.add(_counts(lay))
    return tuple(sorted(out))


def dominant_multisets(classes=SLOT_NAMES) -> tuple[Multiset, ...]:
    """Valid multisets with no valid strict superset (28 for all six): the fewest covering patterns."""
    valid = set(valid_multisets(classes))
    allowed = _class_indices(classes)
    return tuple(sorted(m for m in valid
                        if not any(tuple(c + (i == k) for i, c in enumerate(m)) in valid for k in allowed)))


def placement_for(counts: Multiset) -> Layout | None:
    """One valid layout realising ``counts`` on a single GPU, or None if there is none."""
    counts = tuple(counts)
    if len(counts) != len(SLOT_CLASSES) or any(c < 0 for c in counts):
        raise ValueError(f"a multiset is {len(SLOT_CLASSES)} non-negative counts in order {SLOT_NAMES}, got {counts}")
    if not any(counts):
        return ()
    for lay in _layouts(tuple(range(len(SLOT_CLASSES)))):
        if _counts(lay) == counts:
            return tuple((SLOT_CLASSES[k].name, s) for k, s in lay)
    return None


def is_realisable(counts: Multiset) -> bool:
    """True when the multiset fits on one GPU (the empty multiset trivially does)."""
    return placement_for(counts) is not None


def multiset_from_names(names) -> Multiset:
    """``["3g", "4g"]`` → ``(0, 0, 0, 1, 1, 0)``."""
    c = [0] * len(SLOT_CLASSES)
    for n in names:
        c[_BY_NAME[slot_class(n).name]] += 1
    return tuple(c)


def multiset_label(counts: Multiset) -> str:
    """``(3, 0, 2, 0, 0, 0)`` → ``"3×1g+2×2g"``."""
    parts = [(f"{n}×" if n > 1 else "") + c.name for c, n in zip(SLOT_CLASSES, counts) if n]
    return "+".join(parts) or "empty"


def multiset_usage(counts: Multiset) -> tuple[int, int]:
    """(compute slices, memory slices) used by the instances of a multiset."""
    return (sum(n * c.compute for c, n in zip(SLOT_CLASSES, counts)),
            sum(n * c.memory for c, n in zip(SLOT_CLASSES, counts)))


def profile_names(gpu_mig_profiles: tuple[str, ...]) -> dict[str, str]:
    """Slot class → profile name for one GPU, e.g. H100-SXM: {"1g": "1g.10gb", …, "7g": "7g.80gb"}.

    ``gpu_mig_profiles`` lists six names in slot order (an empty tuple, a GPU without MIG, gives
    ``{}``); an empty string marks a class the GPU lacks
    (GB200 has no 1g2m or 4g) and is left out of the result. Raises CatalogError when the tuple is
    not six entries or a name's compute prefix contradicts its slot (a "2g…" name in the 3g slot).
    """
    if not gpu_mig_profiles:  # a GPU without MIG
        return {}
    if len(gpu_mig_profiles) != len(SLOT_CLASSES):
        raise CatalogError(f"mig_profiles needs {len(SLOT_CLASSES)} names in order {', '.join(SLOT_NAMES)} "
                           f"(empty string for a missing class), got {len(gpu_mig_profiles)}: {gpu_mig_profiles}")
    out = {}
    for cls, name in zip(SLOT_CLASSES, gpu_mig_profiles):
        if not name:
            continue
        if not name.startswith(f"{cls.compute}g."):
            raise CatalogError(f"MIG profile {name!r} sits in the {cls.name} slot, which has {cls.compute} "
                               f"compute slice(s); expected a name starting with '{cls.compute}g.'")
        out[cls.name] = name
    return out
