"""``planner.csr.CsrMatrix`` is the matrix scipy would build from the same triplets, entry for entry, and multiplies
a vector to the same bits (the problem's violation check must not change when scipy leaves the solve path)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from planner.csr import CsrMatrix


def _scipy(vals, rows, cols, shape):
    a = sp.csr_matrix((np.asarray(vals, float), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))),
                      shape=shape)
    a.sum_duplicates()
    a.eliminate_zeros()
    return a


def _triplets(seed: int, m: int, n: int, nnz: int, integer: bool):
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, m, nnz), rng.integers(0, n, nnz)  # duplicates and unsorted entries
    vals = rng.integers(-3, 4, nnz).astype(float) if integer else rng.normal(size=nnz)
    return vals, rows, cols


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("m, n, nnz", [(1, 1, 3), (5, 7, 40), (40, 30, 300), (3, 9, 0)])
def test_from_coo_is_scipys_canonical_matrix(seed, m, n, nnz):
    # integer values: sums of duplicates are exact whatever order adds them
    vals, rows, cols = _triplets(seed, m, n, nnz, integer=True)
    ours, theirs = CsrMatrix.from_coo(vals, rows, cols, (m, n)), _scipy(vals, rows, cols, (m, n))
    assert ours.shape == theirs.shape and ours.nnz == theirs.nnz
    assert ours.indptr.tolist() == theirs.indptr.tolist() and ours.indices.tolist() == theirs.indices.tolist()
    assert ours.data.tolist() == theirs.data.tolist()
    assert ours.indices.dtype == theirs.indices.dtype
    assert np.array_equal(ours.toarray(), theirs.toarray())
    assert np.array_equal(ours.to_scipy().toarray(), theirs.toarray())


@pytest.mark.parametrize("seed", range(4))
def test_sorted_distinct_triplets_keep_their_values_bit_for_bit(seed):
    """The planner's blocks: sorted, no duplicates, real-valued (some zeros, which leave)."""
    rng = np.random.default_rng(seed)
    m, n = 30, 20
    keys = np.sort(rng.choice(m * n, 150, replace=False))
    vals = rng.normal(size=keys.size) * 1e3
    vals[::17] = 0.0
    ours, theirs = CsrMatrix.from_coo(vals, keys // n, keys % n, (m, n)), _scipy(vals, keys // n, keys % n, (m, n))
    assert ours.data.tobytes() == theirs.data.tobytes()
    assert ours.indices.tolist() == theirs.indices.tolist() and ours.indptr.tolist() == theirs.indptr.tolist()


@pytest.mark.parametrize("seed", range(4))
def test_matvec_and_abs_match_scipy_to_the_bit(seed):
    vals, rows, cols = _triplets(seed, 25, 35, 200, integer=False)
    ours, theirs = CsrMatrix.from_coo(vals, rows, cols, (25, 35)), _scipy(vals, rows, cols, (25, 35))
    x = np.random.default_rng(seed + 100).normal(size=35) * 10
    assert (ours @ x).tobytes() == (theirs @ x).tobytes()
    assert (abs(ours) @ np.abs(x)).tobytes() == (abs(theirs) @ np.abs(x)).tobytes()
    assert (ours @ np.zeros(35)).shape == (25,)


def test_matvec_takes_vectors_only_and_from_scipy_round_trips():
    a = CsrMatrix.from_coo([1.0, 2.0], [0, 1], [1, 0], (2, 2))
    with pytest.raises(ValueError, match="to_scipy"):
        a @ np.ones((2, 2))
    with pytest.raises(ValueError):
        a @ np.ones(3)
    b = CsrMatrix.from_scipy(a.to_scipy() @ sp.identity(2, format="csr"))
    assert np.array_equal(b.toarray(), [[0.0, 1.0], [2.0, 0.0]])
    empty = CsrMatrix.from_coo([], [], [], (0, 3))
    assert empty.indptr.tolist() == [0] and (empty @ np.ones(3)).shape == (0,)
