"""Linear algebra on complex64/complex128: forward values, gradients of real losses, JVPs,
holomorphic Jacobians and vmap of grad, each compared with values recorded from JAX
(tests/fixtures/linalg/complex_jax_x64.npz, made by record_complex_jax.py there from the table
in linalg_complex_cases.py), plus finite differences over real and imaginary parts, jit, and
the complex64 path."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
from linalg_complex_cases import CASES, HOLOMORPHIC, READS_TRIANGLE, inputs, loss

import vfunc
import vfunc.numpy as vnp
import vfunc.scipy.linalg as vsl

REF = np.load(Path(__file__).parent / "fixtures" / "linalg" / "complex_jax_x64.npz")
M = types.SimpleNamespace(np=vnp, sla=vsl)
TOL = {"rtol": 1e-9, "atol": 1e-10}


def _close(got, want, **tol):
    got = np.asarray(got)
    if tol.pop("hermitian_part", False):
        got, want = _hermitian_part(got), _hermitian_part(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, **(tol or TOL))


def _hermitian_part(x: np.ndarray) -> np.ndarray:
    return (x + np.conj(np.swapaxes(x, -1, -2))) / 2


def _case(name):
    fn, key, _ = CASES[name]
    return fn, vnp.asarray(inputs()[key]), key


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_jax(name, x64):
    fn, a, _ = _case(name)
    outs = fn(M, a)
    for i, o in enumerate(outs):
        _close(o, REF[f"{name}/out{i}"])


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("how", ["eager", "jit"])
def test_grad_of_real_loss_matches_jax(name, how, x64):
    fn, a, _ = _case(name)
    grad = vfunc.grad(loss(M, name, fn))
    _close(vfunc.jit(grad)(a) if how == "jit" else grad(a), REF[f"{name}/grad"],
           hermitian_part=name in READS_TRIANGLE, **TOL)  # fmt: skip


@pytest.mark.parametrize("name", CASES)
def test_vmap_of_grad_matches_jax(name, x64):
    fn, _, key = _case(name)
    batch = vnp.asarray(inputs()[key + "s"])
    _close(vfunc.vmap(vfunc.grad(loss(M, name, fn)))(batch), REF[f"{name}/vmap_grad"],
           hermitian_part=name in READS_TRIANGLE, **TOL)  # fmt: skip


@pytest.mark.parametrize("name", CASES)
def test_jvp_matches_jax(name, x64):
    fn, a, key = _case(name)
    tangent = vnp.asarray(inputs()[key + "_tangent"])
    _, tangents = vfunc.jvp(lambda x: fn(M, x), (a,), (tangent,))
    for i, t in enumerate(tangents):
        _close(t, REF[f"{name}/jvp{i}"], rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("name", HOLOMORPHIC)
def test_holomorphic_jacobians_match_jax(name, x64):
    fn, a, _ = _case(name)

    def first(x):
        return fn(M, x)[0]

    _close(vfunc.jacfwd(first, holomorphic=True)(a), REF[f"{name}/jacfwd"])
    _close(vfunc.jacrev(first, holomorphic=True)(a), REF[f"{name}/jacrev"])


@pytest.mark.parametrize("name", ["cholesky", "qr_tall", "svd_wide", "eigh", "slogdet",
                                  "eigvals", "lu", "norm", "lstsq"])  # fmt: skip
def test_grad_matches_finite_differences(name, x64):
    # JAX's convention: grad of a real f at z = x + iy is df/dx - i df/dy.
    fn, a, _ = _case(name)
    f = loss(M, name, fn)
    got = np.asarray(vfunc.grad(f)(a))
    a0 = np.asarray(a)
    eps = 1e-6
    want = np.zeros_like(a0)
    for idx in np.ndindex(a0.shape):
        for unit, part in ((1.0, 1.0), (1j, -1j)):
            step = np.zeros_like(a0)
            step[idx] = eps * unit
            diff = (float(f(vnp.asarray(a0 + step))) - float(f(vnp.asarray(a0 - step)))) / (2 * eps)
            want[idx] += part * diff
    if name in ("cholesky", "eigh"):  # the input is read as its Hermitian part
        want = (want + want.conj().T) / 2
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_complex64_stays_single_precision():
    a = np.asarray(inputs()["a"], np.complex64)
    h = np.asarray(inputs()["h"], np.complex64)
    la = vnp.linalg
    assert la.inv(a).dtype == np.complex64
    w, v = la.eigh(h)
    assert (w.dtype, v.dtype) == (np.float32, np.complex64)
    u, s, vh = la.svd(a)
    assert (u.dtype, s.dtype, vh.dtype) == (np.complex64, np.float32, np.complex64)
    sign, logabsdet = la.slogdet(a)
    assert (sign.dtype, logabsdet.dtype) == (np.complex64, np.float32)
    assert la.eigvals(np.eye(2, dtype=np.float32)).dtype == np.complex64
    np.testing.assert_allclose(np.asarray(la.cholesky(h)), np.linalg.cholesky(h), rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    g = vfunc.grad(lambda x: vnp.real(vnp.sum(la.inv(x))))(vnp.asarray(a))
    assert g.dtype == np.complex64


def test_eig_vectors_forward_and_not_differentiable(x64):
    a = inputs()["a"]
    w, v = vnp.linalg.eig(a)
    w, v = np.asarray(w), np.asarray(v)
    np.testing.assert_allclose(a @ v, v * w, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(v, axis=0), 1.0)
    np.testing.assert_allclose(np.sort_complex(w), np.sort_complex(np.linalg.eigvals(a)))
    with pytest.raises(NotImplementedError, match="eigvals"):
        vfunc.grad(lambda x: vnp.real(vnp.sum(vnp.linalg.eig(x)[1])))(vnp.asarray(a))


def test_eig_of_real_matrix_is_complex_and_its_eigvals_grad_real(x64):
    rot = np.array([[0.0, -2.0], [1.0, 0.5]])
    w = vnp.linalg.eigvals(rot)
    assert w.dtype == np.complex128
    g = vfunc.grad(lambda x: vnp.sum(vnp.imag(vnp.linalg.eigvals(x)) ** 2))(vnp.asarray(rot))
    assert g.dtype == np.float64
    eps, want = 1e-6, np.zeros((2, 2))
    for idx in np.ndindex(2, 2):
        step = np.zeros((2, 2))
        step[idx] = eps
        f = lambda x: np.sum(np.imag(np.linalg.eigvals(x)) ** 2)  # noqa: E731
        want[idx] = (f(rot + step) - f(rot - step)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-6)


def test_batched_complex_decompositions_match_numpy(x64):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 3, 4, 4)) + 1j * rng.standard_normal((2, 3, 4, 4))
    h = a @ np.conj(np.swapaxes(a, -1, -2)) + np.eye(4)
    la = vnp.linalg
    np.testing.assert_allclose(np.asarray(la.inv(a)), np.linalg.inv(a), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(la.det(a)), np.linalg.det(a), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(la.eigh(h)[0]), np.linalg.eigvalsh(h), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(la.svd(a, compute_uv=False)),
                               np.linalg.svd(a, compute_uv=False), rtol=1e-10)  # fmt: skip
    np.testing.assert_allclose(np.asarray(la.cholesky(h)), np.linalg.cholesky(h), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(vsl.lu_factor(a[0, 0])[0]),
                               _scipy_like_lu(a[0, 0]), rtol=1e-10)  # fmt: skip


def _scipy_like_lu(a):
    # partial pivoting by |re| + |im|, as LAPACK's getrf
    lu = a.copy()
    n = lu.shape[0]
    for k in range(n):
        p = k + np.argmax(np.abs(lu[k:, k].real) + np.abs(lu[k:, k].imag))
        lu[[k, p]] = lu[[p, k]]
        lu[k + 1:, k] /= lu[k, k]
        lu[k + 1:, k + 1:] -= np.outer(lu[k + 1:, k], lu[k, k + 1:])
    return lu


# What NumPy and JAX (checked when this was written: the same order and the same permutation)
# give for a complex sort: real part first, then imaginary, NaNs last; ties keep their order.
_UNSORTED = np.array([1 + 2j, 1 - 1j, 5j, np.nan, complex(1, np.nan), -1, 1 + 2j,
                      complex(np.nan, np.nan), complex(np.nan, -3)])  # fmt: skip


@pytest.mark.parametrize("how", ["eager", "jit", "vmap"])
def test_sort_and_argsort_of_complex_are_numpys_lexicographic_order(how, x64):
    def both(z):
        return vnp.sort(z), vnp.argsort(z)

    if how == "vmap":
        zs = np.stack([_UNSORTED, _UNSORTED[::-1]])
        got_s, got_i = vfunc.vmap(both)(vnp.asarray(zs))
        for k in range(2):
            np.testing.assert_array_equal(np.asarray(got_s[k]), np.sort(zs[k]))
            np.testing.assert_array_equal(np.asarray(got_i[k]), np.argsort(zs[k], kind="stable"))
        return
    fn = vfunc.jit(both) if how == "jit" else both
    got_s, got_i = fn(vnp.asarray(_UNSORTED))
    np.testing.assert_array_equal(np.asarray(got_s), np.sort(_UNSORTED))
    np.testing.assert_array_equal(np.asarray(got_i), [5, 2, 1, 0, 6, 4, 8, 3, 7])


def test_grad_through_complex_sort_is_jaxs(x64):
    z = vnp.asarray(np.array([1 + 2j, 1 - 1j, 5j, -1, 1 + 3j]))
    g = vfunc.grad(lambda x: vnp.real(vnp.sum(vnp.sort(x) * (vnp.arange(5) + 1j))))(z)
    np.testing.assert_allclose(np.asarray(g), [3 + 1j, 2 + 1j, 1 + 1j, 1j, 4 + 1j])  # JAX's


def test_sort_of_complex_with_several_keys():
    keys = np.array([1 + 1j, 1 + 1j, 1 - 1j, 0 + 9j], np.complex64)
    second = np.array([3.0, 1.0, 2.0, 0.0], np.float32)
    from vfunc import lax

    k, s = lax.sort((vnp.asarray(keys), vnp.asarray(second)), num_keys=2)
    np.testing.assert_array_equal(np.asarray(k), keys[[3, 2, 1, 0]])
    np.testing.assert_array_equal(np.asarray(s), [0.0, 2.0, 1.0, 3.0])


def _symmetric_finite_differences(fun, a, eps=1e-6):
    want = np.zeros((3, 3))
    for i, j in np.ndindex(3, 3):  # symmetric perturbations: the input is read symmetrised
        step = np.zeros((3, 3))
        step[i, j] = step[j, i] = eps
        want[i, j] = (float(fun(vnp.asarray(a + step)))
                      - float(fun(vnp.asarray(a - step)))) / (2 * eps)  # fmt: skip
    return want


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_eigh_gradient_at_exactly_degenerate_eigenvalues(dtype, x64):
    # a = p diag(1, 1, 2) p^T with a permutation p: eigenvalues exactly equal. A symmetric
    # function of them (sum(w^2) = |a|_F^2, gradient 2 conj(a)) keeps its exact gradient, as in
    # JAX. Where the eigenvectors are used, the term inside the degenerate eigenspace depends on
    # the function (0 for a projector, f'(w) for a matrix function v f(w) v^H), which eigh's
    # rule cannot see: it is NaN, as in JAX, never a finite wrong value.
    p = np.eye(3)[[2, 0, 1]]
    a = (p @ np.diag([1.0, 1.0, 2.0]) @ p.T).astype(dtype)
    g = vfunc.grad(lambda x: vnp.sum(vnp.linalg.eigh(x)[0] ** 2))(vnp.asarray(a))
    np.testing.assert_allclose(np.asarray(g), 2 * a.conj(), atol=1e-12)

    weights = np.arange(9.0).reshape(3, 3)

    def matrix_exp(x):
        w, v = vnp.linalg.eigh(x)
        return vnp.sum(vnp.real((v * vnp.exp(w)) @ vnp.conj(v.T)) * weights)

    def projector(x):
        v = vnp.linalg.eigh(x)[1][:, :2]
        return vnp.sum(vnp.real(v @ vnp.conj(v.T)) * weights)

    # The matrix exponential is differentiable here, with a non-zero block in the degenerate
    # eigenspace: dropping that block, as this rule once
    # did, gave a finite gradient that was wrong there.
    want = _symmetric_finite_differences(matrix_exp, a.real)
    assert abs(want[1, 2]) > 1.0  # inside the degenerate eigenspace (rows and columns 1, 2)
    for fun in (matrix_exp, projector):
        assert np.isnan(np.asarray(vfunc.grad(fun)(vnp.asarray(a)))).any()
    # A hair away from the degeneracy the gradient is exact again.
    near = a + 1e-4 * np.diag([0.0, 1.0, 0.0])
    got = np.asarray(vfunc.grad(matrix_exp)(vnp.asarray(near)))
    sym_got = np.real(got + got.T) / 2
    np.testing.assert_allclose(sym_got * (2 - np.eye(3)), _symmetric_finite_differences(
        matrix_exp, near.real), rtol=1e-4, atol=1e-4)  # fmt: skip


def _finite_differences(fun, a, eps=1e-6):
    want = np.zeros(a.shape)
    for idx in np.ndindex(*a.shape):
        step = np.zeros(a.shape)
        step[idx] = eps
        want[idx] = (float(fun(vnp.asarray(a + step)))
                     - float(fun(vnp.asarray(a - step)))) / (2 * eps)  # fmt: skip
    return want


@pytest.mark.parametrize("where", ["identity", "orthogonal", "tall"])
def test_pinv_and_lstsq_gradients_where_singular_values_repeat(where, x64):
    # The pseudo-inverse is smooth at constant rank, also where singular values repeat (the
    # identity, any orthogonal matrix); its derivative comes from pinv itself, not the SVD's
    # rule (undefined there): the SVD path once gave -I instead of -ones at the identity.
    rng = np.random.default_rng(0)
    a = {"identity": np.eye(3),
         "orthogonal": np.linalg.qr(rng.normal(size=(3, 3)))[0],
         "tall": np.linalg.qr(rng.normal(size=(4, 3)))[0] * 2.0}[where]  # fmt: skip
    weights = rng.normal(size=a.shape[::-1])
    b = rng.normal(size=a.shape[0])

    def through_pinv(x):
        return vnp.sum(vnp.linalg.pinv(x) * weights)

    def through_lstsq(x):
        return vnp.sum(vnp.linalg.lstsq(x, b)[0] * weights[:, 0])

    for fun in (through_pinv, through_lstsq):
        want = _finite_differences(fun, a)
        for g in (vfunc.grad(fun), vfunc.jit(vfunc.grad(fun))):
            np.testing.assert_allclose(np.asarray(g(vnp.asarray(a))), want, atol=1e-6)
    # vmap of grad over a batch holding both a repeated and a distinct spectrum
    batch = np.stack([np.eye(3), np.diag([1.0, 2.0, 3.0])]) if where == "identity" else None
    if batch is not None:
        got = vfunc.vmap(vfunc.grad(through_pinv))(vnp.asarray(batch))
        for k in range(2):
            np.testing.assert_allclose(np.asarray(got)[k], _finite_differences(
                through_pinv, batch[k]), atol=1e-6)  # fmt: skip


def test_svd_vectors_at_repeated_singular_values_give_nan_not_a_wrong_gradient(x64):
    # u diag(1/s) v^T is pinv: smooth at the identity, but the SVD's rule cannot know that
    # (its skew terms vanish there); the undefined block is NaN, as JAX gives.
    def pinv_by_hand(x):
        u, s, vh = vnp.linalg.svd(x)
        return vnp.sum((vh.T / s) @ u.T)

    assert np.isnan(np.asarray(vfunc.grad(pinv_by_hand)(vnp.asarray(np.eye(3))))).any()
    # singular values alone stay exact: the nuclear norm's gradient at the identity is I
    nuc = vfunc.grad(lambda x: vnp.linalg.norm(x, ord="nuc"))(vnp.asarray(np.eye(3)))
    np.testing.assert_allclose(np.asarray(nuc), np.eye(3), atol=1e-12)
