"""Elementwise primitives, declared as a table: name, numpy impl, accepted dtype kinds.

Binary primitives broadcast like NumPy (shapes need not be equal) but require one dtype: the
front ends (``vfunc.numpy``, operators) promote first. Differentiation and batching rules join
each row in the AD and vmap issues; nothing about an op is written anywhere else.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from vfunc import dtypes
from vfunc.core import Primitive, ShapedArray, never_weak
from vfunc.errors import ShapeError
from vfunc.primitives._checks import (
    broadcast_shapes,
    check_dtype_kind,
    check_same_dtypes,
)

FLOAT, REAL_FLOAT, NUM, INT_OR_BOOL, REAL, ANY = "fc", "f", "iufc", "biu", "biuf", "biufc"


def _unary_shape(name: str, kinds: str, out_dtype=None):
    def shape(x: ShapedArray, **params) -> ShapedArray:
        del params
        check_dtype_kind(name, x.dtype, kinds)
        return ShapedArray(x.shape, out_dtype(x.dtype) if out_dtype else x.dtype)

    return shape


def unary(name: str, impl, kinds: str, *, out_dtype=None, **rules) -> Primitive:
    """Declare an elementwise unary primitive accepting dtype ``kinds``."""
    return Primitive(name, impl, _unary_shape(name, kinds, out_dtype), elementwise=True, **rules)


def _binary_shape(name: str, kinds: str, out_dtype=None):
    def shape(x: ShapedArray, y: ShapedArray) -> ShapedArray:
        dtype = check_same_dtypes(name, x, y)
        check_dtype_kind(name, dtype, kinds)
        out_shape = broadcast_shapes(name, x.shape, y.shape)
        return ShapedArray(out_shape, out_dtype if out_dtype is not None else dtype)

    return shape


def binary(name: str, impl, kinds: str, *, out_dtype=None, **rules) -> Primitive:
    """Declare an elementwise binary primitive (NumPy broadcasting, one shared dtype)."""
    return Primitive(name, impl, _binary_shape(name, kinds, out_dtype), elementwise=True, **rules)


def _real_dtype(dtype: np.dtype) -> np.dtype:
    return np.empty((), dtype).real.dtype


def _logistic(x: np.ndarray) -> np.ndarray:
    # exp of -|x| never overflows; each branch is then the accurate form for its sign.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


@functools.cache
def _erf_kernel():
    import numba  # compiled on first use only: importing vfunc must stay fast

    @numba.vectorize(["float32(float32)", "float64(float64)"], cache=True)
    def erf(x):
        return math.erf(x)

    return erf


def _erf(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.float16:
        return _erf_kernel()(x.astype(np.float32)).astype(np.float16)
    return _erf_kernel()(x)


ROUND_AWAY_FROM_ZERO, ROUND_TO_NEAREST_EVEN = 0, 1


def _round(x: np.ndarray, *, rounding_method: int) -> np.ndarray:
    if rounding_method == ROUND_TO_NEAREST_EVEN:
        return np.round(x)
    whole = np.trunc(x)
    # Compare the fractional part rather than adding 0.5: x + 0.5 rounds up in floating point
    # for the largest double below 0.5.
    return np.where(np.abs(x - whole) >= 0.5, whole + np.sign(x), whole).astype(x.dtype)


def _div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.dtype.kind in "iu":
        # C semantics: the quotient truncates toward zero (numpy's // floors).
        q = np.floor_divide(x, y)
        return q + ((q < 0) & (q * y != x)).astype(x.dtype)
    return np.true_divide(x, y)


def _convert_impl(x: np.ndarray, *, new_dtype: np.dtype, weak_type: bool) -> np.ndarray:
    del weak_type
    if x.dtype == new_dtype:
        return x
    if x.dtype.kind == "c" and new_dtype.kind != "c":
        x = x.real  # as JAX: converting complex to real keeps the real part
    if new_dtype == np.bool_:
        return x != 0
    return x.astype(new_dtype)


def _convert_shape(x: ShapedArray, *, new_dtype: np.dtype, weak_type: bool) -> ShapedArray:
    del weak_type
    dtypes.check_supported(np.dtype(new_dtype), "convert_element_type")
    return ShapedArray(x.shape, new_dtype)


def _select_shape(pred: ShapedArray, on_true: ShapedArray, on_false: ShapedArray) -> ShapedArray:
    check_dtype_kind("select", pred.dtype, "b", "predicate")
    check_same_dtypes("select", on_true, on_false)
    if on_true.shape != on_false.shape or pred.shape not in ((), on_true.shape):
        seen = f"pred {pred.shape}, on_true {on_true.shape}, on_false {on_false.shape}"
        raise ShapeError(
            f"select: {seen}; both cases must have one shape and the predicate that "
            "shape or (); vfunc.numpy.where broadcasts them for you."
        )
    return ShapedArray(on_true.shape, on_true.dtype)


# fmt: off
neg_p      = unary("neg",      np.negative,         NUM)
abs_p      = unary("abs",      np.abs,              NUM, out_dtype=_real_dtype)
sign_p     = unary("sign",     np.sign,             NUM)
exp_p      = unary("exp",      np.exp,      FLOAT)
log_p      = unary("log",      np.log,      FLOAT)
log1p_p    = unary("log1p",    np.log1p,    FLOAT)
expm1_p    = unary("expm1",    np.expm1,    FLOAT)
sin_p      = unary("sin",      np.sin,      FLOAT)
cos_p      = unary("cos",      np.cos,      FLOAT)
tan_p      = unary("tan",      np.tan,      FLOAT)
tanh_p     = unary("tanh",     np.tanh,             FLOAT)
sinh_p     = unary("sinh",     np.sinh,     FLOAT)
cosh_p     = unary("cosh",     np.cosh,     FLOAT)
asin_p     = unary("asin",     np.arcsin,   FLOAT)
acos_p     = unary("acos",     np.arccos,   FLOAT)
atan_p     = unary("atan",     np.arctan,           FLOAT)
sqrt_p     = unary("sqrt",     np.sqrt,     FLOAT)
rsqrt_p    = unary("rsqrt",    lambda x: np.reciprocal(np.sqrt(x)), FLOAT)
logistic_p = unary("logistic", _logistic,   REAL_FLOAT)
erf_p      = unary("erf",      _erf,                REAL_FLOAT)
floor_p    = unary("floor",    np.floor,            REAL_FLOAT)
ceil_p     = unary("ceil",     np.ceil,             REAL_FLOAT)
round_p    = unary("round",    _round,              REAL_FLOAT)
is_finite_p = unary("is_finite", np.isfinite,       REAL_FLOAT, out_dtype=lambda _: dtypes.bool_,
                    weak_type=never_weak, differentiable=False)
not_p      = unary("not",      np.invert,           INT_OR_BOOL, differentiable=False)

add_p   = binary("add",   np.add,                  NUM)
sub_p   = binary("sub",   np.subtract,             NUM)
mul_p   = binary("mul",   np.multiply,             NUM)
div_p   = binary("div",   _div,            NUM)
rem_p   = binary("rem",   np.fmod,         "iuf")
pow_p   = binary("pow",   np.power,        NUM)
max_p   = binary("max",   np.maximum,              ANY)
min_p   = binary("min",   np.minimum,              ANY)
atan2_p = binary("atan2", np.arctan2,      REAL_FLOAT)
and_p   = binary("and",   np.bitwise_and,          INT_OR_BOOL, differentiable=False)
or_p    = binary("or",    np.bitwise_or,           INT_OR_BOOL, differentiable=False)
xor_p   = binary("xor",   np.bitwise_xor,          INT_OR_BOOL, differentiable=False)
# Comparisons return bool: never weak, never differentiable.
_cmp = dict(out_dtype=dtypes.bool_, weak_type=never_weak, differentiable=False)
eq_p    = binary("eq",    np.equal,                ANY,  **_cmp)
ne_p    = binary("ne",    np.not_equal,    ANY,  **_cmp)
lt_p    = binary("lt",    np.less,         REAL, **_cmp)
le_p    = binary("le",    np.less_equal,   REAL, **_cmp)
gt_p    = binary("gt",    np.greater,      REAL, **_cmp)
ge_p    = binary("ge",    np.greater_equal, REAL, **_cmp)
# fmt: on

select_p = Primitive(
    "select",
    np.where,
    _select_shape,
    weak_type=lambda weak: all(weak[1:]),
    elementwise=True,
)
convert_element_type_p = Primitive(
    "convert_element_type",
    _convert_impl,
    _convert_shape,
    weak_type=lambda weak, *, new_dtype, weak_type: weak_type,
    elementwise=True,
)
