"""Vectorizable float32/float64 transcendentals for numba kernels: the compiler's fused loops
(``vfunc.transforms.compiler.fusion``) and the primitives' own kernels (erf_inv).

numba lowers ``math.exp``, ``math.tanh`` & co. to libm calls, which LLVM cannot vectorize
without Intel SVML; a fused ``parallel=True, fastmath=True`` loop that calls one then runs
element by element, many times slower than its memory traffic allows. The functions here use
only ``+ - * /``, compare-and-select, ``abs``, ``rint``/``floor`` and integer bit manipulation,
so LLVM vectorizes a loop that calls them like any other arithmetic.

Every public function is ``njit(inline="always", fastmath=True, cache=True)`` and generic:
float32 arguments are computed in float32 (``sin``/``cos`` excepted, see below) and give
float32, float64 give float64, integers and booleans are computed as float64. They can be
called from Python too, for testing. The dtype-specific constants and polynomials come from
intrinsics typed by the argument, so numba inlines the functions without an ``overload``
dispatch (an inlined overload is typed twice: kernels compiled two to three times slower).

Accuracy, measured by the tests against wider references over dense grids, random bit
patterns, subnormals, infinities and NaN: at most 2.5 ulp in float32 and 3 ulp in float64
(exp and log within about 1 ulp), and exact special values (``exp(-inf) = 0``,
``log(0) = -inf``, ``tanh(-0) = -0``, overflow to inf, gradual underflow...). Limits:

* ``sin``/``cos`` reduce the argument exactly for ``|x| <= SIN_COS_MAX_ABS`` (1.3e10) and
  return NaN beyond it rather than a silently wrong value. For float32 they work in float64
  internally (within 0.51 ulp, at half the vector width). ``beyond_sin_cos(x)`` tells the
  finite arguments beyond that range: the fused kernels count them in their vectorized loop
  and, when there are any, compute the cluster again with libm's ``sin``/``cos`` (which
  reduce any argument exactly), so a fused kernel agrees with NumPy over the whole range.
* A NaN input gives a NaN, not necessarily with the input's payload or sign.

Robustness under the caller's fastmath flags: a kernel compiled with ``fastmath=True`` lets
LLVM assume no NaN/inf (``nnan``, ``ninf``) and reassociate (``reassoc``). Reassociation would
undo Cody-Waite range reduction and the exact-correction steps below, so those steps, and
the polynomials, go through ``_add``/``_sub``/``_mul``/``_fma``/``_div`` and the ``_poly_*``
intrinsics: they emit instructions carrying only the ``contract`` flag, which numba's fastmath
pass leaves alone (it only flags instructions that have none), so they stay exact whatever the
caller asked for, while ``contract`` still lets LLVM fuse them into FMAs (the tests run every
function under fastmath=True, under the fusion pass's flags and without fastmath). Special
inputs (NaN, +-inf, +-0) are recognised from the integer bit pattern, which fast-math flags
cannot touch, and patched in with selects at the end.

Coefficients: weighted minimax polynomials computed for this module by a Remez exchange in
40-digit arithmetic (mpmath), each fitted for the error of the final function on the reduced
interval stated next to it, then rounded to the target precision. The Cody-Waite constants
split ln 2 and pi/2 into chunks short enough that their products with the reduction integer
are exact.
"""

from __future__ import annotations

import collections
import hashlib
from pathlib import Path

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = [
    "CODE_HASH",
    "SIN_COS_MAX_ABS",
    "VECTORIZED",
    "beyond_sin_cos",
    "cos",
    "erf",
    "exp",
    "expm1",
    "log",
    "log1p",
    "logistic",
    "sin",
    "tanh",
]

_JIT = {"inline": "always", "fastmath": True, "cache": True}

# Only 'contract': no reassociation, no assumptions about NaN/inf, but FMA fusion allowed.
_STRICT_FLAGS = ("contract",)

SIN_COS_MAX_ABS = 1.3e10
"""Largest ``|x|`` for which ``sin``/``cos`` are accurate; beyond it they return NaN."""

try:
    CODE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
except OSError:  # pragma: no cover - no source file (frozen or zipped install)
    CODE_HASH = "unknown"
"""Digest of this file, for the keys of on-disk caches of kernels that inline these functions:
numba's cache only notices changes to a kernel's own source file, not to what it inlined."""


# --------------------------------------------------------------------------------------------
# Constants, per dtype
# --------------------------------------------------------------------------------------------

_Constants = collections.namedtuple(
    "_Constants",
    [
        "zero",
        "half",
        "one",
        "two",
        "inf",
        "nan",
        "min_normal",
        "min_subnormal",
        # below this |x|, expm1, log1p and tanh round to x (and keep the sign of -0)
        "tiny",
        "inv_ln2",
        # ln 2 split for Cody-Waite: ln2_hi has few enough bits that n * ln2_hi is exact for
        # every reduction integer n the exponent range needs (16 bits for float32, where
        # |n| <= 150; 42 for float64, where |n| <= 1100); ln2_lo = ln 2 - ln2_hi, rounded.
        "ln2_hi",
        "ln2_lo",
        # exp's argument clamp: exp(exp_lo) rounds to 0 and exp(exp_hi) overflows, while the
        # reduction integer n of either stays in [2 * min_exponent, 2 * max_exponent]
        "exp_lo",
        "exp_hi",
        # 2**mantissa_bits, to scale subnormals into the normal range
        "mant_scale",
        "mant_bits",
        # 2**e - 1 is exact for e <= log1p_exact_e
        "log1p_exact_e",
        # tanh(x) rounds to +-1 beyond tanh_max, erf(x) beyond erf_max
        "tanh_max",
        "erf_max",
        # centre c of the erf tail variable t = (x - c) / (x + c)
        "erf_center",
        "sin_cos_max",
    ],
)

_CONSTANTS = {
    types.float32: _Constants(
        zero=0.0,
        half=0.5,
        one=1.0,
        two=2.0,
        inf=np.inf,
        nan=np.nan,
        min_normal=2.0**-126,
        min_subnormal=2.0**-149,
        tiny=2.0**-30,
        inv_ln2=1.4426950408889634,
        ln2_hi=0.693145751953125,
        ln2_lo=1.428606765330187e-06,
        exp_lo=-104.0,
        exp_hi=89.0,
        mant_scale=2.0**23,
        mant_bits=23.0,
        log1p_exact_e=24.0,
        tanh_max=10.0,
        erf_max=4.0,
        erf_center=2.0,
        sin_cos_max=SIN_COS_MAX_ABS,
    ),
    types.float64: _Constants(
        zero=0.0,
        half=0.5,
        one=1.0,
        two=2.0,
        inf=np.inf,
        nan=np.nan,
        min_normal=2.0**-1022,
        min_subnormal=2.0**-1074,
        tiny=2.0**-60,
        inv_ln2=1.4426950408889634,
        ln2_hi=0.6931471805598903,
        ln2_lo=5.497923018708371e-14,
        exp_lo=-746.0,
        exp_hi=710.0,
        mant_scale=2.0**52,
        mant_bits=52.0,
        log1p_exact_e=53.0,
        tanh_max=20.0,
        erf_max=6.0,
        erf_center=2.5,
        sin_cos_max=SIN_COS_MAX_ABS,
    ),
}

# Polynomial coefficients, lowest degree first. Float32 entries are already float32 values.
_POLYNOMIALS = {
    # expm1(r) = r + r**2 * q(r) for |r| <= 0.347 (ln2/2 plus slack), minimising the relative
    # error of expm1: degree 4 reaches 2**-26.2, degree 10 2**-61.7.
    "expm1": {
        types.float32: (
            0.4999999701976776,
            0.1666654348373413,
            0.04166720062494278,
            0.008366595953702927,
            0.0013882507337257266,
        ),
        types.float64: (
            0.5,
            0.16666666666666677,
            0.041666666666666505,
            0.008333333333321586,
            0.0013888888888963038,
            0.00019841269886269894,
            2.4801587171663293e-05,
            2.7557244035131993e-06,
            2.7557403018377055e-07,
            2.5109107598046624e-08,
            2.0875327435773935e-09,
        ),
    },
    # log1p(f) = 2 atanh(s), s = f / (2 + f): for f in [sqrt(.5) - 1, sqrt(2) - 1], z = s**2 is
    # in [0, 0.0295] and log1p(f) = f - s * (f - z * Q(z)); relative error of log1p 2**-30.2
    # (degree 2) and 2**-59.5 (degree 6).
    "log": {
        types.float32: (0.6666677594184875, 0.3997747600078583, 0.298738032579422),
        types.float64: (
            0.6666666666666735,
            0.3999999999940873,
            0.2857142874388035,
            0.22222198403647797,
            0.18183573940984518,
            0.15313784995187646,
            0.14798793881420524,
        ),
    },
    # erf(x) = x * P(x**2) for |x| < 1; relative error 2**-29.6 (degree 6), 2**-57.8 (12).
    "erf_small": {
        types.float32: (
            1.1283791065216064,
            -0.3761262595653534,
            0.1128358542919159,
            -0.026853810995817184,
            0.005188327748328447,
            -0.0008010193705558777,
            7.853860734030604e-05,
        ),
        types.float64: (
            1.1283791670955126,
            -0.3761263890318379,
            0.11283791670956275,
            -0.026866170645273905,
            0.005223977626377789,
            -0.0008548327057235215,
            0.0001205533355910763,
            -1.4925648010394581e-05,
            1.6461770863985435e-06,
            -1.6357834989911688e-07,
            1.4706795417801246e-08,
            -1.154296478644737e-09,
            6.228099069533823e-11,
        ),
    },
    # erf(x) = 1 - exp(-x**2) * R(t), t = (x - c) / (x + c), for 1 <= x <= erf_max; R fits
    # erfc(x) * exp(x**2) weighted by exp(-x**2) / erf(x), i.e. for the error of erf itself:
    # 2**-34.6 (float32: c = 2, degree 5), 2**-60.1 (float64: c = 2.5, degree 14).
    "erf_large": {
        types.float32: (
            0.25539568066596985,
            -0.42718586325645447,
            0.24165721237659454,
            -0.07898743450641632,
            0.0037279357202351093,
            0.007210455369204283,
        ),
        types.float64: (
            0.2108063640611436,
            -0.3717367339489732,
            0.25171319321744856,
            -0.12503305237886722,
            0.03992253907570873,
            -0.003993701162524479,
            -0.002642365970509786,
            0.0008759153135695979,
            0.00022838046264980072,
            -0.00012887426545279257,
            -3.418094009036069e-05,
            1.858329437351869e-05,
            7.512358633950913e-06,
            -2.1604046065669044e-06,
            -1.5242211568636636e-06,
        ),
    },
    # sin(r) = r + r**3 * S(r**2) and cos(r) = 1 - r**2/2 + r**4 * C(r**2) for |r| <= pi/4,
    # always evaluated in float64. For float32 results: S of degree 3 (relative error
    # 2**-37.5), C of degree 2 (2**-33.0); for float64: degree 5 (2**-57.9 and 2**-63.9).
    "sin": {
        types.float32: (
            -0.1666666664062796,
            0.008333329285148471,
            -0.000198393059074712,
            2.718060736291427e-06,
        ),
        types.float64: (
            -0.1666666666666663,
            0.008333333333322026,
            -0.00019841269829513384,
            2.7557313594038607e-06,
            -2.5050743344202973e-08,
            1.5895966514802802e-10,
        ),
    },
    "cos": {
        types.float32: (0.04166664557891775, -0.0013887311080660084, 2.4432554268337488e-05),
        types.float64: (
            0.041666666666666595,
            -0.0013888888888872926,
            2.4801587288767875e-05,
            -2.7557314154452777e-07,
            2.0875697383328606e-09,
            -1.1358353379032758e-11,
        ),
    },
}

_TWO_OVER_PI = 0.6366197723675814
# pi/2 as four 20-bit chunks plus a float64 tail (133 bits in all): k * chunk is exact for
# k < 2**33, and each partial remainder is exact by Sterbenz's lemma when the final remainder
# is small, so the reduced argument keeps its relative accuracy for |x| < 2**33 * pi/2.
_PIO2_1 = 1.5707950592041016
_PIO2_2 = 1.2675900507019833e-06
_PIO2_3 = 7.443542310303641e-13
_PIO2_4 = 5.170176613476942e-19
_PIO2_5 = 6.36831716351095e-25
_K_MAX = 2.0**33


# --------------------------------------------------------------------------------------------
# Intrinsics
# --------------------------------------------------------------------------------------------


def _int_type(fty) -> ir.IntType:
    return ir.IntType(fty.bitwidth)


def _abs_bits(builder, ivalue):
    """The integer bit pattern ``ivalue`` of a float with the sign bit cleared."""
    return builder.and_(ivalue, ir.Constant(ivalue.type, (1 << (ivalue.type.width - 1)) - 1))


def _bitcast_int(builder, value):
    width = 32 if isinstance(value.type, ir.FloatType) else 64
    return builder.bitcast(value, ir.IntType(width))


def _float_bits(value: float, fty) -> int:
    dtype = np.float32 if fty == types.float32 else np.float64
    itype = np.int32 if fty == types.float32 else np.int64
    return int(np.array(value, dtype=dtype).view(itype))


@intrinsic
def _float(typingctx, x):
    """``x`` as a float: floats unchanged, integers and booleans converted to float64."""
    if isinstance(x, types.Float):
        return x(x), lambda context, builder, sig, args: args[0]
    if isinstance(x, (types.Integer, types.Boolean)):

        def codegen(context, builder, sig, args):
            signed = isinstance(x, types.Integer) and x.signed
            convert = builder.sitofp if signed else builder.uitofp
            return convert(args[0], ir.DoubleType())

        return types.float64(x), codegen
    return None


@intrinsic
def _float64(typingctx, x):
    """A float32 or float64 widened to float64 (exactly)."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, sig, args):
        return builder.fpext(args[0], ir.DoubleType()) if x == types.float32 else args[0]

    return types.float64(x), codegen


@intrinsic
def _round_like(typingctx, v, like):
    """A float64 ``v`` rounded to the type of ``like``."""
    if v != types.float64 or not isinstance(like, types.Float):
        return None

    def codegen(context, builder, sig, args):
        return builder.fptrunc(args[0], ir.FloatType()) if like == types.float32 else args[0]

    return like(v, like), codegen


@intrinsic
def _constants(typingctx, x):
    """The ``_Constants`` of the float type of ``x``, folded into the code as literals."""
    if x not in _CONSTANTS:
        return None
    tuple_type = types.NamedUniTuple(x, len(_Constants._fields), _Constants)

    def codegen(context, builder, sig, args):
        return context.get_constant_generic(builder, tuple_type, _CONSTANTS[x])

    return tuple_type(x), codegen


def _make_poly(name):
    table = _POLYNOMIALS[name]

    def typer(typingctx, t, like):
        """Horner evaluation of polynomial ``name`` for the dtype of ``like``, in t's type."""
        if not isinstance(t, types.Float) or like not in table:
            return None
        coefficients = table[like]

        def codegen(context, builder, sig, args):
            x = args[0]
            acc = ir.Constant(x.type, coefficients[-1])
            for c in reversed(coefficients[:-1]):
                product = builder.fmul(acc, x, flags=_STRICT_FLAGS)
                acc = builder.fadd(product, ir.Constant(x.type, c), flags=_STRICT_FLAGS)
            return acc

        return t(t, like), codegen

    typer.__name__ = f"_poly_{name}"
    return intrinsic(typer)


_poly_expm1 = _make_poly("expm1")
_poly_log = _make_poly("log")
_poly_erf_small = _make_poly("erf_small")
_poly_erf_large = _make_poly("erf_large")
_poly_sin = _make_poly("sin")
_poly_cos = _make_poly("cos")


def _same_float(*tys):
    return isinstance(tys[0], types.Float) and all(t == tys[0] for t in tys)


def _strict_binary(opname):
    def typer(typingctx, a, b):
        if not _same_float(a, b):
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, opname)(args[0], args[1], flags=_STRICT_FLAGS)

        return a(a, b), codegen

    typer.__name__ = f"_{opname[1:]}"
    return intrinsic(typer)


# ``a + b``, ``a - b``, ``a * b``, ``a / b`` rounded once, never regrouped with neighbouring
# operations; the division is a bare fdiv, without the ZeroDivisionError branch of numba's
# default error model, which would block vectorization.
_add = _strict_binary("fadd")
_sub = _strict_binary("fsub")
_mul = _strict_binary("fmul")
_div = _strict_binary("fdiv")


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c``, fused into one FMA where the target has it, never reassociated."""
    if not _same_float(a, b, c):
        return None

    def codegen(context, builder, sig, args):
        product = builder.fmul(args[0], args[1], flags=_STRICT_FLAGS)
        return builder.fadd(product, args[2], flags=_STRICT_FLAGS)

    return a(a, b, c), codegen


def _select_compare(op):
    def typer(typingctx, a, b):
        if not _same_float(a, b):
            return None

        def codegen(context, builder, sig, args):
            keep_a = builder.fcmp_ordered(op, args[0], args[1], flags=_STRICT_FLAGS)
            return builder.select(keep_a, args[0], args[1])

        return a(a, b), codegen

    typer.__name__ = "_min" if op == "<" else "_max"
    return intrinsic(typer)


# ``a if a < b else b`` / ``a if a > b else b`` as one compare-and-select, i.e. one x86
# minps/maxps (Python conditionals become branches that LLVM merges less tightly). A NaN
# ``a`` gives ``b``, which keeps clamped values finite for the integer conversions after.
_min = _select_compare("<")
_max = _select_compare(">")


@intrinsic
def _exp2i(typingctx, n):
    """2.0**n for a float ``n`` holding an integer in the normal exponent range.

    Written straight into the exponent field, with integers as wide as the float: numba would
    widen float32's int32 arithmetic to int64, halving the vector width.
    """
    if not isinstance(n, types.Float):
        return None
    mant, bias = (23, 127) if n == types.float32 else (52, 1023)

    def codegen(context, builder, sig, args):
        ity = _int_type(n)
        i = builder.add(builder.fptosi(args[0], ity), ir.Constant(ity, bias))
        return builder.bitcast(builder.shl(i, ir.Constant(ity, mant)), args[0].type)

    return n(n), codegen


def _sqrt2_split(builder, x, fty):
    """Integer (e, bits of m) with x = 2**e * m, m in [sqrt(.5), sqrt(2)), for normal x > 0."""
    ity = _int_type(fty)
    mant = 23 if fty == types.float32 else 52
    sqrt_half = _float_bits(np.sqrt(0.5), fty)
    i = builder.sub(builder.bitcast(x, ity), ir.Constant(ity, sqrt_half))
    m_bits = builder.and_(i, ir.Constant(ity, (1 << mant) - 1))
    m_bits = builder.add(m_bits, ir.Constant(ity, sqrt_half))
    return builder.ashr(i, ir.Constant(ity, mant)), m_bits


@intrinsic
def _sqrt2_mantissa(typingctx, x):
    """m with x = 2**e * m, sqrt(.5) <= m < sqrt(2), for normal x > 0."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(_sqrt2_split(builder, args[0], x)[1], args[0].type)

    return x(x), codegen


@intrinsic
def _sqrt2_exponent(typingctx, x):
    """e (as a float) with x = 2**e * m, sqrt(.5) <= m < sqrt(2), for normal x > 0."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, sig, args):
        return builder.sitofp(_sqrt2_split(builder, args[0], x)[0], args[0].type)

    return x(x), codegen


def _bits_predicate(name, doc, build):
    def typer(typingctx, x, c):
        if not _same_float(x, c):
            return None

        def codegen(context, builder, sig, args):
            return build(builder, _bitcast_int(builder, args[0]), _bitcast_int(builder, args[1]))

        return types.boolean(x, c), codegen

    typer.__name__ = name
    typer.__doc__ = doc
    return intrinsic(typer)


# Comparisons on bit patterns: exact for any input, NaN and inf included, whatever fast-math
# flags the caller compiled with (those let LLVM assume a float compare never sees NaN/inf).
_abs_lt = _bits_predicate(
    "_abs_lt",
    "|x| < c for c >= 0 (NaN counts as larger than any c).",
    lambda b, ix, ic: b.icmp_signed("<", _abs_bits(b, ix), ic),
)
_abs_gt = _bits_predicate(
    "_abs_gt",
    "|x| > c for c >= 0 (NaN counts as larger than any c).",
    lambda b, ix, ic: b.icmp_signed(">", _abs_bits(b, ix), ic),
)
_abs_ge = _bits_predicate(
    "_abs_ge",
    "|x| >= c for c >= 0 (NaN counts as larger than any c).",
    lambda b, ix, ic: b.icmp_signed(">=", _abs_bits(b, ix), ic),
)
_same_bits = _bits_predicate(
    "_same_bits",
    "x is bit for bit c (so -0 is not 0 and NaN is itself).",
    lambda b, ix, ic: b.icmp_signed("==", ix, ic),
)


@intrinsic
def _signbit(typingctx, x):
    """Whether the sign bit of ``x`` is set (true for -0 and negative NaNs too)."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, sig, args):
        ix = _bitcast_int(builder, args[0])
        return builder.icmp_signed("<", ix, ir.Constant(ix.type, 0))

    return types.boolean(x), codegen


@intrinsic
def _copysign(typingctx, y, x):
    """``|y|`` with the sign bit of ``x``."""
    if not _same_float(y, x):
        return None

    def codegen(context, builder, sig, args):
        iy = _abs_bits(builder, _bitcast_int(builder, args[0]))
        ix = _bitcast_int(builder, args[1])
        sign = builder.and_(ix, ir.Constant(ix.type, 1 << (ix.type.width - 1)))
        return builder.bitcast(builder.or_(iy, sign), args[0].type)

    return y(y, x), codegen


# --------------------------------------------------------------------------------------------
# Shared kernels
# --------------------------------------------------------------------------------------------


@njit(**_JIT)
def _expm1_reduced(x):
    """(em, n) with expm1(x) = 2**n * (1 + em) - 1, |em| < 0.42 and n integral, for x within
    [exp_lo, exp_hi]."""
    c = _constants(x)
    n = np.rint(x * c.inv_ln2)
    r = _fma(-n, c.ln2_hi, x)
    r = _fma(-n, c.ln2_lo, r)
    return _fma(r * r, _poly_expm1(r, x), r), n


@njit(**_JIT)
def _exp_finite(x):
    """exp(x) for x within [exp_lo, exp_hi]: overflows to inf, underflows through subnormals."""
    c = _constants(x)
    em, n = _expm1_reduced(x)
    # Two power-of-two factors, each in the normal range for all n in [exp_lo, exp_hi] / ln 2,
    # so subnormal and overflowing results come out of the last multiply, rounded once.
    n1 = np.floor(n * c.half)
    return _mul(_mul(_add(c.one, em), _exp2i(n1)), _exp2i(n - n1))


@njit(**_JIT)
def _log_reduced(f, e):
    """e * ln 2 + log1p(f) for f in [sqrt(.5) - 1, sqrt(2) - 1] and integral e."""
    c = _constants(f)
    s = _div(f, c.two + f)
    z = s * s
    # 2s = f - s*f, so log1p(f) = 2s + s*z*Q = f - s*(f - z*Q): the leading f is exact and
    # the rounded part is at most 0.18 f.
    l1p = _sub(f, s * _fma(-z, _poly_log(z, f), f))
    return _add(e * c.ln2_hi, _fma(e, c.ln2_lo, l1p))


@njit(**_JIT)
def _reduce_pio2(a):
    """(r, q) with a = k * pi/2 + r, |r| <= pi/4 (plus rounding), q = k mod 4, for float64
    0 <= a <= SIN_COS_MAX_ABS."""
    k = np.rint(a * _TWO_OVER_PI)
    r = _fma(-k, _PIO2_1, a)
    r = _fma(-k, _PIO2_2, r)
    r = _fma(-k, _PIO2_3, r)
    r = _fma(-k, _PIO2_4, r)
    r = _fma(-k, _PIO2_5, r)
    # the clamp keeps the integer conversion defined for inputs the caller discards
    return r, np.int64(_min(k, _K_MAX)) & 3


@njit(**_JIT)
def _sin_cos_reduced(r, like):
    """(sin r, cos r) for float64 |r| <= pi/4, with the polynomials for like's dtype."""
    z = r * r
    s = _fma(r * z, _poly_sin(z, like), r)
    h = _fma(-(z * z), _poly_cos(z, like), 0.5 * z)
    return s, _sub(1.0, h)


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


@njit(**_JIT)
def exp(x: float) -> float:
    """e**x; overflows to inf above ~88.72 (float32) / ~709.78 (float64), exp(-inf) = 0."""
    x = _float(x)
    c = _constants(x)
    y = _exp_finite(_min(_max(x, c.exp_lo), c.exp_hi))
    if _abs_ge(x, c.inf):
        y = c.zero if _same_bits(x, -c.inf) else x
    return y


@njit(**_JIT)
def expm1(x: float) -> float:
    """e**x - 1, accurate relative to the result near 0; expm1(-inf) = -1."""
    x = _float(x)
    c = _constants(x)
    em, n = _expm1_reduced(_min(_max(x, c.exp_lo), c.exp_hi))
    # 2**n * (1 + em) - 1 = s2 * (s1 * em + (s1 - 2**-n2)) with n = n1 + n2: s1 - 2**-n2 is
    # exact for |n| up to the mantissa width, and for n == 0 the result is em itself.
    n1 = np.floor(n * c.half)
    n2 = n - n1
    s1 = _exp2i(n1)
    y = _mul(_fma(s1, em, _sub(s1, _exp2i(-n2))), _exp2i(n2))
    if _abs_lt(x, c.tiny):
        y = x
    if _abs_ge(x, c.inf):
        y = -c.one if _same_bits(x, -c.inf) else x
    return y


@njit(**_JIT)
def log(x: float) -> float:
    """Natural logarithm; log(+-0) = -inf, NaN below 0, exact exponents for subnormals."""
    x = _float(x)
    c = _constants(x)
    subnormal = _abs_lt(x, c.min_normal)
    xs = x * c.mant_scale if subnormal else x
    e = _sqrt2_exponent(xs) - (c.mant_bits if subnormal else c.zero)
    y = _log_reduced(_sub(_sqrt2_mantissa(xs), c.one), e)
    if _abs_ge(x, c.inf):
        y = x
    if _signbit(x):
        y = c.nan
    if _abs_lt(x, c.min_subnormal):  # +-0
        y = -c.inf
    return y


@njit(**_JIT)
def log1p(x: float) -> float:
    """log(1 + x), accurate relative to the result near 0; -inf at -1, NaN below -1."""
    x = _float(x)
    c = _constants(x)
    u = x + c.one
    e = _sqrt2_exponent(u)
    # With 1 + x = 2**e * m, the reduced argument m - 1 = (x - (2**e - 1)) * 2**-e rounds once,
    # from x itself, instead of inheriting the rounding of 1 + x. 2**e - 1 is exact up to
    # log1p_exact_e; beyond it 1 + x rounds to within an ulp of x and m - 1 is exact.
    ec = _min(e, c.log1p_exact_e)
    f_near = _sub(x, _exp2i(ec) - c.one) * _exp2i(-ec)
    f_far = _sub(_sqrt2_mantissa(u), c.one)
    y = _log_reduced(f_near if e <= c.log1p_exact_e else f_far, e)
    if _abs_lt(x, c.tiny) or _abs_ge(x, c.inf):
        y = x
    if _signbit(x) and _abs_gt(x, c.one):
        y = c.nan
    if _same_bits(x, -c.one):
        y = -c.inf
    return y


@njit(**_JIT)
def tanh(x: float) -> float:
    """Hyperbolic tangent; +-1 beyond ~9 (float32) / ~19 (float64)."""
    x = _float(x)
    c = _constants(x)
    a = _min(abs(x), c.tanh_max)
    em, n = _expm1_reduced(a + a)
    t = _exp2i(n)
    e2 = _fma(t, em, _sub(t, c.one))  # expm1(2a); n <= 29 (float32) / 58 (float64)
    y = _copysign(_div(e2, e2 + c.two), x)
    if _abs_lt(x, c.tiny):
        y = x
    if _abs_ge(x, c.inf):
        y = x if _abs_gt(x, c.inf) else _copysign(c.one, x)
    return y


@njit(**_JIT)
def logistic(x: float) -> float:
    """1 / (1 + e**-x) without overflow: exp is only ever taken of -|x|."""
    x = _float(x)
    c = _constants(x)
    e = _exp_finite(-_min(abs(x), -c.exp_lo))
    # 1 / (1 + exp(-x)) for x >= 0 and exp(x) / (1 + exp(x)) below
    y = _div(e if _signbit(x) else c.one, c.one + e)
    if _abs_ge(x, c.inf):
        y = x if _abs_gt(x, c.inf) else (c.zero if _signbit(x) else c.one)
    return y


@njit(**_JIT)
def erf(x: float) -> float:
    """The error function; +-1 beyond ~3.9 (float32) / ~5.9 (float64)."""
    x = _float(x)
    c = _constants(x)
    a = abs(x)
    small = a * _poly_erf_small(a * a, x)
    ac = _min(_max(a, c.one), c.erf_max)
    t = _div(ac - c.erf_center, ac + c.erf_center)
    large = _fma(-_exp_finite(-(ac * ac)), _poly_erf_large(t, x), c.one)
    y = _copysign(small if a < c.one else large, x)
    if _abs_ge(x, c.inf):
        y = x if _abs_gt(x, c.inf) else _copysign(c.one, x)
    return y


@njit(**_JIT)
def sin(x: float) -> float:
    """Sine; accurate for |x| <= SIN_COS_MAX_ABS (1.3e10), NaN beyond it and for +-inf."""
    x = _float(x)
    r, q = _reduce_pio2(abs(_float64(x)))
    s, co = _sin_cos_reduced(r, x)
    v = co if (q & 1) != 0 else s
    v = -v if (q & 2) != 0 else v
    y = _round_like(-v if _signbit(x) else v, x)
    c = _constants(x)
    if _abs_gt(x, c.sin_cos_max):
        y = c.nan
    return y


@njit(**_JIT)
def cos(x: float) -> float:
    """Cosine; accurate for |x| <= SIN_COS_MAX_ABS (1.3e10), NaN beyond it and for +-inf."""
    x = _float(x)
    r, q = _reduce_pio2(abs(_float64(x)))
    s, co = _sin_cos_reduced(r, x)
    v = s if (q & 1) != 0 else co
    y = _round_like(-v if ((q + 1) & 2) != 0 else v, x)
    c = _constants(x)
    if _abs_gt(x, c.sin_cos_max):
        y = c.nan
    return y


@njit(**_JIT)
def beyond_sin_cos(x: float) -> int:
    """1 if ``x`` is finite with ``|x| > SIN_COS_MAX_ABS`` (``sin``/``cos`` return NaN there
    and the caller must use libm), else 0; a vectorizable compare, meant to be summed."""
    x = _float(x)
    c = _constants(x)
    return 1 if _abs_gt(x, c.sin_cos_max) and _abs_lt(x, c.inf) else 0


VECTORIZED = {
    "exp": exp,
    "expm1": expm1,
    "log": log,
    "log1p": log1p,
    "tanh": tanh,
    "logistic": logistic,
    "erf": erf,
    "sin": sin,
    "cos": cos,
}
"""Name -> vectorizable njit function: the one list of them. An elementwise primitive whose
``Fusion`` names one (``vectorized="tanh"``) is fused where it is listed here."""
