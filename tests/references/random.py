"""A plain-Python Threefry-2x32 (Python ints, no numpy or numba): the independent reference for
the random primitives' registry rows. Written from the Random123 paper's description."""

from __future__ import annotations

import math
import struct

M32 = 0xFFFFFFFF
ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(key: tuple[int, int], x: tuple[int, int]) -> tuple[int, int]:
    ks = (key[0], key[1], key[0] ^ key[1] ^ 0x1BD11BDA)
    x0, x1 = (x[0] + ks[0]) & M32, (x[1] + ks[1]) & M32
    for group in range(5):
        for r in ROTATIONS[group % 2]:
            x0 = (x0 + x1) & M32
            x1 = ((x1 << r) | (x1 >> (32 - r))) & M32
            x1 ^= x0
        x0 = (x0 + ks[(group + 1) % 3]) & M32
        x1 = (x1 + ks[(group + 2) % 3] + group + 1) & M32
    return x0, x1


def counter_words(key: tuple[int, int], n: int) -> list[tuple[int, int]]:
    """The hash of each 64-bit counter 0..n-1 (high word, low word)."""
    return [threefry2x32(key, (i >> 32, i & M32)) for i in range(n)]


def bits(key: tuple[int, int], n: int, width: int) -> list[int]:
    words = counter_words(key, n)
    if width == 64:
        return [(a << 32) | b for a, b in words]
    return [(a ^ b) & ((1 << width) - 1) for a, b in words]


def unit_float(key: tuple[int, int], n: int, width: int) -> list[float]:
    """JAX's floats in [0, 1): the top mantissa bits of the draw over the exponent of 1.0."""
    if width == 32:
        return [struct.unpack("<f", struct.pack("<I", (b >> 9) | 0x3F800000))[0] - 1.0
                for b in bits(key, n, 32)]  # fmt: skip
    return [struct.unpack("<d", struct.pack("<Q", (b >> 12) | 0x3FF0000000000000))[0] - 1.0
            for b in bits(key, n, 64)]  # fmt: skip


def split(key: tuple[int, int], n: int) -> list[tuple[int, int]]:
    return counter_words(key, n)


def fold_in(key: tuple[int, int], data: int) -> tuple[int, int]:
    return threefry2x32(key, (0, data & M32))


def erfinv(y: float) -> float:
    """erfinv by Newton's method on math.erf (float64, to full precision)."""
    if abs(y) == 1:
        return math.copysign(math.inf, y)
    x = 0.0
    for _ in range(100):
        step = (math.erf(x) - y) / (2 / math.sqrt(math.pi) * math.exp(-x * x))
        x -= step
        if abs(step) <= 1e-17 * max(1.0, abs(x)):
            break
    return x


def gamma_cdf(a: float, x: float) -> float:
    """The regularised lower incomplete gamma P(a, x) by its power series (any x, slowly)."""
    term = total = 1.0 / a
    n = a
    while abs(term) > 1e-18 * abs(total):
        n += 1.0
        term *= x / n
        total += term
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def gamma_sample_grad(a: float, x: float) -> float:
    """d x / d a for a Gamma(a) sample x: -(dP/da) / (dP/dx) (implicit reparameterisation)."""
    h = 1e-4 * a
    dpda = (gamma_cdf(a + h, x) - gamma_cdf(a - h, x)) / (2 * h)
    dpdx = math.exp((a - 1) * math.log(x) - x - math.lgamma(a))
    return -dpda / dpdx


def gram_schmidt_q(z: list[list[float]]) -> list[list[float]]:
    """Q with orthonormal columns spanning z's columns in order (R's diagonal positive)."""
    m, k = len(z), len(z[0])
    cols: list[list[float]] = []
    for j in range(k):
        v = [z[i][j] for i in range(m)]
        for _ in range(2):  # twice is enough
            for q in cols:
                dot = sum(a * b for a, b in zip(q, v))
                v = [a - dot * b for a, b in zip(v, q)]
        norm = math.sqrt(sum(a * a for a in v))
        cols.append([a / norm for a in v])
    return [[cols[j][i] for j in range(k)] for i in range(m)]


def cholesky(a: list[list[float]]) -> list[list[float]]:
    n = len(a)
    lower = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = a[i][j] - sum(lower[i][k] * lower[j][k] for k in range(j))
            lower[i][j] = math.sqrt(s) if i == j else s / lower[j][j]
    return lower
