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
