"""A canonical CSR matrix in plain numpy: the constraint matrix of ``planner.problem``.

Why not ``scipy.sparse``: importing it costs ~0.15 s of a ~0.5 s ``plan solve`` (it pulls in scipy's
array-API layer and with it most of numpy's optional modules), and the planner's own path only needs to build
the matrix, hand its three arrays to HiGHS and multiply it by a vector. ``to_scipy`` gives the same matrix as a
``scipy.sparse.csr_matrix`` for the code that needs more (other backends, the forecast's decomposition).

Canonical, as scipy's ``csr_matrix((v, (r, c))); sum_duplicates(); eliminate_zeros()`` leaves it: indices
sorted within each row, duplicates summed (in input order, as scipy's COO ``sum_duplicates``), explicit zeros
dropped; int32 indices whenever they fit.
"""

from __future__ import annotations

import numpy as np


def _index_dtype(*sizes: int) -> type:
    return np.int32 if max(sizes, default=0) < 2**31 - 1 else np.int64


class CsrMatrix:
    """Row-compressed sparse matrix: ``data``, ``indices`` (column of each nonzero), ``indptr``, ``shape``."""

    __slots__ = ("data", "indices", "indptr", "shape", "_rows")

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int],
                 rows: np.ndarray | None = None):
        self.data, self.indices, self.indptr = data, indices, indptr
        self.shape = (int(shape[0]), int(shape[1]))
        self._rows = rows   # row_of_nonzeros, made on first use (a product or check uses it every time)

    @classmethod
    def from_coo(cls, vals, rows, cols, shape: tuple[int, int]) -> "CsrMatrix":
        """Duplicates of a (row, column) pair summed, zeros dropped, columns sorted within rows."""
        m, n = shape
        v = np.asarray(vals, dtype=float).ravel()
        r = np.asarray(rows, dtype=np.int64).ravel()
        c = np.asarray(cols, dtype=np.int64).ravel()
        if v.size:
            key = r * n + c  # < 2**62: both sizes are below 2**31
            if not (key[1:] > key[:-1]).all():  # the planner's blocks usually come sorted and without duplicates
                order = np.argsort(key, kind="stable")  # duplicates keep their input order
                key, r, c, v = key[order], r[order], c[order], v[order]
                first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
                if first.size < key.size:   # (a sum of one entry is that entry: nothing to do without duplicates)
                    r, c, v = r[first], c[first], np.add.reduceat(v, first)
            keep = v != 0
            if not keep.all():
                r, c, v = r[keep], c[keep], v[keep]
        dt = _index_dtype(v.size, m, n)
        indptr = np.zeros(m + 1, dtype=dt)
        np.cumsum(np.bincount(r, minlength=m), out=indptr[1:])
        return cls(v, c.astype(dt), indptr, (m, n))

    @classmethod
    def from_scipy(cls, a) -> "CsrMatrix":
        """The arrays of a scipy sparse matrix (converted to CSR), shared where scipy allows."""
        a = a.tocsr()
        return cls(a.data, a.indices, a.indptr, a.shape)

    @property
    def nnz(self) -> int:
        return int(self.data.size)

    def row_of_nonzeros(self) -> np.ndarray:
        """The row of each stored entry (made once; read-only)."""
        if self._rows is None:
            self._rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
            self._rows.setflags(write=False)
        return self._rows

    def __matmul__(self, x):
        """A @ x for a vector x; each row summed in stored order, as scipy's ``csr_matvec`` does."""
        x = np.asarray(x)
        if x.ndim != 1 or x.shape[0] != self.shape[1]:
            raise ValueError(f"CsrMatrix {self.shape} @ array of shape {x.shape}: a vector of {self.shape[1]} "
                             "values is supported (to_scipy() for the rest)")
        return np.bincount(self.row_of_nonzeros(), weights=self.data * x[self.indices], minlength=self.shape[0])

    def __abs__(self) -> "CsrMatrix":
        return CsrMatrix(np.abs(self.data), self.indices, self.indptr, self.shape, self._rows)

    def toarray(self) -> np.ndarray:
        out = np.zeros(self.shape)
        out[self.row_of_nonzeros(), self.indices] = self.data
        return out

    def to_scipy(self):
        """The same matrix as a ``scipy.sparse.csr_matrix`` (imports scipy)."""
        import scipy.sparse as sp  # noqa: PLC0415 - the point of this module is not to import it up front

        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)

    def __repr__(self) -> str:
        return f"CsrMatrix(shape={self.shape}, nnz={self.nnz})"
