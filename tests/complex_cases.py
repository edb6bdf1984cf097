"""The table of complex functions whose derivatives test_complex.py compares with JAX's.

Each function takes a NumPy-like module ``m`` (``jax.numpy`` when recording, ``vfunc.numpy``
when testing) and the inputs ``z, w`` (complex vectors), ``a`` (a complex matrix) and ``x`` (a
real vector), so one definition serves both sides. ``tests/fixtures/complex/record_jax.py``
records JAX's outputs for them; nothing here imports JAX.
"""

from __future__ import annotations

import zlib

import numpy as np

# name: (function of (m, z, w, a, x), holomorphic in z)
FUNCTIONS = {
    "mul": (lambda m, z, w, a, x: z * w, True),
    "div": (lambda m, z, w, a, x: z / w, True),
    "exp": (lambda m, z, w, a, x: m.exp(z), True),
    "log": (lambda m, z, w, a, x: m.log(z), True),
    "sin": (lambda m, z, w, a, x: m.sin(z), True),
    "tanh": (lambda m, z, w, a, x: m.tanh(z), True),
    "sqrt": (lambda m, z, w, a, x: m.sqrt(z), True),
    "pow": (lambda m, z, w, a, x: z**w, True),
    "pow_int": (lambda m, z, w, a, x: z**3, True),
    "reciprocal": (lambda m, z, w, a, x: 1 / z, True),
    "abs": (lambda m, z, w, a, x: m.abs(z * w), False),
    "real": (lambda m, z, w, a, x: m.real(z * w), False),
    "imag": (lambda m, z, w, a, x: m.imag(z * w), False),
    "conj": (lambda m, z, w, a, x: m.conj(z) * w, False),
    "angle": (lambda m, z, w, a, x: m.angle(z), False),
    "angle_real": (lambda m, z, w, a, x: m.angle(x - 0.5), False),
    "real_to_complex": (lambda m, z, w, a, x: m.exp(1j * x) * z[0], True),
    "sum": (lambda m, z, w, a, x: m.sum(z * w), True),
    "prod": (lambda m, z, w, a, x: m.prod(z * w), True),
    "matmul": (lambda m, z, w, a, x: m.matmul(a, z), True),
    "dot_conj": (lambda m, z, w, a, x: m.dot(m.conj(w), z), False),
    "max": (lambda m, z, w, a, x: m.maximum(z, w), False),
    "fft": (lambda m, z, w, a, x: m.fft.fft(z * w), True),
    "fft_n": (lambda m, z, w, a, x: m.fft.fft(z, n=5, norm="ortho"), True),
    "ifft": (lambda m, z, w, a, x: m.fft.ifft(z, n=2), True),
    "rfft": (lambda m, z, w, a, x: m.fft.rfft(x) * z[0], True),
    "rfft_odd": (lambda m, z, w, a, x: m.fft.rfft(x, n=3, norm="forward"), False),
    "irfft": (lambda m, z, w, a, x: m.fft.irfft(z * w), False),
    "irfft_odd": (lambda m, z, w, a, x: m.fft.irfft(z, n=5, norm="ortho"), False),
    "fft2": (lambda m, z, w, a, x: m.fft.fft2(a), False),
    "ifft2": (lambda m, z, w, a, x: m.fft.ifft2(a, s=(2, 4)), False),
    "rfft2": (lambda m, z, w, a, x: m.fft.rfft2(m.real(a) * x[:3]), False),
    "irfft2": (lambda m, z, w, a, x: m.fft.irfft2(a), False),
    "fftn": (lambda m, z, w, a, x: m.fft.fftn(a, axes=(1, 0)), False),
    "irfftn": (lambda m, z, w, a, x: m.fft.irfftn(a, s=(3, 5)), False),
    "hfft": (lambda m, z, w, a, x: m.fft.hfft(z), False),
    "ihfft": (lambda m, z, w, a, x: m.fft.ihfft(x), False),
}
# The holomorphic ones, as functions of z alone (the others held at their values).
HOLOMORPHIC = [name for name, (_, holo) in FUNCTIONS.items() if holo and name != "real_to_complex"]


def inputs() -> dict[str, np.ndarray]:
    """The point every function is differentiated at (float64/complex128), and cotangents."""
    rng = np.random.default_rng(1701)

    def cplx(*shape):
        return rng.uniform(0.3, 1.5, shape) * np.exp(1j * rng.uniform(-2.5, 2.5, shape))

    return {"z": cplx(3), "w": cplx(3), "a": cplx(3, 3), "x": rng.uniform(-1, 1, 4),
            "zs": cplx(2, 3)}  # fmt: skip


def cotangent(name: str, out: np.ndarray) -> np.ndarray:
    """A fixed cotangent for ``name``'s output: complex for complex outputs, real otherwise."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    c = rng.standard_normal(out.shape)
    if np.iscomplexobj(out):
        c = c + 1j * rng.standard_normal(out.shape)
    return c


def loss(m, out):
    """A real scalar of a function's output (for grad): weighs real and imaginary parts
    differently so that a conjugation error shows."""
    if out.dtype.kind == "c":
        return m.sum(m.real(out) * 0.3 - m.imag(out) * 0.7 + m.abs(out) ** 2)
    return m.sum(out * 0.3 + out**2)
