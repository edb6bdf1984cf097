"""vfunc.nn activations against float64 NumPy references: ordinary and extreme values, -inf and
+inf, axes, masks, dtypes, one_hot edge cases, gradients at the kinks, hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vfunc
import vfunc.numpy as vnp
from vfunc import nn
from vfunc.errors import ShapeError
from vfunc.testing import check_grads

INF = np.inf

# float32 results against float64 references: a few ulps of float32.
RTOL32, ATOL32 = 2e-6, 1e-7
RTOL64, ATOL64 = 1e-13, 1e-300


def f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def assert_close(got, want, rtol=RTOL32, atol=ATOL32, dtype=np.float32):
    assert isinstance(got, vfunc.Array), type(got)
    assert got.dtype == dtype, (got.dtype, dtype)
    np.testing.assert_allclose(f64(got), want, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------------------
# float64 references, written directly with numpy


def ref_sigmoid(x):
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def ref_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

# name -> (vfunc function, float64 reference)
ELEMENTWISE = {
    "relu": (nn.relu, lambda x: np.where(x > 0, x, 0.0)),
    "relu6": (nn.relu6, lambda x: np.clip(x, 0, 6)),
    "sigmoid": (nn.sigmoid, ref_sigmoid),
    "silu": (nn.silu, lambda x: x * ref_sigmoid(x)),
    "swish": (nn.swish, lambda x: x * ref_sigmoid(x)),
    "softplus": (nn.softplus, lambda x: np.logaddexp(x, 0)),
    "log_sigmoid": (nn.log_sigmoid, lambda x: -np.logaddexp(-x, 0)),
    "soft_sign": (nn.soft_sign, lambda x: x / (np.abs(x) + 1)),
    "sparse_plus": (nn.sparse_plus,
                    lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4))),
    "hard_tanh": (nn.hard_tanh, lambda x: np.clip(x, -1, 1)),
    "leaky_relu": (nn.leaky_relu, lambda x: np.where(x >= 0, x, 0.01 * x)),
    "elu": (nn.elu, ref_elu),
    "celu": (lambda x: nn.celu(x, alpha=0.5),
             lambda x: np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0) / 0.5))),
    "selu": (nn.selu, lambda x: SELU_SCALE * ref_elu(x, SELU_ALPHA)),
    "gelu_tanh": (nn.gelu, lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                            * (x + 0.044715 * x**3)))),
    "gelu_erf": (lambda x: nn.gelu(x, approximate=False), lambda x: 0.5 * x * _erfc(-x / 2**0.5)),
}  # fmt: skip

# Near-zero outputs (gelu far left, silu) are compared in absolute terms; gelu_erf computes
# 1 + erf, so its absolute error grows like eps * |x| there (see gelu's docstring).
ATOL = {"gelu_erf": 6e-7, "gelu_tanh": 3e-7, "silu": 3e-7, "swish": 3e-7}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_matches_float64_reference(rng, name):
    fn, ref = ELEMENTWISE[name]
    x = np.concatenate([
        rng.uniform(-8, 8, 200), [-6.0, -1.0, -0.5, 0.0, 0.5, 1.0, 6.0, 1e-3, -1e-3],
    ]).astype(np.float32)  # fmt: skip
    assert_close(fn(vnp.asarray(x)), ref(f64(x)), atol=ATOL.get(name, ATOL32))


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_large_inputs_neither_overflow_nor_nan(name):
    fn, ref = ELEMENTWISE[name]
    x = np.array([-1e30, -1e4, -1000.0, -100.0, 100.0, 1000.0, 1e4, 1e30], np.float32)
    got = fn(vnp.asarray(x))
    assert not np.isnan(np.asarray(got)).any(), np.asarray(got)
    with np.errstate(over="ignore", invalid="ignore"):
        want = ref(f64(x))
    if name == "gelu_tanh":  # the float64 reference itself overflows x**3 to inf: fine
        want = np.where(x > 0, f64(x), 0.0)
    assert_close(got, want, atol=ATOL.get(name, ATOL32))


def test_named_extreme_values():
    assert float(nn.softplus(1000.0)) == 1000.0
    assert float(nn.softplus(-1000.0)) == 0.0
    assert float(nn.sigmoid(-1000.0)) == 0.0
    assert float(nn.sigmoid(1000.0)) == 1.0
    assert float(nn.log_sigmoid(-1000.0)) == -1000.0
    assert float(nn.elu(-1000.0)) == -1.0
    assert float(nn.silu(-1000.0)) == 0.0
    np.testing.assert_array_equal(nn.log_softmax(vnp.array([1000.0, 0.0])), [0.0, -1000.0])
    np.testing.assert_array_equal(nn.softmax(vnp.array([1000.0, 0.0])), [1.0, 0.0])
    assert float(nn.logsumexp(vnp.array([1000.0, 1000.0]))) == np.float32(1000 + math.log(2))


def test_relu_is_where_not_maximum():
    x = vnp.array([-1.0, 0.0, 2.0, np.nan])
    np.testing.assert_array_equal(nn.relu(x), [0.0, 0.0, 2.0, 0.0])
    assert nn.relu(vnp.array([-0.0])).dtype == np.float32


# ----------------------------------------------------------------------------------------------
# dtypes


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_elementwise_preserve_float_dtype(name, dtype):
    fn, _ = ELEMENTWISE[name]
    out = fn(vnp.asarray(np.array([-2.0, 0.5, 3.0], dtype)))
    assert out.dtype == dtype
    assert out.shape == (3,)


def test_integer_inputs():
    ints = vnp.array([-3, 0, 2, 9], dtype=vnp.int32)
    out = nn.relu(ints)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [0, 0, 2, 9])
    hard = nn.hard_tanh(ints)
    assert hard.dtype == np.int32
    np.testing.assert_array_equal(hard, [-1, 0, 1, 1])
    # Transcendental activations promote integers to the default float.
    for fn in (nn.sigmoid, nn.softplus, nn.gelu, nn.elu, nn.silu, nn.relu6):
        assert fn(ints).dtype == np.float32, fn.__name__
    np.testing.assert_allclose(nn.sigmoid(ints), ref_sigmoid(f64([-3, 0, 2, 9])), rtol=RTOL32)
    assert nn.softmax(vnp.array([1, 2])).dtype == np.float32
    assert nn.logsumexp(vnp.array([1, 2])).dtype == np.float32


def test_python_scalars_stay_weakly_typed():
    out = nn.sigmoid(0.0)
    assert out.dtype == np.float32 and out.weak_type and float(out) == 0.5
    assert nn.relu(vnp.array([1.0], dtype=vnp.float16) * 2.0).dtype == np.float16


def test_x64(rng, x64):
    del x64
    x = rng.uniform(-20, 20, 50)
    for name in ("sigmoid", "softplus", "silu", "elu", "gelu_erf", "gelu_tanh", "log_sigmoid"):
        fn, ref = ELEMENTWISE[name]
        assert_close(fn(vnp.asarray(x)), ref(x), rtol=1e-13, atol=1e-15, dtype=np.float64)
    m = rng.normal(size=(4, 5)) * 30
    lse = np.log(np.sum(np.exp(m), axis=1))
    assert_close(nn.logsumexp(vnp.asarray(m), axis=1), lse, RTOL64, 0, np.float64)
    sm = np.exp(m - lse[:, None])
    assert_close(nn.softmax(vnp.asarray(m)), sm, RTOL64, 1e-300, np.float64)
    assert_close(nn.log_softmax(vnp.asarray(m)), m - lse[:, None], RTOL64, 1e-12, np.float64)
    # one_hot's default dtype is the default float, as JAX's jnp.float_.
    assert nn.one_hot(vnp.array([1]), 2).dtype == np.float64
    assert nn.relu(vnp.arange(3)).dtype == np.int64


# ----------------------------------------------------------------------------------------------
# logsumexp, softmax, log_softmax


def ref_logsumexp(a, axis=None, keepdims=False):
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return np.log(np.sum(np.exp(f64(a)), axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (-1, 0, 1)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_axes(rng, axis, keepdims):
    a = rng.normal(size=(2, 3, 4)).astype(np.float32) * 10
    got = nn.logsumexp(vnp.asarray(a), axis=axis, keepdims=keepdims)
    want = ref_logsumexp(a, axis, keepdims)
    assert got.shape == want.shape
    assert_close(got, want)


@pytest.mark.parametrize(
    "row, want",
    [
        ([-INF, -INF], -INF),
        ([-INF, 0.0], 0.0),
        ([-INF, 1000.0, 1000.0], 1000 + math.log(2)),
        ([INF, 0.0], INF),
        ([INF, -INF], INF),
        ([INF, INF], INF),
        ([np.nan, 0.0], np.nan),
        ([-1000.0, -1000.0], -1000 + math.log(2)),
        ([], -INF),
    ],
    ids=str,
)
def test_logsumexp_infinities(row, want):
    got = nn.logsumexp(vnp.array(row, dtype=vnp.float32))
    assert got.dtype == np.float32 and got.shape == ()
    np.testing.assert_allclose(f64(got), want, rtol=RTOL32)


def test_logsumexp_all_neginf_row_along_axis():
    a = vnp.array([[-INF, -INF, -INF], [0.0, -INF, 0.0]])
    got = nn.logsumexp(a, axis=1, keepdims=True)
    np.testing.assert_array_equal(got, np.array([[-INF], [math.log(2)]], np.float32))
    np.testing.assert_array_equal(nn.logsumexp(a, axis=0), [0.0, -INF, 0.0])


def test_logsumexp_b_and_return_sign():
    a = vnp.array([[1.0, 2.0, INF], [0.0, 1.0, 3.0]])
    b = vnp.array([2.0, 1.0, 0.0])  # b == 0 drops the +inf term instead of making NaN
    got = nn.logsumexp(a, axis=1, b=b)
    want = np.log([2 * math.e + math.e**2, 2 + math.e])
    assert_close(got, want)

    neg = vnp.array([1.0, -2.0])
    x = vnp.array([0.0, 0.0])
    out, sign = nn.logsumexp(x, b=neg, return_sign=True)
    assert out.dtype == sign.dtype == np.float32
    assert float(out) == 0.0 and float(sign) == -1.0
    assert np.isnan(float(nn.logsumexp(x, b=neg)))  # a negative sum has no real log
    zero_out, zero_sign = nn.logsumexp(x, b=vnp.array([1.0, -1.0]), return_sign=True)
    assert float(zero_out) == -INF and float(zero_sign) == 0.0
    # b broadcasts against a and may carry the larger shape.
    got = nn.logsumexp(vnp.array([0.0, 1.0]), axis=-1, b=vnp.ones((3, 2)) * 0.5)
    assert_close(got, np.full(3, np.log(0.5 * (1 + math.e))))


def test_logsumexp_where():
    a = vnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = vnp.array([[True, False, True], [False, False, False]])
    got = nn.logsumexp(a, axis=1, where=mask)
    assert_close(got, [np.log(math.e + math.e**3), -INF])


@pytest.mark.parametrize("axis", [0, 1, -1, (0, 1), None], ids=str)
def test_softmax_and_log_softmax_axes(rng, axis):
    x = rng.normal(size=(3, 4, 2)).astype(np.float32) * 5
    lse = ref_logsumexp(x, axis, keepdims=True)
    assert_close(nn.softmax(vnp.asarray(x), axis=axis), np.exp(f64(x) - lse))
    assert_close(nn.log_softmax(vnp.asarray(x), axis=axis), f64(x) - lse, atol=1e-6)


def test_softmax_with_neginf_entries():
    x = vnp.array([[-INF, 0.0, math.log(3)], [-INF, -INF, -INF], [-INF, 1000.0, -INF]])
    sm = np.asarray(nn.softmax(x))
    np.testing.assert_allclose(sm[0], [0.0, 0.25, 0.75], rtol=RTOL32)
    assert np.isnan(sm[1]).all()  # 0/0, as JAX
    np.testing.assert_array_equal(sm[2], [0.0, 1.0, 0.0])
    ls = np.asarray(nn.log_softmax(x))
    np.testing.assert_allclose(ls[0], [-INF, np.log(0.25), np.log(0.75)], rtol=RTOL32)
    assert np.isnan(ls[1]).all()
    np.testing.assert_array_equal(ls[2], [-INF, 0.0, -INF])


def test_softmax_with_posinf_entry_is_nan_only_there():
    sm = np.asarray(nn.softmax(vnp.array([INF, 0.0])))
    assert np.isnan(sm[0]) and sm[1] == 0.0


def test_softmax_where():
    x = vnp.array([[1.0, 2.0, 3.0], [4.0, 1000.0, 6.0]])
    mask = vnp.array([[True, False, True], [True, True, True]])
    got = np.asarray(nn.softmax(x, where=mask))
    e = np.exp([1.0, 3.0])
    np.testing.assert_allclose(got[0], [e[0] / e.sum(), 0.0, e[1] / e.sum()], rtol=RTOL32)
    np.testing.assert_array_equal(got[1], [0.0, 1.0, 0.0])
    ls = np.asarray(nn.log_softmax(x, where=mask))
    np.testing.assert_allclose(ls[0], [1 - np.log(e.sum()), -INF, 3 - np.log(e.sum())],
                               rtol=RTOL32)  # fmt: skip
    # a mask broadcasting from the last axis
    got = np.asarray(nn.softmax(x, where=vnp.array([False, True, True])))
    assert got[:, 0].tolist() == [0.0, 0.0] and np.allclose(got.sum(axis=1), 1.0)


# ----------------------------------------------------------------------------------------------
# glu, standardize, one_hot


def test_glu(rng):
    x = rng.normal(size=(4, 6)).astype(np.float32)
    assert_close(nn.glu(vnp.asarray(x)), f64(x[:, :3]) * ref_sigmoid(f64(x[:, 3:])))
    assert_close(nn.glu(vnp.asarray(x), axis=0), f64(x[:2]) * ref_sigmoid(f64(x[2:])))
    with pytest.raises(ShapeError, match=r"glu: axis 0 of an input of shape \(3, 4\)"):
        nn.glu(vnp.ones((3, 4)), axis=0)
    with pytest.raises(ShapeError, match="even length"):
        nn.glu(vnp.ones(()))


@pytest.mark.parametrize("axis", [-1, 0, (0, 1), None], ids=str)
def test_standardize(rng, axis):
    x = rng.normal(3.0, 2.0, size=(5, 6)).astype(np.float32)
    ax = axis
    mean = f64(x).mean(axis=ax, keepdims=True)
    var = f64(x).var(axis=ax, keepdims=True)
    want = (f64(x) - mean) / np.sqrt(var + 1e-5)
    assert_close(nn.standardize(vnp.asarray(x), axis=axis), want, rtol=2e-5, atol=2e-6)


def test_standardize_given_statistics_and_where():
    x = vnp.array([[1.0, 2.0, 3.0, 100.0]])
    got = nn.standardize(x, mean=2.0, variance=4.0, epsilon=0.0)
    assert_close(got, [[-0.5, 0.0, 0.5, 49.0]])
    got = nn.standardize(x, mean=0.0, variance=0.0, epsilon=0.25)  # epsilon alone: x / 0.5
    assert_close(got, [[2.0, 4.0, 6.0, 200.0]])
    # Only the unmasked entries enter the statistics; every entry is standardized.
    got = nn.standardize(x, where=vnp.array([True, True, True, False]), epsilon=0.0)
    assert_close(got, (np.array([[1.0, 2.0, 3.0, 100.0]]) - 2) / np.sqrt(2 / 3), rtol=1e-5)
    # JAX's variance with a given mean: mean(x**2) - mean**2 (here 14/3 - 0).
    got = nn.standardize(vnp.array([1.0, 2.0, 3.0]), mean=0.0, epsilon=0.0)
    assert_close(got, np.array([1.0, 2.0, 3.0]) / np.sqrt(14 / 3), rtol=1e-6)


def ref_one_hot(x, n, axis=-1):
    out = (np.asarray(x)[..., None] == np.arange(n)).astype(np.float32)
    return np.moveaxis(out, -1, axis)


def test_one_hot_basic_and_out_of_range():
    x = vnp.array([0, 2, -1, 3, 1, -3])
    got = nn.one_hot(x, 3)
    assert got.dtype == np.float32 and got.shape == (6, 3)
    np.testing.assert_array_equal(got, ref_one_hot([0, 2, -1, 3, 1, -3], 3))
    assert np.asarray(got)[[2, 3, 5]].sum() == 0  # negative and too-large: all-zero rows


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
def test_one_hot_axis(rng, axis):
    x = rng.integers(-1, 5, size=(2, 3))
    got = nn.one_hot(vnp.asarray(x), 4, axis=axis)
    np.testing.assert_array_equal(got, ref_one_hot(x, 4, axis))


def test_one_hot_edge_cases():
    scalar = nn.one_hot(2, 4)
    assert scalar.shape == (4,)
    np.testing.assert_array_equal(scalar, [0, 0, 1, 0])
    assert nn.one_hot(vnp.array([1, 2]), 0).shape == (2, 0)
    assert nn.one_hot(vnp.zeros((0,), vnp.int32), 3).shape == (0, 3)
    ints = nn.one_hot(vnp.array([1]), 3, dtype=vnp.int32)
    assert ints.dtype == np.int32
    np.testing.assert_array_equal(ints, [[0, 1, 0]])
    assert nn.one_hot(vnp.array([1]), 2, dtype=bool).dtype == np.bool_
    # uint8 indices: classes past 255 must not wrap around onto small indices.
    wide = np.asarray(nn.one_hot(vnp.array([0, 255], dtype=vnp.uint8), 300))
    assert wide.sum() == 2 and wide[0, 0] == 1 and wide[0, 256] == 0 and wide[1, 255] == 1
    floats = nn.one_hot(vnp.array([1.0, 1.5]), 3)
    np.testing.assert_array_equal(floats, [[0, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match="axis"):
        nn.one_hot(vnp.array([1, 2]), 3, axis=2)
    with pytest.raises(ValueError, match="num_classes must be non-negative"):
        nn.one_hot(vnp.array([1]), -1)


# ----------------------------------------------------------------------------------------------
# tracing and gradients


@pytest.mark.parametrize(
    "fn",
    [nn.relu, nn.gelu, nn.glu, nn.softmax, nn.log_softmax, nn.standardize,
     lambda x: nn.logsumexp(x, axis=0), lambda x: nn.one_hot(x > 0, 3, axis=0)],
)  # fmt: skip
def test_eval_shape_matches_eager(rng, fn):
    x = vnp.asarray(rng.normal(size=(4, 6)).astype(np.float32))
    abstract, eager = vfunc.eval_shape(fn, x), fn(x)
    assert (abstract.shape, abstract.dtype) == (eager.shape, eager.dtype)


def test_gradients_at_kinks_and_extremes():
    grad = vfunc.grad
    assert float(grad(nn.relu)(0.0)) == 0.0 and float(grad(nn.relu)(2.0)) == 1.0
    assert float(grad(nn.relu6)(0.0)) == 0.0 and float(grad(nn.relu6)(6.0)) == 0.0
    assert float(grad(nn.relu6)(3.0)) == 1.0
    assert float(grad(nn.hard_tanh)(1.0)) == 1.0 and float(grad(nn.hard_tanh)(1.5)) == 0.0
    assert float(grad(nn.softplus)(1000.0)) == 1.0 and float(grad(nn.softplus)(-1000.0)) == 0.0
    assert float(grad(nn.sigmoid)(-1000.0)) == 0.0
    assert float(grad(nn.elu)(1000.0)) == 1.0  # the unselected expm1 must not see 1000
    assert float(grad(nn.celu)(1000.0)) == 1.0
    assert float(grad(nn.elu)(0.0)) == 1.0 and float(grad(nn.celu)(0.0)) == 1.0


def test_logsumexp_gradient_is_softmax_and_finite_at_infinities(rng):
    a = vnp.array([[-INF, 0.0, 1000.0], [1.0, 2.0, 3.0], [-INF, -INF, 0.0]])
    g = np.asarray(vfunc.grad(lambda a: vnp.sum(nn.logsumexp(a, axis=1)))(a))
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, np.asarray(nn.softmax(a)), rtol=RTOL32, atol=ATOL32)
    # Reverse mode, first order: forward mode and second order need movement-op VJPs.
    check_grads(lambda a: nn.logsumexp(a, axis=1), (rng.normal(size=(2, 3)),), 1, ("rev",))


@pytest.mark.parametrize(
    "fn",
    [nn.silu, nn.softplus, nn.log_sigmoid, nn.elu, nn.selu, nn.gelu, nn.soft_sign,
     lambda x: nn.gelu(x, approximate=False), lambda x: nn.celu(x, 0.7)],
)  # fmt: skip
def test_elementwise_gradients_match_finite_differences(rng, fn):
    check_grads(fn, (rng.uniform(-3, 3, 7),), order=2)


@pytest.mark.parametrize("fn", [nn.softmax, nn.log_softmax, nn.glu, nn.standardize])
def test_normalizing_gradients_match_finite_differences(rng, fn):
    check_grads(fn, (rng.normal(size=(3, 4)),), order=2)


# ----------------------------------------------------------------------------------------------
# properties

# Multiples of 2**-10 in [-20, 20]: adding an integer shift to them is exact in float32.
dyadic = st.integers(-20 * 1024, 20 * 1024).map(lambda i: i / 1024)


@st.composite
def arrays_and_axis(draw, elements=dyadic):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    x = draw(hnp.arrays(np.float32, shape, elements=elements))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return x, axis


@settings(max_examples=60, deadline=None)
@given(arrays_and_axis(), st.integers(-1000, 1000))
def test_softmax_sums_to_one_and_ignores_a_shift(x_axis, shift):
    x, axis = x_axis
    out = nn.softmax(vnp.asarray(x), axis=axis)
    np.testing.assert_allclose(f64(out).sum(axis=axis), 1.0, rtol=1e-6)
    assert (np.asarray(out) >= 0).all()
    # The max-shift makes x - max(x) bit-identical after adding an exact constant.
    np.testing.assert_array_equal(nn.softmax(vnp.asarray(x + np.float32(shift)), axis=axis), out)
    lse = ref_logsumexp(x, axis, keepdims=True)
    np.testing.assert_allclose(f64(nn.log_softmax(vnp.asarray(x), axis=axis)), f64(x) - lse,
                               rtol=1e-6, atol=5e-6)  # fmt: skip


finite_or_neginf = st.one_of(st.floats(-60, 60, width=32), st.just(-np.inf))


@settings(max_examples=80, deadline=None)
@given(
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
               elements=finite_or_neginf),
    st.data(),
)  # fmt: skip
def test_logsumexp_matches_float64_reference(a, data):
    axes = data.draw(st.lists(st.integers(0, a.ndim - 1), unique=True, max_size=a.ndim))
    axis = None if not axes else tuple(axes)
    keepdims = data.draw(st.booleans())
    got = nn.logsumexp(vnp.asarray(a), axis=axis, keepdims=keepdims)
    want = ref_logsumexp(a, axis, keepdims)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(f64(got), want, rtol=1e-6, atol=1e-6)
