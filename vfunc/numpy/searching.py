"""Searching: ``nonzero``, whose result length depends on the data.

It sits below both ``ufuncs`` (``where(cond)`` with one argument is ``nonzero``) and
``indexing`` (boolean masks), so neither needs to import the other's module for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vfunc import dtypes
from vfunc.core import Tracer, wrap_numpy
from vfunc.errors import NonConcreteBooleanIndexError
from vfunc.numpy._promote import as_array

ArrayLike = Any


def nonzero(a: ArrayLike, *, size: int | None = None, fill_value: Any = None) -> tuple:
    """Indices of the nonzero elements, one integer array per axis, as ``numpy.nonzero``.

    Needs a concrete ``a`` unless ``size`` is given, in which case the result is truncated or
    padded with ``fill_value`` (default 0) to exactly ``size`` entries, as in JAX.
    """
    x = as_array(a, "nonzero")
    if isinstance(x, Tracer) and size is None:
        raise NonConcreteBooleanIndexError(
            "nonzero: the number of nonzero elements of a traced array is unknown; pass "
            "size=... for a fixed-length result, or use vnp.where(cond, x, y)"
        )
    if isinstance(x, Tracer):
        raise NotImplementedError("nonzero(size=...) of a traced array is not supported yet")
    found = np.nonzero(np.asarray(x))
    int_dtype = dtypes.default_int()
    if size is not None:
        fill = 0 if fill_value is None else fill_value
        found = tuple(
            np.concatenate([f[:size], np.full(max(size - len(f), 0), fill)]) for f in found
        )
    return tuple(wrap_numpy(f.astype(int_dtype)) for f in found)
