"""The table of complex linear-algebra functions that test_linalg_complex.py compares with JAX.

Each case takes a namespace ``m`` with ``m.np`` (``jax.numpy`` when recording, ``vfunc.numpy``
when testing) and ``m.sla`` (the matching ``scipy.linalg``) and one complex128 matrix, and
returns a tuple of outputs that do not depend on LAPACK's free choices (the phases of
eigenvectors and singular vectors), so both libraries must agree on them exactly. The real loss
of a case is ``sum(real(out * weight))`` over its outputs with fixed complex weights.
``tests/fixtures/linalg/record_complex_jax.py`` records JAX's values; nothing here imports JAX.
"""

from __future__ import annotations

import zlib

import numpy as np

N = 3


def _hermitian_pd(m, a):
    return m.np.matmul(a, m.np.conj(a.T)) + 3.0 * m.np.eye(a.shape[-1])


def _eigh(m, a):
    w, v = m.np.linalg.eigh(a)
    # |v|^2 and v f(w) v^H do not depend on the eigenvectors' phases
    return w, m.np.abs(v) ** 2, m.np.matmul(v * m.np.sin(w), m.np.conj(v.T))


def _svd(m, a):
    u, s, vh = m.np.linalg.svd(a, full_matrices=False)
    c = m.np.arange(1.0, s.shape[-1] + 1.0)
    return s, m.np.abs(u) ** 2, m.np.abs(vh) ** 2, m.np.matmul(u * c, vh)


def _eigvals(m, a):
    w = m.np.linalg.eigvals(a)
    # symmetric in the eigenvalues (LAPACK's order needn't matter), and not a trace polynomial
    return m.np.sum(m.np.abs(w) ** 3), m.np.sum(m.np.real(w) * m.np.imag(w))


def _slogdet(m, a):
    sign, logabsdet = m.np.linalg.slogdet(a)
    return sign, logabsdet


def _lu(m, a):
    p, low, up = m.sla.lu(a)
    return low, up, p


def _lstsq(m, a):
    b = m.np.arange(8.0).reshape(4, 2) * (1 - 0.5j)
    x, resid, _, s = m.np.linalg.lstsq(a, b)
    return x, resid, s


def _norms(m, a):
    la = m.np.linalg
    return tuple(la.norm(a, ord) for ord in (None, "fro", "nuc", 2, -2, 1, -1, np.inf)) + tuple(
        la.norm(a[0], ord) for ord in (None, 1, np.inf, 3))


# name: (function of (m, a), input key, holomorphic)
CASES = {
    "inv": (lambda m, a: (m.np.linalg.inv(a),), "a", True),
    "solve": (lambda m, a: (m.np.linalg.solve(a, m.np.conj(a[:, :2]) + 1.0),), "a", False),
    "solve_holo": (lambda m, a: (m.np.linalg.solve(a, m.np.arange(3.0) + 1j),), "a", True),
    "det": (lambda m, a: (m.np.linalg.det(a),), "a", True),
    "slogdet": (_slogdet, "a", False),
    "cholesky": (lambda m, a: (m.np.linalg.cholesky(a),), "h", False),
    "cholesky_upper": (lambda m, a: (m.sla.cholesky(a),), "h", False),
    "qr": (lambda m, a: tuple(m.np.linalg.qr(a)), "a", False),
    "qr_tall": (lambda m, a: tuple(m.np.linalg.qr(a)), "r", False),
    "svd": (_svd, "a", False),
    "svd_tall": (_svd, "r", False),
    "svd_wide": (_svd, "w", False),
    "svdvals": (lambda m, a: (m.np.linalg.svd(a, compute_uv=False),), "r", False),
    "eigh": (_eigh, "h", False),
    "eigh_raw": (_eigh, "a", False),  # symmetrised: reads (a + a^H) / 2
    "eigvals": (_eigvals, "a", False),
    "pinv": (lambda m, a: (m.np.linalg.pinv(a),), "r", False),
    "lstsq": (_lstsq, "r", False),
    "norm": (_norms, "a", False),
    "expm": (lambda m, a: (m.sla.expm(a),), "a", True),
    "solve_triangular": (lambda m, a: (m.sla.solve_triangular(a, a[:, 1], lower=True),), "a",
                         False),
    "solve_triangular_t": (lambda m, a: (m.sla.solve_triangular(a, m.np.eye(3), trans=1),), "a",
                           True),
    "solve_triangular_c": (lambda m, a: (m.sla.solve_triangular(a, m.np.eye(3), trans=2,
                                                                 lower=True),), "a", False),
    "cho_solve": (lambda m, a: (m.sla.cho_solve(m.sla.cho_factor(a, lower=True),
                                                m.np.arange(3.0) * 1j + 1),), "h", False),
    "lu": (_lu, "a", True),
    "matrix_power": (lambda m, a: (m.np.linalg.matrix_power(a, -2),), "a", True),
}
HOLOMORPHIC = [name for name, (_, _, holo) in CASES.items() if holo]
# Read one triangle of their input, where JAX reads the Hermitian part: the gradients agree in
# their Hermitian parts (what any Hermitian perturbation sees).
READS_TRIANGLE = ("cholesky_upper", "cho_solve")


def _complex(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def inputs() -> dict[str, np.ndarray]:
    """The matrices every case is differentiated at (complex128), with a batch of two of each
    for vmap, and tangents."""
    rng = np.random.default_rng(17)
    a = _complex(rng, (N, N)) + 2 * np.eye(N)
    g = _complex(rng, (N, N))
    out = {"a": a, "h": g @ g.conj().T + 3 * np.eye(N), "r": _complex(rng, (4, N)),
           "w": _complex(rng, (N, 4))}  # fmt: skip
    for key in ("a", "h", "r", "w"):
        batch = out[key] + 0.1 * _complex(rng, (2, *out[key].shape))
        if key == "h":
            batch = (batch + np.conj(np.swapaxes(batch, -1, -2))) / 2
        out[f"{key}s"] = batch
        tangent = _complex(rng, out[key].shape)
        if key == "h":  # Hermitian: the functions reading one triangle agree with JAX's then
            tangent = tangent + tangent.conj().T
        out[f"{key}_tangent"] = tangent
    return out


def weights(name: str, outs) -> list[np.ndarray]:
    """Fixed complex weights, one per output, seeded by the case's name."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return [_complex(rng, np.shape(o)) for o in outs]


def loss(m, name: str, fn):
    """The real loss of a case: ``sum(real(out * weight))`` over its outputs."""

    def f(a):
        outs = fn(m, a)
        ws = weights(name, outs)
        return sum(m.np.sum(m.np.real(o * w)) for o, w in zip(outs, ws, strict=True))

    return f
