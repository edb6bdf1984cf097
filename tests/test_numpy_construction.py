"""``vnp.array``/``asarray`` from nested lists holding traced values (stacked, as JAX does)
under grad, jit and vmap, and ``r_``/``c_``, checked against NumPy on the same values."""

from __future__ import annotations

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc.testing import check_grads


def test_grad_through_a_list_of_traced_scalars():
    # d/dx sum([x, 2x, x^2]^2) = 2x + 8x + 4x^3
    f = lambda x: vnp.sum(vnp.array([x, 2 * x, x**2]) ** 2)  # noqa: E731
    assert float(vfunc.grad(f)(1.5)) == pytest.approx(2 * 1.5 + 8 * 1.5 + 4 * 1.5**3)
    check_grads(f, [np.array(0.7)], order=2)


def test_nested_lists_stack_level_by_level_like_numpy(x64):
    def build(x):
        return vnp.array([[x, 2 * x, 1.0], [x * x, 0, x - 1]])

    x = 1.25
    expected = np.array([[x, 2 * x, 1.0], [x * x, 0, x - 1]])
    for f in (build, vfunc.jit(build)):
        out = f(x)
        assert out.shape == (2, 3)
        np.testing.assert_array_equal(np.asarray(out), expected)
    np.testing.assert_array_equal(np.asarray(vfunc.jacfwd(build)(x)),
                                  [[1, 2, 0], [2 * x, 0, 1]])  # fmt: skip


def test_lists_of_traced_vectors_under_vmap_and_asarray():
    def f(v):
        return vnp.asarray([v, -v, vnp.ones(3)])

    vs = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    out = vfunc.vmap(f)(vs)
    expected = np.stack([np.stack([v, -v, np.ones(3)]) for v in vs])
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(np.asarray(out), expected)


def test_traced_lists_promote_like_jax():
    # a weak Python float joins an int32 tracer: float32; a list is strongly typed (as JAX)
    out = vfunc.jit(lambda k: vnp.array([k, 2.5]))(vnp.array(3, dtype=vnp.int32))
    assert out.dtype == vnp.float32
    assert not out.weak_type
    out = vfunc.jit(lambda x: vnp.array([x, 1]))(2.0)
    assert out.dtype == vnp.float32 and not out.weak_type
    ints = vfunc.jit(lambda x: vnp.array([x, 1], dtype=vnp.int32))(2.7)
    np.testing.assert_array_equal(np.asarray(ints), [2, 1])
    assert ints.dtype == vnp.int32


def test_tuples_and_numpy_arrays_mix_with_tracers():
    f = vfunc.jit(lambda x: vnp.array((np.array([1.0, 2.0]), x)))
    np.testing.assert_array_equal(np.asarray(f(vnp.array([3.0, 4.0]))), [[1, 2], [3, 4]])


def test_ragged_traced_lists_are_refused_with_the_shapes():
    with pytest.raises(ValueError, match=r"share one shape.*\[0\] \(\), \[1\] \(2,\)"):
        vfunc.jit(lambda x: vnp.array([x, [x, x]]))(1.0)
    with pytest.raises(ValueError, match=r"empty list at \[1\]"):
        vfunc.jit(lambda x: vnp.array([[x], []]))(1.0)


def test_r_and_c_match_numpy():
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    np.testing.assert_array_equal(np.asarray(vnp.r_[1:4, [7, 8], 0:1:3j]),
                                  np.r_[1:4, [7, 8], 0:1:3j])  # fmt: skip
    np.testing.assert_array_equal(np.asarray(vnp.r_[a, 5.0, b]), np.r_[a, 5.0, b])
    np.testing.assert_array_equal(np.asarray(vnp.c_[a, b]), np.c_[a, b])
    m = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(np.asarray(vnp.c_[m, a]), np.c_[m, a])
    np.testing.assert_array_equal(np.asarray(vnp.r_["1", m, m]), np.r_["1", m, m])
    # traced pieces join too, and the gradient flows through
    g = vfunc.grad(lambda x: vnp.sum(vnp.r_[x, 2 * x, 0:2]))(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(np.asarray(g), [3.0, 3.0])


def test_r_refuses_unsupported_directives():
    with pytest.raises(NotImplementedError, match="r_: only an axis directive"):
        vnp.r_["0,2", [1, 2]]
    with pytest.raises(ValueError, match="r_: a string directive must come first"):
        vnp.r_[[1], "0"]
