"""Elementwise primitives, declared as a table: name, numpy impl, accepted dtype kinds.

Binary primitives broadcast like NumPy (shapes need not be equal) but require one dtype: the
front ends (``vfunc.numpy``, operators) promote first. A row's VJP rule multiplies the cotangent
``g`` by the derivative; the factories derive the JVP and the un-broadcasting from it. The row
also gives the op's fused form (``fused``: the scalar expression the compiler writes into a
numba loop) and its exact algebraic identities, so nothing about an op is written anywhere else.
Rules are written with the primitive layer's builders (``lax.mul(g, out)``), never with the
operators ``vfunc.numpy`` installs on arrays.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

import vfunc.primitives.builders as lax  # used at call time: the import cycle resolves by then
from vfunc import dtypes
from vfunc.core import Fusion, Identities, Primitive, ShapedArray, never_weak, wrap_numpy
from vfunc.devices import as_buffer
from vfunc.errors import ShapeError
from vfunc.primitives._batching import select_batch
from vfunc.primitives._checks import (
    broadcast_shapes,
    check_dtype_kind,
    check_same_dtypes,
)
from vfunc.primitives.reduction import reduce_sum_p
from vfunc.primitives.shape import broadcast_in_dim_p, reshape_p

FLOAT, REAL_FLOAT, NUM, INT_OR_BOOL, REAL, ANY = "fc", "f", "iufc", "biu", "biuf", "biufc"
INT = "iu"


def _unary_shape(name: str, kinds: str, out_dtype=None):
    def shape(x: ShapedArray, **params) -> ShapedArray:
        del params
        check_dtype_kind(name, x.dtype, kinds)
        return ShapedArray(x.shape, out_dtype(x.dtype) if out_dtype else x.dtype)

    return shape


def _fusion(fused: str | Fusion | None) -> Fusion | None:
    return Fusion(fused) if isinstance(fused, str) else fused


def vectorized(name: str, **options) -> Fusion:
    """The fused form calling the compiler's vectorizable ``fm.<name>``; an op declared with
    it fuses only where that function exists."""
    return Fusion(f"fm.{name}({{0}})", vectorized=name, **options)


INVOLUTION, IDEMPOTENT = Identities(involution=True), Identities(idempotent=True)


def unary(name: str, impl, kinds: str, *, out_dtype=None, vjp=None, jvp=None, fused=None,
          **rules) -> Primitive:  # fmt: skip
    """Declare an elementwise unary primitive accepting dtype ``kinds``.

    ``vjp(g, x, out)`` multiplies ``g`` by the derivative; the Jacobian of an elementwise op is
    diagonal, so the same rule applied to a tangent is the JVP. That holds for real operands
    and for holomorphic functions of complex ones (JAX's convention: the cotangent is
    multiplied by f'(z), never by its conjugate). A non-holomorphic op (``abs`` of a complex
    number) gives its own ``jvp(t, x, out)``; one declared ``linear`` gets its JVP from that.
    ``fused``: the scalar expression for the compiler's fused loops (a ``Fusion``, or its
    ``expr`` for float operands), None where the op is not fused.
    """
    if vjp is not None:
        rules["vjp"] = lambda g, x, *, out, **params: (vjp(g, x, out=out, **params),)
        if jvp is None and "linear" not in rules:
            jvp = vjp
    if jvp is not None:
        rules["jvp"] = lambda primals, tangents, *, out, **params: jvp(
            tangents[0], primals[0], out=out, **params
        )
    shape = _unary_shape(name, kinds, out_dtype)
    return Primitive(name, impl, shape, elementwise=True, fusion=_fusion(fused), **rules)


def _binary_shape(name: str, kinds: str, out_dtype=None):
    def shape(x: ShapedArray, y: ShapedArray) -> ShapedArray:
        dtype = check_same_dtypes(name, x, y)
        check_dtype_kind(name, dtype, kinds)
        out_shape = broadcast_shapes(name, x.shape, y.shape)
        return ShapedArray(out_shape, out_dtype if out_dtype is not None else dtype)

    return shape


def binary(name: str, impl, kinds: str, *, out_dtype=None, vjp=None, fused=None,
           **rules) -> Primitive:  # fmt: skip
    """Declare an elementwise binary primitive (NumPy broadcasting, one shared dtype).

    ``vjp`` is a pair ``(dx, dy)``, each ``d(g, x, y, out)`` giving one operand's cotangent
    with broadcasting ignored (the result is summed back to the operand's shape here). The
    backward pass calls only the sides it needs (``x * 0.5`` never computes the constant's
    cotangent), and a side applied to that operand's tangent is its JVP contribution.
    ``fused`` as for ``unary``.
    """
    if vjp is not None:
        sides = vjp

        dx, dy = sides

        def vjp_rule(g, x, y, *, out, wants=(True, True)):
            gx = unbroadcast(dx(g, x, y, out), x.shape) if wants[0] else None
            gy = unbroadcast(dy(g, x, y, out), y.shape) if wants[1] else None
            return gx, gy

        def jvp_rule(primals, tangents, *, out):
            total = None
            for side, t in zip(sides, tangents, strict=True):
                if t is not None:
                    # A side is written for a cotangent of the output's shape (max's selects
                    # need it): broadcast the operand's tangent first, not the product after.
                    term = side(broadcast_to_shape(t, out.shape), *primals, out)
                    total = term if total is None else add_p.bind(total, term)
            return total

        rules.update(vjp=vjp_rule, jvp=jvp_rule)
    shape = _binary_shape(name, kinds, out_dtype)
    return Primitive(name, impl, shape, elementwise=True, fusion=_fusion(fused),
                     vjp_wants=vjp is not None, **rules)  # fmt: skip


def unbroadcast(g, shape: tuple[int, ...]):
    """Sum ``g`` (broadcast-shaped) back down to ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    )
    summed = reduce_sum_p.bind(g, axes=axes) if axes else g
    return reshape_p.bind(summed, new_sizes=shape) if summed.shape != shape else summed


def broadcast_to_shape(x, shape: tuple[int, ...]):
    """``x`` broadcast (NumPy rules) to ``shape``; a view when eager."""
    if x.shape == shape:
        return x
    dims = tuple(range(len(shape) - x.ndim, len(shape)))
    return broadcast_in_dim_p.bind(x, shape=shape, broadcast_dimensions=dims)


def _share(g, x, y, wins):
    # Where x wins it takes the whole cotangent, at a tie each side takes half (as JAX). Two
    # selects rather than arithmetic on 0/1 masks: fewer passes over the data.
    zeros = broadcast_to_shape(_like(g, 0), g.shape)
    x_wins, tie = lexicographic(wins, x, y), eq_p.bind(x, y)
    return select_p.bind(x_wins, g, select_p.bind(tie, lax.mul(g, 0.5), zeros))


def lexicographic(compare: Primitive, x, y):
    """``compare`` (a strict order: lt or gt) of ``x`` and ``y``; complex numbers order by real
    part, then imaginary part, as NumPy's and jnp's maximum and comparisons do."""
    if x.dtype.kind != "c":
        return compare.bind(x, y)
    xr, yr = real_p.bind(x), real_p.bind(y)
    by_imag = and_p.bind(eq_p.bind(xr, yr), compare.bind(imag_p.bind(x), imag_p.bind(y)))
    return or_p.bind(compare.bind(xr, yr), by_imag)


def _inv_sqrt_1m(x):
    return lax.rsqrt(lax.sub(1, lax.mul(x, x)))


def _pow_dx(g, x, y, out):
    # y == 0: d/dx is 0 (not 0 * 0 ** -1 = nan).
    zero_y = lax.eq(y, _like(y, 0))
    return lax.mul(g, _where(zero_y, _like(out, 0), lax.mul(y, lax.pow(x, lax.sub(y, 1)))))


def _pow_dy(g, x, y, out):
    # 0 ** y: d/dy is 0 (not 0 * log 0 = nan).
    zero_x = lax.eq(x, _like(x, 0))
    safe_x = _where(zero_x, _like(x, 1), x)
    return lax.mul(g, _where(zero_x, _like(out, 0), lax.mul(out, lax.log(safe_x))))


def _rem_dy(g, x, y, out):
    quotient = lax.div(x, y)
    minus_g = lax.neg(g)
    return lax.mul(minus_g, lax.mul(lax.sign(quotient), lax.floor(lax.abs(quotient))))


def _atan2_dx(g, x, y, out):
    return lax.div(lax.mul(g, y), lax.add(lax.mul(x, x), lax.mul(y, y)))


def _atan2_dy(g, x, y, out):
    return lax.div(lax.mul(lax.neg(g), x), lax.add(lax.mul(x, x), lax.mul(y, y)))


def _erf_vjp(g, x, out):
    return lax.mul(lax.mul(g, lax.exp(lax.mul(lax.neg(x), x))), 2 / math.sqrt(math.pi))


def _abs_vjp(g, x, out):
    # For complex x the cotangent is g * conj(x) / |x|, 0 at 0: JAX's convention, the real
    # cotangent coming back complex. Not g * conj(sign(x)): sign carries no derivative, and
    # x / |x| does (second derivatives).
    if x.dtype.kind != "c":
        return lax.mul(g, lax.sign(x))
    return lax.mul(convert_element_type_p.bind(_over_abs(g, out), new_dtype=x.dtype,
                                               weak_type=False), conj_p.bind(x))  # fmt: skip


def _abs_jvp(t, x, out):
    # Not holomorphic: d|z| = Re(conj(z) dz) / |z|, the transpose of _abs_vjp.
    if x.dtype.kind != "c":
        return lax.mul(t, lax.sign(x))
    return _over_abs(real_p.bind(lax.mul(t, conj_p.bind(x))), out)


def _over_abs(g, out):
    zero = lax.eq(out, _like(out, 0))
    return lax.div(g, _where(zero, _like(out, 1), out))


def _real_vjp(g, x, out):
    # Transpose of taking the real part: the cotangent as the real part of a complex number.
    return convert_element_type_p.bind(g, new_dtype=x.dtype, weak_type=False)


def _imag_vjp(g, x, out):
    # Transpose of taking the imaginary part, as JAX: -1j * g (so grad(imag)(z) is -1j).
    g = convert_element_type_p.bind(g, new_dtype=x.dtype, weak_type=False)
    return lax.mul(g, _like(g, -1j))


def _like(x, value):
    return wrap_numpy(np.array(value, dtype=x.dtype))


def _where(pred, on_true, on_false):
    shape = broadcast_shapes("where", pred.shape, on_true.shape, on_false.shape)
    return select_p.bind(
        broadcast_to_shape(pred, shape),
        broadcast_to_shape(on_true, shape),
        broadcast_to_shape(on_false, shape),
    )


def _real_dtype(dtype: np.dtype) -> np.dtype:
    return np.empty((), dtype).real.dtype


def _rsqrt(x: np.ndarray) -> np.ndarray:
    return np.reciprocal(np.sqrt(x))


@functools.cache
def _logistic_kernel():
    import numba  # compiled on first use only: importing vfunc must stay fast

    # fastmath's logistic vectorizes (libm's exp does not: a numba loop calling it is no
    # faster than numpy's passes); within 2.1 ulp of float64, subnormal tails included.
    from vfunc.primitives.scalar_math import logistic as scalar

    @numba.vectorize(["float32(float32)", "float64(float64)"], cache=True)
    def logistic(x):
        return scalar(x)

    return logistic


def _logistic(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.float32 or x.dtype == np.float64:
        # One vectorized pass: 14 us on a (32, 256) float32 operand, where the numpy form
        # below takes 57 (np.tanh: 10).
        return np.asarray(_logistic_kernel()(x))
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


def _round_shape(x: ShapedArray, *, rounding_method: int) -> ShapedArray:
    check_dtype_kind("round", x.dtype, REAL_FLOAT)
    if rounding_method not in (ROUND_AWAY_FROM_ZERO, ROUND_TO_NEAREST_EVEN):
        raise ValueError(
            f"round: rounding_method must be {ROUND_AWAY_FROM_ZERO} (away from zero) or "
            f"{ROUND_TO_NEAREST_EVEN} (to nearest even), got {rounding_method!r}"
        )
    return ShapedArray(x.shape, x.dtype)


def _div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.dtype.kind in "iu":
        # C semantics: the quotient truncates toward zero (numpy's // floors).
        q = np.floor_divide(x, y)
        return q + ((q < 0) & (q * y != x)).astype(x.dtype)
    return np.true_divide(x, y)


def _shift_amount(x: np.ndarray, y: np.ndarray, fill: int) -> tuple[np.ndarray, np.ndarray]:
    # XLA reads the shift amount as unsigned, so a negative amount counts as too large. numpy's
    # shift of an out-of-range amount is undefined in C, hence the explicit in-range mask.
    bits = x.dtype.itemsize * 8
    in_range = (y >= 0) & (y < bits)
    return in_range, np.where(in_range, y, fill).astype(x.dtype, copy=False)


def _shift_left(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    in_range, amount = _shift_amount(x, y, 0)
    return np.where(in_range, np.left_shift(x, amount), 0).astype(x.dtype, copy=False)


def _shift_right_arithmetic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # Shifting by width - 1 fills every bit with the sign, which is what a larger amount gives.
    # Unsigned operands shift their bit pattern as if signed, as XLA does.
    _, amount = _shift_amount(x, y, x.dtype.itemsize * 8 - 1)
    signed = np.dtype(f"i{x.dtype.itemsize}")
    # as_buffer, not np.asarray: numpy scalars become arrays, device buffers stay
    shifted = np.right_shift(as_buffer(x).view(signed), amount.astype(signed, copy=False))
    return as_buffer(shifted).view(x.dtype)


def _shift_right_logical(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    in_range, amount = _shift_amount(x, y, 0)
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    shifted = np.right_shift(as_buffer(x).view(unsigned), amount.astype(unsigned, copy=False))
    return np.where(in_range, as_buffer(shifted).view(x.dtype), 0).astype(x.dtype, copy=False)


def _convert_impl(x: np.ndarray, *, new_dtype: np.dtype, weak_type: bool) -> np.ndarray:
    del weak_type
    if x.dtype == new_dtype:
        return x
    if x.dtype.kind == "c" and new_dtype.kind != "c":
        x = x.real  # as JAX: converting complex to real keeps the real part
    if new_dtype == np.bool_:
        return x != 0
    return x.astype(new_dtype)


def _convert_vjp(g, x, *, out, new_dtype, weak_type):
    del out, new_dtype, weak_type
    if not dtypes.is_float(x.dtype):
        return (None,)
    return (convert_element_type_p.bind(g, new_dtype=x.dtype, weak_type=x.weak_type),)


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


# The fused forms: operands {0}, {1}; {f} the operand's dtype constructor. ``x + -0.0`` is x
# exactly (``-0.0 + 0.0`` is ``+0.0``), ``x + 0.0`` is not. Max/min propagate NaN from either
# side, as numpy's do.
_sin = vectorized("sin", exact="math.sin(np.float64({0}))", beyond="fm.beyond_sin_cos({0})")
_cos = vectorized("cos", exact="math.cos(np.float64({0}))", beyond="fm.beyond_sin_cos({0})")
_MAX = "({0} if ({0} >= {1} or {0} != {0}) else {1})"
_MIN = "({0} if ({0} <= {1} or {0} != {0}) else {1})"
_BOOLS = dict(operands="b", result="b")

# fmt: off
neg_p      = unary("neg",      np.negative, NUM,   vjp=lambda g, x, out: lax.neg(g),
                   fused="(-{0})", identities=INVOLUTION)
abs_p      = unary("abs",      np.abs,      NUM,   vjp=_abs_vjp, jvp=_abs_jvp,
                   out_dtype=_real_dtype, fused="abs({0})", identities=IDEMPOTENT)
# Complex parts: linear over the reals, so forward mode applies the op to the tangent; the VJP
# is JAX's transpose (no conjugation of the cotangent except by conj itself).
real_p     = unary("real",     np.real,     "c", out_dtype=_real_dtype, vjp=_real_vjp,
                   linear=(0,), strided_view=True)  # a view with every other float
imag_p     = unary("imag",     np.imag,     "c", out_dtype=_real_dtype, vjp=_imag_vjp,
                   linear=(0,), strided_view=True)
conj_p     = unary("conj",     np.conjugate, "c", vjp=lambda g, x, out: conj_p.bind(g),
                   linear=(0,), identities=INVOLUTION)
sign_p     = unary("sign",     np.sign,     NUM,   differentiable=False)  # zero derivative
exp_p      = unary("exp",      np.exp,      FLOAT, vjp=lambda g, x, out: lax.mul(g, out),
                   fused=vectorized("exp"))
log_p      = unary("log",      np.log,      FLOAT, vjp=lambda g, x, out: lax.div(g, x),
                   fused=vectorized("log"))
log1p_p    = unary("log1p",    np.log1p,    FLOAT, vjp=lambda g, x, out: lax.div(g, lax.add(x, 1)),
                   fused=vectorized("log1p"))
expm1_p    = unary("expm1",    np.expm1,    FLOAT,
                   vjp=lambda g, x, out: lax.mul(g, lax.add(out, 1)), fused=vectorized("expm1"))
sin_p      = unary("sin",      np.sin,      FLOAT, vjp=lambda g, x, out: lax.mul(g, lax.cos(x)),
                   fused=_sin)
cos_p      = unary("cos",      np.cos,      FLOAT,
                   vjp=lambda g, x, out: lax.mul(lax.neg(g), lax.sin(x)), fused=_cos)
tan_p      = unary("tan",      np.tan,      FLOAT,
                   vjp=lambda g, x, out: lax.mul(g, lax.add(lax.mul(out, out), 1)))
tanh_p     = unary("tanh",     np.tanh,     FLOAT,
                   vjp=lambda g, x, out: lax.mul(g, lax.sub(1, lax.mul(out, out))),
                   fused=vectorized("tanh"))
sinh_p     = unary("sinh",     np.sinh,     FLOAT, vjp=lambda g, x, out: lax.mul(g, lax.cosh(x)))
cosh_p     = unary("cosh",     np.cosh,     FLOAT, vjp=lambda g, x, out: lax.mul(g, lax.sinh(x)))
asin_p     = unary("asin",     np.arcsin,   FLOAT,
                   vjp=lambda g, x, out: lax.mul(g, _inv_sqrt_1m(x)))
acos_p     = unary("acos",     np.arccos,   FLOAT,
                   vjp=lambda g, x, out: lax.mul(lax.neg(g), _inv_sqrt_1m(x)))
atan_p     = unary("atan",     np.arctan,   FLOAT,
                   vjp=lambda g, x, out: lax.div(g, lax.add(lax.mul(x, x), 1)))
sqrt_p     = unary("sqrt",     np.sqrt,     FLOAT,
                   vjp=lambda g, x, out: lax.div(g, lax.mul(out, 2)), fused="math.sqrt({0})")
rsqrt_p    = unary("rsqrt",    _rsqrt,      FLOAT,
                   vjp=lambda g, x, out: lax.mul(lax.div(lax.mul(g, out), x), -0.5),
                   fused="({f}(1) / math.sqrt({0}))")
logistic_p = unary("logistic", _logistic,   REAL_FLOAT,
                   vjp=lambda g, x, out: lax.mul(lax.mul(g, out), lax.sub(1, out)),
                   fused=vectorized("logistic"))
erf_p      = unary("erf",      _erf,        REAL_FLOAT, vjp=_erf_vjp, fused=vectorized("erf"))
floor_p    = unary("floor",    np.floor,    REAL_FLOAT, differentiable=False,  # piecewise constant
                   fused="np.floor({0})", identities=IDEMPOTENT)
ceil_p     = unary("ceil",     np.ceil,     REAL_FLOAT, differentiable=False,
                   fused="np.ceil({0})", identities=IDEMPOTENT)
round_p    = Primitive("round", _round, _round_shape, differentiable=False, elementwise=True,
                       identities=IDEMPOTENT)
is_finite_p = unary("is_finite", np.isfinite,       REAL_FLOAT, out_dtype=lambda _: dtypes.bool_,
                    weak_type=never_weak, differentiable=False, fused="math.isfinite({0})")
not_p      = unary("not",      np.invert,           INT_OR_BOOL, differentiable=False,
                   fused=Fusion("(not {0})", **_BOOLS), identities=INVOLUTION)

add_p   = binary("add",   np.add,        NUM, vjp=(lambda g, x, y, out: g, lambda g, x, y, out: g),
                 fused="({0} + {1})", identities=Identities(unit=-0.0, unit_at=(1, 0)))
sub_p   = binary("sub",   np.subtract,   NUM,
                 vjp=(lambda g, x, y, out: g, lambda g, x, y, out: lax.neg(g)),
                 fused="({0} - {1})", identities=Identities(unit=0.0, unit_at=(1,)))
mul_p   = binary("mul",   np.multiply,   NUM,
                 vjp=(lambda g, x, y, out: lax.mul(g, y), lambda g, x, y, out: lax.mul(g, x)),
                 fused="({0} * {1})", identities=Identities(unit=1, unit_at=(1, 0)))
div_p   = binary("div",   _div,          NUM,
                 vjp=(lambda g, x, y, out: lax.div(g, y),
                      lambda g, x, y, out: lax.div(lax.mul(lax.neg(g), out), y)),
                 fused="({0} / {1})", identities=Identities(unit=1, unit_at=(1,)))
rem_p   = binary("rem",   np.fmod,       "iuf", vjp=(lambda g, x, y, out: g, _rem_dy))
pow_p   = binary("pow",   np.power,      NUM, vjp=(_pow_dx, _pow_dy),
                 fused=Fusion("({0} ** {1})", small_power=True))
max_p   = binary("max",   np.maximum,    ANY, vjp=(lambda g, x, y, out: _share(g, x, y, gt_p),
                                               lambda g, x, y, out: _share(g, y, x, gt_p)),
                 fused=_MAX)
min_p   = binary("min",   np.minimum,    ANY, vjp=(lambda g, x, y, out: _share(g, x, y, lt_p),
                                               lambda g, x, y, out: _share(g, y, x, lt_p)),
                 fused=_MIN)
atan2_p = binary("atan2", np.arctan2,    REAL_FLOAT, vjp=(_atan2_dx, _atan2_dy))
and_p   = binary("and",   np.bitwise_and,          INT_OR_BOOL, differentiable=False,
                 fused=Fusion("({0} and {1})", **_BOOLS))
or_p    = binary("or",    np.bitwise_or,           INT_OR_BOOL, differentiable=False,
                 fused=Fusion("({0} or {1})", **_BOOLS))
xor_p   = binary("xor",   np.bitwise_xor,          INT_OR_BOOL, differentiable=False)
# Shifts: integers only; amounts outside [0, bits) give 0 (the sign bits for arithmetic).
shift_left_p             = binary("shift_left",             _shift_left,             INT,
                                  differentiable=False)
shift_right_arithmetic_p = binary("shift_right_arithmetic", _shift_right_arithmetic, INT,
                                  differentiable=False)
shift_right_logical_p    = binary("shift_right_logical",    _shift_right_logical,    INT,
                                  differentiable=False)
# Comparisons return bool: never weak, never differentiable.
_cmp = dict(out_dtype=dtypes.bool_, weak_type=never_weak, differentiable=False)
eq_p    = binary("eq",    np.equal,                ANY,  fused="({0} == {1})", **_cmp)
ne_p    = binary("ne",    np.not_equal,    ANY,  fused="({0} != {1})", **_cmp)
lt_p    = binary("lt",    np.less,         REAL, fused="({0} < {1})",  **_cmp)
le_p    = binary("le",    np.less_equal,   REAL, fused="({0} <= {1})", **_cmp)
gt_p    = binary("gt",    np.greater,      REAL, fused="({0} > {1})",  **_cmp)
ge_p    = binary("ge",    np.greater_equal, REAL, fused="({0} >= {1})", **_cmp)
# fmt: on


def _select_vjp(g, pred, on_true, on_false, *, out):
    zeros = broadcast_to_shape(_like(g, 0), g.shape)
    return None, select_p.bind(pred, g, zeros), select_p.bind(pred, zeros, g)


def _select(pred: Any, on_true: Any, on_false: Any) -> Any:
    # Large same-shape host operands: a branch-free loop (np.where branches per element, 15x
    # slower on an unpredictable mask such as ReLU's derivative); see select_kernels.
    if (type(on_true) is np.ndarray and type(on_false) is np.ndarray
            and type(pred) is np.ndarray and on_true.size >= _SELECT_LOOP_MIN
            and pred.shape == on_true.shape == on_false.shape
            and on_true.dtype.kind in "fiub"):  # fmt: skip
        from vfunc.primitives import select_kernels  # numba: loaded on first large select

        out = select_kernels.select(pred, on_true, on_false)
        if out is not None:
            return out
    return np.where(pred, on_true, on_false)


# Below this many elements np.where's call costs less than the kernel's dispatch.
_SELECT_LOOP_MIN = 1 << 12

select_p = Primitive(
    "select",
    _select,
    _select_shape,
    weak_type=lambda weak: all(weak[1:]),
    vjp=_select_vjp,
    linear=(1, 2),
    batch=lambda args, dims: select_batch(select_p, args, dims),
    elementwise=True,
    # The cases may be bool too: the loop stores either one.
    fusion=Fusion("({1} if {0} else {2})", operands=("b", "fb", "fb")),
)
convert_element_type_p = Primitive(
    "convert_element_type",
    _convert_impl,
    _convert_shape,
    weak_type=lambda weak, *, new_dtype, weak_type: weak_type,
    vjp=_convert_vjp,
    linear=(0,),
    elementwise=True,
    fusion=Fusion("{out}({0})", operands="fb", result="f"),
    identities=Identities(noop=lambda **params: True),
    strided_view="inherit",  # to its own dtype, the operand itself
)
stop_gradient_p = Primitive(
    "stop_gradient",
    lambda x: x,
    lambda x: ShapedArray(x.shape, x.dtype),
    differentiable=False,
    elementwise=True,
    fusion=Fusion("{0}"),
    strided_view="inherit",  # the operand itself
)
