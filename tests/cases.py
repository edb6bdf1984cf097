"""The shared case tables of the test suite (no tests here; test modules import from it).

``EXAMPLES`` maps every registry primitive's name to its ``Case`` rows: arguments, params, the
float64/int64/bool NumPy reference, the exact output dtype, a tolerance and a gradient domain.
The registry battery (test_primitives) checks them forward, by finite differences and against
the shape rules; test_jit, test_vmap and test_codegen_aliasing replay the same rows under
their transformation. Also here: the dtype and tolerance constants, the domain samplers
(``signed``, ``spd``, ...), ``rng_for`` (a generator seeded by a key, never a shared one) and
the comparison helpers ``assert_close`` and ``ulp_distance``.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import vfunc
from vfunc import lax
from vfunc.core import registry

F16, F32, F64 = np.dtype("float16"), np.dtype("float32"), np.dtype("float64")
C64, C128 = np.dtype("complex64"), np.dtype("complex128")
I32, I64, U8, BOOL = np.dtype("int32"), np.dtype("int64"), np.dtype("uint8"), np.dtype("bool")
NAN, INF = np.nan, np.inf

EXACT: dict[str, float] = {"rtol": 0.0, "atol": 0.0}
F32_TOL: dict[str, float] = {"rtol": 2e-6, "atol": 1e-6}
C64_TOL: dict[str, float] = {"rtol": 1e-5, "atol": 1e-6}
SUM_TOL: dict[str, float] = {"rtol": 1e-5, "atol": 1e-5}

# ----------------------------------------------------------------------------------------------
# The examples table


@dataclass
class Case:
    """One call ``prim.bind(*args, **params)`` and what it must return.

    ``args`` are numpy arrays (converted with ``lax.as_array``, so strongly typed) or Python
    scalars (weakly typed). ``expected`` is the float64/int64/bool reference (a list for
    primitives with several results) and ``dtype`` the exact output dtype (a list likewise).
    """

    prim: str
    name: str
    args: tuple
    params: dict
    expected: Any
    dtype: Any
    tol: dict = field(default_factory=lambda: dict(EXACT))
    weak: bool = False
    # The gradient domain: one entry per argument -- a sampler ``(rng, shape) -> values`` whose
    # float64 draws are differentiated, ``AS_IS`` (differentiate at this case's own values) or
    # ``FIXED`` (held constant: indices, predicates); ``None`` for no gradient check (not
    # differentiable, special values), or ``REFUSED``. See ``_assign_grad_domains``.
    domain: tuple | str | None = None
    # Params replacing ``params`` in the float64 gradient check: staged bodies restaged with
    # float64 avals (a float32 jaxpr rejects float64 operands).
    grad_params: dict | None = None

    @property
    def id(self) -> str:
        return f"{self.prim}-{self.name}"


EXAMPLES: dict[str, list[Case]] = defaultdict(list)


def add_case(prim, name, args, expected, out_dtype, /, tol=EXACT, weak=False, domain=None,
             grad_params=None, **params):  # fmt: skip
    case = Case(prim, name, tuple(args), params, expected, out_dtype, dict(tol), weak, domain,
                grad_params)  # fmt: skip
    EXAMPLES[prim].append(case)


def rng_for(*key: Any) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def uniform(lo: float, hi: float):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def nonzero(rng, shape):
    return rng.uniform(0.5, 4.0, shape) * rng.choice([-1.0, 1.0], shape)


AS_IS, FIXED = "as_is", "fixed"
# A whole-case domain: the primitive refuses this derivative (NotImplementedError, as JAX does);
# test_refused_gradients_raise checks that it does, clearly.
REFUSED = "refused"


def signed(rng, shape):
    """Both signs, away from 0: kinked ops (abs) are checked on negative inputs too."""
    return rng.uniform(0.3, 3.0, shape) * rng.choice([-1.0, 1.0], shape)


def normal(rng, shape):
    return rng.standard_normal(shape)


def ties(rng, shape):
    # small integers as floats: equal pairs and repeated extremes happen often
    return rng.integers(-2, 3, shape).astype(np.float64)


def f64(x: np.ndarray) -> np.ndarray:
    return x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)


UNARY_SHAPES = [("scalar", ()), ("vector", (7,)), ("matrix", (3, 4)), ("empty", (0,)),
                ("empty2d", (2, 0))]  # fmt: skip
BINARY_SHAPES = [
    ("scalar", (), ()),
    ("vector", (5,), (5,)),
    ("matrix", (3, 4), (3, 4)),
    ("outer", (3, 1), (1, 4)),
    ("scalar_matrix", (), (2, 3)),
    ("row", (2, 3), (3,)),
    ("empty", (0,), (0,)),
    ("empty_broadcast", (0, 3), (1, 3)),
]
SPECIAL = np.array([NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 2.5], np.float32)


def round_half_away(x, rounding_method=0):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def round_half_even(x, rounding_method=1):
    return np.round(x)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


# name: (float64 reference, domain of the float32 examples)
# (the gradient checks use the same domain unless GRAD_DOMAIN names another: kinks avoided)
UNARY_FLOAT = {
    "neg": (np.negative, uniform(-5, 5)),
    "abs": (np.abs, uniform(-5, 5)),
    "sign": (np.sign, ties),
    "exp": (np.exp, uniform(-5, 5)),
    "log": (np.log, uniform(0.05, 10)),
    "log1p": (np.log1p, uniform(-0.9, 10)),
    "expm1": (np.expm1, uniform(-5, 5)),
    "sin": (np.sin, uniform(-5, 5)),
    "cos": (np.cos, uniform(-5, 5)),
    "tan": (np.tan, uniform(-1.4, 1.4)),
    "tanh": (np.tanh, uniform(-5, 5)),
    "sinh": (np.sinh, uniform(-5, 5)),
    "cosh": (np.cosh, uniform(-5, 5)),
    "asin": (np.arcsin, uniform(-0.95, 0.95)),
    "acos": (np.arccos, uniform(-0.95, 0.95)),
    "atan": (np.arctan, uniform(-5, 5)),
    "sqrt": (np.sqrt, uniform(0.05, 10)),
    "rsqrt": (lambda x: 1.0 / np.sqrt(x), uniform(0.05, 10)),
    "logistic": (_logistic, uniform(-10, 10)),
    "erf": (_erf, uniform(-3, 3)),
    "floor": (np.floor, uniform(-5, 5)),
    "ceil": (np.ceil, uniform(-5, 5)),
    "is_finite": (np.isfinite, uniform(-5, 5)),
}
# Where the gradient check draws points when the forward domain would sit on a kink or tie.
GRAD_DOMAIN = {"abs": (signed,), "max": (normal, normal), "min": (normal, normal),
               "rem": (signed, nonzero)}  # fmt: skip
UNARY_PARAMS = {"round": [({"rounding_method": 0}, round_half_away),
                          ({"rounding_method": 1}, round_half_even)]}  # fmt: skip
# ops whose dtype kinds include complex ("fc" or "iufc")
COMPLEX_UNARY = ["neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sin", "cos", "tan",
                 "tanh", "sinh", "cosh", "asin", "acos", "atan", "sqrt", "rsqrt"]  # fmt: skip
TRANSCENDENTAL = ["exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sinh", "cosh",
                  "asin", "acos", "atan", "sqrt", "rsqrt", "logistic", "erf"]  # fmt: skip


def _unary_variants():
    """(prim, label, params, reference, domain) for every float unary primitive."""
    for name, (ref, domain) in UNARY_FLOAT.items():
        yield name, "", {}, ref, domain
    for name, variants in UNARY_PARAMS.items():
        for params, ref in variants:
            yield name, f"m{params['rounding_method']}_", params, ref, uniform(-5, 5)


def unary_out_dtype(name: str, dtype: np.dtype) -> np.dtype:
    if name == "is_finite":
        return BOOL
    if name == "abs" and dtype.kind == "c":
        return np.empty((), dtype).real.dtype
    return dtype


def _build_unary():
    for name, label, params, ref, domain in _unary_variants():
        tol = EXACT if name in ("neg", "abs", "sign", "floor", "ceil", "round") else F32_TOL
        for shape_name, shape in UNARY_SHAPES:
            x = domain(rng_for(name, label, shape), shape).astype(F32)
            out = unary_out_dtype(name, F32)
            grad = GRAD_DOMAIN.get(name, (domain,))
            add_case(name, label + shape_name, [x], ref(f64(x), **params), out, tol,
                     domain=grad, **params)  # fmt: skip
        # nan, +-inf and signed zeros: IEEE results, as the float64 reference gives them
        add_case(name, label + "special", [SPECIAL], ref(f64(SPECIAL), **params),
                 unary_out_dtype(name, F32), tol, **params)  # fmt: skip
    for name in COMPLEX_UNARY:
        rng = rng_for(name, "complex")
        z = (rng.uniform(-1, 1, (2, 3)) + 1j * rng.uniform(-1, 1, (2, 3))).astype(C64)
        ref = UNARY_FLOAT[name][0]
        add_case(name, "complex64", [z], ref(f64(z)), unary_out_dtype(name, C64), C64_TOL)
    for name, ref in (("neg", np.negative), ("abs", np.abs), ("sign", np.sign)):
        k = np.array([-3, -1, 0, 1, 2, 7], I32)
        add_case(name, "int32", [k], ref(k.astype(I64)), I32)
    # float16 goes through float32 in erf's kernel
    h = np.linspace(-3, 3, 13).astype(F16)
    add_case("erf", "float16", [h], _erf(f64(h)), F16, {"rtol": 1e-3, "atol": 1e-3})
    add_case("logistic", "float16", [h], _logistic(f64(h)), F16, {"rtol": 1e-3, "atol": 1e-3})
    # rounding ties: 0 rounds halves away from zero, 1 to even
    halves = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.49999997, -0.49999997, 3.0], F32)
    add_case("round", "m0_ties", [halves], round_half_away(f64(halves)), F32, rounding_method=0)
    add_case("round", "m1_ties", [halves], round_half_even(f64(halves)), F32, rounding_method=1)
    # logistic is stable for large |x|: no overflow, the tiny tail is not flushed to 0 early
    big = np.array([-100.0, -50.0, -20.0, 0.0, 20.0, 50.0, 100.0, 1000.0, -1000.0], F32)
    # (exp(-100) is a float32 subnormal: compare with the correctly rounded float32 value)
    tail = _logistic(f64(big)).astype(F32)
    add_case("logistic", "large", [big], tail, F32, {"rtol": 2e-6, "atol": 0.0})
    ints = np.array([0, 1, -1, 5, -128, 2**31 - 1], I32)
    m = np.array([[1.5, -0.0], [NAN, INF]], F32)
    add_case("stop_gradient", "matrix", [m], m, F32)
    add_case("stop_gradient", "int32", [ints], ints, I32)
    add_case("stop_gradient", "weak_scalar", [2.5], np.array(2.5), F32, weak=True)
    add_case("stop_gradient", "empty", [np.zeros((0, 3), F32)], np.zeros((0, 3)), F32)
    add_case("not", "int32", [ints], np.invert(ints), I32)
    flags = np.array([True, False, True])
    add_case("not", "bool", [flags], ~flags, BOOL)
    add_case("not", "scalar", [np.array(True)], np.array(False), BOOL)
    add_case("not", "empty", [np.zeros((0, 2), BOOL)], np.zeros((0, 2), BOOL), BOOL)


# name: (reference, domain of x, domain of y)
BINARY_FLOAT = {
    "add": (np.add, uniform(-5, 5), uniform(-5, 5)),
    "sub": (np.subtract, uniform(-5, 5), uniform(-5, 5)),
    "mul": (np.multiply, uniform(-5, 5), uniform(-5, 5)),
    "div": (np.divide, uniform(-5, 5), nonzero),
    "rem": (np.fmod, uniform(-5, 5), nonzero),
    "pow": (np.power, uniform(0.1, 4), uniform(-2, 2)),
    "max": (np.maximum, ties, ties),
    "min": (np.minimum, ties, ties),
    "atan2": (np.arctan2, uniform(-5, 5), uniform(-5, 5)),
}
COMPARISONS = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
               "gt": np.greater, "ge": np.greater_equal}  # fmt: skip
BITWISE = {"and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor}
BINARY_NAMES = [*BINARY_FLOAT, *COMPARISONS, *BITWISE]


def _trunc_div(x, y):
    return np.trunc(x / y).astype(np.int64)


def _build_binary():
    sx, sy = np.meshgrid(SPECIAL, SPECIAL)
    for name, (ref, dom_x, dom_y) in [
        *BINARY_FLOAT.items(),
        *((n, (f, ties, ties)) for n, f in COMPARISONS.items()),
    ]:
        out = BOOL if name in COMPARISONS else F32
        tol = EXACT if name in ("max", "min", "rem", *COMPARISONS) else F32_TOL
        grad = GRAD_DOMAIN.get(name, (dom_x, dom_y))
        for shape_name, xs, ys in BINARY_SHAPES:
            rng = rng_for(name, xs, ys)
            x, y = dom_x(rng, xs).astype(F32), dom_y(rng, ys).astype(F32)
            add_case(name, shape_name, [x, y], ref(f64(x), f64(y)), out, tol, domain=grad)
        add_case(name, "special", [sx, sy], ref(f64(sx), f64(sy)), out, tol)
    # integers: exact, with C semantics for div (truncate) and rem (sign of the dividend)
    a = np.array([-7, -7, 7, 7, -6, 6, 0, 5, -1, 9], I32)
    b = np.array([2, -2, 2, -2, 2, -3, 3, 7, 2, 4], I32)
    a64, b64 = a.astype(I64), b.astype(I64)
    int_refs = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": _trunc_div,
                "rem": np.fmod, "max": np.maximum, "min": np.minimum, **BITWISE,
                **COMPARISONS}  # fmt: skip
    for name, ref in int_refs.items():
        out = BOOL if name in COMPARISONS else I32
        add_case(name, "int32", [a, b], ref(a64, b64), out)
        col = a[:, None][:4]
        add_case(name, "int32_outer", [col, b], ref(col.astype(I64), b64), out)
    add_case("div", "int32_signs", [np.array([-7, 7, -7, 7], I32), np.array([2, 2, -2, -2], I32)],
             np.array([-3, 3, 3, -3]), I32)  # fmt: skip
    add_case("rem", "int32_signs", [np.array([-7, 7, -7, 7], I32), np.array([2, 2, -2, -2], I32)],
             np.array([-1, 1, -1, 1]), I32)  # fmt: skip
    add_case("rem", "float_signs", [np.array([-5.5, 5.5, -5.5], F32), np.array([2, -2, -2], F32)],
             np.array([-1.5, 1.5, -1.5]), F32)  # fmt: skip
    base = np.array([-3, -2, -1, 0, 1, 2, 3], I32)
    expo = np.array([0, 1, 2, 3, 4], I32)
    add_case("pow", "int32", [base[:, None], expo], base[:, None].astype(I64) ** expo, I32)
    u = np.array([0, 1, 200, 255], U8)
    v = np.array([3, 1, 100, 0], U8)
    add_case("sub", "uint8_wraps", [u, v], (u.astype(I64) - v) % 256, U8)
    p = np.array([True, True, False, False])
    q = np.array([True, False, True, False])
    for name, ref in {**BITWISE, **COMPARISONS, "max": np.maximum, "min": np.minimum}.items():
        add_case(name, "bool", [p, q], ref(p, q), BOOL)
    z = np.array([1 + 2j, -1j, 3], C64)
    w = np.array([2 - 1j, 1j, 0.5], C64)
    for name, ref in (("add", np.add), ("mul", np.multiply), ("div", np.divide)):
        add_case(name, "complex64", [z, w], ref(f64(z), f64(w)), C64, C64_TOL)
    for name in ("eq", "ne"):
        add_case(name, "complex64", [z, z[::-1].copy()], COMPARISONS[name](z, z[::-1]), BOOL)
    # Python scalars are weakly typed: two of them give a weak result, one meets the array dtype
    add_case("add", "weak_scalars", [2.0, 3.5], np.array(5.5), F32, weak=True)
    add_case("mul", "weak_and_strong", [np.array([1.0, -2.0], F32), 2.0], np.array([2.0, -4.0]),
             F32)  # fmt: skip
    add_case("lt", "weak_scalars", [1.0, 2.0], np.array(True), BOOL)


def _shift_reference(name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # Bit by bit on Python ints, independent of numpy's shifts: amounts outside [0, bits) shift
    # every bit out (arithmetic right shifts then leave the sign bits).
    bits = x.dtype.itemsize * 8
    signed = np.dtype(f"i{x.dtype.itemsize}")
    out = []
    for a, n in zip(*np.broadcast_arrays(x, y), strict=True):
        a, n = int(a), int(n)
        pattern = a % 2**bits  # two's complement bit pattern
        big = not 0 <= n < bits
        if name == "shift_left":
            pattern = 0 if big else (pattern << n) % 2**bits
        elif name == "shift_right_logical":
            pattern = 0 if big else pattern >> n
        else:
            value = int(np.array(pattern, np.uint64).astype(signed)) if x.dtype.kind == "u" else a
            pattern = (value >> min(n if n >= 0 else bits, bits - 1)) % 2**bits
        out.append(pattern)
    return np.array(out, np.uint64).astype(x.dtype)


SHIFTS = ("shift_left", "shift_right_arithmetic", "shift_right_logical")


def _build_shifts():
    x = np.array([1, -1, 5, -8, 7, -(2**31), 2**31 - 1, 3], I32)
    n = np.array([0, 1, 2, 3, 31, 32, 40, -1], I32)
    u = np.array([1, 128, 255, 200, 3], U8)
    m = np.array([1, 1, 7, 8, 200], U8)
    for name in SHIFTS:
        add_case(name, "int32", [x, n], _shift_reference(name, x, n), I32)
        add_case(name, "uint8", [u, m], _shift_reference(name, u, m), U8)
        add_case(name, "scalar_amount", [x, 3], _shift_reference(name, x, np.array(3, I32)), I32)


def _build_select_convert():
    rng = rng_for("select")
    pred = rng.random((3, 4)) < 0.5
    x, y = rng.normal(size=(3, 4)).astype(F32), rng.normal(size=(3, 4)).astype(F32)
    add_case("select", "matrix", [pred, x, y], np.where(pred, x, y), F32)
    add_case("select", "scalar_pred", [np.array(False), x, y], y, F32)
    add_case("select", "scalar", [np.array(True), np.float32(1.5), np.float32(2.5)],
             np.array(1.5), F32)  # fmt: skip
    i, j = np.arange(12, dtype=I32).reshape(3, 4), -np.arange(12, dtype=I32).reshape(3, 4)
    add_case("select", "int32", [pred, i, j], np.where(pred, i, j), I32)
    e = np.zeros((0, 2), F32)
    add_case("select", "empty", [np.zeros((0, 2), BOOL), e, e], e, F32)
    add_case("select", "weak_cases", [np.array(True), 1.0, 2.0], np.array(1.0), F32, weak=True)

    def conv(name, x, new_dtype, expected, weak_type=False):
        add_case("convert_element_type", name, [x], expected, new_dtype, weak=weak_type,
                 new_dtype=np.dtype(new_dtype), weak_type=weak_type)  # fmt: skip

    frac = np.array([-1.7, -0.5, 0.0, 0.5, 1.7, 100.25], F32)
    conv("f32_to_i32_truncates", frac, I32, np.array([-1, 0, 0, 0, 1, 100]))
    conv("i32_to_f32", np.array([-3, 0, 2**24 + 1], I32), F32, np.array([-3.0, 0, 2.0**24]))
    conv("f32_to_bool", np.array([0.0, -0.0, 0.5, NAN, -INF], F32), BOOL,
         np.array([False, False, True, True, True]))  # fmt: skip
    conv("bool_to_f32", np.array([True, False]), F32, np.array([1.0, 0.0]))
    conv("c64_to_f32_real_part", np.array([1 + 2j, -3 - 4j], C64), F32, np.array([1.0, -3.0]))
    conv("f32_to_f16", np.array([1.0, 65504.0, 1e-3], F32), F16,
         np.array([1.0, 65504.0, 1e-3]).astype(F16))  # fmt: skip
    conv("i32_to_u8", np.array([0, 7, 255], I32), U8, np.array([0, 7, 255]))
    conv("to_weak", np.array([1.5, 2.5], F32), F32, np.array([1.5, 2.5]), weak_type=True)
    conv("empty", np.zeros((0, 3), F32), I32, np.zeros((0, 3)))
    conv("scalar", np.array(2.75, F32), I32, np.array(2))


REDUCTIONS = {
    "reduce_sum": (lambda x, axes: np.sum(x, axis=axes), uniform(-5, 5), SUM_TOL),
    "reduce_prod": (lambda x, axes: np.prod(x, axis=axes), uniform(0.5, 1.5), SUM_TOL),
    "reduce_max": (lambda x, axes: np.max(x, axis=axes, initial=-INF), ties, EXACT),
    "reduce_min": (lambda x, axes: np.min(x, axis=axes, initial=INF), ties, EXACT),
}


def _build_reductions():
    for name, (ref, domain, tol) in REDUCTIONS.items():
        x = domain(rng_for(name), (3, 4)).astype(F32)
        for axes in [(), (0,), (1,), (0, 1)]:
            label = "axes_" + ("".join(map(str, axes)) or "none")
            add_case(name, label, [x], ref(f64(x), axes), F32, tol, axes=axes)
        s = np.array(1.25, F32)
        add_case(name, "scalar", [s], ref(f64(s), ()), F32, tol, axes=())
        for axes in [(0,), (1,), (0, 1)]:
            e = np.zeros((0, 3), F32)  # sum 0, prod 1, max -inf, min inf: the identities
            add_case(name, f"empty_{axes}", [e], ref(f64(e), axes), F32, EXACT, axes=axes)
        k = np.arange(-5, 19, dtype=I32).reshape(2, 3, 4) % 7 - 2
        add_case(name, "int32", [k], ref(f64(k), (0, 2)).astype(I64), I32, axes=(0, 2))
    add_case("reduce_max", "nan", [np.array([[1, NAN], [INF, 2]], F32)], np.array([NAN, INF]),
             F32, axes=(1,))  # fmt: skip
    add_case("reduce_min", "nan", [np.array([[1, NAN], [-INF, 2]], F32)], np.array([-INF, NAN]),
             F32, axes=(0,))  # fmt: skip
    lo, hi = np.iinfo(I32).min, np.iinfo(I32).max
    add_case("reduce_max", "int32_empty", [np.zeros((0,), I32)], np.array(lo), I32, axes=(0,))
    add_case("reduce_min", "int32_empty", [np.zeros((0,), I32)], np.array(hi), I32, axes=(0,))
    b = np.array([[True, False], [False, False]])
    add_case("reduce_max", "bool", [b], np.array([True, False]), BOOL, axes=(1,))
    add_case("reduce_min", "bool", [b], np.array([False, False]), BOOL, axes=(0,))

    for name, ref in (("argmax", np.argmax), ("argmin", np.argmin)):
        x = ties(rng_for(name), (3, 4)).astype(F32)  # ties: the first index wins
        for axis in (0, 1):
            add_case(name, f"axis{axis}", [x], ref(x, axis=axis), I32, axis=axis, index_dtype=I32)
        nan = np.array([[1, NAN, 5, NAN], [3, 2, 2, 3]], F32)  # NaN counts as the extreme
        add_case(name, "nan", [nan], np.array([1, ref(nan[1])]), I32, axis=1, index_dtype=I32)
        k = np.array([[4, -1, 4], [0, 9, 9]], I32)
        add_case(name, "int32", [k], ref(k, axis=1), I32, axis=1, index_dtype=I32)
        add_case(name, "bool", [np.array([False, True, True])], ref(np.array([0, 1, 1])), I32,
                 axis=0, index_dtype=I32)  # fmt: skip
        add_case(name, "uint8_index", [x], ref(x, axis=0), U8, axis=0, index_dtype=U8)
        add_case(name, "empty_other_axis", [np.zeros((0, 3), F32)], np.zeros((0,)), I32, axis=1,
                 index_dtype=I32)  # fmt: skip


def np_pad(x: np.ndarray, value, config) -> np.ndarray:
    """lax.pad in plain numpy: interior dilation, then grow or crop each edge."""
    out = x
    for axis, (lo, hi, mid) in enumerate(config):
        n = out.shape[axis]
        if n and mid:
            shape = list(out.shape)
            shape[axis] = (n - 1) * (mid + 1) + 1
            dilated = np.full(shape, value, out.dtype)
            index = [slice(None)] * out.ndim
            index[axis] = slice(None, None, mid + 1)
            dilated[tuple(index)] = out
            out = dilated
        widths = [(0, 0)] * out.ndim
        widths[axis] = (max(lo, 0), max(hi, 0))
        out = np.pad(out, widths, constant_values=value)
        index = [slice(None)] * out.ndim
        index[axis] = slice(max(-lo, 0), out.shape[axis] - max(-hi, 0))
        out = out[tuple(index)]
    return out


def _build_movement():
    x = np.arange(12, dtype=F32).reshape(3, 4)
    x3 = np.arange(24, dtype=F32).reshape(2, 3, 4)

    def bid(name, operand, shape, dims):
        expanded = [1] * len(shape)
        for size, d in zip(operand.shape, dims, strict=True):
            expanded[d] = size
        ref = np.broadcast_to(operand.reshape(expanded), shape)
        add_case("broadcast_in_dim", name, [operand], ref, operand.dtype, shape=shape,
                 broadcast_dimensions=dims)  # fmt: skip

    v = np.arange(3, dtype=F32)
    bid("leading", v, (2, 3), (1,))
    bid("trailing", v, (3, 2), (0,))
    bid("size_one", np.arange(3, dtype=F32).reshape(3, 1), (3, 4), (0, 1))
    bid("middle", np.arange(3, dtype=I32).reshape(1, 3), (2, 4, 3), (0, 2))
    bid("scalar", np.array(7.0, F32), (2, 2), ())
    bid("to_empty", np.arange(3, dtype=F32).reshape(1, 3), (0, 3), (0, 1))
    bid("identity", x, (3, 4), (0, 1))

    for name, operand, sizes in [("flatten", x, (12,)), ("regroup", x, (2, 6)),
                                 ("add_one", x, (4, 3, 1)), ("scalar", np.array(3.0, F32), (1, 1)),
                                 ("to_scalar", np.array([2.0], F32), ()),
                                 ("empty", np.zeros((0, 3), F32), (3, 0))]:  # fmt: skip
        add_case("reshape", name, [operand], operand.reshape(sizes), F32, new_sizes=sizes)

    for perm in [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0)]:
        add_case("transpose", "p" + "".join(map(str, perm)), [x3], x3.transpose(perm), F32,
                 permutation=perm)  # fmt: skip
    add_case("transpose", "matrix", [x], x.T, F32, permutation=(1, 0))
    add_case("transpose", "empty", [np.zeros((0, 2), I32)], np.zeros((2, 0)), I32,
             permutation=(1, 0))  # fmt: skip
    add_case("transpose", "scalar", [np.array(1.0, F32)], np.array(1.0), F32, permutation=())

    s = np.arange(3, dtype=F32).reshape(1, 3, 1)
    add_case("squeeze", "both", [s], s.reshape(3), F32, dimensions=(0, 2))
    add_case("squeeze", "last", [s], s.reshape(1, 3), F32, dimensions=(2,))
    add_case("squeeze", "to_scalar", [np.ones((1, 1), I32)], np.array(1), I32, dimensions=(0, 1))
    add_case("squeeze", "empty", [np.zeros((0, 1), F32)], np.zeros((0,)), F32, dimensions=(1,))

    add_case("expand_dims", "front", [v], v[None], F32, dimensions=(0,))
    add_case("expand_dims", "back", [v], v[:, None], F32, dimensions=(1,))
    add_case("expand_dims", "both", [v], v[None, :, None], F32, dimensions=(0, 2))
    add_case("expand_dims", "scalar", [np.array(2, I32)], np.array([[2]]), I32, dimensions=(0, 1))

    m = np.arange(30, dtype=F32).reshape(5, 6)
    add_case("slice", "strided", [m], m[1:4:2, 0:6:3], F32, start_indices=(1, 0),
             limit_indices=(4, 6), strides=(2, 3))  # fmt: skip
    add_case("slice", "unit_strides", [m], m[2:5, 1:3], F32, start_indices=(2, 1),
             limit_indices=(5, 3), strides=None)  # fmt: skip
    add_case("slice", "stride_past_end", [m], m[0:5:4, 5:6:7], F32, start_indices=(0, 5),
             limit_indices=(5, 6), strides=(4, 7))  # fmt: skip
    add_case("slice", "empty", [m], m[3:3, :], F32, start_indices=(3, 0), limit_indices=(3, 6),
             strides=None)  # fmt: skip
    add_case("slice", "scalar", [np.array(4.0, F32)], np.array(4.0), F32, start_indices=(),
             limit_indices=(), strides=None)  # fmt: skip

    for dims in [(0,), (1,), (0, 1)]:
        add_case("rev", f"dims{dims}", [x], np.flip(x, dims), F32, dimensions=dims)
    add_case("rev", "empty", [np.zeros((0, 2), I32)], np.zeros((0, 2)), I32, dimensions=(0,))
    add_case("rev", "scalar", [np.array(1.0, F32)], np.array(1.0), F32, dimensions=())

    a, b, c = np.ones((2, 1), F32), np.zeros((2, 0), F32), np.arange(4, dtype=F32).reshape(2, 2)
    add_case("concatenate", "rows", [x, x[:1]], np.concatenate([x, x[:1]]), F32, dimension=0)
    add_case("concatenate", "three_with_empty", [a, b, c], np.concatenate([a, b, c], 1), F32,
             dimension=1)  # fmt: skip
    add_case("concatenate", "single", [v], v, F32, dimension=0)
    i = np.arange(3, dtype=I32)
    add_case("concatenate", "int32", [i, i], np.concatenate([i, i]), I32, dimension=0)

    add_case("split", "columns", [c], [c[:, :1], c[:, 1:]], [F32, F32], sizes=(1, 1), axis=1)
    add_case("split", "with_empty", [x], [x[:0], x], [F32, F32], sizes=(0, x.shape[0]), axis=0)
    add_case("split", "int32", [i], [i[:2], i[2:]], [I32, I32], sizes=(2, 1), axis=0)

    pad_configs = {
        "edges": ((1, 2, 0), (0, 1, 0)),
        "interior": ((0, 0, 1), (1, 1, 2)),
        "negative": ((-1, 1, 0), (2, -2, 1)),
        "crop_all": ((-1, -2, 0), (0, 0, 0)),
    }
    for name, config in pad_configs.items():
        add_case("pad", name, [x, np.array(-9.0, F32)], np_pad(x, -9.0, config), F32,
                 padding_config=config)  # fmt: skip
    add_case("pad", "scalar_operand", [np.array(2.0, F32), np.array(0.0, F32)], np.array(2.0),
             F32, padding_config=())  # fmt: skip
    add_case("pad", "empty_operand", [np.zeros((0, 2), I32), np.array(5, I32)],
             np.full((2, 2), 5), I32, padding_config=((1, 1, 3), (0, 0, 0)))  # fmt: skip

    def starts(*values):
        return [np.array(s, I32) for s in values]

    m = np.arange(20, dtype=F32).reshape(5, 4)
    # the primitive clamps every start so the window fits (negative wrapping is lax's job)
    for name, st_, sizes, begin in [("inside", (1, 2), (2, 2), (1, 2)),
                                    ("clamped_high", (4, 3), (3, 2), (2, 2)),
                                    ("clamped_low", (-1, -3), (2, 2), (0, 0)),
                                    ("whole", (0, 0), (5, 4), (0, 0)),
                                    ("zero_size", (3, 1), (0, 2), (3, 1))]:  # fmt: skip
        ref = m[begin[0] : begin[0] + sizes[0], begin[1] : begin[1] + sizes[1]]
        add_case("dynamic_slice", name, [m, *starts(*st_)], ref, F32, slice_sizes=sizes)
    upd = -np.ones((2, 3), F32)
    for name, st_, begin in [("inside", (1, 1), (1, 1)), ("clamped_high", (9, 3), (3, 1)),
                             ("clamped_low", (-4, -1), (0, 0))]:  # fmt: skip
        ref = m.copy()
        ref[begin[0] : begin[0] + 2, begin[1] : begin[1] + 3] = upd
        add_case("dynamic_update_slice", name, [m, upd, *starts(*st_)], ref, F32)
    add_case("dynamic_update_slice", "empty_update", [m, np.zeros((0, 4), F32), *starts(2, 0)],
             m, F32)  # fmt: skip

    add_case("iota", "int32", [], np.arange(5), I32, dtype=I32, shape=(5,), dimension=0)
    add_case("iota", "float32_2d", [], np.broadcast_to(np.arange(3.0), (2, 3)), F32, dtype=F32,
             shape=(2, 3), dimension=1)  # fmt: skip
    add_case("iota", "dim0", [], np.broadcast_to(np.arange(2)[:, None], (2, 3)), I32, dtype=I32,
             shape=(2, 3), dimension=0)  # fmt: skip
    add_case("iota", "empty", [], np.zeros((0,)), I32, dtype=I32, shape=(0,), dimension=0)


def _build_indexing():
    x = np.arange(20, dtype=F32).reshape(5, 4)
    x3 = np.arange(24, dtype=F32).reshape(2, 3, 4)
    rows = (("array", 0), ("slice", 0, 4, 1))

    def idx(*values, shape=None):
        out = np.array(values, I32)
        return out.reshape(shape) if shape is not None else out

    add_case("gather", "rows", [x, idx(4, 0, 2)], x[[4, 0, 2]], F32, spec=rows)
    add_case("gather", "negative_and_clamped", [x, idx(-1, 7, -9)], x[[4, 4, 0]], F32, spec=rows)
    add_case("gather", "scalar_index", [x, np.array(2, I32)], x[2], F32, spec=rows)
    add_case("gather", "empty_index", [x, idx(shape=(0,))], x[:0], F32, spec=rows)
    i0, i1 = idx(1, 0, shape=(2, 1)), idx(3, 0, 2)
    add_case("gather", "adjacent_arrays", [x3, i0, i1], x3[:, i0, i1], F32,
             spec=(("slice", 0, 2, 1), ("array", 0), ("array", 1)))  # fmt: skip
    add_case("gather", "separated_arrays", [x3, i0 % 2, i1], x3[i0 % 2, :, i1], F32,
             spec=(("array", 0), ("slice", 0, 3, 1), ("array", 1)))  # fmt: skip
    add_case("gather", "newaxis_reversed_slice", [x, idx(3, 1)], x[None, 4::-2, [3, 1]], F32,
             spec=(("newaxis",), ("slice", 4, None, -2), ("array", 0)))  # fmt: skip
    add_case("gather", "int32_operand", [x.astype(I32), idx(1)], x[[1]], I32, spec=rows)

    def scatter(prim, name, operand, indices, updates, spec, ref_fn):
        ref = operand.astype(np.float64 if operand.dtype.kind == "f" else I64)
        ref_fn(ref)
        add_case(prim, name, [operand, updates, *indices], ref, operand.dtype, spec=spec)

    upd = -np.arange(12, dtype=F32).reshape(3, 4) - 1

    def set_rows(ref):
        ref[[4, 0, 2]] = upd

    scatter("scatter", "rows", x, [idx(4, 0, 2)], upd, rows, set_rows)

    def set_broadcast(ref):
        ref[[1, 3]] = np.array([9, 8, 7, 6])

    scatter("scatter", "broadcast_updates", x, [idx(1, 3)], np.array([9, 8, 7, 6], F32), rows,
            set_broadcast)  # fmt: skip

    def set_dropped(ref):
        ref[[4]] = 100.0  # 5 is past the end and -6 wraps to -1: both dropped; -1 is row 4

    scatter("scatter", "out_of_range_dropped", x, [idx(5, -6, -1)],
            np.full((3, 4), 100.0, F32), rows, set_dropped)  # fmt: skip
    basic = (("slice", 1, 3, 1), ("slice", 0, 4, 2))

    def set_basic(ref):
        ref[1:3, 0:4:2] = [[-1, -2], [-3, -4]]

    scatter("scatter", "slices_only", x, [], np.array([[-1, -2], [-3, -4]], F32), basic, set_basic)
    dup = [idx(1, 1, 3)]
    ups = np.array([[2, 3, 4, 5], [0.5, -1, 7, 2], [1, 1, 1, 1]], F32)
    for prim, ufunc in [("scatter_add", np.add), ("scatter_mul", np.multiply),
                        ("scatter_min", np.minimum), ("scatter_max", np.maximum)]:  # fmt: skip

        def accumulate(ref, ufunc=ufunc):
            ufunc.at(ref, [1, 1, 3], ups)

        scatter(prim, "duplicates", x, dup, ups, rows, accumulate)

        def basic_combine(ref, ufunc=ufunc):
            ref[1:3, 0:4:2] = ufunc(ref[1:3, 0:4:2], [[2, -1], [0.5, 3]])

        scatter(prim, "slices_only", x, [], np.array([[2, -1], [0.5, 3]], F32), basic,
                basic_combine)  # fmt: skip

        def dropped(ref, ufunc=ufunc):
            ref[0] = ufunc(ref[0], 3.0)

        scatter(prim, "out_of_range_dropped", x, [idx(0, 9, -7)], np.full((3, 4), 3.0, F32),
                rows, dropped)  # fmt: skip
    k = np.arange(6, dtype=I32).reshape(3, 2)

    def add_int(ref):
        np.add.at(ref, [0, 0, 2], np.array([[1, 1], [2, 2], [5, 5]]))

    scatter("scatter_add", "int32", k, [idx(0, 0, 2)], np.array([[1, 1], [2, 2], [5, 5]], I32),
            (("array", 0), ("slice", 0, 2, 1)), add_int)  # fmt: skip


def _build_sorting():
    rng = rng_for("sort")
    x = ties(rng, (3, 5)).astype(F32)
    x[0, 1] = NAN
    x[2, 4] = -INF
    add_case("sort", "float_nan_last", [x], [np.sort(x, axis=1)], [F32], dimension=1, num_keys=1)
    add_case("sort", "dim0", [x], [np.sort(x, axis=0)], [F32], dimension=0, num_keys=1)
    keys = np.array([3, 1, 2, 1, 3, 1], I32)
    vals = np.arange(6, dtype=F32)
    order = np.argsort(keys, kind="stable")
    add_case("sort", "one_key_stable", [keys, vals], [keys[order], vals[order]], [I32, F32],
             dimension=0, num_keys=1)  # fmt: skip
    k2 = np.array([0, 1, 0, 1, 0, 1], I32)
    order2 = np.lexsort((k2, keys))
    add_case("sort", "two_keys", [keys, k2, vals], [keys[order2], k2[order2], vals[order2]],
             [I32, I32, F32], dimension=0, num_keys=2)  # fmt: skip
    flags = np.array([True, False, True, False])
    add_case("sort", "bool", [flags], [np.sort(flags)], [BOOL], dimension=0, num_keys=1)
    add_case("sort", "empty", [np.zeros((0, 3), F32)], [np.zeros((0, 3))], [F32], dimension=0,
             num_keys=1)  # fmt: skip

    cumulative = {
        "cumsum": (np.cumsum, uniform(-5, 5), F32_TOL),
        "cumprod": (np.cumprod, uniform(0.5, 1.5), F32_TOL),
        "cummax": (np.maximum.accumulate, ties, EXACT),
        "cummin": (np.minimum.accumulate, ties, EXACT),
    }
    for name, (ref, domain, tol) in cumulative.items():
        x = domain(rng_for(name), (3, 4)).astype(F32)
        for axis in (0, 1):
            for reverse in (False, True):
                expected = ref(f64(x), axis=axis)
                if reverse:
                    expected = np.flip(ref(np.flip(f64(x), axis), axis=axis), axis)
                add_case(name, f"axis{axis}_{'rev' if reverse else 'fwd'}", [x], expected, F32,
                         tol, axis=axis, reverse=reverse)  # fmt: skip
        k = np.array([[3, -1, 2], [0, 2, -2]], I32)
        add_case(name, "int32", [k], ref(k.astype(I64), axis=1), I32, axis=1, reverse=False)
        add_case(name, "empty", [np.zeros((0, 2), F32)], np.zeros((0, 2)), F32, axis=0,
                 reverse=False)  # fmt: skip
    nan = np.array([1, NAN, 3, 0], F32)
    add_case("cummax", "nan", [nan], np.array([1, NAN, NAN, NAN]), F32, axis=0, reverse=False)
    add_case("cumsum", "single_reverse", [np.array([2.0], F32)], np.array([2.0]), F32,
             axis=0, reverse=True)  # fmt: skip


# (name, lhs shape, rhs shape, dimension_numbers, einsum spec)
DOT_LAYOUTS = [
    ("matmul", (3, 4), (4, 5), (((1,), (0,)), ((), ())), "ij,jk->ik"),
    ("vecdot", (4,), (4,), (((0,), (0,)), ((), ())), "i,i->"),
    ("matvec", (3, 4), (4,), (((1,), (0,)), ((), ())), "ij,j->i"),
    ("vecmat", (4,), (4, 5), (((0,), (0,)), ((), ())), "j,jk->k"),
    ("outer", (3,), (4,), (((), ()), ((), ())), "i,j->ij"),
    ("lhs_first_axis", (4, 3), (5, 4), (((0,), (1,)), ((), ())), "ji,kj->ik"),
    ("rank3_times_matrix", (2, 3, 4), (4, 5), (((2,), (0,)), ((), ())), "bij,jk->bik"),
    ("batch_matmul", (2, 3, 4), (2, 4, 5), (((2,), (1,)), ((0,), (0,))), "bij,bjk->bik"),
    ("batch_in_middle", (3, 2, 4), (4, 2, 5), (((2,), (0,)), ((1,), (1,))), "ibj,jbk->bik"),
    ("two_contracting", (2, 3, 4), (3, 4, 5), (((1, 2), (0, 1)), ((), ())), "ijk,jkl->il"),
    ("contracting_pairs_permuted", (2, 3, 4), (4, 3, 5), (((1, 2), (1, 0)), ((), ())),
     "ijk,kjl->il"),
    ("two_batch_swapped", (2, 3, 4, 5), (3, 2, 5, 6), (((3,), (2,)), ((0, 1), (1, 0))),
     "abij,bajk->abik"),
    ("batch_only", (2, 3), (2, 4), (((), ()), ((0,), (0,))), "bi,bj->bij"),
    ("empty_contraction", (3, 0), (0, 4), (((1,), (0,)), ((), ())), "ij,jk->ik"),
    ("empty_batch", (0, 3, 4), (0, 4, 2), (((2,), (1,)), ((0,), (0,))), "bij,bjk->bik"),
]  # fmt: skip


def _build_dot():
    for name, ls, rs, dn, spec in DOT_LAYOUTS:
        rng = rng_for("dot", name)
        lhs, rhs = rng.normal(size=ls).astype(F32), rng.normal(size=rs).astype(F32)
        ref = np.einsum(spec, f64(lhs), f64(rhs))
        add_case("dot_general", name, [lhs, rhs], ref, F32, SUM_TOL, dimension_numbers=dn)
    li, ri = np.arange(6, dtype=I32).reshape(2, 3) - 2, np.arange(12, dtype=I32).reshape(3, 4)
    add_case("dot_general", "int32", [li, ri], li.astype(I64) @ ri, I32,
             dimension_numbers=(((1,), (0,)), ((), ())))  # fmt: skip


# Control flow: branches and bodies are closed jaxprs staged from small functions.


def _staged(fun, *avals):
    return vfunc.make_jaxpr(fun)(*[vfunc.ShapeDtypeStruct(s, d) for s, d in avals])


def _staged_twice(fun, *avals):
    """``fun`` staged at ``avals`` and, for the float64 gradient check, again with float64 in
    place of float32 (under x64, else float64 avals would be canonicalised back)."""
    with vfunc.testing.gradients.enable_x64():
        wide = _staged(fun, *[(s, F64 if d == F32 else d) for s, d in avals])
    return _staged(fun, *avals), wide


def _build_control_flow():
    rng = rng_for("control_flow")
    x = rng.uniform(0.5, 2.0, 4).astype(F32)
    neg, sin2 = _staged(lambda a: -a, ((4,), F32)), _staged(lambda a: lax.sin(a) * 2.0, ((4,), F32))
    square = _staged(lambda a: a * a, ((4,), F32))
    for name, index, ref in [("true", 1, np.sin(f64(x)) * 2), ("false", 0, -f64(x))]:
        add_case("cond", name, [np.array(index, I32), x], [ref], [F32], F32_TOL,
                 branches=(neg, sin2))  # fmt: skip
    add_case("cond", "three_branches_clamped", [np.array(7, I32), x], [f64(x) ** 2], [F32],
             F32_TOL, branches=(neg, sin2, square))  # fmt: skip
    pair = [
        _staged(lambda a, n: (a + 1.0, n + 1), ((4,), F32), ((), I32)),
        _staged(lambda a, n: (a * 3.0, n * 2), ((4,), F32), ((), I32)),
    ]
    add_case("cond", "int_operand", [np.array(1, I32), x, np.array(5, I32)],
             [f64(x) * 3, np.array(10)], [F32, I32], F32_TOL, branches=tuple(pair))  # fmt: skip

    def while_ref(cond, body, carry):
        while cond(*carry):
            carry = body(*carry)
        return list(carry)

    v = rng.uniform(0.5, 2.0, 3).astype(F32)
    add_case("while", "doubling", [v],
             while_ref(lambda a: a.sum() < 50, lambda a: (a * 2 + 1,), (f64(v),)), [F32],
             F32_TOL, cond_jaxpr=_staged(lambda a: a.sum() < 50.0, ((3,), F32)),
             body_jaxpr=_staged(lambda a: a * 2.0 + 1.0, ((3,), F32)), cond_nconsts=0,
             body_nconsts=0)  # fmt: skip
    w = rng.uniform(0.5, 2.0, 2).astype(F32)
    add_case("while", "counter", [np.array(0, I32), w],
             while_ref(lambda i, a: i < 5, lambda i, a: (i + 1, np.sin(a) + a), (0, f64(w))),
             [I32, F32], F32_TOL,
             cond_jaxpr=_staged(lambda i, a: i < 5, ((), I32), ((2,), F32)),
             body_jaxpr=_staged(lambda i, a: (i + 1, lax.sin(a) + a), ((), I32), ((2,), F32)),
             cond_nconsts=0, body_nconsts=0)  # fmt: skip
    limit, step = np.array(10.0, F32), rng.uniform(0.5, 2.0, 2).astype(F32)
    add_case("while", "consts", [limit, step, w],
             while_ref(lambda a: a.sum() < 10.0, lambda a: (a + f64(step),), (f64(w),)), [F32],
             F32_TOL, cond_jaxpr=_staged(lambda lim, a: a.sum() < lim, ((), F32), ((2,), F32)),
             body_jaxpr=_staged(lambda s, a: a + s, ((2,), F32), ((2,), F32)),
             cond_nconsts=1, body_nconsts=1)  # fmt: skip

    def scan_ref(body, consts, carry, xs, length, reverse=False):
        ys = [None] * length
        for i in range(length - 1, -1, -1) if reverse else range(length):
            carry, y = body(*consts, carry, *[x[i] for x in xs])
            ys[i] = y
        return carry, np.stack(ys)

    seq = rng.uniform(-1.0, 1.0, 5).astype(F32)
    add_case("scan", "cumulative", [np.array(0.5, F32), seq],
             list(scan_ref(lambda c, x: (c + x, c * x), (), 0.5, [f64(seq)], 5)), [F32, F32],
             F32_TOL, jaxpr=_staged(lambda c, x: (c + x, c * x), ((), F32), ((), F32)),
             num_consts=0, num_carry=1, length=5, reverse=False, unroll=1)  # fmt: skip
    wv, h0 = rng.uniform(-1, 1, 3).astype(F32), rng.uniform(-1, 1, 3).astype(F32)
    xs = rng.uniform(-1, 1, (4, 3)).astype(F32)
    ref = scan_ref(lambda w_, h, x_: (np.tanh(w_ * h + x_),) * 2, (f64(wv),), f64(h0), [f64(xs)],
                   4, reverse=True)  # fmt: skip
    add_case("scan", "reverse_consts", [wv, h0, xs], list(ref), [F32, F32], F32_TOL,
             jaxpr=_staged(lambda w_, h, x_: (lax.tanh(w_ * h + x_),) * 2, ((3,), F32),
                           ((3,), F32), ((3,), F32)),
             num_consts=1, num_carry=1, length=4, reverse=True, unroll=1)  # fmt: skip
    (i_end, a_end), ys = scan_ref(lambda carry: ((carry[0] + 1, carry[1] * 2 + carry[0]),
                                                  carry[0]), (), (0, f64(w)), [], 3)  # fmt: skip
    add_case("scan", "int_carry_no_xs", [np.array(0, I32), w], [np.array(i_end), a_end, ys],
             [I32, F32, I32], F32_TOL,
             jaxpr=_staged(lambda i, a: (i + 1, a * 2.0 + lax.convert_element_type(i, F32), i),
                           ((), I32), ((2,), F32)),
             num_consts=0, num_carry=2, length=3, reverse=False, unroll=1)  # fmt: skip


# Custom rules and checkpoint: the function as a staged jaxpr, the rules over flat lists.


def _build_custom_calls():
    from vfunc.transforms.custom_rules import JVPRule, VJPBwd, VJPFwd

    rng = rng_for("custom_calls")
    x, y = rng.uniform(-2.0, 2.0, 4).astype(F32), rng.uniform(0.5, 2.0, 4).astype(F32)
    c = np.array(1.5, F32)
    # (each jaxpr with its float64 twin, for the gradient check)
    softplus = _staged_twice(lambda a: lax.log1p(lax.exp(a)), ((4,), F32))
    pair = _staged_twice(lambda a, b: (a * b, lax.sin(a)), ((4,), F32), ((4,), F32))
    scaled = _staged_twice(lambda k, a: a * k, ((), F32), ((4,), F32))  # k: a closed-over value
    ref_softplus = np.log1p(np.exp(f64(x)))
    ref_pair = [f64(x) * f64(y), np.sin(f64(x))]
    jvp_rules = {
        "softplus": JVPRule(lambda a, t: ([lax.log1p(lax.exp(a[0]))],
                                          [t[0] * lax.logistic(a[0])]), "softplus"),
        "pair": JVPRule(lambda a, t: ([a[0] * a[1], lax.sin(a[0])],
                                      [t[0] * a[1] + a[0] * t[1], t[0] * lax.cos(a[0])]), "pair"),
        "scaled": JVPRule(lambda a, t: ([a[0] * 1.5], [t[0] * 1.5]), "scaled"),
    }  # fmt: skip
    fwd_rules = {
        "softplus": VJPFwd(lambda a: ([lax.log1p(lax.exp(a[0]))], a[0]), "softplus"),
        "pair": VJPFwd(lambda a: ([a[0] * a[1], lax.sin(a[0])], tuple(a)), "pair"),
        "scaled": VJPFwd(lambda a: ([a[0] * 1.5], None), "scaled"),
    }
    bwd_rules = {
        "softplus": VJPBwd(lambda r, g: [g[0] * lax.logistic(r)], "softplus"),
        "pair": VJPBwd(lambda r, g: [g[0] * r[1] + g[1] * lax.cos(r[0]), g[0] * r[0]], "pair"),
        "scaled": VJPBwd(lambda r, g: [g[0] * 1.5], "scaled"),
    }
    cases = [("softplus", softplus, [x], [ref_softplus], [F32], 0),
             ("pair", pair, [x, y], ref_pair, [F32, F32], 0),
             ("closed_over", scaled, [c, x], [f64(x) * 1.5], [F32], 1)]  # fmt: skip
    for name, (jaxpr, wide), args, ref, dtypes, k in cases:
        rule = "scaled" if name == "closed_over" else name
        add_case("custom_jvp_call", name, args, ref, dtypes, F32_TOL, call_jaxpr=jaxpr,
                 jvp=jvp_rules[rule], num_consts=k, grad_params={"call_jaxpr": wide})  # fmt: skip
        add_case("custom_vjp_call", name, args, ref, dtypes, F32_TOL, call_jaxpr=jaxpr,
                 fwd=fwd_rules[rule], bwd=bwd_rules[rule], num_consts=k,
                 grad_params={"call_jaxpr": wide})  # fmt: skip
    chain = _staged_twice(lambda a: lax.tanh(lax.tanh(a)), ((4,), F32))
    add_case("checkpoint", "tanh_chain", [x], [np.tanh(np.tanh(f64(x)))], [F32], F32_TOL,
             jaxpr=chain[0], prevent_cse=True, differentiated=False,
             grad_params={"jaxpr": chain[1]})  # fmt: skip
    add_case("checkpoint", "pair_recomputed", [x, y], ref_pair, [F32, F32], F32_TOL,
             jaxpr=pair[0], prevent_cse=True, differentiated=True,
             grad_params={"jaxpr": pair[1]})  # fmt: skip
    with_int = _staged_twice(lambda a, n: (a * lax.convert_element_type(n, a.dtype), n + 1),
                             ((4,), F32), ((), I32))  # fmt: skip
    add_case("checkpoint", "int_operand", [x, np.array(3, I32)], [f64(x) * 3, np.array(4)],
             [F32, I32], F32_TOL, jaxpr=with_int[0], prevent_cse=False, differentiated=False,
             grad_params={"jaxpr": with_int[1]})  # fmt: skip
    # jit[jaxpr name]: a jitted function called under a transformation
    add_case("jit", "pair", [x, y], ref_pair, [F32, F32], F32_TOL, jaxpr=pair[0], name="pair",
             grad_params={"jaxpr": pair[1]})  # fmt: skip
    add_case("jit", "softplus", [x], [ref_softplus], [F32], F32_TOL, jaxpr=softplus[0],
             name="softplus", grad_params={"jaxpr": softplus[1]})  # fmt: skip
    add_case("jit", "int_operand", [x, np.array(3, I32)], [f64(x) * 3, np.array(4)],
             [F32, I32], F32_TOL, jaxpr=with_int[0], name="with_int",
             grad_params={"jaxpr": with_int[1]})  # fmt: skip


def _conv_params(nsp, strides=None, padding=None, ld=None, rd=None, groups=1):
    return {
        "window_strides": tuple(strides or (1,) * nsp),
        "padding": tuple(padding or ((0, 0),) * nsp),
        "lhs_dilation": tuple(ld or (1,) * nsp),
        "rhs_dilation": tuple(rd or (1,) * nsp),
        "feature_group_count": groups,
    }


def _build_conv():
    from references import conv as cref

    layouts = [  # name, lhs shape, rhs shape, params
        ("1d_strided", (2, 3, 9), (4, 3, 3), _conv_params(1, (2,), ((1, 2),))),
        ("2d_dilated_grouped", (2, 4, 7, 6), (6, 2, 3, 2),
         _conv_params(2, (1, 2), ((1, 0), (2, -1)), (2, 1), (1, 2), groups=2)),
        ("3d", (1, 2, 4, 5, 3), (3, 2, 2, 3, 1), _conv_params(3, (1, 2, 1), ((1, 1),) * 3)),
        ("depthwise", (2, 3, 5, 5), (3, 1, 3, 3), _conv_params(2, padding=((1, 1), (1, 1)),
                                                               groups=3)),
    ]  # fmt: skip
    for name, xs, ws, p in layouts:
        rng = rng_for("conv", name)
        x, w = rng.normal(size=xs).astype(F32), rng.normal(size=ws).astype(F32)
        args = [p[k] for k in ("window_strides", "padding", "lhs_dilation", "rhs_dilation",
                               "feature_group_count")]  # fmt: skip
        y = cref.conv(x, w, *args)
        g = rng.normal(size=y.shape).astype(F32)
        dx, dw = cref.conv_vjp(x, w, g, *args)
        add_case("conv_general_dilated", name, [x, w], y, F32, SUM_TOL, **p)
        add_case("conv_input_grad", name, [g, w], dx, F32, SUM_TOL, lhs_shape=xs, **p)
        add_case("conv_weight_grad", name, [x, g], dw, F32, SUM_TOL, rhs_shape=ws, **p)
    windows = [  # name, operand shape, window, strides, padding
        ("pool2x2", (2, 3, 4, 6), (1, 1, 2, 2), (1, 1, 2, 2), ((0, 0),) * 4),
        ("overlap_padded", (2, 5, 5), (1, 3, 3), (1, 2, 1), ((0, 0), (1, 1), (1, 0))),
        ("1d", (7,), (3,), (2,), ((1, 1),)),
    ]
    for name, xs, win, st_, pad in windows:
        rng = rng_for("window", name)
        x = rng.normal(size=xs).astype(F32)
        p = {"window_dimensions": win, "window_strides": st_, "padding": pad,
             "base_dilation": (1,) * len(xs), "window_dilation": (1,) * len(xs)}  # fmt: skip
        mx = cref.reduce_window("max", x, win, st_, pad)
        sm = cref.reduce_window("sum", x, win, st_, pad)
        g = rng.normal(size=mx.shape).astype(F32)
        t = rng.normal(size=xs).astype(F32)
        ones = np.ones(xs)
        sum_t = np.zeros(xs)
        # The windowed sum is linear: its transpose maps g to sum_o g[o] * (window o's mask).
        for i in np.ndindex(*xs):
            e = np.zeros(xs)
            e[i] = 1.0
            sum_t[i] = (cref.reduce_window("sum", e * ones, win, st_, pad) * g).sum()
        add_case("reduce_window_max", name, [x], mx, F32, **p)
        add_case("reduce_window_sum", name, [x], sm, F32, SUM_TOL, **p)
        add_case("reduce_window_sum_transpose", name, [g], sum_t, F32, SUM_TOL,
                 operand_shape=xs, **p)  # fmt: skip
        add_case("select_and_scatter_add", name, [g, x],
                 cref.window_argmax_vjp(f64(g), x, win, st_, pad), F32, SUM_TOL, **p)  # fmt: skip
        gathered = cref.window_argmax_gather(f64(t), x, win, st_, pad, mx.shape)
        add_case("select_and_gather_add", name, [t, x], gathered, F32, **p)


def _build_random():
    from references import random as rref

    keys = np.array([[0, 0], [0, 42], [4294967295, 17]], np.uint32)
    U32, U16 = np.dtype("uint32"), np.dtype("uint16")

    def per_key(fn, ks):
        return np.array([fn(tuple(int(w) for w in k)) for k in ks.reshape(-1, 2)])

    add_case("random_seed", "int32", [np.array([0, -7, 42], I32)],
             np.array([[0, 0], [0, 2**32 - 7], [0, 42]], U32), U32)  # fmt: skip
    add_case("random_seed", "int16", [np.array([-1, 300], np.int16)],
             np.array([[0, 2**32 - 1], [0, 300]], U32), U32)  # fmt: skip
    add_case("random_seed", "scalar_uint8", [np.array(200, U8)], np.array([0, 200], U32), U32)
    for name, ks, shape, dt in [("u32_batch", keys, (5,), U32), ("u8_2d", keys[1], (2, 3), U8),
                                ("u16_scalar", keys[2], (), U16), ("empty", keys, (0,), U32)]:
        ref = per_key(lambda k: rref.bits(k, math.prod(shape), dt.itemsize * 8), ks)
        add_case("random_bits", name, [ks], ref.reshape((*ks.shape[:-1], *shape)).astype(dt), dt,
                 shape=shape, dtype=dt)  # fmt: skip
    ref = per_key(lambda k: rref.unit_float(k, 4, 32), keys)
    add_case("random_bits", "unit_f32", [keys], ref.astype(F32), F32, shape=(4,), dtype=F32)
    for name, ks, shape in [("pair", keys[0], (2,)), ("batch_grid", keys, (2, 2)),
                            ("none", keys[1], (0,))]:
        ref = per_key(lambda k: rref.split(k, math.prod(shape)), ks)
        add_case("random_split", name, [ks], ref.reshape((*ks.shape[:-1], *shape, 2)).astype(U32),
                 U32, shape=shape)  # fmt: skip
    msgs = np.array([0, 1, 2**32 - 1], U32)
    ref = np.array([rref.fold_in(tuple(int(w) for w in k), int(m)) for k, m in zip(keys, msgs)])
    add_case("random_fold_in", "batch", [keys, msgs], ref.astype(U32), U32)
    add_case("random_fold_in", "single", [keys[1], msgs[1]],
             np.array(rref.fold_in((0, 42), 1), U32), U32)  # fmt: skip
    add_case("random_fold_in", "empty", [keys[:0], msgs[:0]], np.zeros((0, 2), U32), U32)
    grid = np.array([-0.999, -0.5, 0.0, 0.25, 0.9, 0.999999])
    erfinv = np.vectorize(rref.erfinv)
    # Giles' float32 polynomial (XLA's too) is within ~6 ulp in the tails, ~1 ulp centrally.
    # Its gradient draws from the interior: 0.999999 lies within check_grads' step (1e-6) of
    # the pole at 1; test_erf_inv_gradient_near_the_poles checks there with a finer step.
    add_case("erf_inv", "f32", [grid.astype(F32)], erfinv(grid.astype(F32).astype(F64)), F32,
             {"rtol": 1e-6, "atol": 1e-7}, domain=(uniform(-0.99, 0.99),))  # fmt: skip
    add_case("erf_inv", "scalar", [np.array(0.3, F32)], rref.erfinv(float(np.float32(0.3))), F32,
             {"rtol": 2e-7, "atol": 0})  # fmt: skip
    add_case("erf_inv", "edges", [np.array([-1.0, 1.0, 0.0], F32)], np.array([-INF, INF, 0.0]),
             F32)  # fmt: skip
    x = np.array([1.0, -2.0, 0.0], F32)
    add_case("nextafter", "up", [x, np.array(INF, F32)], np.nextafter(x, np.float32(INF)), F32)
    y = np.array([0.5, 0.0], F32)
    add_case("nextafter", "down", [y, np.array(-INF, F32)], np.nextafter(y, np.float32(-INF)),
             F32)  # fmt: skip
    add_case("nextafter", "towards_self", [x, x], x, F32)
    lo = np.nextafter(np.float32(-1), np.float32(0))
    for name, ks, shape in [("batch", keys, (4,)), ("scalar", keys[1], ()),
                            ("grid", keys[2], (2, 3))]:
        unit = per_key(lambda k: rref.unit_float(k, math.prod(shape), 32), ks).astype(F32)
        u = np.maximum(lo, (f64(unit) * (1 - f64(lo)) + f64(lo)).astype(F32))
        ref = math.sqrt(2) * np.vectorize(rref.erfinv)(f64(u))
        add_case("random_normal", name, [ks], ref.reshape((*ks.shape[:-1], *shape)), F32,
                 {"rtol": 1e-6, "atol": 1e-6}, shape=shape, dtype=F32)  # fmt: skip
    # Gamma samples recorded from JAX (key(3), a per column), and their derivative in a.
    with np.load(Path(__file__).parent / "fixtures" / "random" / "jax_x32.npz") as rec:
        g_ref, lg_ref = rec["gamma_float32"], rec["loggamma_float32"]
    alphas = np.broadcast_to(np.array([0.2, 0.9, 1.0, 2.5, 30.0], F32), (40, 5))
    gkeys = np.array(rref.split((0, 3), 200), np.uint32).reshape(40, 5, 2)
    add_case("random_gamma", "jax", [gkeys, alphas], g_ref, F32, {"rtol": 2e-6, "atol": 1e-30},
             log_space=False)  # fmt: skip
    add_case("random_gamma", "rows", [gkeys[:3], alphas[:3]], g_ref[:3], F32,
             {"rtol": 2e-6, "atol": 1e-30}, log_space=False)  # fmt: skip
    add_case("random_gamma", "log_space", [gkeys, alphas], lg_ref, F32,
             {"rtol": 2e-6, "atol": 2e-6}, log_space=True)  # fmt: skip
    for name, a, x in [("moderate", [0.5, 2.0, 7.0], [0.3, 1.5, 9.0]),
                       ("small_a", [0.05, 0.2], [1e-3, 0.01]), ("large", [40.0], [38.0])]:
        ref = np.array([rref.gamma_sample_grad(ai, xi) for ai, xi in zip(a, x)])
        add_case("random_gamma_grad", name, [np.array(a, F32), np.array(x, F32)], ref, F32,
                 {"rtol": 1e-4, "atol": 0})  # fmt: skip
    for name, shape in [("square", (3, 3)), ("tall", (5, 2)), ("batch", (2, 4, 3))]:
        z = rng_for("orthogonal", name).normal(size=shape)
        ref = np.array([rref.gram_schmidt_q(m.tolist()) for m in z.reshape(-1, *shape[-2:])])
        add_case("haar_orthogonal", name, [z.astype(F32)], ref.reshape(shape), F32,
                 {"rtol": 1e-4, "atol": 1e-5})  # fmt: skip
    for name, cov in [("2x2", [[4.0, 2.0], [2.0, 3.0]]), ("diag", [[9.0, 0.0], [0.0, 0.25]]),
                      ("3x3", [[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 0.5]])]:
        add_case("mvn_factor", name, [np.array(cov, F32)], np.array(rref.cholesky(cov)), F32,
                 {"rtol": 1e-6, "atol": 1e-6}, method="cholesky")  # fmt: skip
    # Outcomes that are certain: Poisson(0), Binomial(n, 0 or 1), and invalid parameters.
    dkeys = keys[:, None, :].repeat(2, axis=1)
    zeros = np.zeros((3, 2), F32)
    add_case("random_discrete", "poisson_zero", [dkeys, zeros, zeros], np.zeros((3, 2)), F32,
             kind="poisson")  # fmt: skip
    n = np.array([[0, 5], [12, 3], [100, 1]], F32)
    p = np.array([[1, 1], [0, 1], [1, 0]], F32)
    add_case("random_discrete", "binomial_certain", [dkeys, n, p], n * p, F32, kind="binomial")
    bad_n = np.array([[-1, 2], [NAN, 3], [4, 5]], F32)
    bad_p = np.array([[0.5, 1.5], [0.5, NAN], [-0.1, 2.0]], F32)
    expected = np.full((3, 2), NAN)
    add_case("random_discrete", "binomial_invalid", [dkeys, bad_n, bad_p], expected, F32,
             kind="binomial")  # fmt: skip
    add_case("random_discrete", "binomial_invalid_last_ok", [dkeys[2:], np.array([[4, 0]], F32),
             np.array([[-0.1, 0.5]], F32)], np.array([[NAN, 0.0]]), F32, kind="binomial")
    a, b, c = (np.array([0.1, 3.0, -2.0], F32), np.array(1.0 / 3.0, F32), np.array([1e-8], F32))
    exact = f64(a) * f64(b) + f64(c)  # one rounding of the exact value
    add_case("fma", "f32_broadcast", [a, b, c], exact.astype(F32), F32)
    tenth = np.array([0.1], F32)  # 0.1f * 10 - 1 without rounding the product first
    add_case("fma", "unrounded_product", [tenth, np.array([10.0], F32), np.array([-1.0], F32)],
             (f64(tenth) * 10 - 1).astype(F32), F32)  # fmt: skip
    add_case("fma", "empty", [np.zeros(0, F32), np.zeros(0, F32), np.zeros(0, F32)],
             np.zeros(0), F32)  # fmt: skip


# Linear algebra: float32 inputs from each primitive's valid domain, float64 numpy references.
# LINALG_DOMAIN names, per operand, the sampler ``(rng, shape) -> float64 values`` of valid
# inputs (SPD for cholesky/eigh, well conditioned for solves): the gradient tests in
# test_linalg.py draw from it, and so can the fuzzer.


def spd(rng, shape):
    """Symmetric positive definite, eigenvalues in about [1, 3]: well conditioned."""
    x = rng.standard_normal(shape)
    return x @ np.swapaxes(x, -1, -2) / shape[-1] + np.eye(shape[-1])


def well_conditioned(rng, shape):
    """A normal matrix plus a dominant diagonal: far from singular, any triangle too."""
    eye = np.eye(shape[-2], shape[-1])
    return rng.standard_normal(shape) + 2.0 * math.sqrt(shape[-1]) * eye


def normal_matrix(rng, shape):
    """Standard normal: distinct singular values almost surely (svd, qr)."""
    return rng.standard_normal(shape)


LINALG_DOMAIN = {
    "cholesky": (spd,), "eigh": (spd,), "solve": (well_conditioned, normal_matrix),
    "triangular_solve": (well_conditioned, normal_matrix), "slogdet": (well_conditioned,),
    "det": (well_conditioned,), "svd": (normal_matrix,), "qr": (normal_matrix,),
    "lu": (normal_matrix,),
}  # fmt: skip
LINALG_TOL = {"rtol": 2e-4, "atol": 2e-5}


def _tri_reference(a, b, left_side, lower, transpose_a, unit_diagonal):
    t = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        t = t - np.einsum("...ii->...i", t)[..., None] * np.eye(a.shape[-1]) + np.eye(a.shape[-1])
    if transpose_a:
        t = np.swapaxes(t, -1, -2)
    if left_side:
        return np.linalg.solve(t, b)
    return np.swapaxes(np.linalg.solve(np.swapaxes(t, -1, -2), np.swapaxes(b, -1, -2)), -1, -2)


def _build_linalg():
    def draw(name, label, shape, arg=0):
        return LINALG_DOMAIN[name][arg](rng_for(name, label, arg), shape).astype(F32)

    for label, shape in [("2x2", (2, 2)), ("5x5", (5, 5)), ("batch", (3, 4, 4)),
                         ("empty_batch", (0, 3, 3))]:  # fmt: skip
        a = draw("cholesky", label, shape)
        add_case("cholesky", label, [a], np.linalg.cholesky(f64(a)), F32, LINALG_TOL)
        sym = (f64(a) + np.swapaxes(f64(a), -1, -2)) / 2
        w, v = np.linalg.eigh(sym)
        add_case("eigh", label, [a], [w, v], [F32, F32], LINALG_TOL)
        a = draw("det", label, shape)
        add_case("det", label, [a], np.linalg.det(f64(a)), F32, LINALG_TOL)
        sign, logdet = np.linalg.slogdet(f64(a))
        add_case("slogdet", label, [a], [sign, logdet], [F32, F32], LINALG_TOL)
    # cholesky and eigh read (a + a.T) / 2; cholesky of an indefinite matrix is NaN, as in JAX
    lopsided = np.array([[4.0, 3.0], [1.0, 5.0]], F32)
    add_case("cholesky", "reads_symmetric_part", [lopsided],
             np.linalg.cholesky([[4.0, 2.0], [2.0, 5.0]]), F32, LINALG_TOL)  # fmt: skip
    indefinite = np.stack([np.eye(2, dtype=F32), np.diag([1.0, -1.0]).astype(F32)])
    add_case("cholesky", "not_positive_definite", [indefinite],
             np.stack([np.eye(2), np.full((2, 2), NAN)]), F32)  # fmt: skip
    add_case("det", "singular", [np.ones((2, 2), F32)], 0.0, F32, LINALG_TOL)
    for label, (n, k), batch in [("vector_rhs", (4, 1), ()), ("matrix_rhs", (3, 5), ()),
                                 ("batch", (4, 2), (2,))]:  # fmt: skip
        a = draw("solve", label, (*batch, n, n))
        b = draw("solve", label, (*batch, n, k), 1)
        add_case("solve", label, [a, b], np.linalg.solve(f64(a), f64(b)), F32, LINALG_TOL)
        for left_side, lower, transpose_a, unit in [(True, True, False, False),
                                                    (True, False, True, False),
                                                    (False, True, True, True),
                                                    (False, False, False, False)]:  # fmt: skip
            p = dict(left_side=left_side, lower=lower, transpose_a=transpose_a,
                     unit_diagonal=unit)  # fmt: skip
            rhs = b if left_side else np.swapaxes(b, -1, -2).copy()
            ref = _tri_reference(f64(a), f64(rhs), **p)
            tag = f"{label}_{'left' if left_side else 'right'}_{'lo' if lower else 'up'}" + (
                "_t" if transpose_a else "") + ("_unit" if unit else "")  # fmt: skip
            add_case("triangular_solve", tag, [a, rhs], ref, F32, LINALG_TOL, **p)
    for label, shape in [("square", (3, 3)), ("tall", (5, 3)), ("wide", (2, 4)),
                         ("batch", (2, 4, 3))]:  # fmt: skip
        x = draw("svd", label, shape)
        s = np.linalg.svd(f64(x), compute_uv=False)
        add_case("svd", label + "_values", [x], [s], [F32], LINALG_TOL, full_matrices=False,
                 compute_uv=False)  # fmt: skip
        m, n = shape[-2:]
        for full in (False, True):
            # as in JAX, no derivative for full factors of a non-square matrix, nor qr with m < n
            u, s, vh = np.linalg.svd(f64(x), full_matrices=full)
            add_case("svd", label + ("_full" if full else "_reduced"), [x], [u, s, vh],
                     [F32] * 3, LINALG_TOL, full_matrices=full, compute_uv=True,
                     domain=REFUSED if full and m != n else None)  # fmt: skip
            q, r = np.linalg.qr(f64(x), mode="complete" if full else "reduced")
            add_case("qr", label + ("_complete" if full else "_reduced"), [x], [q, r],
                     [F32, F32], LINALG_TOL, full_matrices=full,
                     domain=REFUSED if m < n or full and m != n else None)  # fmt: skip
    for label, shape in [("3x3", (3, 3)), ("batch", (2, 4, 4)), ("1x1", (1, 1))]:
        x = draw("lu", label, shape)
        lu, piv, perm = _lu_reference(f64(x))
        add_case("lu", label, [x], [lu, piv, perm], [F32, I32, I32], LINALG_TOL)
        add_case("lu_pivots_to_permutation", label, [piv], perm, I32, size=shape[-1])
    # a zero column: the pivot is 0 and the column below it stays unscaled, as in LAPACK
    add_case("lu", "singular", [np.array([[0.0, 1.0], [0.0, 2.0]], F32)],
             [np.array([[0.0, 1.0], [0.0, 2.0]]), np.array([0, 1], I32), np.array([0, 1], I32)],
             [F32, I32, I32])  # fmt: skip
    add_case("lu_pivots_to_permutation", "fewer_pivots", [np.array([2, 2], I32)],
             np.array([2, 0, 1, 3], I32), I32, size=4)  # fmt: skip
    # eig/eigvals: complex results, in LAPACK's order (the same geev on float32 and float64
    # here); eigenvectors are unit vectors whose phase LAPACK fixes (largest component real).
    for label, shape in [("3x3", (3, 3)), ("batch", (2, 4, 4)), ("rotation", (2, 2))]:
        x = (np.array([[0.0, -1.0], [1.0, 0.0]], F32) if label == "rotation"
             else draw("svd", label, shape))  # fmt: skip
        w, v = np.linalg.eig(f64(x))
        add_case("eigvals", label, [x], w, C64, LINALG_TOL)
        add_case("eig", label, [x], [w, v], [C64, C64], LINALG_TOL)


def _lu_reference(a):
    """Doolittle LU with partial pivoting in float64 Python loops (LAPACK's getf2 order)."""
    lu = a.reshape(-1, *a.shape[-2:]).copy()
    n = a.shape[-1]
    pivots = np.zeros(lu.shape[:2], np.int32)
    perms = np.tile(np.arange(n, dtype=np.int32), (lu.shape[0], 1))
    for m, piv, perm in zip(lu, pivots, perms, strict=True):
        for k in range(n):
            p = k + int(np.argmax(np.abs(m[k:, k])))
            piv[k] = p
            m[[k, p]] = m[[p, k]]
            perm[[k, p]] = perm[[p, k]]
            m[k + 1:, k] /= m[k, k]
            m[k + 1:, k + 1:] -= np.outer(m[k + 1:, k], m[k, k + 1:])
    return (lu.reshape(a.shape), pivots.reshape(a.shape[:-1]), perms.reshape(a.shape[:-1]))


# Special functions: SciPy's float64 values at float32-exact points, recorded by
# scripts/record_fixtures/record_scipy.py. Derivatives in an order or shape operand (zeta's s,
# the incomplete functions' a and b) are refused, so those operands are held fixed.
SPECIAL_FIXTURE = Path(__file__).parent / "fixtures" / "scipy" / "scipy_x64.npz"
SPECIAL_TOL = {"rtol": 4e-6, "atol": 1e-30}
SPECIAL_GRAD = {"i0e": (uniform(0.3, 5),), "i1e": (uniform(0.3, 5),),  # kink of exp(-|x|) at 0
                "zeta": (FIXED, uniform(0.5, 4)), "igamma": (FIXED, uniform(0.3, 4)),
                "igammac": (FIXED, uniform(0.3, 4)),
                "betainc": (FIXED, FIXED, uniform(0.1, 0.9))}  # fmt: skip


def _build_special():
    with np.load(SPECIAL_FIXTURE) as rec:
        cases = sorted({k.split("|")[0] for k in rec.files if k.startswith("battery.")})
        for key in cases:
            _, prim, label = key.split(".")
            args = [rec[f"{key}|in{i}"].astype(F32) for i in range(3) if f"{key}|in{i}" in rec]
            expected = rec[f"{key}|out"]
            if label == "outer":  # operands of different shapes: the same dtype, broadcast
                add_case(prim, "outer", args, expected, F32, SPECIAL_TOL,
                         domain=SPECIAL_GRAD.get(prim))  # fmt: skip
                continue
            domain = SPECIAL_GRAD.get(prim, (AS_IS,) * len(args))
            add_case(prim, "vector", args, expected, F32, SPECIAL_TOL, domain=domain)
            add_case(prim, "matrix", [a[:6].reshape(2, 3) for a in args],
                     expected.reshape(2, 3), F32, SPECIAL_TOL, domain=domain)  # fmt: skip
            add_case(prim, "scalar", [np.asarray(a[1]) for a in args], expected[1], F32,
                     SPECIAL_TOL, domain=domain)  # fmt: skip
            add_case(prim, "empty", [np.zeros((0, 2), F32)] * len(args), np.zeros((0, 2)), F32,
                     domain=domain)  # fmt: skip
    for name, ref, domain in (("asinh", np.arcsinh, uniform(-5, 5)),
                              ("acosh", np.arccosh, uniform(1.05, 6)),
                              ("atanh", np.arctanh, uniform(-0.95, 0.95))):  # fmt: skip
        for shape_name, shape in UNARY_SHAPES:
            x = domain(rng_for(name, shape), shape).astype(F32)
            add_case(name, shape_name, [x], ref(f64(x)), F32, F32_TOL, domain=(domain,))
        add_case(name, "special", [SPECIAL], ref(f64(SPECIAL)), F32, F32_TOL)
    nan = np.array([NAN, NAN], F32)
    add_case("lgamma", "nan", [nan], nan, F32, SPECIAL_TOL)
    add_case("ndtri", "edges", [np.array([0.0, 1.0, 2.0], F32)], np.array([-INF, INF, NAN]),
             F32)  # fmt: skip


with np.errstate(all="ignore"):  # the float64 references of nan/inf cases
    _build_unary()
    _build_binary()
    _build_shifts()
    _build_select_convert()
    _build_reductions()
    _build_movement()
    _build_indexing()
    _build_sorting()
    _build_dot()
    _build_control_flow()
    _build_custom_calls()
    _build_conv()
    _build_random()
    _build_linalg()
    _build_special()


def _build_debug():
    # No outputs: the batteries check that every interpreter accepts the primitive; what the
    # callback sees is tested in test_jax_compat.py.
    from vfunc.primitives.debug import Callback

    quiet = Callback(lambda *values: None, lambda values: (tuple(values), {}))
    x = np.linspace(-1, 1, 6, dtype=F32).reshape(2, 3)
    add_case("debug_callback", "matrix", [x], [], [], callback=quiet)
    add_case("debug_callback", "two_operands", [x, np.arange(3, dtype=I32)], [], [],
             callback=quiet)  # fmt: skip
    add_case("debug_callback", "no_operands", [], [], [], callback=quiet)


_build_debug()


def _build_complex():
    rng = rng_for("complex parts")
    z = (rng.uniform(-2, 2, (2, 3)) + 1j * rng.uniform(-2, 2, (2, 3))).astype(C64)
    # (no infinities: vmap's battery scales operands, and inf * 0 in a complex product warns)
    special = np.array([complex(NAN, 1), complex(1, NAN), -0.0j, complex(-0.0, 2)], C64)
    for name, ref in (("real", np.real), ("imag", np.imag), ("conj", np.conjugate)):
        out = F32 if name != "conj" else C64
        add_case(name, "complex64", [z], ref(f64(z)), out, domain=(AS_IS,))
        add_case(name, "special", [special], ref(f64(special)), out)
        add_case(name, "empty", [np.zeros((0, 2), C64)], ref(np.zeros((0, 2), C128)), out)
    # the FFT over trailing axes; numpy's transforms in complex128 are the reference
    x = rng.standard_normal((2, 3, 4)).astype(F32)
    c = (x + 1j * rng.standard_normal((2, 3, 4))).astype(C64)
    tol = {"rtol": 1e-5, "atol": 1e-5}
    for k in (1, 2, 3):
        axes, lengths = tuple(range(3 - k, 3)), x.shape[3 - k :]
        add_case("fft", f"fft_{k}d", [c], np.fft.fftn(f64(c), axes=axes), C64, tol,
                 domain=(AS_IS,), fft_type="fft", fft_lengths=lengths)  # fmt: skip
        add_case("fft", f"ifft_{k}d", [c], np.fft.ifftn(f64(c), axes=axes), C64, tol,
                 domain=(AS_IS,), fft_type="ifft", fft_lengths=lengths)  # fmt: skip
        add_case("fft", f"rfft_{k}d", [x], np.fft.rfftn(f64(x), axes=axes), C64, tol,
                 fft_type="rfft", fft_lengths=lengths)  # fmt: skip
    for n in (4, 5):  # even and odd real lengths: the Nyquist term differs
        half = c[..., : n // 2 + 1]
        add_case("fft", f"irfft_{n}", [half], np.fft.irfft(f64(half), n=n), F32, tol,
                 domain=(AS_IS,), fft_type="irfft", fft_lengths=(n,))  # fmt: skip
    add_case("fft", "irfft_2d", [c[0]], np.fft.irfftn(f64(c[0]), s=(3, 6), axes=(0, 1)), F32, tol,
             domain=(AS_IS,), fft_type="irfft", fft_lengths=(3, 6))  # fmt: skip
    add_case("fft", "rfft_empty_batch", [np.zeros((0, 4), F32)], np.zeros((0, 3), C128), C64,
             fft_type="rfft", fft_lengths=(4,))  # fmt: skip


_build_complex()


# Gradient checks do not apply to: staged float32 bodies (control flow: the fuzzer and
# test_control_flow differentiate them), dtype conversion (its float32 rounding defeats finite
# differences; test_ad checks it).
NO_GRAD_CHECK = {"cond", "while", "scan", "convert_element_type"}
# random_gamma's derivative in a is the implicit one, -(dF/da) / (dF/dx) at the sample, not the
# derivative of its rejection sampler's path at fixed keys (which jumps where a proposal is
# accepted or rejected, and differs for a < 1): finite differences of bind are the wrong
# reference. test_gamma_gradient_is_the_quantile_derivative checks it against the CDF inverse.
NO_GRAD_CHECK |= {"random_gamma"}
# eig and eigvals have complex outputs of real inputs and first derivatives only (eigenvalues;
# eigenvectors refuse, as JAX): test_linalg_complex.py checks them against JAX fixtures and
# finite differences.
NO_GRAD_CHECK |= {"eig", "eigvals"}


def _assign_grad_domains() -> None:
    """Give every case of a differentiable primitive without an explicit domain one: finite
    float32 arguments are differentiated at their own values (``AS_IS``), or redrawn from a
    normal distribution when they hold only small integers (the ``ties`` domain and aranges:
    kinks of max-like ops sit exactly there); other arguments are ``FIXED``."""
    for case in (c for cases in EXAMPLES.values() for c in cases):
        prim = registry[case.prim]
        if case.domain is not None or not prim.differentiable or case.prim in NO_GRAD_CHECK:
            continue
        floats = [isinstance(a, np.ndarray) and a.dtype == F32 for a in case.args]
        if not any(floats) or any(
            isinstance(a, np.ndarray) and a.dtype.kind in "fc" and a.dtype != F32
            or isinstance(a, float) for a in case.args
        ) or not all(np.isfinite(a).all() for a, f in zip(case.args, floats) if f):
            continue
        case.domain = tuple(
            FIXED if not f else normal if np.array_equal(a, np.round(a)) else AS_IS
            for a, f in zip(case.args, floats, strict=True)
        )
    for case in (c for cases in EXAMPLES.values() for c in cases):
        # IEEE special values (in or out: max over nothing is -inf) are forward-only examples
        expected = case.expected if isinstance(case.expected, list) else [case.expected]
        if case.domain is not None and any(
            np.asarray(a).dtype.kind == "f" and not np.isfinite(a).all()
            for a in [*case.args, *expected]
        ):
            case.domain = None


_assign_grad_domains()
ALL_CASES = [case for cases in EXAMPLES.values() for case in cases]
GRAD_CASES = [case for case in ALL_CASES if case.domain not in (None, REFUSED)
              and registry[case.prim].differentiable]  # fmt: skip
REFUSED_CASES = [case for case in ALL_CASES if case.domain == REFUSED]


def to_vfunc(value: Any) -> Any:
    """numpy arrays become strongly typed vfunc Arrays; Python scalars stay weak."""
    if isinstance(value, (bool, int, float, complex)):
        return value
    return lax.as_array(value)


def assert_close(out, expected, dtype, rtol=0.0, atol=0.0) -> None:
    """``out`` has exactly ``dtype`` and the shape of ``expected``, and its values match."""
    got = np.asarray(out)
    expected = np.asarray(expected)
    assert got.dtype == np.dtype(dtype), f"dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert got.shape == expected.shape, f"shape {got.shape}, expected {expected.shape}"
    if got.dtype.kind in "fc":
        wide = np.complex128 if got.dtype.kind == "c" else np.float64
        np.testing.assert_allclose(
            got.astype(wide), expected.astype(wide), rtol=rtol, atol=atol, equal_nan=True
        )
    else:
        np.testing.assert_array_equal(got, expected, strict=False)


def run_case(case: Case) -> Any:
    return registry[case.prim].bind(*[to_vfunc(a) for a in case.args], **case.params)


def as_list(out: Any) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]




def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place between same-dtype float arrays (monotone bits)."""
    ints = {8: np.int64, 4: np.int32, 2: np.int16}[a.dtype.itemsize]

    def ordered(x):
        i = x.view(ints).astype(np.int64)
        return np.where(i < 0, np.iinfo(ints).min - i, i)

    return np.abs(ordered(a) - ordered(b))
