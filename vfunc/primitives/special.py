"""Special-function primitives: log-gamma and its derivatives, Bessel, normal-distribution and
incomplete gamma/beta functions (the kernels of ``vfunc.scipy.special`` and ``stats``).

Each is a primitive rather than a composite for numerics: the series, recurrences and asymptotic
expansions in ``special_kernels`` are accurate to float64 where compositions of exp/log lose
digits (``log(erfc)`` in the tail, ``1 - P`` near 1, ``gammaln(a) + gammaln(b) - ...``). Rules
use the primitive layer's builders. Derivatives with respect to an order or shape parameter
(zeta's ``s``, the incomplete functions' ``a``, ``b``) are refused as JAX refuses them.
"""

from __future__ import annotations

import math

import numpy as np

import vfunc.primitives.builders as lax
from vfunc.core import Primitive, ShapedArray
from vfunc.primitives import special_kernels as sk
from vfunc.primitives._checks import broadcast_shapes, check_dtype_kind, check_same_dtypes
from vfunc.primitives.elementwise import (
    FLOAT,
    REAL_FLOAT,
    _like,
    _where,
    broadcast_to_shape,
    unary,
    unbroadcast,
)

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _kernel(name: str):
    def impl(*args):
        return sk.apply(name, *args)

    impl.__name__ = name
    return impl


def _nary_shape(name: str, operands: tuple[str, ...]):
    def shape(*avals: ShapedArray) -> ShapedArray:
        if len(avals) != len(operands):
            raise TypeError(
                f"{name} takes {len(operands)} operands ({', '.join(operands)}), got {len(avals)}"
            )
        dtype = check_same_dtypes(name, *avals)
        check_dtype_kind(name, dtype, REAL_FLOAT)
        return ShapedArray(broadcast_shapes(name, *(a.shape for a in avals)), dtype)

    return shape


def _refuse(name: str, operand: str):
    def side(g, *args):
        raise NotImplementedError(
            f"{name}: the derivative with respect to {operand} is not implemented (JAX does not "
            f"define it either); hold {operand} constant, e.g. with lax.stop_gradient."
        )

    return side


def nary(name: str, operands: tuple[str, ...], sides: tuple) -> Primitive:
    """Declare a broadcasting elementwise primitive of several float operands (one dtype).

    ``sides[i](g, *operands, out)`` is the cotangent of operand ``i`` with broadcasting ignored
    (summed back here), or None where that derivative is refused. Applied to a tangent, a side
    is its JVP contribution, as for ``elementwise.binary``.
    """
    sides = tuple(
        _refuse(name, o) if s is None else s for o, s in zip(operands, sides, strict=True)
    )

    def vjp(g, *args, out, wants):
        return tuple(
            unbroadcast(side(g, *args, out), x.shape) if want else None
            for side, x, want in zip(sides, args, wants, strict=True)
        )

    def jvp(primals, tangents, *, out):
        total = None
        for side, t in zip(sides, tangents, strict=True):
            if t is not None:
                term = side(broadcast_to_shape(t, out.shape), *primals, out)
                total = term if total is None else lax.add(total, term)
        return total

    return Primitive(name, _kernel(name), _nary_shape(name, operands), vjp=vjp, jvp=jvp,
                     vjp_wants=True, elementwise=True)  # fmt: skip


def _scaled_exp(g, log_factor):
    return lax.mul(g, lax.exp(log_factor))


def _i1e_slope(x, out):
    # d/dx i1e = i0e(x) - i1e(x) (sign(x) + 1/x), which tends to 1/2 at x = 0
    zero = lax.eq(x, _like(x, 0))
    safe = _where(zero, _like(x, 1), x)
    slope = lax.sub(i0e_p.bind(x), lax.mul(out, lax.add(lax.sign(x), lax.div(1.0, safe))))
    return _where(zero, _like(x, 0.5), slope)


def _igamma_dx(g, a, x, out):
    # the Gamma(a) density at x
    del out
    log_density = lax.sub(lax.sub(lax.mul(lax.sub(a, 1.0), lax.log(x)), x), lgamma_p.bind(a))
    return _scaled_exp(g, log_density)


def _betainc_dx(g, a, b, x, out):
    # the Beta(a, b) density at x
    del out
    log_beta = lax.sub(lax.add(lgamma_p.bind(a), lgamma_p.bind(b)), lgamma_p.bind(lax.add(a, b)))
    log_density = lax.add(lax.mul(lax.sub(a, 1.0), lax.log(x)),
                          lax.mul(lax.sub(b, 1.0), lax.log1p(lax.neg(x))))  # fmt: skip
    return _scaled_exp(g, lax.sub(log_density, log_beta))


# fmt: off
lgamma_p   = unary("lgamma",   _kernel("lgamma"),   REAL_FLOAT,
                   vjp=lambda g, x, out: lax.mul(g, digamma_p.bind(x)))
# trigamma(x) = zeta(2, x) for every non-integer x, negative ones included
digamma_p  = unary("digamma",  _kernel("digamma"),  REAL_FLOAT,
                   vjp=lambda g, x, out: lax.mul(g, zeta_p.bind(_like(x, 2.0), x)))
erfc_p     = unary("erfc",     _kernel("erfc"),     REAL_FLOAT,
                   vjp=lambda g, x, out: lax.mul(g, lax.mul(lax.exp(lax.neg(lax.mul(x, x))),
                                                            -2 / math.sqrt(math.pi))))
i0e_p      = unary("i0e",      _kernel("i0e"),      REAL_FLOAT,
                   vjp=lambda g, x, out: lax.mul(g, lax.sub(i1e_p.bind(x),
                                                            lax.mul(lax.sign(x), out))))
i1e_p      = unary("i1e",      _kernel("i1e"),      REAL_FLOAT,
                   vjp=lambda g, x, out: lax.mul(g, _i1e_slope(x, out)))
# d ndtri / dp = 1 / density(ndtri(p))
ndtri_p    = unary("ndtri",    _kernel("ndtri"),    REAL_FLOAT,
                   vjp=lambda g, x, out: _scaled_exp(g, lax.add(lax.mul(lax.mul(out, out), 0.5),
                                                                _LOG_SQRT_2PI)))
# d log ndtr / dx = density(x) / ndtr(x), formed in log space: both underflow in the far tail
log_ndtr_p = unary("log_ndtr", _kernel("log_ndtr"), REAL_FLOAT,
                   vjp=lambda g, x, out: _scaled_exp(
                       g, lax.sub(lax.sub(lax.mul(lax.mul(x, x), -0.5), out), _LOG_SQRT_2PI)))
# zeta(s, q), Hurwitz: d/dq = -s zeta(s + 1, q)
zeta_p     = nary("zeta", ("s", "q"), (
    None, lambda g, s, q, out: lax.mul(g, lax.neg(lax.mul(s, zeta_p.bind(lax.add(s, 1.0), q))))))
igamma_p   = nary("igamma", ("a", "x"), (None, _igamma_dx))
igammac_p  = nary("igammac", ("a", "x"), (None, lambda g, a, x, out: _igamma_dx(lax.neg(g), a,
                                                                                x, out)))
betainc_p  = nary("betainc", ("a", "b", "x"), (None, None, _betainc_dx))
# fmt: on

# Inverse hyperbolic functions: elementwise rows with NumPy's kernels. They sit here until the
# elementwise table is free to take them (issue 12's refactor is rewriting it).
# fmt: off
# Complex operands too (holomorphic: the same rules hold on the principal branches).
asinh_p = unary("asinh", np.arcsinh, FLOAT,
                vjp=lambda g, x, out: lax.mul(g, lax.rsqrt(lax.add(lax.mul(x, x), 1.0))))
# 1 / (sqrt(x - 1) sqrt(x + 1)): no cancellation in x * x - 1 near 1, and for complex x the
# product of the principal roots is arccosh's derivative where sqrt((x - 1)(x + 1)) is not
acosh_p = unary("acosh", np.arccosh, FLOAT,
                vjp=lambda g, x, out: lax.mul(g, lax.mul(lax.rsqrt(lax.sub(x, 1.0)),
                                                         lax.rsqrt(lax.add(x, 1.0)))))
atanh_p = unary("atanh", np.arctanh, FLOAT,
                vjp=lambda g, x, out: lax.div(g, lax.mul(lax.sub(1.0, x), lax.add(x, 1.0))))
# fmt: on
