"""``vfunc.numpy`` against NumPy: every public function, the ``Array`` operators and methods.

Values are compared with NumPy (on the same float32/int32 data, or a float64 reference with a
tolerance); dtypes and weak types are asserted exactly, as JAX defines them (float32/int32
defaults with x64 off, Python scalars weakly typed). ``test_every_public_function_is_tested``
keeps the surface covered: each public function of ``vfunc.numpy`` must be called by a test.
"""

from __future__ import annotations

import inspect
import operator
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vfunc
import vfunc.numpy as vnp
from vfunc.errors import ShapeError

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
I8, I32, U8, U32 = np.dtype(np.int8), np.dtype(np.int32), np.dtype(np.uint8), np.dtype(np.uint32)
C64, BOOL = np.dtype(np.complex64), np.dtype(np.bool_)
F32_TOL = {"rtol": 2e-6, "atol": 1e-6}
SUM_TOL = {"rtol": 1e-5, "atol": 1e-5}
SETTINGS = settings(max_examples=50, deadline=None)


# 32-bit defaults whatever the environment says; a test asking for ``x64`` overrides it.
pytestmark = pytest.mark.usefixtures("x64_off")


def check(out, expected, dtype, *, weak=False, tol=None):
    """``out`` is a vfunc Array of exactly ``dtype``/``weak`` whose values equal ``expected``."""
    assert isinstance(out, vfunc.Array), type(out)
    assert out.dtype == np.dtype(dtype), (out.dtype, np.dtype(dtype))
    assert out.weak_type is weak, out.weak_type
    expected = np.asarray(expected)
    assert out.shape == expected.shape, (out.shape, expected.shape)
    if tol is None:
        np.testing.assert_array_equal(np.asarray(out), expected)
    else:
        np.testing.assert_allclose(np.asarray(out), expected, **tol)


def ref(fn, *args, **kwargs):
    """A NumPy reference value, computed without FP warnings (they are errors under pytest)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        return fn(*args, **kwargs)


# ----------------------------------------------------------------------------------------------
# Creation: array / asarray

ALL_DTYPES = [
    (np.bool_, BOOL), (np.int8, I8), (np.int16, np.int16), (np.int32, I32), (np.int64, I32),
    (np.uint8, U8), (np.uint16, np.uint16), (np.uint32, U32), (np.uint64, U32),
    (np.float16, F16), (np.float32, F32), (np.float64, F32), (np.complex64, C64),
    (np.complex128, C64),
]  # fmt: skip


@pytest.mark.parametrize(("source", "stored"), ALL_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fn", [vnp.array, vnp.asarray], ids=["array", "asarray"])
def test_array_from_numpy_of_every_dtype(fn, source, stored):
    data = np.array([[0, 1, 2], [3, 4, 5]]).astype(source)
    out = fn(data)
    check(out, data.astype(stored), stored)


@pytest.mark.parametrize(
    ("value", "expected", "dtype"),
    [
        ([1, 2, 3], [1, 2, 3], I32),
        ([[1, 2], [3, 4]], [[1, 2], [3, 4]], I32),
        ([[1.5], [2.0]], [[1.5], [2.0]], F32),
        ([1, 2.5, True], [1.0, 2.5, 1.0], F32),
        ([True, False], [True, False], BOOL),
        ([1 + 1j, 2], [1 + 1j, 2], C64),
        ((1, 2), [1, 2], I32),
        ([(1, 2), [3, 4]], [[1, 2], [3, 4]], I32),
        ([], np.zeros(0), F32),
        ([[], []], np.zeros((2, 0)), F32),
    ],
)
def test_array_from_lists_is_strongly_typed(value, expected, dtype):
    check(vnp.array(value), expected, dtype)


@pytest.mark.parametrize(
    ("value", "dtype", "weak"),
    [(2.0, F32, True), (3, I32, True), (1j, C64, True), (True, BOOL, False),
     (-0.0, F32, True)],
)  # fmt: skip
def test_array_from_python_scalar_is_weak(value, dtype, weak):
    out = vnp.array(value)
    check(out, value, dtype, weak=weak)
    assert vnp.asarray(value).weak_type is weak


def test_array_weak_type_exactly():
    assert vnp.array(2.0).weak_type is True
    assert vnp.array(2.0, dtype=vnp.float32).weak_type is False
    assert vnp.array([2.0]).weak_type is False


def test_array_with_dtype_and_ndmin():
    check(vnp.array([1, 2], dtype=float), [1.0, 2.0], F32)
    check(vnp.array([1.7, -1.7], dtype=vnp.int32), [1, -1], I32)
    check(vnp.array(np.arange(3), dtype=vnp.uint8), [0, 1, 2], U8)
    check(vnp.array([1, 2], ndmin=3), [[[1, 2]]], I32)
    check(vnp.asarray([1, 0], dtype=bool), [True, False], BOOL)


def test_array_of_arrays():
    x = vnp.array([1.0, 2.0])
    assert vnp.asarray(x) is x  # no copy: Arrays are immutable
    assert vnp.array(vnp.array(2.0)).weak_type is True
    check(vnp.array(vnp.array(2.5), dtype=vnp.int32), 2, I32)
    check(vnp.array([vnp.array(1.0), vnp.array(2.0)]), [1.0, 2.0], F32)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.bool_, np.complex64])
@pytest.mark.parametrize("fn", [vnp.array, vnp.asarray], ids=["array", "asarray"])
def test_numpy_input_mutated_later_does_not_change_the_array(fn, dtype):
    source = np.array([1, 0, 1]).astype(dtype)
    x = fn(source)
    before = x.tolist()
    source[0] = 0
    source[1] = 1
    assert x.tolist() == before


def test_array_is_immutable_and_exported_read_only():
    x = vnp.array(np.arange(3.0))
    with pytest.raises(TypeError, match="immutable"):
        x[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(x)[0] = 1.0


# ----------------------------------------------------------------------------------------------
# Creation: filled arrays


@pytest.mark.parametrize("fn, value", [(vnp.zeros, 0), (vnp.ones, 1), (vnp.empty, 0)])
@pytest.mark.parametrize(
    ("shape", "want"), [(3, (3,)), ((2, 3), (2, 3)), ((), ()), ((2, 0), (2, 0)),
                        (np.int64(2), (2,)), ([1, 2], (1, 2))],
)  # fmt: skip
def test_zeros_ones_empty_shapes(fn, value, shape, want):
    check(fn(shape), np.full(want, value), F32)


@pytest.mark.parametrize("fn, value", [(vnp.zeros, 0), (vnp.ones, 1), (vnp.empty, 0)])
@pytest.mark.parametrize(
    ("dtype", "stored"),
    [(vnp.int8, I8), (int, I32), (float, F32), (np.float64, F32), (bool, BOOL),
     ("complex64", C64), (vnp.uint8, U8)],
)  # fmt: skip
def test_zeros_ones_empty_dtypes(fn, value, dtype, stored):
    check(fn((2, 2), dtype=dtype), np.full((2, 2), value).astype(stored), stored)


def test_filled_arrays_reject_bad_shapes():
    with pytest.raises(ValueError, match="negative"):
        vnp.zeros(-1)
    with pytest.raises(TypeError):
        vnp.ones((2, 3), dtype=object)


def test_full():
    check(vnp.full((2,), 3), [3, 3], I32)
    check(vnp.full(2, 3.5), [3.5, 3.5], F32)
    check(vnp.full((2,), True), [True, True], BOOL)
    check(vnp.full(2, 7, dtype=vnp.float16), [7, 7], F16)
    check(vnp.full((2, 3), [1, 2, 3]), [[1, 2, 3], [1, 2, 3]], I32)
    check(vnp.full((2, 2), np.float64(0.5)), np.full((2, 2), 0.5), F32)
    with pytest.raises(ValueError):
        vnp.full((3,), np.ones((2, 3)))


def test_like_functions_keep_weak_type_without_dtype():
    weak = vnp.array(2.0)
    check(vnp.zeros_like(weak), 0.0, F32, weak=True)
    check(vnp.ones_like(weak), 1.0, F32, weak=True)
    check(vnp.full_like(weak, 3), 3.0, F32, weak=True)
    check(vnp.empty_like(weak), 0.0, F32, weak=True)
    check(vnp.ones_like(vnp.array(3)), 1, I32, weak=True)
    # An explicit dtype makes the result strong.
    check(vnp.ones_like(weak, dtype=vnp.int8), 1, I8)
    check(vnp.full_like(weak, 3, dtype=vnp.float32), 3.0, F32)


def test_like_functions_on_strong_inputs():
    x = vnp.array(np.arange(6, dtype=np.int8).reshape(2, 3))
    check(vnp.zeros_like(x), np.zeros((2, 3)), I8)
    check(vnp.ones_like(x), np.ones((2, 3)), I8)
    check(vnp.empty_like(x), np.zeros((2, 3)), I8)
    check(vnp.full_like(x, 7), np.full((2, 3), 7), I8)
    check(vnp.full_like(x, 7.9), np.full((2, 3), 7), I8)  # converted to x's dtype, as NumPy
    check(vnp.zeros_like(x, dtype=float), np.zeros((2, 3)), F32)
    check(vnp.full_like(np.ones((2, 3)), 7, shape=(3,)), [7.0, 7.0, 7.0], F32)
    check(vnp.zeros_like([1, 2]), [0, 0], I32)
    check(vnp.ones_like(np.ones(2, np.float64)), [1.0, 1.0], F32)


# ----------------------------------------------------------------------------------------------
# Creation: ranges


@pytest.mark.parametrize(
    ("args", "dtype"),
    [
        ((5,), I32), ((0,), I32), ((-3,), I32), ((2, 7), I32), ((5, 0, -2), I32),
        ((5, 0), I32), ((0, 10, 3), I32), ((np.int64(3),), I32), ((2.5,), F32),
        ((0.0, 2.0, 0.5), F32), ((1.0, -1.0, -0.5), F32), ((1, 2.5), F32), ((0, 1, 0.1), F32),
        ((-1, 1, 0.25), F32), ((3, 3), I32),
    ],
)  # fmt: skip
def test_arange(args, dtype):
    check(vnp.arange(*args), np.arange(*args).astype(dtype), dtype)


def test_arange_dtype():
    check(vnp.arange(3, dtype=vnp.float32), [0.0, 1.0, 2.0], F32)
    check(vnp.arange(0.0, 3.0, dtype=int), [0, 1, 2], I32)
    check(vnp.arange(4, dtype=vnp.uint8), [0, 1, 2, 3], U8)
    assert vnp.arange(3).weak_type is False


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((0, 1, 5), {}), ((0, 1, 4), {"endpoint": False}), ((2, 3, 1), {}),
        ((2, 3, 0), {}), ((-1.5, 7), {}), ((0, 10, 5), {"dtype": int}),
        (([0, 1], [2, 3], 3), {"axis": 1}), (([0, 1], [2, 3], 3), {"axis": -1}),
        (([0, 1], [2, 5], 4), {}), ((1, 0, 3), {}), ((2, 3, 1), {"endpoint": False}),
    ],
)  # fmt: skip
def test_linspace(args, kwargs):
    want = np.linspace(*args, **kwargs)
    dtype = I32 if kwargs.get("dtype") is int else F32
    check(vnp.linspace(*args, **kwargs), want.astype(dtype), dtype)


@pytest.mark.parametrize(("num", "endpoint"), [(5, True), (4, False), (1, True), (1, False)])
def test_linspace_retstep(num, endpoint):
    values, step = vnp.linspace(2.0, 3.0, num, endpoint=endpoint, retstep=True)
    want, want_step = np.linspace(2.0, 3.0, num, endpoint=endpoint, retstep=True)
    check(values, want.astype(F32), F32)
    check(step, np.float32(want_step), F32)


def test_linspace_rejects_negative_num():
    with pytest.raises(ValueError, match="num"):
        vnp.linspace(0, 1, -1)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((3,), {}), ((2, 3), {}), ((2, 3), {"k": 1}), ((3,), {"k": -1}), ((3, 2), {"k": -2}),
     ((3, 4), {"k": 5}), ((0,), {}), ((3,), {"M": 1})],
)  # fmt: skip
def test_eye(args, kwargs):
    check(vnp.eye(*args, **kwargs), np.eye(*args, **kwargs), F32)


def test_eye_dtype():
    check(vnp.eye(2, dtype=int), [[1, 0], [0, 1]], I32)
    check(vnp.eye(2, dtype=bool), [[True, False], [False, True]], BOOL)


# ----------------------------------------------------------------------------------------------
# Elementwise: unary

ANY = np.array([-3.5, -1.0, -0.25, 0.0, 0.5, 2.0, 3.75], np.float32)
POS = np.array([0.1, 0.5, 1.0, 2.5, 7.0], np.float32)
UNIT = np.array([-0.9, -0.5, 0.0, 0.3, 0.99], np.float32)
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -1.5, 2.0], np.float32)

UNARY_FLOAT = [
    ("exp", np.exp, ANY), ("log", np.log, POS), ("log1p", np.log1p, POS),
    ("expm1", np.expm1, ANY), ("sin", np.sin, ANY), ("cos", np.cos, ANY),
    ("tan", np.tan, UNIT), ("tanh", np.tanh, ANY), ("sinh", np.sinh, ANY),
    ("cosh", np.cosh, ANY), ("arcsin", np.arcsin, UNIT), ("arccos", np.arccos, UNIT),
    ("arctan", np.arctan, ANY), ("sqrt", np.sqrt, POS), ("floor", np.floor, ANY),
    ("ceil", np.ceil, ANY), ("negative", np.negative, ANY), ("absolute", np.absolute, ANY),
    ("abs", np.abs, ANY), ("sign", np.sign, ANY), ("square", np.square, ANY),
    ("reciprocal", np.reciprocal, POS), ("deg2rad", np.deg2rad, ANY),
    ("rad2deg", np.rad2deg, ANY), ("radians", np.radians, ANY), ("degrees", np.degrees, ANY),
    ("positive", np.positive, ANY), ("round", np.round, ANY * 1.5), ("around", np.round, ANY),
    ("nan_to_num", np.nan_to_num, SPECIAL),
]  # fmt: skip


@pytest.mark.parametrize(("name", "np_fn", "x"), UNARY_FLOAT, ids=[r[0] for r in UNARY_FLOAT])
def test_unary_float32(name, np_fn, x):
    out = getattr(vnp, name)(x)
    check(out, ref(np_fn, x), F32, tol=F32_TOL)


PREDICATES = ["isnan", "isinf", "isfinite", "isposinf", "isneginf", "logical_not"]


@pytest.mark.parametrize("name", PREDICATES)
def test_unary_predicates(name):
    check(getattr(vnp, name)(SPECIAL), getattr(np, name)(SPECIAL), BOOL)


INEXACT = ["exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sinh", "cosh",
           "arcsin", "arccos", "arctan", "sqrt", "deg2rad", "rad2deg"]  # fmt: skip


@pytest.mark.parametrize("name", INEXACT)
@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.uint8, np.bool_])
def test_inexact_unary_promotes_integers_to_float32(name, dtype):
    x = np.array([0, 1, 1, 0]).astype(dtype)
    want = ref(getattr(np, name), x.astype(np.float32))
    check(getattr(vnp, name)(x), want, F32, tol=F32_TOL)


def test_sin_of_int_array_is_float32():
    check(vnp.sin(vnp.arange(3)), np.sin(np.arange(3, dtype=np.float32)), F32, tol=F32_TOL)
    check(vnp.sin(1), np.sin(np.float32(1)), F32, weak=True, tol=F32_TOL)
    check(vnp.sin(np.array([0.5], np.float16)), np.sin(np.array([0.5], np.float16)), F16)


@pytest.mark.parametrize("name", ["floor", "ceil"])
def test_floor_ceil_of_integers_keep_the_integer_dtype(name):
    # NumPy 2 and JAX (jnp.floor/ceil return integer input unchanged) agree on this.
    x = np.array([-2, 0, 3], np.int32)
    check(getattr(vnp, name)(x), x, I32)


def test_floor_ceil_round_of_ints_and_bools_return_the_input():
    for fn in (vnp.floor, vnp.ceil, vnp.round):
        b = np.array([True, False])
        check(fn(b), np.floor(b), BOOL)
        check(fn(np.array([200, 3], np.uint8)), [200, 3], U8)
        check(fn(7), 7, I32, weak=True)
    # Large integers are not rounded through float32.
    big = np.array([2**31 - 1, -(2**31)], np.int32)
    check(vnp.floor(big), big, I32)


@pytest.mark.parametrize("name", ["negative", "absolute", "sign", "square", "positive"])
def test_integer_unary_stays_integer(name):
    x = np.array([-3, 0, 2], np.int32)
    check(getattr(vnp, name)(x), getattr(np, name)(x), I32)


def test_abs_of_complex_is_real():
    check(vnp.abs(np.array([3 + 4j, -1j], np.complex64)), [5.0, 1.0], F32)


def test_round_half_to_even_with_decimals():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5], np.float32)
    check(vnp.round(x), np.round(x), F32)
    y = np.array([0.25, 0.35, 1.25, -0.125, 2.675, 12.5], np.float32)
    for decimals in (1, 2, 0, -1):
        check(vnp.round(y, decimals), np.round(y, decimals), F32)
        check(vnp.around(y, decimals), np.round(y, decimals), F32)
    check(vnp.round(np.array([1.25, 2.5], np.float16), 1), np.array([1.2, 2.5], np.float16), F16)


def test_round_integers():
    x = np.array([15, 25, 150, -25, -35], np.int32)
    check(vnp.round(x), x, I32)
    check(vnp.round(x, 2), x, I32)
    check(vnp.round(x, -1), np.round(x, -1), I32)  # 15 -> 20, 25 -> 20: half to even
    check(vnp.round(25, -1), 20, I32, weak=True)


def test_isfinite_isnan_isinf_on_integers():
    x = np.array([-(2**31), 0, 2**31 - 1], np.int32)
    check(vnp.isfinite(x), [True, True, True], BOOL)
    check(vnp.isnan(x), [False, False, False], BOOL)
    check(vnp.isinf(x), [False, False, False], BOOL)
    check(vnp.isposinf(x), [False, False, False], BOOL)
    check(vnp.isneginf(np.array([True])), [False], BOOL)
    check(vnp.isfinite(np.array([True, False])), [True, True], BOOL)


def test_invert_and_bitwise_not():
    check(vnp.invert(np.array([True, False])), [False, True], BOOL)
    check(vnp.invert(np.array([0, 1, -3], np.int32)), [-1, -2, 2], I32)
    check(vnp.bitwise_not(np.array([0, 1, 255], np.uint8)), [255, 254, 0], U8)
    with pytest.raises(TypeError):
        vnp.invert(np.array([1.0]))


def test_nan_to_num_options():
    x = np.array([np.nan, np.inf, -np.inf, 1.0], np.float32)
    check(vnp.nan_to_num(x, nan=-1.0, posinf=9.0, neginf=-9.0), [-1.0, 9.0, -9.0, 1.0], F32)
    check(vnp.nan_to_num(np.array([1, 2])), [1, 2], I32)


# ----------------------------------------------------------------------------------------------
# Elementwise: binary

X_COL = np.array([[0.5], [1.5], [-2.0]], np.float32)  # (3, 1)
Y_ROW = np.array([[1.0, -0.5, 3.0, 2.0]], np.float32)  # (1, 4)
I_COL = np.array([[7], [-7], [0]], np.int32)
J_ROW = np.array([[2, -3, 5, 1]], np.int32)

BINARY_FLOAT = [
    ("add", np.add, None), ("subtract", np.subtract, None), ("multiply", np.multiply, None),
    ("divide", np.divide, None), ("true_divide", np.true_divide, None),
    ("power", np.power, F32_TOL), ("maximum", np.maximum, None),
    ("minimum", np.minimum, None), ("arctan2", np.arctan2, F32_TOL),
    ("hypot", np.hypot, F32_TOL), ("logaddexp", np.logaddexp, F32_TOL),
    ("floor_divide", np.floor_divide, None), ("remainder", np.remainder, None),
    ("mod", np.mod, None),
]  # fmt: skip
COMPARISONS = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]
LOGICAL = ["logical_and", "logical_or", "logical_xor"]


@pytest.mark.parametrize(("name", "np_fn", "tol"), BINARY_FLOAT, ids=[r[0] for r in BINARY_FLOAT])
def test_binary_float32_broadcasting(name, np_fn, tol):
    fn = getattr(vnp, name)
    check(fn(X_COL, Y_ROW), ref(np_fn, X_COL, Y_ROW), F32, tol=tol)
    check(fn(Y_ROW, X_COL), ref(np_fn, Y_ROW, X_COL), F32, tol=tol)
    x = vnp.array(X_COL)
    check(fn(x, vnp.array(Y_ROW[0])), ref(np_fn, X_COL, Y_ROW[0]), F32, tol=tol)


@pytest.mark.parametrize(("name", "np_fn", "tol"), BINARY_FLOAT, ids=[r[0] for r in BINARY_FLOAT])
@pytest.mark.parametrize("scalar", [2, 2.5, -3])
def test_binary_python_scalar_on_either_side(name, np_fn, tol, scalar):
    fn = getattr(vnp, name)
    s = np.float32(scalar)
    check(fn(Y_ROW, scalar), ref(np_fn, Y_ROW, s), F32, tol=tol)
    check(fn(scalar, Y_ROW), ref(np_fn, s, Y_ROW), F32, tol=tol)


@pytest.mark.parametrize(
    "name", ["add", "subtract", "multiply", "maximum", "minimum", "floor_divide", "remainder",
             "mod", "power", "bitwise_and", "bitwise_or", "bitwise_xor"],
)  # fmt: skip
def test_binary_int32_broadcasting(name):
    fn, np_fn = getattr(vnp, name), getattr(np, name)
    y = np.abs(J_ROW) if name == "power" else J_ROW
    x = I_COL if name != "power" else np.array([[2], [-3], [0]], np.int32)
    check(fn(x, y), ref(np_fn, x, y), I32)
    check(fn(x, 2), ref(np_fn, x, np.int32(2)), I32)


@pytest.mark.parametrize("name", COMPARISONS)
def test_comparisons(name):
    fn, np_fn = getattr(vnp, name), getattr(np, name)
    check(fn(X_COL, Y_ROW), np_fn(X_COL, Y_ROW), BOOL)
    check(fn(I_COL, J_ROW), np_fn(I_COL, J_ROW), BOOL)
    check(fn(X_COL, 0.5), np_fn(X_COL, np.float32(0.5)), BOOL)
    check(fn(2, Y_ROW), np_fn(np.float32(2), Y_ROW), BOOL)
    check(fn(I_COL, 0.5), np_fn(I_COL, 0.5), BOOL)  # int vs float compares as float
    nan = np.array([np.nan, 1.0], np.float32)
    check(fn(nan, nan), np_fn(nan, nan), BOOL)


@pytest.mark.parametrize("name", LOGICAL)
def test_logical_on_numbers(name):
    fn, np_fn = getattr(vnp, name), getattr(np, name)
    x = np.array([[0], [1], [-2]], np.int32)
    y = np.array([[0.0, 0.5, np.nan, -1.0]], np.float32)
    check(fn(x, y), np_fn(x, y), BOOL)
    check(fn(x, 0), np_fn(x, 0), BOOL)
    check(fn(3.0, y), np_fn(3.0, y), BOOL)
    b = np.array([True, False, True])
    check(fn(b, b[::-1]), np_fn(b, b[::-1]), BOOL)


def test_bool_add_and_multiply_are_logical_or_and():
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    check(vnp.add(a, b), np.add(a, b), BOOL)
    check(vnp.multiply(a, b), np.multiply(a, b), BOOL)
    check(vnp.array(a) + b, a + b, BOOL)
    check(vnp.array(a) * b, a * b, BOOL)
    check(vnp.square(a), np.square(a), BOOL)
    check(vnp.maximum(a, b), np.maximum(a, b), BOOL)
    check(vnp.bitwise_xor(a, b), a ^ b, BOOL)


def test_bool_arithmetic_with_numbers_promotes():
    a = np.array([True, False])
    check(vnp.add(a, np.array([1, 1], np.int8)), [2, 1], I8)
    check(vnp.multiply(a, 2.5), [2.5, 0.0], F32, weak=True)
    check(vnp.add(a, 1), [2, 1], I32, weak=True)
    check(vnp.floor_divide(a, np.array([True, True])), [1, 0], I32)
    check(vnp.remainder(a, np.array([True, True])), [0, 0], I32)


INT_NUM = np.array([7, -7, 7, -7, 6, -6, 0, 1, -1], np.int32)
INT_DEN = np.array([2, 2, -2, -2, 3, -3, 5, -5, 5], np.int32)


def test_floor_divide_and_remainder_integers_follow_numpy_signs():
    check(vnp.floor_divide(INT_NUM, INT_DEN), np.floor_divide(INT_NUM, INT_DEN), I32)
    check(vnp.remainder(INT_NUM, INT_DEN), np.remainder(INT_NUM, INT_DEN), I32)
    check(vnp.mod(INT_NUM, INT_DEN), np.mod(INT_NUM, INT_DEN), I32)
    # The identity x == (x // y) * y + x % y.
    q, r = vnp.floor_divide(INT_NUM, INT_DEN), vnp.remainder(INT_NUM, INT_DEN)
    np.testing.assert_array_equal(np.asarray(q * INT_DEN + r), INT_NUM)
    u, v = np.array([7, 200], np.uint8), np.array([3, 7], np.uint8)
    check(vnp.floor_divide(u, v), u // v, U8)
    check(vnp.remainder(u, v), u % v, U8)
    small = np.array([-128, 127, -7], np.int8)
    check(vnp.floor_divide(small, np.int8(-3)), small // np.int8(-3), I8)
    check(vnp.remainder(small, np.int8(-3)), small % np.int8(-3), I8)


FLOAT_NUM = np.array([7.5, -7.5, 7.5, -7.5, 6.0, -6.0, 0.0, 1.0, -1.0, 0.5], np.float32)
FLOAT_DEN = np.array([2.0, 2.0, -2.0, -2.0, 3.0, -3.0, 5.0, -5.0, 5.0, 0.25], np.float32)


def test_floor_divide_and_remainder_floats_follow_numpy_signs():
    check(vnp.floor_divide(FLOAT_NUM, FLOAT_DEN), np.floor_divide(FLOAT_NUM, FLOAT_DEN), F32)
    check(vnp.remainder(FLOAT_NUM, FLOAT_DEN), np.remainder(FLOAT_NUM, FLOAT_DEN), F32)
    check(vnp.mod(FLOAT_NUM, 2), np.mod(FLOAT_NUM, np.float32(2)), F32)
    check(vnp.floor_divide(-7.5, FLOAT_DEN), np.floor_divide(np.float32(-7.5), FLOAT_DEN), F32)


def test_float_floor_divide_matches_numpy_when_quotient_rounds_up():
    # 1 / 0.1f rounds to 10.0f, yet the true quotient is below 10: NumPy (and Python) give 9.
    x, y = np.float32(1.0), np.float32(0.1)
    check(vnp.floor_divide(x, y), np.floor_divide(x, y), F32)
    quotient, rest = divmod(vnp.array([1.0]), 0.1)
    np.testing.assert_array_equal(np.asarray(quotient), [np.float32(9.0)])
    np.testing.assert_allclose(np.asarray(quotient * np.float32(0.1) + rest), [1.0], rtol=1e-6)


SPECIAL_F32 = np.array([0.0, -0.0, 1.0, -1.0, 0.1, -0.1, 3.0, 7.5, -7.5, 1e-40, 1e30, -1e30,
                        np.inf, -np.inf, np.nan], np.float32)  # fmt: skip


def _same_bits(out, want):
    # Equal values with equal signs of zero (assert_array_equal calls 0.0 == -0.0); a NaN's
    # sign bit means nothing.
    out = np.asarray(out)
    assert out.dtype == want.dtype
    np.testing.assert_array_equal(out, want)
    numbers = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(out[numbers]), np.signbit(want[numbers]))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_float_floor_divide_and_remainder_match_numpy_bit_for_bit(dtype):
    with np.errstate(all="ignore"):
        x, y = (v.ravel().astype(dtype) for v in np.meshgrid(SPECIAL_F32, SPECIAL_F32))
    _same_bits(vnp.floor_divide(x, y), ref(np.floor_divide, x, y))
    _same_bits(vnp.remainder(x, y), ref(np.remainder, x, y))
    q, r = divmod(vnp.array(x), vnp.array(y))
    _same_bits(q, ref(np.floor_divide, x, y))
    _same_bits(r, ref(np.remainder, x, y))


@SETTINGS
@given(
    xy=hnp.arrays(np.float32, (2, 20), elements=st.floats(width=32, allow_subnormal=True)),
)
def test_property_float_floor_divide_and_remainder_are_exact(xy):
    x, y = xy
    _same_bits(vnp.floor_divide(x, y), ref(np.floor_divide, x, y))
    _same_bits(vnp.remainder(x, y), ref(np.remainder, x, y))


def test_floor_divide_and_remainder_gradients():
    # x // y is piecewise constant; x % y = x - y * trunc-or-floor(x / y), as in JAX.
    x = vnp.array([7.0, -7.0, 4.0, -4.0])
    y = vnp.array([2.0, 2.0, -2.0, 2.0])
    check(vfunc.grad(lambda a: vnp.floor_divide(a, y).sum())(x), [0.0] * 4, F32)
    check(vfunc.grad(lambda a: vnp.remainder(a, y).sum())(x), [1.0] * 4, F32)
    check(vfunc.grad(lambda b: vnp.remainder(x, b).sum())(y), [-3.0, 4.0, 2.0, 2.0], F32)
    check(vfunc.grad(lambda a: vnp.remainder(a, np.float16(2.0)))(np.float16(3.0)), 1.0, F16)


def test_remainder_by_infinity_follows_numpy():
    x = np.array([1.0, -1.0, 0.0], np.float32)
    inf = np.float32(np.inf)
    check(vnp.remainder(x, inf), ref(np.remainder, x, inf), F32)
    check(vnp.remainder(x, -inf), ref(np.remainder, x, -inf), F32)


def test_floor_divide_and_remainder_by_zero_follow_numpy():
    x = np.array([1.0, -1.0, 0.0], np.float32)
    check(vnp.floor_divide(x, np.float32(0)), ref(np.floor_divide, x, np.float32(0)), F32)
    check(vnp.remainder(x, np.float32(0)), ref(np.remainder, x, np.float32(0)), F32)
    i = np.array([3, -3], np.int32)
    check(vnp.floor_divide(i, np.int32(0)), ref(np.floor_divide, i, np.int32(0)), I32)
    check(vnp.remainder(i, np.int32(0)), ref(np.remainder, i, np.int32(0)), I32)


@pytest.mark.parametrize(
    ("fn", "args", "expected", "dtype"),
    [
        (vnp.floor_divide, (7, 2), 3, I32), (vnp.floor_divide, (-7, 2), -4, I32),
        (vnp.remainder, (-7, 2), 1, I32), (vnp.remainder, (7, -2), -1, I32),
        (vnp.remainder, (-7.5, 2), 0.5, F32), (vnp.mod, (7.0, 2), 1.0, F32),
        (vnp.floor_divide, (7.0, 2), 3.0, F32), (vnp.power, (2, 3), 8, I32),
        (vnp.add, (1, 2.0), 3.0, F32), (vnp.maximum, (2, 3.0), 3.0, F32),
        (vnp.hypot, (3, 4), 5.0, F32), (vnp.abs, (-2,), 2, I32),
    ],
)  # fmt: skip
def test_ops_on_python_scalars_stay_weak(fn, args, expected, dtype):
    check(fn(*args), expected, dtype, weak=True, tol=F32_TOL if dtype == F32 else None)


def test_divide_and_power():
    check(vnp.divide(np.array([1, 2], np.int32), np.array([2, 4], np.int32)), [0.5, 0.5], F32)
    check(vnp.true_divide(np.array([1, 2], np.int8), 2), [0.5, 1.0], F32)
    check(vnp.divide(np.array([1.0, -1.0, 0.0], np.float32), np.float32(0)),
          [np.inf, -np.inf, np.nan], F32)  # fmt: skip
    check(vnp.power(np.array([2, 3], np.int32), 2), [4, 9], I32)
    check(vnp.power(np.array([4, 9], np.int32), 0.5), [2.0, 3.0], F32, weak=True)
    check(vnp.power(2, np.array([2, 3], np.int32)), [4, 8], I32)


def test_maximum_minimum_propagate_nan():
    a = np.array([np.nan, 1.0, 2.0], np.float32)
    b = np.array([0.0, np.nan, 1.0], np.float32)
    check(vnp.maximum(a, b), np.maximum(a, b), F32)
    check(vnp.minimum(a, b), np.minimum(a, b), F32)


def test_bitwise_functions():
    x, y = np.array([5, 3, -1], np.int32), np.array([6, 6, 4], np.int32)
    check(vnp.bitwise_and(x, y), x & y, I32)
    check(vnp.bitwise_or(x, y), x | y, I32)
    check(vnp.bitwise_xor(x, y), x ^ y, I32)
    check(vnp.bitwise_and(np.array([True, False]), True), [True, False], BOOL)
    with pytest.raises(TypeError):
        vnp.bitwise_or(np.array([5.0]), 6)


def test_binary_broadcast_error_names_shapes():
    with pytest.raises(ShapeError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        vnp.add(np.ones((2, 3)), np.ones(4))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 1, 4\)"):
        vnp.ones((2, 3)) * vnp.ones((2, 1, 4))


def test_where_clip_isclose_logaddexp():
    cond = np.array([True, False, True])
    check(vnp.where(cond, 1, 2.0), [1.0, 2.0, 1.0], F32, weak=True)
    check(vnp.where(np.array([1, 0]), np.arange(2), np.ones((2, 2))), [[0.0, 1.0], [0.0, 1.0]],
          F32)  # fmt: skip
    check(vnp.where(np.array([0, 3, 0, 1]))[0], [1, 3], I32)
    check(vnp.clip(np.arange(5), 1, 3), [1, 1, 2, 3, 3], I32)
    check(vnp.clip(np.arange(5), None, 2), [0, 1, 2, 2, 2], I32)
    check(vnp.clip(np.arange(5.0), a_min=1.5), [1.5, 1.5, 2.0, 3.0, 4.0], F32)
    a = np.array([1.0, np.inf, np.nan, 1.0], np.float32)
    b = np.array([1.0 + 1e-7, np.inf, np.nan, 1.1], np.float32)
    check(vnp.isclose(a, b), np.isclose(a, b), BOOL)
    check(vnp.isclose(a, b, equal_nan=True), np.isclose(a, b, equal_nan=True), BOOL)
    check(vnp.allclose(a[:2], b[:2]), True, BOOL)
    check(vnp.allclose(a, b), False, BOOL)
    big = np.array([-np.inf, 1000.0, -1000.0, 0.0], np.float32)
    check(vnp.logaddexp(big, big[::-1]), ref(np.logaddexp, big, big[::-1]), F32, tol=F32_TOL)


def test_broadcast_to_and_broadcast_arrays():
    check(vnp.broadcast_to(np.arange(3), (2, 3)), np.broadcast_to(np.arange(3), (2, 3)), I32)
    check(vnp.broadcast_to(np.float32(2), 3), [2.0, 2.0, 2.0], F32)
    a, b = vnp.broadcast_arrays(np.arange(3), np.ones((2, 1)))
    check(a, np.broadcast_to(np.arange(3), (2, 3)), I32)
    check(b, np.ones((2, 3)), F32)
    with pytest.raises(ValueError):
        vnp.broadcast_to(np.ones(3), (2, 4))
    assert vnp.broadcast_arrays() == []  # as NumPy and JAX
    (only,) = vnp.broadcast_arrays(np.float32(2))
    check(only, 2.0, F32)


# ----------------------------------------------------------------------------------------------
# Reductions

R = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
AXES = [None, 0, 1, -1, -2, (0, 2), (-1, 0), (0, 1, 2), ()]
REDUCTIONS = [("sum", np.sum), ("prod", np.prod), ("max", np.max), ("min", np.min),
              ("amax", np.amax), ("amin", np.amin), ("mean", np.mean), ("var", np.var),
              ("std", np.std)]  # fmt: skip


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize(("name", "np_fn"), REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reductions(name, np_fn, axis, keepdims):
    out = getattr(vnp, name)(R, axis=axis, keepdims=keepdims)
    want = np_fn(R.astype(np.float64), axis=axis, keepdims=keepdims)
    check(out, want, F32, tol=SUM_TOL)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -3])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name, axis, keepdims):
    out = getattr(vnp, name)(R, axis=axis, keepdims=keepdims)
    check(out, getattr(np, name)(R, axis=axis, keepdims=keepdims), I32)


def test_argmax_argmin_ties_and_nan():
    check(vnp.argmin(np.array([3, 1, 1])), 1, I32)
    check(vnp.argmax(np.array([5, 1, 5])), 0, I32)
    x = np.array([1.0, np.nan, 2.0], np.float32)
    check(vnp.argmax(x), np.argmax(x), I32)
    check(vnp.argmin(x), np.argmin(x), I32)


@pytest.mark.parametrize("ddof", [0, 1, 2])
@pytest.mark.parametrize("axis", [None, 1, (0, 2)], ids=str)
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_ddof(name, axis, ddof):
    out = getattr(vnp, name)(R, axis=axis, ddof=ddof, keepdims=True)
    want = getattr(np, name)(R.astype(np.float64), axis=axis, ddof=ddof, keepdims=True)
    check(out, want, F32, tol=SUM_TOL)


@pytest.mark.parametrize(
    ("dtype", "sum_dtype"),
    [(np.bool_, I32), (np.int8, I32), (np.int16, I32), (np.int32, I32),
     (np.uint8, U32), (np.uint16, U32), (np.uint32, U32), (np.float16, F16), (np.float32, F32),
     (np.complex64, C64)],
)  # fmt: skip
def test_sum_and_prod_accumulation_dtypes(dtype, sum_dtype):
    x = np.array([[1, 3, 0], [1, 2, 3]]).astype(dtype)
    check(vnp.sum(x), np.sum(x.astype(np.int64 if sum_dtype.kind in "iu" else sum_dtype)),
          sum_dtype)  # fmt: skip
    check(vnp.sum(x, axis=0), np.sum(x.astype(sum_dtype), axis=0), sum_dtype)
    check(vnp.prod(x, axis=1), np.prod(x.astype(sum_dtype), axis=1), sum_dtype)


def test_sum_of_small_ints_does_not_overflow():
    x = np.array([100, 100, 100], np.int8)
    check(vnp.sum(x), 300, I32)
    check(vnp.prod(x), 1000000, I32)
    check(vnp.sum(np.array([200, 200], np.uint8)), 400, U32)
    check(vnp.sum(np.ones(5, bool)), 5, I32)


def test_sum_dtype_argument():
    check(vnp.sum(R, dtype=vnp.int32), np.sum(R.astype(np.int32)), I32)
    check(vnp.sum(np.ones(3, np.int8), dtype=vnp.int8), 3, I8)
    check(vnp.prod(np.arange(1, 4), dtype=float), 6.0, F32)
    check(vnp.mean(np.arange(4), dtype=vnp.float16), 1.5, F16)


def test_mean_dtypes():
    check(vnp.mean(np.array([1, 2], np.int32)), 1.5, F32)
    check(vnp.mean(np.array([1, 2], np.uint8)), 1.5, F32)
    check(vnp.mean(np.array([True, False, False, False])), 0.25, F32)
    check(vnp.mean(np.array([1, 2], np.float16)), 1.5, F16)
    check(vnp.mean(np.array([1, 2j], np.complex64)), 0.5 + 1j, C64)
    check(vnp.var(np.array([1, 2, 3, 4], np.int32)), 1.25, F32)
    check(vnp.var(np.array([1, 1j], np.complex64)), 0.5, F32, tol=F32_TOL)
    check(vnp.std(np.array([1, 3], np.int8)), 1.0, F32)


def test_mean_of_empty_is_nan():
    check(vnp.mean(np.zeros(0, np.float32)), np.nan, F32)
    check(vnp.sum(np.zeros((0, 3), np.float32), axis=0), np.zeros(3), F32)
    check(vnp.prod(np.zeros((2, 0), np.float32), axis=1), np.ones(2), F32)


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin"])
def test_max_min_of_empty_raise_value_error(name):
    fn = getattr(vnp, name)
    with pytest.raises(ValueError, match=r"zero-size.*\(0,\)"):
        fn(np.zeros(0, np.float32))
    with pytest.raises(ValueError, match=r"\(2, 0\)"):
        fn(np.zeros((2, 0), np.float32), axis=1)
    check(fn(np.zeros((0, 3), np.float32), axis=1), np.zeros(0), F32)  # empty result is fine


def test_argmax_of_empty_raises_value_error():
    with pytest.raises(ValueError, match="empty"):
        vnp.argmax(np.zeros(0, np.float32))


@pytest.mark.parametrize("axis", [3, -4, (0, 0), (1, -2)], ids=str)
def test_reduction_axis_errors(axis):
    with pytest.raises(ValueError, match="axis"):
        vnp.sum(R, axis=axis)


def test_reductions_accept_numpy_int_and_list_axes():
    check(vnp.sum(R, axis=np.int64(1)), np.sum(R, axis=1), F32, tol=SUM_TOL)
    check(vnp.max(R, axis=[0, 1]), np.max(R, axis=(0, 1)), F32)


def test_max_min_integers_and_nan():
    x = np.array([[3, -1], [2, 7]], np.int32)
    check(vnp.max(x), 7, I32)
    check(vnp.min(x, axis=0), [2, -1], I32)
    check(vnp.max(np.array([1.0, np.nan, 2.0], np.float32)), np.nan, F32)
    check(vnp.max(np.array([True, False])), True, BOOL)


def test_logical_reductions_and_count_nonzero():
    x = np.array([[1, 0, 2], [0, 0, 3]], np.int32)
    for axis in (None, 0, 1, -1, (0, 1)):
        check(vnp.all(x, axis=axis), np.all(x, axis=axis), BOOL)
        check(vnp.any(x, axis=axis), np.any(x, axis=axis), BOOL)
        check(vnp.count_nonzero(x, axis=axis), np.count_nonzero(x, axis=axis), I32)
    check(vnp.all(x, axis=1, keepdims=True), np.all(x, axis=1, keepdims=True), BOOL)
    check(vnp.any(np.zeros((2, 0))), False, BOOL)
    check(vnp.all(np.zeros((2, 0))), True, BOOL)
    check(vnp.any(np.array([np.nan])), True, BOOL)


# ----------------------------------------------------------------------------------------------
# Shapes

A6 = np.arange(6, dtype=np.int32)
A234 = np.arange(24, dtype=np.int32).reshape(2, 3, 4)


@pytest.mark.parametrize(
    ("shape", "order"),
    [((2, 3), "C"), ((3, -1), "C"), ((-1,), "C"), (6, "C"), ((1, 6, 1), "C"), ((2, 3), "F"),
     ((3, -1), "F"), ((-1, 2), "F"), ((2, 1, 3), "F")],
)  # fmt: skip
def test_reshape(shape, order):
    check(vnp.reshape(A6, shape, order=order), np.reshape(A6, shape, order=order), I32)


def test_reshape_of_3d_in_fortran_order():
    check(vnp.reshape(A234, (4, 6), order="F"), np.reshape(A234, (4, 6), order="F"), I32)
    check(vnp.ravel(A234, order="F"), np.ravel(A234, order="F"), I32)


@pytest.mark.parametrize("shape", [(4, -1), (-1, -1), (4, 2), (-2, 3)])
def test_reshape_errors(shape):
    with pytest.raises(ValueError, match=r"reshape"):
        vnp.reshape(A6, shape)


def test_reshape_rejects_unknown_order():
    with pytest.raises(ValueError, match="order"):
        vnp.reshape(A6, (2, 3), order="A")


def test_ravel():
    check(vnp.ravel(A234), A234.ravel(), I32)
    check(vnp.ravel(np.float32(2)), [2.0], F32)


@pytest.mark.parametrize(
    "axes", [None, (0, 1, 2), (2, 0, 1), (-1, 0, 1), (1, -3, -1), [2, 1, 0]], ids=str
)
def test_transpose(axes):
    check(vnp.transpose(A234, axes), np.transpose(A234, axes), I32)


@pytest.mark.parametrize("axes", [(0, 0, 1), (0, 1), (0, 1, 3)], ids=str)
def test_transpose_errors(axes):
    with pytest.raises(ValueError, match="transpose"):
        vnp.transpose(A234, axes)


@pytest.mark.parametrize("axis", [0, 2, -1, -3, (0, 1), (0, -1), (-1, -2), (1, 3)], ids=str)
def test_expand_dims(axis):
    x = np.ones((2, 3), np.float32)
    check(vnp.expand_dims(x, axis), np.expand_dims(x, axis), F32)


def test_expand_dims_errors():
    with pytest.raises(ValueError):
        vnp.expand_dims(np.ones((2, 3)), 3)
    with pytest.raises(ValueError):
        vnp.expand_dims(np.ones((2, 3)), (0, 0))


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), 2], ids=str)
def test_squeeze(axis):
    x = np.ones((1, 2, 1), np.float32)
    check(vnp.squeeze(x, axis), np.squeeze(x, axis), F32)


def test_squeeze_error_names_shape():
    with pytest.raises(ValueError, match=r"\(1, 2, 1\)"):
        vnp.squeeze(np.ones((1, 2, 1)), axis=1)


@pytest.mark.parametrize(
    ("source", "dtype", "stored"),
    [(np.array([1.7, -1.7, 0.5]), vnp.int32, I32), (np.array([1, 2, 3]), np.float64, F32),
     (np.array([0.0, 2.0, -1.0]), bool, BOOL), (np.array([True, False]), vnp.float16, F16),
     (np.array([1.5 + 2j]), vnp.float32, F32), (np.array([300, -1]), vnp.uint8, U8)],
)  # fmt: skip
def test_astype(source, dtype, stored):
    x = vnp.array(source)
    want = ref(np.asarray(x).astype, stored)
    check(vnp.astype(x, dtype), want, stored)
    check(x.astype(dtype), want, stored)


def test_astype_drops_weak_type():
    check(vnp.astype(vnp.array(2.0), vnp.float32), 2.0, F32)


def test_shape_ndim_size():
    assert vnp.shape([[1, 2, 3]]) == (1, 3)
    assert vnp.shape(vnp.ones((2, 0))) == (2, 0)
    assert vnp.ndim(3.0) == 0 and vnp.ndim(np.ones((2, 3))) == 2
    assert vnp.size(vnp.ones((2, 3))) == 6 and vnp.size(5) == 1


# ----------------------------------------------------------------------------------------------
# Array methods and properties


def test_reshape_method_spellings():
    x = vnp.arange(6)
    want = np.arange(6).reshape(2, 3)
    check(x.reshape(2, 3), want, I32)
    check(x.reshape((2, 3)), want, I32)
    check(x.reshape([2, 3]), want, I32)
    check(x.reshape(np.int64(2), 3), want, I32)
    check(x.reshape(-1, 3), want, I32)
    check(x.reshape(2, 3, order="F"), np.arange(6).reshape(2, 3, order="F"), I32)
    check(x.reshape(6), np.arange(6), I32)


def test_transpose_properties_and_method():
    x = vnp.array(A234)
    check(x.T, A234.T, I32)
    check(x.mT, np.swapaxes(A234, -1, -2), I32)
    check(x.transpose(), A234.transpose(), I32)
    check(x.transpose(1, 0, 2), A234.transpose(1, 0, 2), I32)
    check(x.transpose((2, 0, 1)), A234.transpose((2, 0, 1)), I32)
    check(x.transpose(None), A234.transpose(), I32)
    m = vnp.arange(6).reshape(2, 3)
    check(m.transpose(1, 0), np.arange(6).reshape(2, 3).T, I32)
    check(vnp.array(2.0).T, 2.0, F32, weak=True)
    with pytest.raises(ValueError):
        vnp.ones(3).mT  # noqa: B018  (needs at least 2 axes, as NumPy)


def test_reduction_methods():
    x = vnp.array(R)
    check(x.sum(), np.sum(R, dtype=np.float64), F32, tol=SUM_TOL)
    check(x.sum(axis=0, keepdims=True), R.sum(axis=0, keepdims=True), F32, tol=SUM_TOL)
    check(x.sum(1), R.sum(1), F32, tol=SUM_TOL)
    check(x.prod(axis=(0, 2)), R.astype(np.float64).prod(axis=(0, 2)), F32, tol=SUM_TOL)
    check(x.max(axis=-1), R.max(axis=-1), F32)
    check(x.min(), R.min(), F32)
    check(x.mean(axis=1), R.astype(np.float64).mean(axis=1), F32, tol=SUM_TOL)
    check(x.var(ddof=1), R.astype(np.float64).var(ddof=1), F32, tol=SUM_TOL)
    check(x.std(axis=0), R.astype(np.float64).std(axis=0), F32, tol=SUM_TOL)
    check(x.argmax(), R.argmax(), I32)
    check(x.argmin(axis=2), R.argmin(axis=2), I32)
    check((x > 0).all(axis=0), (R > 0).all(axis=0), BOOL)
    check((x > 0).any(), True, BOOL)


def test_other_methods():
    x = vnp.arange(6).reshape(2, 3)
    n = np.arange(6).reshape(2, 3)
    check(x.astype(vnp.float32), n.astype(np.float32), F32)
    check(x.ravel(), n.ravel(), I32)
    check(x.flatten(), n.flatten(), I32)
    check(vnp.ones((1, 2, 1)).squeeze(), np.ones(2), F32)
    check(vnp.ones((1, 2, 1)).squeeze(0), np.ones((2, 1)), F32)
    check(x.dot(np.ones(3, np.int32)), n.dot(np.ones(3)), I32)
    check(vnp.array([1.26, 2.5]).round(1), np.round(np.array([1.26, 2.5], np.float32), 1), F32)
    check(vnp.array([2.5, 3.5]).round(), [2.0, 4.0], F32)
    check(x.clip(1, 4), n.clip(1, 4), I32)
    check(x.cumsum(axis=1), n.cumsum(axis=1), I32)
    check(x.cumprod(), n.cumprod(), I32)
    check(vnp.array([3, 1, 2]).sort(), [1, 2, 3], I32)
    check(vnp.array([3, 1, 2]).argsort(), [1, 2, 0], I32)
    check(x.take(np.array([0, 5])), [0, 5], I32)
    check(x.swapaxes(0, 1), n.swapaxes(0, 1), I32)
    check(x.repeat(2, axis=0), n.repeat(2, axis=0), I32)
    rows, cols = vnp.array([[0, 1], [2, 0]]).nonzero()
    check(rows, [0, 1], I32)
    check(cols, [1, 0], I32)
    check(x[1, ::-1], n[1, ::-1], I32)


def test_item_and_tolist():
    assert vnp.array(2.5).item() == 2.5 and type(vnp.array(2.5).item()) is float
    assert type(vnp.array(3).item()) is int
    assert type(vnp.array(True).item()) is bool
    assert vnp.arange(6).reshape(2, 3).item(4) == 4
    assert vnp.arange(6).reshape(2, 3).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert vnp.array(1.5).tolist() == 1.5
    assert vnp.zeros((2, 0)).tolist() == [[], []]
    with pytest.raises(ValueError):
        vnp.arange(3).item()


# ----------------------------------------------------------------------------------------------
# dot and matmul


def _f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


MATMUL_SHAPES = [
    ((3,), (3,)), ((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((5, 2, 3), (5, 3, 4)),
    ((2, 1, 3, 4), (5, 4, 2)), ((3,), (2, 3, 4)), ((2, 3, 4), (4,)), ((1, 2, 3), (4, 3, 2)),
    ((2, 0), (0, 3)), ((0, 3), (3, 2)), ((4, 1, 2, 3), (1, 5, 3, 2)),
]  # fmt: skip


@pytest.mark.parametrize(("sa", "sb"), MATMUL_SHAPES, ids=str)
def test_matmul(rng, sa, sb):
    a, b = _f32(rng, *sa), _f32(rng, *sb)
    want = np.matmul(a.astype(np.float64), b)
    check(vnp.matmul(a, b), want, F32, tol=SUM_TOL)
    check(vnp.array(a) @ vnp.array(b), want, F32, tol=SUM_TOL)
    check(a @ vnp.array(b), want, F32, tol=SUM_TOL)  # numpy array @ Array gives an Array
    check(vnp.array(a) @ b, want, F32, tol=SUM_TOL)


DOT_SHAPES = [
    ((3,), (3,)), ((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((), (3,)), ((2, 3), ()),
    ((2, 3, 4), (5, 4, 6)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)),
]  # fmt: skip


@pytest.mark.parametrize(("sa", "sb"), DOT_SHAPES, ids=str)
def test_dot(rng, sa, sb):
    a, b = _f32(rng, *sa), _f32(rng, *sb)
    check(vnp.dot(a, b), np.dot(a.astype(np.float64), b), F32, tol=SUM_TOL)


def test_dot_matmul_dtypes():
    i8, u8 = np.ones((2, 2), np.int8), np.ones((2, 2), np.uint8)
    check(vnp.matmul(i8, u8), np.full((2, 2), 2), np.int16)
    b = np.array([[True, False], [False, False]])
    check(vnp.matmul(b, b), b @ b, BOOL)
    check(vnp.dot(np.array([True, True]), np.array([True, False])), True, BOOL)
    check(vnp.dot(np.arange(3), np.arange(3)), 5, I32)
    check(vnp.matmul(np.arange(3), np.ones(3)), 3.0, F32)
    check(vnp.dot(2.0, np.arange(3)), [0.0, 2.0, 4.0], F32, weak=True)  # i32 with f* is f*


@pytest.mark.parametrize(
    ("fn", "sa", "sb"),
    [(vnp.matmul, (2, 3), (4, 2)), (vnp.matmul, (3,), (4,)), (vnp.matmul, (2, 3, 4), (3, 5)),
     (vnp.dot, (2, 3), (4, 2)), (vnp.dot, (3,), (4,)), (vnp.matmul, (2, 2, 3), (3, 3, 2))],
)  # fmt: skip
def test_misaligned_shapes_raise_value_error_naming_both(fn, sa, sb):
    a, b = np.ones(sa), np.ones(sb)
    with pytest.raises(ValueError, match=re.escape(str(sa)) + ".*" + re.escape(str(sb))):
        fn(a, b)


def test_matmul_operator_misaligned():
    with pytest.raises(ShapeError, match=r"matmul.*\(2, 3\).*\(2, 3\)"):
        vnp.ones((2, 3)) @ vnp.ones((2, 3))


@pytest.mark.parametrize(("a", "b"), [(2.0, np.ones(3)), (np.ones(3), 2.0), (2.0, 3.0)])
def test_matmul_of_0d_raises(a, b):
    with pytest.raises(ValueError, match="matmul.*1-D"):
        vnp.matmul(a, b)
    with pytest.raises(ValueError, match="matmul"):
        vnp.array(a) @ vnp.array(b)


# ----------------------------------------------------------------------------------------------
# Operators

FX = np.array([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]], np.float32)
FY = np.array([2.0, -0.5, 3.0], np.float32)
ARITH = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
         operator.mod, operator.pow]  # fmt: skip
COMPARE = [operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne]


def _np_op(op, a, b):
    if op is operator.pow:  # negative base to a fractional power is NaN in both
        return ref(np.power, a, b)
    return ref(op, a, b)


@pytest.mark.parametrize("op", ARITH + COMPARE, ids=lambda f: f.__name__)
def test_operators_array_with_array_and_numpy(op):
    x, y = vnp.array(FX), vnp.array(FY)
    dtype = BOOL if op in COMPARE else F32
    want = _np_op(op, FX, FY)
    check(op(x, y), want, dtype, tol=F32_TOL if op is operator.pow else None)
    check(op(x, FY), want, dtype, tol=F32_TOL if op is operator.pow else None)
    # numpy array on the left: numpy defers to the Array (__array_priority__), result is ours.
    check(op(FX, y), want, dtype, tol=F32_TOL if op is operator.pow else None)
    check(op(FX.astype(np.float64), y), want, dtype, tol=F32_TOL if op is operator.pow else None)


@pytest.mark.parametrize("op", ARITH + COMPARE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("scalar", [2, -3, 2.5, np.float32(2.5)], ids=repr)
def test_operators_with_scalars_on_either_side(op, scalar):
    x = vnp.array(FY)
    dtype = BOOL if op in COMPARE else F32
    s = np.float32(scalar)
    tol = F32_TOL if op is operator.pow else None
    check(op(x, scalar), _np_op(op, FY, s), dtype, tol=tol)
    check(op(scalar, x), _np_op(op, s, FY), dtype, tol=tol)


def test_operators_on_int_arrays_with_python_scalars():
    x = vnp.array(np.array([7, -7, 3], np.int32))
    n = np.array([7, -7, 3], np.int32)
    check(x + 1, n + 1, I32)
    check(1 - x, 1 - n, I32)
    check(x * 2, n * 2, I32)
    check(x // 2, n // 2, I32)
    check(7 // x, 7 // n, I32)
    check(x % 3, n % 3, I32)
    check(-8 % x, -8 % n, I32)
    check(2 ** x[2:], 2 ** n[2:], I32)
    check(x**2, n**2, I32)
    check(x / 2, n / np.float32(2), F32)
    check(1 / x, np.float32(1) / n.astype(np.float32), F32, tol=F32_TOL)
    check(x + 0.5, n + np.float32(0.5), F32, weak=True)
    check(0.5 * x, n * np.float32(0.5), F32, weak=True)
    check(x < 0.5, n < 0.5, BOOL)


@pytest.mark.parametrize("op", [operator.and_, operator.or_, operator.xor], ids=str)
def test_bitwise_operators(op):
    a = np.array([5, 3, -1, 0], np.int32)
    b = np.array([6, 6, 4, 7], np.int32)
    x = vnp.array(a)
    check(op(x, vnp.array(b)), op(a, b), I32)
    check(op(x, 6), op(a, 6), I32)
    check(op(6, x), op(6, a), I32)
    check(op(b, x), op(b, a), I32)
    t = np.array([True, True, False, False])
    u = np.array([True, False, True, False])
    check(op(vnp.array(t), u), op(t, u), BOOL)
    check(op(t, vnp.array(u)), op(t, u), BOOL)
    check(op(vnp.array(t), True), op(t, True), BOOL)


def test_shift_operators():
    # Python's bitwise operators include << and >> (jax.Array has them too).
    a = np.array([3, 5, -8], np.int32)
    x = vnp.array(a)
    check(x << 1, a << 1, I32)
    check(x >> 1, a >> 1, I32)
    check(1 << vnp.array([0, 3]), [1, 8], I32)


def test_shift_functions_follow_numpy():
    a = np.array([3, 5, -8, -1, 1], np.int32)
    n = np.array([0, 1, 2, 31, 31], np.int32)
    check(vnp.left_shift(a, n), np.left_shift(a, n), I32)
    check(vnp.right_shift(a, n), np.right_shift(a, n), I32)  # arithmetic: -8 >> 2 == -2
    u = np.array([255, 128, 7], np.uint8)
    check(vnp.right_shift(u, 1), np.right_shift(u, 1), U8)  # logical for unsigned
    check(vnp.left_shift(u, 1), np.left_shift(u, 1), U8)
    # Amounts of the bit width or more shift every bit out (numpy defines the same).
    check(vnp.left_shift(a, 32), np.zeros(5, np.int32), I32)
    check(vnp.right_shift(a, 40), [0, 0, -1, -1, 0], I32)
    # Python scalars stay weak; bools shift as the default int.
    check(vnp.left_shift(1, 3), 8, I32, weak=True)
    check(vnp.right_shift(np.array([True, False]), True), [0, 0], I32)
    check(vnp.left_shift(np.int8(3), vnp.array(np.array([1, 2], np.int8))), [6, 12], I8)
    with pytest.raises(TypeError, match="left_shift.*integer.*float32"):
        vnp.left_shift(vnp.ones(2), 1)
    with pytest.raises(TypeError, match="right_shift.*integer"):
        vnp.right_shift(np.array([1, 2]), 0.5)


def test_shifts_trace_and_lax_wrappers():
    x = np.array([-8, 8], np.int32)
    text = str(vfunc.make_jaxpr(lambda v: (v << 2) >> 1)(x))
    assert "shift_left" in text and "shift_right_arithmetic" in text
    u = vnp.array(np.array([255, 2], np.uint8))
    assert "shift_right_logical" in str(vfunc.make_jaxpr(lambda v: v >> 1)(u))
    check(vfunc.lax.shift_left(x, 1), [-16, 16], I32)
    check(vfunc.lax.shift_right_arithmetic(x, 1), [-4, 4], I32)
    check(vfunc.lax.shift_right_logical(x, 28), [15, 0], I32)


def test_divmod():
    a = np.array([7, -7, 7, -7], np.int32)
    b = np.array([2, 2, -2, -2], np.int32)
    q, r = divmod(vnp.array(a), vnp.array(b))
    check(q, a // b, I32)
    check(r, a % b, I32)
    q, r = divmod(vnp.array(a), 2)
    check(q, a // 2, I32)
    check(r, a % 2, I32)
    q, r = divmod(vnp.array(FX), 0.75)
    check(q, np.floor_divide(FX, np.float32(0.75)), F32)
    check(r, np.remainder(FX, np.float32(0.75)), F32)


def test_reflected_divmod():
    q, r = divmod(7, vnp.array([2, -2]))
    check(q, [3, -4], I32)
    check(r, [1, -1], I32)
    q, r = divmod(np.array([7.0, -7.0], np.float32), vnp.array([2.0, 2.0]))
    check(q, [3.0, -4.0], F32)
    check(r, [1.0, 1.0], F32)


def test_divmod_and_shifts_with_other_types_defer():
    class Other:
        def __rdivmod__(self, other):
            return "rdivmod"

        def __rlshift__(self, other):
            return "rlshift"

    x = vnp.array([1, 2])
    assert divmod(x, Other()) == "rdivmod"
    assert (x << Other()) == "rlshift"
    with pytest.raises(TypeError):
        divmod("a", x)


def test_unary_operators_and_builtins():
    x = vnp.array(np.array([-1.5, 2.5, 0.5], np.float32))
    check(-x, [1.5, -2.5, -0.5], F32)
    check(+x, [-1.5, 2.5, 0.5], F32)
    check(abs(x), [1.5, 2.5, 0.5], F32)
    check(round(x), [-2.0, 2.0, 0.0], F32)  # half to even
    check(round(vnp.array(2.5)), 2.0, F32, weak=True)
    check(round(vnp.array([2.56, -1.25]), 1), np.round(np.array([2.56, -1.25], np.float32), 1),
          F32)  # fmt: skip
    i = vnp.array(np.array([1, -2, 0], np.int32))
    check(~i, [-2, 1, -1], I32)
    check(-i, [-1, 2, 0], I32)
    check(abs(i), [1, 2, 0], I32)
    check(~vnp.array([True, False]), [False, True], BOOL)
    with pytest.raises(TypeError):
        ~x  # noqa: B018


def test_augmented_assignment_rebinds():
    x = vnp.array([1.0, 2.0])
    y = x
    y += 1
    y *= 2
    check(x, [1.0, 2.0], F32)
    check(y, [4.0, 6.0], F32)


def test_comparison_with_none_and_unsupported_types():
    # As jax.Array: an unrecognised operand makes Python fall back to identity comparison
    # (False/True, no error, no elementwise result); ordering and arithmetic raise TypeError.
    x = vnp.array([1.0, 2.0])
    assert (x == None) is False  # noqa: E711
    assert (x != None) is True  # noqa: E711
    assert (x == "a") is False
    with pytest.raises(TypeError):
        x < None  # noqa: B015
    with pytest.raises(TypeError):
        x + None  # noqa: B018
    with pytest.raises(TypeError):
        x + "a"  # noqa: B018
    with pytest.raises(TypeError):
        [1, 2] + x  # noqa: B018


def test_bool_of_arrays():
    assert bool(vnp.array([3])) is True
    with pytest.raises(ValueError):
        bool(vnp.array([1, 2]))


# ----------------------------------------------------------------------------------------------
# Joining, splitting, reordering, indexing (the rest of the public surface)

M = np.arange(12, dtype=np.int32).reshape(3, 4)


MOVEMENT = [
    ("concatenate", ([M, M],), {}), ("concatenate", ([M, M],), {"axis": 1}),
    ("concatenate", ([M, M],), {"axis": None}), ("concatenate", ([M, M],), {"axis": -1}),
    ("stack", ([M, M],), {}), ("stack", ([M, M],), {"axis": -1}),
    ("hstack", ([M, M],), {}), ("hstack", ([np.arange(2), np.arange(3)],), {}),
    ("vstack", ([M, M],), {}), ("vstack", ([np.arange(2), np.arange(2)],), {}),
    ("dstack", ([M, M],), {}), ("column_stack", ([np.arange(3), M],), {}),
    ("flip", (M,), {}), ("flip", (M,), {"axis": 1}), ("flip", (M,), {"axis": (0, 1)}),
    ("fliplr", (M,), {}), ("flipud", (M,), {}),
    ("roll", (M, 2), {}), ("roll", (M, -1), {"axis": 1}),
    ("roll", (M, (1, 2)), {"axis": (0, 1)}), ("tile", (np.arange(3), (2, 2)), {}),
    ("tile", (M, 2), {}), ("repeat", (M, 2), {}), ("repeat", (M, 2), {"axis": 1}),
    ("repeat", (np.arange(3), [1, 0, 2]), {}), ("swapaxes", (A234, 0, 2), {}),
    ("moveaxis", (A234, 0, -1), {}), ("moveaxis", (A234, [0, 1], [-1, 0]), {}),
    ("sort", (np.array([[3, 1, 2], [0, -1, 5]]),), {}),
    ("sort", (np.array([[3, 1, 2], [0, -1, 5]]),), {"axis": 0}),
    ("sort", (np.array([[3, 1, 2], [0, -1, 5]]),), {"axis": None}),
    ("argsort", (np.array([3, 1, 1, 2, 1]),), {}),
    ("argsort", (np.array([[3, 1], [0, 5]]),), {"axis": 0}),
    ("cumsum", (M,), {}), ("cumsum", (M,), {"axis": 1}), ("cumprod", (M + 1,), {"axis": 0}),
    ("diff", (np.array([1, 4, 9, 16]),), {}), ("diff", (np.array([1, 4, 9, 16]),), {"n": 2}),
    ("diff", (M,), {"axis": 0}), ("diff", (np.array([1, 4]),), {"prepend": 0}),
    ("pad", (np.arange(3), (1, 2)), {}),
    ("pad", (np.arange(3), (1, 2)), {"constant_values": (7, 8)}),
    ("pad", (M, 2), {"mode": "edge"}), ("pad", (M, 2), {"mode": "reflect"}),
    ("pad", (M, 3), {"mode": "symmetric"}), ("pad", (M, ((1, 0), (2, 1))), {"mode": "wrap"}),
    ("take", (M, np.array([0, 5, 11])), {}), ("take", (M, np.array([2, 0])), {"axis": 1}),
    ("take_along_axis", (M, np.array([[1], [0], [3]])), {"axis": 1}),
    ("atleast_1d", (np.int32(3),), {}), ("atleast_2d", (np.arange(3),), {}),
    ("atleast_3d", (M,), {}), ("atleast_3d", (np.arange(3),), {}),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "args", "kwargs"), MOVEMENT)
def test_movement_functions_match_numpy(name, args, kwargs):
    check(getattr(vnp, name)(*args, **kwargs), getattr(np, name)(*args, **kwargs), I32)


def test_movement_dtypes_follow_promotion():
    check(vnp.concatenate([np.arange(2), np.ones(2)]), [0.0, 1.0, 1.0, 1.0], F32)
    check(vnp.stack([np.int8(1), np.int8(2)]), [1, 2], I8)
    check(vnp.cumsum(np.array([100, 100], np.int8)), [100, 200], I32)
    check(vnp.cumsum(np.array([True, True])), [1, 2], I32)
    check(vnp.diff(np.array([True, False, False])), [True, False], BOOL)
    check(vnp.sort(np.array([3.0, np.nan, 1.0], np.float32)), [1.0, 3.0, np.nan], F32)


def test_split_and_array_split():
    for got, want in zip(vnp.split(np.arange(6), [2, 4]), np.split(np.arange(6), [2, 4]),
                         strict=True):  # fmt: skip
        check(got, want, I32)
    for got, want in zip(vnp.split(M, 2, axis=1), np.split(M, 2, axis=1), strict=True):
        check(got, want, I32)
    for got, want in zip(vnp.array_split(np.arange(7), 3), np.array_split(np.arange(7), 3),
                         strict=True):  # fmt: skip
        check(got, want, I32)
    with pytest.raises(ValueError, match="array_split"):
        vnp.split(np.arange(7), 3)


def test_nonzero():
    x = np.array([[0, 1], [2, 0]])
    got = vnp.nonzero(x)
    assert len(got) == 2
    for g, w in zip(got, np.nonzero(x), strict=True):
        check(g, w, I32)


def test_getitem_and_at():
    x = vnp.arange(10)
    n = np.arange(10)
    check(x[::-3], n[::-3], I32)
    check(x.reshape(2, 5)[:, [0, -1]], n.reshape(2, 5)[:, [0, -1]], I32)
    check(x[n > 6], n[n > 6], I32)
    check(x.at[1].set(7), [0, 7, 2, 3, 4, 5, 6, 7, 8, 9], I32)
    check(vnp.zeros(3).at[np.array([0, 0, 2])].add(1.0), [2.0, 0.0, 1.0], F32)


def test_ndarray_alias_and_dtype_names():
    assert vnp.ndarray is vfunc.Array
    assert isinstance(vnp.ones(2), vnp.ndarray)
    assert (vnp.float32, vnp.int32, vnp.bool_, vnp.uint8) == (
        np.float32, np.int32, np.bool_, np.uint8)  # fmt: skip
    assert vnp.newaxis is None and vnp.pi == np.pi and np.isnan(vnp.nan) and vnp.inf == np.inf
    check(vnp.ones(2)[:, vnp.newaxis], np.ones((2, 1)), F32)


# ----------------------------------------------------------------------------------------------
# Property tests

FINITE_F32 = st.floats(-10, 10, width=32, allow_nan=False, allow_infinity=False)
BINARY_SAMPLE = [
    ("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply),
    ("divide", np.divide), ("maximum", np.maximum), ("minimum", np.minimum),
    ("less", np.less), ("equal", np.equal), ("greater_equal", np.greater_equal),
    ("floor_divide", np.floor_divide), ("remainder", np.remainder),
]  # fmt: skip


@SETTINGS
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3),
    op=st.sampled_from(BINARY_SAMPLE),
    data=st.data(),
)
def test_property_binary_ufuncs_broadcast_like_numpy(shapes, op, data):
    name, np_fn = op
    a = data.draw(hnp.arrays(np.float32, shapes.input_shapes[0], elements=FINITE_F32))
    b = data.draw(hnp.arrays(np.float32, shapes.input_shapes[1], elements=FINITE_F32))
    want = ref(np_fn, a, b)
    if name in ("floor_divide", "remainder"):
        b = np.where(b == 0, np.float32(1), b)  # keep to the well-defined part
        want = ref(np_fn, a, b)
    out = getattr(vnp, name)(a, b)
    check(out, want, want.dtype if want.dtype == BOOL else F32,
          tol=F32_TOL if name in ("floor_divide", "remainder") else None)  # fmt: skip


@SETTINGS
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
    data=st.data(),
)
def test_property_int_ops_broadcast_like_numpy(shapes, data):
    ints = st.integers(-50, 50)
    a = data.draw(hnp.arrays(np.int32, shapes.input_shapes[0], elements=ints))
    b = data.draw(hnp.arrays(np.int32, shapes.input_shapes[1], elements=ints.filter(bool)))
    for name in ("add", "multiply", "floor_divide", "remainder", "bitwise_xor", "maximum"):
        check(getattr(vnp, name)(a, b), getattr(np, name)(a, b), I32)


@st.composite
def array_and_axes(draw, min_side=1):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=min_side, max_side=4))
    ndim = len(shape)
    axis = st.integers(-ndim, ndim - 1)
    axis_tuples = st.lists(axis, unique_by=lambda a: a % ndim, max_size=ndim).map(tuple)
    axes = draw(st.none() | axis | axis_tuples)
    x = draw(hnp.arrays(np.float32, shape, elements=st.floats(-3, 3, width=32)))
    return x, axes


REDUCTION_SAMPLE = [("sum", np.sum), ("prod", np.prod), ("max", np.max), ("min", np.min),
                    ("mean", np.mean), ("var", np.var), ("std", np.std)]  # fmt: skip


@SETTINGS
@given(case=array_and_axes(), op=st.sampled_from(REDUCTION_SAMPLE), keepdims=st.booleans())
def test_property_reductions_over_random_axes(case, op, keepdims):
    x, axes = case
    name, np_fn = op
    out = getattr(vnp, name)(x, axis=axes, keepdims=keepdims)
    # The float64 result rounded to float32: a product of 256 threes overflows float32 to inf.
    want = ref(lambda v: np_fn(v, axis=axes, keepdims=keepdims).astype(np.float32),
               x.astype(np.float64))  # fmt: skip
    check(out, want, F32, tol={"rtol": 1e-4, "atol": 1e-4})


@SETTINGS
@given(case=array_and_axes(min_side=0), keepdims=st.booleans())
def test_property_sum_over_random_axes_including_empty(case, keepdims):
    x, axes = case
    out = vnp.sum(x, axis=axes, keepdims=keepdims)
    want = np.sum(x.astype(np.float64), axis=axes, keepdims=keepdims)
    check(out, want, F32, tol={"rtol": 1e-5, "atol": 1e-5})


@SETTINGS
@given(case=array_and_axes(), name=st.sampled_from(["argmax", "argmin"]), keepdims=st.booleans())
def test_property_argmax_argmin(case, name, keepdims):
    x, axes = case
    axis = axes if axes is None or isinstance(axes, int) else None
    out = getattr(vnp, name)(x, axis=axis, keepdims=keepdims)
    check(out, getattr(np, name)(x, axis=axis, keepdims=keepdims), I32)


# ----------------------------------------------------------------------------------------------
# Completeness


def _public_functions() -> set[str]:
    return {
        name
        for name, value in vars(vnp).items()
        if not name.startswith("_") and callable(value) and not inspect.isclass(value)
    }


def _imported_and_called(source: str) -> set[str]:
    # Names a test file imports from vfunc.numpy (or one of its modules) and then calls.
    pattern = r"^from vfunc\.numpy(?:\.\w+)* import (?:\(([^)]*)\)|([\w ,]+)$)"
    imported = {
        name.strip()
        for groups in re.findall(pattern, source, re.MULTILINE)
        for name in "".join(groups).split(",")
    }
    return {name for name in imported if name and re.search(rf"\b{name}\(", source)}


def test_every_public_function_is_tested():
    # Functions exported later (einsum, linalg, ...) may be tested in their own files, called as
    # vnp.name or imported from their module.
    sources = [p.read_text() for p in sorted(Path(__file__).parent.glob("test_*.py"))]
    called = {name for source in sources for name in re.findall(r"vnp\.(\w+)", source)}
    called |= {name for source in sources for name in _imported_and_called(source)}
    called |= {row[0] for table in (UNARY_FLOAT, BINARY_FLOAT, REDUCTIONS) for row in table}
    called |= set(INEXACT) | set(COMPARISONS) | set(LOGICAL) | set(PREDICATES)
    called |= {row[0] for row in MOVEMENT}
    missing = sorted(_public_functions() - called)
    assert not missing, f"public vfunc.numpy functions without a test: {missing}"


# ----------------------------------------------------------------------------------------------
# NumPy's remaining everyday names, against numpy in float64 (and gradients where smooth)

NEW_UNARY = [  # name, domain
    ("log2", (0.1, 10)), ("log10", (0.1, 10)), ("exp2", (-5, 5)), ("arcsinh", (-20, 20)),
    ("arccosh", (1.01, 20)), ("arctanh", (-0.95, 0.95)), ("sinc", (-3, 3)), ("fabs", (-3, 3)),
]  # fmt: skip


@pytest.mark.parametrize("name, domain", NEW_UNARY, ids=[n for n, _ in NEW_UNARY])
def test_new_unary_functions_match_numpy(name, domain, x64):
    rng = np.random.default_rng(len(name))
    x = rng.uniform(*domain, (3, 4))
    got = getattr(vnp, name)(x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(np.asarray(got), getattr(np, name)(x), rtol=1e-14, atol=1e-15)
    if name != "fabs":
        from vfunc.testing import check_grads

        check_grads(getattr(vnp, name), [x], order=2)


def test_new_unary_functions_edges(x64):
    np.testing.assert_array_equal(np.asarray(vnp.exp2(vnp.arange(-3.0, 11.0))),
                                  np.exp2(np.arange(-3.0, 11.0)))  # fmt: skip
    assert float(vnp.sinc(0.0)) == 1.0
    edges = np.array([1.0, 2.0, np.inf])
    np.testing.assert_array_equal(np.asarray(vnp.arccosh(edges)), np.arccosh(edges))
    np.testing.assert_array_equal(np.asarray(vnp.arctanh(vnp.array([-1.0, 0.0, 1.0]))),
                                  [-np.inf, 0.0, np.inf])  # fmt: skip
    np.testing.assert_array_equal(np.asarray(vnp.log10(vnp.array([1.0, 100.0, 0.0]))),
                                  [0.0, 2.0, -np.inf])  # fmt: skip
    assert float(vfunc.grad(vnp.sinc)(0.0)) == 0.0
    big = np.array([1e200, -1e200, 0.0])
    np.testing.assert_allclose(np.asarray(vnp.arcsinh(big)), np.arcsinh(big), rtol=1e-15)
    assert vnp.log2(vnp.array([1, 8])).dtype == vnp.float64  # integers are promoted
    assert vnp.fabs(vnp.array([-2, 3])).dtype == vnp.float64


def test_logaddexp2_fmin_fmax_match_numpy(x64):
    nan = np.nan
    x = np.array([1.0, -3.0, nan, nan, 1000.0, -np.inf])
    y = np.array([2.0, nan, 4.0, nan, 1000.0, -np.inf])
    np.testing.assert_array_equal(np.asarray(vnp.fmax(x, y)), np.fmax(x, y))
    np.testing.assert_array_equal(np.asarray(vnp.fmin(x, y)), np.fmin(x, y))
    a, b = np.array([0.5, 1000.0, -3.0]), np.array([2.0, 999.0, -np.inf])
    np.testing.assert_allclose(np.asarray(vnp.logaddexp2(a, b)), np.logaddexp2(a, b),
                               rtol=1e-15)  # fmt: skip
    from vfunc.testing import check_grads

    check_grads(vnp.logaddexp2, [a[:2], b[:2]], order=2)


def test_complex_predicates_match_numpy():
    z = np.array([1 + 0j, 2 - 1j, 0j], np.complex64)
    r = np.array([1.0, 2.0], np.float32)
    np.testing.assert_array_equal(np.asarray(vnp.iscomplex(z)), np.iscomplex(z))
    np.testing.assert_array_equal(np.asarray(vnp.isreal(z)), np.isreal(z))
    np.testing.assert_array_equal(np.asarray(vnp.iscomplex(r)), np.iscomplex(r))
    np.testing.assert_array_equal(np.asarray(vnp.isreal(r)), np.isreal(r))
    assert vnp.isrealobj(r) and not vnp.isrealobj(z)
    assert vnp.iscomplexobj(z) and not vnp.iscomplexobj(r)


def test_select_matches_numpy_and_differentiates():
    x = np.linspace(-2, 2, 9)
    conds, choices = [x < -1, x > 1, x > 0], [x**2, -x, 10 * x]
    np.testing.assert_allclose(np.asarray(vnp.select(conds, choices, 7.0)),
                               np.select(conds, choices, 7.0))  # fmt: skip
    g = vfunc.grad(lambda v: vnp.sum(vnp.select([v < -1, v > 1], [v * v, -v], v)))(x)
    np.testing.assert_allclose(np.asarray(g), np.where(x < -1, 2 * x, np.where(x > 1, -1, 1)))
    with pytest.raises(ValueError, match="select: condlist has 2 entries but choicelist 1"):
        vnp.select([x > 0, x < 0], [x])
    with pytest.raises(TypeError, match="select: conditions must be bool"):
        vnp.select([x], [x])


def test_append_and_splits_match_numpy():
    m = np.arange(24.0).reshape(2, 3, 4)
    for axis in (None, 0, 2):
        np.testing.assert_array_equal(np.asarray(vnp.append(m, m, axis=axis)),
                                      np.append(m, m, axis=axis))  # fmt: skip
    np.testing.assert_array_equal(np.asarray(vnp.append(np.array([1, 2]), 3)), [1, 2, 3])
    for name, sections in (("hsplit", 3), ("vsplit", 2), ("dsplit", [1, 3])):
        got = getattr(vnp, name)(m, sections)
        want = getattr(np, name)(m, sections)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(np.asarray(g), w)
    np.testing.assert_array_equal(np.asarray(vnp.hsplit(np.arange(6), 2)[1]), [3, 4, 5])
    with pytest.raises(ValueError, match="vsplit: needs an array of at least 2 dimensions"):
        vnp.vsplit(np.arange(4), 2)
    with pytest.raises(ValueError, match="dsplit: needs an array of at least 3 dimensions"):
        vnp.dsplit(np.ones((2, 2)), 2)


def test_rot90_and_rollaxis_match_numpy():
    m = np.arange(24.0).reshape(2, 3, 4)
    for k in range(-2, 6):
        for axes in ((0, 1), (1, 2), (2, 0), (-1, 0)):
            np.testing.assert_array_equal(np.asarray(vnp.rot90(m, k, axes)), np.rot90(m, k, axes))
    for axis in range(-3, 3):
        for start in range(-3, 4):
            np.testing.assert_array_equal(np.asarray(vnp.rollaxis(m, axis, start)),
                                          np.rollaxis(m, axis, start))  # fmt: skip
    with pytest.raises(ValueError, match="rot90: axes must differ"):
        vnp.rot90(m, 1, (1, 1))
    with pytest.raises(ValueError, match="rollaxis: start 5 is out of range"):
        vnp.rollaxis(m, 0, 5)


def test_partition_and_argpartition_satisfy_numpys_contract():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 7)).astype(np.float32)
    for kth in (0, 3, 6, -1):
        part = np.asarray(vnp.partition(a, kth, axis=1))
        k = kth % 7
        np.testing.assert_array_equal(part[:, k], np.partition(a, kth, axis=1)[:, k])
        pivot = part[:, k : k + 1]
        assert (part[:, :k] <= pivot).all() and (part[:, k + 1 :] >= pivot).all()
        idx = np.asarray(vnp.argpartition(a, kth, axis=1))
        np.testing.assert_array_equal(np.take_along_axis(a, idx, 1), part)
    g = vfunc.grad(lambda v: vnp.partition(v, 2)[2])(np.array([3.0, 1.0, 2.0, 5.0]))
    np.testing.assert_array_equal(np.asarray(g), [1.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="partition: kth=7 is out of range"):
        vnp.partition(a, 7)


def test_cross_matches_numpy_and_differentiates(x64):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    np.testing.assert_allclose(np.asarray(vnp.cross(a, b)), np.cross(a, b), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(vnp.cross(a.T, b, axisa=0)), np.cross(a.T, b, axisa=0))
    np.testing.assert_allclose(np.asarray(vnp.cross(a.T, b.T, axis=0)), np.cross(a.T, b.T, axis=0))
    a2, b2 = a[:, :2], b[:, :2]
    # 2-vectors (deprecated by NumPy 2, kept by JAX): a zero z component
    a3 = np.concatenate([a2, np.zeros((5, 1))], axis=1)
    b3 = np.concatenate([b2, np.zeros((5, 1))], axis=1)
    np.testing.assert_allclose(np.asarray(vnp.cross(a2, b2)), np.cross(a3, b3)[:, 2], rtol=1e-15)
    np.testing.assert_allclose(np.asarray(vnp.cross(a2, b)), np.cross(a3, b), rtol=1e-15)
    from vfunc.testing import check_grads

    check_grads(vnp.cross, [a, b], order=2)
    with pytest.raises(ShapeError, match="cross: vectors must have 2 or 3 components"):
        vnp.cross(np.ones(4), np.ones(4))


def test_gradient_matches_numpy(x64):
    rng = np.random.default_rng(5)
    f = rng.standard_normal((4, 6))
    for args, kw in (((), {}), ((0.5,), {}), ((0.5, 2.0), {}), ((), {"axis": 1}),
                     ((3.0,), {"axis": -2})):  # fmt: skip
        got = vnp.gradient(f, *args, **kw)
        want = np.gradient(f, *args, **kw)
        if isinstance(want, (list, tuple)):
            assert len(got) == len(want)
            for g, w in zip(got, want, strict=True):
                np.testing.assert_allclose(np.asarray(g), w, rtol=1e-14)
        else:
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(vnp.gradient(np.array([1, 4, 9, 16]))),
                               np.gradient(np.array([1, 4, 9, 16])))  # fmt: skip
    with pytest.raises(ValueError, match="gradient: axis 0 has 1 element"):
        vnp.gradient(np.ones(1))
    with pytest.raises(NotImplementedError, match="coordinate arrays"):
        vnp.gradient(f[0], np.arange(6.0))


def test_clip_takes_numpy2_keywords():
    x = vnp.array([-2.0, 0.5, 3.0])
    np.testing.assert_array_equal(np.asarray(vnp.clip(x, min=0.0, max=1.0)), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(np.asarray(vnp.clip(x, max=0.0)), [-2.0, 0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(vnp.clip(x, a_min=0.0)), [0.0, 0.5, 3.0])
    np.testing.assert_array_equal(np.asarray(x.clip(max=1.0)), [-2.0, 0.5, 1.0])
    g = vfunc.grad(lambda v: vnp.sum(vnp.clip(v, min=0.0, max=1.0)))(x)
    np.testing.assert_array_equal(np.asarray(g), [0.0, 1.0, 0.0])
    with pytest.raises(TypeError, match="clip: pass min= or a_min=, not both"):
        vnp.clip(x, min=0.0, a_min=0.0)


@pytest.mark.parametrize("n, m", [(5, 3), (3, 5), (4, 4), (1, 3), (6, 1), (2, 7), (7, 2)])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_convolve_and_correlate_match_numpy(n, m, mode, x64):
    rng = np.random.default_rng(n * 10 + m)
    a, v = rng.standard_normal(n), rng.standard_normal(m)
    np.testing.assert_allclose(np.asarray(vnp.convolve(a, v, mode)), np.convolve(a, v, mode),
                               rtol=1e-13, atol=1e-14)  # fmt: skip
    np.testing.assert_allclose(np.asarray(vnp.correlate(a, v, mode)), np.correlate(a, v, mode),
                               rtol=1e-13, atol=1e-14)  # fmt: skip
    from vfunc.testing import check_grads

    check_grads(lambda x, y: vnp.convolve(x, y, mode), [a, v], order=1)


def test_convolve_refuses_bad_input():
    with pytest.raises(ValueError, match="convolve: mode must be"):
        vnp.convolve(np.ones(3), np.ones(2), "circular")
    with pytest.raises(ShapeError, match=r"correlate: needs two non-empty 1-D arrays"):
        vnp.correlate(np.ones((2, 2)), np.ones(2))


def test_at_get_fill_mode_matches_a_padded_numpy_lookup():
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    idx = np.array([0, 5, -1, -4, 2])
    got = vnp.array(x).at[idx].get(mode="fill", fill_value=-1.0)
    padded = np.concatenate([x, np.full((1, 4), -1.0, np.float32)])
    safe = np.where((idx >= -3) & (idx < 3), idx % 3, 3)
    np.testing.assert_array_equal(np.asarray(got), padded[safe])
    # mixed with ints, slices and newaxis: the same layout as numpy's
    got = vnp.array(x).at[:, None, np.array([[0], [9]])].get(mode="fill")
    want = np.where(np.array([[0], [9]]) < 4, x[:, None, np.array([[0], [3]])], np.nan)
    np.testing.assert_array_equal(np.asarray(got), want)
    np.testing.assert_array_equal(np.asarray(vnp.array(x).at[7].get(mode="fill", fill_value=0)),
                                  np.zeros(4))  # fmt: skip
    assert int(vnp.arange(3).at[5].get(mode="fill")) == np.iinfo(np.int32).min
    # under jit the indices are traced; the gradient reaches only the gathered entries
    f = vfunc.jit(lambda a, i: a.at[i].get(mode="fill", fill_value=-1.0))
    np.testing.assert_array_equal(np.asarray(f(x, np.array([2, 3]))), [x[2], -np.ones(4)])
    g = vfunc.grad(lambda a: vnp.sum(a.at[np.array([0, 5, 0])].get(mode="fill")[:2]))(x)
    np.testing.assert_array_equal(np.asarray(g), np.outer([1, 0, 0], np.ones(4)))
    with pytest.raises(ValueError, match="at\\[\\].get: mode must be fill, clip or"):
        vnp.array(x).at[0].get(mode="wrap")


def test_sinc_derivatives_of_every_order_at_zero(x64):
    # sin(pi x)/(pi x) = sum_k (-1)^k (pi x)^(2k) / (2k+1)!, so its n-th derivative at 0 is
    # 0 for odd n and (-1)^(n/2) pi^n / (n+1) for even n (the constant branch would give 0).
    f = vnp.sinc
    for n in range(6):
        want = 0.0 if n % 2 else (-1) ** (n // 2) * np.pi**n / (n + 1)
        np.testing.assert_allclose(float(f(0.0)), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(float(vfunc.jit(f)(0.0)), want, rtol=1e-12, atol=1e-12)
        f = vfunc.grad(f)
    # Away from 0 the second derivative agrees with central differences of numpy's sinc.
    x, h = 0.3, 1e-4
    fd = (np.sinc(x + h) - 2 * np.sinc(x) + np.sinc(x - h)) / h**2
    np.testing.assert_allclose(float(vfunc.grad(vfunc.grad(vnp.sinc))(x)), fd, rtol=1e-6)
    batched = vfunc.vmap(vfunc.grad(vfunc.grad(vnp.sinc)))(vnp.array([0.0, 0.3]))
    np.testing.assert_allclose(np.asarray(batched), [-np.pi**2 / 3, fd], rtol=1e-6)
