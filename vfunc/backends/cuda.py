"""The CUDA backend: NVIDIA GPUs through CuPy (``pip install vfunc[cuda]``).

Imported only when a GPU is asked for (``vfunc.devices("gpu")``, ``device_put``,
``default_device``); it never loads on the CPU install. CuPy buffers are the arrays' values:
primitives whose impls are written with numpy's functions and ufuncs run on them unchanged
(CuPy implements NumPy's dispatch protocols); the impls here replace those that call numba
kernels or otherwise need the host.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any

import numpy as np

from vfunc.backends import Backend, register_impl
from vfunc.devices import Device

try:
    import cupy as cp
except ImportError:  # pragma: no cover - reported by load()
    cp = None


class CudaBackend(Backend):
    """NVIDIA GPUs: CuPy arrays, one ``Device`` per visible GPU."""

    platform = "gpu"

    def __init__(self) -> None:
        super().__init__()
        self.xp = cp
        self.array_type = cp.ndarray
        count = cp.cuda.runtime.getDeviceCount()
        self.devices = [Device(i, "gpu", _name(i)) for i in range(count)]
        self._single = count == 1

    def device_of(self, buffer: Any) -> Device:
        return self.devices[buffer.device.id]

    def to_host(self, buffer: Any) -> np.ndarray:
        return cp.asnumpy(buffer)

    def synchronize(self, buffer: Any) -> None:
        with buffer.device:
            cp.cuda.get_current_stream().synchronize()

    def put(self, value: Any, device: Device) -> Any:
        with cp.cuda.Device(device.id):
            if isinstance(value, cp.ndarray):
                if value.device.id == device.id:
                    return value
                return cp.array(value, copy=True)  # from another GPU
            return cp.asarray(value)

    def scope(self, device: Device) -> contextlib.AbstractContextManager:
        if self._single:  # one GPU: it is current already, and entering costs a microsecond
            return contextlib.nullcontext()
        return cp.cuda.Device(device.id)


def _name(i: int) -> str:
    name = cp.cuda.runtime.getDeviceProperties(i)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def load() -> CudaBackend:
    """The backend, or RuntimeError saying what is missing (CuPy, a GPU)."""
    if cp is None:
        raise RuntimeError(
            "backend 'gpu' is not available: CuPy is not installed. Install the CUDA extra, "
            "pip install vfunc[cuda] (CuPy for CUDA 13), on a machine with an NVIDIA GPU."
        )
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as err:  # cupy raises CUDARuntimeError without a driver
        raise RuntimeError(f"backend 'gpu' is not available: CUDA reports {err}") from None
    if count == 0:
        raise RuntimeError("backend 'gpu' is not available: CUDA sees no GPU")
    backend = CudaBackend()
    _register_impls(backend)
    return backend


# --------------------------------------------------------------------------------------------
# Impls that differ from the shared ones

# Threefry-2x32, 20 rounds, as random_kernels.threefry2x32: the same bits as on the CPU.
_THREEFRY = r"""
#define ROTL(x, r) (((x) << (r)) | ((x) >> (32 - (r))))
#define MIX(r) { x0 += x1; x1 = ROTL(x1, r); x1 ^= x0; }
unsigned int ks0 = k0, ks1 = k1, ks2 = k0 ^ k1 ^ 0x1BD11BDAu;
unsigned int x0 = c0 + ks0, x1 = c1 + ks1;
MIX(13) MIX(15) MIX(26) MIX(6)  x0 += ks1; x1 += ks2 + 1u;
MIX(17) MIX(29) MIX(16) MIX(24) x0 += ks2; x1 += ks0 + 2u;
MIX(13) MIX(15) MIX(26) MIX(6)  x0 += ks0; x1 += ks1 + 3u;
MIX(17) MIX(29) MIX(16) MIX(24) x0 += ks1; x1 += ks2 + 4u;
MIX(13) MIX(15) MIX(26) MIX(6)  x0 += ks2; x1 += ks0 + 5u;
o0 = x0; o1 = x1;
"""


@functools.cache
def _threefry_kernel() -> Any:
    return cp.ElementwiseKernel(
        "uint32 k0, uint32 k1, uint32 c0, uint32 c1", "uint32 o0, uint32 o1", _THREEFRY,
        "vfunc_threefry2x32",
    )  # fmt: skip


def _hash_counters(keys: Any, n: int) -> tuple[Any, Any]:
    """Threefry of counters 0..n-1 under each of ``keys`` ((B, 2) uint32): two (B, n) words."""
    kernel = _threefry_kernel()
    keys = keys.reshape(-1, 2).astype(cp.uint32, copy=False)
    counter = cp.arange(n, dtype=cp.uint64)
    hi = (counter >> cp.uint64(32)).astype(cp.uint32)
    lo = counter.astype(cp.uint32)
    return kernel(keys[:, 0:1], keys[:, 1:2], hi[None, :], lo[None, :])


def _bits_from_words(o0: Any, o1: Any, dtype: np.dtype) -> Any:
    # What random_kernels._emit stores for each output dtype, from the same two words.
    dtype = np.dtype(dtype)
    if dtype == np.uint64:
        return (o0.astype(cp.uint64) << cp.uint64(32)) | o1.astype(cp.uint64)
    if dtype == np.float32:
        bits = ((o0 ^ o1) >> cp.uint32(9)) | cp.uint32(0x3F800000)
        return bits.view(cp.float32) - cp.float32(1.0)
    if dtype == np.float64:
        b = (o0.astype(cp.uint64) << cp.uint64(32)) | o1.astype(cp.uint64)
        bits = (b >> cp.uint64(12)) | cp.uint64(0x3FF0000000000000)
        return bits.view(cp.float64) - 1.0
    if dtype == np.float16:
        bits = (o0 ^ o1).astype(cp.uint16)
        unit = (bits >> cp.uint16(6)) | cp.uint16(0x3C00)
        return unit.view(cp.float16) - cp.float16(1)
    return (o0 ^ o1).astype(dtype)


def _register_impls(backend: CudaBackend) -> None:
    from vfunc.backends import conv_taps
    from vfunc.primitives import conv
    from vfunc.primitives import random as rnd

    platform = backend.platform

    @register_impl(platform, rnd.random_bits_p)
    def _bits(keys: Any, *, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        o0, o1 = _hash_counters(keys, math.prod(shape))
        return _bits_from_words(o0, o1, dtype).reshape((*keys.shape[:-1], *shape))

    @register_impl(platform, rnd.random_split_p)
    def _split(keys: Any, *, shape: tuple[int, ...]) -> Any:
        o0, o1 = _hash_counters(keys, math.prod(shape))
        return cp.stack([o0, o1], axis=-1).reshape((*keys.shape[:-1], *shape, 2))

    @register_impl(platform, rnd.random_fold_in_p)
    def _fold_in(keys: Any, msgs: Any) -> Any:
        flat = keys.reshape(-1, 2)
        zero = cp.zeros(flat.shape[0], cp.uint32)
        o0, o1 = _threefry_kernel()(flat[:, 0], flat[:, 1], zero, msgs.reshape(-1))
        return cp.stack([o0, o1], axis=-1).reshape(keys.shape)

    @register_impl(platform, rnd.random_normal_p)
    def _normal(keys: Any, *, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        # JAX's sampler: sqrt(2) * erfinv(uniform on (nextafter(-1, 0), 1)), erfinv by CuPy
        # (cupyx.scipy.special), so samples agree with the CPU's to a few ulp, not bit for bit.
        from cupyx.scipy import special

        o0, o1 = _hash_counters(keys, math.prod(shape))
        unit = _bits_from_words(o0, o1, dtype)
        lo, scale, sqrt2 = rnd.normal_constants(np.dtype(dtype))
        u = cp.maximum(lo, unit * scale + lo)
        return (sqrt2 * special.erfinv(u)).astype(dtype).reshape((*keys.shape[:-1], *shape))

    @register_impl(platform, rnd.random_seed_p)
    def _seed(seeds: Any) -> Any:
        if seeds.dtype.itemsize == 8:
            wide = seeds.astype(cp.uint64)
            hi = (wide >> cp.uint64(32)).astype(cp.uint32)
        else:
            wide = seeds.astype(cp.int64).astype(cp.uint64)
            hi = cp.zeros(seeds.shape, cp.uint32)
        lo = (wide & cp.uint64(0xFFFFFFFF)).astype(cp.uint32)
        return cp.stack([hi, lo], axis=-1)

    @register_impl(platform, rnd.fma_p)
    def _fma(x: Any, y: Any, z: Any) -> Any:
        # CUDA's fma rounds once, as the CPU kernel's llvm.fma does (float16 in float32).
        work = cp.float64 if x.dtype == cp.float64 else cp.float32
        args = [a.astype(work, copy=False) for a in (x, y, z)]
        return _fma_kernel()(*args).astype(x.dtype, copy=False)


    def conv_params(p: dict) -> Any:
        return conv._params(p)

    @register_impl(platform, conv.conv_general_dilated_p)
    def _conv(lhs: Any, rhs: Any, **p: Any) -> Any:
        return conv_taps.conv_forward(cp, lhs, rhs, conv_params(p))

    @register_impl(platform, conv.conv_input_grad_p)
    def _conv_input_grad(g: Any, rhs: Any, *, lhs_shape: tuple[int, ...], **p: Any) -> Any:
        return conv_taps.conv_input_grad(cp, g, rhs, tuple(lhs_shape), conv_params(p))

    @register_impl(platform, conv.conv_weight_grad_p)
    def _conv_weight_grad(lhs: Any, g: Any, *, rhs_shape: tuple[int, ...], **p: Any) -> Any:
        return conv_taps.conv_weight_grad(cp, lhs, g, tuple(rhs_shape), conv_params(p))


@functools.cache
def _fma_kernel() -> Any:
    return cp.ElementwiseKernel("T x, T y, T z", "T out", "out = fma(x, y, z)", "vfunc_fma")
