"""Complex numbers: creation and promotion, the complex parts, and derivatives under JAX's
conventions, checked against values recorded from JAX (tests/fixtures/complex/jax_x64.npz, made
by record_jax.py there from the table in complex_cases.py) and against finite differences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from complex_cases import FUNCTIONS, HOLOMORPHIC, cotangent, inputs, loss

import vfunc
import vfunc.numpy as vnp

REF = np.load(Path(__file__).parent / "fixtures" / "complex" / "jax_x64.npz")
TOL = {"rtol": 1e-10, "atol": 1e-12}


@pytest.fixture
def args(x64):
    ins = inputs()
    return tuple(vnp.asarray(ins[k]) for k in "zwax")


def _fn(name):
    fn = FUNCTIONS[name][0]
    return lambda *v: fn(vnp, *v)


def _close(got, want):
    got = np.asarray(got)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, **TOL)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_vjp_matches_jax(name, args):
    y, pullback = vfunc.vjp(_fn(name), *args)
    _close(y, REF[f"{name}/out"])
    cts = pullback(vnp.asarray(cotangent(name, np.asarray(y))))
    for k, ct in zip("zwax", cts, strict=True):
        _close(ct, REF[f"{name}/vjp_{k}"])


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("how", ["eager", "jit"])
def test_grad_of_real_loss_matches_jax(name, how, args):
    f = _fn(name)
    grad = vfunc.grad(lambda *v: loss(vnp, f(*v)), argnums=(0, 1, 2, 3))
    grads = vfunc.jit(grad)(*args) if how == "jit" else grad(*args)
    for k, g in zip("zwax", grads, strict=True):
        _close(g, REF[f"{name}/grad_{k}"])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_vmap_of_grad_matches_jax(name, args):
    f = _fn(name)
    grad = vfunc.grad(lambda *v: loss(vnp, f(*v)))
    zs = vnp.asarray(inputs()["zs"])
    _close(vfunc.vmap(grad, in_axes=(0, None, None, None))(zs, *args[1:]),
           REF[f"{name}/vmap_grad_z"])  # fmt: skip


@pytest.mark.parametrize("name", HOLOMORPHIC)
def test_holomorphic_derivatives_match_jax(name, args):
    fn = FUNCTIONS[name][0]

    def fz(z):
        return fn(vnp, z, *args[1:])

    z = args[0]
    _close(vfunc.grad(lambda z: vnp.sum(fz(z)), holomorphic=True)(z), REF[f"{name}/holo_grad"])
    _close(vfunc.jacrev(fz, holomorphic=True)(z), REF[f"{name}/holo_jacrev"])
    _close(vfunc.jacfwd(fz, holomorphic=True)(z), REF[f"{name}/holo_jacfwd"])


# ----------------------------------------------------------------------------------------------
# Every primitive that takes complex operands, against finite differences (JAX's pairing)

from vfunc import lax  # noqa: E402
from vfunc.core import registry  # noqa: E402
from vfunc.testing import check_grads  # noqa: E402


def _z(rng, *shape):
    return rng.uniform(0.4, 1.6, shape) * np.exp(1j * rng.uniform(-2.0, 2.0, shape))


# name: (function of complex128 operands, operand shapes)
PRIMITIVE_CALLS = {
    "neg": (lax.neg, [(3,)]), "abs": (lax.abs, [(2, 3)]), "exp": (lax.exp, [(3,)]),
    "log": (lax.log, [(3,)]), "log1p": (lax.log1p, [(3,)]), "expm1": (lax.expm1, [(3,)]),
    "sin": (lax.sin, [(3,)]), "cos": (lax.cos, [(3,)]), "tan": (lax.tan, [(3,)]),
    "tanh": (lax.tanh, [(3,)]), "sinh": (lax.sinh, [(3,)]), "cosh": (lax.cosh, [(3,)]),
    "asin": (lambda x: lax.asin(x * 0.5), [(3,)]), "acos": (lambda x: lax.acos(x * 0.5), [(3,)]),
    "atan": (lambda x: lax.atan(x * 0.5), [(3,)]), "sqrt": (lax.sqrt, [(3,)]),
    "rsqrt": (lax.rsqrt, [(3,)]), "real": (lax.real, [(3,)]), "imag": (lax.imag, [(3,)]),
    "conj": (lax.conj, [(3,)]), "add": (lax.add, [(2, 3), (3,)]),
    "sub": (lax.sub, [(3,), (3,)]), "mul": (lax.mul, [(2, 1), (3,)]),
    "div": (lax.div, [(3,), (3,)]), "pow": (lax.pow, [(3,), (3,)]),
    "max": (lax.max, [(4,), (4,)]), "min": (lax.min, [(4,), (4,)]),
    "select": (lambda x, y: lax.select(vnp.array([True, False, True]), x, y), [(3,), (3,)]),
    "convert_element_type": (lambda x: lax.convert_element_type(x, np.float64), [(3,)]),
    "reduce_sum": (lambda x: lax.reduce_sum(x, (1,)), [(2, 3)]),
    "reduce_prod": (lambda x: lax.reduce_prod(x, (0,)), [(2, 3)]),
    "reduce_max": (lambda x: lax.reduce_max(x, (1,)), [(2, 3)]),
    "reduce_min": (lambda x: lax.reduce_min(x, (1,)), [(2, 3)]),
    "dot_general": (lambda x, y: lax.dot(x, y), [(2, 3), (3, 2)]),
    "cumsum": (lambda x: lax.cumsum(x, 0), [(4,)]), "cumprod": (lambda x: lax.cumprod(x, 0), [(4,)]),
    "fft": (lambda x: lax.fft(x, "fft", (2, 3)), [(2, 2, 3)]),
    "ifft": (lambda x: lax.fft(x, "ifft", (4,)), [(2, 4)]),
    "rfft": (lambda x: lax.fft(lax.real(x), "rfft", (2, 5)), [(2, 5)]),
    "irfft_even": (lambda x: lax.fft(x, "irfft", (2, 4)), [(2, 3)]),
    "irfft_odd": (lambda x: lax.fft(x, "irfft", (5,)), [(3, 3)]),
}  # fmt: skip


@pytest.mark.parametrize("name", PRIMITIVE_CALLS)
def test_complex_primitives_match_finite_differences(name):
    fn, shapes = PRIMITIVE_CALLS[name]
    rng = np.random.default_rng(len(name))
    args = [_z(rng, *s) for s in shapes]
    prim = registry.get(name)
    order = 2 if prim is not None and prim.elementwise else 1  # elementwise VJPs differentiate again
    check_grads(fn, args, order=order, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# jit: the fused kernels handle real float loops only and must leave complex values to numpy


@pytest.mark.parametrize("x64_mode", [False, True])
def test_jit_with_fusion_matches_eager_on_complex_chains(monkeypatch, x64_mode):
    from vfunc.transforms.compiler import fusion

    monkeypatch.setattr(fusion, "MIN_FUSED_SIZE", 16)
    monkeypatch.setattr(fusion, "MIN_REDUCED_SIZE", 16)
    with vfunc.testing.gradients.enable_x64(x64_mode):
        rng = np.random.default_rng(5)
        z = vnp.asarray(_z(rng, 8, 64))
        x = vnp.asarray(rng.standard_normal((8, 64)))

        def f(z, x):
            w = vnp.exp(z * 0.5) * z + 1j - vnp.conj(z) / (x + 3.0)
            r = vnp.abs(w) * x + vnp.real(w) ** 2 - vnp.imag(w) * 2.0
            return vnp.sum(vnp.sqrt(w) * r, axis=1), vnp.max(r, axis=0), vnp.max(w, axis=1)

        monkeypatch.setattr(fusion, "_KERNELS", {})
        eager, jitted = f(z, x), vfunc.jit(f)(z, x)
        # the real-valued stretch (abs(w) * x + ...) was fused; the complex ops around it not
        assert fusion._KERNELS and not any("complex" in src for src in fusion._KERNELS)
        tol = {"rtol": 1e-12, "atol": 1e-12} if x64_mode else {"rtol": 2e-5, "atol": 2e-5}
        for e, j in zip(eager, jitted, strict=True):
            assert e.dtype == j.dtype
            np.testing.assert_allclose(np.asarray(j), np.asarray(e), **tol)
        loss = lambda z, x: vnp.sum(vnp.abs(f(z, x)[0]))  # noqa: E731
        np.testing.assert_allclose(np.asarray(vfunc.jit(vfunc.grad(loss))(z, x)),
                                   np.asarray(vfunc.grad(loss)(z, x)), **tol)  # fmt: skip
        # numpy on the same values (complex128 or complex64)
        zn, xn = np.asarray(z), np.asarray(x)
        wn = np.exp(zn * 0.5) * zn + 1j - np.conj(zn) / (xn + 3.0)
        rn = np.abs(wn) * xn + wn.real**2 - wn.imag * 2.0
        np.testing.assert_allclose(np.asarray(jitted[0]), np.sum(np.sqrt(wn) * rn, axis=1),
                                   rtol=1e-4 if not x64_mode else 1e-12)  # fmt: skip
