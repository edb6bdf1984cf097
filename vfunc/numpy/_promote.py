"""NumPy-style argument handling: JAX dtype promotion and conversion to vfunc arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from vfunc import dtypes
from vfunc.core import Array, Tracer, scalar_to_numpy, to_numpy_canonical, wrap_numpy
from vfunc.primitives.builders import weak_scalar
from vfunc.primitives.elementwise import convert_element_type_p
from vfunc.primitives.shape import concatenate_p, expand_dims_p

# Only these exact types are weakly typed: NumPy scalars such as np.float64 subclass float but
# carry a definite dtype, so they promote strongly (as in JAX): test with type(x) in PY_SCALARS.
PY_SCALARS = (bool, int, float, complex)


def typed(x: Any) -> tuple[np.dtype, bool]:
    """``(dtype, weak_type)`` of an array-like, as promotion sees it."""
    if isinstance(x, Array):
        return x.dtype, x.weak_type
    if type(x) in PY_SCALARS:
        return dtypes.scalar_dtype(x), type(x) is not bool
    if _holds_tracer(x):
        # np.asarray would read the traced values' primals and lose their derivatives.
        return dtypes.promote(*[typed(v) for v in _flat(x)])[0], False
    dtype = np.asarray(x).dtype if not hasattr(x, "dtype") else np.dtype(x.dtype)
    if not dtype.isnative:
        dtype = dtype.newbyteorder("=")  # big-endian input: only the byte order differs
    return dtypes.canonicalize(dtypes.check_supported(dtype, "vfunc.numpy")), False


def same_dtype_operands(x: Any, y: Any) -> tuple[Array, Array] | None:
    """``(x, y)`` as Arrays when promotion has nothing to do, else None: both Arrays of one
    dtype, or a float/complex Array with a Python int or float (which takes its dtype, weakly).
    The caller's primitive settles the weak type of the result."""
    if isinstance(x, Array):
        if isinstance(y, Array):
            return (x, y) if x.dtype == y.dtype else None
        if type(y) in _NUMBERS and x.dtype.kind in "fc":
            return x, weak_scalar(y, x.dtype)
    elif isinstance(y, Array) and type(x) in _NUMBERS and y.dtype.kind in "fc":
        return weak_scalar(x, y.dtype), y
    return None


_NUMBERS = (int, float)


def convert(x: Any, dtype: np.dtype, weak: bool = False) -> Array:
    """``x`` as an Array of exactly ``dtype`` (a primitive only when a traced value changes)."""
    if isinstance(x, Array):
        if x.dtype == dtype and x.weak_type == weak:
            return x
        return convert_element_type_p.bind(x, new_dtype=dtype, weak_type=weak)
    if type(x) in PY_SCALARS:
        return wrap_numpy(scalar_to_numpy(x, dtype), weak)
    if _holds_tracer(x):
        return convert(_stack_nested(x, "vfunc.numpy"), dtype, weak)
    return wrap_numpy(to_numpy_canonical(x, dtype)[0], weak)


def promote_args(*args: Any, inexact: bool = False) -> list[Array]:
    """Convert ``args`` to Arrays of their common dtype under JAX's promotion rules.

    With ``inexact=True`` an integer or bool result is promoted further to the default float
    (as NumPy does for ``sin`` or ``/``). Python scalars stay weakly typed.
    """
    dtype, weak = dtypes.promote(*[typed(a) for a in args])
    if inexact and dtype.kind not in "fc":
        dtype = dtypes.default_float()
    out = []
    for a in args:
        if type(a) in PY_SCALARS:
            # A Python bool is strong unless it lands on a weak result (True + 1 is a weak
            # int, as in JAX); other Python scalars are always weak.
            out.append(wrap_numpy(scalar_to_numpy(a, dtype), weak or type(a) is not bool))
        elif isinstance(a, Array) and a.dtype == dtype:
            out.append(a)  # weak or strong, the primitive's weak-type rule sorts out the result
        else:
            out.append(convert(a, dtype, weak))
    return out


def as_array(x: Any, op: str = "vfunc.numpy") -> Array:
    """Any array-like as an Array (no dtype change beyond canonicalization)."""
    if isinstance(x, Array):
        return x
    if _holds_tracer(x):
        return _stack_nested(x, op)
    return wrap_numpy(*to_numpy_canonical(x))


def _stack_nested(items: list | tuple, op: str) -> Array:
    """A nested list holding traced arrays as one Array, stacked as JAX does: every element is
    converted to the common dtype, then sibling elements (which must share a shape) are stacked
    along a new leading axis, level by level. A list is strongly typed, as a concrete one is."""
    dtype, _ = dtypes.promote(*[typed(v) for v in _flat(items)])

    def build(node: Any, path: str) -> Array:
        if not isinstance(node, (list, tuple)):
            return convert(node, dtype)
        if not node:
            raise ValueError(f"{op}: the empty list at {path or 'the top'} cannot be stacked with "
                             "traced arrays")  # fmt: skip
        parts = [build(v, f"{path}[{i}]") for i, v in enumerate(node)]
        shapes = {p.shape for p in parts}
        if len(shapes) > 1:
            seen = ", ".join(f"{path}[{i}] {p.shape}" for i, p in enumerate(parts))
            raise ValueError(
                f"{op}: the elements of a nested list must share one shape to be stacked (as "
                f"numpy.array requires), got {seen}"
            )
        expanded = [expand_dims_p.bind(p, dimensions=(0,)) for p in parts]
        return expanded[0] if len(expanded) == 1 else concatenate_p.bind(*expanded, dimension=0)

    return build(items, "")


def _holds_tracer(x: Any) -> bool:
    """A (nested) list or tuple with a traced value somewhere: it must be stacked with
    primitives, never read through numpy."""
    return isinstance(x, (list, tuple)) and any(isinstance(v, Tracer) for v in _flat(x))


def _flat(items: Any):
    for v in items:
        if isinstance(v, (list, tuple)):
            yield from _flat(v)
        else:
            yield v
