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


def _special(name):
    from vfunc.primitives import special

    return getattr(special, name).bind


# name: (function of complex128 operands, operand shapes)
PRIMITIVE_CALLS = {
    "neg": (lax.neg, [(3,)]), "abs": (lax.abs, [(2, 3)]), "exp": (lax.exp, [(3,)]),
    "log": (lax.log, [(3,)]), "log1p": (lax.log1p, [(3,)]), "expm1": (lax.expm1, [(3,)]),
    "sin": (lax.sin, [(3,)]), "cos": (lax.cos, [(3,)]), "tan": (lax.tan, [(3,)]),
    "tanh": (lax.tanh, [(3,)]), "sinh": (lax.sinh, [(3,)]), "cosh": (lax.cosh, [(3,)]),
    "asin": (lambda x: lax.asin(x * 0.5), [(3,)]), "acos": (lambda x: lax.acos(x * 0.5), [(3,)]),
    "atan": (lambda x: lax.atan(x * 0.5), [(3,)]), "sqrt": (lax.sqrt, [(3,)]),
    "rsqrt": (lax.rsqrt, [(3,)]),
    "asinh": (_special("asinh_p"), [(3,)]), "acosh": (_special("acosh_p"), [(3,)]),
    "atanh": (lambda x: _special("atanh_p")(x * 0.5), [(3,)]),
    "real": (lax.real, [(3,)]), "imag": (lax.imag, [(3,)]),
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
    "cumsum": (lambda x: lax.cumsum(x, 0), [(4,)]),
    "cumprod": (lambda x: lax.cumprod(x, 0), [(4,)]),
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
    # elementwise VJPs are differentiated again
    order = 2 if prim is not None and prim.elementwise else 1
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


# ----------------------------------------------------------------------------------------------
# Creation and promotion: JAX's lattice (bool < int < float < complex), weak Python scalars

import json  # noqa: E402

PROMOTION = json.loads((Path(__file__).parent / "fixtures" / "complex" /
                        "jax_promotion.json").read_text())  # fmt: skip
OPERANDS = {"f16": "float16", "f32": "float32", "f64": "float64", "c64": "complex64",
            "c128": "complex128", "i32": "int32", "i64": "int64", "u8": "uint8", "bool": "bool",
            "py_c": 1j, "py_f": 1.0, "py_i": 1}  # fmt: skip


@pytest.mark.parametrize("x64_mode", [False, True])
def test_promotion_with_complex_matches_jax(x64_mode):
    def value(spec):
        return spec if not isinstance(spec, str) else vnp.ones(2, spec)

    with vfunc.testing.gradients.enable_x64(x64_mode):
        for key, (dtype, weak) in PROMOTION[f"x64={x64_mode}"].items():
            if key == "zeros(complex)":
                got = vnp.zeros(2, complex)
            elif key == "array([1j, 2])":
                got = vnp.array([1j, 2])
            else:
                a, b = key.split("+")
                left = vnp.asarray(1j) * 1 if a == "weak_c" else value(OPERANDS[a])
                got = vnp.add(left, value(OPERANDS[b]))
            assert (str(got.dtype), got.weak_type) == (dtype, weak), key


def test_complex_parts_match_numpy(x64):
    rng = np.random.default_rng(3)
    z = _z(rng, 2, 3)
    for fn in ("real", "imag", "conj", "conjugate", "angle", "abs", "iscomplex", "isreal",
               "isfinite"):  # fmt: skip
        np.testing.assert_array_equal(np.asarray(getattr(vnp, fn)(z)), getattr(np, fn)(z))
    for fn in ("arcsinh", "arccosh", "arctanh"):
        np.testing.assert_allclose(np.asarray(getattr(vnp, fn)(z)), getattr(np, fn)(z),
                                   rtol=1e-14)  # fmt: skip
    for decimals in (0, 1, -1):
        np.testing.assert_array_equal(np.asarray(vnp.round(z * 7.3, decimals)),
                                      np.round(z * 7.3, decimals))  # fmt: skip
    np.testing.assert_allclose(np.asarray(vnp.angle(z, deg=True)), np.angle(z, deg=True))
    special = np.array([complex(np.inf, 0), complex(1, np.nan), 1 + 1j])
    np.testing.assert_array_equal(np.asarray(vnp.isfinite(special)), np.isfinite(special))
    x = np.array([-2.0, 0.0, 3.0])
    for fn in ("real", "imag", "conj", "angle"):
        got = getattr(vnp, fn)(x)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(np.asarray(got), getattr(np, fn)(x))
    zz = vnp.asarray(z)
    np.testing.assert_array_equal(np.asarray(zz.real), z.real)
    np.testing.assert_array_equal(np.asarray(zz.imag), z.imag)
    np.testing.assert_array_equal(np.asarray(zz.conj()), z.conj())
    np.testing.assert_array_equal(np.asarray(vnp.conjugate(zz)), np.conjugate(z))
    assert vnp.abs(vnp.ones(2, vnp.complex64)).dtype == np.float32
    assert vnp.iscomplexobj(zz) and not vnp.isrealobj(zz)


def test_complex_ordering_is_lexicographic_as_numpy(x64):
    a = np.array([1 + 2j, 1 + 1j, 2, 1 + 2j, 0.5 + 9j])
    b = np.array([1 + 1j, 2 + 0j, 2, 1 + 2j, 0.5 + 9.5j])
    for fn in ("less", "less_equal", "greater", "greater_equal", "maximum", "minimum"):
        np.testing.assert_array_equal(np.asarray(getattr(vnp, fn)(a, b)), getattr(np, fn)(a, b))
    np.testing.assert_array_equal(np.asarray(vnp.asarray(a) < 1.5), a < 1.5)
    assert complex(vnp.max(a)) == np.max(a) and complex(vnp.min(a)) == np.min(a)
    np.testing.assert_array_equal(np.asarray(vnp.max(a.reshape(1, 5), axis=1)), [2 + 0j])


def test_holomorphic_and_complex_output_errors_are_jaxs():
    z = vnp.asarray(np.array([1 + 2j, 0.5 - 1j]))
    with pytest.raises(
        TypeError,
        match=r"grad requires real-valued outputs .* but got complex64"
        r"\. For holomorphic differentiation, pass holomorphic=True",
    ):
        vfunc.grad(lambda z: vnp.sum(z**2))(z)
    with pytest.raises(TypeError, match=r"grad with holomorphic=True requires inputs with complex "
                       r"dtype, but argument \[0\] has dtype float32"):  # fmt: skip
        vfunc.grad(lambda x: x**2, holomorphic=True)(vnp.float32(1.0))
    with pytest.raises(TypeError, match="grad with holomorphic=True requires outputs with complex"):
        vfunc.grad(lambda z: vnp.abs(vnp.sum(z)), holomorphic=True)(z)
    with pytest.raises(TypeError, match="jacrev requires real-valued outputs .* complex64"):
        vfunc.jacrev(lambda z: z * 2)(z)
    with pytest.raises(TypeError, match="jacfwd requires real-valued inputs .* complex64.* pass "
                       "holomorphic=True"):  # fmt: skip
        vfunc.jacfwd(lambda z: vnp.abs(z))(z)
    with pytest.raises(TypeError, match="jacfwd with holomorphic=True requires outputs with"):
        vfunc.jacfwd(lambda z: vnp.abs(z), holomorphic=True)(z)
    with pytest.raises(TypeError, match="grad requires real-valued outputs .* int32"):
        vfunc.grad(lambda x: vnp.sum(x).astype(vnp.int32))(vnp.ones(2))
    # real-valued functions of complex inputs need no flag (JAX's convention, not an error)
    assert vfunc.grad(lambda z: vnp.sum(vnp.abs(z)))(z).dtype == np.complex64
    assert vfunc.jacrev(lambda z: vnp.abs(z))(z).shape == (2, 2)


def test_hessian_holomorphic_and_grad_composes(x64):
    z = vnp.asarray(np.array(0.3 + 0.7j))
    np.testing.assert_allclose(np.asarray(vfunc.hessian(lambda z: z**3, holomorphic=True)(z)),
                               6 * complex(z))  # fmt: skip
    second = vfunc.grad(vfunc.grad(lambda z: vnp.sin(z), holomorphic=True), holomorphic=True)
    np.testing.assert_allclose(np.asarray(second(z)), -np.sin(complex(z)))
    # grad of jit and jit of vmap of grad agree with eager
    f = vfunc.grad(lambda z: vnp.abs(vnp.exp(z) * z) ** 2)
    zs = vnp.asarray(np.array([0.3 + 0.7j, -1 + 0.2j]))
    want = np.stack([np.asarray(f(zs[i])) for i in range(2)])
    np.testing.assert_allclose(np.asarray(vfunc.jit(vfunc.vmap(f))(zs)), want, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(vfunc.grad(vfunc.jit(
        lambda z: vnp.abs(vnp.exp(z) * z) ** 2))(zs[0])), want[0], rtol=1e-12)  # fmt: skip


def _accepts_complex(prim) -> bool:
    from vfunc.core import ShapedArray

    for arity in (1, 2):
        try:
            prim.shape_rule(*[ShapedArray((3,), np.dtype(np.complex128))] * arity)
        except Exception:  # noqa: BLE001  (wrong arity, dtype or params: not this way)
            continue
        return True
    return False


def test_every_differentiable_elementwise_primitive_on_complex_is_checked():
    # a new elementwise row accepting complex needs a derivative check above
    taking = {name for name, p in registry.items()
              if p.elementwise and p.differentiable and _accepts_complex(p)}  # fmt: skip
    assert taking - set(PRIMITIVE_CALLS) == set(), "add rows to PRIMITIVE_CALLS"
    assert {"exp", "abs", "real", "mul", "pow", "asinh"} <= taking


NUMPY_UNARY = ["negative", "absolute", "sign", "exp", "exp2", "expm1", "log", "log2", "log10",
               "log1p", "sqrt", "square", "reciprocal", "sin", "cos", "tan", "sinh", "cosh",
               "tanh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh"]  # fmt: skip
NUMPY_BINARY = ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "equal",
                "not_equal", "less", "less_equal", "greater", "greater_equal"]  # fmt: skip
NUMPY_REDUCTIONS = ["sum", "prod", "mean", "var", "std", "max", "min", "cumsum", "cumprod"]


def test_numpy_functions_on_complex128_match_numpy(x64):
    rng = np.random.default_rng(11)
    z, w = _z(rng, 2, 3), _z(rng, 3)
    z[0, 0] = w[0]  # a tie for the comparisons
    for name in NUMPY_UNARY:
        got = getattr(vnp, name)(z)
        assert got.dtype == getattr(np, name)(z).dtype, name
        np.testing.assert_allclose(np.asarray(got), getattr(np, name)(z), rtol=1e-14, err_msg=name)
    for name in NUMPY_BINARY:
        want = getattr(np, name)(z, w)
        np.testing.assert_allclose(np.asarray(getattr(vnp, name)(z, w)), want, rtol=1e-14,
                                   err_msg=name)  # fmt: skip
    for name in NUMPY_REDUCTIONS:
        for axis in (None, 0, 1):
            np.testing.assert_allclose(np.asarray(getattr(vnp, name)(z, axis=axis)),
                                       getattr(np, name)(z, axis=axis), rtol=1e-14,
                                       err_msg=f"{name} axis={axis}")  # fmt: skip
    np.testing.assert_allclose(np.asarray(vnp.matmul(z, w)), z @ w, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(vnp.vdot(w, w * 1j)), np.vdot(w, w * 1j), rtol=1e-14)
