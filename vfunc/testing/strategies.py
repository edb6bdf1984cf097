"""Hypothesis strategies for property tests of vfunc code (needs ``pip install vfunc[test]``).

Example:
    >>> from hypothesis import given
    >>> from vfunc.testing import strategies as vst
    >>> @given(vst.arrays(shape=vst.shapes(max_dims=2)))
    ... def test_double(x):
    ...     assert ((x + x) == 2 * x).all()
    >>> test_double()
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vfunc import dtypes
from vfunc.core import Array, wrap_numpy


def shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes with ``min_dims..max_dims`` axes of sizes ``min_side..max_side``."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)  # fmt: skip


def broadcastable_shapes(
    shape: tuple[int, ...], min_dims: int = 0, max_dims: int | None = None
) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes that broadcast against ``shape`` (axes of size 1, fewer leading axes)."""
    return hnp.broadcastable_shapes(shape, min_dims=min_dims, max_dims=max_dims)


def arrays(
    dtype: Any = "float32",
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None = None,
    elements: st.SearchStrategy | None = None,
    min_value: float = -10.0,
    max_value: float = 10.0,
) -> st.SearchStrategy[Array]:
    """vfunc Arrays of ``dtype`` (canonicalized) and ``shape``, finite by default.

    Floats are drawn from ``[min_value, max_value]`` (no NaN or inf unless ``elements`` says
    so); integers from the same range clipped to the dtype.
    """
    target = dtypes.canonicalize(dtype)
    if shape is None:
        shape = shapes()
    if elements is None:
        if target.kind == "f":
            elements = st.floats(min_value, max_value, width=target.itemsize * 8,
                                 allow_nan=False, allow_infinity=False)  # fmt: skip
        elif target.kind in "iu":
            info = np.iinfo(target)
            elements = st.integers(max(int(min_value), info.min), min(int(max_value), info.max))
        elif target.kind == "b":
            elements = st.booleans()
    return hnp.arrays(target, shape, elements=elements).map(lambda a: wrap_numpy(a))


def pytrees(
    leaves: st.SearchStrategy[Any] | None = None, max_leaves: int = 6
) -> st.SearchStrategy[Any]:
    """Nested lists, tuples and dicts (and None) whose leaves come from ``leaves``."""
    leaves = arrays(shape=shapes(max_dims=2, max_side=3)) if leaves is None else leaves

    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        return st.one_of(
            st.lists(children, max_size=3),
            st.lists(children, max_size=3).map(tuple),
            st.dictionaries(st.text("abcdef", min_size=1, max_size=3), children, max_size=3),
        )

    return st.recursive(st.one_of(leaves, st.none()), extend, max_leaves=max_leaves)
