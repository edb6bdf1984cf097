"""NumPy's elementwise functions on the elementwise primitives, with JAX dtype promotion.

Most functions are generated from one table (name, primitive, promotion kind); the few whose
NumPy semantics differ from their primitive (floor division, NumPy's remainder sign, bool
arithmetic) are written out below it.
"""

from __future__ import annotations

from typing import Any

from vfunc import dtypes
from vfunc.core import Array, Primitive
from vfunc.numpy._promote import as_array, convert, promote_args
from vfunc.primitives import elementwise as ew
from vfunc.primitives.elementwise import ROUND_TO_NEAREST_EVEN
from vfunc.primitives.shape import broadcast_in_dim_p

ArrayLike = Any


def _unary(name: str, prim: Primitive, inexact: bool):
    if inexact:

        def op(x: ArrayLike, /) -> Array:
            if not (isinstance(x, Array) and x.dtype.kind in "fc"):
                (x,) = promote_args(x, inexact=True)
            return prim.bind(x)
    else:

        def op(x: ArrayLike, /) -> Array:
            return prim.bind(as_array(x, name))

    op.__name__ = op.__qualname__ = name
    promo = " Integer and bool inputs are promoted to the default float." if inexact else ""
    op.__doc__ = f"Elementwise ``numpy.{name}`` (the ``{prim.name}`` primitive).{promo}"
    return op


def _binary(name: str, prim: Primitive, inexact: bool):
    def op(x: ArrayLike, y: ArrayLike, /) -> Array:
        # Fast path: same dtype needs no promotion (weak types are settled by the primitive).
        if isinstance(x, Array) and isinstance(y, Array) and x.dtype == y.dtype:
            if not inexact or x.dtype.kind in "fc":
                return prim.bind(x, y)
        return prim.bind(*promote_args(x, y, inexact=inexact))

    op.__name__ = op.__qualname__ = name
    promo = " Integer inputs are promoted to the default float." if inexact else ""
    op.__doc__ = (
        f"Elementwise ``numpy.{name}`` with NumPy broadcasting and JAX dtype promotion (the "
        f"``{prim.name}`` primitive).{promo}"
    )
    return op


# fmt: off
negative = _unary("negative", ew.neg_p,   inexact=False)
absolute = _unary("absolute", ew.abs_p,   inexact=False)
sign     = _unary("sign",     ew.sign_p,  inexact=False)
exp      = _unary("exp",      ew.exp_p,   inexact=True)
log      = _unary("log",      ew.log_p,   inexact=True)
log1p    = _unary("log1p",    ew.log1p_p, inexact=True)
expm1    = _unary("expm1",    ew.expm1_p, inexact=True)
sin      = _unary("sin",      ew.sin_p,   inexact=True)
cos      = _unary("cos",      ew.cos_p,   inexact=True)
tan      = _unary("tan",      ew.tan_p,   inexact=True)
tanh     = _unary("tanh",     ew.tanh_p,  inexact=True)
sinh     = _unary("sinh",     ew.sinh_p,  inexact=True)
cosh     = _unary("cosh",     ew.cosh_p,  inexact=True)
arcsin   = _unary("arcsin",   ew.asin_p,  inexact=True)
arccos   = _unary("arccos",   ew.acos_p,  inexact=True)
arctan   = _unary("arctan",   ew.atan_p,  inexact=True)
sqrt     = _unary("sqrt",     ew.sqrt_p,  inexact=True)
floor    = _unary("floor",    ew.floor_p, inexact=True)
ceil     = _unary("ceil",     ew.ceil_p,  inexact=True)

subtract      = _binary("subtract",      ew.sub_p,   inexact=False)
divide        = _binary("divide",        ew.div_p,   inexact=True)
power         = _binary("power",         ew.pow_p,   inexact=False)
maximum       = _binary("maximum",       ew.max_p,   inexact=False)
minimum       = _binary("minimum",       ew.min_p,   inexact=False)
arctan2       = _binary("arctan2",       ew.atan2_p, inexact=True)
bitwise_and   = _binary("bitwise_and",   ew.and_p,   inexact=False)
bitwise_or    = _binary("bitwise_or",    ew.or_p,    inexact=False)
bitwise_xor   = _binary("bitwise_xor",   ew.xor_p,   inexact=False)
equal         = _binary("equal",         ew.eq_p,    inexact=False)
not_equal     = _binary("not_equal",     ew.ne_p,    inexact=False)
less          = _binary("less",          ew.lt_p,    inexact=False)
less_equal    = _binary("less_equal",    ew.le_p,    inexact=False)
greater       = _binary("greater",       ew.gt_p,    inexact=False)
greater_equal = _binary("greater_equal", ew.ge_p,    inexact=False)
# fmt: on
abs = absolute  # noqa: A001  (numpy's own alias)
true_divide = divide


def _bool_or(name: str, numeric: Any, on_bool: Primitive):
    # NumPy adds bools with `or` and multiplies them with `and`; the primitives take numbers.
    def op(x: ArrayLike, y: ArrayLike, /) -> Array:
        x, y = promote_args(x, y)
        return (on_bool if x.dtype == dtypes.bool_ else numeric).bind(x, y)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"Elementwise ``numpy.{name}`` with NumPy broadcasting and JAX dtype promotion; on bool "
        f"inputs it is a logical {on_bool.name}, as in NumPy."
    )
    return op


_add_general = _bool_or("add", ew.add_p, ew.or_p)
multiply = _bool_or("multiply", ew.mul_p, ew.and_p)


def add(x: ArrayLike, y: ArrayLike, /) -> Array:
    """Elementwise ``numpy.add`` with NumPy broadcasting and JAX dtype promotion.

    Bool inputs are combined with logical or, as in NumPy.

    Example:
        >>> import vfunc.numpy as vnp
        >>> vnp.add(vnp.array([1.0, 2.0]), 1)
        Array([2., 3.], dtype=float32)
    """
    # The eager hot path: two arrays of one non-bool dtype go straight to the primitive.
    if isinstance(x, Array) and isinstance(y, Array):
        dtype = x.dtype
        if dtype == y.dtype and dtype.kind != "b":
            return ew.add_p.bind(x, y)
    return _add_general(x, y)


def logical_not(x: ArrayLike, /) -> Array:
    """Elementwise logical not: True where ``x`` is zero (any dtype)."""
    return ew.not_p.bind(_to_bool(x))


def invert(x: ArrayLike, /) -> Array:
    """Elementwise bitwise not of an integer or bool array (``~x``)."""
    return ew.not_p.bind(as_array(x, "invert"))


bitwise_not = invert


def _to_bool(x: ArrayLike) -> Array:
    x = as_array(x, "logical")
    return x if x.dtype == dtypes.bool_ else not_equal(x, 0)


def _logical(name: str, prim: Primitive):
    def op(x: ArrayLike, y: ArrayLike, /) -> Array:
        return prim.bind(_to_bool(x), _to_bool(y))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``numpy.{name}``: inputs are tested for nonzero, result is bool."
    return op


logical_and = _logical("logical_and", ew.and_p)
logical_or = _logical("logical_or", ew.or_p)
logical_xor = _logical("logical_xor", ew.xor_p)


def positive(x: ArrayLike, /) -> Array:
    """``+x``: the input itself (as an Array)."""
    return as_array(x, "positive")


def isfinite(x: ArrayLike, /) -> Array:
    """True where ``x`` is neither infinite nor NaN (always True for integers and bools)."""
    x = as_array(x, "isfinite")
    if x.dtype.kind in "biu":
        return broadcast_in_dim_p.bind(
            convert(True, dtypes.bool_), shape=x.shape, broadcast_dimensions=()
        )
    return ew.is_finite_p.bind(x)


def round(x: ArrayLike, decimals: int = 0) -> Array:  # noqa: A001
    """Round half to even, like ``numpy.round``; ``decimals`` may be negative.

    Integer inputs are returned unchanged when ``decimals >= 0``.
    """
    x = as_array(x, "round")
    if x.dtype.kind in "biu":
        if decimals >= 0:
            return x
        (as_float,) = promote_args(x, inexact=True)
        return convert(round(as_float, decimals), x.dtype, x.weak_type)
    if decimals == 0:
        return ew.round_p.bind(x, rounding_method=ROUND_TO_NEAREST_EVEN)
    factor = 10.0**decimals
    return divide(ew.round_p.bind(multiply(x, factor), rounding_method=ROUND_TO_NEAREST_EVEN),
                  factor)  # fmt: skip


around = round


def floor_divide(x: ArrayLike, y: ArrayLike, /) -> Array:
    """``x // y``: the quotient rounded toward negative infinity, as NumPy."""
    x, y = promote_args(x, y)
    if x.dtype.kind in "iu":
        quotient = ew.div_p.bind(x, y)  # truncates toward zero
        remainder = ew.rem_p.bind(x, y)
        needs_fix = logical_and(not_equal(remainder, 0), not_equal(less(remainder, 0), less(y, 0)))
        return subtract(quotient, convert(needs_fix, x.dtype))
    if x.dtype.kind == "b":
        x, y = convert(x, dtypes.default_int()), convert(y, dtypes.default_int())
        return floor_divide(x, y)
    return ew.floor_p.bind(ew.div_p.bind(x, y))


def remainder(x: ArrayLike, y: ArrayLike, /) -> Array:
    """``x % y`` with the sign of ``y``, as NumPy (``lax.rem`` keeps the sign of ``x``)."""
    x, y = promote_args(x, y)
    if x.dtype.kind == "b":
        x, y = convert(x, dtypes.default_int()), convert(y, dtypes.default_int())
    r = ew.rem_p.bind(x, y)
    needs_fix = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(y, 0)))
    return add(r, multiply(convert(needs_fix, r.dtype), y))


mod = remainder
