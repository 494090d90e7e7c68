"""MIG geometry: enumeration counts from the reference, hand-checked layouts, and why the summed
capacity surrogate undercounts GPUs (three 4g need three GPUs; the surrogate says two)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from planner.catalog import mig
from planner.errors import CatalogError
from planner.problem import Problem
from solvers import registry

NO_1G2M = ("1g", "2g", "3g", "4g", "7g")
H100_SXM = ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")


def ms(*names: str) -> tuple[int, ...]:
    return mig.multiset_from_names(names)


def test_slot_order_and_fractions():
    assert mig.SLOT_NAMES == ("1g", "1g2m", "2g", "3g", "4g", "7g")
    c3 = mig.slot_class("3g")
    assert (c3.compute, c3.memory, c3.starts) == (3, 4, (0, 4))
    assert (c3.compute_fraction, c3.memory_fraction, c3.bandwidth_fraction) == (3 / 7, 0.5, 0.5)
    assert mig.slot_class("1g2m").memory_fraction == 0.25


def test_reference_counts():
    assert len(mig.enumerate_layouts()) == 722
    assert len(mig.valid_multisets()) == 77
    assert len(mig.maximal_multisets()) == 38
    assert len(mig.maximal_multisets(NO_1G2M)) == 14
    assert len(mig.dominant_multisets()) == 28


def test_seventeen_maximal_layouts_use_all_seven_compute_slices():
    full = {mig.multiset_label(m) for m in mig.maximal_multisets() if mig.multiset_usage(m)[0] == 7}
    assert len(full) == 17 and len(mig.maximal_multisets()) - len(full) == 21  # 21 strand compute
    assert {"7g", "3g+4g", "7×1g", "6×1g+1g2m", "1g2m+3×2g", "2×1g+2g+3g"} <= full


@pytest.mark.parametrize("layout, valid", [
    ((("1g", s) for s in range(7)), True),  # 7×1g: memory slices 0–6
    ((("4g", 0), ("3g", 4)), True),  # the full-compute pairing (R510+)
    ((("3g", 0), ("4g", 4)), False),  # 4g only starts at 0
    ((("3g", 0), ("3g", 4)), True),  # 2×3g, compute slice 3 stranded
    ((("2g", 6),), False),  # 2g cannot start at 6
    ((("2g", 0), ("2g", 2), ("2g", 4), ("1g2m", 6)), True),
    ((("1g", 0), ("1g2m", 0)), False),  # memory overlap
    ((("1g", 7),), False),  # no 1-slice profile starts at 7
])
def test_layout_validity(layout, valid):
    assert mig.is_valid_layout(tuple(layout)) is valid


def test_seven_1g_strands_memory_slice_7():
    layout = mig.placement_for(ms(*["1g"] * 7))
    assert sorted(s for _, s in layout) == list(range(7))
    assert mig.multiset_usage(ms(*["1g"] * 7)) == (7, 7)  # 7/8 of memory
    assert ms(*["1g"] * 7) in mig.maximal_multisets()
    # nothing else fits: every placement of every class touches slices 0–6
    assert not any(mig.is_valid_layout(layout + ((c.name, s),)) for c in mig.SLOT_CLASSES for s in c.starts)


@pytest.mark.parametrize("names, realisable", [
    (("3g", "4g"), True),
    (("4g", "4g"), False),  # a single start position
    (("4g",) * 3, False),
    (("3g", "3g"), True),
    (("3g",) * 3, False),  # 12 memory slices > 8
    (("2g",) * 3 + ("1g",) * 2, False),  # 2g at 0,2,4 leaves one legal 1g start (6)
    (("1g2m",) * 4, True),
    (("7g", "1g"), False),
])
def test_realisable_on_one_gpu(names, realisable):
    assert mig.is_realisable(ms(*names)) is realisable


def test_single_gpu_surrogate_matches_exactly_but_only_per_gpu():
    # compute ≤ 7 and memory ≤ 8 on ONE GPU admits exactly the 77 valid multisets (reference §3)
    boxes = [range(8), range(5), range(4), range(3), range(2), range(2)]
    ok = {m for m in itertools.product(*boxes) if any(m)
          and mig.multiset_usage(m)[0] <= 7 and mig.multiset_usage(m)[1] <= 8}
    assert ok == set(mig.valid_multisets())


def test_every_valid_multiset_is_covered_by_a_pattern():
    for patterns in (mig.maximal_multisets(), mig.dominant_multisets()):
        pat = np.array(patterns)
        for m in mig.valid_multisets():
            assert (pat >= np.array(m)).all(axis=1).any(), m


def fewest_gpus(demand: dict[str, int], patterns) -> Problem:
    """min Σ n_p  s.t.  Σ_p n_p·count_p[k] ≥ demand_k  (n_p ∈ ℤ≥0: GPUs cut in pattern p)."""
    p = Problem("mig-patterns")
    n = p.add_vars("gpus", [mig.multiset_label(m) for m in patterns], integer=True)
    counts = np.array(patterns)
    ks = [mig.SLOT_NAMES.index(k) for k in demand]
    rows, cols = np.nonzero(counts[:, ks].T)
    p.add_rows("instances", list(demand), rows, n[cols], counts[:, ks].T[rows, cols], ">=", list(demand.values()))
    p.add_cost("gpus", n, 1.0)
    return p


def surrogate_gpus(demand: dict[str, int]) -> Problem:
    """The wrong model: min g s.t. Σ c_k·d_k ≤ 7g, Σ m_k·d_k ≤ 8g."""
    p = Problem("mig-surrogate")
    g = p.add_var(("gpus",), integer=True)
    compute = sum(mig.slot_class(k).compute * d for k, d in demand.items())
    memory = sum(mig.slot_class(k).memory * d for k, d in demand.items())
    p.add_constraint("compute", (), {g: 7}, ">=", compute)
    p.add_constraint("memory", (), {g: 8}, ">=", memory)
    p.add_cost("gpus", [g], [1.0])
    return p


BACKENDS = [c for c in registry.all_backends() if c.installed()]


@pytest.mark.parametrize("cap", BACKENDS, ids=lambda c: c.name)
def test_three_4g_need_three_gpus_but_the_surrogate_says_two(cap):
    demand = {"4g": 3}
    for patterns in (mig.maximal_multisets(), mig.dominant_multisets()):
        sol = cap.solve(fewest_gpus(demand, patterns))
        assert sol.status == "optimal" and sol.objective == 3.0, sol.message
    wrong = cap.solve(surrogate_gpus(demand))  # compute 12 ≤ 14, memory 12 ≤ 16
    assert wrong.status == "optimal" and wrong.objective == 2.0


@pytest.mark.parametrize("demand, gpus", [
    ({"3g": 3}, 2),  # 2×3g fill one GPU's memory
    ({"1g": 8}, 2),  # 7×1g per GPU at most
    ({"7g": 2}, 2),
    ({"4g": 1, "3g": 1, "2g": 1}, 2),  # 3g+4g is full; the 2g needs a second GPU
    ({"1g2m": 4}, 1),  # starts 0, 2, 4, 6
    ({"1g2m": 5}, 2),
    ({"2g": 3, "1g2m": 1}, 1),  # 1g2m+3×2g uses all 8 memory slices
    ({"2g": 3, "1g": 2}, 2),  # only start 6 is left for a 1g
    ({"4g": 2, "3g": 2}, 2),  # 2 × (3g+4g)
])
def test_pattern_model_hand_cases(demand, gpus):
    sol = registry.solve(fewest_gpus(demand, mig.dominant_multisets()))  # default backend
    assert sol.status == "optimal" and sol.objective == gpus


def test_profile_names():
    assert mig.profile_names(H100_SXM) == dict(zip(mig.SLOT_NAMES, H100_SXM))
    gb200 = ("1g.24gb", "", "2g.47gb", "3g.95gb", "", "7g.189gb")  # no 1g2m, no 4g
    assert mig.profile_names(gb200) == {"1g": "1g.24gb", "2g": "2g.47gb", "3g": "3g.95gb", "7g": "7g.189gb"}
    assert mig.profile_names(()) == {}
    with pytest.raises(CatalogError, match="6 names"):
        mig.profile_names(H100_SXM[:5])
    with pytest.raises(CatalogError, match="3g slot"):
        mig.profile_names(("1g.10gb", "1g.20gb", "2g.20gb", "2g.40gb", "4g.40gb", "7g.80gb"))


def test_multiset_helpers():
    assert ms("3g", "4g") == (0, 0, 0, 1, 1, 0)
    assert mig.multiset_label((3, 0, 2, 0, 0, 0)) == "3×1g+2×2g"
    assert mig.multiset_usage(ms("3g", "3g")) == (6, 8)  # compute slice 3 stranded
    with pytest.raises(ValueError):
        mig.placement_for((1, 2, 3))
