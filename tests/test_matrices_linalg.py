"""diagonal, trace, diag, tril, triu, meshgrid and vfunc.numpy.linalg (norm, vector_norm,
matrix_norm, vecdot, matmul) against NumPy, with their error messages."""

from __future__ import annotations

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
import vfunc.numpy.linalg as vla
from vfunc.errors import ShapeError
from vfunc.numpy.linalg import matrix_norm, norm, vecdot, vector_norm
from vfunc.numpy.matrices import diag, diagonal, meshgrid, trace, tril, triu

INF = np.inf
F32_TOL = {"rtol": 1e-5, "atol": 1e-6}


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def assert_same(got, expected) -> None:
    """Same shape, dtype and values (up to float64 rounding)."""
    expected = np.asarray(expected)
    assert isinstance(got, vfunc.Array), type(got)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# diagonal and trace

OFFSETS = [-4, -2, -1, 0, 1, 3, 5]
AXES = [(0, 1), (1, 0), (1, 2), (2, 0), (-1, -2), (0, -1)]


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("axes", AXES, ids=str)
def test_diagonal_and_trace_match_numpy(offset, axes, x64):
    x = rand(2, 3, 4)
    assert_same(diagonal(x, offset, *axes), np.diagonal(x, offset, *axes))
    assert_same(trace(x, offset, *axes), np.trace(x, offset, *axes))


def test_diagonal_matrix_defaults_and_dtypes():
    m = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert_same(diagonal(m), np.diagonal(m))
    assert_same(diagonal(m, 2), np.diagonal(m, 2))
    assert_same(diagonal(m, -5), np.diagonal(m, -5))  # past the edge: empty
    b = np.array([[True, False], [True, True]])
    assert_same(diagonal(b), np.diagonal(b))
    f = rand(4, 4).astype(np.float32)
    got = diagonal(vnp.asarray(f), 1)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(got), np.diagonal(f, 1))  # exact: one nonzero term
    assert diagonal(np.ones((3, 0))).shape == (0,)


def test_diagonal_ignores_inf_and_nan_off_the_diagonal():
    m = np.array([[1.0, np.inf], [np.nan, 2.0]])
    np.testing.assert_array_equal(np.asarray(diagonal(m)), [1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(trace(m)), 3.0)


def test_trace_dtypes_follow_sum():
    small = np.ones((3, 3), dtype=np.int8)
    assert trace(small).dtype == np.int32  # small ints accumulate in the default int
    assert trace(np.eye(2, dtype=bool)).dtype == np.int32
    assert trace(small, dtype=np.float32).dtype == np.float32
    assert trace(vnp.eye(3)).dtype == np.float32


def test_trace_int8_in_x64(x64):
    small = np.ones((3, 3), dtype=np.int8)
    assert_same(trace(small), np.trace(small))


def test_diagonal_stages_without_gather():
    jaxpr = str(vfunc.make_jaxpr(lambda x: diagonal(x, 1))(vnp.ones((3, 4))))
    assert "select" in jaxpr and "gather" not in jaxpr


@pytest.mark.parametrize(
    ("fn", "shape", "kwargs", "match"),
    [
        (diagonal, (3,), {}, r"diagonal: needs an array with at least 2 axes, got shape \(3,\)"),
        (diagonal, (3, 3), {"axis1": 1, "axis2": -1}, r"axis1 and axis2 must be different"),
        (diagonal, (3, 3), {"axis1": 2}, r"diagonal: axis1 2 is out of range for rank 2"),
        (trace, (3,), {}, r"diagonal: needs an array with at least 2 axes"),
        (trace, (2, 3, 4), {"axis2": -3}, r"axis1 and axis2 must be different axes, both are 0"),
    ],
)
def test_diagonal_and_trace_errors(fn, shape, kwargs, match):
    with pytest.raises(ShapeError, match=match):
        fn(np.ones(shape), **kwargs)


# ----------------------------------------------------------------------------------------------
# diag, tril, triu


@pytest.mark.parametrize("k", [-3, -1, 0, 1, 2])
def test_diag_matches_numpy(k, x64):
    v = rand(3)
    assert_same(diag(v, k), np.diag(v, k))
    m = rand(3, 4)
    assert_same(diag(m, k), np.diag(m, k))
    ints = np.arange(1, 4, dtype=np.int32)
    assert_same(diag(ints, k), np.diag(ints, k))
    bools = np.array([True, False, True])
    assert_same(diag(bools, k), np.diag(bools, k))


def test_diag_float32_and_empty():
    got = diag(vnp.array([1.0, 2.0]), -1)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(got), np.diag([1.0, 2.0], -1))
    assert diag(np.zeros(0)).shape == (0, 0)
    assert diag(np.zeros(0), 2).shape == (2, 2)


def test_diag_errors():
    with pytest.raises(ShapeError, match=r"diag: input must be 1-D .* or 2-D .* got shape \(\)"):
        diag(np.float64(1.0))
    with pytest.raises(ShapeError, match=r"got shape \(2, 2, 2\); use diagonal"):
        diag(np.ones((2, 2, 2)))


@pytest.mark.parametrize("k", [-3, -1, 0, 1, 2, 5])
@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (5, 2), (2, 3, 4), (2, 1, 3, 3), (0, 3)])
def test_tril_triu_match_numpy(k, shape, x64):
    m = rand(*shape)
    assert_same(tril(m, k), np.tril(m, k))
    assert_same(triu(m, k), np.triu(m, k))


def test_tril_triu_dtypes_and_non_finite_values():
    ints = np.arange(9, dtype=np.int32).reshape(3, 3)
    assert_same(tril(ints), np.tril(ints))
    bools = np.ones((2, 3), dtype=bool)
    assert_same(triu(bools, 1), np.triu(bools, 1))
    m = np.array([[1.0, np.inf], [np.nan, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(tril(m)), [[1.0, 0.0], [np.nan, 2.0]])
    np.testing.assert_array_equal(np.asarray(triu(m)), [[1.0, np.inf], [0.0, 2.0]])
    assert tril(vnp.ones((2, 2))).dtype == np.float32


@pytest.mark.parametrize("fn", [tril, triu], ids=["tril", "triu"])
def test_tril_triu_need_a_matrix(fn):
    name = fn.__name__
    with pytest.raises(ShapeError, match=rf"{name}: needs an array with at least 2 axes .* \(3,\)"):
        fn(np.ones(3))


# ----------------------------------------------------------------------------------------------
# meshgrid


@pytest.mark.parametrize("indexing", ["xy", "ij"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_meshgrid_matches_numpy(indexing, sparse, n, x64):
    vectors = [rand(k + 2, seed=k) for k in range(n)]
    got = meshgrid(*vectors, sparse=sparse, indexing=indexing)
    expected = np.meshgrid(*vectors, sparse=sparse, indexing=indexing)
    assert isinstance(got, list) and len(got) == n
    for g, e in zip(got, expected, strict=True):
        assert_same(g, e)


def test_meshgrid_flattens_keeps_dtypes_and_handles_no_input():
    xs, ys = meshgrid(np.arange(4, dtype=np.int32).reshape(2, 2), vnp.array([0.5, 1.5]))
    ex, ey = np.meshgrid(np.arange(4).reshape(2, 2), [0.5, 1.5])
    assert xs.dtype == np.int32 and ys.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(xs), ex)
    np.testing.assert_array_equal(np.asarray(ys), ey)
    assert meshgrid() == []


def test_meshgrid_bad_indexing():
    with pytest.raises(ValueError, match=r"meshgrid: indexing must be 'xy' or 'ij', got 'yx'"):
        meshgrid(np.ones(2), indexing="yx")


# ----------------------------------------------------------------------------------------------
# norm

VECTOR_ORDS = [None, 2, 1, INF, -INF, 0, 3, 0.5, -1, -2.5]
MATRIX_ORDS = [None, "fro", 1, -1, INF, -INF, 2, -2, "nuc"]


@pytest.mark.parametrize("ord", VECTOR_ORDS, ids=str)
@pytest.mark.parametrize("axis", [0, 1, -1, (2,)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_vector_norms_match_numpy(ord, axis, keepdims, x64):
    x = rand(3, 4, 5)
    x[0, 0] = 0.0  # zeros matter for ord=0 and negative orders
    with np.errstate(divide="ignore"):  # NumPy warns on 0 ** -p; vfunc never warns
        expected = np.linalg.norm(x, ord, axis, keepdims)
    assert_same(norm(x, ord, axis, keepdims), expected)


@pytest.mark.parametrize("ord", MATRIX_ORDS, ids=str)
@pytest.mark.parametrize("axis", [(0, 1), (1, 0), (2, 0), (-1, 1)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_matrix_norms_match_numpy(ord, axis, keepdims, x64):
    x = rand(3, 4, 5)
    assert_same(norm(x, ord, axis, keepdims), np.linalg.norm(x, ord, axis, keepdims))


@pytest.mark.parametrize("ord", VECTOR_ORDS, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm_of_a_vector_with_axis_none(ord, keepdims, x64):
    v = rand(6)
    assert_same(norm(v, ord, keepdims=keepdims), np.linalg.norm(v, ord, keepdims=keepdims))


@pytest.mark.parametrize("ord", MATRIX_ORDS, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm_of_a_matrix_with_axis_none(ord, keepdims, x64):
    m = rand(3, 4)
    assert_same(norm(m, ord, keepdims=keepdims), np.linalg.norm(m, ord, keepdims=keepdims))


@pytest.mark.parametrize("keepdims", [False, True])
def test_default_norm_flattens_any_rank(keepdims, x64):
    x = rand(2, 3, 4)
    assert_same(norm(x, keepdims=keepdims), np.linalg.norm(x, keepdims=keepdims))
    assert_same(norm(np.float64(-3.0)), np.linalg.norm(np.float64(-3.0)))


def test_norm_complex_input_gives_real(x64):
    z = rand(3, 4) + 1j * rand(3, 4, seed=1)
    for ord in (None, 1, INF, 0, 3):
        assert_same(norm(z, ord, axis=1), np.linalg.norm(z, ord, axis=1))
    for ord in ("fro", 1, -INF):
        assert_same(norm(z, ord), np.linalg.norm(z, ord))


def test_norm_float32_and_integer_promotion():
    x = rand(4, 5).astype(np.float32)
    for ord, axis in [(None, None), (1, 0), (INF, 1), (3, -1), ("fro", None), (-1, (1, 0))]:
        got = norm(vnp.asarray(x), ord, axis)
        assert got.dtype == np.float32
        np.testing.assert_allclose(
            np.asarray(got), np.linalg.norm(x.astype(np.float64), ord, axis), **F32_TOL
        )
    assert norm(np.array([3, 4], dtype=np.int32)).dtype == np.float32
    assert float(norm(np.array([3, 4], dtype=np.int32))) == 5.0
    assert norm(np.array([True, False])).dtype == np.float32


def test_norm_of_zero_vector_is_zero_with_finite_gradient():
    zeros = vnp.zeros(3)
    for ord in (None, 2, 1, INF, 3, 0.5):
        assert float(norm(zeros, ord)) == 0.0
    assert float(norm(vnp.zeros((2, 2)), "fro")) == 0.0
    for ord in (None, 3):
        grad = vfunc.grad(lambda v, o=ord: norm(v, o))(zeros)
        np.testing.assert_array_equal(np.asarray(grad), [0.0, 0.0, 0.0])
    grad = vfunc.grad(norm)(vnp.array([3.0, 4.0]))
    np.testing.assert_allclose(np.asarray(grad), [0.6, 0.8], rtol=1e-6)


def test_norm_empty_vector(x64):
    assert_same(norm(np.zeros(0)), np.linalg.norm(np.zeros(0)))
    assert_same(norm(np.zeros(0), 1), np.linalg.norm(np.zeros(0), 1))


@pytest.mark.parametrize("ord", [2, -2, "nuc"], ids=str)
def test_spectral_norms_are_differentiable(ord):
    from vfunc.testing import check_grads

    # distinct singular values: the norms are smooth there
    x = np.array([[3.0, 1.0, 0.5], [0.2, -2.0, 0.3]])
    check_grads(lambda m: norm(m, ord), [x], order=2)


@pytest.mark.parametrize(
    ("shape", "kwargs", "error", "match"),
    [
        ((3,), {"ord": "fro"}, ValueError, r"invalid norm order 'fro' for vectors"),
        ((3,), {"ord": "nuc"}, ValueError, r"invalid norm order 'nuc' for vectors"),
        ((2, 2), {"ord": 0}, ValueError, r"invalid norm order 0 for matrices"),
        ((2, 2), {"ord": 3}, ValueError, r"invalid norm order 3 for matrices"),
        ((2, 2), {"ord": "bad"}, ValueError, r"invalid norm order 'bad' for matrices"),
        ((2, 2, 2), {"ord": 1}, ShapeError, r"ord=1 with axis=None needs a 1-D or 2-D input, "
                                            r"got shape \(2, 2, 2\); pass axis"),
        ((2, 2, 2), {"axis": (0, 1, 2)}, ShapeError, r"names 3 axes of shape \(2, 2, 2\)"),
        ((2, 2), {"axis": (1, -1)}, ShapeError, r"norm: axis \(1, -1\) repeats an axis"),
        ((2, 2), {"axis": 2}, ShapeError, r"norm: axis 2 is out of range for rank 2"),
    ],
)  # fmt: skip
def test_norm_errors(shape, kwargs, error, match):
    with pytest.raises(error, match=match):
        norm(np.ones(shape), **kwargs)


def test_norm_stages():
    jaxpr = str(vfunc.make_jaxpr(lambda x: norm(x, axis=1))(vnp.ones((2, 3))))
    assert "reduce_sum" in jaxpr and "sqrt" in jaxpr


# ----------------------------------------------------------------------------------------------
# vector_norm, matrix_norm, vecdot, matmul


@pytest.mark.parametrize("ord", [2, 1, INF, -INF, 0, 3], ids=str)
@pytest.mark.parametrize("axis", [None, 1, (0, 2), (-1, 0)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_vector_norm_matches_numpy(ord, axis, keepdims, x64):
    x = rand(2, 3, 4)
    expected = np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
    assert_same(vector_norm(x, axis=axis, keepdims=keepdims, ord=ord), expected)


@pytest.mark.parametrize("ord", MATRIX_ORDS[1:], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_matrix_norm_matches_numpy(ord, keepdims, x64):
    x = rand(2, 3, 4)
    expected = np.linalg.matrix_norm(x, keepdims=keepdims, ord=ord)
    assert_same(matrix_norm(x, keepdims=keepdims, ord=ord), expected)


def test_vector_and_matrix_norm_errors():
    with pytest.raises(ShapeError, match=r"matrix_norm: needs an array with at least 2 axes"):
        matrix_norm(np.ones(3))
    with pytest.raises(ShapeError, match=r"vector_norm: axis \(0, 0\) repeats an axis"):
        vector_norm(np.ones((2, 2)), axis=(0, 0))


@pytest.mark.parametrize(
    ("shape_a", "shape_b", "axis"),
    [((3,), (3,), -1), ((2, 3), (3,), -1), ((4, 1, 3), (2, 3), -1), ((3, 2), (3, 2), 0)],
)
def test_vecdot_matches_numpy(shape_a, shape_b, axis, x64):
    a, b = rand(*shape_a), rand(*shape_b, seed=1)
    assert_same(vecdot(a, b, axis=axis), np.linalg.vecdot(a, b, axis=axis))
    z = a + 1j * rand(*shape_a, seed=2)
    assert_same(vecdot(z, b, axis=axis), np.linalg.vecdot(z, b, axis=axis))


def test_vecdot_float32_errors_and_matmul_alias():
    got = vecdot(vnp.ones((2, 3)), vnp.ones(3))
    assert got.dtype == np.float32 and got.shape == (2,)
    with pytest.raises(ShapeError, match=r"vecdot: needs inputs with at least one axis"):
        vecdot(1.0, 2.0)
    with pytest.raises(ShapeError, match=r"cannot be broadcast together"):
        vecdot(np.ones((2, 3)), np.ones(4))
    assert vla.matmul is vnp.matmul
