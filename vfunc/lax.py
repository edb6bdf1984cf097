"""``vfunc.lax``: the primitives with their exact semantics, as ``jax.lax``.

Unlike ``vfunc.numpy``, these functions do not promote dtypes: binary ops need one dtype on both
sides (Python scalars are weakly typed and adopt the other operand's dtype), and transcendental
ops need floating-point input. Each function binds its primitive and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vfunc import dtypes, tree
from vfunc.core import Array, Primitive, scalar_to_numpy, to_numpy_canonical, wrap_numpy
from vfunc.primitives import elementwise as ew
from vfunc.primitives._checks import normalize_axis
from vfunc.primitives.elementwise import ROUND_AWAY_FROM_ZERO, ROUND_TO_NEAREST_EVEN
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
    squeeze_p,
    transpose_p,
)
from vfunc.primitives.sorting import cummax_p, cummin_p, cumprod_p, cumsum_p, sort_p

ArrayLike = Array | np.ndarray | bool | int | float | complex
_PY_SCALARS = (bool, int, float, complex)


def as_array(x: Any) -> Array:
    """``x`` as a vfunc Array (tracers and Arrays pass through; Python scalars stay weak)."""
    if isinstance(x, Array):
        return x
    return wrap_numpy(*to_numpy_canonical(x))


def _scalar_like(value: bool | int | float | complex, like: Array) -> Array:
    # A Python scalar meeting an array takes the array's dtype and stays weakly typed.
    if isinstance(value, bool) and like.dtype != dtypes.bool_:
        return as_array(value)  # bool is strongly typed: let the shape rule report a mismatch
    return wrap_numpy(scalar_to_numpy(value, like.dtype), True)


def _operands(*args: Any) -> list[Array]:
    arrays = [a for a in args if isinstance(a, Array)]
    like = arrays[0] if arrays else None
    if like is None:
        return [as_array(a) for a in args]
    return [_scalar_like(a, like) if type(a) in _PY_SCALARS else as_array(a) for a in args]


def _unary_fn(prim: Primitive, name: str):
    def op(x: ArrayLike) -> Array:
        return prim.bind(as_array(x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``{prim.name}`` of ``x`` (the ``{prim.name}`` primitive)."
    return op


def _binary_fn(prim: Primitive, name: str):
    def op(x: ArrayLike, y: ArrayLike) -> Array:
        return prim.bind(*_operands(x, y))

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
    shape, dims = tuple(int(d) for d in shape), tuple(int(d) for d in broadcast_dimensions)
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


# ==============================================================================================
# Control flow (issue 7): cond, switch, while_loop, fori_loop, scan, map.
# Each function stages the user's functions to jaxprs on the operands' shapes and dtypes, checks
# them against each other, and binds one primitive of vfunc.primitives.control_flow. Pytrees are
# flattened here; the primitives see flat operands only.


import builtins  # noqa: E402  (this module shadows max, min and map)


def _control_flow() -> Any:
    from vfunc.primitives import control_flow  # imported late: it imports this module

    return control_flow


class _TypeName:
    """A pytree leaf that prints as its type (``f32[3]``), for error messages."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _describe(treedef: Any, avals: Sequence[Any]) -> str:
    return repr(tree.unflatten(treedef, [_TypeName(a.str_short()) for a in avals]))


def _flat_arrays(value: Any) -> tuple[list[Array], Any]:
    leaves, treedef = tree.flatten(value)
    return [as_array(leaf) for leaf in leaves], treedef


def _abstract(treedef: Any, arrays: Sequence[Array]) -> Any:
    from vfunc.core import ShapeDtypeStruct

    return tree.unflatten(
        treedef, [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in arrays]
    )


def _types_match(got: Sequence[Any], want: Sequence[Any]) -> bool:
    # Weak types may differ: a Python-scalar carry and a float32 update share one type.
    return len(got) == len(want) and all(
        g.shape == w.shape and g.dtype == w.dtype for g, w in zip(got, want, strict=True)
    )


def _index_operand(op: str, value: Any) -> Array:
    index = as_array(value)
    if index.shape != ():
        raise TypeError(f"{op}: the index must be a scalar, got {index.aval.str_short()}")
    return index


def _stage_branches(op: str, index: Array, funs: Sequence[Any], names: Sequence[str],
                    operands: tuple) -> Any:  # fmt: skip
    cf = _control_flow()
    ops, in_tree = _flat_arrays(operands)
    abstract = _abstract(in_tree, ops)
    traced = [cf.trace_callable(fun, abstract) for fun in funs]
    first_jaxpr, _, first_tree = traced[0]
    for name, (jaxpr, _, out_tree) in zip(names[1:], traced[1:], strict=True):
        if out_tree != first_tree or not _types_match(jaxpr.out_avals, first_jaxpr.out_avals):
            raise TypeError(
                f"{op}: {names[0]} and {name} must return the same structure and types, but "
                f"{names[0]} returned {_describe(first_tree, first_jaxpr.out_avals)} and {name} "
                f"returned {_describe(out_tree, jaxpr.out_avals)}"
            )
    # Every branch takes every branch's closed-over tracers, then the operands.
    lifted = [consts for _, consts, _ in traced]
    lifted_avals = [[c.aval for c in consts] for consts in lifted]
    branches = []
    for k, (jaxpr, consts, _) in enumerate(traced):
        after = [a for avals in lifted_avals[k + 1 :] for a in avals]
        before = [a for avals in lifted_avals[:k] for a in avals]
        jaxpr = cf.insert_invars(jaxpr, len(consts), after)
        branches.append(cf.insert_invars(jaxpr, 0, before))
    flat_consts = [c for consts in lifted for c in consts]
    outs = cf.cond_p.bind(index, *flat_consts, *ops, branches=tuple(branches))
    return tree.unflatten(first_tree, outs)


def cond(pred: ArrayLike, true_fun: Any, false_fun: Any, *operands: Any) -> Any:
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``, as one primitive.

    Both branches are traced (they must return the same pytree structure, shapes and dtypes)
    and only the chosen one runs. ``pred`` is a boolean or integer scalar (nonzero is true).
    Under ``vmap`` with a per-member ``pred``, both branches run and a ``select`` picks each
    member's result, as in JAX. Differentiable in both modes, to any order.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> lax.cond(vnp.array(3.0) > 0, lambda x: x * 2, lambda x: -x, vnp.array([1.0, 2.0]))
        Array([2., 4.], dtype=float32)
    """
    pred = as_array(pred)
    if pred.shape != ():
        raise TypeError(f"cond: pred must be a scalar, got {pred.aval.str_short()}")
    if pred.dtype != dtypes.bool_:
        if pred.dtype.kind not in "iu":
            raise TypeError(f"cond: pred must be a boolean or integer scalar, got {pred.dtype}")
        pred = ne(pred, 0)
    index = convert_element_type(pred, np.int32)
    return _stage_branches("cond", index, (false_fun, true_fun), ("false_fun", "true_fun"),
                           operands)  # fmt: skip


def switch(index: ArrayLike, branches: Sequence[Any], *operands: Any) -> Any:
    """``branches[index](*operands)``, with ``index`` clamped to ``[0, len(branches) - 1]``.

    Every branch is traced and must return the same structure, shapes and dtypes; only the
    chosen one runs (under ``vmap`` with a per-member index, all run and each member selects).

    Example:
        >>> from vfunc import lax
        >>> lax.switch(5, [lambda x: x + 1, lambda x: x * 10], 2.0)
        Array(20., dtype=float32, weak_type=True)
    """
    funs = tuple(branches)
    if not funs:
        raise ValueError("switch: branches must be a non-empty sequence of functions")
    idx = _index_operand("switch", index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"switch: the index must be an integer scalar, got {idx.dtype}")
    idx = convert_element_type(idx, np.int32)
    if len(funs) == 1:
        return funs[0](*operands)
    idx = max(min(idx, len(funs) - 1), 0)
    names = [f"branches[{k}]" for k in range(len(funs))]
    return _stage_branches("switch", idx, funs, names, operands)


def while_loop(cond_fun: Any, body_fun: Any, init_val: Any) -> Any:
    """Repeat ``val = body_fun(val)`` while ``cond_fun(val)``; return the final ``val``.

    ``body_fun`` must return the structure, shapes and dtypes of ``init_val``, and ``cond_fun``
    a boolean scalar. Forward-mode differentiable (``vfunc.jvp``); reverse mode raises (the
    trip count is only known at run time): use ``fori_loop`` with static bounds or ``scan``
    for gradients. Under
    ``vmap`` with a per-member condition the loop runs until every member is done, holding
    the carries of finished members.

    Example:
        >>> from vfunc import lax
        >>> lax.while_loop(lambda x: x < 100, lambda x: x * 3, 1)
        Array(243, dtype=int32, weak_type=True)
    """
    cf = _control_flow()
    init, in_tree = _flat_arrays(init_val)
    abstract = _abstract(in_tree, init)
    cond_jaxpr, cond_consts, cond_tree = cf.trace_callable(cond_fun, (abstract,))
    pred = cond_jaxpr.out_avals
    if cond_tree.num_leaves != 1 or pred[0].shape != () or pred[0].dtype != dtypes.bool_:
        raise TypeError(
            "while_loop: cond_fun must return a boolean scalar, but it returned "
            f"{_describe(cond_tree, pred)}"
        )
    body_jaxpr, body_consts, body_tree = cf.trace_callable(body_fun, (abstract,))
    if body_tree != in_tree or not _types_match(body_jaxpr.out_avals, [a.aval for a in init]):
        raise TypeError(
            "while_loop: body_fun must return the structure and types of its carry, but "
            f"init_val is {_describe(in_tree, [a.aval for a in init])} and body_fun returned "
            f"{_describe(body_tree, body_jaxpr.out_avals)}"
        )
    outs = cf.while_p.bind(
        *cond_consts, *body_consts, *init, cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr,
        cond_nconsts=len(cond_consts), body_nconsts=len(body_consts),
    )  # fmt: skip
    return tree.unflatten(in_tree, outs)


def fori_loop(lower: ArrayLike, upper: ArrayLike, body_fun: Any, init_val: Any, *,
              unroll: int | bool | None = None) -> Any:  # fmt: skip
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)``; return ``val``.

    With concrete bounds (Python ints or concrete arrays, even under ``jit``) this is a
    ``scan`` of ``upper - lower`` steps, differentiable in reverse mode; with traced bounds it
    is a ``while_loop`` (forward mode only). ``i`` has the bounds' integer dtype.

    Example:
        >>> from vfunc import lax
        >>> lax.fori_loop(0, 5, lambda i, total: total + i, 0)
        Array(10, dtype=int32)
    """
    from vfunc.core import Tracer

    lo, hi = as_array(lower), as_array(upper)
    for name, bound in (("lower", lo), ("upper", hi)):
        if bound.shape != () or bound.dtype.kind not in "iu":
            raise TypeError(
                f"fori_loop: {name} must be an integer scalar, got {bound.aval.str_short()}"
            )
    dtype, _ = dtypes.promote((lo.dtype, lo.weak_type), (hi.dtype, hi.weak_type))
    static = not isinstance(lower, Tracer) and not isinstance(upper, Tracer)
    # Read the trip count before converting: under jit the conversion is staged, not run.
    length = builtins.max(int(upper) - int(lower), 0) if static else 0
    lo, hi = convert_element_type(lo, dtype), convert_element_type(hi, dtype)
    if static:

        def step(carry: Any, _: Any) -> Any:
            i, val = carry
            return (i + 1, body_fun(i, val)), None

        steps = 1 if unroll is None else unroll
        (_, result), _ = scan(step, (lo, init_val), None, length=length, unroll=steps)
        return result

    def keep_going(carry: Any) -> Any:
        return lt(carry[0], carry[1])

    def body(carry: Any) -> Any:
        i, end, val = carry
        return i + 1, end, body_fun(i, val)

    return while_loop(keep_going, body, (lo, hi, init_val))[2]


def scan(f: Any, init: Any, xs: Any = None, length: int | None = None, reverse: bool = False,
         unroll: int | bool = 1) -> tuple[Any, Any]:  # fmt: skip
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs``; return the final carry
    and the ``y``s stacked, as ``jax.lax.scan``.

    Args:
        f: ``(carry, x) -> (carry, y)``; the carry keeps its structure, shapes and dtypes.
        init: the initial carry (a pytree).
        xs: a pytree of arrays sharing a leading axis (or None, with ``length``).
        length: the number of steps (required when ``xs`` is None).
        reverse: run from the last element to the first (``ys`` stay in ``xs``'s order).
        unroll: accepted for JAX compatibility; vfunc runs a compiled body per step either way.

    Reverse mode runs a reverse scan over the body's VJP, storing one carry per step.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> lax.scan(lambda c, x: (c + x, c * x), 0.0, vnp.arange(1.0, 4.0))
        (Array(6., dtype=float32), Array([0., 2., 9.], dtype=float32))
    """
    cf = _control_flow()
    carry, carry_tree = _flat_arrays(init)
    x_leaves, x_tree = _flat_arrays(xs)
    lengths = set()
    for x in x_leaves:
        if not x.shape:
            shown = _describe(x_tree, [a.aval for a in x_leaves])
            raise ValueError(f"scan: xs leaves need a leading axis to scan over, got {shown}")
        lengths.add(x.shape[0])
    if length is not None:
        length = int(length)
        lengths.add(length)
    if len(lengths) != 1:
        if not lengths:
            raise ValueError("scan: pass length when xs is None (or has no arrays)")
        raise ValueError(
            f"scan: xs leaves must share one leading axis length (and match length="
            f"{length}), got {_describe(x_tree, [a.aval for a in x_leaves])}"
        )
    n = lengths.pop()
    if isinstance(unroll, bool):
        unroll = builtins.max(n, 1) if unroll else 1
    from vfunc.core import ShapeDtypeStruct

    x_abstract = tree.unflatten(
        x_tree, [ShapeDtypeStruct(x.shape[1:], x.dtype, x.weak_type) for x in x_leaves]
    )
    out_trees: list = []

    def body(c: Any, x: Any) -> Any:
        out = f(c, x)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"scan: f must return a pair (carry, y), got a {type(out).__name__}")
        out_trees[:] = [tree.structure(out[0]), tree.structure(out[1])]
        return tuple(out)

    jaxpr, consts, _ = cf.trace_callable(body, (_abstract(carry_tree, carry), x_abstract))
    carry_out_tree, y_tree = out_trees
    m = len(carry)
    carry_out = jaxpr.out_avals[: carry_out_tree.num_leaves]
    if carry_out_tree != carry_tree or not _types_match(carry_out, [c.aval for c in carry]):
        raise TypeError(
            "scan: f must return a carry with the structure and types of its carry input, but "
            f"the input carry is {_describe(carry_tree, [c.aval for c in carry])} and f "
            f"returned {_describe(carry_out_tree, carry_out)}"
        )
    outs = cf.scan_p.bind(
        *consts, *carry, *x_leaves, jaxpr=jaxpr, num_consts=len(consts), num_carry=m,
        length=n, reverse=bool(reverse), unroll=int(unroll),
    )  # fmt: skip
    return tree.unflatten(carry_tree, outs[:m]), tree.unflatten(y_tree, outs[m:])


def map(f: Any, xs: Any, *, batch_size: int | None = None) -> Any:  # noqa: A001
    """``f`` applied to each slice of ``xs`` along its leading axis, results stacked: a
    ``scan`` without a carry (one compiled body call per slice, unlike ``vmap``).

    With ``batch_size``, each step applies ``vmap(f)`` to that many slices at once (a trade
    between vmap's speed and scan's memory, as in JAX); a remainder that does not fill a batch
    is mapped in one more vmapped call.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> lax.map(lambda row: row.sum(), vnp.ones((3, 2)))
        Array([2., 2., 2.], dtype=float32)
        >>> lax.map(lambda row: row.sum(), vnp.ones((5, 2)), batch_size=2)
        Array([2., 2., 2., 2., 2.], dtype=float32)
    """
    if batch_size is None:
        _, ys = scan(lambda carry, x: (carry, f(x)), (), xs)
        return ys
    from vfunc.transforms.batching import vmap  # transforms build on lax

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"map: batch_size must be a positive int, got {batch_size!r}")
    xs = tree.map(as_array, xs)
    lengths = {x.shape[0] if x.ndim else None for x in tree.leaves(xs)}
    if len(lengths) != 1 or None in lengths:
        raise ValueError(
            f"map: every leaf of xs needs one common leading axis, got lengths {lengths}"
        )
    n = lengths.pop()
    steps, full = n // batch_size, n // batch_size * batch_size
    mapped = vmap(f)

    def rows(x: Array, lo: int, hi: int) -> Array:
        return slice(x, (lo,) + (0,) * (x.ndim - 1), (hi, *x.shape[1:]))

    parts = []
    if steps:
        head = tree.map(lambda x: reshape(rows(x, 0, full), (steps, batch_size, *x.shape[1:])), xs)
        _, ys = scan(lambda carry, x: (carry, mapped(x)), (), head)
        parts.append(tree.map(lambda y: reshape(y, (full, *y.shape[2:])), ys))
    if full < n:
        parts.append(mapped(tree.map(lambda x: rows(x, full, n), xs)))
    if len(parts) == 1:
        return parts[0]
    return tree.map(lambda a, b: concatenate([a, b], 0), *parts)


# ==============================================================================================
# Convolution and windowed reductions (conv_general_dilated, conv, conv_transpose,
# reduce_window). The primitives take one canonical layout and explicit padding; these
# wrappers translate JAX's dimension numbers, padding strings and batch groups onto it.

import builtins as _builtins  # noqa: E402  (max is lax.max here)
from typing import NamedTuple  # noqa: E402

from vfunc.primitives.conv import canonical_params, conv_general_dilated_p  # noqa: E402
from vfunc.primitives.window import (  # noqa: E402
    reduce_window_max_p,
    reduce_window_sum_p,
    window_params,
)


class ConvDimensionNumbers(NamedTuple):
    """Axis numbers of (batch, feature, *spatial) in lhs and out, (out-feature, in-feature,
    *spatial) in rhs, as ``jax.lax.ConvDimensionNumbers``."""

    lhs_spec: tuple[int, ...]
    rhs_spec: tuple[int, ...]
    out_spec: tuple[int, ...]


def conv_dimension_numbers(
    lhs_shape: Sequence[int], rhs_shape: Sequence[int], dimension_numbers: Any
) -> ConvDimensionNumbers:
    """Normalise ``dimension_numbers`` (None, a ConvDimensionNumbers, or three layout strings
    such as ``("NHWC", "HWIO", "NHWC")``) to axis numbers.

    Spatial axes are matched by letter and ordered as they appear in the rhs string, as in JAX.
    """
    nd = len(lhs_shape)
    if len(rhs_shape) != nd:
        raise ValueError(
            f"conv_general_dilated: lhs {tuple(lhs_shape)} and rhs {tuple(rhs_shape)} must have "
            "the same rank"
        )
    if dimension_numbers is None:
        spec = tuple(range(nd))
        return ConvDimensionNumbers(spec, spec, spec)
    if isinstance(dimension_numbers, ConvDimensionNumbers) or not isinstance(
        dimension_numbers[0], str
    ):
        lhs, rhs, out = (tuple(int(a) for a in s) for s in dimension_numbers)
        for name, s in (("lhs_spec", lhs), ("rhs_spec", rhs), ("out_spec", out)):
            if sorted(s) != list(range(nd)):
                raise ValueError(
                    f"conv_general_dilated: dimension_numbers {name} {s} must be a permutation "
                    f"of range({nd})"
                )
        return ConvDimensionNumbers(lhs, rhs, out)
    lhs_s, rhs_s, out_s = dimension_numbers
    for name, s, n in (("lhs", lhs_s, nd), ("rhs", rhs_s, nd), ("out", out_s, nd)):
        if len(s) != n or len(set(s)) != n:
            raise ValueError(
                f"conv_general_dilated: dimension_numbers {name} spec {s!r} must name each of "
                f"the {n} axes once"
            )
    if not ({"N", "C"} <= set(lhs_s) and {"N", "C"} <= set(out_s) and {"O", "I"} <= set(rhs_s)):
        raise ValueError(
            f"conv_general_dilated: dimension_numbers {dimension_numbers!r} need N and C in the "
            "lhs and out specs and O and I in the rhs spec"
        )
    rhs_spatial = [c for c in rhs_s if c not in "OI"]
    if set(rhs_spatial) != set(lhs_s) - {"N", "C"} or set(rhs_spatial) != set(out_s) - {"N", "C"}:
        raise ValueError(
            f"conv_general_dilated: dimension_numbers {dimension_numbers!r} name different "
            "spatial axes in lhs, rhs and out"
        )
    return ConvDimensionNumbers(
        (lhs_s.index("N"), lhs_s.index("C"), *(lhs_s.index(c) for c in rhs_spatial)),
        (rhs_s.index("O"), rhs_s.index("I"), *(rhs_s.index(c) for c in rhs_spatial)),
        (out_s.index("N"), out_s.index("C"), *(out_s.index(c) for c in rhs_spatial)),
    )


def padtype_to_pads(
    in_shape: Sequence[int], window_shape: Sequence[int], window_strides: Sequence[int],
    padding: str,
) -> list[tuple[int, int]]:  # fmt: skip
    """Explicit ``(low, high)`` pads for ``'SAME'``, ``'SAME_LOWER'`` or ``'VALID'``.

    SAME gives ``ceil(in / stride)`` outputs, with the odd pad element at the high end (at the
    low end for SAME_LOWER).
    """
    mode = padding.upper()
    if mode == "VALID":
        return [(0, 0)] * len(in_shape)
    if mode not in ("SAME", "SAME_LOWER"):
        raise ValueError(f"padding must be 'SAME', 'SAME_LOWER', 'VALID' or pairs, got {padding!r}")
    pads = []
    for n, k, s in zip(in_shape, window_shape, window_strides, strict=True):
        out = -(-n // s)
        total = _builtins.max((out - 1) * s + k - n, 0)
        lo = total // 2 if mode == "SAME" else total - total // 2
        pads.append((lo, total - lo))
    return pads


def _int_tuple(name: str, values: Sequence[int] | None, n: int, op: str) -> tuple[int, ...]:
    if values is None:
        return (1,) * n
    out = tuple(int(v) for v in values)
    if len(out) != n:
        raise ValueError(f"{op}: {name} {out} needs {n} entries, one per spatial axis")
    if any(v < 1 for v in out):
        raise ValueError(f"{op}: {name} must be positive, got {out}")
    return out


def conv_general_dilated(
    lhs: ArrayLike,
    rhs: ArrayLike,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """General N-d convolution (1 to 3 spatial axes), as ``jax.lax.conv_general_dilated``.

    ``padding`` is ``'SAME'``, ``'SAME_LOWER'``, ``'VALID'`` or one ``(low, high)`` pair per
    spatial axis (negative pads crop). ``lhs_dilation`` inserts holes between input elements
    (transposed convolution), ``rhs_dilation`` between kernel taps (atrous convolution).
    ``feature_group_count`` splits the features into groups (depthwise when it equals the input
    features); ``batch_group_count`` splits the batch into groups, each convolved with its share
    of the output features. The default layout is NCHW / OIHW / NCHW; ``dimension_numbers``
    takes strings such as ``("NHWC", "HWIO", "NHWC")``. ``precision`` is ignored (CPU math is
    full precision); ``preferred_element_type`` converts the result.

    The primitive in the jaxpr always sees the canonical layout: other layouts appear as
    transposes around it, and batch groups as a reshape into feature groups.

    Raises:
        ValueError: for mismatched feature counts, kernels larger than the padded input,
            non-positive strides or dilations and groups that do not divide the features; the
            message names the parameter and the shapes.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> x = vnp.arange(5.0).reshape(1, 1, 5)
        >>> lax.conv_general_dilated(x, vnp.ones((1, 1, 2)), (1,), "VALID")
        Array([[[1., 3., 5., 7.]]], dtype=float32)
    """
    del precision
    op = "conv_general_dilated"
    lhs, rhs = _operands(lhs, rhs)
    dn = conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    nsp = lhs.ndim - 2
    if nsp < 1:
        raise ValueError(f"{op}: lhs {lhs.shape} needs batch, feature and spatial axes")
    strides = _int_tuple("window_strides", window_strides, nsp, op)
    lhs_dil = _int_tuple("lhs_dilation", lhs_dilation, nsp, op)
    rhs_dil = _int_tuple("rhs_dilation", rhs_dilation, nsp, op)
    x = transpose(lhs, dn.lhs_spec)
    w = transpose(rhs, dn.rhs_spec)
    if isinstance(padding, str):
        if any(d != 1 for d in lhs_dil):
            # As JAX: what SAME means for a transposed convolution is ambiguous.
            raise ValueError(
                f"{op}: string padding {padding!r} is not supported with lhs_dilation {lhs_dil}; "
                "give explicit (low, high) pairs or use conv_transpose"
            )
        k_eff = [(k - 1) * d + 1 for k, d in zip(w.shape[2:], rhs_dil, strict=True)]
        pads = padtype_to_pads(x.shape[2:], k_eff, strides, padding)
    else:
        pads = [tuple(p) for p in padding]
    groups, batch_groups = int(feature_group_count), int(batch_group_count)
    if batch_groups < 1:
        raise ValueError(f"{op}: batch_group_count must be positive, got {batch_groups}")
    if batch_groups > 1:
        if groups != 1:
            raise ValueError(f"{op}: feature_group_count and batch_group_count cannot both be > 1")
        n, c = x.shape[:2]
        if n % batch_groups or w.shape[0] % batch_groups:
            raise ValueError(
                f"{op}: batch_group_count={batch_groups} must divide the lhs batch {n} (lhs "
                f"{lhs.shape}) and the rhs output features {w.shape[0]} (rhs {rhs.shape})"
            )
        # Batch group b (members b*N/B ...) becomes feature group b of a batch of N/B.
        x = reshape(x, (batch_groups, n // batch_groups, c, *x.shape[2:]))
        x = reshape(transpose(x, (1, 0, *range(2, x.ndim))),
                    (n // batch_groups, batch_groups * c, *x.shape[3:]))  # fmt: skip
        groups = batch_groups
    params = canonical_params(strides, pads, lhs_dil, rhs_dil, groups)
    out = conv_general_dilated_p.bind(x, w, **params)
    out = transpose(out, tuple(int(i) for i in np.argsort(dn.out_spec)))
    if preferred_element_type is not None:
        out = convert_element_type(out, preferred_element_type)
    return out


def conv(
    lhs: ArrayLike,
    rhs: ArrayLike,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """Convolution in the NCHW / OIHW layout without dilation or groups, as ``jax.lax.conv``."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)  # fmt: skip


def _conv_transpose_padding(k: int, s: int, padding: str) -> tuple[int, int]:
    if padding.upper() == "SAME":
        total = k + s - 2
        lo = k - 1 if s > k - 1 else -(-total // 2)
    elif padding.upper() == "VALID":
        total = k + s - 2 + _builtins.max(k - s, 0)
        lo = k - 1
    else:
        raise ValueError(
            f"conv_transpose: padding must be 'SAME', 'VALID' or pairs, got {padding!r}"
        )
    return lo, total - lo


def conv_transpose(
    lhs: ArrayLike,
    rhs: ArrayLike,
    strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    transpose_kernel: bool = False,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """Transposed ("deconvolution") convolution, as ``jax.lax.conv_transpose``: a convolution
    of the lhs dilated by ``strides``. The default layout is channels-last (NHWC / HWIO / NHWC,
    and the 1-D and 3-D analogues). With ``transpose_kernel=True`` the kernel is flipped
    spatially and its feature axes swapped, which makes this the gradient of ``conv`` with the
    same kernel.
    """
    lhs, rhs = _operands(lhs, rhs)
    nd = lhs.ndim
    if dimension_numbers is None:
        if not 3 <= nd <= 5:
            raise ValueError(f"conv_transpose: lhs {lhs.shape} must have rank 3 to 5")
        sp = "HWD"[: nd - 2]
        dimension_numbers = ("N" + sp + "C", sp + "IO", "N" + sp + "C")
    dn = conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    nsp = nd - 2
    rhs_dil = _int_tuple("rhs_dilation", rhs_dilation, nsp, "conv_transpose")
    strides = _int_tuple("strides", strides, nsp, "conv_transpose")
    k_sp = [rhs.shape[a] for a in dn.rhs_spec[2:]]
    k_eff = [(k - 1) * d + 1 for k, d in zip(k_sp, rhs_dil, strict=True)]
    if isinstance(padding, str):
        pads = [_conv_transpose_padding(k, s, padding) for k, s in zip(k_eff, strides, strict=True)]
    else:
        pads = [tuple(p) for p in padding]
    if transpose_kernel:
        rhs = rev(rhs, dn.rhs_spec[2:])
        perm = list(range(nd))
        perm[dn.rhs_spec[0]], perm[dn.rhs_spec[1]] = dn.rhs_spec[1], dn.rhs_spec[0]
        rhs = transpose(rhs, perm)
    return conv_general_dilated(lhs, rhs, (1,) * nsp, pads, lhs_dilation=strides,
                                rhs_dilation=rhs_dil, dimension_numbers=dn, precision=precision,
                                preferred_element_type=preferred_element_type)  # fmt: skip


def _monoid(computation: Any) -> str:
    name = getattr(computation, "__name__", "")
    if computation is max or name in ("max", "maximum"):
        return "max"
    if computation is add or name == "add":
        return "add"
    raise NotImplementedError(
        f"reduce_window: computation {computation!r} is not supported; use lax.max or lax.add"
    )


def reduce_window(
    operand: ArrayLike,
    init_value: ArrayLike,
    computation: Any,
    window_dimensions: Sequence[int],
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    base_dilation: Sequence[int] | None = None,
    window_dilation: Sequence[int] | None = None,
) -> Array:
    """Reduce every window of ``operand`` with ``lax.max`` (max-pooling) or ``lax.add``
    (sum-pooling), as ``jax.lax.reduce_window``; windows may span up to three axes of an operand
    of any rank. Padding takes the value ``init_value``, so for max any ``init_value`` works
    (the result is ``max(window max, init_value)``); for add, ``init_value`` must be 0 unless
    there is no padding and no base dilation.

    Example:
        >>> import vfunc.numpy as vnp
        >>> from vfunc import lax
        >>> x = vnp.arange(6.0).reshape(2, 3)
        >>> lax.reduce_window(x, -vnp.inf, lax.max, (1, 2), (1, 1), "VALID")
        Array([[1., 2.],
               [4., 5.]], dtype=float32)
    """
    x = as_array(operand)
    kind = _monoid(computation)
    nd = x.ndim
    op = "reduce_window"
    window = _int_tuple("window_dimensions", window_dimensions, nd, op)
    strides = _int_tuple("window_strides", window_strides, nd, op)
    base = _int_tuple("base_dilation", base_dilation, nd, op)
    wdil = _int_tuple("window_dilation", window_dilation, nd, op)
    if isinstance(padding, str):
        dilated_in = [(n - 1) * b + 1 for n, b in zip(x.shape, base, strict=True)]
        k_eff = [(k - 1) * d + 1 for k, d in zip(window, wdil, strict=True)]
        pads = padtype_to_pads(dilated_in, k_eff, strides, padding)
    else:
        pads = [tuple(p) for p in padding]
    params = window_params(window, strides, pads, base, wdil)
    init = np.asarray(init_value)
    if kind == "max":
        out = reduce_window_max_p.bind(x, **params)
        if init.ndim or not np.isneginf(init):
            out = max(out, _scalar_like(float(init), out))
        return out
    out = reduce_window_sum_p.bind(x, **params)
    if init.ndim or init != 0:
        if any(p != (0, 0) for p in pads) or any(b != 1 for b in base):
            raise NotImplementedError(
                "reduce_window: add with a non-zero init_value and padding or base dilation"
            )
        out = add(out, _scalar_like(float(init), out))
    return out
