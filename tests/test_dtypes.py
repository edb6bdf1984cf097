"""Dtype policy: JAX's promotion table, weak types, canonicalization and unsupported dtypes.

The expected table below is written out by hand from JAX's documented type promotion lattice
(``bool -> i* -> {u8, i8}``, ``u8 -> {i16, u16}``, ..., ``u64 -> f*``, ``i64 -> f*``,
``f* -> {f16, c*}``, ``f16 -> f32 -> {f64, c64}``, ``f64 -> c128``, ``c* -> c64 -> c128``),
as shown in JAX's "Type promotion semantics" page (without bfloat16) with x64 enabled. It is
deliberately not computed from ``vfunc.dtypes``, so a wrong edge in vfunc's lattice fails here.
With x64 off, JAX canonicalizes every result: 64-bit dtypes narrow to their 32-bit partners.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import dtypes
from vfunc.errors import DtypeError

# 32-bit defaults whatever the environment says; a test asking for ``x64`` overrides it.
pytestmark = pytest.mark.usefixtures("x64_off")


# ----------------------------------------------------------------------------------------------
# The expected table

STRONG = {
    "b1": np.dtype(np.bool_),
    "u1": np.dtype(np.uint8), "u2": np.dtype(np.uint16),
    "u4": np.dtype(np.uint32), "u8": np.dtype(np.uint64),
    "i1": np.dtype(np.int8), "i2": np.dtype(np.int16),
    "i4": np.dtype(np.int32), "i8": np.dtype(np.int64),
    "f2": np.dtype(np.float16), "f4": np.dtype(np.float32), "f8": np.dtype(np.float64),
    "c4": np.dtype(np.complex64), "c8": np.dtype(np.complex128),
}  # fmt: skip
WEAK = ("i*", "f*", "c*")
NAMES = (*STRONG, *WEAK)

# Rows and columns in NAMES order. x64 enabled: i* is weak int64, f* weak float64, c* weak
# complex128.
# fmt: off
JAX_TABLE = """
     b1  u1  u2  u4  u8  i1  i2  i4  i8  f2  f4  f8  c4  c8  i*  f*  c*
b1   b1  u1  u2  u4  u8  i1  i2  i4  i8  f2  f4  f8  c4  c8  i*  f*  c*
u1   u1  u1  u2  u4  u8  i2  i2  i4  i8  f2  f4  f8  c4  c8  u1  f*  c*
u2   u2  u2  u2  u4  u8  i4  i4  i4  i8  f2  f4  f8  c4  c8  u2  f*  c*
u4   u4  u4  u4  u4  u8  i8  i8  i8  i8  f2  f4  f8  c4  c8  u4  f*  c*
u8   u8  u8  u8  u8  u8  f*  f*  f*  f*  f2  f4  f8  c4  c8  u8  f*  c*
i1   i1  i2  i4  i8  f*  i1  i2  i4  i8  f2  f4  f8  c4  c8  i1  f*  c*
i2   i2  i2  i4  i8  f*  i2  i2  i4  i8  f2  f4  f8  c4  c8  i2  f*  c*
i4   i4  i4  i4  i8  f*  i4  i4  i4  i8  f2  f4  f8  c4  c8  i4  f*  c*
i8   i8  i8  i8  i8  f*  i8  i8  i8  i8  f2  f4  f8  c4  c8  i8  f*  c*
f2   f2  f2  f2  f2  f2  f2  f2  f2  f2  f2  f4  f8  c4  c8  f2  f2  c4
f4   f4  f4  f4  f4  f4  f4  f4  f4  f4  f4  f4  f8  c4  c8  f4  f4  c4
f8   f8  f8  f8  f8  f8  f8  f8  f8  f8  f8  f8  f8  c8  c8  f8  f8  c8
c4   c4  c4  c4  c4  c4  c4  c4  c4  c4  c4  c4  c8  c4  c8  c4  c4  c4
c8   c8  c8  c8  c8  c8  c8  c8  c8  c8  c8  c8  c8  c8  c8  c8  c8  c8
i*   i*  u1  u2  u4  u8  i1  i2  i4  i8  f2  f4  f8  c4  c8  i*  f*  c*
f*   f*  f*  f*  f*  f*  f*  f*  f*  f*  f2  f4  f8  c4  c8  f*  f*  c*
c*   c*  c*  c*  c*  c*  c*  c*  c*  c*  c4  c4  c8  c4  c8  c*  c*  c*
"""
# fmt: on


def _parse_table() -> dict[tuple[str, str], str]:
    header, *rows = [line.split() for line in JAX_TABLE.strip().splitlines()]
    table = {}
    for row in rows:
        for col, entry in zip(header, row[1:], strict=True):
            table[row[0], col] = entry
    return table


TABLE = _parse_table()
NARROW = {"u8": "u4", "i8": "i4", "f8": "f4", "c8": "c4"}
CANONICAL_NAMES = tuple(n for n in STRONG if n not in NARROW)
DEFAULTS_X64 = {"i*": STRONG["i8"], "f*": STRONG["f8"], "c*": STRONG["c8"]}
DEFAULTS_32 = {"i*": STRONG["i4"], "f*": STRONG["f4"], "c*": STRONG["c4"]}


def typed(name: str, x64: bool) -> tuple[np.dtype, bool]:
    """A table name as the ``(dtype, weak_type)`` pair ``promote`` takes."""
    if name in WEAK:
        return (DEFAULTS_X64 if x64 else DEFAULTS_32)[name], True
    return STRONG[name], False


def expected(a: str, b: str, x64: bool) -> tuple[np.dtype, bool]:
    """JAX's ``(dtype, weak_type)`` for mixing ``a`` and ``b``."""
    entry = TABLE[a, b]
    if entry in WEAK:
        return (DEFAULTS_X64 if x64 else DEFAULTS_32)[entry], True
    return STRONG[entry if x64 else NARROW.get(entry, entry)], False


def test_expected_table_is_symmetric_and_complete():
    # A sanity check of the hand-written table itself.
    assert set(TABLE) == set(itertools.product(NAMES, NAMES))
    for a, b in TABLE:
        assert TABLE[a, b] == TABLE[b, a], (a, b)
        assert TABLE[a, a] == a


# ----------------------------------------------------------------------------------------------
# dtypes.promote on every pair


@pytest.mark.parametrize("b", NAMES)
@pytest.mark.parametrize("a", NAMES)
def test_promote_pair_x64(a, b, x64):
    assert dtypes.promote(typed(a, True), typed(b, True)) == expected(a, b, True)


@pytest.mark.parametrize("b", CANONICAL_NAMES + WEAK)
@pytest.mark.parametrize("a", CANONICAL_NAMES + WEAK)
def test_promote_pair_without_x64_narrows(a, b):
    # Inputs are the dtypes a vfunc Array can hold with x64 off (no 64-bit ones).
    assert dtypes.promote(typed(a, False), typed(b, False)) == expected(a, b, False)


@pytest.mark.parametrize("b", tuple(NARROW))
@pytest.mark.parametrize("a", NAMES)
def test_promote_always_returns_canonical_dtype(a, b):
    # promote's docstring: "Returns the canonical result dtype". A 64-bit operand (e.g. an
    # Array made while x64 was on) must not leak a 64-bit result once x64 is off.
    dtype, weak = dtypes.promote(typed(a, False), (STRONG[b], False))
    assert dtype == expected(a, b, False)[0]
    assert weak is expected(a, b, False)[1]


@pytest.mark.parametrize(
    ("names", "result"),
    [
        (("i*", "i*", "i*"), "i*"),
        (("i*", "f*", "i*"), "f*"),
        (("i*", "f*", "c*"), "c*"),
        (("b1", "i*", "f*"), "f*"),
        (("u1", "i1", "f*"), "f*"),
        (("u1", "i1", "i*"), "i2"),
        (("u1", "u2", "i1"), "i4"),
        (("u4", "i1", "f2"), "f2"),
        (("f2", "c*", "f4"), "c4"),
        (("u8", "i1", "f2"), "f2"),
        (("u8", "i8", "i*"), "f*"),
        (("i1", "i*", "i*", "i*"), "i1"),
        (("b1", "b1", "b1"), "b1"),
    ],
)
def test_promote_several(names, result, x64):
    want = (DEFAULTS_X64[result], True) if result in WEAK else (STRONG[result], False)
    got = dtypes.promote(*[typed(n, True) for n in names])
    assert got == want
    # The order of the arguments never matters (a lattice join).
    assert dtypes.promote(*[typed(n, True) for n in reversed(names)]) == want


def test_promote_of_equal_64_bit_dtypes_narrows_without_x64():
    # The all-equal fast path canonicalizes too (an Array made while x64 was on).
    f64, i64 = np.dtype(np.float64), np.dtype(np.int64)
    assert dtypes.promote((f64, False), (f64, False)) == (np.dtype(np.float32), False)
    assert dtypes.promote((i64, True), (i64, True)) == (np.dtype(np.int32), True)
    assert dtypes.promote((f64, False)) == (np.dtype(np.float32), False)


def test_promote_single_argument_keeps_weak_type():
    assert dtypes.promote((np.dtype(np.float32), True)) == (np.dtype(np.float32), True)
    assert dtypes.promote((np.dtype(np.int8), False)) == (np.dtype(np.int8), False)


def test_bool_results_are_never_weak():
    weak = vnp.array(1.0)
    for out in (weak < 2.0, vnp.equal(1, 2), vnp.logical_and(1, 2), vnp.isnan(weak),
                vnp.isfinite(1), vnp.logical_not(weak), vnp.add(True, True)):  # fmt: skip
        assert (out.dtype, out.weak_type) == (dtypes.bool_, False)


# ----------------------------------------------------------------------------------------------
# vnp.add: what users see (result dtype and weak type)


def _array(name: str):
    """A 2-element Array of the table dtype ``name`` (strong) or a Python scalar (weak)."""
    if name == "i*":
        return 1
    if name == "f*":
        return 1.0
    if name == "c*":
        return 1j
    return vnp.array(np.array([1, 0], dtype=STRONG[name]))


ADD_PAIRS = [
    # array + array
    ("i1", "u1"), ("u4", "i4"), ("i4", "f2"), ("u1", "f2"), ("f2", "f4"), ("f4", "c4"),
    ("b1", "b1"), ("b1", "i1"), ("b1", "f4"), ("u2", "u4"), ("i2", "u2"), ("f2", "c4"),
    # array + Python scalar
    ("i1", "i*"), ("u1", "i*"), ("f2", "f*"), ("i4", "f*"), ("i1", "f*"), ("f2", "c*"),
    ("f4", "c*"), ("u1", "c*"), ("b1", "i*"), ("b1", "f*"), ("b1", "c*"), ("c4", "f*"),
    # Python scalar + Python scalar
    ("i*", "i*"), ("i*", "f*"), ("f*", "c*"), ("i*", "c*"), ("f*", "f*"),
]  # fmt: skip


@pytest.mark.parametrize(("a", "b"), ADD_PAIRS + [(b, a) for a, b in ADD_PAIRS if a != b])
def test_add_result_dtype_and_weak_type(a, b):
    want_dtype, want_weak = expected(a, b, False)
    out = vnp.add(_array(a), _array(b))
    assert isinstance(out, vfunc.Array)
    assert out.dtype == want_dtype
    assert out.weak_type is want_weak


@pytest.mark.parametrize(
    ("a", "b"), [("i8", "u8"), ("u4", "i4"), ("i8", "f*"), ("i*", "i*"), ("f*", "f*"),
                 ("i*", "c*"), ("u8", "i*"), ("i1", "u8"), ("f8", "c4"), ("u1", "i8")],
)  # fmt: skip
def test_add_result_dtype_and_weak_type_x64(a, b, x64):
    want_dtype, want_weak = expected(a, b, True)
    out = vnp.add(_array(a), _array(b))
    assert out.dtype == want_dtype
    assert out.weak_type is want_weak


@pytest.mark.parametrize("op", [vnp.subtract, vnp.multiply, vnp.maximum, vnp.power])
@pytest.mark.parametrize(
    ("a", "b"), [("i1", "u1"), ("u4", "i4"), ("i1", "i*"), ("i4", "f*"), ("f2", "f4"),
                 ("u1", "f2"), ("i*", "f*")],
)  # fmt: skip
def test_other_binary_ufuncs_promote_like_add(op, a, b):
    want_dtype, want_weak = expected(a, b, False)
    out = op(_array(a), _array(b))
    assert out.dtype == want_dtype
    assert out.weak_type is want_weak


def test_add_of_python_bool_and_int_is_weak_int():
    # JAX: bool + i* = i* (weak int32); the bool must not make the result strong.
    out = vnp.add(True, 1)
    assert (out.dtype, out.weak_type, out.item()) == (np.dtype(np.int32), True, 2)
    out = vnp.add(vnp.array([True, False]), 1)
    assert (out.dtype, out.weak_type, out.tolist()) == (np.dtype(np.int32), True, [2, 1])


def test_add_of_bools_is_logical_or_and_bool():
    out = vnp.add(True, True)
    assert (out.dtype, out.weak_type, out.item()) == (dtypes.bool_, False, True)


def test_weak_arrays_promote_like_python_scalars():
    weak_float = vnp.array(2.0)
    weak_int = vnp.array(3)
    assert weak_float.weak_type and weak_int.weak_type
    half = vnp.array(np.ones(2, np.float16))
    out = weak_float + half
    assert (out.dtype, out.weak_type) == (np.dtype(np.float16), False)
    out = weak_int + weak_float
    assert (out.dtype, out.weak_type) == (np.dtype(np.float32), True)
    out = weak_int + vnp.array(np.ones(2, np.uint8))
    assert (out.dtype, out.weak_type) == (np.dtype(np.uint8), False)


def test_result_depends_on_dtypes_not_values():
    # Unlike NumPy 1.x value-based casting: a large Python float still adopts float16.
    out = vnp.array(np.ones(2, np.float16)) + 1e6
    assert out.dtype == np.float16
    assert np.isinf(np.asarray(out)).all()
    out = vnp.array(np.ones(2, np.float16)) * -1e6
    assert out.dtype == np.float16 and (np.asarray(out) == -np.inf).all()
    out = vnp.add(vnp.ones(2), 1e300)  # too big for float32: inf, quietly, as in JAX
    assert out.dtype == np.float32 and np.isinf(np.asarray(out)).all()
    big = vnp.array(np.array([1e300, -1e300]))  # float64 numpy input narrowed without x64
    assert big.dtype == np.float32 and big.tolist() == [np.inf, -np.inf]


@pytest.mark.parametrize(
    ("value", "dtype"),
    [(np.float64(2.0), np.float32), (np.complex128(1j), np.complex64),
     (np.int64(2), np.int32), (np.float32(2.0), np.float32), (np.bool_(True), np.bool_),
     (np.float16(2.0), np.float16)],
)  # fmt: skip
def test_numpy_scalars_are_strongly_typed(value, dtype):
    # JAX treats only Python int/float/complex as weak; np.float64 subclasses float but is a
    # NumPy scalar with a definite dtype.
    out = vnp.array(value)
    assert (out.dtype, out.weak_type) == (np.dtype(dtype), False)


def test_weak_and_strong_scalars_side_by_side():
    # Only exact Python scalars are weak, wherever they appear.
    half = vnp.array(np.ones(2, np.float16))
    assert (half * 2.0).dtype == np.float16
    assert (half * np.float32(2.0)).dtype == np.float32
    assert vnp.where(True, half, np.float64(0.0)).dtype == np.float32
    assert vnp.where(True, half, 0.0).dtype == np.float16
    out = vnp.asarray(np.float64(2.0))
    assert (out.dtype, out.weak_type) == (np.dtype(np.float32), False)
    out = vnp.array(2.0)
    assert (out.dtype, out.weak_type) == (np.dtype(np.float32), True)


def test_numpy_float64_scalar_promotes_strongly():
    half = vnp.array(np.ones(2, np.float16))
    out = half + np.float64(1.0)  # f16 + f64 = f64, narrowed to f32; not f16 as a weak float
    assert (out.dtype, out.weak_type) == (np.dtype(np.float32), False)
    out = vnp.add(half, np.complex128(1.0))
    assert (out.dtype, out.weak_type) == (np.dtype(np.complex64), False)


def test_inexact_ops_promote_integers_to_default_float():
    i8 = vnp.array(np.array([1, 2], np.int8))
    assert vnp.divide(i8, i8).dtype == np.float32
    assert vnp.sin(i8).dtype == np.float32
    assert vnp.sqrt(vnp.array([True])).dtype == np.float32
    out = vnp.divide(1, 2)
    assert (out.dtype, out.weak_type, out.item()) == (np.dtype(np.float32), True, 0.5)
    half = vnp.array(np.ones(2, np.float16))
    assert vnp.divide(half, 2).dtype == np.float16


def test_inexact_ops_promote_integers_to_float64_with_x64(x64):
    i8 = vnp.array(np.array([1, 2], np.int8))
    assert vnp.divide(i8, i8).dtype == np.float64
    assert vnp.sin(i8).dtype == np.float64


# ----------------------------------------------------------------------------------------------
# canonicalize and x64


ALL_DTYPES = [np.dtype(t) for t in STRONG.values()]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_canonicalize_narrows_without_x64(dtype):
    narrow = {
        np.dtype(np.int64): np.int32,
        np.dtype(np.uint64): np.uint32,
        np.dtype(np.float64): np.float32,
        np.dtype(np.complex128): np.complex64,
    }
    assert dtypes.canonicalize(dtype) == np.dtype(narrow.get(dtype, dtype))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_canonicalize_keeps_every_dtype_with_x64(dtype, x64):
    assert dtypes.canonicalize(dtype) == dtype


def test_canonicalize_python_types_and_strings():
    assert dtypes.canonicalize(float) == np.float32
    assert dtypes.canonicalize(int) == np.int32
    assert dtypes.canonicalize(complex) == np.complex64
    assert dtypes.canonicalize(bool) == np.bool_
    assert dtypes.canonicalize("float64") == np.float32
    assert dtypes.canonicalize("uint8") == np.uint8


def test_canonicalize_python_types_with_x64(x64):
    assert dtypes.canonicalize(float) == np.float64
    assert dtypes.canonicalize(int) == np.int64
    assert dtypes.canonicalize(complex) == np.complex128


def test_defaults_follow_x64():
    assert (dtypes.default_int(), dtypes.default_float(), dtypes.default_complex()) == (
        np.int32, np.float32, np.complex64)  # fmt: skip
    vfunc.config.update("enable_x64", True)
    assert (dtypes.default_int(), dtypes.default_float(), dtypes.default_complex()) == (
        np.int64, np.float64, np.complex128)  # fmt: skip
    # (the autouse fixture restores the flag)


def test_creation_follows_x64(x64):
    assert vnp.zeros(2).dtype == np.float64
    assert vnp.arange(3).dtype == np.int64
    assert vnp.array(np.arange(3)).dtype == np.int64
    assert vnp.array(np.ones(2)).dtype == np.float64
    assert vnp.array(np.ones(2, np.complex128)).dtype == np.complex128
    weak = vnp.array(1.0)
    assert (weak.dtype, weak.weak_type) == (np.dtype(np.float64), True)
    weak = vnp.array(1)
    assert (weak.dtype, weak.weak_type) == (np.dtype(np.int64), True)


def test_creation_narrows_without_x64():
    assert vnp.array(np.arange(3)).dtype == np.int32
    assert vnp.array(np.arange(3, dtype=np.uint64)).dtype == np.uint32
    assert vnp.array(np.ones(2)).dtype == np.float32
    assert vnp.array(np.ones(2, np.complex128)).dtype == np.complex64
    assert vnp.zeros(2, dtype=np.float64).dtype == np.float32
    assert vnp.arange(3, dtype=np.int64).dtype == np.int32


@pytest.mark.parametrize(
    ("name", "short"),
    [("bool", "bool"), ("float32", "f32"), ("int32", "i32"), ("uint8", "u8"),
     ("complex128", "c128"), ("float16", "f16")],
)  # fmt: skip
def test_short_name(name, short):
    assert dtypes.short_name(np.dtype(name)) == short


def test_kind_predicates():
    assert dtypes.is_float(np.dtype(np.float16)) and dtypes.is_float(np.dtype(np.complex64))
    assert not dtypes.is_float(np.dtype(np.int32)) and not dtypes.is_float(dtypes.bool_)
    assert dtypes.is_int(np.dtype(np.uint8)) and dtypes.is_int(np.dtype(np.int64))
    assert not dtypes.is_int(dtypes.bool_) and not dtypes.is_int(np.dtype(np.float32))


@pytest.mark.parametrize(
    ("value", "dtype"),
    [(True, np.bool_), (3, np.int32), (3.0, np.float32), (3j, np.complex64)],
)
def test_scalar_dtype(value, dtype):
    assert dtypes.scalar_dtype(value) == dtype


def test_scalar_dtype_rejects_non_scalars():
    with pytest.raises(TypeError, match="str"):
        dtypes.scalar_dtype("3")


# ----------------------------------------------------------------------------------------------
# Unsupported dtypes, overflow, byte order


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (np.array([1, "a"], dtype=object), "object"),
        (np.array(["ab", "c"]), "<U2"),
        (np.array([b"ab"]), "|S2"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64"),
        (["a", "b"], "<U1"),
    ],
)
def test_unsupported_dtypes_raise_type_error_naming_the_dtype(value, name):
    with pytest.raises(TypeError, match=f"dtype {name}"):
        vnp.array(value)
    with pytest.raises(DtypeError, match=f"dtype {name}"):
        vnp.asarray(value)


@pytest.mark.parametrize("dtype", [object, str, "datetime64[s]", "V8", [("a", "f4")]], ids=str)
def test_canonicalize_rejects_unsupported(dtype):
    with pytest.raises(TypeError, match="not supported"):
        dtypes.canonicalize(dtype)


def test_canonicalize_rejects_non_dtypes():
    with pytest.raises(TypeError, match="'not a dtype'"):
        dtypes.canonicalize("not a dtype")


def test_unsupported_dtype_in_arithmetic_and_creation():
    with pytest.raises(TypeError, match="<U1"):
        vnp.add(np.array(["a"]), 1)
    with pytest.raises(TypeError, match="object"):
        vnp.ones(3) + np.array([1, 2, 3], dtype=object)
    with pytest.raises(TypeError, match="not supported"):
        vnp.zeros(3, dtype=str)


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 2**40, 2**64])
def test_python_int_too_big_for_int32_overflows(value):
    with pytest.raises(OverflowError, match=f"{value}.*int32"):
        vnp.array(value)
    with pytest.raises(OverflowError, match="int32"):
        vnp.ones(2, vnp.int32) + value
    with pytest.raises(OverflowError):
        vnp.full(2, value)


def test_python_int_at_int32_limits_is_fine():
    assert vnp.array(2**31 - 1).item() == 2**31 - 1
    assert vnp.array(-(2**31)).item() == -(2**31)


def test_python_int_too_big_in_a_list_overflows():
    # A nested list must not wrap around silently ([2**40] would become [0]).
    with pytest.raises(OverflowError):
        vnp.array([1, 2**40])


@pytest.mark.parametrize(
    "value", [[[1], [2**40]], ((1,), (2**31,)), [2**63], [1, 2**63], [2**64], [-(2**31) - 1]]
)
def test_python_ints_too_big_in_nested_lists_overflow(value):
    with pytest.raises(OverflowError, match="int32"):
        vnp.array(value)


def test_lists_of_python_ints_that_fit_are_fine():
    out = vnp.array([[1, -(2**31)], [2**31 - 1, True]])
    assert (out.dtype, out.tolist()) == (np.dtype(np.int32), [[1, -(2**31)], [2**31 - 1, 1]])
    out = vnp.array([1.5, 2**40])  # a float list: no integer range to check
    assert out.dtype == np.float32 and out.tolist()[1] == 2.0**40


def test_python_int_too_big_in_a_list_with_x64(x64):
    assert vnp.array([1, 2**40]).tolist() == [1, 2**40]
    with pytest.raises(OverflowError, match="int64"):
        vnp.array([2**63])  # a list of Python ints is int64 in JAX, not numpy's uint64
    with pytest.raises(OverflowError, match="int64"):
        vnp.array([1, 2**63])  # (numpy infers float64 here)


def test_python_int_out_of_range_for_small_dtype_overflows():
    with pytest.raises(OverflowError, match="300.*int8"):
        vnp.array(np.ones(2, np.int8)) + 300
    with pytest.raises(OverflowError, match="uint8"):
        vnp.array(np.ones(2, np.uint8)) + -1
    out = vnp.array(np.ones(2, np.int8)) + 100
    assert (out.dtype, out.tolist()) == (np.dtype(np.int8), [101, 101])


def test_big_python_int_fine_with_x64(x64):
    out = vnp.array(2**40)
    assert (out.dtype, out.weak_type, out.item()) == (np.dtype(np.int64), True, 2**40)
    with pytest.raises(OverflowError, match="int64"):
        vnp.array(2**63)


def test_python_int_into_float_array_is_converted():
    out = vnp.ones(2) + (2**40 + 3)
    assert out.dtype == np.float32
    assert out.tolist() == [float(np.float32(2**40 + 3) + np.float32(1))] * 2


@pytest.mark.parametrize(
    ("dtype", "native"),
    [(">i4", np.int32), (">f4", np.float32), (">f8", np.float32), (">i8", np.int32),
     (">c8", np.complex64), (">u2", np.uint16), (">f2", np.float16)],
)  # fmt: skip
def test_big_endian_numpy_input_is_accepted(dtype, native):
    source = np.array([1, 2, 3], dtype=dtype)
    x = vnp.array(source)
    assert x.dtype == np.dtype(native)
    assert x.dtype.isnative
    assert x.tolist() == [1, 2, 3]
    assert dtypes.canonicalize(dtype) == np.dtype(native)


@pytest.mark.parametrize("dtype", [">i4", ">f4", ">f8"])
def test_big_endian_numpy_input_in_arithmetic(dtype):
    source = np.array([1, 2, 3], dtype=dtype)
    out = vnp.add(source, 1)
    assert out.tolist() == [2, 3, 4]
    assert out.dtype == dtypes.canonicalize(dtype) and out.dtype.isnative
    out = vnp.ones(3, vnp.float32) * source
    assert out.tolist() == [1.0, 2.0, 3.0]
    assert vnp.sum(source).item() == 6


def test_big_endian_numpy_input_in_more_functions():
    source = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=">f4")
    assert vnp.matmul(source, source).tolist() == [[7.0, 10.0], [15.0, 22.0]]
    assert vnp.where(source > 2, source, 0.0).tolist() == [[0.0, 0.0], [3.0, 4.0]]
    assert vnp.maximum(source, np.array(2, dtype=">i2")).tolist() == [[2.0, 2.0], [3.0, 4.0]]
    assert vnp.sin(np.array([0.0], dtype=">f8")).tolist() == [0.0]


def test_big_endian_with_x64(x64):
    x = vnp.array(np.array([1, 2], dtype=">i8"))
    assert x.dtype == np.dtype(np.int64) and x.dtype.isnative
    assert dtypes.canonicalize(">f8") == np.dtype(np.float64)
