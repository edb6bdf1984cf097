"""A branch-free ``select`` for large arrays (the impl of ``select_p`` calls it).

NumPy's ``where`` branches on every element: with a mask no branch predictor can learn (the
derivative of ``maximum(x, 0)`` on random activations) it runs at about 4 ns an element, 15x a
ufunc's pace; the VJP of ReLU was 40% of an MLP's non-matmul time. The loop below compiles to
vector blends instead. Operands are a C-contiguous array of the result's shape or a broadcast
scalar (all strides 0: ``zeros_like`` cotangents are broadcasts); anything else stays with
``np.where``.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _blend(pred, on_true, on_false, out, true_scalar, false_scalar):  # pragma: no cover - compiled
    # A scalar operand is a 1-element array: reading index 0 keeps one signature per dtype.
    t0 = on_true[0]
    f0 = on_false[0]
    if true_scalar and false_scalar:
        for i in range(out.shape[0]):
            out[i] = t0 if pred[i] else f0
    elif true_scalar:
        for i in range(out.shape[0]):
            out[i] = t0 if pred[i] else on_false[i]
    elif false_scalar:
        for i in range(out.shape[0]):
            out[i] = on_true[i] if pred[i] else f0
    else:
        for i in range(out.shape[0]):
            out[i] = on_true[i] if pred[i] else on_false[i]


def _flat(x: np.ndarray) -> tuple[np.ndarray, bool] | None:
    """``x`` as the kernel takes it, (read-only 1-D view, is it a scalar), or None if neither
    form. Every view is read-only, whatever ``x`` is: numba types read-only arrays apart, and
    one signature per dtype is compiled instead of eight."""
    if x.flags.c_contiguous:
        view, scalar = x.reshape(-1), False
    elif not any(x.strides):
        view, scalar = x[(slice(0, 1),) * x.ndim].reshape(1), True  # the one element
    else:
        return None
    view.flags.writeable = False
    return view, scalar


def select(pred: np.ndarray, on_true: np.ndarray, on_false: np.ndarray) -> np.ndarray | None:
    """``np.where(pred, on_true, on_false)`` for same-shape numeric host operands (the impl
    checks types, shapes and sizes before calling); None where the caller should use
    ``np.where``."""
    if on_true.dtype != on_false.dtype:
        return None
    p, t, f = _flat(pred), _flat(on_true), _flat(on_false)
    if p is None or p[1] or t is None or f is None:
        return None
    out = np.empty(on_true.shape, on_true.dtype)
    _blend(p[0], t[0], f[0], out.reshape(-1), t[1], f[1])
    return out
