"""The primitive layer's builders: one function per primitive, binding it and nothing else.

These are ``vfunc.lax``'s functions (the facade re-exports them) and the vocabulary every rule in
``vfunc.primitives`` is written in, so the primitive layer never depends on a front end or on
the Array operators that ``vfunc.numpy`` installs. Unlike ``vfunc.numpy``, they do not promote
dtypes: binary ops need one dtype on both sides (Python scalars are weakly typed and adopt the
other operand's dtype), and transcendental ops need floating-point input.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, tree
from vfunc.core import (
    Array,
    Primitive,
    scalar_to_numpy,
    set_row_view,
    to_numpy_canonical,
    wrap_numpy,
)
from vfunc.primitives import elementwise as ew
from vfunc.primitives._checks import normalize_axis
from vfunc.primitives.elementwise import ROUND_AWAY_FROM_ZERO, ROUND_TO_NEAREST_EVEN
from vfunc.primitives.fft import fft_p
from vfunc.primitives.indexing import (
    gather_p,
    scatter_add_p,
    scatter_max_p,
    scatter_min_p,
    scatter_mul_p,
    scatter_p,
)
from vfunc.primitives.linalg import dot_general_p
from vfunc.primitives.random import erf_inv_p, nextafter_p
from vfunc.primitives.reduction import (
    argmax_p,
    argmin_p,
    reduce_max_p,
    reduce_min_p,
    reduce_prod_p,
    reduce_sum_p,
)
from vfunc.primitives.shape import (
    broadcast_in_dim_p,
    concatenate_p,
    dynamic_slice_p,
    dynamic_update_slice_p,
    expand_dims_p,
    iota_p,
    pad_p,
    reshape_p,
    rev_p,
    slice_p,
    split_p,
    squeeze_p,
    transpose_p,
)
from vfunc.primitives.sorting import cummax_p, cummin_p, cumprod_p, cumsum_p, sort_p

# builtins.complex: this module defines lax.complex (JAX's name) further down
ArrayLike = Array | np.ndarray | bool | int | float | builtins.complex
_PY_SCALARS = (bool, int, float, builtins.complex)


def as_array(x: Any) -> Array:
    """``x`` as a vfunc Array (tracers and Arrays pass through; Python scalars stay weak)."""
    if isinstance(x, Array):
        return x
    return wrap_numpy(*to_numpy_canonical(x))


# Arrays are immutable, so the few constants programs use (0, 1, 0.5, ...) are made once per
# dtype: by the rules here and by vfunc.numpy's promotion alike.
_WEAK_SCALARS: dict[tuple, Array] = {}


def weak_scalar(value: int | float | builtins.complex, dtype: np.dtype) -> Array:
    """A Python number as a weakly typed 0-d Array of ``dtype`` (ints and floats cached)."""
    if type(value) not in (int, float) or value != value:  # NaN keys never match
        return wrap_numpy(scalar_to_numpy(value, dtype), True)
    key = (value, type(value), dtype, value == 0 and math.copysign(1.0, value) < 0)
    cached = _WEAK_SCALARS.get(key)
    if cached is None:
        cached = wrap_numpy(scalar_to_numpy(value, dtype), True)
        if len(_WEAK_SCALARS) < 1024:
            _WEAK_SCALARS[key] = cached
    return cached


def _scalar_like(value: bool | int | float | builtins.complex, like: Array) -> Array:
    # A Python scalar meeting an array takes the array's dtype and stays weakly typed.
    if isinstance(value, bool) and like.dtype != dtypes.bool_:
        return as_array(value)  # bool is strongly typed: let the shape rule report a mismatch
    return weak_scalar(value, like.dtype)


def _operands(*args: Any) -> list[Array]:
    arrays = [a for a in args if isinstance(a, Array)]
    like = arrays[0] if arrays else None
    if like is None:
        return [as_array(a) for a in args]
    return [_scalar_like(a, like) if type(a) in _PY_SCALARS else as_array(a) for a in args]


def _unary_fn(prim: Primitive, name: str):
    def op(x: ArrayLike) -> Array:
        return prim.apply1(x if isinstance(x, Array) else as_array(x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``{prim.name}`` of ``x`` (the ``{prim.name}`` primitive)."
    return op


def _binary_fn(prim: Primitive, name: str):
    def op(x: ArrayLike, y: ArrayLike) -> Array:
        if isinstance(x, Array):  # the common cases in rules, kept cheap
            if isinstance(y, Array):
                return prim.apply2(x, y)
            if type(y) in _PY_SCALARS:
                return prim.apply2(x, _scalar_like(y, x))
        elif isinstance(y, Array) and type(x) in _PY_SCALARS:
            return prim.apply2(_scalar_like(x, y), y)
        return prim.apply2(*_operands(x, y))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"Elementwise ``{prim.name}`` of ``x`` and ``y``, which must share a dtype (Python "
        f"scalars adopt the other operand's); broadcasts like NumPy."
    )
    return op


# fmt: off
neg, abs, sign = (_unary_fn(ew.neg_p, "neg"), _unary_fn(ew.abs_p, "abs"),  # noqa: A001
                  _unary_fn(ew.sign_p, "sign"))
exp, log, log1p, expm1 = (_unary_fn(p, p.name) for p in (ew.exp_p, ew.log_p, ew.log1p_p,
                                                         ew.expm1_p))
sin, cos, tan, tanh = (_unary_fn(p, p.name) for p in (ew.sin_p, ew.cos_p, ew.tan_p, ew.tanh_p))
sinh, cosh = _unary_fn(ew.sinh_p, "sinh"), _unary_fn(ew.cosh_p, "cosh")
asin, acos, atan = (_unary_fn(p, p.name) for p in (ew.asin_p, ew.acos_p, ew.atan_p))
sqrt, rsqrt = _unary_fn(ew.sqrt_p, "sqrt"), _unary_fn(ew.rsqrt_p, "rsqrt")
logistic, erf = _unary_fn(ew.logistic_p, "logistic"), _unary_fn(ew.erf_p, "erf")
erf_inv, nextafter = _unary_fn(erf_inv_p, "erf_inv"), _binary_fn(nextafter_p, "nextafter")
floor, ceil = _unary_fn(ew.floor_p, "floor"), _unary_fn(ew.ceil_p, "ceil")
is_finite, bitwise_not = _unary_fn(ew.is_finite_p, "is_finite"), _unary_fn(ew.not_p, "bitwise_not")
real, imag, conj = (_unary_fn(p, p.name) for p in (ew.real_p, ew.imag_p, ew.conj_p))

add, sub, mul, div = (_binary_fn(p, p.name) for p in (ew.add_p, ew.sub_p, ew.mul_p, ew.div_p))
rem, pow, atan2 = (_binary_fn(p, p.name) for p in (ew.rem_p, ew.pow_p, ew.atan2_p))  # noqa: A001
max, min = _binary_fn(ew.max_p, "max"), _binary_fn(ew.min_p, "min")  # noqa: A001
bitwise_and, bitwise_or, bitwise_xor = (_binary_fn(p, f"bitwise_{p.name}")
                                        for p in (ew.and_p, ew.or_p, ew.xor_p))
eq, ne, lt, le, gt, ge = (_binary_fn(p, p.name)
                          for p in (ew.eq_p, ew.ne_p, ew.lt_p, ew.le_p, ew.gt_p, ew.ge_p))
shift_left, shift_right_arithmetic, shift_right_logical = (
    _binary_fn(p, p.name)
    for p in (ew.shift_left_p, ew.shift_right_arithmetic_p, ew.shift_right_logical_p))
# fmt: on


def round(x: ArrayLike, rounding_method: int = ROUND_AWAY_FROM_ZERO) -> Array:  # noqa: A001
    """Round to the nearest integer: halves away from zero (default) or to even.

    ``rounding_method`` is ``ROUND_AWAY_FROM_ZERO`` (0) or ``ROUND_TO_NEAREST_EVEN`` (1).
    """
    if rounding_method not in (ROUND_AWAY_FROM_ZERO, ROUND_TO_NEAREST_EVEN):
        raise ValueError(f"round: rounding_method must be 0 or 1, got {rounding_method!r}")
    return ew.round_p.bind(as_array(x), rounding_method=int(rounding_method))


def select(pred: ArrayLike, on_true: ArrayLike, on_false: ArrayLike) -> Array:
    """``on_true`` where ``pred`` else ``on_false``; the cases share shape and dtype, and
    ``pred`` is bool of that shape or a scalar."""
    on_true, on_false = _operands(on_true, on_false)
    return ew.select_p.bind(as_array(pred), on_true, on_false)


def convert_element_type(operand: ArrayLike, new_dtype: Any) -> Array:
    """``operand`` converted to ``new_dtype`` (canonicalized; complex to real keeps the real
    part; float to int truncates toward zero)."""
    x = as_array(operand)
    new_dtype = dtypes.canonicalize(new_dtype)
    if x.dtype == new_dtype and not x.weak_type:
        return x
    return ew.convert_element_type_p.bind(x, new_dtype=new_dtype, weak_type=False)


def _axes(axes: Sequence[int]) -> tuple[int, ...]:
    return tuple(sorted(int(a) for a in axes))


def reduce_sum(operand: ArrayLike, axes: Sequence[int]) -> Array:
    """Sum over ``axes`` (non-negative ints)."""
    return reduce_sum_p.bind(as_array(operand), axes=_axes(axes))


def reduce_prod(operand: ArrayLike, axes: Sequence[int]) -> Array:
    """Product over ``axes``."""
    return reduce_prod_p.bind(as_array(operand), axes=_axes(axes))


def reduce_max(operand: ArrayLike, axes: Sequence[int]) -> Array:
    """Maximum over ``axes`` (``-inf`` for an empty float axis; NaN propagates)."""
    return reduce_max_p.bind(as_array(operand), axes=_axes(axes))


def reduce_min(operand: ArrayLike, axes: Sequence[int]) -> Array:
    """Minimum over ``axes`` (``inf`` for an empty float axis; NaN propagates)."""
    return reduce_min_p.bind(as_array(operand), axes=_axes(axes))


def argmax(operand: ArrayLike, axis: int, index_dtype: Any) -> Array:
    """Index of the first maximum along ``axis`` (NaN counts as the maximum, as in numpy)."""
    return argmax_p.bind(as_array(operand), axis=int(axis), index_dtype=np.dtype(index_dtype))


def argmin(operand: ArrayLike, axis: int, index_dtype: Any) -> Array:
    """Index of the first minimum along ``axis``."""
    return argmin_p.bind(as_array(operand), axis=int(axis), index_dtype=np.dtype(index_dtype))


def broadcast_in_dim(
    operand: ArrayLike, shape: Sequence[int], broadcast_dimensions: Sequence[int]
) -> Array:
    """Broadcast ``operand`` to ``shape``; operand axis i becomes axis
    ``broadcast_dimensions[i]`` (zero-copy when eager)."""
    x = as_array(operand)
    shape, dims = tuple(map(int, shape)), tuple(map(int, broadcast_dimensions))
    if x.shape == shape and dims == tuple(range(len(shape))):
        return x
    return broadcast_in_dim_p.bind(x, shape=shape, broadcast_dimensions=dims)


def broadcast(operand: ArrayLike, sizes: Sequence[int]) -> Array:
    """Add leading axes of ``sizes`` to ``operand``."""
    x = as_array(operand)
    sizes = tuple(int(s) for s in sizes)
    return broadcast_in_dim(x, sizes + x.shape, tuple(range(len(sizes), len(sizes) + x.ndim)))


def reshape(
    operand: ArrayLike, new_sizes: Sequence[int], dimensions: Sequence[int] | None = None
) -> Array:
    """Row-major reshape, after transposing by ``dimensions`` when given."""
    x = as_array(operand)
    if dimensions is not None:
        x = transpose(x, dimensions)
    new_sizes = tuple(int(d) for d in new_sizes)
    if x.shape == new_sizes:
        return x
    return reshape_p.bind(x, new_sizes=new_sizes)


def transpose(operand: ArrayLike, permutation: Sequence[int]) -> Array:
    """Permute the axes: output axis i is input axis ``permutation[i]``."""
    x = as_array(operand)
    perm = tuple(int(p) for p in permutation)
    if perm == tuple(range(x.ndim)):
        return x
    return transpose_p.bind(x, permutation=perm)


def squeeze(array: ArrayLike, dimensions: Sequence[int]) -> Array:
    """Remove the size-1 axes ``dimensions``."""
    x = as_array(array)
    dims = tuple(sorted(normalize_axis("squeeze", int(d), x.ndim) for d in dimensions))
    return squeeze_p.bind(x, dimensions=dims) if dims else x


def expand_dims(array: ArrayLike, dimensions: Sequence[int]) -> Array:
    """Insert size-1 axes at positions ``dimensions`` of the output."""
    x = as_array(array)
    out_ndim = x.ndim + len(dimensions)
    dims = tuple(sorted(normalize_axis("expand_dims", int(d), out_ndim) for d in dimensions))
    return expand_dims_p.bind(x, dimensions=dims) if dims else x


def slice(  # noqa: A001
    operand: ArrayLike,
    start_indices: Sequence[int],
    limit_indices: Sequence[int],
    strides: Sequence[int] | None = None,
) -> Array:
    """The static slice ``operand[start:limit:stride, ...]`` (a view when eager)."""
    return slice_p.bind(
        as_array(operand),
        start_indices=tuple(int(i) for i in start_indices),
        limit_indices=tuple(int(i) for i in limit_indices),
        strides=None if strides is None else tuple(int(s) for s in strides),
    )


def index_in_dim(operand: ArrayLike, index: int, axis: int = 0, keepdims: bool = True) -> Array:
    """Element ``index`` (negative counts from the end) of ``axis``, as ``jax.lax.index_in_dim``.

    Raises:
        IndexError: if ``index`` is out of range for that axis.
    """
    x = as_array(operand)
    size = x.shape[axis]
    if not -size <= index < size:
        raise IndexError(
            f"index_in_dim: index {index} is out of range for axis {axis} of size {size}"
        )
    index %= size
    start = [0] * x.ndim
    limit = list(x.shape)
    start[axis], limit[axis] = index, index + 1
    out = slice(x, start, limit)
    return out if keepdims else squeeze(out, (axis,))


# ``for row in tracer`` (core's Tracer.__iter__, below this layer) takes rows with this.
set_row_view(lambda x, i: index_in_dim(x, i, keepdims=False))


def dot_general(
    lhs: ArrayLike,
    rhs: ArrayLike,
    dimension_numbers: Any,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """General tensor contraction, as ``jax.lax.dot_general``.

    ``dimension_numbers`` is ``((lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch))``.
    The output has the batch axes, then lhs's free axes, then rhs's free axes.
    ``precision`` is accepted for JAX compatibility and ignored (CPU math is always full
    precision); ``preferred_element_type`` converts the result.
    """
    del precision
    lhs, rhs = _operands(lhs, rhs)
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(int(d) for d in lc), tuple(int(d) for d in rc)),
          (tuple(int(d) for d in lb), tuple(int(d) for d in rb)))  # fmt: skip
    out = dot_general_p.bind(lhs, rhs, dimension_numbers=dn)
    if preferred_element_type is not None:
        out = convert_element_type(out, preferred_element_type)
    return out


def dot(lhs: ArrayLike, rhs: ArrayLike, precision: Any = None) -> Array:
    """Vector/matrix product contracting lhs's last axis with rhs's first (rank <= 2)."""
    lhs, rhs = as_array(lhs), as_array(rhs)
    return dot_general(lhs, rhs, (((lhs.ndim - 1,), (0,)), ((), ())), precision)


def iota(dtype: Any, size: int) -> Array:
    """``[0, 1, ..., size-1]`` of ``dtype``."""
    return iota_p.bind(dtype=dtypes.canonicalize(dtype), shape=(int(size),), dimension=0)


def broadcasted_iota(dtype: Any, shape: Sequence[int], dimension: int) -> Array:
    """An array of ``shape`` whose value is the index along ``dimension``."""
    shape = tuple(int(d) for d in shape)
    return iota_p.bind(dtype=dtypes.canonicalize(dtype), shape=shape, dimension=int(dimension))


def rev(operand: ArrayLike, dimensions: Sequence[int]) -> Array:
    """Reverse ``operand`` along ``dimensions`` (a negative-stride view when eager)."""
    x = as_array(operand)
    dims = tuple(sorted(int(d) for d in dimensions))
    return rev_p.bind(x, dimensions=dims) if dims else x


def concatenate(operands: Sequence[ArrayLike], dimension: int) -> Array:
    """Join arrays of one dtype along ``dimension`` (all other axes must agree)."""
    arrays = [as_array(o) for o in operands]
    if len(arrays) == 1:
        return arrays[0]
    return concatenate_p.bind(*arrays, dimension=int(dimension))


def split(operand: ArrayLike, sizes: Sequence[int], axis: int = 0) -> list[Array]:
    """Cut ``operand`` along ``axis`` into consecutive pieces of ``sizes`` (which add up to
    that axis's size), as ``jax.lax.split``; views when eager. One equation whose VJP is one
    concatenate (slices would pad each piece's cotangent to the full shape and add the pads).

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> [p.shape for p in lax.split(vnp.ones((2, 5)), (2, 3), axis=1)]
        [(2, 2), (2, 3)]
    """
    x = as_array(operand)
    return list(split_p.bind(x, sizes=tuple(int(s) for s in sizes),
                             axis=normalize_axis("split", axis, x.ndim)))


def pad(operand: ArrayLike, padding_value: ArrayLike, padding_config: Sequence) -> Array:
    """Pad with ``padding_value``: ``padding_config`` holds one ``(low, high, interior)`` per axis.

    Negative ``low``/``high`` crop; ``interior`` inserts that many values between elements.
    """
    x, value = _operands(operand, padding_value)
    config = tuple((int(lo), int(hi), int(mid)) for lo, hi, mid in padding_config)
    return pad_p.bind(x, value, padding_config=config)


def _start_indices(op: str, indices: Sequence[ArrayLike], shape: tuple[int, ...]) -> list[Array]:
    """Start indices as integer scalars, a negative one counting from the end (as JAX)."""
    if len(indices) != len(shape):
        raise ValueError(
            f"{op}: got {len(indices)} start indices for an operand of shape {shape}; pass one "
            "per axis"
        )
    out = []
    for i, size in zip(indices, shape, strict=True):
        if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
            i = int(i) + size if i < 0 else int(i)
            out.append(wrap_numpy(np.array(i, dtype=dtypes.default_int())))
            continue
        i = as_array(i)
        if i.dtype.kind not in "iu":
            raise TypeError(f"{op}: start indices must be integers, got dtype {i.dtype}")
        if i.dtype.kind == "i":
            i = select(lt(i, 0), add(i, size), i)
        out.append(i)
    return out


def dynamic_slice(
    operand: ArrayLike, start_indices: Sequence[ArrayLike], slice_sizes: Sequence[int]
) -> Array:
    """The window of ``slice_sizes`` starting at (possibly traced) ``start_indices``.

    As in JAX, a negative start counts from the end, and starts are then clamped so the window
    fits: a start past the end gives the last full window rather than an error.
    """
    x = as_array(operand)
    starts = _start_indices("dynamic_slice", start_indices, x.shape)
    sizes = tuple(int(k) for k in slice_sizes)
    return dynamic_slice_p.bind(x, *starts, slice_sizes=sizes)


def dynamic_update_slice(
    operand: ArrayLike, update: ArrayLike, start_indices: Sequence[ArrayLike]
) -> Array:
    """``operand`` with ``update`` written at ``start_indices`` (negative ones count from the
    end; then clamped so the update fits, as JAX)."""
    x, upd = _operands(operand, update)
    starts = _start_indices("dynamic_update_slice", start_indices, x.shape)
    return dynamic_update_slice_p.bind(x, upd, *starts)


def dynamic_index_in_dim(
    operand: ArrayLike, index: ArrayLike, axis: int = 0, keepdims: bool = True
) -> Array:
    """Element ``index`` (may be traced; clamped) of ``axis``."""
    x = as_array(operand)
    starts = [0] * x.ndim
    starts[axis] = index
    sizes = list(x.shape)
    sizes[axis] = 1
    out = dynamic_slice(x, starts, sizes)
    return out if keepdims else squeeze(out, (axis,))


def gather(operand: ArrayLike, indices: Sequence[ArrayLike], spec: tuple) -> Array:
    """NumPy-style advanced indexing: ``operand[index]`` for the index described by ``spec``.

    See ``vfunc.primitives.indexing`` for the spec format. Out-of-range indices are clamped.
    Differs from JAX: takes a NumPy-shaped index spec instead of GatherDimensionNumbers.
    """
    return gather_p.bind(as_array(operand), *[as_array(i) for i in indices], spec=spec)


def scatter(
    operand: ArrayLike,
    indices: Sequence[ArrayLike],
    updates: ArrayLike,
    spec: tuple,
    mode: str = "set",
) -> Array:
    """``operand`` with ``updates`` combined into ``operand[index]``; out-of-range indices are
    dropped. ``mode`` is one of set, add, mul, min, max (add, mul, min and max accumulate
    duplicate indices). Differs from JAX: takes a NumPy-shaped index spec."""
    prims = {"set": scatter_p, "add": scatter_add_p, "mul": scatter_mul_p,
             "min": scatter_min_p, "max": scatter_max_p}  # fmt: skip
    if mode not in prims:
        raise ValueError(f"scatter: mode must be one of {sorted(prims)}, got {mode!r}")
    x, upd = _operands(operand, updates)
    return prims[mode].bind(x, upd, *[as_array(i) for i in indices], spec=spec)


def sort(
    operand: ArrayLike | Sequence[ArrayLike],
    dimension: int = -1,
    is_stable: bool = True,
    num_keys: int = 1,
) -> Array | list[Array]:
    """Sort along ``dimension``; with several operands, all are permuted by the first
    ``num_keys`` (lexicographic keys). Always stable; NaNs sort last."""
    del is_stable  # the sort is always stable
    single = isinstance(operand, Array) or not isinstance(operand, (list, tuple))
    arrays = [as_array(operand)] if single else [as_array(o) for o in operand]
    dim = normalize_axis("sort", int(dimension), arrays[0].ndim)
    out = sort_p.bind(*arrays, dimension=dim, num_keys=int(num_keys))
    return out[0] if single else out


def _cumulative(prim: Primitive, name: str):
    def op(operand: ArrayLike, axis: int = 0, reverse: bool = False) -> Array:
        x = as_array(operand)
        ax = normalize_axis(name, int(axis), x.ndim)
        return prim.bind(x, axis=ax, reverse=bool(reverse))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Cumulative ``{name[3:]}`` along ``axis`` (from the end when ``reverse``)."
    return op


cumsum = _cumulative(cumsum_p, "cumsum")
cumprod = _cumulative(cumprod_p, "cumprod")
cummax = _cumulative(cummax_p, "cummax")
cummin = _cumulative(cummin_p, "cummin")


def complex(x: ArrayLike, y: ArrayLike) -> Array:  # noqa: A001  (JAX's name)
    """``x + 1j * y`` from real ``x`` and ``y`` of one dtype (complex64 from float32).

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.lax.complex(vnp.array(1.0), vnp.array(2.0))
        Array(1.+2.j, dtype=complex64)
    """
    x, y = _operands(x, y)
    if x.dtype != y.dtype or x.dtype.kind != "f":
        raise TypeError(
            f"complex: x and y must be real floats of one dtype, got {x.dtype} and {y.dtype}; "
            "convert them first (x.astype(...))"
        )
    ctype = np.result_type(x.dtype, np.complex64)
    re = ew.convert_element_type_p.bind(x, new_dtype=ctype, weak_type=False)
    im = ew.convert_element_type_p.bind(y, new_dtype=ctype, weak_type=False)
    return ew.add_p.bind(re, ew.mul_p.bind(im, wrap_numpy(np.array(1j, ctype))))


def fft(x: ArrayLike, fft_type: str, fft_lengths: Sequence[int]) -> Array:
    """The FFT of ``x`` over its ``len(fft_lengths)`` trailing axes, as ``jax.lax.fft``:
    ``fft_type`` is ``"fft"``, ``"ifft"``, ``"rfft"`` or ``"irfft"`` (JAX's ``FftType`` names,
    lower case, are accepted too) and ``fft_lengths`` the real-side sizes of those axes.

    Example:
        >>> import vfunc, vfunc.numpy as vnp
        >>> vfunc.lax.fft(vnp.ones(4, vnp.complex64), "fft", (4,))
        Array([4.+0.j, 0.+0.j, 0.+0.j, 0.+0.j], dtype=complex64)
    """
    name = str(getattr(fft_type, "name", fft_type)).lower()
    return fft_p.bind(as_array(x), fft_type=name, fft_lengths=tuple(int(n) for n in fft_lengths))


def stop_gradient(x: Any) -> Any:
    """``x`` unchanged (pytrees too), but with zero derivative in every mode.

    Example:
        >>> import vfunc
        >>> vfunc.grad(lambda x: x * vfunc.lax.stop_gradient(x))(3.0)
        Array(3., dtype=float32, weak_type=True)
    """

    def stop(leaf: Any) -> Any:
        leaf = as_array(leaf)
        return ew.stop_gradient_p.bind(leaf) if leaf.dtype.kind in "fc" else leaf

    return tree.map(stop, x)


__all__ = [
    "ArrayLike",
    "as_array",
    "neg",
    "abs",
    "sign",
    "exp",
    "log",
    "log1p",
    "expm1",
    "sin",
    "cos",
    "tan",
    "tanh",
    "sinh",
    "cosh",
    "asin",
    "acos",
    "atan",
    "sqrt",
    "rsqrt",
    "logistic",
    "erf",
    "erf_inv",
    "nextafter",
    "floor",
    "ceil",
    "is_finite",
    "real",
    "imag",
    "conj",
    "complex",
    "fft",
    "bitwise_not",
    "add",
    "sub",
    "mul",
    "div",
    "rem",
    "pow",
    "atan2",
    "max",
    "min",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "shift_left",
    "shift_right_arithmetic",
    "shift_right_logical",
    "round",
    "select",
    "convert_element_type",
    "reduce_sum",
    "reduce_prod",
    "reduce_max",
    "reduce_min",
    "argmax",
    "argmin",
    "broadcast_in_dim",
    "broadcast",
    "reshape",
    "transpose",
    "squeeze",
    "expand_dims",
    "slice",
    "split",
    "index_in_dim",
    "dot_general",
    "dot",
    "iota",
    "broadcasted_iota",
    "rev",
    "concatenate",
    "pad",
    "dynamic_slice",
    "dynamic_update_slice",
    "dynamic_index_in_dim",
    "gather",
    "scatter",
    "sort",
    "cumsum",
    "cumprod",
    "cummax",
    "cummin",
    "stop_gradient",
    "ROUND_AWAY_FROM_ZERO",
    "ROUND_TO_NEAREST_EVEN",
]
