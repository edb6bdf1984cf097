"""The compiler's vectorizable transcendentals (vfunc.primitives.scalar_math): error in
ulps against higher-precision NumPy / math references over dense grids, random bit patterns and
hypothesis-drawn values, special values (NaN, +-inf, +-0, subnormals, overflow), both dtypes,
inside kernels compiled with and without fastmath, and that the kernels really vectorize."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numba import njit, prange, types

from vfunc.primitives import scalar_math as fm

NAMES = ["exp", "expm1", "log", "log1p", "tanh", "logistic", "erf", "sin", "cos"]
DTYPES = [np.float32, np.float64]
MAX_ULP = 4.0


# ----------------------------------------------------------------------------------------------
# Kernels, the way the compiler's fused loops call the functions. Module-level with cache=True
# so that reruns skip compilation; fastmath=True is what the compiler emits, and the strict
# kernels check that the results do not depend on the caller's flags.


@njit(fastmath=True, cache=True)
def _fast_exp(x, out):
    for i in range(x.size):
        out[i] = fm.exp(x[i])


@njit(fastmath=True, cache=True)
def _fast_expm1(x, out):
    for i in range(x.size):
        out[i] = fm.expm1(x[i])


@njit(fastmath=True, cache=True)
def _fast_log(x, out):
    for i in range(x.size):
        out[i] = fm.log(x[i])


@njit(fastmath=True, cache=True)
def _fast_log1p(x, out):
    for i in range(x.size):
        out[i] = fm.log1p(x[i])


@njit(fastmath=True, cache=True)
def _fast_tanh(x, out):
    for i in range(x.size):
        out[i] = fm.tanh(x[i])


@njit(fastmath=True, cache=True)
def _fast_logistic(x, out):
    for i in range(x.size):
        out[i] = fm.logistic(x[i])


@njit(fastmath=True, cache=True)
def _fast_erf(x, out):
    for i in range(x.size):
        out[i] = fm.erf(x[i])


@njit(fastmath=True, cache=True)
def _fast_sin(x, out):
    for i in range(x.size):
        out[i] = fm.sin(x[i])


@njit(fastmath=True, cache=True)
def _fast_cos(x, out):
    for i in range(x.size):
        out[i] = fm.cos(x[i])


@njit(cache=True)
def _strict_all(x, out):
    """All nine functions in one IEEE-strict kernel (one compilation per dtype)."""
    for i in range(x.size):
        v = x[i]
        out[0, i] = fm.exp(v)
        out[1, i] = fm.expm1(v)
        out[2, i] = fm.log(v)
        out[3, i] = fm.log1p(v)
        out[4, i] = fm.tanh(v)
        out[5, i] = fm.logistic(v)
        out[6, i] = fm.erf(v)
        out[7, i] = fm.sin(v)
        out[8, i] = fm.cos(v)


@njit(fastmath={"contract", "nsz"}, error_model="numpy", cache=True)
def _fusion_flags_all(x, out):
    """All nine under the flags of the fusion pass's kernels."""
    for i in range(x.size):
        v = x[i]
        out[0, i] = fm.exp(v)
        out[1, i] = fm.expm1(v)
        out[2, i] = fm.log(v)
        out[3, i] = fm.log1p(v)
        out[4, i] = fm.tanh(v)
        out[5, i] = fm.logistic(v)
        out[6, i] = fm.erf(v)
        out[7, i] = fm.sin(v)
        out[8, i] = fm.cos(v)


@njit(parallel=True, fastmath=True, cache=True)
def _parallel_tanh_exp(x, out):
    for i in prange(x.size):
        out[i] = fm.tanh(x[i]) + fm.exp(x[i])


@njit(cache=True)
def _all_nine(x):
    return (
        fm.exp(x),
        fm.expm1(x),
        fm.log(x),
        fm.log1p(x),
        fm.tanh(x),
        fm.logistic(x),
        fm.erf(x),
        fm.sin(x),
        fm.cos(x),
    )


FAST = {
    "exp": _fast_exp,
    "expm1": _fast_expm1,
    "log": _fast_log,
    "log1p": _fast_log1p,
    "tanh": _fast_tanh,
    "logistic": _fast_logistic,
    "erf": _fast_erf,
    "sin": _fast_sin,
    "cos": _fast_cos,
}


def _recompile_after_fastmath_changes(kernels) -> None:
    """numba's on-disk cache only notices edits to this file: drop the cached kernels when
    they were compiled against another version of fastmath.py (told by ``fm.CODE_HASH``)."""
    marker = Path(kernels[0].stats.cache_path) / "test_fastmath.fastmath-hash"
    try:
        if marker.read_text() == fm.CODE_HASH:
            return
    except OSError:
        pass
    for kernel in kernels:
        kernel._cache.flush()
    try:
        marker.write_text(fm.CODE_HASH)
    except OSError:  # an unwritable cache: numba then does not cache either
        pass


_recompile_after_fastmath_changes(
    [*FAST.values(), _strict_all, _fusion_flags_all, _parallel_tanh_exp, _all_nine]
)


def run_fast(name: str, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    FAST[name](x, out)
    return out


# ----------------------------------------------------------------------------------------------
# References and the ulp measure

# x86 long double carries 64 mantissa bits: a reference for float64 results. Where long double
# is just double, the reference itself may be 1 ulp off, and the bound is widened by that.
_EXTENDED = np.finfo(np.longdouble).nmant >= 63
_erf64 = np.vectorize(math.erf, otypes=[np.float64])


def reference(name: str, x: np.ndarray) -> np.ndarray:
    """The function in a wider type than ``x`` (float64 for float32, long double for float64)."""
    wide = np.float64 if x.dtype == np.float32 else np.longdouble
    # the random bit patterns include signalling NaNs, which NumPy warns about when cast
    with np.errstate(all="ignore"):
        xw = x.astype(wide)
        if name == "logistic":
            return 1 / (1 + np.exp(-xw))
        if name == "erf":
            # math.erf is float64 libm (< 1 ulp); no wider erf is at hand.
            return _erf64(x.astype(np.float64)).astype(wide)
        return getattr(np, name)(xw)


def bound(name: str, dtype) -> float:
    loose_reference = dtype == np.float64 and (name == "erf" or not _EXTENDED)
    return MAX_ULP + (1.0 if loose_reference else 0.0)


def ulp_error(got: np.ndarray, want: np.ndarray, dtype) -> np.ndarray:
    """|got - want| in units of the spacing of the result's dtype at ``want``.

    Matching NaNs and matching infinities count as exact; anything else non-finite is inf.
    """
    with np.errstate(all="ignore"):
        rounded = want.astype(dtype)
        spacing = np.spacing(np.abs(rounded)).astype(want.dtype)
        err = np.abs(got.astype(want.dtype) - want) / spacing
    exact = (np.isnan(got) & np.isnan(want)) | (np.isinf(rounded) & (got == rounded))
    err = np.where(exact, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


def assert_ulp(name: str, x: np.ndarray, got: np.ndarray) -> None:
    dtype = x.dtype.type
    assert got.dtype == x.dtype
    want = reference(name, x)
    if name in ("sin", "cos"):
        beyond = ~(np.abs(x) <= fm.SIN_COS_MAX_ABS)
        assert np.isnan(got[beyond]).all(), x[beyond & ~np.isnan(got)]
        want = np.where(beyond, np.nan, want)
    err = ulp_error(got, want, dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= bound(name, dtype), (
        f"{name}({x[worst]!r}) = {got[worst]!r}, want {want[worst]!r}: {err[worst]:.3g} ulp"
    )
    # Exact zeros keep their sign, as in NumPy (expm1, log1p, tanh, erf, sin of -0 are -0).
    zero = (want == 0) & (got == 0)
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]))


# ----------------------------------------------------------------------------------------------
# Inputs

SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, 1e-30, -1e-30]

# Dense ranges that cover each function's interesting region, its overflow/underflow edges and
# the places where the implementation switches formula.
RANGES = {
    "exp": {np.float32: (-110.0, 92.0), np.float64: (-750.0, 712.0)},
    "expm1": {np.float32: (-20.0, 92.0), np.float64: (-40.0, 712.0)},
    "log": {np.float32: (0.0, 4.0), np.float64: (0.0, 4.0)},
    "log1p": {np.float32: (-1.0, 4.0), np.float64: (-1.0, 4.0)},
    "tanh": {np.float32: (-12.0, 12.0), np.float64: (-22.0, 22.0)},
    "logistic": {np.float32: (-110.0, 110.0), np.float64: (-750.0, 750.0)},
    "erf": {np.float32: (-5.0, 5.0), np.float64: (-7.0, 7.0)},
    "sin": {np.float32: (-20.0, 20.0), np.float64: (-20.0, 20.0)},
    "cos": {np.float32: (-20.0, 20.0), np.float64: (-20.0, 20.0)},
}


def grid(name: str, dtype, n: int = 20_000) -> np.ndarray:
    rng = np.random.default_rng(list(RANGES).index(name))
    info = np.finfo(dtype)
    lo, hi = RANGES[name][dtype]
    itype = np.int32 if dtype == np.float32 else np.int64
    parts = [
        np.array(SPECIAL, dtype=dtype),
        np.array([info.tiny, info.smallest_subnormal, info.max, info.eps], dtype=dtype),
        np.linspace(lo, hi, n, dtype=dtype),
        # every magnitude and sign, subnormals, infinities and NaNs included
        rng.integers(np.iinfo(itype).min, np.iinfo(itype).max, n, dtype=itype).view(dtype),
        # tiny arguments, where expm1/log1p/tanh/erf/sin must stay relatively accurate
        (np.geomspace(1e-12, 1.0, n // 4) * rng.choice([-1.0, 1.0], n // 4)).astype(dtype),
    ]
    if name in ("sin", "cos"):
        parts.append(rng.uniform(-1e4, 1e4, n).astype(dtype))
        parts.append(rng.uniform(-1.2e10, 1.2e10, n // 4).astype(dtype))
        # near multiples of pi/2, where the reduced argument cancels almost entirely
        parts.append((np.arange(1, 5_000) * (np.pi / 2)).astype(dtype))
    if name in ("log", "log1p"):
        parts.append(np.geomspace(float(info.tiny), float(info.max) / 4, n // 2).astype(dtype))
        parts.append((1.0 + np.linspace(-0.01, 0.01, n // 4)).astype(dtype))
    return np.concatenate(parts)


# ----------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", NAMES)
def test_accuracy_on_grids(name, dtype):
    x = grid(name, dtype)
    assert_ulp(name, x, run_fast(name, x))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kernel", [_strict_all, _fusion_flags_all], ids=["strict", "fusion"])
def test_accuracy_does_not_depend_on_callers_flags(kernel, dtype):
    # fastmath=True is the grid test. Inlined into a caller without fastmath the functions
    # must be just as accurate and must not raise (numba's default error model raises
    # ZeroDivisionError on float division by zero, for instance); likewise with the flags the
    # fusion pass compiles its kernels with.
    x = np.concatenate([grid(name, dtype, n=2_000) for name in NAMES])
    out = np.empty((len(NAMES), x.size), dtype=dtype)
    kernel(x, out)
    for row, name in enumerate(NAMES):
        assert_ulp(name, x, out[row])


def test_parallel_kernel():
    x = np.linspace(-30, 30, 100_001, dtype=np.float32)
    out = np.empty_like(x)
    _parallel_tanh_exp(x, out)
    np.testing.assert_array_equal(out, run_fast("tanh", x) + run_fast("exp", x))


# name -> [(x, expected)], for both dtypes; NaN compares as NaN, zeros by sign too.
# fmt: off
EXPECTED = {
    "exp": [(np.nan, np.nan), (np.inf, np.inf), (-np.inf, 0.0), (0.0, 1.0), (-0.0, 1.0),
            (1e30, np.inf), (-1e30, 0.0)],
    "expm1": [(np.nan, np.nan), (np.inf, np.inf), (-np.inf, -1.0), (0.0, 0.0), (-0.0, -0.0),
              (1e30, np.inf), (-1e30, -1.0)],
    "log": [(np.nan, np.nan), (np.inf, np.inf), (-np.inf, np.nan), (0.0, -np.inf),
            (-0.0, -np.inf), (1.0, 0.0), (-1.0, np.nan)],
    "log1p": [(np.nan, np.nan), (np.inf, np.inf), (-np.inf, np.nan), (0.0, 0.0), (-0.0, -0.0),
              (-1.0, -np.inf), (-2.0, np.nan)],
    "tanh": [(np.nan, np.nan), (np.inf, 1.0), (-np.inf, -1.0), (0.0, 0.0), (-0.0, -0.0),
             (1e30, 1.0), (-1e30, -1.0)],
    "logistic": [(np.nan, np.nan), (np.inf, 1.0), (-np.inf, 0.0), (0.0, 0.5), (-0.0, 0.5),
                 (1e30, 1.0), (-1e30, 0.0)],
    "erf": [(np.nan, np.nan), (np.inf, 1.0), (-np.inf, -1.0), (0.0, 0.0), (-0.0, -0.0),
            (1e30, 1.0), (-1e30, -1.0)],
    "sin": [(np.nan, np.nan), (np.inf, np.nan), (-np.inf, np.nan), (0.0, 0.0), (-0.0, -0.0),
            (1e30, np.nan)],
    "cos": [(np.nan, np.nan), (np.inf, np.nan), (-np.inf, np.nan), (0.0, 1.0), (-0.0, 1.0),
            (-1e30, np.nan)],
}
# fmt: on


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", NAMES)
def test_special_values(name, dtype):
    with np.errstate(over="ignore"):
        x = np.array([a for a, _ in EXPECTED[name]], dtype=dtype)
        want = np.array([b for _, b in EXPECTED[name]], dtype=dtype)
    got = run_fast(name, x)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got[want == 0]), np.signbit(want[want == 0]))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_overflow_and_subnormal_edges(dtype):
    info = np.finfo(dtype)
    # exp overflows exactly where log(max) is crossed and underflows gradually to 0
    edge = np.log(np.longdouble(info.max)).astype(dtype)
    x = np.array([np.nextafter(edge, dtype(0)), edge, np.nextafter(edge, dtype(np.inf))])
    got = run_fast("exp", x)
    assert np.isfinite(got[0]) and np.isinf(got[2])
    assert_ulp("exp", x, got)
    sub = np.log(np.array([info.smallest_subnormal * 3, info.tiny / 2], dtype=np.longdouble))
    x = sub.astype(dtype)
    got = run_fast("exp", x)
    assert (got > 0).all() and (got < info.tiny).all()
    assert_ulp("exp", x, got)
    # log of subnormals: the exponent comes from the scaled value, not the raw bits
    x = np.array([info.smallest_subnormal, info.tiny / 3, info.tiny], dtype=dtype)
    assert_ulp("log", x, run_fast("log", x))


def _floats(dtype):
    return hnp.arrays(
        dtype,
        st.integers(1, 40),
        elements=st.floats(width=np.finfo(dtype).bits, allow_nan=True, allow_infinity=True),
    )


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None)
@given(x32=_floats(np.float32), x64=_floats(np.float64), small=st.floats(-4.0, 4.0))
def test_hypothesis_values(name, x32, x64, small):
    for x in (x32, x64, np.array([small], dtype=np.float32), np.array([small])):
        assert_ulp(name, x, run_fast(name, x))


@pytest.mark.parametrize(
    "arg, result_type",
    [(np.float32(0.5), types.float32), (0.5, types.float64), (1, types.float64)],
    ids=["f32", "f64", "int"],
)
def test_result_type_follows_argument(arg, result_type):
    values = _all_nine(arg)
    sig = [s for s in _all_nine.nopython_signatures if s.args[0] == _all_nine.typeof_pyval(arg)]
    assert sig and set(sig[0].return_type.types) == {result_type}
    want = [reference(name, np.array([arg], dtype=np.float64))[0] for name in NAMES]
    np.testing.assert_allclose(values, want, rtol=1e-6)


def test_public_functions_callable_from_python_and_listed():
    assert set(fm.VECTORIZED) == set(NAMES)
    for name in NAMES:
        fn = fm.VECTORIZED[name]
        assert fn is getattr(fm, name) and fn.__doc__
    assert fm.exp(0.0) == 1.0
    assert fm.log(np.float32(1.0)) == 0.0


def test_fused_kernel_vectorizes_without_libm_calls():
    # The point of the module: a fastmath loop over these functions turns into SIMD code with
    # no call to libm left in it (a call would force one element at a time).
    @njit(fastmath=True)
    def fused(x, out):
        for i in range(x.size):
            v = x[i]
            out[i] = fm.tanh(v) + fm.erf(v) + fm.logistic(v) + fm.log1p(abs(v)) + fm.sin(v)

    x = np.linspace(-1, 1, 64, dtype=np.float32)
    out = np.empty_like(x)
    fused(x, out)
    ir_text = fused.inspect_llvm(fused.signatures[0])
    assert re.search(r"<\d+ x float>", ir_text)
    calls = set(re.findall(r"call [^@]*@([\w.]+)\(", ir_text))
    libm = r"(numba_)?(exp|expm1|log|log1p|tanh|erf|sin|cos)f?|llvm\.(exp|log|sin|cos)\..*"
    # a mangled vfunc.primitives.scalar_math name would be a call that was not inlined
    scalar = {c for c in calls if re.fullmatch(libm, c) or "11scalar_math" in c}
    assert not scalar, scalar


# ----------------------------------------------------------------------------------------------
# Through the compiler: fused kernels against eager NumPy over the whole float range (issue 11:
# fused sin/cos returned NaN beyond 1.3e10). The property tests of elementwise chains use small
# arrays and never reach fusion, so these build arrays past its threshold and check that the
# generated code really calls the fused kernel.


def _extremes(dtype) -> np.ndarray:
    info = np.finfo(dtype)
    values = [
        0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 0.5, -0.5, 1.0, -1.0, 2.0, 20.0, -20.0,
        float(info.tiny), -float(info.tiny), float(info.smallest_subnormal),
        -float(info.smallest_subnormal), float(info.tiny) / 3, float(info.max), -float(info.max),
        float(info.eps), 1e-30, -1e-30, 88.72, 89.0, -103.0, -104.0, -150.0, 709.78, 710.0,
        -745.0, -1.0 + float(info.eps), 1e10, 1.3e10, 1.31e10, -2e10, 1e15, 1e20, -1e30, 3e38,
        np.pi / 2 * 2.0**40, np.pi * 2.0**60, 1e300, -1.7e308,
    ]
    with np.errstate(over="ignore"):
        fixed = np.array(values, dtype=np.float64).astype(dtype)
    rng = np.random.default_rng(11)
    itype = np.int32 if dtype == np.float32 else np.int64
    bits = rng.integers(np.iinfo(itype).min, np.iinfo(itype).max, 1 << 17, dtype=itype)
    huge = rng.uniform(-1, 1, 4096) * 10.0 ** rng.uniform(9, np.log10(float(info.max)), 4096)
    return np.concatenate([fixed, bits.view(dtype), huge.astype(dtype)])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", NAMES)
def test_fused_kernels_agree_with_eager_over_the_whole_range(name, dtype):
    import vfunc
    import vfunc.numpy as vnp
    from vfunc import lax
    from vfunc.testing import enable_x64
    from vfunc.transforms.compiler import fusion

    op = {"logistic": lax.logistic, "erf": lax.erf}.get(name) or getattr(vnp, name)
    x = _extremes(dtype)
    assert x.size >= fusion.MIN_FUSED_SIZE
    with enable_x64(dtype == np.float64):
        xv = vnp.asarray(x)
        assert xv.dtype == dtype

        def f(v):
            return -op(v)  # two equations: one fused kernel (neg is exact, keeps signed zeros)

        jf = vfunc.jit(f)
        got = np.asarray(jf(xv))
        eager = np.asarray(f(xv))
        source = jf.lower(xv).compile().as_text()
    # The code path under test: one fused kernel calling the fastmath function.
    assert "fused" in source and f"fm.{name}(" in source, source
    assert got.dtype == eager.dtype == dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(eager))
    np.testing.assert_array_equal(got[np.isinf(eager)], eager[np.isinf(eager)])
    zero = eager == 0
    np.testing.assert_array_equal(got[zero], eager[zero])
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(eager[zero]))
    # Values: within the module's bound of a wider reference (NumPy's own eager result may be
    # a few ulp off in float32, so it is not the yardstick for accuracy).
    want = -reference(name, x)
    finite = np.isfinite(eager)
    err = ulp_error(got[finite], want[finite], dtype)
    worst = int(np.argmax(err)) if err.size else 0
    assert err.size == 0 or err[worst] <= bound(name, dtype), (
        f"fused {name}({x[finite][worst]!r}) = {-got[finite][worst]!r}, want "
        f"{-want[finite][worst]!r}: {err[worst]:.3g} ulp"
    )
    if name in ("sin", "cos"):
        # The libm pass ran: beyond 1.3e10 the vectorized path alone gives NaN.
        assert "math." + name in source
        big = np.isfinite(x) & (np.abs(x) > fm.SIN_COS_MAX_ABS)
        assert big.any() and np.isfinite(got[big]).all()


def test_fused_sin_cos_beyond_the_fast_range_do_not_reuse_input_buffers():
    # The libm pass reads the kernel's inputs again, so no output may have overwritten them:
    # ``t`` below is a fresh temporary read for the last time by the sin/cos kernel, the case
    # in which the compiler would otherwise hand its buffer to the kernel's output.
    import vfunc
    import vfunc.numpy as vnp

    x = np.linspace(-3, 3, 1 << 17).astype(np.float32)
    x[::1000] = 4e8  # times 2e12: beyond the fast range

    def f(v):
        t = (v * 2.0) * 1e12  # exactly rounded products: the same t as NumPy's
        total = t.sum()
        return vnp.sin(t) + vnp.cos(t), total

    jf = vfunc.jit(f)
    got, _ = jf(vnp.asarray(x))
    source = jf.lower(vnp.asarray(x)).compile().as_text()
    assert source.count("fused") >= 2, source
    t = (x * np.float32(2) * np.float32(1e12)).astype(np.float64)
    np.testing.assert_allclose(np.asarray(got), np.sin(t) + np.cos(t), rtol=1e-5, atol=2e-6)


def test_beyond_sin_cos_marks_finite_arguments_past_the_range():
    for dtype in DTYPES:
        x = np.array([0.0, 1e10, 1.3e10, 1.31e10, -2e10, np.inf, -np.inf, np.nan], dtype=dtype)
        got = [fm.beyond_sin_cos(v) for v in x]
        assert got == [0, 0, 0, 1, 1, 0, 0, 0]


def test_fused_sin_cos_with_broadcast_operands_and_huge_rows():
    # A broadcast operand makes the kernel loop over both axes (not flat); rows meeting a huge
    # argument are redone with libm, the others stay on the vectorized path.
    import vfunc
    import vfunc.numpy as vnp

    rng = np.random.default_rng(5)
    a = rng.uniform(-3, 3, (512, 256)).astype(np.float32)
    b = rng.uniform(-3, 3, 256).astype(np.float32)
    a[7, 3] = 3e25
    a[300, :] = -1e15
    jf = vfunc.jit(lambda u, v: vnp.cos(u + v) * vnp.sin(u + v))
    got = np.asarray(jf(vnp.asarray(a), vnp.asarray(b)))
    source = jf.lower(vnp.asarray(a), vnp.asarray(b)).compile().as_text()
    assert "fused" in source and "for i1 in" in source and "math.sin" in source, source
    s = (a + b).astype(np.float64)
    np.testing.assert_allclose(got, np.cos(s) * np.sin(s), rtol=1e-5, atol=2e-6)
