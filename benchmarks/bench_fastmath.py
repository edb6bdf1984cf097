"""Vectorizable transcendentals (vfunc.primitives.scalar_math) against NumPy and libm.

For each function, over 4M elements (float32, then float64), the best wall time of:

* NumPy's ufunc (``logistic`` as ``1 / (1 + np.exp(-x))``; NumPy has no ``erf``);
* a ``numba.njit(parallel=True, fastmath=True)`` loop calling ``math.*`` (libm, one element
  at a time: LLVM cannot vectorize the call without SVML);
* the same loop calling the ``fastmath`` function, which LLVM vectorizes;
* the same loop computing ``2 * x``, the memory-traffic floor for a fused elementwise loop.

Run with the OpenBLAS overrides unset:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_fastmath.py
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange
from timing import best_time

from vfunc.primitives import scalar_math as fm

N = 4_000_000
_PAR = {"parallel": True, "fastmath": True, "cache": True}


def _math_logistic(x):
    return 1.0 / (1.0 + math.exp(-x))


_math_logistic_jit = njit(inline="always", fastmath=True)(_math_logistic)


# One module-level kernel per function, the way the compiler will emit them: the callee is a
# global, which numba inlines (and caches) like any other call.
@njit(**_PAR)
def _double(x, out):
    for i in prange(x.size):
        out[i] = x[i] * 2


@njit(**_PAR)
def _libm_exp(x, out):
    for i in prange(x.size):
        out[i] = math.exp(x[i])


@njit(**_PAR)
def _libm_expm1(x, out):
    for i in prange(x.size):
        out[i] = math.expm1(x[i])


@njit(**_PAR)
def _libm_log(x, out):
    for i in prange(x.size):
        out[i] = math.log(x[i])


@njit(**_PAR)
def _libm_log1p(x, out):
    for i in prange(x.size):
        out[i] = math.log1p(x[i])


@njit(**_PAR)
def _libm_tanh(x, out):
    for i in prange(x.size):
        out[i] = math.tanh(x[i])


@njit(**_PAR)
def _libm_logistic(x, out):
    for i in prange(x.size):
        out[i] = _math_logistic_jit(x[i])


@njit(**_PAR)
def _libm_erf(x, out):
    for i in prange(x.size):
        out[i] = math.erf(x[i])


@njit(**_PAR)
def _libm_sin(x, out):
    for i in prange(x.size):
        out[i] = math.sin(x[i])


@njit(**_PAR)
def _libm_cos(x, out):
    for i in prange(x.size):
        out[i] = math.cos(x[i])


@njit(**_PAR)
def _fm_exp(x, out):
    for i in prange(x.size):
        out[i] = fm.exp(x[i])


@njit(**_PAR)
def _fm_expm1(x, out):
    for i in prange(x.size):
        out[i] = fm.expm1(x[i])


@njit(**_PAR)
def _fm_log(x, out):
    for i in prange(x.size):
        out[i] = fm.log(x[i])


@njit(**_PAR)
def _fm_log1p(x, out):
    for i in prange(x.size):
        out[i] = fm.log1p(x[i])


@njit(**_PAR)
def _fm_tanh(x, out):
    for i in prange(x.size):
        out[i] = fm.tanh(x[i])


@njit(**_PAR)
def _fm_logistic(x, out):
    for i in prange(x.size):
        out[i] = fm.logistic(x[i])


@njit(**_PAR)
def _fm_erf(x, out):
    for i in prange(x.size):
        out[i] = fm.erf(x[i])


@njit(**_PAR)
def _fm_sin(x, out):
    for i in prange(x.size):
        out[i] = fm.sin(x[i])


@njit(**_PAR)
def _fm_cos(x, out):
    for i in prange(x.size):
        out[i] = fm.cos(x[i])


def _np_logistic(x, out):
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)


CASES = {
    # name: (numpy implementation or None, libm kernel, fastmath kernel, input sampler)
    "exp": (np.exp, _libm_exp, _fm_exp, lambda rng: rng.uniform(-20, 20, N)),
    "expm1": (np.expm1, _libm_expm1, _fm_expm1, lambda rng: rng.uniform(-5, 5, N)),
    "log": (np.log, _libm_log, _fm_log, lambda rng: rng.uniform(1e-3, 1e3, N)),
    "log1p": (np.log1p, _libm_log1p, _fm_log1p, lambda rng: rng.uniform(-0.9, 10, N)),
    "tanh": (np.tanh, _libm_tanh, _fm_tanh, lambda rng: rng.normal(0, 3, N)),
    "logistic": (_np_logistic, _libm_logistic, _fm_logistic, lambda rng: rng.normal(0, 5, N)),
    "erf": (None, _libm_erf, _fm_erf, lambda rng: rng.normal(0, 2, N)),
    "sin": (np.sin, _libm_sin, _fm_sin, lambda rng: rng.uniform(-100, 100, N)),
    "cos": (np.cos, _libm_cos, _fm_cos, lambda rng: rng.uniform(-100, 100, N)),
}


def main() -> None:
    print(
        f"{N:,} elements, numba {numba.__version__}, {numba.get_num_threads()} threads "
        f"({numba.config.THREADING_LAYER} layer requested), best of 30, times in ms"
    )
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(0)
        floor_x = rng.uniform(-1, 1, N).astype(dtype)
        floor_out = np.empty_like(floor_x)
        floor = best_time(lambda x=floor_x, out=floor_out: _double(x, out)) * 1e3
        print(f"\n{np.dtype(dtype).name}: memory floor (2 * x loop) {floor:.2f} ms")
        print(
            f"{'function':10s} {'numpy':>8s} {'libm':>8s} {'fastmath':>9s} "
            f"{'numpy/fm':>9s} {'libm/fm':>8s} {'fm/floor':>9s}"
        )
        for name, (np_fn, libm_kernel, fm_kernel, sample) in CASES.items():
            x = sample(rng).astype(dtype)
            out = np.empty_like(x)
            t_fm = best_time(lambda k=fm_kernel, x=x, out=out: k(x, out)) * 1e3
            t_libm = best_time(lambda k=libm_kernel, x=x, out=out: k(x, out)) * 1e3
            if np_fn is None:
                np_cols = f"{'-':>8s}"
                np_ratio = f"{'-':>9s}"
            else:
                t_np = best_time(lambda f=np_fn, x=x, out=out: f(x, out=out), repeat=10) * 1e3
                np_cols = f"{t_np:8.2f}"
                np_ratio = f"{t_np / t_fm:8.1f}x"
            print(
                f"{name:10s} {np_cols} {t_libm:8.2f} {t_fm:9.2f} {np_ratio} "
                f"{t_libm / t_fm:7.1f}x {t_fm / floor:8.1f}x"
            )


if __name__ == "__main__":
    main()
