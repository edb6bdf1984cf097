"""vfunc.numpy.fft against numpy.fft (forward, every function, n/s, axis/axes and norm), its
dtypes as JAX gives them, errors, and derivatives/vmap/jit through the fft primitive.
Derivatives are also compared with JAX's recorded values in test_complex.py."""

from __future__ import annotations

import numpy as np
import pytest

import vfunc
import vfunc.numpy as vnp
from vfunc.errors import DtypeError
from vfunc.testing import check_grads

NORMS = [None, "backward", "ortho", "forward"]
ONE_D = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
N_D = ["fftn", "ifftn", "rfftn", "irfftn", "fft2", "ifft2", "rfft2", "irfft2"]
REAL_INPUT = {"rfft", "ihfft", "rfftn", "rfft2"}


def _operand(name: str, rng: np.random.Generator, shape=(3, 4, 5)) -> np.ndarray:
    x = rng.standard_normal(shape)
    return x if name in REAL_INPUT else x + 1j * rng.standard_normal(shape)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ONE_D)
def test_one_dimensional_transforms_match_numpy(name, norm, x64, rng):
    a = _operand(name, rng)
    for n in (None, 1 if name not in ("irfft", "hfft") else 2, 3, 8):
        for axis in (-1, 0, 1):
            got = getattr(vnp.fft, name)(a, n=n, axis=axis, norm=norm)
            want = getattr(np.fft, name)(a, n=n, axis=axis, norm=norm)
            assert got.shape == want.shape and got.dtype == want.dtype, (n, axis)
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", N_D)
def test_multi_dimensional_transforms_match_numpy(name, norm, x64, rng):
    a = _operand(name, rng)
    two = name.endswith("2")
    calls = [((3, 6), (0, 2)), ((2, 7), (2, 0)), (None, (1, 2)), ((4, 4), (-1, -2))]
    if not two:
        calls += [(None, None), ((4,), (1,)), ((2, 3, 4), (0, 1, 2))]
    else:
        calls += [(None, None)]
    for s, axes in calls:
        kw = {} if axes is None else {"axes": axes}
        got = getattr(vnp.fft, name)(a, s=s, norm=norm, **kw)
        want = getattr(np.fft, name)(a, s=s, norm=norm, **kw)
        assert got.shape == want.shape and got.dtype == want.dtype, (s, axes)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)


def test_dtypes_follow_jax(x64_off):
    assert vnp.fft.fft(np.ones(4, np.float32)).dtype == np.complex64
    assert vnp.fft.fft(np.ones(4, np.int32)).dtype == np.complex64
    assert vnp.fft.rfft(np.ones(4, np.int32)).dtype == np.complex64
    assert vnp.fft.rfft(np.ones(4, np.float16)).dtype == np.complex64
    assert vnp.fft.irfft(np.ones(3, np.complex64)).dtype == np.float32
    assert vnp.fft.fftfreq(4).dtype == np.float32
    with vfunc.testing.gradients.enable_x64():
        assert vnp.fft.fft(np.ones(4)).dtype == np.complex128
        assert vnp.fft.fft(np.ones(4, np.float32)).dtype == np.complex64
        assert vnp.fft.irfft(np.ones(3, np.complex128)).dtype == np.float64
        assert vnp.fft.fftfreq(4).dtype == np.float64
        assert vnp.fft.rfftfreq(5, dtype=np.float32).dtype == np.float32


def test_frequencies_and_shifts_match_numpy(x64, rng):
    for n in (1, 4, 5):
        for d in (1.0, 0.3):
            np.testing.assert_allclose(np.asarray(vnp.fft.fftfreq(n, d)), np.fft.fftfreq(n, d))
            np.testing.assert_allclose(np.asarray(vnp.fft.rfftfreq(n, d)),
                                       np.fft.rfftfreq(n, d))  # fmt: skip
        a = rng.standard_normal((n, 3, 4))
        for axes in (None, 0, (1,), (0, 2), -1):
            for name in ("fftshift", "ifftshift"):
                np.testing.assert_array_equal(np.asarray(getattr(vnp.fft, name)(a, axes)),
                                              getattr(np.fft, name)(a, axes))  # fmt: skip
    # a traced spacing: the frequencies differentiate in d
    grad = vfunc.grad(lambda d: vnp.sum(vnp.fft.fftfreq(4, d) ** 2))(vnp.asarray(0.5))
    np.testing.assert_allclose(float(grad), -2 * np.sum(np.fft.fftfreq(4) ** 2) / 0.5**3)


BAD = {
    "norm": (lambda: vnp.fft.fft(np.ones(4), norm="both"), ValueError, "Invalid norm value both"),
    "rfft_complex": (
        lambda: vnp.fft.rfft(np.ones(4, complex)),
        DtypeError,
        "rfft: the input must be real, got complex",
    ),  # fmt: skip
    "zero_n": (
        lambda: vnp.fft.fft(np.ones(4), n=0),
        ValueError,
        r"fft: invalid number of FFT data points \(0,\)",
    ),  # fmt: skip
    "irfft_len1": (
        lambda: vnp.fft.irfft(np.ones(1, complex)),
        ValueError,
        "irfft: invalid number of FFT data points",
    ),  # fmt: skip
    "s_axes": (
        lambda: vnp.fft.fftn(np.ones((2, 3)), s=(2, 3), axes=(0,)),
        ValueError,
        r"fftn: s \(2, 3\) and axes \(0,\) must have the same length",
    ),  # fmt: skip
    "repeated": (
        lambda: vnp.fft.fftn(np.ones((2, 3)), axes=(0, 0)),
        ValueError,
        r"fftn: axes \(0, 0\) repeat an axis",
    ),  # fmt: skip
    "axis": (lambda: vnp.fft.fft(np.ones((2, 3)), axis=2), ValueError, "fft"),
    "prim_lengths": (
        lambda: vfunc.lax.fft(np.ones(4, np.complex64), "fft", (5,)),
        ValueError,
        r"fft: fft with fft_lengths \(5,\) needs trailing axes of sizes \(5,\), got "
        r"an operand of shape \(4,\)",
    ),  # fmt: skip
    "prim_type": (
        lambda: vfunc.lax.fft(np.ones(4, np.complex64), "dct", (4,)),
        ValueError,
        "fft: fft_type must be one of",
    ),  # fmt: skip
    "prim_dtype": (
        lambda: vfunc.lax.fft(np.ones(4, np.float32), "fft", (4,)),
        DtypeError,
        "fft: operand has dtype float32, but fft accepts only complex",
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", BAD)
def test_bad_calls_raise_named_errors(name):
    fn, error, match = BAD[name]
    with pytest.raises(error, match=match):
        fn()


def test_lax_fft_accepts_jax_fft_type_names():
    class FftType:  # what jax.lax.FftType.IRFFT looks like: an enum member with a name
        name = "IRFFT"

    got = vfunc.lax.fft(np.ones((2, 3), np.complex64), FftType(), (4,))
    np.testing.assert_allclose(np.asarray(got), np.fft.irfft(np.ones((2, 3)), 4), rtol=1e-6)


@pytest.mark.parametrize("name", ONE_D + N_D)
def test_vmap_and_jit_match_a_loop(name, x64, rng):
    a = _operand(name, rng, (3, 4, 6))
    fn = getattr(vnp.fft, name)
    want = np.stack([np.asarray(fn(a[:, i])) for i in range(4)], axis=-1)
    np.testing.assert_allclose(np.asarray(vfunc.vmap(fn, in_axes=1, out_axes=-1)(a)), want,
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(np.asarray(vfunc.jit(fn)(a)), np.asarray(fn(a)), rtol=1e-12,
                               atol=1e-12)  # fmt: skip


GRAD_CALLS = {
    "fft_crop": lambda a: vnp.fft.fft(a, n=3, axis=0, norm="ortho"),
    "ifft_pad": lambda a: vnp.fft.ifft(a, n=7, norm="forward"),
    "rfft_pad": lambda a: vnp.fft.rfft(vnp.real(a), n=6, axis=0),
    "irfft_odd": lambda a: vnp.fft.irfft(a, n=5, norm="ortho"),
    "fftn_s": lambda a: vnp.fft.fftn(a, s=(2, 6)),
    "rfftn": lambda a: vnp.fft.rfftn(vnp.imag(a), axes=(1, 0), norm="forward"),
    "irfftn_s": lambda a: vnp.fft.irfftn(a, s=(4, 6)),
    "hfft": lambda a: vnp.fft.hfft(a, axis=0),
    "ihfft": lambda a: vnp.fft.ihfft(vnp.real(a), n=5),
    "shift": lambda a: vnp.fft.fftshift(vnp.fft.fft2(a), axes=(0,)),
}


@pytest.mark.parametrize("name", GRAD_CALLS)
def test_front_end_derivatives_match_finite_differences(name, rng):
    a = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    check_grads(GRAD_CALLS[name], (a,), order=2, atol=1e-6, rtol=1e-6)
    # and through jit: the same rules staged
    check_grads(vfunc.jit(GRAD_CALLS[name]), (a,), order=1, atol=1e-6, rtol=1e-6)
