"""vfunc.numpy.linalg: values against NumPy in float64, derivatives against float64 central
differences (both modes, second order for the factorisations), and the compositions (grad under
jit and vmap, inside scan), plus the errors. The primitives' own forward/vmap/jit checks live in
the registry battery (test_primitives.py, LINALG_DOMAIN)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc import grad, jit, lax, vmap
from vfunc.errors import DtypeError, ShapeError
from vfunc.primitives import decompositions as dec
from vfunc.testing import check_grads

from cases import LINALG_DOMAIN, normal_matrix, rng_for, spd, well_conditioned

la = vnp.linalg


@pytest.fixture(autouse=True)
def _x64():
    with vfunc.testing.gradients.enable_x64():
        yield


def _draw(sampler, shape, *key):
    return sampler(rng_for("test_linalg", shape, *key), shape)


# ----------------------------------------------------------------------------------------------
# Values against NumPy (float64)

VALUE_CASES = {
    "inv": (lambda a: la.inv(a), np.linalg.inv, [(well_conditioned, (2, 4, 4))]),
    "solve_vector": (la.solve, np.linalg.solve,
                     [(well_conditioned, (4, 4)), (normal_matrix, (4,))]),
    "solve_broadcast": (la.solve, lambda a, b: np.linalg.solve(a, b),
                        [(well_conditioned, (2, 3, 3)), (normal_matrix, (3, 2))]),
    "det": (la.det, np.linalg.det, [(well_conditioned, (3, 3))]),
    "slogdet": (lambda a: tuple(la.slogdet(a)), lambda a: tuple(np.linalg.slogdet(a)),
                [(well_conditioned, (2, 3, 3))]),
    "eigvalsh": (la.eigvalsh, np.linalg.eigvalsh, [(spd, (2, 4, 4))]),
    "cholesky_upper": (lambda a: la.cholesky(a, upper=True),
                       lambda a: np.swapaxes(np.linalg.cholesky(a), -1, -2), [(spd, (3, 3))]),
    "svd_values": (lambda a: la.svd(a, compute_uv=False),
                   lambda a: np.linalg.svd(a, compute_uv=False), [(normal_matrix, (2, 5, 3))]),
    "qr_r": (lambda a: la.qr(a, mode="r"), lambda a: np.linalg.qr(a, mode="r"),
             [(normal_matrix, (5, 3))]),
    "pinv_tall": (la.pinv, np.linalg.pinv, [(normal_matrix, (5, 3))]),
    "pinv_wide_batch": (la.pinv, np.linalg.pinv, [(normal_matrix, (2, 3, 5))]),
    "matrix_power_3": (lambda a: la.matrix_power(a, 3), lambda a: np.linalg.matrix_power(a, 3),
                       [(normal_matrix, (2, 3, 3))]),
    "matrix_power_-2": (lambda a: la.matrix_power(a, -2),
                        lambda a: np.linalg.matrix_power(a, -2), [(well_conditioned, (3, 3))]),
    "matrix_power_0": (lambda a: la.matrix_power(a, 0), lambda a: np.linalg.matrix_power(a, 0),
                       [(normal_matrix, (2, 3, 3))]),
    "cond": (la.cond, np.linalg.cond, [(normal_matrix, (2, 4, 4))]),
    "cond_-2": (lambda a: la.cond(a, -2), lambda a: np.linalg.cond(a, -2),
                [(normal_matrix, (4, 3))]),
    "cond_fro": (lambda a: la.cond(a, "fro"), lambda a: np.linalg.cond(a, "fro"),
                 [(well_conditioned, (3, 3))]),
    "cond_1": (lambda a: la.cond(a, 1), lambda a: np.linalg.cond(a, 1),
               [(well_conditioned, (3, 3))]),
    "norm_nuc": (lambda a: la.norm(a, "nuc"), lambda a: np.linalg.norm(a, "nuc"),
                 [(normal_matrix, (4, 3))]),
    "norm_2": (lambda a: la.norm(a, 2), lambda a: np.linalg.norm(a, 2), [(normal_matrix, (3, 4))]),
    "norm_-2_axes": (lambda a: la.norm(a, -2, axis=(0, 2)),
                     lambda a: np.linalg.norm(a, -2, axis=(0, 2)), [(normal_matrix, (3, 2, 4))]),
    "matrix_norm_nuc": (lambda a: la.matrix_norm(a, ord="nuc"),
                        lambda a: np.linalg.matrix_norm(a, ord="nuc"),
                        [(normal_matrix, (2, 3, 3))]),
    "svdvals": (la.svdvals, np.linalg.svdvals, [(normal_matrix, (2, 3, 5))]),
    "matrix_transpose": (la.matrix_transpose, np.linalg.matrix_transpose,
                         [(normal_matrix, (2, 3, 5))]),
    "diagonal": (lambda a: la.diagonal(a, offset=1), lambda a: np.linalg.diagonal(a, offset=1),
                 [(normal_matrix, (2, 3, 4))]),
    "trace": (la.trace, np.linalg.trace, [(normal_matrix, (2, 3, 3))]),
    "outer": (la.outer, np.linalg.outer, [(normal_matrix, (3,)), (normal_matrix, (4,))]),
    "tensorinv": (lambda a: la.tensorinv(a, ind=1), lambda a: np.linalg.tensorinv(a, ind=1),
                  [(lambda r, s: well_conditioned(r, (6, 6)).reshape(s), (6, 2, 3))]),
    "tensorsolve": (lambda a, b: la.tensorsolve(a, b, axes=(0,)),
                    lambda a, b: np.linalg.tensorsolve(a, b, axes=(0,)),
                    [(lambda r, s: well_conditioned(r, (6, 6)).reshape(s), (6, 2, 3)),
                     (normal_matrix, (2, 3))]),
    "multi_dot": (lambda a, b, c, d: la.multi_dot([a, b, c, d]),
                  lambda a, b, c, d: np.linalg.multi_dot([a, b, c, d]),
                  [(normal_matrix, (6,)), (normal_matrix, (6, 2)), (normal_matrix, (2, 5)),
                   (normal_matrix, (5,))]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(VALUE_CASES))
def test_values_match_numpy(name):
    fun, ref, specs = VALUE_CASES[name]
    args = [_draw(s, shape, name, i) for i, (s, shape) in enumerate(specs)]
    got, want = fun(*args), ref(*args)
    for g, w in zip(got if isinstance(got, tuple) else (got,),
                    want if isinstance(want, tuple) else (want,), strict=True):  # fmt: skip
        assert g.dtype == np.float64
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-10, atol=1e-10)


def test_factorisations_reconstruct_their_input():
    a = _draw(normal_matrix, (2, 5, 3), "reconstruct")
    u, s, vh = la.svd(a, full_matrices=False)
    np.testing.assert_allclose(np.asarray((u * s[..., None, :]) @ vh), a, atol=1e-12)
    u, s, vh = la.svd(a)
    assert (u.shape, vh.shape) == ((2, 5, 5), (2, 3, 3))
    q, r = la.qr(a, mode="complete")
    assert (q.shape, r.shape) == ((2, 5, 5), (2, 5, 3))
    np.testing.assert_allclose(np.asarray(q @ r), a, atol=1e-12)
    sym = _draw(spd, (4, 4), "reconstruct")
    w, v = la.eigh(sym)
    np.testing.assert_allclose(np.asarray((v * w) @ v.T), sym, atol=1e-12)


def test_lstsq_matches_numpy():
    a = _draw(normal_matrix, (6, 3), "lstsq")
    for b in (_draw(normal_matrix, (6,), "b1"), _draw(normal_matrix, (6, 2), "b2")):
        got = la.lstsq(a, b)
        want = np.linalg.lstsq(a, b, rcond=None)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-10, atol=1e-12)
    wide = _draw(normal_matrix, (2, 4), "lstsq_wide")
    x, resid, rank, _ = la.lstsq(wide, np.ones(2))
    np.testing.assert_allclose(np.asarray(x), np.linalg.lstsq(wide, np.ones(2))[0], atol=1e-12)
    assert resid.shape == (0,) and int(rank) == 2


def test_matrix_rank_counts_independent_columns():
    a = _draw(normal_matrix, (5, 3), "rank")
    deficient = np.concatenate([a, a[:, :1] + a[:, 1:2]], axis=1)
    assert int(la.matrix_rank(deficient)) == 3 == np.linalg.matrix_rank(deficient)
    stack = np.stack([deficient[:, :4], np.zeros((5, 4))])
    np.testing.assert_array_equal(np.asarray(la.matrix_rank(stack)), [3, 0])
    assert int(la.matrix_rank(np.eye(3), tol=1.5)) == 0
    assert int(la.matrix_rank(np.array([0.0, 2.0]))) == 1


def test_integer_input_is_promoted_and_float32_stays_float32():
    assert la.inv(np.array([[2, 0], [0, 4]])).dtype == np.float64  # x64 on: the default float
    with vfunc.testing.gradients.enable_x64(False):
        out = la.cholesky(np.eye(2, dtype=np.float32))
        assert out.dtype == np.float32
        assert la.det(np.array([[1, 2], [3, 4]])).dtype == np.float32


def test_failures_give_nan_as_jax():
    out = np.asarray(la.cholesky(np.stack([np.eye(2), -np.eye(2)])))
    np.testing.assert_array_equal(out[0], np.eye(2))
    assert np.isnan(out[1]).all()
    assert not np.isfinite(np.asarray(la.solve(np.ones((2, 2)), np.ones(2)))).all()
    assert float(la.det(np.ones((3, 3)))) == 0.0


# ----------------------------------------------------------------------------------------------
# Derivatives against float64 central differences

GRAD_CASES = {
    # name: (function, operand specs, order)
    "cholesky": (la.cholesky, [(spd, (3, 3))], 2),
    "cholesky_batch": (la.cholesky, [(spd, (2, 3, 3))], 1),
    "cholesky_lower_only": (lambda a: la.cholesky(a, symmetrize_input=False), [(spd, (3, 3))], 1),
    "solve": (la.solve, [(well_conditioned, (3, 3)), (normal_matrix, (3, 2))], 2),
    "solve_vector_broadcast": (la.solve, [(well_conditioned, (2, 3, 3)), (normal_matrix, (3,))],
                               1),
    "inv": (la.inv, [(well_conditioned, (3, 3))], 2),
    "det": (la.det, [(well_conditioned, (2, 3, 3))], 2),
    "slogdet": (lambda a: la.slogdet(a).logabsdet, [(well_conditioned, (3, 3))], 2),
    "eigh": (lambda a: tuple(la.eigh(a)), [(spd, (3, 3))], 2),
    "eigh_upper": (lambda a: tuple(la.eigh(a, UPLO="U", symmetrize_input=False)),
                   [(spd, (3, 3))], 1),
    "eigvalsh": (la.eigvalsh, [(spd, (2, 4, 4))], 2),
    "svd_reduced_tall": (lambda a: tuple(la.svd(a, full_matrices=False)),
                         [(normal_matrix, (4, 3))], 2),
    "svd_reduced_wide": (lambda a: tuple(la.svd(a, full_matrices=False)),
                         [(normal_matrix, (2, 3, 4))], 1),
    "svd_square_full": (lambda a: tuple(la.svd(a)), [(normal_matrix, (3, 3))], 1),
    "svd_values": (lambda a: la.svd(a, compute_uv=False), [(normal_matrix, (3, 5))], 2),
    "qr_reduced": (lambda a: tuple(la.qr(a)), [(normal_matrix, (5, 3))], 2),
    "qr_square_complete": (lambda a: tuple(la.qr(a, mode="complete")),
                           [(normal_matrix, (2, 3, 3))], 1),
    "qr_r": (lambda a: la.qr(a, mode="r"), [(normal_matrix, (4, 4))], 1),
    "pinv": (la.pinv, [(normal_matrix, (4, 3))], 1),
    "lstsq": (lambda a, b: la.lstsq(a, b)[0], [(normal_matrix, (5, 3)), (normal_matrix, (5,))],
              1),
    "matrix_power": (lambda a: la.matrix_power(a, 5), [(normal_matrix, (3, 3))], 1),
    "matrix_power_negative": (lambda a: la.matrix_power(a, -3), [(well_conditioned, (3, 3))], 1),
    "cond": (la.cond, [(normal_matrix, (3, 3))], 1),
    "norm_nuc": (lambda a: la.norm(a, "nuc"), [(normal_matrix, (4, 3))], 2),
    "norm_2": (lambda a: la.norm(a, 2), [(normal_matrix, (3, 4))], 1),
    "multi_dot": (lambda a, b, c: la.multi_dot([a, b, c]),
                  [(normal_matrix, (2, 3)), (normal_matrix, (3, 4)), (normal_matrix, (4,))], 1),
    "triangular_solve": (lambda a, b: dec.triangular_solve_p.bind(
        a, b, left_side=True, lower=False, transpose_a=True, unit_diagonal=False),
        [(well_conditioned, (3, 3)), (normal_matrix, (3, 2))], 2),
    "triangular_solve_right_unit": (lambda a, b: dec.triangular_solve_p.bind(
        a, b, left_side=False, lower=True, transpose_a=False, unit_diagonal=True),
        [(well_conditioned, (2, 3, 3)), (normal_matrix, (2, 4, 3))], 1),
}  # fmt: skip


def _check_case(fun, specs, order, name):
    args = [_draw(s, shape, name, i) for i, (s, shape) in enumerate(specs)]
    check_grads(fun, args, order=order, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_derivatives_match_finite_differences(name):
    _check_case(*GRAD_CASES[name], name)


def test_every_decomposition_primitive_is_differentiated_here():
    """Each linalg primitive reaches the gradient checks (directly or through vnp.linalg)."""
    assert set(LINALG_DOMAIN) == {p.name for p in (
        dec.cholesky_p, dec.triangular_solve_p, dec.solve_p, dec.slogdet_p, dec.det_p,
        dec.eigh_p, dec.svd_p, dec.qr_p, dec.lu_p)}  # fmt: skip
    named = " ".join(GRAD_CASES)
    for prim in LINALG_DOMAIN:
        assert prim in named, prim


@pytest.mark.parametrize("fun", [la.cholesky, lambda a: la.eigh(a)[1][:, -1] ** 2,
                                 la.eigvalsh], ids=["cholesky", "eigh", "eigvalsh"])
def test_symmetrised_inputs_have_symmetric_gradients(fun):
    a = _draw(spd, (4, 4), "symmetric")
    weights = _draw(normal_matrix, fun(a).shape, "weights")
    g = np.asarray(grad(lambda x: vnp.sum(fun(x) * weights))(a))
    np.testing.assert_allclose(g, g.T, atol=1e-12)


def test_degenerate_eigenvalues_have_finite_gradients():
    """As in JAX: eigenvalue gradients (and basis-independent functions) at a repeated
    eigenvalue are exact; the identity's eigenvalue sum has gradient the identity."""
    eye = np.eye(3)
    np.testing.assert_allclose(np.asarray(grad(lambda a: vnp.sum(la.eigvalsh(a)))(eye)), eye)
    # a spectral function: sum of exp(w) projected back, basis independent within eigenspaces
    a = np.diag([1.0, 1.0, 2.0])

    def spectral(x):
        w, v = la.eigh(x)
        return vnp.trace((v * vnp.exp(w)) @ v.T)

    np.testing.assert_allclose(np.asarray(grad(spectral)(a)), np.diag(np.exp([1.0, 1.0, 2.0])),
                               atol=1e-12)  # fmt: skip


def test_grad_under_jit_and_vmap_equals_eager():
    a = _draw(spd, (5, 4, 4), "compose")

    def loss(x):
        low = la.cholesky(x)
        return vnp.sum(la.solve(x, vnp.ones(4))) + la.slogdet(x).logabsdet + vnp.sum(low ** 2)

    eager = np.stack([np.asarray(grad(loss)(m)) for m in a])
    np.testing.assert_allclose(np.asarray(vmap(grad(loss))(a)), eager, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(jit(vmap(grad(loss)))(a)), eager, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(jit(grad(loss))(a[0])), eager[0], rtol=1e-10)
    # vmap of the second derivative: a Hessian-vector product per member
    hvp = vmap(lambda x, t: vfunc.jvp(grad(loss), (x,), (t,))[1])(a, a)
    for m in range(2):
        want = vfunc.jvp(grad(loss), (a[m],), (a[m],))[1]
        np.testing.assert_allclose(np.asarray(hvp[m]), np.asarray(want), rtol=1e-9)


def test_gradients_inside_scan():
    a = _draw(well_conditioned, (3, 3), "scan")

    def power_iteration(x):
        def body(v, _):
            v = la.solve(x, v)
            return v / vnp.sqrt(vnp.sum(v * v)), None

        v, _ = lax.scan(body, vnp.ones(3), None, length=4)
        return vnp.sum(v * (x @ v))

    def unrolled(x):
        v = vnp.ones(3)
        for _ in range(4):
            v = la.solve(x, v)
            v = v / vnp.sqrt(vnp.sum(v * v))
        return vnp.sum(v * (x @ v))

    np.testing.assert_allclose(np.asarray(grad(power_iteration)(a)),
                               np.asarray(grad(unrolled)(a)), rtol=1e-10)  # fmt: skip
    check_grads(power_iteration, [a], order=1)


def test_vmap_with_unbatched_matrix_and_batch_axis_not_first():
    a = _draw(well_conditioned, (3, 3), "unbatched")
    bs = _draw(normal_matrix, (3, 4), "rhs")  # batch along axis 1
    got = vmap(la.solve, in_axes=(None, 1))(a, bs)
    np.testing.assert_allclose(np.asarray(got), np.linalg.solve(a, bs).T, rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# Errors: the op, what was seen, the fix


@pytest.mark.parametrize("call, error, match", [
    (lambda: la.cholesky(np.ones((2, 3))), ShapeError, r"cholesky: a must be square .*\(2, 3\)"),
    (lambda: la.inv(np.ones(3)), ShapeError, r"inv: a must have at least 2 axes.*\(3,\)"),
    (lambda: la.eigh(np.ones((2, 2)), UPLO="X"), ValueError, "UPLO must be 'L' or 'U'"),
    (lambda: la.solve(np.eye(3), np.ones(2)), ShapeError, r"solve: a \(3, 3\) needs b with 3"),
    (lambda: la.solve(np.eye(3), np.ones((2, 2, 2))), ShapeError, "needs b with 3 rows"),
    (lambda: dec.det_p.bind(lax.as_array(np.eye(2, dtype=np.float16))), DtypeError,
     "det: a has dtype float16; LAPACK routines take float32, float64, complex64 or complex128"),
    (lambda: la.qr(np.ones((2, 2)), mode="raw"), ValueError, "mode must be"),
    (lambda: la.multi_dot([np.ones(2)]), ValueError, "at least two arrays"),
    (lambda: la.multi_dot([np.ones(2), np.ones((2, 2, 2)), np.ones(2)]), ShapeError,
     r"arrays\[1\] has 3 axes"),
    (lambda: la.matrix_power(np.ones((2, 3)), 2), ShapeError, "matrix_power: needs square"),
    (lambda: la.matrix_power(np.eye(2), 1.5), TypeError, "n must be an integer"),
    (lambda: la.lstsq(np.ones((3, 2)), np.ones(4)), ShapeError, "lstsq: needs a"),
    (lambda: la.tensorinv(np.ones((2, 3)), ind=1), ShapeError, "products must be equal"),
    (lambda: la.tensorsolve(np.ones((2, 3)), np.ones(3)), ShapeError, "must start with b's"),
    (lambda: la.matrix_transpose(np.ones(3)), ShapeError, "needs at least 2 axes"),
    (lambda: dec.cholesky_p.bind(lax.as_array(np.eye(2, dtype=np.int32))), DtypeError,
     "cholesky: a has dtype int32; LAPACK routines take float32, float64, complex64"),
    (lambda: dec.triangular_solve_p.bind(lax.as_array(np.eye(3)), lax.as_array(np.ones((2, 1))),
                                         left_side=True, lower=True, transpose_a=False,
                                         unit_diagonal=False),
     ShapeError, r"triangular_solve: a \(3, 3\) and b \(2, 1\) don't fit"),
    (lambda: grad(lambda a: vnp.sum(la.svd(a)[0]))(np.ones((3, 2))), NotImplementedError,
     "full_matrices=True"),
    (lambda: grad(lambda a: vnp.sum(la.qr(a)[1]))(np.ones((2, 3))), NotImplementedError,
     "m >= n"),
])  # fmt: skip
def test_errors_name_the_op_and_the_fix(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("transpose_a", [False, True])
def test_large_triangular_solves_take_the_blocked_path(lower, transpose_a):
    from vfunc.primitives.linalg_kernels import TRIANGULAR_BLOCK

    n = 2 * TRIANGULAR_BLOCK + 13  # two levels of splitting, uneven halves
    rng = rng_for("blocked", lower, transpose_a)
    a = rng.standard_normal((2, n, n)) / np.sqrt(n) + 3 * np.eye(n)
    b = rng.standard_normal((2, n, 5))
    x = dec.triangular_solve_p.bind(lax.as_array(a), lax.as_array(b), left_side=True,
                                    lower=lower, transpose_a=transpose_a, unit_diagonal=False)
    t = np.tril(a) if lower else np.triu(a)
    t = np.swapaxes(t, -1, -2) if transpose_a else t
    np.testing.assert_allclose(np.asarray(x), np.linalg.solve(t, b), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# vfunc.scipy.linalg: SciPy's conventions, checked against NumPy-built references

from vfunc.scipy import linalg as sla  # noqa: E402


def _expm_reference(a: np.ndarray) -> np.ndarray:
    """exp(a) by a 30-term Taylor series of a / 2**s, squared s times (float64, independent
    of the Pade code under test)."""
    s = max(0, int(np.ceil(np.log2(max(np.abs(a).sum(axis=-2).max(), 1e-300)))) + 1)
    x = a / 2.0**s
    term, total = np.eye(a.shape[-1]), np.eye(a.shape[-1])
    for k in range(1, 30):
        term = term @ x / k
        total = total + term
    for _ in range(s):
        total = total @ total
    return total


@pytest.mark.parametrize("scale", [0.0, 0.1, 1.0, 30.0])
def test_expm_matches_a_taylor_series(scale):
    a = _draw(normal_matrix, (4, 4), "expm", scale) * scale
    np.testing.assert_allclose(np.asarray(sla.expm(a)), _expm_reference(a), rtol=1e-11,
                               atol=1e-13)  # fmt: skip
    batch = np.stack([a, -a, a.T])
    want = np.stack([_expm_reference(m) for m in batch])
    np.testing.assert_allclose(np.asarray(sla.expm(batch)), want, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(np.asarray(jit(sla.expm)(batch)), want, rtol=1e-11, atol=1e-13)


def test_expm_float32_and_symmetric_input():
    s = _draw(spd, (3, 3), "expm_sym")
    w, v = np.linalg.eigh(s)
    np.testing.assert_allclose(np.asarray(sla.expm(s)), (v * np.exp(w)) @ v.T, rtol=1e-12)
    with vfunc.testing.gradients.enable_x64(False):
        out = sla.expm(s.astype(np.float32))
        assert out.dtype == np.float32
        np.testing.assert_allclose(np.asarray(out), (v * np.exp(w)) @ v.T, rtol=2e-6)


def test_scipy_solvers_match_numpy():
    a = _draw(well_conditioned, (2, 4, 4), "sla")
    b = _draw(normal_matrix, (2, 4, 3), "sla_b")
    up = np.triu(a)
    np.testing.assert_allclose(np.asarray(sla.solve_triangular(a, b)), np.linalg.solve(up, b),
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(np.asarray(sla.solve_triangular(a, b[..., 0], trans="T",
                                                               lower=True)),
                               np.linalg.solve(np.swapaxes(np.tril(a), -1, -2), b[..., :1])[..., 0],
                               rtol=1e-12)  # fmt: skip
    unit = np.tril(a, -1) / 8 + np.eye(4)
    np.testing.assert_allclose(np.asarray(sla.solve_triangular(a / 8, b, lower=True,
                                                               unit_diagonal=True)),
                               np.linalg.solve(unit, b), rtol=1e-12)  # fmt: skip
    pos = _draw(spd, (2, 4, 4), "pos")
    for lower in (False, True):
        c, low = sla.cho_factor(pos, lower=lower)
        assert low is lower
        np.testing.assert_allclose(np.asarray(sla.cho_solve((c, low), b)),
                                   np.linalg.solve(pos, b), rtol=1e-12)  # fmt: skip
        got = sla.solve(pos, b[..., 0], assume_a="pos", lower=lower)
        want = np.linalg.solve(pos, b[..., :1])[..., 0]
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
    upper = np.asarray(sla.cholesky(pos))
    np.testing.assert_allclose(np.swapaxes(upper, -1, -2) @ upper, pos, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(sla.solve(a, b)), np.linalg.solve(a, b), rtol=1e-12)
    q, r = sla.qr(a[0, :, :3])
    assert (q.shape, r.shape) == ((4, 4), (4, 3))
    (r_only,) = sla.qr(a[0, :, :3], mode="r")
    np.testing.assert_allclose(np.asarray(r_only), np.asarray(r))
    w = sla.eigh(pos[0], eigvals_only=True)
    np.testing.assert_allclose(np.asarray(w), np.linalg.eigvalsh(pos[0]), rtol=1e-12)


SCIPY_GRAD_CASES = {
    "expm": (sla.expm, [(normal_matrix, (3, 3))], 2),
    "expm_large_norm_batch": (lambda a: sla.expm(4.0 * a), [(normal_matrix, (2, 3, 3))], 1),
    "cho_solve": (lambda a, b: sla.cho_solve(sla.cho_factor(a), b),
                  [(spd, (3, 3)), (normal_matrix, (3, 2))], 2),
    "solve_triangular": (lambda a, b: sla.solve_triangular(a, b, trans=1, lower=True),
                         [(well_conditioned, (3, 3)), (normal_matrix, (3,))], 2),
    "solve_pos": (lambda a, b: sla.solve(a, b, assume_a="pos"),
                  [(spd, (3, 3)), (normal_matrix, (3,))], 1),
    "lu_factor": (lambda a: sla.lu_factor(a)[0], [(normal_matrix, (2, 4, 4))], 2),
    "lu": (lambda a: sla.lu(a)[1:], [(normal_matrix, (3, 3))], 1),
    "lu_solve": (lambda a, b: sla.lu_solve(sla.lu_factor(a), b),
                 [(well_conditioned, (3, 3)), (normal_matrix, (3, 2))], 2),
    "lu_solve_trans": (lambda a, b: sla.lu_solve(sla.lu_factor(a), b, trans=1),
                       [(well_conditioned, (2, 3, 3)), (normal_matrix, (2, 3))], 1),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SCIPY_GRAD_CASES))
def test_scipy_derivatives_match_finite_differences(name):
    _check_case(*SCIPY_GRAD_CASES[name], name)


def test_lu_reconstructs_with_partial_pivoting():
    a = _draw(normal_matrix, (3, 5, 5), "lu")
    p, low, up = (np.asarray(x) for x in sla.lu(a))
    np.testing.assert_allclose(p @ low @ up, a, atol=1e-12)
    assert (np.abs(low) <= 1 + 1e-15).all()  # partial pivoting bounds the multipliers
    np.testing.assert_array_equal(np.triu(low, 1), 0)
    pl, up2 = sla.lu(a, permute_l=True)
    np.testing.assert_allclose(np.asarray(pl) @ np.asarray(up2), a, atol=1e-12)
    factors = sla.lu_factor(a)
    b = _draw(normal_matrix, (3, 5), "lu_b")
    for trans in (0, 1):
        want = np.linalg.solve(np.swapaxes(a, -1, -2) if trans else a, b[..., None])[..., 0]
        np.testing.assert_allclose(np.asarray(sla.lu_solve(factors, b, trans=trans)), want,
                                   rtol=1e-10)  # fmt: skip
        got = jit(lambda f, v, t=trans: sla.lu_solve(f, v, trans=t))(factors, b)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10)
    # vmap over the factors' leading axis equals the batched call
    per = vmap(lambda a_, b_: sla.lu_solve(sla.lu_factor(a_), b_))(a, b)
    np.testing.assert_allclose(np.asarray(per), np.linalg.solve(a, b[..., None])[..., 0],
                               rtol=1e-10)  # fmt: skip


def test_scipy_errors():
    with pytest.raises(ValueError, match="trans must be"):
        sla.solve_triangular(np.eye(2), np.ones(2), trans=3)
    with pytest.raises(ShapeError, match=r"solve_triangular: a \(2, 2\) needs b with 2 rows"):
        sla.solve_triangular(np.eye(2), np.ones(3))
    with pytest.raises(NotImplementedError, match="generalized"):
        sla.eigh(np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match="unknown assume_a"):
        sla.solve(np.eye(2), np.ones(2), assume_a="nope")


def test_large_cholesky_takes_the_blocked_path():
    from vfunc.primitives.linalg_kernels import BLOCKED_CHOLESKY_MIN, CHOLESKY_BLOCK

    n = BLOCKED_CHOLESKY_MIN + CHOLESKY_BLOCK // 2 + 3  # a ragged last block
    a = _draw(spd, (3, n, n), "blocked_cholesky")
    a[1, 5, 5] = -50.0  # not positive definite: NaN for that member only, as JAX
    out = np.asarray(la.cholesky(a))
    for m in (0, 2):
        np.testing.assert_allclose(out[m], np.linalg.cholesky(a[m]), rtol=1e-12, atol=1e-12)
    assert np.isnan(out[1]).all()
    with vfunc.testing.gradients.enable_x64(False):
        out32 = la.cholesky(a[0].astype(np.float32))
        assert out32.dtype == np.float32
        np.testing.assert_allclose(np.asarray(out32), np.linalg.cholesky(a[0]), rtol=2e-5,
                                   atol=2e-6)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Against JAX: values and gradients recorded by scripts/record_fixtures/record_linalg.py (the
# same losses, written there with jax.numpy); matching them checks JAX's conventions too
# (symmetrised cholesky/eigh gradients, the degenerate identity, SciPy's upper cho_factor).

JAX_FIXTURE = Path(__file__).parent / "fixtures" / "linalg" / "jax_x64.npz"


def _jax_cases(i):
    return {
        "cholesky": (lambda a: vnp.sum(la.cholesky(a) * i["w44"]), "lopsided_spd"),
        "eigh": (lambda a: vnp.sum(la.eigh(a)[0] * i["c4"])
                 + vnp.sum(la.eigh(a)[1] ** 2 * i["w44"]), "lopsided_spd"),
        "eigvalsh_identity": (lambda a: vnp.sum(la.eigvalsh(a) * i["c3"]), "eye3"),
        "svd": (lambda a: vnp.sum(la.svd(a, full_matrices=False)[1] * i["c3"])
                + vnp.sum(la.svd(a, full_matrices=False)[0] ** 2 * i["w53"])
                + vnp.sum(la.svd(a, full_matrices=False)[2] ** 2 * i["w33"]), "tall"),
        "qr": (lambda a: vnp.sum(la.qr(a)[0] * i["w53"]) + vnp.sum(la.qr(a)[1] * i["w33"]),
               "tall"),
        "det": (la.det, "general"),
        "slogdet": (lambda a: la.slogdet(a)[1], "general"),
        "inv": (lambda a: vnp.sum(la.inv(a) * i["w44"]), "general"),
        "solve": (lambda a: vnp.sum(la.solve(a, i["b42"]) ** 2), "general"),
        "pinv": (lambda a: vnp.sum(la.pinv(a) * i["w53"].T), "tall"),
        "lstsq": (lambda a: vnp.sum(la.lstsq(a, i["w53"][:, 0])[0] * i["c3"]), "tall"),
        "matrix_power": (lambda a: vnp.sum(la.matrix_power(a / 4, 3) * i["w44"]), "general"),
        "cond": (la.cond, "general"),
        "norm_nuc": (lambda a: la.norm(a, "nuc"), "tall"),
        "norm_2": (lambda a: la.norm(a, 2), "tall"),
        "expm": (lambda a: vnp.sum(sla.expm(a / 3) * i["w44"]), "general"),
        "cho_solve": (lambda a: vnp.sum(sla.cho_solve(sla.cho_factor(a), i["b42"]) * i["b42"]),
                      "lopsided_spd"),
        "lu_factor": (lambda a: vnp.sum(sla.lu_factor(a)[0] * i["w44"]), "general"),
        "solve_triangular": (lambda a: vnp.sum(sla.solve_triangular(a, i["b42"], lower=True,
                                                                    trans=1) ** 2), "general"),
    }  # fmt: skip


def _jax_record() -> dict[str, np.ndarray]:
    with np.load(JAX_FIXTURE) as rec:
        return dict(rec)


@pytest.mark.parametrize("name", sorted(_jax_cases(dict.fromkeys(
    ("w44", "w53", "w33", "c4", "c3", "b42")))))  # the names only: inputs come with the record
def test_values_and_gradients_match_jax(name):
    rec = _jax_record()
    inputs = {k[3:]: v for k, v in rec.items() if k.startswith("in_")}
    fun, arg = _jax_cases(inputs)[name]
    value, g = vfunc.value_and_grad(fun)(inputs[arg])
    np.testing.assert_allclose(np.asarray(value), rec[f"{name}_value"], rtol=1e-10, atol=1e-12)
    want = rec[f"{name}_grad"]
    if name == "cho_solve":
        # SciPy's cholesky reads one triangle: vfunc's gradient is the exact one, in that
        # triangle; JAX's is spread over both. Their symmetric parts (all that a symmetric
        # perturbation sees) agree.
        g, want = np.asarray(g), np.asarray(want)
        np.testing.assert_array_equal(np.tril(g, -1), 0)
        g, want = g + g.T, want + want.T
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-9, atol=1e-11)
