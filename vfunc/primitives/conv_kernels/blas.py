"""``c = a @ b + beta * c`` on strided 2-D views, through the CBLAS that NumPy links.

``np.dot`` takes only whole, contiguous matrices and always overwrites its output. The implicit
GEMM of the grid family (``packed``) multiplies views into a padded buffer (rows a plane apart,
so the leading dimension is not the row length) and accumulates one tap after another into the
same result. CBLAS does both directly: a view whose rows are evenly spaced and whose elements
are contiguous is a matrix with a leading dimension, a transposed view is the same matrix read
``Trans``, and ``beta=1`` accumulates. The call goes through ctypes, which releases the GIL, so
the conv workers run their products in parallel.

Where NumPy's BLAS does not export CBLAS under a known name, ``gemm`` falls back to ``np.dot``
plus an add (slower, the same result).
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_GEMM: dict | None = None


def _find_cblas() -> dict:
    """``{dtype: cblas_?gemm}`` from NumPy's OpenBLAS, or ``{}``.

    scipy-openblas wheels export ``scipy_cblas_sgemm64_`` (64-bit integers); older NumPy
    wheels ``cblas_sgemm`` with 32-bit integers.
    """
    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs, "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix, int_t in (("scipy_cblas_", "64_", ctypes.c_int64),
                                      ("scipy_cblas_", "", ctypes.c_int),
                                      ("cblas_", "64_", ctypes.c_int64),
                                      ("cblas_", "", ctypes.c_int)):  # fmt: skip
            found = {}
            for letter, dtype, real in (("s", np.float32, ctypes.c_float),
                                        ("d", np.float64, ctypes.c_double)):  # fmt: skip
                fn = getattr(lib, f"{prefix}{letter}gemm{suffix}", None)
                if fn is None:
                    break
                fn.restype = None
                fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, int_t, int_t, int_t,
                               real, ctypes.c_void_p, int_t, ctypes.c_void_p, int_t, real,
                               ctypes.c_void_p, int_t]  # fmt: skip
                found[np.dtype(dtype)] = fn
            if len(found) == 2:
                return found
    return {}


def _operand(m: np.ndarray) -> tuple[int, int] | None:
    """``(trans, ld)`` describing the 2-D view ``m`` to CBLAS, or None if it cannot."""
    item = m.itemsize
    s0, s1 = m.strides
    if s1 == item and s0 % item == 0 and s0 >= max(1, m.shape[1]) * item:
        return _NO_TRANS, s0 // item
    if s0 == item and s1 % item == 0 and s1 >= max(1, m.shape[0]) * item:
        return _TRANS, s1 // item
    return None


def gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray, beta: float) -> None:
    """``c[...] = a @ b + beta * c`` (``beta`` 0 or 1) for 2-D views of one float dtype whose
    rows (or, transposed, columns) are contiguous; ``c`` must be row-contiguous."""
    global _GEMM
    if _GEMM is None:
        _GEMM = _find_cblas()
    fn = _GEMM.get(c.dtype)
    da, db, dc = _operand(a), _operand(b), _operand(c)
    if fn is None or da is None or db is None or dc is None or dc[0] != _NO_TRANS or 0 in c.shape:
        if beta:
            c += np.dot(a, b)
        else:
            c[...] = np.dot(a, b)
        return
    m, k = a.shape
    n = b.shape[1]
    if k == 0:
        if not beta:
            c[...] = 0
        return
    fn(_ROW_MAJOR, da[0], db[0], m, n, k, 1.0, a.ctypes.data, da[1], b.ctypes.data, db[1],
       float(beta), c.ctypes.data, dc[1])  # fmt: skip
